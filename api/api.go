// Package api is otpatch's HTTP API under /api/v1 (chi): bearer-token authentication with a
// role per token, authorization on every route, JSON in and out, errors as RFC 9457
// problem+json, every mutation and every refused request in the audit trail (refused
// authentications as a count per source address and minute), rate limits, and the OpenAPI
// document at /api/v1/openapi.json. It also serves the embedded web UI.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.temporal.io/sdk/client"

	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/airgap"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/refusals"
	"github.com/otpatch/otpatch/internal/store"
)

// Deps are what the API is built from.
type Deps struct {
	Store     *store.Store
	Objects   *artifacts.Store
	Temporal  client.Client
	Simulator *simulator.Simulator // nil when no simulated assets exist
	Logger    *slog.Logger
	// Limits are the rate limits (throttle.go); zero fields take the defaults.
	Limits Limits
	// Refusals tallies refused authentications into the audit trail; nil makes one on the
	// store's clock, written as each minute closes.
	Refusals *refusals.Tally
	// Counters count refusals for metrics; nil counts nothing.
	Counters Counters
	// MaxArtifactBytes bounds one patch submission's artifacts (default 256 MiB).
	MaxArtifactBytes int64
	// PresignExpiry is how long presigned upload URLs stay valid (default 15 minutes).
	PresignExpiry time.Duration
	// UI serves the web interface at /; nil serves none.
	UI http.Handler
	// TokenLifetime is how long a new personal token lasts when its request names no expiry
	// (default 90 days); TokenMaxLifetime is the longest a request may ask for (default 365
	// days).
	TokenLifetime, TokenMaxLifetime time.Duration
	// SessionLifetime ends a browser session that long after sign-in (default 8 hours);
	// SessionIdle ends it after that long without a request (default 30 minutes).
	SessionLifetime, SessionIdle time.Duration
	// Passwords is the local accounts' password and lockout policy; zero fields take
	// domain.DefaultPasswordPolicy's.
	Passwords domain.PasswordPolicy
	// OIDC is single sign-on at an OpenID Connect provider (oidc.go); nil: none.
	OIDC *OIDC
	// SecureCookies sets the Secure flag on cookies even when requests arrive over plain HTTP:
	// behind a TLS-terminating proxy, where the browser speaks HTTPS.
	SecureCookies bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client (proxy.go):
	// rate limits and the tally of refused authentications then count the forwarded client,
	// not the proxy. Empty: forwarded headers are ignored.
	TrustedProxies []netip.Prefix
	// Transfers writes and imports transfer bundles of air-gapped sites (transfers.go); nil:
	// no transfer key is configured.
	Transfers *airgap.Node
	// MaxCampaignAssets bounds the targets of one campaign (0: domain.DefaultMaxCampaignAssets).
	MaxCampaignAssets int
}

type server struct {
	Deps
	// engine starts and updates workflows (internal/engine): the one way into Temporal.
	engine   *engine.Gateway
	throttle throttle
	// checking runs password checks one at a time per address and per account (inflight.go).
	checking serial
}

// New builds the HTTP handler.
func New(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Refusals == nil {
		d.Refusals = refusals.New(d.Store, refusals.Options{Now: d.Store.Now, Logger: d.Logger})
	}
	if d.Counters == nil {
		d.Counters = noCounters{}
	}
	if d.MaxArtifactBytes <= 0 {
		d.MaxArtifactBytes = 256 << 20
	}
	if d.MaxCampaignAssets <= 0 {
		d.MaxCampaignAssets = domain.DefaultMaxCampaignAssets
	}
	d.TokenLifetime, d.TokenMaxLifetime = tokenLifetimes(d.TokenLifetime, d.TokenMaxLifetime)
	if d.SessionLifetime <= 0 {
		d.SessionLifetime = DefaultSessionLifetime
	}
	if d.SessionIdle <= 0 {
		d.SessionIdle = min(DefaultSessionIdle, d.SessionLifetime)
	}
	d.Passwords = withDefaults(d.Passwords)
	if d.OIDC != nil {
		d.OIDC.withDefaults()
	}
	s := &server{Deps: d, throttle: newThrottle(d.Limits), engine: &engine.Gateway{Temporal: d.Temporal, Store: d.Store}}
	return s.routes()
}

