package testidp

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
)

// loginApp is the login, consent and logout app Hydra sends browsers to (URLS_LOGIN,
// URLS_CONSENT, URLS_LOGOUT). It signs users in against the directory and tells Hydra
// the outcome through its admin API.
func (p *IdP) loginApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", p.showLogin)
	mux.HandleFunc("POST /login", p.submitLogin)
	mux.HandleFunc("GET /consent", p.consent)
	mux.HandleFunc("GET /logout", p.logout)
	return mux
}

// loginForm is the sign-in page. The ids are for browser tests.
var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in to the test identity provider</title></head>
<body>
<h1>Sign in</h1>
{{if .Error}}<p id="idp-error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="login_challenge" value="{{.Challenge}}">
<p><label for="idp-username">Username</label>
<input id="idp-username" name="username" autocomplete="username" value="{{.Username}}" required></p>
<p><label for="idp-password">Password</label>
<input id="idp-password" name="password" type="password" autocomplete="current-password" required></p>
<p><button id="idp-sign-in" type="submit">Sign in</button></p>
</form>
</body>
</html>
`))

// wrongPassword is what the form says after a failed attempt.
const wrongPassword = "Wrong username or password."

type loginPage struct {
	Challenge, Username, Error string
}

func (p *IdP) renderLogin(w http.ResponseWriter, status int, page loginPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := loginForm.Execute(w, page); err != nil {
		p.appLog.logf("render the login form: %v", err)
	}
}

// showLogin shows the form, or, when Hydra already knows who the user is (skip), accepts
// the login request at once as Hydra asks of a login app.
func (p *IdP) showLogin(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("login_challenge")
	if challenge == "" {
		http.Error(w, "testidp: no login_challenge; sign-ins start at the provider's authorization endpoint", http.StatusBadRequest)
		return
	}
	var req struct {
		Skip    bool   `json:"skip"`
		Subject string `json:"subject"`
	}
	if err := p.call(r.Context(), http.MethodGet, p.adminURL+"/admin/oauth2/auth/requests/login?login_challenge="+url.QueryEscape(challenge), nil, &req); err != nil {
		p.fail(w, "read the login request", err)
		return
	}
	if req.Skip {
		p.acceptLogin(w, r, challenge, req.Subject)
		return
	}
	p.renderLogin(w, http.StatusOK, loginPage{Challenge: challenge})
}

// submitLogin checks the password against the directory: a wrong one shows the form again
// with an error, a right one accepts the login request.
func (p *IdP) submitLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "testidp: "+err.Error(), http.StatusBadRequest)
		return
	}
	challenge, username := r.PostForm.Get("login_challenge"), r.PostForm.Get("username")
	if challenge == "" {
		http.Error(w, "testidp: the form has no login_challenge", http.StatusBadRequest)
		return
	}
	subject, ok := p.authenticate(username, r.PostForm.Get("password"))
	if !ok {
		p.appLog.logf("login refused for %q: wrong username or password", username)
		p.renderLogin(w, http.StatusUnauthorized, loginPage{Challenge: challenge, Username: username, Error: wrongPassword})
		return
	}
	p.appLog.logf("login accepted for %q (subject %s)", username, subject)
	p.acceptLogin(w, r, challenge, subject)
}

func (p *IdP) acceptLogin(w http.ResponseWriter, r *http.Request, challenge, subject string) {
	var accepted struct {
		RedirectTo string `json:"redirect_to"`
	}
	body := map[string]any{"subject": subject, "remember": false}
	if err := p.call(r.Context(), http.MethodPut, p.adminURL+"/admin/oauth2/auth/requests/login/accept?login_challenge="+url.QueryEscape(challenge), body, &accepted); err != nil {
		p.fail(w, "accept the login request", err)
		return
	}
	http.Redirect(w, r, accepted.RedirectTo, http.StatusSeeOther)
}

// consent grants what the client asked for, with the user's claims read from the
// directory now, so a change of groups shows at his next sign-in.
func (p *IdP) consent(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	if challenge == "" {
		http.Error(w, "testidp: no consent_challenge", http.StatusBadRequest)
		return
	}
	var req struct {
		Subject  string   `json:"subject"`
		Scope    []string `json:"requested_scope"`
		Audience []string `json:"requested_access_token_audience"`
	}
	if err := p.call(r.Context(), http.MethodGet, p.adminURL+"/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &req); err != nil {
		p.fail(w, "read the consent request", err)
		return
	}
	u, ok := p.bySubject(req.Subject)
	if !ok {
		p.fail(w, "consent", fmt.Errorf("no user in the directory has subject %s", req.Subject))
		return
	}
	groups := u.groups
	if groups == nil {
		groups = []string{} // "groups": [], never null
	}
	body := map[string]any{
		"grant_scope":                 req.Scope,
		"grant_access_token_audience": req.Audience,
		"remember":                    false,
		"session": map[string]any{
			"id_token":     map[string]any{"preferred_username": u.name, "name": u.name, "groups": groups},
			"access_token": map[string]any{"preferred_username": u.name, "groups": groups},
		},
	}
	var accepted struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := p.call(r.Context(), http.MethodPut, p.adminURL+"/admin/oauth2/auth/requests/consent/accept?consent_challenge="+url.QueryEscape(challenge), body, &accepted); err != nil {
		p.fail(w, "accept the consent request", err)
		return
	}
	p.appLog.logf("consent granted to %q: scope %v, audience %v, groups %v", u.name, req.Scope, req.Audience, groups)
	http.Redirect(w, r, accepted.RedirectTo, http.StatusSeeOther)
}

// logout accepts every logout request.
func (p *IdP) logout(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("logout_challenge")
	if challenge == "" {
		http.Error(w, "testidp: no logout_challenge", http.StatusBadRequest)
		return
	}
	var accepted struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := p.call(r.Context(), http.MethodPut, p.adminURL+"/admin/oauth2/auth/requests/logout/accept?logout_challenge="+url.QueryEscape(challenge), nil, &accepted); err != nil {
		p.fail(w, "accept the logout request", err)
		return
	}
	http.Redirect(w, r, accepted.RedirectTo, http.StatusSeeOther)
}

// fail answers a request the app could not complete and keeps the reason for the log.
func (p *IdP) fail(w http.ResponseWriter, what string, err error) {
	p.appLog.logf("%s: %v", what, err)
	http.Error(w, "testidp: "+what+": "+err.Error(), http.StatusBadGateway)
}
