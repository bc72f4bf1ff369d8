package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/domain"
)

// TestSignInHardening: what a security review of sign-in found, closed.
func TestSignInHardening(t *testing.T) {
	e := newEnv(t, envOptions{})

	t.Run("a vendor bound to no vendor sees nothing", func(t *testing.T) {
		_, ghost := e.person("ghost-vendor", domain.RoleVendor, "")
		for _, path := range []string{"/api/v1/patches", "/api/v1/products", "/api/v1/me/password"} {
			method := "GET"
			if path == "/api/v1/me/password" {
				method = "PUT"
			}
			if code := e.call(method, path, ghost, map[string]any{}, nil); code != http.StatusForbidden {
				t.Errorf("%s %s as a vendor without a vendor: %d, want 403", method, path, code)
			}
		}
	})

	t.Run("a sign-in from another site's page is refused", func(t *testing.T) {
		body := []byte(fmt.Sprintf(`{"username":"erin-engineer","password":%q}`, e.tokens.Password))
		for _, h := range []map[string]string{{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}} {
			req, _ := http.NewRequest("POST", e.url+"/api/v1/session", bytes.NewReader(body))
			req.Header.Set("Content-Type", "text/plain")
			for k, v := range h {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden || res.Header.Get("Set-Cookie") != "" {
				t.Errorf("sign-in with %v: %d, cookie %q; want 403 and no cookie", h, res.StatusCode, res.Header.Get("Set-Cookie"))
			}
		}
		req, _ := http.NewRequest("POST", e.url+"/api/v1/session", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json") // as otpatch's page sends it
		req.Header.Set("Origin", e.url)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Errorf("sign-in from otpatch's own page: %d, want 201", res.StatusCode)
		}
	})

	t.Run("a token minted with a token ends with it", func(t *testing.T) {
		_, setup := e.person("rita-ops", domain.RoleAuditor, "")
		var parent, child tokenDoc
		if code := e.call("POST", "/api/v1/tokens", setup, map[string]any{"name": "short", "expires_in": "1h"}, &parent); code != http.StatusCreated {
			t.Fatalf("parent: %d", code)
		}
		if code := e.call("POST", "/api/v1/tokens", parent.Token, map[string]any{"name": "long", "expires_in": "300d"}, &child); code != http.StatusCreated {
			t.Fatalf("child: %d", code)
		}
		if child.ExpiresAt == nil || parent.ExpiresAt == nil || child.ExpiresAt.After(*parent.ExpiresAt) {
			t.Errorf("a token minted with a 1-hour token ends %v, after its parent's %v", child.ExpiresAt, parent.ExpiresAt)
		}
		if code := e.call("DELETE", "/api/v1/tokens/"+parent.ID, setup, nil, nil); code != http.StatusOK {
			t.Fatalf("revoking the parent: %d", code)
		}
		if code := e.call("GET", "/api/v1/me", child.Token, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("the child after its parent was revoked: %d, want 401", code)
		}
	})

	t.Run("otpatch's own actor names are not usernames", func(t *testing.T) {
		for _, name := range []string{"idp", "bootstrap", "Demo", "migration", "anonymous"} {
			var p problemDoc
			if code := e.call("POST", "/api/v1/users", e.tokens.Admin, map[string]any{"username": name}, &p); code != http.StatusUnprocessableEntity {
				t.Errorf("a user named %s: %d %+v, want 422", name, code, p)
			}
		}
	})

	t.Run("parallel guesses do not outrun the lockout", func(t *testing.T) {
		base, _, _ := e.throttledAPI(api.Limits{AuthFailures: 1000})
		e.person("paula-ops", domain.RoleEngineer, "")
		const n = 40
		var (
			mu       sync.Mutex
			statuses = map[int]int{}
			wg       sync.WaitGroup
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"username":"paula-ops","password":"Wrong-guess-%03d"}`, i)
				res, err := http.Post(base+"/api/v1/session", "application/json", bytes.NewReader([]byte(body)))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		// Each check sees the failures before it: four are answered wrong, the fifth locks,
		// and every later one meets the lock without a password check.
		if statuses[http.StatusUnauthorized] != domain.DefaultPasswordPolicy().LockoutFailures-1 || statuses[http.StatusForbidden] != n-statuses[http.StatusUnauthorized] {
			t.Errorf("%d parallel guesses answered %v; want %d 401 and the rest 403 (locked)", n, statuses, domain.DefaultPasswordPolicy().LockoutFailures-1)
		}
	})
}