// Route roles.
var (
	anyRole   = []domain.Role{domain.RoleVendor, domain.RoleEngineer, domain.RoleApprover, domain.RoleSafety, domain.RoleAuditor, domain.RoleAdmin}
	staff     = []domain.Role{domain.RoleEngineer, domain.RoleApprover, domain.RoleSafety, domain.RoleAuditor, domain.RoleAdmin}
	engineers = []domain.Role{domain.RoleEngineer, domain.RoleAdmin}
	deciders  = []domain.Role{domain.RoleApprover, domain.RoleSafety}
	auditors  = []domain.Role{domain.RoleAuditor, domain.RoleAdmin, domain.RoleEngineer}
	admins    = []domain.Role{domain.RoleAdmin}
	vendors   = []domain.Role{domain.RoleVendor}
)

func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, middleware.Recoverer, securityHeaders)
	s.mount(r)
	// What no operation serves: under /api/ a problem (404, or 405 with Allow when the path
	// exists with other methods); anywhere else the web UI's files.
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		if isAPIPath(req.URL.Path) || s.UI == nil {
			writeProblem(w, req, problem{Status: http.StatusNotFound,
				Detail: fmt.Sprintf("%s is not a route of this API; the routes are in /api/v1/openapi.json", req.URL.Path)})
			return
		}
		s.UI.ServeHTTP(w, req)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		if !isAPIPath(req.URL.Path) && s.UI != nil {
			s.UI.ServeHTTP(w, req)
			return
		}
		allowed := allowedMethods(r, req.URL.Path)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, req, problem{Status: http.StatusMethodNotAllowed,
			Detail: fmt.Sprintf("%s does not take %s; it takes %s", req.URL.Path, req.Method, strings.Join(allowed, ", "))})
	})
	return r
}

func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz"
}

// allowedMethods lists the methods some operation serves path with.
func allowedMethods(r chi.Routes, path string) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if r.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return out
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

type ctxKey int

const (
	actorKey ctxKey = iota
	credentialKey
)

// credential is what a request authenticated with: a personal token (tokenID), and when that
// credential ends. A token minted with it lasts no longer and is revoked with it.
type credential struct {
	tokenID string
	expires *time.Time
}

func credentialOf(r *http.Request) credential {
	c, _ := r.Context().Value(credentialKey).(credential)
	return c
}

func actorOf(r *http.Request) domain.Actor {
	a, _ := r.Context().Value(actorKey).(domain.Actor)
	return a
}

func requestID(r *http.Request) string { return middleware.GetReqID(r.Context()) }

// updateKey identifies the request that sends a workflow update: its actor and request id (a
// client's X-Request-Id, or the one the server gave). A retry of the request with the same
// X-Request-Id by the same person is the same update, applied once; another person's request
// never collides with it.
func updateKey(r *http.Request) string {
	a := actorOf(r)
	return a.Name + "/" + string(a.Role) + "/" + requestID(r)
}

// event starts an audit event for the request's actor.
func event(r *http.Request, action string) store.Event {
	a := actorOf(r)
	return store.Event{Actor: a.Name, Role: string(a.Role), Action: action, RequestID: requestID(r)}
}

func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			// The web UI's session cookie (session.go); a bearer token always takes precedence.
			if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
				s.authenticateSession(w, r, c.Value, next)
				return
			}
		}
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" || len(token) > maxBearer {
			s.refuseAuth(w, r, http.StatusUnauthorized, "missing_token", "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		if s.OIDC != nil && looksLikeJWT(token) {
			s.authenticateJWT(w, r, token, next) // an access token of the single sign-on provider (oidc.go)
			return
		}
		if len(token) > 512 {
			s.refuseAuth(w, r, http.StatusUnauthorized, "bad_token", "the bearer token is not valid or was revoked")
			return
		}
		t, actor, err := s.Store.AuthenticateToken(r.Context(), token)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				s.refuseAuth(w, r, http.StatusUnauthorized, "bad_token", "the bearer token is not valid or was revoked")
				return
			}
			s.internal(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), actorKey, actor)
		ctx = context.WithValue(ctx, credentialKey, credential{tokenID: t.ID, expires: t.ExpiresAt})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *server) allow(roles ...domain.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := actorOf(r)
			if a.Role == domain.RoleVendor && a.VendorID == "" {
				// A vendor role bound to no vendor would see every vendor's work: refuse, never widen.
				s.refuse(w, r, http.StatusForbidden, "access.denied", "this vendor identity is bound to no vendor; an admin binds the account to its vendor")
				return
			}
			for _, role := range roles {
				if a.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			s.refuse(w, r, http.StatusForbidden, "access.denied", fmt.Sprintf("role %s may not %s %s", a.Role, r.Method, routePattern(r)))
		})
	}
}

