package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/passwords"
	"github.com/otpatch/otpatch/internal/store"
)

// Browser sessions for the web UI. A person signs in (POST /api/v1/session) with his
// username and password (and his second factor when it is on), with one of his personal
// tokens, or at the single sign-on provider (oidc.go); the session acts as him in one role he
// holds, switchable among his roles. The server keeps the SHA-256 of a random session id and
// the browser keeps the id in an HttpOnly, SameSite=Strict cookie that scripts cannot read. A
// request authenticated by that cookie that changes anything (POST, PUT, PATCH, DELETE) must
// also carry the session's CSRF token in X-CSRF-Token. A new sign-in ends the person's other
// sessions unless he asks to keep them; "sign out everywhere" ends them all.

const (
	sessionCookie = "otpatch_session"
	csrfHeader    = "X-CSRF-Token"
)

// Session limits when the server sets none: a session lasts at most a shift and ends after
// half an hour without requests.
const (
	DefaultSessionLifetime = 8 * time.Hour
	DefaultSessionIdle     = 30 * time.Minute
)

// sessionRef is the cookie session a request was authenticated by.
type sessionRef struct {
	id      string
	expires time.Time
	// method is how the session was opened: one opened with a token acts in its role only.
	method domain.SignInMethod
}

// hash is the session's name in lists and the audit trail.
func (ref sessionRef) hash() string { return store.HashSessionID(ref.id) }

const sessionKey ctxKey = 100

func sessionOf(r *http.Request) (sessionRef, bool) {
	ref, ok := r.Context().Value(sessionKey).(sessionRef)
	return ref, ok
}

// csrfToken is derived from the secret session id, so the server stores nothing more and a
// page that knows the token learns nothing about the cookie.
func csrfToken(sessionID string) string {
	m := hmac.New(sha256.New, []byte(sessionID))
	m.Write([]byte("otpatch csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// safeMethod reports whether a method only reads (RFC 9110 §9.2.1).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// authenticateSession serves a request that carries the session cookie and no Authorization
// header.
func (s *server) authenticateSession(w http.ResponseWriter, r *http.Request, id string, next http.Handler) {
	if len(id) > 128 {
		s.refuseAuth(w, r, http.StatusUnauthorized, "bad_session", "the session cookie is not valid; sign in again")
		return
	}
	u, sess, err := s.Store.SessionActor(r.Context(), id, s.sessionLimits())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.clearSessionCookie(w, r)
			s.refuseAuth(w, r, http.StatusUnauthorized, "ended_session", "the session has ended or expired, its role was revoked, or its token was; sign in again")
			return
		}
		s.internal(w, r, err)
		return
	}
	actor := u.Actor(sess.Role)
	ctx := context.WithValue(r.Context(), actorKey, actor)
	ctx = context.WithValue(ctx, sessionKey, sessionRef{id: id, expires: sess.ExpiresAt, method: domain.SignInMethod(sess.Method)})
	cred := credential{expires: &sess.ExpiresAt}
	if sess.TokenID != nil {
		cred.tokenID = *sess.TokenID
	}
	ctx = context.WithValue(ctx, credentialKey, cred)
	r = r.WithContext(ctx)
	if !safeMethod(r.Method) {
		got := r.Header.Get(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(id))) != 1 {
			s.refuse(w, r, http.StatusForbidden, "csrf.refused", "a change made with a session cookie must carry the session's CSRF token in the "+csrfHeader+" header (from POST or GET /api/v1/session); nothing was changed")
			return
		}
	}
	if s.mustChangePassword(u) && !passwordChangeRoute(r) {
		writeProblem(w, r, problem{Status: http.StatusForbidden, Rule: "password_change_required",
			Detail: "your password must be changed before anything else (it was set by an admin, or it is older than the password policy allows): PUT /api/v1/me/password"})
		return
	}
	next.ServeHTTP(w, r)
}

