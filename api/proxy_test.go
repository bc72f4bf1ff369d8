package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/refusals"
)

// proxiedAPI serves the env's components through an API that trusts the given proxies and
// counts refusals in its own tally, on a clock that stays in one minute.
func (e *env) proxiedAPI(d api.Deps) (string, *refusals.Tally) {
	minute := time.Date(2026, 11, 20, 9, 0, 30, 0, time.UTC)
	tally := refusals.New(e.store, refusals.Options{Now: func() time.Time { return minute }})
	d.Store, d.Objects, d.Temporal, d.Simulator, d.Refusals = e.store, e.objects, e.temporal.GetDefaultClient(), e.sim, tally
	srv := httptest.NewServer(api.New(d))
	e.t.Cleanup(srv.Close)
	return srv.URL, tally
}

// call sends a GET of /api/v1/me with token and the X-Forwarded-For values, and returns the
// status.
func call(t *testing.T, base, token string, forwarded ...string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for _, f := range forwarded {
		req.Header.Add("X-Forwarded-For", f)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// TestProxySource sends a bad token through an API whose clients connect from loopback, and
// reads which source address the audit trail's tally counts it under.
func TestProxySource(t *testing.T) {
	e := newEnv(t, envOptions{})
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tc := range []struct {
		name      string
		trusted   []netip.Prefix
		forwarded []string
		want      string
	}{
		{"untrusted peer: its forwarded header is ignored", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, []string{"198.51.100.7"}, "127.0.0.1"},
		{"no proxies trusted: the header is ignored", nil, []string{"198.51.100.7"}, "127.0.0.1"},
		{"trusted peer: the forwarded client", loopback, []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed left-most entries are ignored", loopback, []string{"203.0.113.66, 192.0.2.1, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops are skipped from the right", append([]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, loopback...), []string{"203.0.113.66, 198.51.100.7, 10.1.2.3"}, "198.51.100.7"},
		{"several headers read as one list", loopback, []string{"203.0.113.66", "198.51.100.7"}, "198.51.100.7"},
		{"an entry with a port", loopback, []string{"198.51.100.7:51234"}, "198.51.100.7"},
		{"IPv6 clients count by their /64", loopback, []string{"2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::"},
		{"an unparsable entry: the connection's address", loopback, []string{"198.51.100.7, unknown"}, "127.0.0.1"},
		{"trusted peer without the header: the peer", loopback, nil, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, tally := e.proxiedAPI(api.Deps{TrustedProxies: tc.trusted})
			e.flushRefusals()
			before := len(e.refused())
			if code := call(t, base, "otp_not_a_token", tc.forwarded...); code != http.StatusUnauthorized {
				t.Fatalf("bad token: %d, want 401", code)
			}
			if _, err := tally.FlushAll(context.Background()); err != nil {
				t.Fatal(err)
			}
			evs := e.refused()
			if len(evs) != before+1 {
				t.Fatalf("the audit trail grew by %d auth.refused events, want 1", len(evs)-before)
			}
			if got := evs[len(evs)-1].SubjectID; got != tc.want {
				t.Errorf("refusal counted under %q, want %q", got, tc.want)
			}
		})
	}
}

// TestProxyFloodPerClient: two clients behind one trusted proxy. One floods bad tokens and is
// answered 429; the other is still answered 401 for its bad token, and its valid token is
// served; the flooding client's valid token too.
func TestProxyFloodPerClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	base, _ := e.proxiedAPI(api.Deps{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Limits: api.Limits{AuthFailures: 5}})
	const flooder, bystander = "198.51.100.7", "203.0.113.9"
	statuses := map[int]int{}
	for i := range 50 {
		statuses[call(t, base, fmt.Sprintf("otp_flood%04d", i), "192.0.2.200, "+flooder)]++
	}
	if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 45 {
		t.Fatalf("flooding client: %v, want 5 answered 401, then 45 answered 429", statuses)
	}
	if code := call(t, base, "otp_bystander_typo", bystander); code != http.StatusUnauthorized {
		t.Errorf("the other client's bad token: %d, want 401 (its own budget of failures)", code)
	}
	if code := call(t, base, e.tokens.Engineer, bystander); code != http.StatusOK {
		t.Errorf("the other client's valid token: %d, want 200", code)
	}
	if code := call(t, base, e.tokens.Engineer, flooder); code != http.StatusOK {
		t.Errorf("the flooding client's valid token: %d, want 200", code)
	}
	// Without trusting the proxy, the whole plant shares the proxy's budget.
	shared, _ := e.proxiedAPI(api.Deps{Limits: api.Limits{AuthFailures: 5}})
	for i := range 10 {
		call(t, shared, fmt.Sprintf("otp_flood%04d", i), flooder)
	}
	if code := call(t, shared, "otp_bystander_typo", bystander); code != http.StatusTooManyRequests {
		t.Errorf("untrusted proxy: the other client's bad token: %d, want 429 (one shared budget)", code)
	}
}

// TestProxySecureCookies: with SecureCookies a sign-in over plain HTTP (a TLS-terminating
// proxy in front) sets a Secure session cookie; without it, a plain-HTTP cookie is not Secure.
func TestProxySecureCookies(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, secure := range []bool{true, false} {
		t.Run(fmt.Sprintf("SecureCookies=%v", secure), func(t *testing.T) {
			base, _ := e.proxiedAPI(api.Deps{SecureCookies: secure})
			body := fmt.Sprintf(`{"token":%q}`, e.tokens.Engineer)
			res, err := http.Post(base+"/api/v1/session", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("sign-in: %d %s", res.StatusCode, raw)
			}
			var found bool
			for _, c := range res.Cookies() {
				if c.Name == "otpatch_session" {
					found = true
					if c.Secure != secure || !c.HttpOnly {
						t.Errorf("session cookie Secure=%v HttpOnly=%v, want Secure=%v and HttpOnly (%s)", c.Secure, c.HttpOnly, secure, res.Header.Get("Set-Cookie"))
					}
				}
			}
			if !found {
				t.Fatalf("sign-in set no session cookie: %v", res.Header.Values("Set-Cookie"))
			}
		})
	}
}
