package testidp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/oauth2"
)

// clientScopes are the scopes every registered client may ask for, and SignIn asks for.
const clientScopes = "openid profile email offline_access groups"

// RegisterClient registers a confidential client through Hydra's admin API: the
// authorization code and refresh token grants, response type code, the scopes
// "openid profile email offline_access groups", client_secret_basic at the token endpoint,
// and these redirect URIs and access-token audiences.
func (p *IdP) RegisterClient(t testing.TB, redirectURIs []string, audience []string) (clientID, clientSecret string) {
	t.Helper()
	if audience == nil {
		audience = []string{}
	}
	body := map[string]any{
		"client_name":                "otpatch test client",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      clientScopes,
		"redirect_uris":              redirectURIs,
		"audience":                   audience,
		"token_endpoint_auth_method": "client_secret_basic",
	}
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := p.call(ctx, http.MethodPost, p.adminURL+"/admin/clients", body, &c); err != nil {
		t.Fatalf("testidp: register a client: %v", err)
	}
	if c.ID == "" || c.Secret == "" {
		t.Fatalf("testidp: register a client: Hydra returned no client ID or secret")
	}
	return c.ID, c.Secret
}

// SignIn signs username in as a browser would, with the authorization code flow and PKCE
// (S256): it follows the redirects through Hydra and the login app, submits the sign-in
// form, stops at redirectURI without requesting it and exchanges the code at the token
// endpoint. audience, when given, is requested for the access token. Any failure,
// including a wrong password, fails the test.
func (p *IdP) SignIn(t testing.TB, clientID, clientSecret, redirectURI, username, password string, audience ...string) Tokens {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*adminTimeout)
	defer cancel()
	tok, err := p.signIn(ctx, clientID, clientSecret, redirectURI, username, password, audience)
	if err != nil {
		t.Fatalf("testidp: sign %q in: %v", username, err)
	}
	return tok
}

// errLoginRefused is a sign-in whose username or password the login app refused.
var errLoginRefused = errors.New("the login app refused the username or password")

func (p *IdP) signIn(ctx context.Context, clientID, clientSecret, redirectURI, username, password string, audience []string) (Tokens, error) {
	target, err := url.Parse(redirectURI)
	if err != nil {
		return Tokens{}, fmt.Errorf("redirect URI: %w", err)
	}
	conf := &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: p.authURL, TokenURL: p.tokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL:  redirectURI,
		Scopes:       strings.Fields(clientScopes),
	}
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", rand.Text())}
	if len(audience) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("audience", strings.Join(audience, " ")))
	}

	// The browser: it keeps Hydra's cookies and stops at the redirect URI.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return Tokens{}, err
	}
	var back *url.URL // where Hydra sent the browser back to the client
	browser := newBrowser(jar, func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme == target.Scheme && req.URL.Host == target.Host && req.URL.Path == target.Path {
			back = req.URL
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	})
	send := func(req *http.Request, err error) (*http.Response, string, error) {
		if err != nil {
			return nil, "", err
		}
		resp, err := browser.Do(req)
		if err != nil {
			return nil, "", unanswered(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return resp, string(b), err
	}

	// The authorization request leads to the sign-in form.
	resp, page, err := send(http.NewRequestWithContext(ctx, http.MethodGet, conf.AuthCodeURL(state, opts...), nil))
	if err != nil {
		return Tokens{}, fmt.Errorf("authorization request: %w", err)
	}
	if back != nil {
		return Tokens{}, refusal(back)
	}
	challenge := resp.Request.URL.Query().Get("login_challenge")
	if resp.StatusCode != http.StatusOK || challenge == "" {
		return Tokens{}, fmt.Errorf("expected the sign-in form, got %s at %s: %.2000s", resp.Status, resp.Request.URL, page)
	}

	// Submitting the form leads, through Hydra and the consent app, back to the client.
	form := url.Values{"login_challenge": {challenge}, "username": {username}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.appURL+"/login", strings.NewReader(form.Encode()))
	if err == nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, page, err = send(req, err)
	if err != nil {
		return Tokens{}, fmt.Errorf("submit the sign-in form: %w", err)
	}
	if back == nil {
		if resp.StatusCode == http.StatusUnauthorized && strings.Contains(page, wrongPassword) {
			return Tokens{}, errLoginRefused
		}
		return Tokens{}, fmt.Errorf("the sign-in did not come back to %s: %s at %s: %.2000s", redirectURI, resp.Status, resp.Request.URL, page)
	}
	q := back.Query()
	if q.Get("error") != "" {
		return Tokens{}, refusal(back)
	}
	if q.Get("state") != state {
		return Tokens{}, fmt.Errorf("the redirect to %s carries state %q, not the %q sent", redirectURI, q.Get("state"), state)
	}

	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.http), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return Tokens{}, fmt.Errorf("exchange the code: %w", unanswered(err))
	}
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		return Tokens{}, errors.New("the token response has no id_token")
	}
	return Tokens{AccessToken: tok.AccessToken, IDToken: idToken, RefreshToken: tok.RefreshToken}, nil
}

// newBrowser returns the client SignIn acts as a browser with. Each of its connections
// carries one request: Go's Transport sends a GET again, unasked, when a connection it
// reused closes before the answer, and a request carrying a login or consent verifier
// must reach Hydra at most once (Hydra refuses the second: "The consent verifier has
// already been used"). A request that gets no answer is an error instead.
func newBrowser(jar http.CookieJar, checkRedirect func(*http.Request, []*http.Request) error) *http.Client {
	return &http.Client{
		Jar:           jar,
		Timeout:       adminTimeout,
		CheckRedirect: checkRedirect,
		Transport:     &http.Transport{DisableKeepAlives: true},
	}
}

// unanswered explains an error of a request whose connection closed before an answer
// came. Hydra closes it when it took over 10 s to handle the request (see signingKeySets),
// and the request may have taken effect all the same.
func unanswered(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w (the connection closed without an answer; Hydra closes it when a request takes it over 10 s, "+
			"as on a heavily loaded machine, and the request may have taken effect all the same)", err)
	}
	return err
}

// refusal is the error Hydra sent back to the client's redirect URI.
func refusal(back *url.URL) error {
	q := back.Query()
	return fmt.Errorf("the provider refused the sign-in: %s: %s (%s)", q.Get("error"), q.Get("error_description"), q.Get("error_hint"))
}