// passwordChangeRoute is what a session whose password must change may still do: see who it
// is, change the password, sign out.
func passwordChangeRoute(r *http.Request) bool {
	switch r.URL.Path {
	case "/api/v1/me":
		return r.Method == http.MethodGet
	case "/api/v1/me/password":
		return r.Method == http.MethodPut
	case "/api/v1/session":
		return r.Method == http.MethodDelete || r.Method == http.MethodGet
	}
	return false
}

// mustChangePassword reports whether a local account's password must be changed before the
// session does anything: an initial or reset password, or one past the policy's maximum age.
func (s *server) mustChangePassword(u store.User) bool {
	if u.PasswordHash == nil {
		return false
	}
	return u.MustChangePassword || (u.PasswordSetAt != nil && s.Passwords.Expired(*u.PasswordSetAt, s.Store.Now()))
}

// secureCookies reports whether cookies carry the Secure flag: on HTTPS, and always when the
// server sits behind a TLS-terminating proxy (Deps.SecureCookies).
func (s *server) secureCookies(r *http.Request) bool { return r.TLS != nil || s.SecureCookies }

// setSessionCookie gives the browser the session id, for as long as the session lasts from
// now (the store's clock).
func (s *server) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Expires: expires, MaxAge: int(expires.Sub(s.Store.Now()).Seconds()),
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode})
}

func (s *server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode})
}

// sessionRequest is a sign-in in either of its forms (passwordSignIn, tokenSignIn); the
// handler tells them apart.
type sessionRequest struct {
	Token    string      `json:"token,omitempty"`
	Username string      `json:"username,omitempty"`
	Password string      `json:"password,omitempty"`
	TOTP     string      `json:"totp,omitempty"`
	Role     domain.Role `json:"role,omitempty"`
	// KeepOtherSessions keeps the person's other sessions open; by default they end.
	KeepOtherSessions bool `json:"keep_other_sessions,omitempty"`
}

func (sessionRequest) alternatives() []any { return []any{passwordSignIn{}, tokenSignIn{}} }

// passwordSignIn is a sign-in with a local account's username and password.
type passwordSignIn struct {
	Username          string      `json:"username" api:"required" doc:"At most 128 characters"`
	Password          string      `json:"password" api:"required" doc:"At most 256 bytes"`
	TOTP              string      `json:"totp,omitempty" doc:"The current code of the second factor, when it is on; without it such an account is answered 401 with rule totp_required"`
	Role              domain.Role `json:"role,omitempty" doc:"The role to act in, one the person holds; default the first he holds"`
	KeepOtherSessions bool        `json:"keep_other_sessions,omitempty" doc:"Keep the person's other sessions open; by default they end"`
}

// tokenSignIn is a sign-in with a personal token: the session acts in the token's role.
type tokenSignIn struct {
	Token             string      `json:"token" api:"required" doc:"A personal token (otp_…), at most 512 characters; an agent credential opens no session (403)"`
	Role              domain.Role `json:"role,omitempty" doc:"The token's own role, if given; another is refused (422)"`
	KeepOtherSessions bool        `json:"keep_other_sessions,omitempty" doc:"Keep the person's other sessions open; by default they end"`
}

// sessionView is who is signed in, and how.
type sessionView struct {
	SignedIn bool         `json:"signed_in" doc:"Whether this browser's cookie holds a session; the other fields but sign_in are there only then"`
	Actor    domain.Actor `json:"actor,omitzero" doc:"Who the session acts as, in which role"`
	// Roles are the roles the person holds; the session acts in Actor.Role.
	Roles []domain.Role `json:"roles,omitempty" doc:"The roles the person holds; the session acts in actor.role"`
	// Via is how the session was opened: password, oidc or token.
	Via       domain.SignInMethod `json:"via,omitempty" doc:"How the session was opened"`
	CSRFToken string              `json:"csrf_token,omitempty" doc:"What a change made with the session cookie sends as X-CSRF-Token"`
	ExpiresAt *time.Time          `json:"expires_at,omitempty" doc:"When the session ends at the latest; it ends sooner after a time without requests"`
	// PasswordChangeRequired: the session may do nothing but change the password (PUT
	// /api/v1/me/password) or sign out.
	PasswordChangeRequired bool `json:"password_change_required,omitempty" doc:"The session may do nothing but change the password (PUT /api/v1/me/password), read GET /api/v1/me and /api/v1/session, and sign out"`
	// SignIn lists the sign-in methods the server offers.
	SignIn signInMethods `json:"sign_in" doc:"The sign-in methods the server offers"`
}

