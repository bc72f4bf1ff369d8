package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	anyone := []string{"vendor", "engineer", "approver", "safety", "auditor", "admin"}
	for _, route := range []string{"DELETE /api/v1/session", "PUT /api/v1/session", "GET /api/v1/sessions", "DELETE /api/v1/sessions", "DELETE /api/v1/sessions/{sessionID}"} {
		allowed[route] = anyone
	}
	public = append(public, "POST /api/v1/session", "GET /api/v1/session", "GET /api/v1/session/oidc", "GET /api/v1/session/oidc/callback")
}

// sessionDoc is the answer of POST and GET /api/v1/session.
type sessionDoc struct {
	SignedIn bool `json:"signed_in"`
	Actor    struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		VendorID string `json:"vendor_id"`
		UserID   string `json:"user_id"`
	} `json:"actor"`
	Roles                  []string  `json:"roles"`
	Via                    string    `json:"via"`
	CSRFToken              string    `json:"csrf_token"`
	ExpiresAt              time.Time `json:"expires_at"`
	PasswordChangeRequired bool      `json:"password_change_required"`
}

// browser is a signed-in web UI: its session cookie and CSRF token.
type browser struct {
	e      *env
	cookie *http.Cookie
	csrf   string
	doc    sessionDoc
}

// signIn opens a session with token and checks the cookie's attributes.
func (e *env) signIn(token string) *browser {
	e.t.Helper()
	b, code, raw := e.openSession(map[string]any{"token": token})
	if b == nil {
		e.t.Fatalf("sign in: %d %s", code, raw)
	}
	return b
}

// openSession signs in with body (a token, or a username and password): the browser, or nil
// when no session was opened, with the answer.
func (e *env) openSession(body any) (*browser, int, []byte) {
	e.t.Helper()
	code, hdr, raw := e.raw("POST", "/api/v1/session", nil, body, nil)
	if code != http.StatusCreated {
		if hdr.Get("Set-Cookie") != "" {
			e.t.Errorf("a refused sign-in (%d) set a cookie: %q", code, hdr.Get("Set-Cookie"))
		}
		return nil, code, raw
	}
	b := &browser{e: e}
	if err := json.Unmarshal(raw, &b.doc); err != nil {
		e.t.Fatal(err)
	}
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.Name == "otpatch_session" {
			b.cookie = c
		}
	}
	if b.cookie == nil || b.doc.CSRFToken == "" {
		e.t.Fatalf("sign in set no session cookie or CSRF token: %v %s", hdr, raw)
	}
	b.csrf = b.doc.CSRFToken
	return b, code, raw
}

// signInPassword opens a session with a username and password, or fails the test.
func (e *env) signInPassword(username, password string) *browser {
	e.t.Helper()
	b, code, raw := e.openSession(map[string]any{"username": username, "password": password})
	if b == nil {
		e.t.Fatalf("%s signing in: %d %s", username, code, raw)
	}
	return b
}

// raw sends a request with an optional cookie and extra headers and returns the answer.
func (e *env) raw(method, path string, cookie *http.Cookie, body any, headers map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, raw
}

// do sends a request as the browser would: with the cookie, and the CSRF header when withCSRF.
func (b *browser) do(method, path string, body any, withCSRF bool) (int, []byte) {
	b.e.t.Helper()
	h := map[string]string{}
	if withCSRF {
		h["X-CSRF-Token"] = b.csrf
	}
	code, _, raw := b.e.raw(method, path, b.cookie, body, h)
	return code, raw
}

// call sends a request as the web UI does (the cookie, and the CSRF header on changes) and
// decodes the JSON answer into out (when not nil and the answer has a body).
func (b *browser) call(method, path string, body, out any) int {
	b.e.t.Helper()
	code, raw := b.do(method, path, body, !(method == "GET" || method == "HEAD"))
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.e.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return code
}

