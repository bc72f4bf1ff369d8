package api_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testidp"
	"github.com/otpatch/otpatch/internal/teststack"
)

// ssoStack is otpatch with single sign-on at a real OpenID Connect provider (Ory Hydra, its
// own process) whose directory the test controls.
type ssoStack struct {
	*teststack.Stack
	idp                  *testidp.IdP
	clientID, secret, cb string
}

func newSSOStack(t *testing.T) *ssoStack {
	t.Helper()
	idp := testidp.Start(t)
	o := &api.OIDC{Issuer: idp.Issuer(), Audience: "otpatch", DisplayName: "Plant IdP",
		RoleMap: map[string]domain.Role{"ot-approvers": domain.RoleApprover, "ot-engineers": domain.RoleEngineer, "ot-safety": domain.RoleSafety}}
	s := teststack.New(t, teststack.Options{OIDC: o, ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)}})
	cb := s.URL + "/api/v1/session/oidc/callback"
	id, secret := idp.RegisterClient(t, []string{cb}, []string{"otpatch"})
	// The client exists once otpatch's URL is known; no request has used the settings yet.
	o.ClientID, o.ClientSecret, o.RedirectURL = id, secret, cb
	return &ssoStack{Stack: s, idp: idp, clientID: id, secret: secret, cb: cb}
}

var challengeField = regexp.MustCompile(`name="login_challenge" value="([^"]+)"`)

// browserSignIn signs in as a browser does: otpatch's single sign-on start, the provider's
// login form, the way back to otpatch's callback. It returns the client holding the cookies
// and the URL the sign-in ended on.
func (s *ssoStack) browserSignIn(t *testing.T, username, password string) (*http.Client, *url.URL) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(s.URL + "/api/v1/session/oidc")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := challengeField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form at %s (%d): %s", res.Request.URL, res.StatusCode, page)
	}
	form := url.Values{"login_challenge": {html.UnescapeString(string(m[1]))}, "username": {username}, "password": {password}}
	res, err = c.PostForm(res.Request.URL.ResolveReference(&url.URL{Path: "/login"}).String(), form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return c, res.Request.URL
}

type ssoSession struct {
	SignedIn bool          `json:"signed_in"`
	Via      string        `json:"via"`
	Actor    domain.Actor  `json:"actor"`
	Roles    []domain.Role `json:"roles"`
}

func (s *ssoStack) session(t *testing.T, c *http.Client) ssoSession {
	t.Helper()
	var out ssoSession
	if code := teststack.Call(t, c, "GET", s.URL+"/api/v1/session", "", nil, &out); code != http.StatusOK {
		t.Fatalf("GET /session: %d", code)
	}
	return out
}

// me asks who a bearer token is, with a role header when role is set.
func (s *ssoStack) me(t *testing.T, token string, role domain.Role) (int, domain.Actor) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if role != "" {
		req.Header.Set("X-Otpatch-Role", string(role))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a domain.Actor
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, a
}