// signInMethods are the ways to sign in: local accounts and tokens always; single sign-on
// when configured, at OIDCStart.
type signInMethods struct {
	Password  bool   `json:"password"`
	Token     bool   `json:"token"`
	OIDC      bool   `json:"oidc"`
	OIDCStart string `json:"oidc_start,omitempty" doc:"Where a browser starts single sign-on (GET), when it is offered"`
	OIDCName  string `json:"oidc_name,omitempty" doc:"The provider's name to show on the sign-in page"`
}

func (s *server) signInMethods() signInMethods {
	m := signInMethods{Password: true, Token: true}
	if s.OIDC != nil {
		m.OIDC, m.OIDCStart, m.OIDCName = true, oidcStartPath, s.OIDC.DisplayName
	}
	return m
}

func (s *server) sessionLimits() store.SessionLimits {
	return store.SessionLimits{Lifetime: s.SessionLifetime, Idle: s.SessionIdle}
}

// bounded sign-in fields.
const (
	maxUsername = 128
	maxTOTP     = 16
)

// crossSite reports whether a browser sent r from another site's page (Sec-Fetch-Site, or an
// Origin that is not this server): such a sign-in would sign the victim's browser in as the
// attacker (login CSRF). Clients that are not browsers send neither header.
func crossSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host != r.Host
}

