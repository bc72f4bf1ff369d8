package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// tokenDoc is a token as POST and GET /api/v1/tokens answer it.
type tokenDoc struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	VendorID   string     `json:"vendor_id"`
	State      string     `json:"state"`
	Token      string     `json:"token"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// mintToken has the holder of token mint himself a token named name in role ("": his acting
// role) with the server's default expiry.
func (e *env) mintToken(token, name, role string) tokenDoc {
	e.t.Helper()
	var answer struct {
		tokenDoc
		problemDoc
	}
	body := map[string]any{"name": name}
	if role != "" {
		body["role"] = role
	}
	if code := e.call("POST", "/api/v1/tokens", token, body, &answer); code != http.StatusCreated {
		e.t.Fatalf("mint a %s token %s: %d %s", role, name, code, answer.Detail)
	}
	return answer.tokenDoc
}

// mintInRole signs username in with the demo password, acting in role, and mints a token in
// that role there: a token mints only in its own role, a password session in any role held.
func (e *env) mintInRole(username, name, role string) tokenDoc {
	e.t.Helper()
	b, code, raw := e.openSession(map[string]any{"username": username, "password": e.tokens.Password, "role": role, "keep_other_sessions": true})
	if b == nil {
		e.t.Fatalf("%s signing in as %s: %d %s", username, role, code, raw)
	}
	var answer struct {
		tokenDoc
		problemDoc
	}
	if code := b.call("POST", "/api/v1/tokens", map[string]any{"name": name, "role": role}, &answer); code != http.StatusCreated {
		e.t.Fatalf("%s minting a %s token %s in a password session: %d %s", username, role, name, code, answer.Detail)
	}
	return answer.tokenDoc
}

// listRaw answers GET /api/v1/tokens for token: the tokens and the answer's bytes.
func (e *env) listRaw(token string) ([]tokenDoc, string) {
	e.t.Helper()
	var raw json.RawMessage
	if code := e.call("GET", "/api/v1/tokens", token, nil, &raw); code != http.StatusOK {
		e.t.Fatalf("list tokens: %d %s", code, raw)
	}
	var out struct {
		Items []tokenDoc `json:"items"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Items, string(raw)
}

