package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestSessions: a session acts as its user in its role until it is ended, outlives its
// lifetime, sits idle too long, or the token it was opened with is revoked; the database
// holds only the id's hash.
func TestSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, clk := storeOnClock(t, dsn, time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
		now := clk.Now()
		advance := func(d time.Duration) { now = now.Add(d); clk.Set(now) }
		olga := person(t, st, "olga-ops", domain.RoleApprover, "")
		if _, err := st.CreateToken(ctx, TokenSpec{UserID: olga, Name: "browser", Role: domain.RoleApprover, Secret: "otp_secret-approver"}, Event{Actor: "test", Role: "admin", Action: "token.created"}); err != nil {
			t.Fatal(err)
		}
		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: time.Hour}
		login := func() string {
			t.Helper()
			id, sess, a, err := signInWithToken(ctx, st, "otp_secret-approver", lim)
			if err != nil || a.Name != "olga-ops" || a.Role != domain.RoleApprover || !sess.ExpiresAt.Equal(now.Add(8*time.Hour)) {
				t.Fatalf("sign in with a token: %v %+v %+v", err, a, sess)
			}
			return id
		}
		alive := func(id string) bool {
			t.Helper()
			u, sess, err := st.SessionActor(ctx, id, lim)
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			if err == nil && (u.ID != olga || sess.Role != domain.RoleApprover) {
				t.Fatalf("SessionActor = %+v in %s, want olga-ops as approver", u, sess.Role)
			}
			return err == nil
		}

		if _, _, _, err := signInWithToken(ctx, st, "otp_wrong", lim); !errors.Is(err, ErrNotFound) {
			t.Errorf("a wrong token opened a session: %v", err)
		}
		id := login()
		var n int64
		st.DB().Model(&Session{}).Where("id_hash = ?", id).Count(&n)
		if n != 0 {
			t.Error("the session id is stored in the clear")
		}
		evs, _ := st.AuditEvents(ctx, AuditFilter{Action: "session.login"})
		if len(evs) != 1 || evs[0].Actor != "olga-ops" || evs[0].SubjectID != HashSessionID(id)[:16] {
			t.Fatalf("login events: %+v", evs)
		}
		var details struct {
			Method  string `json:"method"`
			TokenID string `json:"token_id"`
		}
		if err := json.Unmarshal([]byte(evs[0].Details), &details); err != nil || details.Method != "token" || details.TokenID == "" {
			t.Errorf("login details = %s (%v), want method token and the token's id", evs[0].Details, err)
		}

		// Requests keep it alive past the idle limit, but not past its lifetime.
		for range 7 {
			advance(50 * time.Minute)
			if !alive(id) {
				t.Fatalf("session in use ended after %v", now)
			}
		}
		advance(71 * time.Minute) // 8 h 1 min after sign-in
		if alive(id) {
			t.Error("a session outlived its 8-hour lifetime")
		}

		idle := login()
		advance(61 * time.Minute)
		if alive(idle) {
			t.Error("a session idle for more than an hour still works")
		}

		ended := login()
		if err := st.EndSession(ctx, ended, Event{Actor: "olga-ops", Role: "approver", Action: "session.logout"}); err != nil {
			t.Fatal(err)
		}
		if alive(ended) {
			t.Error("an ended session still works")
		}
		if err := st.EndSession(ctx, ended, Event{Action: "session.logout"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("ending it twice: %v", err)
		}

		revoked := login()
		if err := st.DB().Exec(`UPDATE tokens SET revoked_at = ? WHERE user_id = ?`, now, olga).Error; err != nil {
			t.Fatal(err)
		}
		if alive(revoked) {
			t.Error("a session outlived the revocation of its token")
		}
	})
}

