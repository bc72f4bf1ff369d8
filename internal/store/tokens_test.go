package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// storeOnClock opens and migrates a store on dsn whose clock stands at start until advanced.
func storeOnClock(t *testing.T, dsn string, start time.Time) (*Store, *setClock) {
	t.Helper()
	clk := &setClock{t: start}
	st, err := Open(dsn, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, clk
}

// tokenRow reads a token's row as stored.
func tokenRow(t *testing.T, st *Store, id string) Token {
	t.Helper()
	var tk Token
	check(t, "read token "+id, st.db.Take(&tk, "id = ?", id).Error)
	return tk
}

// TestTokenLifecycle: a personal token works until it expires or is revoked, and then neither
// authenticates nor opens or keeps a session; its use is noted at most once a minute; a name
// is held by one role at a time; agent credentials are not personal tokens.
func TestTokenLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, clk := storeOnClock(t, dsn, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		now := clk.Now()
		advance := func(d time.Duration) { now = now.Add(d); clk.Set(now) }
		minted := Event{Actor: "adam-admin", Role: "admin", Action: "token.created"}
		create := func(name string, role domain.Role, secret string, expires time.Time) (Token, error) {
			return st.CreateToken(ctx, TokenSpec{Name: name, Role: role, Secret: secret, ExpiresAt: expires}, minted)
		}
		authenticates := func(secret string) bool {
			t.Helper()
			_, err := st.Authenticate(ctx, secret)
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}

		short, err := create("erin-engineer", domain.RoleEngineer, "otp_short", now.Add(2*time.Hour))
		check(t, "CreateToken short", err)
		long, err := create("erin-engineer", domain.RoleEngineer, "otp_long", now.Add(90*24*time.Hour))
		check(t, "CreateToken of the same holder and role", err)
		if !authenticates("otp_short") || !authenticates("otp_long") {
			t.Fatal("fresh tokens do not authenticate")
		}
		got := tokenRow(t, st, short.ID)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(now.Add(2*time.Hour)) {
			t.Fatalf("token after first use: last used %v, expires %v", got.LastUsedAt, got.ExpiresAt)
		}
		first := *got.LastUsedAt
		advance(30 * time.Second)
		authenticates("otp_short")
		if got = tokenRow(t, st, short.ID); !got.LastUsedAt.Equal(first) {
			t.Errorf("last use noted again within the minute: %v", got.LastUsedAt)
		}
		advance(time.Minute)
		authenticates("otp_short")
		if got = tokenRow(t, st, short.ID); !got.LastUsedAt.Equal(now) {
			t.Errorf("last use after a minute = %v, want %v", got.LastUsedAt, now)
		}

		t.Run("one role per active name", func(t *testing.T) {
			_, err := create("erin-engineer", domain.RoleApprover, "otp_erin_approves", now.Add(time.Hour))
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("a second role for an active name = %v, want ErrConflict", err)
			}
			if authenticates("otp_erin_approves") {
				t.Fatal("the refused token authenticates")
			}
		})

		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: 8 * time.Hour}
		sessID, sess, _, err := st.CreateSession(ctx, "otp_short", lim, Event{Action: "session.login"})
		check(t, "CreateSession", err)
		if !sess.ExpiresAt.Equal(*short.ExpiresAt) {
			t.Errorf("session of a token ending at %v ends at %v", short.ExpiresAt, sess.ExpiresAt)
		}

		t.Run("expired", func(t *testing.T) {
			advance(2 * time.Hour)
			if authenticates("otp_short") {
				t.Error("an expired token authenticates")
			}
			if _, _, err := st.SessionActor(ctx, sessID, SessionLimits{Lifetime: 24 * time.Hour}); !errors.Is(err, ErrNotFound) {
				t.Errorf("the session of an expired token = %v, want ErrNotFound", err)
			}
			if _, _, _, err := st.CreateSession(ctx, "otp_short", lim, Event{Action: "session.login"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("an expired token opened a session: %v", err)
			}
			if !authenticates("otp_long") {
				t.Error("the other token of the holder stopped working")
			}
		})

		t.Run("revoked", func(t *testing.T) {
			sessID, _, _, err := st.CreateSession(ctx, "otp_long", lim, Event{Action: "session.login"})
			check(t, "CreateSession", err)
			if _, err := st.RevokeToken(ctx, long.ID, "ivan-ops", Event{Actor: "ivan-ops", Role: "engineer", Action: "token.revoked"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("another holder revoking the token = %v, want ErrNotFound", err)
			}
			r, err := st.RevokeToken(ctx, long.ID, "erin-engineer", Event{Actor: "erin-engineer", Role: "engineer", Action: "token.revoked"})
			check(t, "RevokeToken", err)
			if r.RevokedAt == nil || domain.TokenStateAt(r.RevokedAt, r.ExpiresAt, now) != domain.TokenRevoked {
				t.Errorf("revoked token = %+v", r)
			}
			if authenticates("otp_long") {
				t.Error("a revoked token authenticates")
			}
			if _, _, err := st.SessionActor(ctx, sessID, lim); !errors.Is(err, ErrNotFound) {
				t.Errorf("the session of a revoked token = %v, want ErrNotFound", err)
			}
			if _, err := st.RevokeToken(ctx, long.ID, "", Event{Actor: "adam-admin", Role: "admin", Action: "token.revoked"}); !errors.Is(err, ErrConflict) {
				t.Errorf("revoking twice = %v, want ErrConflict", err)
			}
			evs, _ := st.AuditEvents(ctx, AuditFilter{Action: "token.revoked"})
			if len(evs) != 1 || evs[0].SubjectID != long.ID || evs[0].Actor != "erin-engineer" {
				t.Fatalf("token.revoked events = %+v", evs)
			}
			var details struct {
				Name          string `json:"name"`
				SessionsEnded int    `json:"sessions_ended"`
			}
			if err := json.Unmarshal([]byte(evs[0].Details), &details); err != nil || details.Name != "erin-engineer" || details.SessionsEnded != 1 {
				t.Errorf("token.revoked details = %s (%v), want the holder and one session ended", evs[0].Details, err)
			}
			// No active token holds the name now: it may take another role.
			_, err = create("erin-engineer", domain.RoleApprover, "otp_erin_approves", now.Add(time.Hour))
			check(t, "CreateToken after the name was freed", err)
		})

		t.Run("agent credentials are not personal tokens", func(t *testing.T) {
			f := seed(t, st)
			a := Event{Actor: "adam-admin", Role: "admin", Action: "agent.credential_issued"}
			c, err := st.IssueAgentCredential(ctx, f.plc1.ID, "adam-admin", "otp_agent", a)
			check(t, "IssueAgentCredential", err)
			all, err := st.PersonalTokens(ctx, "")
			check(t, "PersonalTokens", err)
			if len(all) != 3 {
				t.Errorf("personal tokens = %d, want 3 (two of erin-engineer's, then her approver token)", len(all))
			}
			for _, tk := range all {
				if tk.Role == string(RoleAgent) {
					t.Errorf("an agent credential is listed as a personal token: %+v", tk)
				}
			}
			if _, err := st.RevokeToken(ctx, c.TokenID, "", a); !errors.Is(err, ErrNotFound) {
				t.Errorf("RevokeToken(agent credential) = %v, want ErrNotFound", err)
			}
			advance(400 * 24 * time.Hour)
			if !authenticates("otp_agent") {
				t.Error("an agent credential expired by the personal-token rules")
			}
		})
	})
}
