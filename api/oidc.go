package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/refusals"
	"github.com/otpatch/otpatch/internal/store"
)

// Single sign-on with OpenID Connect. The web UI signs in with the authorization code flow
// and PKCE (RFC 7636): GET /api/v1/session/oidc sends the browser to the provider, the
// provider sends it back to /api/v1/session/oidc/callback with a code, and the server
// exchanges the code, verifies the ID token (issuer, audience, expiry, signature against the
// provider's published keys, nonce) and opens a session. The provider's access tokens (JWTs)
// are accepted as bearer tokens on the API. The person is the provider's subject; his roles
// are his groups (a configurable claim) mapped to otpatch roles, brought in step at every
// sign-in and every bearer request, so a group change at the provider changes his roles at
// the next one.

// OIDC is the single sign-on configuration.
type OIDC struct {
	// Issuer is the provider's issuer URL, exactly as its discovery document states it.
	Issuer string
	// ClientID and ClientSecret are otpatch's client at the provider.
	ClientID, ClientSecret string
	// RedirectURL is where the provider sends the browser back: the server's public URL
	// followed by /api/v1/session/oidc/callback.
	RedirectURL string
	// Scopes are asked for at sign-in (default openid, profile, email).
	Scopes []string
	// UsernameClaim names the claim that is the username at the first sign-in (default
	// preferred_username); RolesClaim the claim that lists the person's groups (default groups).
	UsernameClaim, RolesClaim string
	// RoleMap maps a group to the otpatch role it grants.
	RoleMap map[string]domain.Role
	// Audience is what a bearer access token's aud must contain; default ClientID (a token
	// whose client_id or azp is ClientID is accepted too).
	Audience string
	// DisplayName names the provider on the sign-in page (default "single sign-on").
	DisplayName string
	// HTTPClient reaches the provider (a plant's CA); nil: http.DefaultClient.
	HTTPClient *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// Routes of the sign-in flow.
const (
	oidcStartPath    = "/api/v1/session/oidc"
	oidcCallbackPath = "/api/v1/session/oidc/callback"
	oidcCookie       = "otpatch_oidc"
	oidcFlowLifetime = 10 * time.Minute
	// maxBearer bounds a bearer token, a provider's JWT included.
	maxBearer = 8192
)

// withDefaults fills the configuration's defaults.
func (o *OIDC) withDefaults() {
	if len(o.Scopes) == 0 {
		o.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	if o.UsernameClaim == "" {
		o.UsernameClaim = "preferred_username"
	}
	if o.RolesClaim == "" {
		o.RolesClaim = "groups"
	}
	if o.Audience == "" {
		o.Audience = o.ClientID
	}
	if o.DisplayName == "" {
		o.DisplayName = "single sign-on"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
}

// discover reads the provider's discovery document once it answers; until then each use
// tries again, so the server starts while the provider is down.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.HTTPClient), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("the single sign-on provider %s does not answer its discovery document: %w", o.Issuer, err)
	}
	o.provider = p
	return p, nil
}

func (o *OIDC) oauth2Config(p *oidc.Provider) oauth2.Config {
	return oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: o.RedirectURL, Scopes: o.Scopes}
}

// claims are what otpatch reads of an ID token or access token.
type claims map[string]any

// str is a string claim, "" when absent.
func (c claims) str(name string) string {
	v, _ := c[name].(string)
	return v
}