func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		return rc.RoutePattern()
	}
	return r.URL.Path
}

// refuse answers a refused request and records it in the audit trail (IEC 62443-4-2 CR 2.8).
func (s *server) refuse(w http.ResponseWriter, r *http.Request, status int, action, detail string) {
	ev := event(r, action)
	if ev.Actor == "" {
		ev.Actor, ev.Role = "anonymous", "none"
	}
	ev.SubjectType, ev.SubjectID = "request", r.Method+" "+r.URL.Path
	ev.Details = map[string]any{"status": status, "reason": detail, "remote": r.RemoteAddr}
	if _, err := s.Store.Append(r.Context(), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err, "request_id", requestID(r))
	}
	writeProblem(w, r, problem{Status: status, Title: http.StatusText(status), Detail: detail})
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Rule   string              `json:"rule,omitempty"`
	Errors []domain.FieldError `json:"errors,omitempty"`
	// Instance is the request id, to find the request in logs and the audit trail.
	Instance string `json:"instance,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	if p.Type == "" {
		p.Type = problemTypeOf(p)
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = "urn:otpatch:request:" + requestID(r)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// fail maps an application error to its answer; only internal errors are logged.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var v *domain.ValidationError
	var big *tooLargeError
	switch {
	case errors.As(err, &big):
		writeProblem(w, r, problem{Status: http.StatusRequestEntityTooLarge, Detail: big.Error()})
	case errors.As(err, &v):
		writeProblem(w, r, problem{Status: http.StatusUnprocessableEntity, Detail: v.Error(), Errors: v.Fields})
	case errors.Is(err, store.ErrNotFound):
		writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: err.Error()})
	case errors.Is(err, store.ErrConflict):
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: err.Error()})
	default:
		s.internal(w, r, err)
	}
}

func (s *server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.Logger.Error("request failed", "err", err, "method", r.Method, "path", r.URL.Path, "request_id", requestID(r))
	writeProblem(w, r, problem{Status: http.StatusInternalServerError, Detail: "an internal error occurred; the request id identifies it in the server log"})
}

func notFoundProblem(w http.ResponseWriter, r *http.Request, what string) {
	writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: what + " not found"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(filled(v))
}

func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "otp_" + hex.EncodeToString(b)
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, statusDoc{Status: "ok"})
}

// readyzCheckTimeout bounds each readiness check, so a dependency that hangs (a dropped
// route, a stopped VM) turns /readyz unready within seconds instead of hanging the probe.
const readyzCheckTimeout = 2 * time.Second

// readyz answers 200 when the database, the object store and Temporal all answer and the
// audit log verifies, and 503 naming each that does not. The checks run concurrently, each bounded by readyzCheckTimeout.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]func(context.Context) error{
		"database":     s.Store.Ping,
		"object_store": s.Objects.Ping,
		"temporal": func(ctx context.Context) error {
			_, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		},
	}
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks))
	for name, check := range checks {
		go func() {
			ctx, cancel := context.WithTimeout(r.Context(), readyzCheckTimeout)
			defer cancel()
			err := check(ctx)
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			results <- result{name, err}
		}()
	}
	out := map[string]string{}
	status := http.StatusOK
	for range checks {
		res := <-results
		out[res.name] = "ok"
		if res.err != nil {
			out[res.name], status = res.err.Error(), http.StatusServiceUnavailable
		}
	}
	audit := "ok"
	if h := s.Store.AuditHealth(); h != nil && !h.OK {
		audit, status = "broken: "+h.Problem, http.StatusServiceUnavailable
	}
	writeJSON(w, status, readyDoc{Database: out["database"], ObjectStore: out["object_store"], Temporal: out["temporal"], Audit: audit})
}

// states lists every patch status, campaign status and asset state with the word and tone a
// person reads, from the domain package: clients show these instead of keeping lists of their own.
func (s *server) states(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, statesDoc{PatchStatuses: domain.PatchStatusInfo(), CampaignStatuses: domain.CampaignStatusInfo(), DecisionStates: domain.DecisionStateInfo(),
		AssetStates: domain.AssetStateInfo(), Compatibility: domain.CompatibilityInfo(), Qualification: domain.QualificationStatusInfo()})
}