// TestTokenLifecycle walks personal tokens through the API with the store's clock moved by
// hand: a person mints his own, with an expiry by default and on request (bounded by the
// maximum), one active token per name of his; listings show no secret; revocation by the
// holder or an admin takes effect on the next request (sessions included), and expiry does
// too.
func TestTokenLifecycle(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clk := &testClock{t: start}
	e := newEnv(t, envOptions{now: clk.Now})
	ctx := context.Background()
	ninaID, ninaSetup := e.person("nina-ops", domain.RoleApprover, "")
	mint := func(body map[string]any) (int, tokenDoc) {
		var tok tokenDoc
		return e.call("POST", "/api/v1/tokens", ninaSetup, body, &tok), tok
	}

	nina := e.mintToken(ninaSetup, "laptop", "")
	if nina.State != "active" || !strings.HasPrefix(nina.Token, "otp_") || nina.ExpiresAt == nil || !nina.ExpiresAt.Equal(start.Add(90*24*time.Hour)) ||
		nina.Role != "approver" || nina.UserID != ninaID {
		t.Fatalf("a new token with the default role and expiry = %+v, want nina's, active, approver, ending in 90 days", nina)
	}
	code, short := mint(map[string]any{"name": "ci", "role": "approver", "expires_in": "2h"})
	if code != http.StatusCreated || !short.ExpiresAt.Equal(start.Add(2*time.Hour)) {
		t.Fatalf("a second token of the same holder and role, 2h: %d %+v", code, short)
	}
	if m := e.me(nina.Token); m.Name != "nina-ops" || m.Role != "approver" || m.UserID != ninaID {
		t.Fatalf("the new token acts as %+v, want nina-ops as approver", m)
	}

	t.Run("refused requests", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			body   map[string]any
			status int
			field  string
		}{
			{"a name held by another active token of hers", map[string]any{"name": "laptop"}, http.StatusConflict, ""},
			{"a role she does not hold", map[string]any{"name": "phone", "role": "safety"}, http.StatusForbidden, ""},
			{"a role that does not exist", map[string]any{"name": "phone", "role": "king"}, http.StatusUnprocessableEntity, "role"},
			{"a token for someone else", map[string]any{"name": "phone", "user_id": "usr_someone"}, http.StatusUnprocessableEntity, "user_id"},
			{"a vendor of her choice", map[string]any{"name": "phone", "vendor_id": "vnd_acme"}, http.StatusUnprocessableEntity, "vendor_id"},
			{"expires_in beyond the maximum", map[string]any{"name": "phone", "expires_in": "366d"}, http.StatusUnprocessableEntity, "expires_in"},
			{"expires_at beyond the maximum", map[string]any{"name": "phone", "expires_at": start.AddDate(2, 0, 0).Format(time.RFC3339)}, http.StatusUnprocessableEntity, "expires_at"},
			{"expires_at in the past", map[string]any{"name": "phone", "expires_at": start.Add(-time.Hour).Format(time.RFC3339)}, http.StatusUnprocessableEntity, "expires_at"},
			{"a lifetime that is no lifetime", map[string]any{"name": "phone", "expires_in": "0s"}, http.StatusUnprocessableEntity, "expires_in"},
			{"both expires_in and expires_at", map[string]any{"name": "phone", "expires_in": "1d", "expires_at": start.Add(time.Hour).Format(time.RFC3339)}, http.StatusUnprocessableEntity, "expires_in"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var p problemDoc
				if code := e.call("POST", "/api/v1/tokens", ninaSetup, tc.body, &p); code != tc.status {
					t.Fatalf("%d %+v, want %d", code, p, tc.status)
				}
				if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
					t.Errorf("errors = %+v, want one for %s", p.Errors, tc.field)
				}
				if tc.status == http.StatusConflict && !strings.Contains(p.Detail, "revoke it first") {
					t.Errorf("the conflict does not say what to do: %q", p.Detail)
				}
			})
		}
		var p problemDoc
		e.call("POST", "/api/v1/tokens", ninaSetup, map[string]any{"name": "phone", "expires_in": "400d"}, &p)
		if !strings.Contains(p.Detail, "at most 365 days (P365D)") {
			t.Errorf("the refusal does not name the maximum: %q", p.Detail)
		}
		if mine, _ := e.listRaw(ninaSetup); len(mine) != 3 {
			t.Errorf("after the refusals nina has %d tokens, want her 3", len(mine))
		}
	})

	t.Run("listing", func(t *testing.T) {
		own, raw := e.listRaw(nina.Token)
		byID := map[string]tokenDoc{}
		for _, tk := range own {
			byID[tk.ID] = tk
			if tk.UserID != ninaID {
				t.Errorf("nina lists another person's token: %+v", tk)
			}
		}
		if _, ok := byID[short.ID]; len(own) != 3 || !ok {
			t.Fatalf("nina lists %+v, want her three tokens", own)
		}
		if used := byID[nina.ID].LastUsedAt; used == nil || !used.Equal(start) {
			t.Errorf("last use of the token just used = %v, want %v", used, start)
		}
		if byID[short.ID].LastUsedAt != nil || byID[short.ID].State != "active" {
			t.Errorf("the unused token = %+v, want active and never used", byID[short.ID])
		}
		all, adminRaw := e.listRaw(e.tokens.Admin)
		holders := map[string]bool{}
		for _, tk := range all {
			holders[tk.UserID] = true
		}
		for _, who := range []string{e.tokens.Admin, e.tokens.Engineer, e.tokens.Vendor, ninaSetup} {
			if id := e.me(who).UserID; !holders[id] {
				t.Errorf("the admin's list lacks the tokens of %s", id)
			}
		}
		for _, body := range []string{raw, adminRaw} {
			for _, secret := range []string{nina.Token, short.Token, ninaSetup, e.tokens.Admin, e.tokens.Engineer} {
				if strings.Contains(body, secret) || strings.Contains(body, store.HashToken(secret)) {
					t.Fatalf("a listing shows a secret or its hash: %s", body)
				}
			}
			if strings.Contains(body, "otp_") || strings.Contains(body, "hash") {
				t.Fatalf("a listing shows a secret or a hash: %s", body)
			}
		}
		erin := e.me(e.tokens.Engineer)
		if mine, _ := e.listRaw(e.tokens.Engineer); len(mine) != 1 || mine[0].Name != "demo" || mine[0].UserID != erin.UserID {
			t.Errorf("erin lists %+v, want only her own", mine)
		}
	})

	t.Run("revoked by its holder", func(t *testing.T) {
		b := e.signIn(nina.Token)
		if code, raw := b.do("GET", "/api/v1/me", nil, false); code != http.StatusOK {
			t.Fatalf("the session: %d %s", code, raw)
		}
		var p problemDoc
		if code := e.call("DELETE", "/api/v1/tokens/"+nina.ID, e.tokens.Engineer, nil, &p); code != http.StatusNotFound {
			t.Fatalf("erin revoking nina's token: %d, want 404", code)
		}
		var r tokenDoc
		if code := e.call("DELETE", "/api/v1/tokens/"+nina.ID, nina.Token, nil, &r); code != http.StatusOK || r.State != "revoked" || r.RevokedAt == nil {
			t.Fatalf("nina revoking her token: %d %+v", code, r)
		}
		if code := e.call("GET", "/api/v1/me", nina.Token, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("the revoked token on the next request: %d, want 401", code)
		}
		if code, _ := b.do("GET", "/api/v1/me", nil, false); code != http.StatusUnauthorized {
			t.Errorf("the session of the revoked token: %d, want 401", code)
		}
		if code := e.call("DELETE", "/api/v1/tokens/"+nina.ID, e.tokens.Admin, nil, nil); code != http.StatusConflict {
			t.Errorf("revoking again: %d, want 409", code)
		}
		evs, err := e.store.AuditEvents(ctx, store.AuditFilter{Action: "token.revoked"})
		if err != nil || len(evs) != 1 || evs[0].Actor != "nina-ops" || evs[0].SubjectID != nina.ID || evs[0].RequestID == "" {
			t.Errorf("token.revoked events = %+v, %v", evs, err)
		}
		if code := e.call("GET", "/api/v1/me", short.Token, nil, nil); code != http.StatusOK {
			t.Errorf("nina's other token: %d", code)
		}
	})

	t.Run("expired", func(t *testing.T) {
		clk.Set(start.Add(2 * time.Hour))
		if code := e.call("GET", "/api/v1/me", short.Token, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("the token at its expiry: %d, want 401", code)
		}
		states := map[string]string{}
		all, _ := e.listRaw(e.tokens.Admin)
		for _, tk := range all {
			states[tk.ID] = tk.State
		}
		if states[nina.ID] != "revoked" || states[short.ID] != "expired" {
			t.Errorf("states = nina %s, short %s; want revoked, expired", states[nina.ID], states[short.ID])
		}
		// No active token of hers has the names any more: she may use them again.
		e.mintToken(ninaSetup, "laptop", "")
		e.mintToken(ninaSetup, "ci", "approver")
	})

	t.Run("revoked by an admin", func(t *testing.T) {
		_, ivanSetup := e.person("ivan-ops", domain.RoleAuditor, "")
		ivan := e.mintToken(ivanSetup, "laptop", "")
		if code := e.call("DELETE", "/api/v1/tokens/"+ivan.ID, e.tokens.Admin, nil, nil); code != http.StatusOK {
			t.Fatalf("admin revoking: %d", code)
		}
		if code := e.call("GET", "/api/v1/me", ivan.Token, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("the revoked token: %d, want 401", code)
		}
		if code := e.call("GET", "/api/v1/me", ivanSetup, nil, nil); code != http.StatusOK {
			t.Errorf("ivan's other token: %d", code)
		}
		if code := e.call("DELETE", "/api/v1/tokens/tok_unknown", e.tokens.Admin, nil, nil); code != http.StatusNotFound {
			t.Errorf("an unknown token: %d, want 404", code)
		}
	})
}