// groups are the person's groups: the roles claim at the top level, or under "ext" where some
// providers put the claims of an access token.
func (c claims) groups(name string) []string {
	v, ok := c[name]
	if !ok {
		if ext, isMap := c["ext"].(map[string]any); isMap {
			v = ext[name]
		}
	}
	switch g := v.(type) {
	case string:
		return strings.Fields(strings.ReplaceAll(g, ",", " "))
	case []any:
		out := make([]string, 0, len(g))
		for _, x := range g {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// person is the user the claims describe, with the roles his groups map to.
func (o *OIDC) person(issuer string, c claims) (store.SSOUser, error) {
	sub := c.str("sub")
	if sub == "" {
		return store.SSOUser{}, errors.New("the provider's token names no subject")
	}
	name := c.str(o.UsernameClaim)
	if name == "" {
		name = c.str("email")
	}
	if !validName(name) {
		return store.SSOUser{}, fmt.Errorf("the provider's %s claim (%q) is not a usable username: 1-128 letters, digits, '.', '_', '+' or '-'", o.UsernameClaim, truncate(name, 64))
	}
	var roles []domain.Role
	for _, g := range c.groups(o.RolesClaim) {
		// Vendors have local accounts bound to their vendor; single sign-on grants plant roles only.
		if r, ok := o.RoleMap[g]; ok && r != domain.RoleVendor && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return store.SSOUser{Issuer: issuer, Subject: sub, Username: name, DisplayName: c.str("name"), Roles: roles}, nil
}

// oidcFlow is what the browser carries between the start and the callback, in an HttpOnly
// cookie scoped to the callback: the state that ties the two together, the nonce the ID token
// must carry, and the PKCE verifier.
type oidcFlow struct {
	State      string      `json:"s"`
	Nonce      string      `json:"n"`
	Verifier   string      `json:"v"`
	Role       domain.Role `json:"r,omitempty"`
	KeepOthers bool        `json:"k,omitempty"`
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startOIDC sends the browser to the provider.
func (s *server) startOIDC(w http.ResponseWriter, r *http.Request) {
	if s.OIDC == nil {
		notFoundProblem(w, r, "single sign-on (this server has no OpenID Connect provider configured)")
		return
	}
	q := r.URL.Query()
	role := domain.Role(q.Get("role"))
	keep, keepOK := queryFlag(q.Get("keep_other_sessions"))
	v := &domain.ValidationError{What: "query"}
	if role != "" && !role.Valid() {
		v.Add("role", "must be one of %s", joinRoles(domain.Roles))
	}
	if q.Has("keep_other_sessions") && !keepOK {
		v.Add("keep_other_sessions", "must be true or false")
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.OIDC.discover(r.Context())
	if err != nil {
		s.Logger.Warn("single sign-on unavailable", "err", err)
		writeProblem(w, r, problem{Status: http.StatusBadGateway, Detail: "the single sign-on provider does not answer; try again, or sign in with a local account"})
		return
	}
	flow := oidcFlow{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Role: role, KeepOthers: keep}
	b, _ := json.Marshal(flow)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: oidcCallbackPath,
		MaxAge: int(oidcFlowLifetime.Seconds()), HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
	cfg := s.OIDC.oauth2Config(p)
	http.Redirect(w, r, cfg.AuthCodeURL(flow.State, oidc.Nonce(flow.Nonce), oauth2.S256ChallengeOption(flow.Verifier)), http.StatusFound)
}

// oidcFailed sends the browser back to the web UI with the reason, and audits the refusal.
func (s *server) oidcFailed(w http.ResponseWriter, r *http.Request, reason, detail string) {
	s.Refusals.Add(refusals.Refusal{Source: s.source(r), Reason: reason, Status: http.StatusUnauthorized, Method: r.Method, Path: r.URL.Path, RequestID: requestID(r)})
	s.Counters.AuthRefused(reason)
	http.Redirect(w, r, "/?sign_in_error="+url.QueryEscape(detail), http.StatusSeeOther)
}

// oidcCallback finishes the sign-in.
func (s *server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if s.OIDC == nil {
		notFoundProblem(w, r, "single sign-on (this server has no OpenID Connect provider configured)")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: oidcCallbackPath, MaxAge: -1, HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		s.oidcFailed(w, r, "oidc_refused", "the single sign-on provider refused the sign-in: "+truncate(e+": "+q.Get("error_description"), 300))
		return
	}
	var flow oidcFlow
	c, err := r.Cookie(oidcCookie)
	if err == nil {
		var b []byte
		if b, err = base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			err = json.Unmarshal(b, &flow)
		}
	}
	if err != nil || flow.State == "" || q.Get("state") != flow.State {
		s.oidcFailed(w, r, "oidc_state", "the sign-in took too long or did not start in this browser; sign in again")
		return
	}
	p, err := s.OIDC.discover(r.Context())
	if err != nil {
		s.Logger.Warn("single sign-on unavailable", "err", err)
		s.oidcFailed(w, r, "oidc_unavailable", "the single sign-on provider does not answer; try again")
		return
	}
	ctx := oidc.ClientContext(r.Context(), s.OIDC.HTTPClient)
	cfg := s.OIDC.oauth2Config(p)
	tok, err := cfg.Exchange(ctx, truncate(q.Get("code"), 2048), oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		s.Logger.Warn("single sign-on code exchange failed", "err", err)
		s.oidcFailed(w, r, "oidc_exchange", "the single sign-on provider did not accept the sign-in code; sign in again")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: s.OIDC.ClientID}).Verify(ctx, raw)
	if err == nil && idt.Nonce != flow.Nonce {
		err = errors.New("the ID token's nonce is not this sign-in's")
	}
	var c0 claims
	if err == nil {
		err = idt.Claims(&c0)
	}
	if err != nil {
		s.Logger.Warn("single sign-on ID token refused", "err", err)
		s.oidcFailed(w, r, "oidc_id_token", "the single sign-on provider's ID token did not verify; sign in again")
		return
	}
	who, err := s.OIDC.person(idt.Issuer, c0)
	if err != nil {
		s.oidcFailed(w, r, "oidc_claims", err.Error())
		return
	}
	u, err := s.Store.SignOnUser(r.Context(), who)
	var invalid *domain.ValidationError
	if err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			s.oidcFailed(w, r, "oidc_username", fmt.Sprintf("the username %s is taken by another account; an admin resolves it", who.Username))
		case errors.As(err, &invalid):
			s.oidcFailed(w, r, "oidc_username", invalid.Error())
		default:
			s.internal(w, r, err)
		}
		return
	}
	if u.DisabledAt != nil {
		s.oidcFailed(w, r, "disabled_user", u.Username+" is disabled in otpatch")
		return
	}
	roles, err := s.Store.HeldRoles(r.Context(), u.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	role := flow.Role
	if role == "" {
		role, _ = domain.FirstHeld(roles)
	}
	if role == "" || !slices.Contains(roles, role) {
		wanted := "no otpatch role"
		if flow.Role != "" {
			wanted = "not the otpatch role " + string(flow.Role)
		}
		s.oidcFailed(w, r, "no_role", fmt.Sprintf("%s holds %s: the groups at the provider (%s claim) grant %s; ask for a group that grants one",
			u.Username, wanted, s.OIDC.RolesClaim, joinRoles(roles)))
		return
	}
	ev := event(r, "session.login")
	ev.Actor, ev.Role = u.Username, string(role)
	ev.Details = map[string]any{"issuer": who.Issuer, "subject": who.Subject, "groups_mapped": who.Roles}
	spec := store.SessionSpec{UserID: u.ID, Role: role, Method: domain.SignInOIDC, KeepOthers: flow.KeepOthers, Remote: r.RemoteAddr, UserAgent: truncate(r.UserAgent(), 200)}
	id, sess, err := s.Store.OpenSession(r.Context(), spec, s.sessionLimits(), ev)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.setSessionCookie(w, r, id, sess.ExpiresAt)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// looksLikeJWT reports whether a bearer token has a JWT's three dot-separated parts (otpatch's
// own tokens have none).
func looksLikeJWT(t string) bool { return strings.Count(t, ".") == 2 && !strings.HasPrefix(t, "otp_") }

// roleHeader picks the role a bearer JWT acts in when its person holds several.
const roleHeader = "X-Otpatch-Role"

// authenticateJWT serves a request whose bearer token is an access token of the provider.
func (s *server) authenticateJWT(w http.ResponseWriter, r *http.Request, raw string, next http.Handler) {
	p, err := s.OIDC.discover(r.Context())
	if err != nil {
		s.Logger.Warn("single sign-on unavailable", "err", err)
		writeProblem(w, r, problem{Status: http.StatusServiceUnavailable, Detail: "the single sign-on provider that issued this token does not answer, so the token cannot be checked; try again"})
		return
	}
	ctx := oidc.ClientContext(r.Context(), s.OIDC.HTTPClient)
	at, err := p.Verifier(&oidc.Config{SkipClientIDCheck: true}).Verify(ctx, raw)
	var c claims
	if err == nil {
		err = at.Claims(&c)
	}
	if err == nil && !slices.Contains(at.Audience, s.OIDC.Audience) && c.str("client_id") != s.OIDC.ClientID && c.str("azp") != s.OIDC.ClientID {
		err = fmt.Errorf("the token is for %v, not for otpatch (%s)", at.Audience, s.OIDC.Audience)
	}
	if err != nil {
		s.refuseAuth(w, r, http.StatusUnauthorized, "bad_jwt", "the single sign-on access token is not valid for otpatch (signature, issuer, audience or expiry); get a new one")
		return
	}
	who, err := s.OIDC.person(at.Issuer, c)
	if err != nil {
		s.refuseAuth(w, r, http.StatusUnauthorized, "oidc_claims", err.Error())
		return
	}
	u, err := s.Store.SignOnUser(r.Context(), who)
	var invalid *domain.ValidationError
	if errors.Is(err, store.ErrConflict) || errors.As(err, &invalid) {
		s.refuseAuth(w, r, http.StatusForbidden, "oidc_username", fmt.Sprintf("the username %s is taken by another account or reserved; an admin resolves it", who.Username))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	role := domain.Role(r.Header.Get(roleHeader))
	if role == "" {
		role, _ = domain.FirstHeld(who.Roles)
	}
	if u.DisabledAt != nil || role == "" || !slices.Contains(who.Roles, role) {
		s.refuseAuth(w, r, http.StatusForbidden, "no_role", fmt.Sprintf("%s holds no otpatch role %s by the provider's groups (%s claim)", u.Username, role, s.OIDC.RolesClaim))
		return
	}
	exp := at.Expiry
	ctx = context.WithValue(r.Context(), actorKey, u.Actor(role))
	next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, credentialKey, credential{expires: &exp})))
}

// oidcOperations are the routes of oidc.go.
func (s *server) oidcOperations() []operation {
	// The provider chooses the callback's parameters (RFC 6749 §4.1.2); these are the ones read.
	provider := func(name, desc string) param {
		return param{Name: name, Desc: desc, Schema: map[string]any{"type": "string"}}
	}
	return []operation{
		{Method: "GET", Path: oidcStartPath, ID: "startSingleSignOn", Tag: "Sign-in", Public: true,
			Summary: "Start single sign-on: send the browser to the OpenID Connect provider",
			Description: "A browser follows this link; it is sent to the provider's authorization endpoint (authorization code flow with PKCE, RFC 7636) " +
				"and comes back to " + oidcCallbackPath + ". A short-lived HttpOnly cookie scoped to the callback carries the state, nonce and PKCE verifier. " +
				"Refused: a server without single sign-on configured (404); an unknown role or a keep_other_sessions that is not a boolean (422); " +
				"a provider that does not answer its discovery document (502).",
			Query: []param{
				qEnum("role", "The role to act in, one the person's groups grant; default the first", stringsOf(domain.Roles)...),
				qBool("keep_other_sessions", "Keep the person's other sessions open; by default they end"),
			},
			Answers: []answer{{Status: http.StatusFound, Desc: "To the provider's sign-in",
				Headers: map[string]string{
					"Location":   "The provider's authorization endpoint, with client_id, redirect_uri, scope, state, nonce and the PKCE code_challenge",
					"Set-Cookie": oidcCookie + ": the sign-in's state (HttpOnly, SameSite=Lax, Path=" + oidcCallbackPath + ", 10 minutes)",
				}}},
			Handle: s.startOIDC},
		{Method: "GET", Path: oidcCallbackPath, ID: "finishSingleSignOn", Tag: "Sign-in", Public: true, AnyQuery: true,
			Summary: "Finish single sign-on: where the provider sends the browser back",
			Description: "The server exchanges the code, verifies the ID token (issuer, audience, expiry, signature, nonce), brings the person's roles in step " +
				"with his groups at the provider and opens a session, then sends the browser to the web UI. When the sign-in fails (the provider refused it, " +
				"the state does not match this browser's, the code or the ID token is not accepted, the person holds no role or is disabled), " +
				"the browser is sent to the web UI with the reason as sign_in_error, and no session is opened. " +
				"The provider chooses the parameters; those otpatch does not read are ignored. A server without single sign-on configured answers 404.",
			Query: []param{
				provider("code", "The authorization code to exchange"),
				provider("state", "The state the start sent; it must match this browser's"),
				provider("error", "The provider's error code, when it refused the sign-in (RFC 6749 §4.1.2.1)"),
				provider("error_description", "The provider's words for the error"),
			},
			Answers: []answer{{Status: http.StatusSeeOther, Desc: "Back to the web UI, signed in or told why not",
				Headers: map[string]string{
					"Location":   "/ when signed in; /?sign_in_error=… (the reason, URL-encoded) when not",
					"Set-Cookie": "otpatch_session when signed in (as POST /api/v1/session sets it); " + oidcCookie + " is cleared either way",
				}}},
			Handle: s.oidcCallback},
	}
}
