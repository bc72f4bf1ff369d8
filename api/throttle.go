package api

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/go-chi/httprate"

	"github.com/otpatch/otpatch/internal/refusals"
)

// Abuse resistance. Failed authentications (a missing, unknown or revoked token, an ended
// session, a failed sign-in) are limited per source address: past Limits.AuthFailures a
// minute, further failures from that address are answered 429 with Retry-After. Only
// failures count, and a valid credential is always checked and served, so a flood of bad
// tokens from an address never locks out a valid user there. Behind a reverse proxy the source
// address is the forwarded client's when the proxy is trusted (Deps.TrustedProxies, proxy.go).
// Changes are limited per identity (Limits.Writes a minute). Refused authentications are not
// chained one by one: they are tallied (internal/refusals) into at most one audit event per
// source address and minute.

// Limits are the request rate limits; a zero field takes its default.
type Limits struct {
	// AuthFailures is how many failed authentications one source address may make a minute
	// before its further failures are answered 429 (default 10).
	AuthFailures int
	// Writes is how many changes (POST, PUT, PATCH, DELETE) one identity may make a minute
	// (default 600).
	Writes int
}

// Default limits.
const (
	DefaultAuthFailures = 10
	DefaultWrites       = 600
)

// Counters count refusals for metrics.
type Counters interface {
	// AuthRefused counts a refused authentication by reason.
	AuthRefused(reason string)
	// RateLimited counts a request answered 429, by the limit it exceeded.
	RateLimited(limit string)
}

type noCounters struct{}

func (noCounters) AuthRefused(string) {}
func (noCounters) RateLimited(string) {}

// Names of the limits in RateLimited.
const (
	limitAuthFailures = "auth_failures"
	limitWrites       = "writes"
)

// throttle holds the rate limiters of one API.
type throttle struct {
	failures *httprate.RateLimiter
	writes   *httprate.RateLimiter
	// failureLimit is failures' budget a minute.
	failureLimit int
}

func newThrottle(l Limits) throttle {
	if l.AuthFailures <= 0 {
		l.AuthFailures = DefaultAuthFailures
	}
	if l.Writes <= 0 {
		l.Writes = DefaultWrites
	}
	return throttle{
		failures:     httprate.NewRateLimiter(l.AuthFailures, time.Minute),
		writes:       httprate.NewRateLimiter(l.Writes, time.Minute),
		failureLimit: l.AuthFailures,
	}
}

// failuresSpent reports whether src has no failed authentication left this minute: a
// password sign-in from it is answered 429 before the password is hashed, so a flood of
// guesses costs the server nothing.
func (t throttle) failuresSpent(src string) bool {
	_, rate, err := t.failures.Status(src)
	return err == nil && int(math.Round(rate))+1 > t.failureLimit
}

// refuseAuth answers a refused authentication with status (401 or 403), or 429 once the
// source address is over its budget of failures, and tallies it for the audit trail.
func (s *server) refuseAuth(w http.ResponseWriter, r *http.Request, status int, reason, detail string) {
	src := s.source(r)
	s.Counters.AuthRefused(reason)
	if s.throttle.failures.OnLimit(w, r, src) {
		s.Counters.RateLimited(limitAuthFailures)
		status = http.StatusTooManyRequests
		detail = fmt.Sprintf("too many failed authentications from %s; try again in %s seconds (Retry-After). Refusals from this address are counted in the audit trail once a minute", src, w.Header().Get("Retry-After"))
	}
	s.Refusals.Add(refusals.Refusal{Source: src, Reason: reason, Status: status, Method: r.Method, Path: r.URL.Path, RequestID: requestID(r)})
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="otpatch"`) // RFC 9110 §11.6.1
	}
	writeProblem(w, r, problem{Status: status, Detail: detail})
}

// limitWrites answers 429 to an identity's changes beyond Limits.Writes a minute.
func (s *server) limitWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safeMethod(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		a := actorOf(r)
		if s.throttle.writes.OnLimit(w, r, string(a.Role)+"\x00"+a.Name+"\x00"+a.VendorID) {
			s.Counters.RateLimited(limitWrites)
			writeProblem(w, r, problem{Status: http.StatusTooManyRequests,
				Detail: fmt.Sprintf("%s made more than the allowed changes a minute; nothing was changed, try again in %s seconds (Retry-After)", a.Name, w.Header().Get("Retry-After"))})
			return
		}
		next.ServeHTTP(w, r)
	})
}
