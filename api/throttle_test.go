package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/metrics"
	"github.com/otpatch/otpatch/internal/refusals"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/teststack"
)

// flushRefusals writes the tallied refused authentications into the audit trail.
func (e *env) flushRefusals() {
	e.t.Helper()
	if _, err := e.refusals.FlushAll(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// refused lists the auth.refused events in the audit trail, oldest first.
func (e *env) refused() []audit.Event {
	e.t.Helper()
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{Action: refusals.Action})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// throttledAPI serves the env's components through a second API with the given limits (zero:
// the defaults), its own refusal tally on a clock that stays in one minute, and its own
// metrics.
func (e *env) throttledAPI(limits api.Limits) (string, *refusals.Tally, *metrics.Set) {
	minute := time.Date(2026, 11, 20, 9, 0, 30, 0, time.UTC)
	tally := refusals.New(e.store, refusals.Options{Now: func() time.Time { return minute }})
	m := metrics.New()
	srv := httptest.NewServer(api.New(api.Deps{Store: e.store, Objects: e.objects, Temporal: e.temporal.GetDefaultClient(), Simulator: e.sim,
		Limits: limits, Refusals: tally, Counters: m}))
	e.t.Cleanup(srv.Close)
	return srv.URL, tally, m
}

// scrape returns the lines of a metrics scrape that contain name.
func scrape(t *testing.T, m *metrics.Set, name string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var out []string
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, name) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRefusalFlood sends 10,000 bad credentials from one loopback address, as bearer tokens,
// token sign-ins and password sign-ins, with the default limits: after the first failures the answers are 429 with
// Retry-After, nothing reaches the audit trail per request, the tally writes one event with
// the count, the metrics count every refusal, and a valid user is served throughout.
func TestRefusalFlood(t *testing.T) {
	e := newEnv(t, envOptions{})
	const n, workers = 10_000, 8
	for _, tc := range []struct {
		name, reason string
		request      func(base string, i int) *http.Request
	}{
		{"bad bearer tokens", "bad_token", func(base string, i int) *http.Request {
			req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/me", nil)
			req.Header.Set("Authorization", fmt.Sprintf("Bearer otp_flood%06d", i))
			return req
		}},
		{"failed sign-ins", "bad_sign_in", func(base string, i int) *http.Request {
			body := fmt.Sprintf(`{"token":"otp_flood%06d"}`, i)
			req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/session", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			return req
		}},
		// Password guesses: past the address's budget they are answered 429 before any
		// password is hashed, so the flood costs the server no Argon2 work.
		{"guessed passwords", "bad_sign_in", func(base string, i int) *http.Request {
			body := fmt.Sprintf(`{"username":"guess%06d","password":"Flood-%06d-pw"}`, i, i)
			req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/session", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			return req
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, tally, m := e.throttledAPI(api.Limits{})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
			defer client.CloseIdleConnections()
			asValid := func() int {
				req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/me", nil)
				req.Header.Set("Authorization", "Bearer "+e.tokens.Engineer)
				res, err := client.Do(req)
				if err != nil {
					return 0
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res.StatusCode
			}

			e.flushRefusals()
			before := len(e.refused())
			var (
				mu                        sync.Mutex
				statuses                  = map[int]int{}
				noRetryAfter, notProblem  int
				validServed, validRefused int
				wg                        sync.WaitGroup
			)
			started := time.Now()
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < n; i += workers {
						status, retryAfter, ctype := 0, "", ""
						if res, err := client.Do(tc.request(base, i)); err == nil {
							_, _ = io.Copy(io.Discard, res.Body)
							res.Body.Close()
							status, retryAfter, ctype = res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type")
						}
						valid := 0
						if i%250 == 0 { // a valid user on the same address, during the flood
							valid = asValid()
						}
						mu.Lock()
						statuses[status]++
						if status == http.StatusTooManyRequests && retryAfter == "" {
							noRetryAfter++
						}
						if ctype != "application/problem+json" {
							notProblem++
						}
						if valid == http.StatusOK {
							validServed++
						} else if valid != 0 {
							validRefused++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(started)

			// The limiter's window is a minute: at most the limit's worth of failures a minute
			// are answered 401, every other one 429.
			passed := statuses[http.StatusUnauthorized]
			bound := api.DefaultAuthFailures * (2 + int(elapsed/time.Minute))
			if passed < api.DefaultAuthFailures || passed > bound || statuses[http.StatusTooManyRequests] != n-passed {
				t.Errorf("answers %v in %s: want the first %d (at most %d) 401, the rest 429", statuses, elapsed.Round(time.Millisecond), api.DefaultAuthFailures, bound)
			}
			if noRetryAfter > 0 || notProblem > 0 {
				t.Errorf("%d answers 429 without Retry-After, %d not problem+json", noRetryAfter, notProblem)
			}
			if validRefused > 0 || validServed != n/250 {
				t.Errorf("valid user during the flood: %d served, %d refused; want all %d served", validServed, validRefused, n/250)
			}

			// The trail did not grow per refusal; the tally writes one event with the count.
			if grew := len(e.refused()) - before; grew != 0 {
				t.Errorf("the flood wrote %d auth.refused events before the tally was flushed", grew)
			}
			if written, err := tally.FlushAll(context.Background()); written != 1 || err != nil {
				t.Fatalf("tally wrote %d events (%v); want 1: one source, one minute", written, err)
			}
			evs := e.refused()
			if grew := len(evs) - before; grew != 1 {
				t.Fatalf("the audit trail grew by %d auth.refused events, want 1", grew)
			}
			ev := evs[len(evs)-1]
			var details struct {
				Count    int            `json:"count"`
				Statuses map[string]int `json:"statuses"`
				Reasons  map[string]int `json:"reasons"`
			}
			if err := json.Unmarshal([]byte(ev.Details), &details); err != nil {
				t.Fatal(err)
			}
			if ev.SubjectID != "127.0.0.1" || details.Count != n || details.Reasons[tc.reason] != n ||
				details.Statuses["401"] != passed || details.Statuses["429"] != n-passed {
				t.Errorf("tally event for %s: %s", ev.SubjectID, ev.Details)
			}

			wantMetrics := fmt.Sprintf("otpatch_auth_refused_total{reason=%q} %d", tc.reason, n)
			if got := scrape(t, m, "otpatch_auth_refused_total"); !strings.Contains(got, wantMetrics) {
				t.Errorf("metrics:\n%s\nwant %s", got, wantMetrics)
			}
			wantLimited := fmt.Sprintf(`otpatch_rate_limited_total{limit="auth_failures"} %d`, n-passed)
			if got := scrape(t, m, "otpatch_rate_limited_total"); !strings.Contains(got, wantLimited) {
				t.Errorf("metrics:\n%s\nwant %s", got, wantLimited)
			}

			// After the flood the valid user still reads, signs in and changes things.
			if code := asValid(); code != http.StatusOK {
				t.Errorf("valid user after the flood: %d", code)
			}
			res, err := client.Post(base+"/api/v1/session", "application/json", bytes.NewReader([]byte(`{"token":"`+e.tokens.Engineer+`"}`)))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				t.Errorf("valid sign-in after the flood: %d", res.StatusCode)
			}
			if code := teststack.Call(t, client, http.MethodPost, base+"/api/v1/sites", e.tokens.Engineer, map[string]string{"name": "Flood " + tc.name}, nil); code != http.StatusCreated {
				t.Errorf("valid change after the flood: %d", code)
			}
		})
	}
}

// TestWriteLimitPerIdentity: an identity's changes beyond the limit are answered 429 with
// Retry-After before the handler runs; its reads and other identities' changes go on.
func TestWriteLimitPerIdentity(t *testing.T) {
	e := newEnv(t, envOptions{})
	const limit = 5
	base, _, m := e.throttledAPI(api.Limits{Writes: limit})
	write := func(token string) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/sites", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header
	}
	for i := range limit {
		if code, _ := write(e.tokens.Engineer); code != http.StatusUnprocessableEntity {
			t.Fatalf("change %d within the limit: %d, want the handler's 422", i+1, code)
		}
	}
	code, hdr := write(e.tokens.Engineer)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || hdr.Get("Content-Type") != "application/problem+json" {
		t.Errorf("change beyond the limit: %d, Retry-After %q, %s; want 429 problem+json with Retry-After", code, hdr.Get("Retry-After"), hdr.Get("Content-Type"))
	}
	if code, _ := write(e.tokens.Admin); code != http.StatusUnprocessableEntity {
		t.Errorf("another identity's change: %d, want 422 (not limited)", code)
	}
	if code := teststack.Call(t, nil, http.MethodGet, base+"/api/v1/sites", e.tokens.Engineer, nil, nil); code != http.StatusOK {
		t.Errorf("the limited identity's read: %d, want 200", code)
	}
	if got := scrape(t, m, "otpatch_rate_limited_total"); !strings.Contains(got, `otpatch_rate_limited_total{limit="writes"} 1`) {
		t.Errorf("metrics:\n%s", got)
	}
}