// TestSessionsOfAUser: a sign-in ends the user's other sessions unless he keeps them; he can
// end them all; a session acts only in a role he holds, and ends when that grant ends.
func TestSessionsOfAUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, clk := storeOnClock(t, dsn, time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: time.Hour}
		olga := person(t, st, "olga-ops", domain.RoleApprover, "")
		engineer := grant(t, st, olga, domain.RoleEngineer)
		other := person(t, st, "otto-ops", domain.RoleEngineer, "")
		open := func(userID string, role domain.Role, keep bool) string {
			t.Helper()
			id, sess, err := st.OpenSession(ctx, SessionSpec{UserID: userID, Role: role, Method: domain.SignInPassword, Remote: "10.0.0.7:5123", UserAgent: "test", KeepOthers: keep},
				lim, Event{Actor: "olga-ops", Role: string(role), Action: "session.login"})
			check(t, "OpenSession", err)
			if sess.UserID != userID || sess.Role != role || sess.Method != "password" || sess.TokenID != nil || sess.Remote != "10.0.0.7:5123" {
				t.Fatalf("OpenSession = %+v", sess)
			}
			return id
		}
		alive := func(id string) bool {
			t.Helper()
			_, _, err := st.SessionActor(ctx, id, lim)
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		openCount := func(userID string) int {
			t.Helper()
			ss, err := st.OpenSessions(ctx, userID, lim)
			check(t, "OpenSessions", err)
			return len(ss)
		}

		if _, _, err := st.OpenSession(ctx, SessionSpec{UserID: olga, Role: domain.RoleAdmin, Method: domain.SignInPassword}, lim, Event{Action: "session.login"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session in a role not held = %v, want ErrNotFound", err)
		}
		if _, _, err := st.OpenSession(ctx, SessionSpec{UserID: "usr_nobody", Role: domain.RoleEngineer, Method: domain.SignInPassword}, lim, Event{Action: "session.login"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session of an unknown user = %v, want ErrNotFound", err)
		}

		first := open(olga, domain.RoleApprover, false)
		others := open(other, domain.RoleEngineer, false)
		second := open(olga, domain.RoleApprover, false)
		if alive(first) {
			t.Error("a new sign-in left the user's earlier session open")
		}
		if !alive(second) || !alive(others) {
			t.Fatal("a new sign-in ended itself or another user's session")
		}
		kept := open(olga, domain.RoleEngineer, true)
		if !alive(second) || !alive(kept) || openCount(olga) != 2 {
			t.Fatalf("a sign-in keeping the others: second alive %v, new alive %v, %d open; want both, 2", alive(second), alive(kept), openCount(olga))
		}

		t.Run("role", func(t *testing.T) {
			h := HashSessionID(second)
			if err := st.SetSessionRole(ctx, h, domain.RoleAdmin, Event{Action: "session.role_changed"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetSessionRole to a role not held = %v, want ErrNotFound", err)
			}
			check(t, "SetSessionRole", st.SetSessionRole(ctx, h, domain.RoleEngineer, Event{Action: "session.role_changed"}))
			if _, sess, err := st.SessionActor(ctx, second, lim); err != nil || sess.Role != domain.RoleEngineer {
				t.Fatalf("after SetSessionRole: %+v, %v; want the session acting as engineer", sess, err)
			}
			// Both sessions act as engineer now; ending that grant ends them at once.
			_, err := st.EndGrant(ctx, engineer.ID, "root", Event{Actor: "root", Role: "admin", Action: "role.revoked"})
			check(t, "EndGrant", err)
			if alive(second) || alive(kept) {
				t.Error("a session acting in an ended role still works")
			}
			if err := st.SetSessionRole(ctx, h, domain.RoleApprover, Event{Action: "session.role_changed"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetSessionRole of an ended session = %v, want ErrNotFound", err)
			}
		})

		t.Run("a grant ended behind the session's back", func(t *testing.T) {
			// Only the role check stands between such a session and a request.
			id := open(olga, domain.RoleApprover, false)
			check(t, "end the grant in the database", st.DB().Exec(`UPDATE role_grants SET ended_at = ? WHERE user_id = ? AND role = ?`, clk.Now(), olga, "approver").Error)
			if alive(id) {
				t.Error("a session whose role is no longer held still works")
			}
		})

		t.Run("sign out everywhere", func(t *testing.T) {
			a := open(other, domain.RoleEngineer, true)
			b := open(other, domain.RoleEngineer, true)
			n, err := st.EndUserSessions(ctx, other, Event{Actor: "otto-ops", Role: "engineer", Action: "session.logout_all"})
			check(t, "EndUserSessions", err)
			if n != 3 || alive(a) || alive(b) || alive(others) || openCount(other) != 0 {
				t.Errorf("EndUserSessions ended %d; sessions alive: %v %v %v; want 3 ended, none alive", n, alive(a), alive(b), alive(others))
			}
			if n, err := st.EndUserSessions(ctx, other, Event{Action: "session.logout_all"}); err != nil || n != 0 {
				t.Errorf("EndUserSessions again = %d, %v; want 0", n, err)
			}
		})
	})
}