// TestSessionSignIn: a token opens a server-side session held in a hardened cookie; the
// session acts as the token's actor, ends on sign-out, and is what the database never sees in
// the clear.
func TestSessionSignIn(t *testing.T) {
	e := newEnv(t, envOptions{})

	t.Run("a wrong token opens no session and is audited", func(t *testing.T) {
		e.flushRefusals()
		before := e.auditCount("auth.refused")
		code, hdr, raw := e.raw("POST", "/api/v1/session", nil, map[string]string{"token": "otp_wrong"}, nil)
		if code != http.StatusUnauthorized || hdr.Get("Content-Type") != "application/problem+json" || hdr.Get("Set-Cookie") != "" {
			t.Fatalf("wrong token: %d %s %q", code, hdr.Get("Content-Type"), hdr.Get("Set-Cookie"))
		}
		if !strings.Contains(string(raw), "no session was opened") {
			t.Errorf("answer does not say why: %s", raw)
		}
		if e.flushRefusals(); e.auditCount("auth.refused") != before+1 {
			t.Error("the refused sign-in is not in the audit trail")
		}
		if code, _, _ := e.raw("POST", "/api/v1/session", nil, map[string]string{"token": ""}, nil); code != http.StatusUnprocessableEntity {
			t.Errorf("empty token: %d, want 422", code)
		}
	})

	b := e.signIn(e.tokens.Engineer)
	t.Run("cookie attributes", func(t *testing.T) {
		c := b.cookie
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
			t.Errorf("cookie: HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, /, not Secure on plain HTTP", c.HttpOnly, c.SameSite, c.Path, c.Secure)
		}
		if c.MaxAge <= 0 || c.MaxAge > 8*3600 {
			t.Errorf("cookie Max-Age %d: want a bounded lifetime of at most 8 hours", c.MaxAge)
		}
		if b.doc.Actor.Name == "" || b.doc.Actor.Role != "engineer" {
			t.Errorf("actor: %+v", b.doc.Actor)
		}
		if b.doc.Via != "token" || time.Until(b.doc.ExpiresAt) > 8*time.Hour || time.Until(b.doc.ExpiresAt) < 7*time.Hour {
			t.Errorf("session answer: %+v", b.doc)
		}
	})

	t.Run("only the hash of the session id is stored", func(t *testing.T) {
		var rows []store.Session
		if err := e.store.DB().Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rows {
			if r.IDHash == b.cookie.Value {
				t.Error("the session id is stored in the clear")
			}
			if r.IDHash == store.HashSessionID(b.cookie.Value) {
				found = true
			}
		}
		if !found {
			t.Errorf("no session row with the id's hash among %d", len(rows))
		}
		if e.auditCount("session.login") == 0 {
			t.Error("the sign-in is not in the audit trail")
		}
	})

	t.Run("the session acts as the token's actor", func(t *testing.T) {
		code, raw := b.do("GET", "/api/v1/me", nil, false)
		if code != http.StatusOK || !strings.Contains(string(raw), `"role": "engineer"`) {
			t.Fatalf("me: %d %s", code, raw)
		}
		var doc sessionDoc
		code, raw = b.do("GET", "/api/v1/session", nil, false)
		if json.Unmarshal(raw, &doc); code != http.StatusOK || !doc.SignedIn || doc.CSRFToken != b.csrf || doc.Via != "token" || doc.Actor.Role != "engineer" {
			t.Errorf("GET session: %d %s", code, raw)
		}
		// Without a session the answer says so, and is no refused request in the audit trail.
		e.flushRefusals()
		before := e.auditCount("auth.refused")
		var none sessionDoc
		if code := e.call("GET", "/api/v1/session", "", nil, &none); code != http.StatusOK || none.SignedIn || none.CSRFToken != "" {
			t.Errorf("GET session without a cookie: %d %+v", code, none)
		}
		if e.flushRefusals(); e.auditCount("auth.refused") != before {
			t.Error("a page load without a session was audited as a refusal")
		}
	})

	t.Run("a bearer header takes precedence over the cookie", func(t *testing.T) {
		code, _, _ := e.raw("GET", "/api/v1/me", b.cookie, nil, map[string]string{"Authorization": "Bearer otp_not-a-token"})
		if code != http.StatusUnauthorized {
			t.Errorf("bad bearer with a good cookie: %d, want 401", code)
		}
		code, _, raw := e.raw("GET", "/api/v1/me", b.cookie, nil, map[string]string{"Authorization": "Bearer " + e.tokens.Auditor})
		if code != http.StatusOK || !strings.Contains(string(raw), "auditor") {
			t.Errorf("auditor bearer with engineer cookie: %d %s", code, raw)
		}
	})

	t.Run("a forged cookie is refused", func(t *testing.T) {
		code, hdr, _ := e.raw("GET", "/api/v1/me", &http.Cookie{Name: "otpatch_session", Value: "forged"}, nil, nil)
		if code != http.StatusUnauthorized || !strings.Contains(hdr.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("forged cookie: %d, Set-Cookie %q; want 401 and the cookie cleared", code, hdr.Get("Set-Cookie"))
		}
	})

	t.Run("sign-out ends the session", func(t *testing.T) {
		b2 := e.signIn(e.tokens.Approver)
		if code, _ := b2.do("DELETE", "/api/v1/session", nil, false); code != http.StatusForbidden {
			t.Errorf("sign-out without CSRF token: %d, want 403", code)
		}
		code, hdr, _ := e.raw("DELETE", "/api/v1/session", b2.cookie, nil, map[string]string{"X-CSRF-Token": b2.csrf})
		if code != http.StatusNoContent || !strings.Contains(hdr.Get("Set-Cookie"), "Max-Age=0") {
			t.Fatalf("sign-out: %d %q", code, hdr.Get("Set-Cookie"))
		}
		if code, _ := b2.do("GET", "/api/v1/me", nil, false); code != http.StatusUnauthorized {
			t.Errorf("the ended session still works: %d", code)
		}
		if e.auditCount("session.logout") != 1 {
			t.Error("the sign-out is not in the audit trail")
		}
		if code := e.call("DELETE", "/api/v1/session", e.tokens.Approver, nil, nil); code != http.StatusBadRequest {
			t.Errorf("DELETE session with a bearer token: %d, want 400", code)
		}
	})

	t.Run("revoking the token ends its sessions", func(t *testing.T) {
		b3 := e.signIn(e.tokens.Safety)
		if code, _ := b3.do("GET", "/api/v1/me", nil, false); code != http.StatusOK {
			t.Fatalf("me: %d", code)
		}
		if err := e.store.DB().Exec(`UPDATE tokens SET revoked_at = ? WHERE token_hash = ?`, time.Now().UTC(), store.HashToken(e.tokens.Safety)).Error; err != nil {
			t.Fatal(err)
		}
		if code, _ := b3.do("GET", "/api/v1/me", nil, false); code != http.StatusUnauthorized {
			t.Errorf("session of a revoked token: %d, want 401", code)
		}
	})
}

