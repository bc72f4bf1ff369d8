package testidp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// The redirect URI is never requested: SignIn stops when Hydra sends the browser there.
const redirectURI = "http://127.0.0.1:9/oidc/callback"

func TestSignInCarriesDirectoryClaims(t *testing.T) {
	idp := Start(t)
	idp.SetUser("alice", "correct horse battery", "operators", "approvers")
	clientID, secret := idp.RegisterClient(t, []string{redirectURI}, []string{"otpatch"})

	tok := idp.SignIn(t, clientID, secret, redirectURI, "alice", "correct horse battery", "otpatch")
	if tok.RefreshToken == "" {
		t.Error("no refresh token, though offline_access was asked for")
	}
	at := jwtPayload(t, tok.AccessToken)
	t.Logf("access token payload: %s", pretty(at))
	wantClaims(t, "access token", at, idp.Subject("alice"), idp.Issuer(), []string{"operators", "approvers"})
	if at["preferred_username"] != "alice" {
		t.Errorf("access token preferred_username = %v, want alice", at["preferred_username"])
	}
	if aud, _ := at["aud"].([]any); !slices.Contains(aud, any("otpatch")) {
		t.Errorf("access token aud = %v, want it to hold otpatch", at["aud"])
	}
	if _, ok := at["ext"]; ok {
		t.Errorf("access token has an ext claim (%v); the claims must be at the top level only", at["ext"])
	}
	id := jwtPayload(t, tok.IDToken)
	t.Logf("ID token payload: %s", pretty(id))
	wantClaims(t, "ID token", id, idp.Subject("alice"), idp.Issuer(), []string{"operators", "approvers"})
	if id["preferred_username"] != "alice" || id["name"] != "alice" {
		t.Errorf("ID token preferred_username, name = %v, %v; want alice, alice", id["preferred_username"], id["name"])
	}

	// New groups show at the next sign-in; the subject stays.
	idp.SetGroups("alice", "viewers")
	tok = idp.SignIn(t, clientID, secret, redirectURI, "alice", "correct horse battery", "otpatch")
	wantClaims(t, "access token after SetGroups", jwtPayload(t, tok.AccessToken), idp.Subject("alice"), idp.Issuer(), []string{"viewers"})
	wantClaims(t, "ID token after SetGroups", jwtPayload(t, tok.IDToken), idp.Subject("alice"), idp.Issuer(), []string{"viewers"})

	// No groups is an empty list, not a missing claim.
	idp.SetGroups("alice")
	tok = idp.SignIn(t, clientID, secret, redirectURI, "alice", "correct horse battery")
	wantClaims(t, "access token without groups", jwtPayload(t, tok.AccessToken), idp.Subject("alice"), idp.Issuer(), []string{})
}

func TestWrongPasswordYieldsNoToken(t *testing.T) {
	idp := Start(t)
	idp.SetUser("alice", "correct horse battery", "operators")
	idp.SetUser("bob", "bob's password")
	clientID, secret := idp.RegisterClient(t, []string{redirectURI}, nil)

	for _, tc := range []struct{ name, username, password string }{
		{"wrong password", "alice", "correct horse"},
		{"another user's password", "alice", "bob's password"},
		{"unknown user", "mallory", "correct horse battery"},
		{"empty password", "alice", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := idp.signIn(context.Background(), clientID, secret, redirectURI, tc.username, tc.password, nil)
			if !errors.Is(err, errLoginRefused) {
				t.Errorf("signIn(%q, %q) error = %v, want %v", tc.username, tc.password, err, errLoginRefused)
			}
			if tok != (Tokens{}) {
				t.Errorf("signIn(%q, %q) returned tokens %+v", tc.username, tc.password, tok)
			}
		})
	}
	// The password still works after the failures.
	idp.SignIn(t, clientID, secret, redirectURI, "alice", "correct horse battery")
}

// TestSignInFormHasBrowserTestIDs checks the form a browser test fills in.
func TestSignInFormHasBrowserTestIDs(t *testing.T) {
	idp := Start(t)
	clientID, _ := idp.RegisterClient(t, []string{redirectURI}, nil)
	conf := &oauth2.Config{ClientID: clientID, RedirectURL: redirectURI, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: idp.authURL}}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Jar: jar}).Get(conf.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), idp.appURL+"/login?") {
		t.Fatalf("got %s at %s, want the sign-in form:\n%s", resp.Status, resp.Request.URL, page)
	}
	for _, want := range []string{`id="idp-username" name="username"`, `id="idp-password" name="password" type="password"`, `id="idp-sign-in" type="submit"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the sign-in form lacks %s:\n%s", want, page)
		}
	}
}

// TestBrowserSendsEachRequestOnce checks that SignIn's browser never sends a request
// again unasked: a request that carries a one-time verifier and whose answer is lost (Hydra
// handled it but closed the connection) fails, saying so, rather than being sent a second
// time and refused by Hydra as a reuse of the verifier.
func TestBrowserSendsEachRequestOnce(t *testing.T) {
	var handled atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth2/auth" {
			return
		}
		handled.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack the connection: %v", err)
			return
		}
		conn.Close() // the answer is lost
	}))
	defer srv.Close()

	browser := newBrowser(nil, nil)
	// A first request, so that a client keeping connections would reuse one.
	resp, err := browser.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = browser.Get(srv.URL + "/oauth2/auth?consent_verifier=v")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s, want an error: the connection closed without an answer", resp.Status)
	}
	if err := unanswered(err); !strings.Contains(err.Error(), "closed without an answer") {
		t.Errorf("error = %v, want it to say the connection closed without an answer", err)
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("the request carrying the verifier reached the server %d times, want once", n)
	}
}

func wantClaims(t *testing.T, what string, claims map[string]any, sub, iss string, groups []string) {
	t.Helper()
	if claims["sub"] != sub {
		t.Errorf("%s sub = %v, want %s", what, claims["sub"], sub)
	}
	if claims["iss"] != iss {
		t.Errorf("%s iss = %v, want %s", what, claims["iss"], iss)
	}
	raw, ok := claims["groups"].([]any)
	if !ok {
		t.Errorf("%s groups = %#v, want the list %q at the top level", what, claims["groups"], groups)
		return
	}
	got := []string{}
	for _, g := range raw {
		s, _ := g.(string)
		got = append(got, s)
	}
	if !slices.Equal(got, groups) {
		t.Errorf("%s groups = %q, want %q", what, got, groups)
	}
}

// jwtPayload decodes a JWT's claims without checking its signature.
func jwtPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatalf("JWT payload %s: %v", b, err)
	}
	return claims
}

func pretty(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