// createSession signs in with a password or a token and opens a session.
func (s *server) createSession(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		s.refuse(w, r, http.StatusForbidden, "session.refused", "a sign-in must come from otpatch's own pages, not from another site's")
		return
	}
	var in sessionRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	in.Token, in.Username = strings.TrimSpace(in.Token), strings.TrimSpace(in.Username)
	v := &domain.ValidationError{What: "sign-in"}
	switch {
	case in.Token != "" && (in.Username != "" || in.Password != "" || in.TOTP != ""):
		v.Add("token", "give a username and password, or a token, not both")
	case in.Token == "" && in.Username == "":
		v.Add("username", "is required (or sign in with a token)")
	case len(in.Token) > 512:
		v.Add("token", "is longer than 512 characters")
	case len(in.Username) > maxUsername:
		v.Add("username", "is longer than %d characters", maxUsername)
	case len(in.Password) > domain.MaxPasswordLength:
		v.Add("password", "is longer than %d bytes", domain.MaxPasswordLength)
	case len(in.TOTP) > maxTOTP:
		v.Add("totp", "is longer than %d characters", maxTOTP)
	case in.Username != "" && in.Password == "":
		v.Add("password", "is required")
	case in.Role != "" && !in.Role.Valid():
		v.Add("role", "must be one of vendor, engineer, approver, safety, auditor, admin")
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	var (
		u      store.User
		method domain.SignInMethod
		spec   store.SessionSpec
	)
	if in.Token != "" {
		t, actor, err := s.Store.AuthenticateToken(r.Context(), in.Token)
		if errors.Is(err, store.ErrNotFound) {
			s.refuseAuth(w, r, http.StatusUnauthorized, "bad_sign_in", "the token is not valid, was revoked or has expired; no session was opened")
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if t.UserID == nil { // An agent's token opens no browser session: it is for the agent routes only.
			s.refuseAuth(w, r, http.StatusForbidden, "agent_token_sign_in", "this is an agent's token; it opens no session (agents use it as a bearer token on /api/v1/agent)")
			return
		}
		if in.Role != "" && in.Role != actor.Role {
			s.fail(w, r, &domain.ValidationError{What: "sign-in", Fields: []domain.FieldError{{Field: "role", Message: fmt.Sprintf("a token acts in its own role (%s); sign in with a password to choose", actor.Role)}}})
			return
		}
		if u, err = s.Store.User(r.Context(), *t.UserID); err != nil {
			s.internal(w, r, err)
			return
		}
		method, in.Role = domain.SignInToken, actor.Role
		spec = store.SessionSpec{TokenID: t.ID, TokenExpires: t.ExpiresAt}
	} else {
		var ok bool
		if u, ok = s.checkPassword(w, r, in); !ok {
			return
		}
		method = domain.SignInPassword
	}
	spec.UserID, spec.Role, spec.Method, spec.KeepOthers = u.ID, in.Role, method, in.KeepOtherSessions
	s.openSession(w, r, u, spec)
}

// openSession opens a session for u as spec says (acting in spec.Role, or his first role when
// it names none) and answers with it.
func (s *server) openSession(w http.ResponseWriter, r *http.Request, u store.User, spec store.SessionSpec) {
	roles, err := s.Store.HeldRoles(r.Context(), u.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if spec.Role == "" {
		first, ok := domain.FirstHeld(roles)
		if !ok {
			s.refuse(w, r, http.StatusForbidden, "session.refused", fmt.Sprintf("%s holds no role yet; an admin grants roles (a privileged one is confirmed by a second admin)", u.Username))
			return
		}
		spec.Role = first
	}
	if !slices.Contains(roles, spec.Role) {
		s.refuse(w, r, http.StatusForbidden, "session.refused", fmt.Sprintf("%s does not hold the %s role; roles held: %s", u.Username, spec.Role, joinRoles(roles)))
		return
	}
	spec.Remote, spec.UserAgent = r.RemoteAddr, truncate(r.UserAgent(), 200)
	ev := u.Actor(spec.Role)
	e := event(r, "session.login")
	e.Actor, e.Role = ev.Name, string(ev.Role)
	id, sess, err := s.Store.OpenSession(r.Context(), spec, s.sessionLimits(), e)
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, http.StatusForbidden, "session.refused", fmt.Sprintf("%s cannot act as %s now (disabled, or the role was revoked)", u.Username, spec.Role))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.setSessionCookie(w, r, id, sess.ExpiresAt)
	locateCreated(w, "session")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, s.viewSession(u, sess, roles, id))
}

func (s *server) viewSession(u store.User, sess store.Session, roles []domain.Role, id string) sessionView {
	exp := sess.ExpiresAt
	return sessionView{SignedIn: true, Actor: u.Actor(sess.Role), Roles: roles, Via: domain.SignInMethod(sess.Method), CSRFToken: csrfToken(id), ExpiresAt: &exp,
		PasswordChangeRequired: s.mustChangePassword(u), SignIn: s.signInMethods()}
}

func joinRoles(roles []domain.Role) string {
	if len(roles) == 0 {
		return "none"
	}
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return strings.Join(out, ", ")
}

