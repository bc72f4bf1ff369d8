package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Browser sessions for the web UI. A user signs in with their token once
// (POST /api/v1/session); the server keeps the SHA-256 of a random session id and the browser
// keeps the id in an HttpOnly, SameSite=Strict cookie that scripts cannot read. A request
// authenticated by that cookie that changes anything (POST, PUT, PATCH, DELETE) must also
// carry the session's CSRF token in X-CSRF-Token. Bearer-token requests are unchanged.

const (
	sessionCookie = "otpatch_session"
	csrfHeader    = "X-CSRF-Token"
)

// sessionLimits: a session lasts at most a shift and ends after an hour without requests.
var sessionLimits = store.SessionLimits{Lifetime: 8 * time.Hour, Idle: time.Hour}

func init() {
	featureRoutes = append(featureRoutes, func(s *server, r chi.Router) {
		r.With(s.allow(anyRole...)).Delete("/session", s.deleteSession)
	})
	operations = append(operations,
		operation{"POST", "/api/v1/session", "Sign in with a token: opens a browser session (HttpOnly cookie otpatch_session) and returns the actor and the CSRF token that cookie-authenticated changes must send as X-CSRF-Token", "", "{token}"},
		operation{"GET", "/api/v1/session", "Whether this browser's session cookie is signed in, and then its actor, CSRF token and end (a page load asks this without a refusal in the audit trail)", "", ""},
		operation{"DELETE", "/api/v1/session", "Sign out: end the cookie session", "any (cookie session)", ""},
	)
}

// sessionRef is the cookie session a request was authenticated by.
type sessionRef struct {
	id      string
	expires time.Time
}

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
	actor, sess, err := s.Store.SessionActor(r.Context(), id, sessionLimits)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			clearSessionCookie(w, r)
			s.refuseAuth(w, r, http.StatusUnauthorized, "ended_session", "the session has ended, expired or its token was revoked; sign in again")
			return
		}
		s.internal(w, r, err)
		return
	}
	ctx := context.WithValue(r.Context(), actorKey, actor)
	ctx = context.WithValue(ctx, sessionKey, sessionRef{id: id, expires: sess.ExpiresAt})
	r = r.WithContext(ctx)
	if !safeMethod(r.Method) {
		got := r.Header.Get(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(id))) != 1 {
			s.refuse(w, r, http.StatusForbidden, "csrf.refused", "a change made with a session cookie must carry the session's CSRF token in the "+csrfHeader+" header (from POST or GET /api/v1/session); nothing was changed")
			return
		}
	}
	next.ServeHTTP(w, r)
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, id string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Expires: expires, MaxAge: int(time.Until(expires).Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

type sessionRequest struct {
	Token string `json:"token"`
}

// sessionView is who is signed in, and how.
type sessionView struct {
	SignedIn bool          `json:"signed_in"`
	Actor    *domain.Actor `json:"actor,omitempty"`
	// Via is "session" for a cookie session.
	Via       string     `json:"via,omitempty"`
	CSRFToken string     `json:"csrf_token,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// createSession signs in: the token is checked like a bearer token and a session opened for it.
func (s *server) createSession(w http.ResponseWriter, r *http.Request) {
	var in sessionRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	in.Token = strings.TrimSpace(in.Token)
	if in.Token == "" || len(in.Token) > 512 {
		s.fail(w, r, &domain.ValidationError{What: "sign-in", Fields: []domain.FieldError{{Field: "token", Message: "is required (at most 512 characters)"}}})
		return
	}
	// An agent's token opens no browser session: it is for the agent routes only.
	if _, err := s.Store.AgentBySecret(r.Context(), in.Token); err == nil {
		s.refuseAuth(w, r, http.StatusForbidden, "agent_token_sign_in", "this is an agent's token; it opens no session (agents use it as a bearer token on /api/v1/agent)")
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	ev := event(r, "session.login")
	ev.Details = map[string]any{"remote": r.RemoteAddr, "user_agent": truncate(r.UserAgent(), 200)}
	id, sess, actor, err := s.Store.CreateSession(r.Context(), in.Token, sessionLimits, ev)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.refuseAuth(w, r, http.StatusUnauthorized, "bad_sign_in", "the token is not valid or was revoked; no session was opened")
			return
		}
		s.internal(w, r, err)
		return
	}
	setSessionCookie(w, r, id, sess.ExpiresAt)
	w.Header().Set("Cache-Control", "no-store")
	exp := sess.ExpiresAt
	writeJSON(w, http.StatusCreated, sessionView{SignedIn: true, Actor: &actor, Via: "session", CSRFToken: csrfToken(id), ExpiresAt: &exp})
}

// getSession tells the web UI whether its cookie still holds a session. It is public so a
// page load without a session is not a refused request.
func (s *server) getSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		writeJSON(w, http.StatusOK, sessionView{})
		return
	}
	actor, sess, err := s.Store.SessionActor(r.Context(), c.Value, sessionLimits)
	if errors.Is(err, store.ErrNotFound) {
		clearSessionCookie(w, r)
		writeJSON(w, http.StatusOK, sessionView{})
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	exp := sess.ExpiresAt
	writeJSON(w, http.StatusOK, sessionView{SignedIn: true, Actor: &actor, Via: "session", CSRFToken: csrfToken(c.Value), ExpiresAt: &exp})
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
	clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