// TestSingleSignOn: a person signs in at the provider and acts in the role his groups map to;
// the provider's access token works as a bearer token on the API as the same person; a group
// change at the provider changes his role at the next sign-in and ends what he did in the old
// one; groups that map to no role open nothing; roles of such users are not granted in otpatch.
func TestSingleSignOn(t *testing.T) {
	s := newSSOStack(t)
	s.idp.SetUser("olivia", "olivia-pass-1", "ot-approvers", "canteen")
	s.idp.SetUser("sam", "sam-pass-1", "ot-safety", "ot-approvers")
	s.idp.SetUser("nobody", "nobody-pass-1", "canteen")

	c, end := s.browserSignIn(t, "olivia", "olivia-pass-1")
	sess := s.session(t, c)
	if !sess.SignedIn || sess.Via != "oidc" || sess.Actor.Name != "olivia" || sess.Actor.Role != domain.RoleApprover || len(sess.Roles) != 1 {
		t.Fatalf("after single sign-on (ended at %s): %+v", end, sess)
	}
	u, err := s.Store.UserByName(t.Context(), "olivia")
	if err != nil || u.OIDCSubject == nil || *u.OIDCSubject != s.idp.Subject("olivia") || u.PasswordHash != nil {
		t.Fatalf("olivia's account: %+v, %v; want the provider's subject and no password", u, err)
	}

	// The provider's access token is a bearer token of the same person.
	tok := s.idp.SignIn(t, s.clientID, s.secret, s.cb, "olivia", "olivia-pass-1", "otpatch")
	if code, a := s.me(t, tok.AccessToken, ""); code != http.StatusOK || a.Name != "olivia" || a.Role != domain.RoleApprover || a.UserID != u.ID {
		t.Fatalf("GET /me with the access token: %d %+v", code, a)
	}
	forged := tok.AccessToken[:len(tok.AccessToken)-4] + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, tok.AccessToken[len(tok.AccessToken)-4:])
	if code, _ := s.me(t, forged, ""); code != http.StatusUnauthorized {
		t.Errorf("an access token with a broken signature: %d, want 401", code)
	}
	if code, _ := s.me(t, tok.AccessToken, domain.RoleAdmin); code != http.StatusForbidden {
		t.Errorf("acting as a role the groups do not grant: %d, want 403", code)
	}

	// Roles of single sign-on users come from the provider only.
	var refused struct {
		Rule string `json:"rule"`
	}
	if code := s.call(t, "POST", "/api/v1/users/"+u.ID+"/grants", s.Tokens.Admin, map[string]string{"role": "admin"}, &refused); code != http.StatusForbidden || refused.Rule != domain.RuleIdPRoles {
		t.Errorf("granting a role to a single sign-on user in otpatch: %d %+v, want 403 rule %s", code, refused, domain.RuleIdPRoles)
	}

	// A group change at the provider changes the role at the next sign-in; the old session,
	// acting in the role he lost, ends.
	s.idp.SetGroups("olivia", "ot-engineers")
	c2, _ := s.browserSignIn(t, "olivia", "olivia-pass-1")
	if sess := s.session(t, c2); !sess.SignedIn || sess.Actor.Role != domain.RoleEngineer || len(sess.Roles) != 1 || sess.Roles[0] != domain.RoleEngineer {
		t.Fatalf("after the group change: %+v, want engineer only", sess)
	}
	if sess := s.session(t, c); sess.SignedIn {
		t.Errorf("the session in the revoked approver role is still signed in: %+v", sess)
	}
	evs, err := s.Store.AuditEvents(t.Context(), store.AuditFilter{Action: "role.revoked"})
	if err != nil || len(evs) != 1 || evs[0].Actor != "idp" {
		t.Errorf("role.revoked events: %+v, %v; want one by idp", evs, err)
	}
	tok2 := s.idp.SignIn(t, s.clientID, s.secret, s.cb, "olivia", "olivia-pass-1", "otpatch")
	if code, a := s.me(t, tok2.AccessToken, ""); code != http.StatusOK || a.Role != domain.RoleEngineer {
		t.Errorf("GET /me with a new access token: %d %+v, want engineer", code, a)
	}

	// A person in two mapped groups picks his role with the header.
	tok3 := s.idp.SignIn(t, s.clientID, s.secret, s.cb, "sam", "sam-pass-1", "otpatch")
	if code, a := s.me(t, tok3.AccessToken, domain.RoleSafety); code != http.StatusOK || a.Role != domain.RoleSafety {
		t.Errorf("sam as safety: %d %+v", code, a)
	}
	if code, a := s.me(t, tok3.AccessToken, ""); code != http.StatusOK || a.Role != domain.RoleApprover {
		t.Errorf("sam without a role header: %d %+v, want approver (the first held)", code, a)
	}

	// Groups that map to no role open no session, and the browser is told why.
	c3, end := s.browserSignIn(t, "nobody", "nobody-pass-1")
	if msg := end.Query().Get("sign_in_error"); !strings.Contains(msg, "holds no otpatch role") {
		t.Errorf("a sign-in without a mapped group ended at %s", end)
	}
	if sess := s.session(t, c3); sess.SignedIn {
		t.Errorf("a person without a role is signed in: %+v", sess)
	}

	// The start refuses what it cannot read; the callback takes whatever parameters the
	// provider sends and answers a refusal with a redirect to the web UI that says why.
	direct := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if code := teststack.Call(t, direct, "GET", s.URL+"/api/v1/session/oidc?keep_other_sessions=maybe", "", nil, nil); code != http.StatusUnprocessableEntity {
		t.Errorf("a start with keep_other_sessions=maybe: %d, want 422", code)
	}
	res, err := direct.Get(s.URL + "/api/v1/session/oidc?role=approver&keep_other_sessions=1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.idp.Issuer()) || !strings.Contains(loc, "code_challenge=") {
		t.Errorf("the start: %d to %q, want 302 to the provider with a PKCE challenge", res.StatusCode, loc)
	}
	res, err = direct.Get(s.URL + "/api/v1/session/oidc/callback?error=access_denied&error_description=the+user+said+no&iss=" + url.QueryEscape(s.idp.Issuer()))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc, _ := url.Parse(res.Header.Get("Location")); res.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/" || !strings.Contains(loc.Query().Get("sign_in_error"), "access_denied: the user said no") {
		t.Errorf("a refusal by the provider: %d to %q, want 303 to / with the reason", res.StatusCode, res.Header.Get("Location"))
	}
}

func (s *ssoStack) call(t *testing.T, method, path, token string, body, out any) int {
	t.Helper()
	return teststack.Call(t, nil, method, s.URL+path, token, body, out)
}