// checkPassword checks a local account's username, password and second factor, with lockout.
// It answers the refusal itself and reports whether the sign-in may go on.
func (s *server) checkPassword(w http.ResponseWriter, r *http.Request, in sessionRequest) (store.User, bool) {
	const wrong = "the username or password is wrong; no session was opened"
	release, err := s.checking.acquireAll(r.Context(), "source\x00"+s.source(r), "user\x00"+strings.ToLower(in.Username))
	if err != nil {
		return store.User{}, false // the client went away
	}
	defer release()
	if s.throttle.failuresSpent(s.source(r)) {
		s.refuseAuth(w, r, http.StatusUnauthorized, "bad_sign_in", wrong) // answered 429
		return store.User{}, false
	}
	u, err := s.Store.UserByName(r.Context(), in.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return u, false
	}
	if err != nil || u.PasswordHash == nil || u.DisabledAt != nil {
		passwords.Waste(in.Password) // as long as a real check: timing tells no usernames
		s.refuseAuth(w, r, http.StatusUnauthorized, "bad_sign_in", wrong)
		return u, false
	}
	now := s.Store.Now()
	if u.LockedUntil != nil && now.Before(*u.LockedUntil) {
		s.refuseLocked(w, r, *u.LockedUntil)
		return u, false
	}
	ok, err := passwords.Verify(in.Password, *u.PasswordHash)
	if err != nil {
		s.internal(w, r, fmt.Errorf("user %s: %w", u.Username, err))
		return u, false
	}
	if !ok {
		s.signInFailed(w, r, u, wrong)
		return u, false
	}
	if u.TOTPEnabledAt != nil {
		if in.TOTP == "" {
			writeProblem(w, r, problem{Status: http.StatusUnauthorized, Rule: "totp_required",
				Detail: "this account has a second factor: send the 6-digit code of your authenticator app as totp"})
			return u, false
		}
		step, ok := totpMatch(*u.TOTPSecret, in.TOTP, now)
		if !ok {
			s.signInFailed(w, r, u, "the second-factor code is wrong or too old; no session was opened")
			return u, false
		}
		if err := s.Store.UseTOTPStep(r.Context(), u.ID, step); err != nil {
			if errors.Is(err, store.ErrConflict) {
				s.signInFailed(w, r, u, "this second-factor code was used already; wait for the next one")
				return u, false
			}
			s.internal(w, r, err)
			return u, false
		}
	}
	if err := s.Store.SignInSucceeded(r.Context(), u.ID); err != nil {
		s.internal(w, r, err)
		return u, false
	}
	return u, true
}

// signInFailed counts a failed sign-in of u, locking the account at the policy's limit.
func (s *server) signInFailed(w http.ResponseWriter, r *http.Request, u store.User, detail string) {
	ev := event(r, "user.locked")
	ev.Actor, ev.Role = u.Username, "none"
	until, err := s.Store.SignInFailed(r.Context(), u.ID, s.Passwords.LockoutFailures, s.Passwords.LockoutFor, ev)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !until.IsZero() {
		s.refuseLocked(w, r, until)
		return
	}
	s.refuseAuth(w, r, http.StatusUnauthorized, "bad_sign_in", detail)
}

func (s *server) refuseLocked(w http.ResponseWriter, r *http.Request, until time.Time) {
	secs := int(math.Ceil(until.Sub(s.Store.Now()).Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	s.refuseAuth(w, r, http.StatusForbidden, "account_locked", fmt.Sprintf("the account is locked until %s after %d failed sign-ins in a row (password policy); try again then, or ask an admin to reset the password",
		until.UTC().Format(time.RFC3339), s.Passwords.LockoutFailures))
}

// getSession tells the web UI whether its cookie still holds a session. It is public so a
// page load without a session is not a refused request.
func (s *server) getSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		writeJSON(w, http.StatusOK, sessionView{SignIn: s.signInMethods()})
		return
	}
	u, sess, err := s.Store.SessionActor(r.Context(), c.Value, s.sessionLimits())
	if errors.Is(err, store.ErrNotFound) {
		s.clearSessionCookie(w, r)
		writeJSON(w, http.StatusOK, sessionView{SignIn: s.signInMethods()})
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.answerSession(w, r, u, sess, c.Value)
}

// answerSession answers with the view of u's session id.
func (s *server) answerSession(w http.ResponseWriter, r *http.Request, u store.User, sess store.Session, id string) {
	roles, err := s.Store.HeldRoles(r.Context(), u.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.viewSession(u, sess, roles, id))
}

// sessionRoleRequest is the role a session is to act in.
type sessionRoleRequest struct {
	Role domain.Role `json:"role" api:"required" doc:"A role the signed-in person holds"`
}

// switchSessionRole makes the cookie session act in another role its person holds.
func (s *server) switchSessionRole(w http.ResponseWriter, r *http.Request) {
	ref, ok := sessionOf(r)
	if !ok {
		writeProblem(w, r, problem{Status: http.StatusBadRequest, Detail: "this request carries a bearer token, not a session cookie; a token acts in its own role"})
		return
	}
	if ref.method == domain.SignInToken {
		s.refuse(w, r, http.StatusForbidden, "session.role_refused", "this session was opened with a token and acts in the token's role only; sign in with your password or single sign-on to choose among your roles")
		return
	}
	var in sessionRoleRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if !in.Role.Valid() {
		s.fail(w, r, &domain.ValidationError{What: "session", Fields: []domain.FieldError{{Field: "role", Message: "must be one of vendor, engineer, approver, safety, auditor, admin"}}})
		return
	}
	a := actorOf(r)
	ev := event(r, "session.role_changed")
	ev.Details = map[string]any{"from": a.Role, "to": in.Role}
	if err := s.Store.SetSessionRole(r.Context(), ref.hash(), in.Role, ev); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.refuse(w, r, http.StatusForbidden, "session.role_refused", fmt.Sprintf("%s does not hold the %s role", a.Name, in.Role))
			return
		}
		s.internal(w, r, err)
		return
	}
	u, sess, err := s.Store.SessionActor(r.Context(), ref.id, s.sessionLimits())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerSession(w, r, u, sess, ref.id)
}