// TestSessionCSRF: every route that changes something refuses a cookie-authenticated request
// without the session's CSRF token (403 problem+json, audited, nothing done), accepts it with
// the token, and bearer-token requests need none.
func TestSessionCSRF(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.signIn(e.tokens.Engineer)
	vendor := e.signIn(e.tokens.Vendor)
	params := strings.NewReplacer("{vendorID}", "vnd_acme", "{zoneID}", "zone_packaging", "{assetID}", "ast_pkg-hmi-01",
		"{patchID}", "pat_x", "{campaignID}", "cmp_x", "{keyID}", "key_x", "{uploadID}", "upl_x", "{advisoryID}", "adv_x")
	unsafe := 0
	for _, route := range routesOf(t, api.New(api.Deps{Store: e.store, Objects: e.objects})) {
		method, path, _ := strings.Cut(route, " ")
		if method == "GET" || method == "HEAD" || route == "POST /api/v1/session" {
			continue
		}
		unsafe++
		path = params.Replace(path)
		for _, who := range []*browser{b, vendor} {
			before := e.auditCount("csrf.refused")
			attempts := []map[string]string{{}, {"X-CSRF-Token": "wrong"}}
			if who == vendor {
				attempts = []map[string]string{{"X-CSRF-Token": b.csrf}} // another session's token
			}
			for _, h := range attempts {
				code, hdr, raw := e.raw(method, path, who.cookie, map[string]any{}, h)
				if code != http.StatusForbidden || hdr.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(raw), "CSRF token") {
					t.Errorf("%s %s with the cookie and CSRF header %q: %d %s; want 403 naming the CSRF token", method, path, h["X-CSRF-Token"], code, raw)
				}
			}
			if e.auditCount("csrf.refused") == before {
				t.Errorf("%s: the CSRF refusal is not audited", route)
			}
		}
	}
	if unsafe < 10 {
		t.Fatalf("only %d routes that change something; the router walk is broken", unsafe)
	}

	t.Run("with the token the change is made", func(t *testing.T) {
		win := map[string]any{"cron": "0 2 * * 6", "duration": "4h", "time_zone": "Europe/Zurich", "max_parallel": 2}
		code, raw := b.do("PUT", "/api/v1/zones/zone_packaging/window", win, false)
		if code != http.StatusForbidden {
			t.Fatalf("without CSRF: %d %s", code, raw)
		}
		var z struct {
			Window struct{ Cron string } `json:"window"`
		}
		e.call("GET", "/api/v1/zones/zone_packaging", e.tokens.Engineer, nil, &z)
		if z.Window.Cron == "0 2 * * 6" {
			t.Fatal("the refused request changed the window")
		}
		if code, raw := b.do("PUT", "/api/v1/zones/zone_packaging/window", win, true); code != http.StatusOK {
			t.Fatalf("with CSRF: %d %s", code, raw)
		}
		e.call("GET", "/api/v1/zones/zone_packaging", e.tokens.Engineer, nil, &z)
		if z.Window.Cron != "0 2 * * 6" {
			t.Errorf("window after the accepted change: %q", z.Window.Cron)
		}
	})

	t.Run("bearer tokens need no CSRF token", func(t *testing.T) {
		win := map[string]any{"cron": "0 3 * * 6", "duration": "4h", "time_zone": "Europe/Zurich", "max_parallel": 2}
		if code := e.call("PUT", "/api/v1/zones/zone_packaging/window", e.tokens.Engineer, win, nil); code != http.StatusOK {
			t.Errorf("bearer PUT: %d", code)
		}
	})
}
