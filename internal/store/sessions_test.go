package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestSessions: a session acts as its token's actor until it is ended, outlives its lifetime,
// sits idle too long, or its token is revoked; the database holds only the id's hash.
func TestSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, clk := storeOnClock(t, dsn, time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
		now := clk.Now()
		advance := func(d time.Duration) { now = now.Add(d); clk.Set(now) }
		if _, err := st.CreateToken(ctx, TokenSpec{Name: "olga-ops", Role: domain.RoleApprover, Secret: "otp_secret-approver"}, Event{Actor: "test", Role: "admin", Action: "token.created"}); err != nil {
			t.Fatal(err)
		}
		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: time.Hour}
		login := func() string {
			t.Helper()
			id, sess, a, err := st.CreateSession(ctx, "otp_secret-approver", lim, Event{Action: "session.login"})
			if err != nil || a.Name != "olga-ops" || a.Role != domain.RoleApprover || !sess.ExpiresAt.Equal(now.Add(8*time.Hour)) {
				t.Fatalf("CreateSession: %v %+v %+v", err, a, sess)
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

		if _, _, _, err := st.CreateSession(ctx, "otp_wrong", lim, Event{Action: "session.login"}); !errors.Is(err, ErrNotFound) {
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
			t.Errorf("login events: %+v", evs)
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
		if err := st.DB().Exec(`UPDATE tokens SET revoked_at = ? WHERE name = ?`, now, "olga-ops").Error; err != nil {
			t.Fatal(err)
		}
		if alive(revoked) {
			t.Error("a session outlived the revocation of its token")
		}
	})
}