// deleteSession signs out: the session ends on the server and the cookie is cleared.
func (s *server) deleteSession(w http.ResponseWriter, r *http.Request) {
	ref, ok := sessionOf(r)
	if !ok {
		writeProblem(w, r, problem{Status: http.StatusBadRequest, Detail: "this request carries a bearer token, not a session cookie; there is no session to end"})
		return
	}
	err := s.Store.EndSession(r.Context(), ref.id, event(r, "session.logout"))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	s.clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// sessionListView is one open session as its person sees it.
type sessionListView struct {
	store.Session
	Current bool `json:"current" doc:"This is the session of the request"`
}

// sessionListKey sorts sessions by when they were opened, then by id.
func sessionListKey(x sessionListView) string {
	return cursorKey(x.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000"), x.IDHash)
}

// listSessions answers a page of the caller's open sessions, oldest first.
func (s *server) listSessions(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	a := actorOf(r)
	ss, err := s.Store.OpenSessions(r.Context(), a.UserID, s.sessionLimits())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ref, cookie := sessionOf(r)
	all := make([]sessionListView, 0, len(ss))
	for _, x := range ss {
		all = append(all, sessionListView{Session: x, Current: cookie && x.IDHash == ref.hash()})
	}
	slices.SortFunc(all, func(a, b sessionListView) int { return strings.Compare(sessionListKey(a), sessionListKey(b)) })
	writeJSON(w, http.StatusOK, pageOf(all, sessionListKey, pr))
}

// sessionsEnded is the answer of signing out everywhere.
type sessionsEnded struct {
	SessionsEnded int64 `json:"sessions_ended" doc:"How many sessions ended, this one included"`
}

// endAllSessions signs the caller out everywhere.
func (s *server) endAllSessions(w http.ResponseWriter, r *http.Request) {
	n, err := s.Store.EndUserSessions(r.Context(), actorOf(r).UserID, event(r, "session.logout_everywhere"))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if _, cookie := sessionOf(r); cookie {
		s.clearSessionCookie(w, r)
	}
	writeJSON(w, http.StatusOK, sessionsEnded{SessionsEnded: n})
}

// endOneSession ends one of the caller's sessions (an admin's: anyone's).
func (s *server) endOneSession(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "sessionID")
	a := actorOf(r)
	owner := a.UserID
	if a.Role == domain.RoleAdmin {
		owner = ""
	}
	err := s.Store.EndSessionByHash(r.Context(), owner, id, event(r, "session.ended"))
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "open session "+truncate(id, 64))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if ref, cookie := sessionOf(r); cookie && ref.hash() == id {
		s.clearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// sessionOperations are the routes of session.go.
func (s *server) sessionOperations() []operation {
	cookie := "otpatch_session: the session id (HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS or behind a TLS-terminating proxy), for as long as the session lasts"
	return []operation{
		{Method: "POST", Path: "/api/v1/session", ID: "createSession", Tag: "Sign-in", Public: true,
			Summary: "Sign in with a username and password, or with a personal token",
			Description: "The body takes one of two forms: username and password (with totp when the account's second factor is on, and role to act in), " +
				"or token (the session acts in the token's role). Either may ask to keep_other_sessions; by default a sign-in ends the person's other sessions. " +
				"The answer opens a browser session, held in the HttpOnly cookie otpatch_session, acting in role (default: the first role the person holds), " +
				"and carries the CSRF token that changes made with that cookie send as X-CSRF-Token.\n\n" +
				"Refused: a sign-in sent from another site's page (403); a wrong username, password, code or token (401); a second factor without its code " +
				"(401, rule totp_required); a locked account (403, with Retry-After); an agent's token (403); a role the person does not hold, or no role at all (403); a role other than the token's, or a body that is not one of the two forms (422). " +
				"Failures are counted per address: past the limit they are answered 429. A refused sign-in sets no cookie.",
			Body: sessionRequest{},
			Answers: []answer{{Status: http.StatusCreated, Body: sessionView{}, Desc: "Signed in",
				Headers: map[string]string{"Location": "/api/v1/session, where GET reads the session", "Set-Cookie": cookie}}},
			Handle: s.createSession},
		{Method: "GET", Path: "/api/v1/session", ID: "getSession", Tag: "Sign-in", Public: true,
			Summary: "Whether this browser is signed in, and the sign-in methods offered",
			Description: "When the session cookie holds a session: its actor, the roles held, the CSRF token, its end and whether the password must be changed first. " +
				"Always: the sign-in methods the server offers. A page load asks this without a cookie, or with an ended one, and gets signed_in false, " +
				"never a refusal in the audit trail; an ended session's cookie is cleared.",
			Answers: []answer{ok(sessionView{})}, Handle: s.getSession},
		{Method: "DELETE", Path: "/api/v1/session", ID: "deleteSession", Tag: "Sign-in", Allow: anyRole, Roles: "any (cookie session)",
			Summary:     "Sign out: end the cookie session",
			Description: "The session ends on the server and the cookie is cleared. A request with a bearer token has no session to end (400).",
			Answers:     []answer{noContent}, Handle: s.deleteSession},
		{Method: "PUT", Path: "/api/v1/session", ID: "switchSessionRole", Tag: "Sign-in", Allow: anyRole, Roles: "any (cookie session)",
			Summary: "Act in another role the signed-in person holds",
			Description: "Refused: a role he does not hold (403); a session opened with a token, which acts in the token's role only (403); " +
				"a request with a bearer token (400).",
			Body: sessionRoleRequest{}, Answers: []answer{ok(sessionView{})}, Handle: s.switchSessionRole},
		{Method: "GET", Path: "/api/v1/sessions", ID: "listSessions", Tag: "Sign-in", Allow: anyRole,
			Summary:     "List the caller's open sessions",
			Description: "Oldest first: how and when each was opened, from where, with which browser, when it was last seen and when it ends; current marks the session of this request.",
			Query:       paged(), Answers: []answer{ok(page[sessionListView]{})}, Handle: s.listSessions},
		{Method: "DELETE", Path: "/api/v1/sessions", ID: "endAllSessions", Tag: "Sign-in", Allow: anyRole,
			Summary:     "Sign out everywhere",
			Description: "Ends every session of the caller, this one included (its cookie is cleared). Personal tokens stay valid.",
			Answers:     []answer{ok(sessionsEnded{})}, Handle: s.endAllSessions},
		{Method: "DELETE", Path: "/api/v1/sessions/{sessionID}", ID: "endSession", Tag: "Sign-in", Allow: anyRole, Roles: "any (own; admin: anyone's)",
			Summary:     "End one session",
			Description: "sessionID is the id GET /api/v1/sessions lists. Another person's session answers 404, as a missing one, unless the caller is an admin.",
			Answers:     []answer{noContent}, Handle: s.endOneSession},
	}
}
