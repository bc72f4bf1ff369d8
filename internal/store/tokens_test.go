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

// signInWithToken opens a browser session with a personal token as the API's token sign-in
// does: the token's user acting in the token's role, ending no later than the token.
func signInWithToken(ctx context.Context, st *Store, secret string, lim SessionLimits) (string, Session, domain.Actor, error) {
	tk, a, err := st.AuthenticateToken(ctx, secret)
	if err != nil {
		return "", Session{}, a, err
	}
	spec := SessionSpec{UserID: a.UserID, Role: a.Role, Method: domain.SignInToken, TokenID: tk.ID, TokenExpires: tk.ExpiresAt, KeepOthers: true}
	id, sess, err := st.OpenSession(ctx, spec, lim, Event{Actor: a.Name, Role: string(a.Role), Action: "session.login"})
	return id, sess, a, err
}

// TestTokenLifecycle: a personal token works until it expires or is revoked, and then neither
// authenticates nor opens or keeps a session; its use is noted at most once a minute; a name
// is one token among its user's active ones; a token acts only in a role its user holds;
// agent credentials are not personal tokens.
func TestTokenLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, clk := storeOnClock(t, dsn, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		now := clk.Now()
		advance := func(d time.Duration) { now = now.Add(d); clk.Set(now) }
		erin := person(t, st, "erin-engineer", domain.RoleEngineer, "")
		ivan := person(t, st, "ivan-ops", domain.RoleEngineer, "")
		minted := Event{Actor: "adam-admin", Role: "admin", Action: "token.created"}
		create := func(userID, name string, role domain.Role, secret string, expires time.Time) (Token, error) {
			return st.CreateToken(ctx, TokenSpec{UserID: userID, Name: name, Role: role, Secret: secret, ExpiresAt: expires}, minted)
		}
		authenticates := func(secret string) bool {
			t.Helper()
			_, err := st.Authenticate(ctx, secret)
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}

		short, err := create(erin, "laptop", domain.RoleEngineer, "otp_short", now.Add(2*time.Hour))
		check(t, "CreateToken short", err)
		long, err := create(erin, "ci", domain.RoleEngineer, "otp_long", now.Add(90*24*time.Hour))
		check(t, "CreateToken of the same user and role", err)
		if !authenticates("otp_short") || !authenticates("otp_long") {
			t.Fatal("fresh tokens do not authenticate")
		}
		if a, err := st.Authenticate(ctx, "otp_short"); err != nil || a != (domain.Actor{Name: "erin-engineer", Role: domain.RoleEngineer, UserID: erin}) {
			t.Fatalf("Authenticate = %+v, %v; want erin-engineer as engineer", a, err)
		}
		got := tokenRow(t, st, short.ID)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(now.Add(2*time.Hour)) {
			t.Fatalf("token after first use: last used %v, expires %v", got.LastUsedAt, got.ExpiresAt)
		}
		if got.UserID == nil || *got.UserID != erin {
			t.Fatalf("token's user = %v, want %s", got.UserID, erin)
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

		t.Run("a name is one of its user's active tokens", func(t *testing.T) {
			_, err := create(erin, "laptop", domain.RoleEngineer, "otp_erin_again", now.Add(time.Hour))
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("a second active token named laptop = %v, want ErrConflict", err)
			}
			if authenticates("otp_erin_again") {
				t.Fatal("the refused token authenticates")
			}
			_, err = create(ivan, "laptop", domain.RoleEngineer, "otp_ivan_laptop", now.Add(time.Hour))
			check(t, "CreateToken of another user with the same name", err)
		})

		t.Run("only in a role the user holds", func(t *testing.T) {
			_, err := create(erin, "approvals", domain.RoleApprover, "otp_erin_approves", now.Add(time.Hour))
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("a token in a role erin does not hold = %v, want ErrNotFound", err)
			}
			if authenticates("otp_erin_approves") {
				t.Fatal("the refused token authenticates")
			}
			if _, err := create("usr_nobody", "x", domain.RoleEngineer, "otp_nobody", time.Time{}); !errors.Is(err, ErrNotFound) {
				t.Errorf("a token of an unknown user = %v, want ErrNotFound", err)
			}
		})

		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: 8 * time.Hour}
		sessID, sess, _, err := signInWithToken(ctx, st, "otp_short", lim)
		check(t, "sign in with a token", err)
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
			if _, _, _, err := signInWithToken(ctx, st, "otp_short", lim); !errors.Is(err, ErrNotFound) {
				t.Errorf("an expired token opened a session: %v", err)
			}
			if !authenticates("otp_long") {
				t.Error("the other token of the user stopped working")
			}
			// An expired token no longer holds its name.
			_, err := create(erin, "laptop", domain.RoleEngineer, "otp_new_laptop", now.Add(time.Hour))
			check(t, "CreateToken with the name of an expired token", err)
		})

		t.Run("revoked", func(t *testing.T) {
			sessID, _, _, err := signInWithToken(ctx, st, "otp_long", lim)
			check(t, "sign in with a token", err)
			if _, err := st.RevokeToken(ctx, long.ID, ivan, Event{Actor: "ivan-ops", Role: "engineer", Action: "token.revoked"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("another user revoking the token = %v, want ErrNotFound", err)
			}
			r, err := st.RevokeToken(ctx, long.ID, erin, Event{Actor: "erin-engineer", Role: "engineer", Action: "token.revoked"})
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
			if err := json.Unmarshal([]byte(evs[0].Details), &details); err != nil || details.Name != "ci" || details.SessionsEnded != 1 {
				t.Errorf("token.revoked details = %s (%v), want the token's name and one session ended", evs[0].Details, err)
			}
			// No active token of erin's has the name now: she may use it again.
			_, err = create(erin, "ci", domain.RoleEngineer, "otp_ci_again", now.Add(time.Hour))
			check(t, "CreateToken after the name was freed", err)
		})

		t.Run("agent credentials are not personal tokens", func(t *testing.T) {
			f := seed(t, st)
			a := Event{Actor: "adam-admin", Role: "admin", Action: "agent.credential_issued"}
			c, err := st.IssueAgentCredential(ctx, f.plc1.ID, "adam-admin", "otp_agent", a)
			check(t, "IssueAgentCredential", err)
			all, err := st.PersonalTokens(ctx, "")
			check(t, "PersonalTokens", err)
			if len(all) != 5 {
				t.Errorf("personal tokens = %d, want 5 (erin's laptop, ci, ivan's laptop, erin's new laptop and ci)", len(all))
			}
			for _, tk := range all {
				if tk.Role == string(RoleAgent) {
					t.Errorf("an agent credential is listed as a personal token: %+v", tk)
				}
			}
			mine, err := st.PersonalTokens(ctx, ivan)
			check(t, "PersonalTokens of ivan", err)
			if len(mine) != 1 || mine[0].Name != "laptop" || *mine[0].UserID != ivan {
				t.Errorf("ivan's tokens = %+v, want his laptop token only", mine)
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
