package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
)

// person adds the user username (of vendorID, "" for plant staff) holding role by a grant
// already confirmed, and returns his id. It writes two audit events: user.created and
// role.granted.
func person(t *testing.T, st *Store, username string, role domain.Role, vendorID string) string {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, NewUser{Username: username, VendorID: vendorID, CreatedBy: "root"}, Event{Actor: "root", Role: "admin", Action: "user.created"})
	check(t, "CreateUser "+username, err)
	grant(t, st, u.ID, role)
	return u.ID
}

// grant gives a user role at once (a confirmed grant asked by root) and returns the grant.
func grant(t *testing.T, st *Store, userID string, role domain.Role) RoleGrant {
	t.Helper()
	g, err := st.RequestGrant(context.Background(), GrantRequest{UserID: userID, Role: role, By: "root", Source: GrantByAdmin, Confirmed: true},
		Event{Actor: "root", Role: "admin", Action: "role.granted"})
	check(t, "RequestGrant "+string(role), err)
	return g
}

// activeGrant is the user's active grant of role.
func activeGrant(t *testing.T, st *Store, userID string, role domain.Role) RoleGrant {
	t.Helper()
	gs, err := st.Grants(context.Background(), userID, GrantActive)
	check(t, "Grants", err)
	for _, g := range gs {
		if g.Role == role {
			return g
		}
	}
	t.Fatalf("user %s holds no active %s grant: %+v", userID, role, gs)
	return RoleGrant{}
}

// ruleOf is the rule a refusal names, "" for no error; any other error fails the test.
func ruleOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var r *domain.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("error %v is not a *domain.Refusal", err)
	}
	return r.Rule
}

// lastEventDetails decodes the details of the newest event of action.
func lastEventDetails(t *testing.T, st *Store, action string) (audit.Event, map[string]any) {
	t.Helper()
	evs, err := st.AuditEvents(context.Background(), AuditFilter{Action: action})
	check(t, "AuditEvents "+action, err)
	if len(evs) == 0 {
		t.Fatalf("no %s event", action)
	}
	e := evs[len(evs)-1]
	var d map[string]any
	check(t, "decode details of "+action, json.Unmarshal([]byte(e.Details), &d))
	return e, d
}

// TestGrants: a privileged grant waits for a second admin (never its requester, never its
// grantee) and is confirmed once; a user acts in a role, by token or session, only while his
// grant of it is active, and his sessions in it end with it.
func TestGrants(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, _ := storeOnClock(t, dsn, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: time.Hour}
		person(t, st, "adam", domain.RoleAdmin, "")
		adaID := person(t, st, "ada", domain.RoleAdmin, "")
		adam, ada := domain.Actor{Name: "adam", Role: domain.RoleAdmin}, domain.Actor{Name: "ada", Role: domain.RoleAdmin}
		ute := person(t, st, "ute", domain.RoleEngineer, "")
		asks := Event{Actor: "adam", Role: "admin", Action: "role.requested"}
		confirms := func(a domain.Actor) Event { return Event{Actor: a.Name, Role: string(a.Role), Action: "role.granted"} }
		held := func(userID string) []domain.Role {
			t.Helper()
			rs, err := st.HeldRoles(ctx, userID)
			check(t, "HeldRoles", err)
			return rs
		}

		asked, err := st.RequestGrant(ctx, GrantRequest{UserID: ute, Role: domain.RoleApprover, By: "adam", Source: GrantByAdmin}, asks)
		check(t, "RequestGrant", err)
		if asked.State() != GrantPending || asked.RequestedBy != "adam" {
			t.Fatalf("a privileged grant asked = %+v (%s), want pending", asked, asked.State())
		}
		if _, err := st.RequestGrant(ctx, GrantRequest{UserID: ute, Role: domain.RoleApprover, By: "ada", Source: GrantByAdmin}, asks); !errors.Is(err, ErrConflict) {
			t.Errorf("asking for a role already asked = %v, want ErrConflict", err)
		}
		if _, err := st.RequestGrant(ctx, GrantRequest{UserID: ute, Role: domain.RoleEngineer, By: "adam", Source: GrantByAdmin, Confirmed: true}, asks); !errors.Is(err, ErrConflict) {
			t.Errorf("asking for a role already held = %v, want ErrConflict", err)
		}

		t.Run("pending acts as nothing", func(t *testing.T) {
			if rs := held(ute); !slices.Equal(rs, []domain.Role{domain.RoleEngineer}) {
				t.Errorf("roles held with approver pending = %v, want engineer only", rs)
			}
			if pending, err := st.Grants(ctx, ute, GrantPending); err != nil || len(pending) != 1 || pending[0].ID != asked.ID {
				t.Errorf("pending grants = %+v, %v; want the approver grant", pending, err)
			}
			if _, err := st.CreateToken(ctx, TokenSpec{UserID: ute, Name: "approvals", Role: domain.RoleApprover, Secret: "otp_ute_early"}, admin); !errors.Is(err, ErrNotFound) {
				t.Errorf("a token in a pending role = %v, want ErrNotFound", err)
			}
			if _, _, err := st.OpenSession(ctx, SessionSpec{UserID: ute, Role: domain.RoleApprover, Method: domain.SignInPassword}, lim, Event{Action: "session.login"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("a session in a pending role = %v, want ErrNotFound", err)
			}
		})

		t.Run("two persons", func(t *testing.T) {
			before := auditCount(t, st)
			if _, err := st.ConfirmGrant(ctx, asked.ID, adam, confirms(adam)); ruleOf(t, err) != domain.RuleTwoPerson {
				t.Errorf("the requester confirming = %v, want rule %s", err, domain.RuleTwoPerson)
			}
			toAda, err := st.RequestGrant(ctx, GrantRequest{UserID: adaID, Role: domain.RoleSafety, By: "adam", Source: GrantByAdmin}, asks)
			check(t, "RequestGrant safety for ada", err)
			before++
			if _, err := st.ConfirmGrant(ctx, toAda.ID, ada, confirms(ada)); ruleOf(t, err) != domain.RuleSelfGrant {
				t.Errorf("the grantee confirming = %v, want rule %s", err, domain.RuleSelfGrant)
			}
			if n := auditCount(t, st); n != before {
				t.Errorf("refused confirmations wrote %d events", n-before)
			}
			if g, _ := st.Grant(ctx, toAda.ID); g.State() != GrantPending {
				t.Errorf("a refused confirmation left the grant %s", g.State())
			}
			withdrawn, err := st.EndGrant(ctx, toAda.ID, "adam", Event{Actor: "adam", Role: "admin", Action: "role.withdrawn"})
			check(t, "EndGrant of a pending grant", err)
			if withdrawn.State() != GrantEnded || slices.Contains(held(adaID), domain.RoleSafety) {
				t.Errorf("withdrawn grant = %s, ada holds %v", withdrawn.State(), held(adaID))
			}
			if _, err := st.ConfirmGrant(ctx, toAda.ID, adam, confirms(adam)); !errors.Is(err, ErrConflict) {
				t.Errorf("confirming a withdrawn grant = %v, want ErrConflict", err)
			}

			g, err := st.ConfirmGrant(ctx, asked.ID, ada, confirms(ada))
			check(t, "ConfirmGrant by a second admin", err)
			if g.State() != GrantActive || g.ConfirmedBy == nil || *g.ConfirmedBy != "ada" {
				t.Errorf("confirmed grant = %+v", g)
			}
			if stored, _ := st.Grant(ctx, asked.ID); stored.State() != GrantActive || *stored.ConfirmedBy != "ada" {
				t.Errorf("stored grant = %+v", stored)
			}
			e, d := lastEventDetails(t, st, "role.granted")
			if e.Actor != "ada" || e.SubjectID != asked.ID || d["user"] != "ute" || d["role"] != "approver" || d["requested_by"] != "adam" {
				t.Errorf("role.granted = %+v %v", e, d)
			}
			if _, err := st.ConfirmGrant(ctx, asked.ID, ada, confirms(ada)); !errors.Is(err, ErrConflict) {
				t.Errorf("confirming twice = %v, want ErrConflict", err)
			}
			if _, err := st.ConfirmGrant(ctx, "grt_unknown", ada, confirms(ada)); !errors.Is(err, ErrNotFound) {
				t.Errorf("confirming an unknown grant = %v, want ErrNotFound", err)
			}
		})

		t.Run("a role acts while held", func(t *testing.T) {
			if rs := held(ute); !slices.Equal(rs, []domain.Role{domain.RoleApprover, domain.RoleEngineer}) {
				t.Errorf("roles held = %v, want approver and engineer", rs)
			}
			_, err := st.CreateToken(ctx, TokenSpec{UserID: ute, Name: "approvals", Role: domain.RoleApprover, Secret: "otp_ute_approves"}, admin)
			check(t, "CreateToken in the confirmed role", err)
			if a, err := st.Authenticate(ctx, "otp_ute_approves"); err != nil || a != (domain.Actor{Name: "ute", Role: domain.RoleApprover, UserID: ute}) {
				t.Fatalf("Authenticate = %+v, %v; want ute as approver", a, err)
			}
			byToken, _, _, err := signInWithToken(ctx, st, "otp_ute_approves", lim)
			check(t, "sign in with the token", err)
			byPassword, _, err := st.OpenSession(ctx, SessionSpec{UserID: ute, Role: domain.RoleApprover, Method: domain.SignInPassword, KeepOthers: true}, lim, Event{Action: "session.login"})
			check(t, "OpenSession as approver", err)
			asEngineer, _, err := st.OpenSession(ctx, SessionSpec{UserID: ute, Role: domain.RoleEngineer, Method: domain.SignInPassword, KeepOthers: true}, lim, Event{Action: "session.login"})
			check(t, "OpenSession as engineer", err)

			g := activeGrant(t, st, ute, domain.RoleApprover)
			ended, err := st.EndGrant(ctx, g.ID, "ada", Event{Actor: "ada", Role: "admin", Action: "role.revoked"})
			check(t, "EndGrant", err)
			if ended.State() != GrantEnded || ended.EndedBy == nil || *ended.EndedBy != "ada" {
				t.Errorf("ended grant = %+v", ended)
			}
			if _, err := st.Authenticate(ctx, "otp_ute_approves"); !errors.Is(err, ErrNotFound) {
				t.Errorf("a token of an ended role = %v, want ErrNotFound at once", err)
			}
			for _, id := range []string{byToken, byPassword} {
				if _, _, err := st.SessionActor(ctx, id, lim); !errors.Is(err, ErrNotFound) {
					t.Errorf("a session in an ended role = %v, want ErrNotFound", err)
				}
			}
			var open int64
			check(t, "count sessions", st.DB().Model(&Session{}).Where("user_id = ? AND role = ? AND ended_at IS NULL", ute, "approver").Count(&open).Error)
			if open != 0 {
				t.Errorf("%d sessions in the ended role are still open", open)
			}
			if _, _, err := st.SessionActor(ctx, asEngineer, lim); err != nil {
				t.Errorf("a session in another role ended with the grant: %v", err)
			}
			e, d := lastEventDetails(t, st, "role.revoked")
			if e.SubjectID != g.ID || d["user"] != "ute" || d["was_active"] != true || d["sessions_ended"] != float64(2) {
				t.Errorf("role.revoked = %+v %v; want two sessions ended", e, d)
			}
			if _, err := st.EndGrant(ctx, g.ID, "ada", Event{Action: "role.revoked"}); !errors.Is(err, ErrConflict) {
				t.Errorf("ending twice = %v, want ErrConflict", err)
			}
			if _, err := st.EndGrant(ctx, "grt_unknown", "ada", Event{Action: "role.revoked"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("ending an unknown grant = %v, want ErrNotFound", err)
			}
			if rs := held(ute); !slices.Equal(rs, []domain.Role{domain.RoleEngineer}) {
				t.Errorf("roles held after the end = %v, want engineer", rs)
			}
			if gs, err := st.Grants(ctx, ute, GrantEnded); err != nil || len(gs) != 1 || gs[0].ID != g.ID {
				t.Errorf("ended grants = %+v, %v", gs, err)
			}
		})
	})
}

// TestLastAdmin: the last active admin grant cannot be ended, except by the IdP, which is the
// authority on its own grants; a pending admin grant is no admin.
func TestLastAdmin(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, _ := storeOnClock(t, dsn, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
		adam := person(t, st, "adam", domain.RoleAdmin, "")
		ada := person(t, st, "ada", domain.RoleAdmin, "")
		ute := person(t, st, "ute", domain.RoleEngineer, "")
		revoke := Event{Actor: "adam", Role: "admin", Action: "role.revoked"}
		admins := func() int64 {
			t.Helper()
			n, err := st.ActiveAdmins(ctx)
			check(t, "ActiveAdmins", err)
			return n
		}
		if n := admins(); n != 2 {
			t.Fatalf("ActiveAdmins = %d, want 2", n)
		}
		_, err := st.EndGrant(ctx, activeGrant(t, st, ada, domain.RoleAdmin).ID, "adam", revoke)
		check(t, "EndGrant of one of two admins", err)
		if n := admins(); n != 1 {
			t.Fatalf("ActiveAdmins = %d, want 1", n)
		}
		pending, err := st.RequestGrant(ctx, GrantRequest{UserID: ute, Role: domain.RoleAdmin, By: "adam", Source: GrantByAdmin}, Event{Actor: "adam", Role: "admin", Action: "role.requested"})
		check(t, "RequestGrant admin for ute", err)

		last := activeGrant(t, st, adam, domain.RoleAdmin)
		for _, by := range []string{"adam", "ada", "root"} {
			if _, err := st.EndGrant(ctx, last.ID, by, revoke); ruleOf(t, err) != domain.RuleLastAdmin {
				t.Errorf("ending the last admin grant by %s = %v, want rule %s", by, err, domain.RuleLastAdmin)
			}
		}
		if g, _ := st.Grant(ctx, last.ID); g.State() != GrantActive {
			t.Fatalf("the refused end left the grant %s", g.State())
		}
		_, err = st.EndGrant(ctx, pending.ID, "adam", revoke)
		check(t, "EndGrant of a pending admin grant", err)
		_, err = st.EndGrant(ctx, last.ID, "idp", Event{Actor: "idp", Role: "system", Action: "role.revoked"})
		check(t, "EndGrant of the last admin grant by the IdP", err)
		if n := admins(); n != 0 {
			t.Errorf("ActiveAdmins = %d, want 0", n)
		}
	})
}

// TestDisableUser: a disabled user's tokens and sessions are refused from the next request on;
// an admin cannot disable himself, nor anyone the last admin.
func TestDisableUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, _ := storeOnClock(t, dsn, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: time.Hour}
		adamID := person(t, st, "adam", domain.RoleAdmin, "")
		ada := person(t, st, "ada", domain.RoleAdmin, "")
		erin := person(t, st, "erin", domain.RoleEngineer, "")
		adam := domain.Actor{Name: "adam", Role: domain.RoleAdmin, UserID: adamID}
		disable := Event{Actor: "adam", Role: "admin", Action: "user.disabled"}
		_, err := st.CreateToken(ctx, TokenSpec{UserID: erin, Name: "laptop", Role: domain.RoleEngineer, Secret: "otp_erin"}, admin)
		check(t, "CreateToken", err)
		sess, _, _, err := signInWithToken(ctx, st, "otp_erin", lim)
		check(t, "sign in", err)
		pwSess, _, err := st.OpenSession(ctx, SessionSpec{UserID: erin, Role: domain.RoleEngineer, Method: domain.SignInPassword, KeepOthers: true}, lim, Event{Action: "session.login"})
		check(t, "OpenSession", err)

		if _, err := st.DisableUser(ctx, adamID, adam, disable); ruleOf(t, err) != domain.RuleSelfGrant {
			t.Errorf("an admin disabling himself = %v, want rule %s", err, domain.RuleSelfGrant)
		}
		u, err := st.DisableUser(ctx, erin, adam, disable)
		check(t, "DisableUser", err)
		if u.DisabledAt == nil {
			t.Errorf("disabled user = %+v", u)
		}
		if stored, _ := st.User(ctx, erin); stored.DisabledAt == nil {
			t.Errorf("stored user is not disabled: %+v", stored)
		}
		if _, err := st.Authenticate(ctx, "otp_erin"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a disabled user's token = %v, want ErrNotFound", err)
		}
		for _, id := range []string{sess, pwSess} {
			if _, _, err := st.SessionActor(ctx, id, lim); !errors.Is(err, ErrNotFound) {
				t.Errorf("a disabled user's session = %v, want ErrNotFound", err)
			}
		}
		if _, _, err := st.OpenSession(ctx, SessionSpec{UserID: erin, Role: domain.RoleEngineer, Method: domain.SignInPassword}, lim, Event{Action: "session.login"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("a disabled user opening a session = %v, want ErrNotFound", err)
		}
		if _, err := st.CreateToken(ctx, TokenSpec{UserID: erin, Name: "new", Role: domain.RoleEngineer, Secret: "otp_erin_new"}, admin); !errors.Is(err, ErrNotFound) {
			t.Errorf("a token for a disabled user = %v, want ErrNotFound", err)
		}
		if _, err := st.DisableUser(ctx, erin, adam, disable); !errors.Is(err, ErrConflict) {
			t.Errorf("disabling twice = %v, want ErrConflict", err)
		}
		if _, err := st.DisableUser(ctx, "usr_unknown", adam, disable); !errors.Is(err, ErrNotFound) {
			t.Errorf("disabling an unknown user = %v, want ErrNotFound", err)
		}

		_, err = st.EndGrant(ctx, activeGrant(t, st, ada, domain.RoleAdmin).ID, "adam", Event{Actor: "adam", Role: "admin", Action: "role.revoked"})
		check(t, "EndGrant of ada's admin grant", err)
		if _, err := st.DisableUser(ctx, adamID, domain.Actor{Name: "root", Role: domain.RoleAdmin}, disable); ruleOf(t, err) != domain.RuleLastAdmin {
			t.Errorf("disabling the last admin = %v, want rule %s", err, domain.RuleLastAdmin)
		}
		if stored, _ := st.User(ctx, adamID); stored.DisabledAt != nil {
			t.Error("a refused disable disabled the last admin")
		}
	})
}

// TestSignInLockout: failed sign-ins in a row lock the account once, with one event; a
// success clears the count.
func TestSignInLockout(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, clk := storeOnClock(t, dsn, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
		now := clk.Now()
		const failures, lockFor = 3, 15 * time.Minute
		u, err := st.CreateUser(ctx, NewUser{Username: "lena", PasswordHash: "h1", CreatedBy: "root"}, Event{Actor: "root", Role: "admin", Action: "user.created"})
		check(t, "CreateUser", err)
		locked := Event{Actor: "lena", Role: "system", Action: "user.locked"}
		fail := func() time.Time {
			t.Helper()
			until, err := st.SignInFailed(ctx, u.ID, failures, lockFor, locked)
			check(t, "SignInFailed", err)
			return until
		}
		lockEvents := func() int {
			t.Helper()
			evs, err := st.AuditEvents(ctx, AuditFilter{Action: "user.locked"})
			check(t, "AuditEvents", err)
			return len(evs)
		}

		for i := 1; i < failures; i++ {
			if until := fail(); !until.IsZero() {
				t.Fatalf("failure %d locked the account until %v", i, until)
			}
		}
		if got, _ := st.User(ctx, u.ID); got.FailedSignIns != failures-1 || got.LockedUntil != nil {
			t.Fatalf("after %d failures: %d counted, locked until %v", failures-1, got.FailedSignIns, got.LockedUntil)
		}
		check(t, "SignInSucceeded", st.SignInSucceeded(ctx, u.ID))
		if got, _ := st.User(ctx, u.ID); got.FailedSignIns != 0 {
			t.Fatalf("a success left %d failures counted", got.FailedSignIns)
		}
		for i := 1; i < failures; i++ {
			fail()
		}
		if lockEvents() != 0 {
			t.Fatal("failures below the limit wrote a lock event")
		}
		until := fail()
		if !until.Equal(now.Add(lockFor)) {
			t.Fatalf("the %dth failure in a row locks until %v, want %v", failures, until, now.Add(lockFor))
		}
		if got, _ := st.User(ctx, u.ID); got.LockedUntil == nil || !got.LockedUntil.Equal(until) {
			t.Fatalf("stored lock = %v, want %v", got.LockedUntil, until)
		}
		e, d := lastEventDetails(t, st, "user.locked")
		if e.SubjectID != u.ID || d["failures"] != float64(failures) || d["locked_until"] != until.Format(time.RFC3339) {
			t.Errorf("user.locked = %+v %v", e, d)
		}
		fail()
		if n := lockEvents(); n != 1 {
			t.Errorf("%d lock events, want the one", n)
		}
		check(t, "SignInSucceeded", st.SignInSucceeded(ctx, u.ID))
		if got, _ := st.User(ctx, u.ID); got.FailedSignIns != 0 || got.LockedUntil != nil {
			t.Errorf("after a success: %d failures counted, locked until %v; want both cleared", got.FailedSignIns, got.LockedUntil)
		}
	})
}

// TestPasswordHistory: a new password keeps the old one in the history, ends the user's other
// sessions and clears a lock; RecentPasswords gives the current one and the last n.
func TestPasswordHistory(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, clk := storeOnClock(t, dsn, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
		now := clk.Now()
		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: time.Hour}
		lena := person(t, st, "lena", domain.RoleEngineer, "")
		set := func(hash string, mustChange bool, keep string) {
			t.Helper()
			now = now.Add(time.Minute) // each its own moment, so the history has an order
			clk.Set(now)
			check(t, "SetPassword "+hash, st.SetPassword(ctx, lena, hash, mustChange, keep, Event{Actor: "lena", Role: "engineer", Action: "user.password_changed"}))
		}
		recent := func(n int) []string {
			t.Helper()
			hs, err := st.RecentPasswords(ctx, lena, n)
			check(t, "RecentPasswords", err)
			return hs
		}
		if hs := recent(5); len(hs) != 0 {
			t.Fatalf("RecentPasswords of a user without a password = %v", hs)
		}
		set("h1", false, "")
		set("h2", false, "")
		set("h3", false, "")
		set("h4", false, "")
		for _, tt := range []struct {
			n    int
			want []string
		}{{0, []string{"h4"}}, {1, []string{"h4", "h3"}}, {2, []string{"h4", "h3", "h2"}}, {10, []string{"h4", "h3", "h2", "h1"}}} {
			if got := recent(tt.n); !slices.Equal(got, tt.want) {
				t.Errorf("RecentPasswords(%d) = %v, want %v", tt.n, got, tt.want)
			}
		}
		if u, _ := st.User(ctx, lena); u.PasswordSetAt == nil || !u.PasswordSetAt.Equal(now) || u.MustChangePassword {
			t.Errorf("after a change: set at %v, must change %v", u.PasswordSetAt, u.MustChangePassword)
		}

		open := func() string {
			t.Helper()
			id, _, err := st.OpenSession(ctx, SessionSpec{UserID: lena, Role: domain.RoleEngineer, Method: domain.SignInPassword, KeepOthers: true}, lim, Event{Action: "session.login"})
			check(t, "OpenSession", err)
			return id
		}
		alive := func(id string) bool {
			_, _, err := st.SessionActor(ctx, id, lim)
			return err == nil
		}
		here, there := open(), open()
		_, err := st.SignInFailed(ctx, lena, 1, time.Hour, Event{Actor: "lena", Role: "system", Action: "user.locked"})
		check(t, "SignInFailed", err)
		set("h5", false, HashSessionID(here))
		if !alive(here) || alive(there) {
			t.Errorf("after a change from one session: it alive %v, the other alive %v; want only the changing one", alive(here), alive(there))
		}
		if u, _ := st.User(ctx, lena); u.LockedUntil != nil || u.FailedSignIns != 0 {
			t.Errorf("a new password left the account locked until %v", u.LockedUntil)
		}
		set("h6", true, "") // an admin's reset
		if alive(here) {
			t.Error("a reset left a session open")
		}
		if u, _ := st.User(ctx, lena); !u.MustChangePassword {
			t.Error("a reset does not make the next sign-in change the password")
		}
		if got := recent(3); !slices.Equal(got, []string{"h6", "h5", "h4", "h3"}) {
			t.Errorf("RecentPasswords(3) = %v", got)
		}
	})
}

// TestTOTP: a code's time step is used once, and never one before the last used.
func TestTOTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, _ := storeOnClock(t, dsn, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
		tom := person(t, st, "tom", domain.RoleEngineer, "")
		check(t, "SetTOTPSecret", st.SetTOTPSecret(ctx, tom, "JBSWY3DPEHPK3PXP"))
		check(t, "UseTOTPStep 100", st.UseTOTPStep(ctx, tom, 100))
		for _, step := range []int64{100, 99, 0} {
			if err := st.UseTOTPStep(ctx, tom, step); !errors.Is(err, ErrConflict) {
				t.Errorf("UseTOTPStep(%d) after 100 = %v, want ErrConflict", step, err)
			}
		}
		check(t, "UseTOTPStep 101", st.UseTOTPStep(ctx, tom, 101))

		check(t, "SetTOTP on", st.SetTOTP(ctx, tom, true, Event{Actor: "tom", Role: "engineer", Action: "user.totp_enabled"}))
		if u, _ := st.User(ctx, tom); u.TOTPEnabledAt == nil || u.TOTPSecret == nil || *u.TOTPSecret != "JBSWY3DPEHPK3PXP" {
			t.Errorf("after SetTOTP on: %+v", u)
		}
		if err := st.SetTOTPSecret(ctx, tom, "OTHER"); !errors.Is(err, ErrConflict) {
			t.Errorf("a new secret while the second factor is on = %v, want ErrConflict", err)
		}
		check(t, "SetTOTP off", st.SetTOTP(ctx, tom, false, Event{Actor: "tom", Role: "engineer", Action: "user.totp_disabled"}))
		if u, _ := st.User(ctx, tom); u.TOTPEnabledAt != nil || u.TOTPSecret != nil {
			t.Errorf("after SetTOTP off: %+v", u)
		}
		check(t, "SetTOTPSecret after off", st.SetTOTPSecret(ctx, tom, "OTHER"))
	})
}

// TestSignOnUser: the IdP's sign-in adds the user once, and keeps his IdP grants in step with
// the roles his groups map to; a username of a local account is not the IdP's to take.
func TestSignOnUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, _ := storeOnClock(t, dsn, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
		lim := SessionLimits{Lifetime: 8 * time.Hour, Idle: time.Hour}
		const issuer = "https://idp.example"
		idpEvents := func(action string) []audit.Event {
			t.Helper()
			evs, err := st.AuditEvents(ctx, AuditFilter{Actor: "idp", Action: action})
			check(t, "AuditEvents", err)
			return evs
		}

		u, err := st.SignOnUser(ctx, SSOUser{Issuer: issuer, Subject: "sub-1", Username: "ivy", DisplayName: "Ivy Ng", Roles: []domain.Role{domain.RoleEngineer, domain.RoleApprover}})
		check(t, "SignOnUser first", err)
		if u.Username != "ivy" || !u.SingleSignOn() || *u.OIDCIssuer != issuer || *u.OIDCSubject != "sub-1" || u.PasswordHash != nil || u.CreatedBy != "idp" {
			t.Fatalf("user of a first sign-on = %+v", u)
		}
		if rs, _ := st.HeldRoles(ctx, u.ID); !slices.Equal(rs, []domain.Role{domain.RoleApprover, domain.RoleEngineer}) {
			t.Fatalf("roles after the first sign-on = %v, want approver and engineer", rs)
		}
		gs, err := st.Grants(ctx, u.ID, "")
		check(t, "Grants", err)
		for _, g := range gs {
			if g.Source != GrantByIdP || g.RequestedBy != "idp" || g.State() != GrantActive {
				t.Errorf("IdP grant = %+v (%s)", g, g.State())
			}
		}
		if n := len(idpEvents("user.created")); n != 1 {
			t.Errorf("%d user.created events by idp, want 1", n)
		}
		if n := len(idpEvents("role.granted")); n != 2 {
			t.Errorf("%d role.granted events by idp, want 2", n)
		}
		engineer := activeGrant(t, st, u.ID, domain.RoleEngineer)
		approving, _, err := st.OpenSession(ctx, SessionSpec{UserID: u.ID, Role: domain.RoleApprover, Method: domain.SignInOIDC}, lim, Event{Action: "session.login"})
		check(t, "OpenSession as approver", err)

		again, err := st.SignOnUser(ctx, SSOUser{Issuer: issuer, Subject: "sub-1", Username: "ivy.ng", DisplayName: "Ivy Ng", Roles: []domain.Role{domain.RoleEngineer, domain.RoleAuditor}})
		check(t, "SignOnUser again", err)
		if again.ID != u.ID || again.Username != "ivy" {
			t.Errorf("second sign-on = %+v, want the same user, username kept", again)
		}
		if rs, _ := st.HeldRoles(ctx, u.ID); !slices.Equal(rs, []domain.Role{domain.RoleAuditor, domain.RoleEngineer}) {
			t.Errorf("roles after the groups changed = %v, want auditor and engineer", rs)
		}
		if g := activeGrant(t, st, u.ID, domain.RoleEngineer); g.ID != engineer.ID {
			t.Errorf("a role still mapped was granted anew: %s, was %s", g.ID, engineer.ID)
		}
		ended, err := st.Grants(ctx, u.ID, GrantEnded)
		check(t, "Grants ended", err)
		if len(ended) != 1 || ended[0].Role != domain.RoleApprover || *ended[0].EndedBy != "idp" {
			t.Errorf("ended grants = %+v, want approver ended by idp", ended)
		}
		if _, _, err := st.SessionActor(ctx, approving, lim); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session in a role no longer mapped = %v, want ErrNotFound", err)
		}
		if n := len(idpEvents("role.granted")); n != 3 {
			t.Errorf("%d role.granted events by idp, want 3", n)
		}
		if revoked := idpEvents("role.revoked"); len(revoked) != 1 || revoked[0].SubjectID != ended[0].ID {
			t.Errorf("role.revoked events by idp = %+v", revoked)
		}
		if n := len(idpEvents("user.created")); n != 1 {
			t.Errorf("%d user.created events by idp after a second sign-on, want 1", n)
		}

		_, err = st.CreateUser(ctx, NewUser{Username: "lars", PasswordHash: "h", CreatedBy: "root"}, Event{Actor: "root", Role: "admin", Action: "user.created"})
		check(t, "CreateUser lars", err)
		for _, name := range []string{"lars", "LARS"} {
			if _, err := st.SignOnUser(ctx, SSOUser{Issuer: issuer, Subject: "sub-2", Username: name, Roles: []domain.Role{domain.RoleAdmin}}); !errors.Is(err, ErrConflict) {
				t.Errorf("a sign-on taking the local username %s = %v, want ErrConflict", name, err)
			}
		}
		if lars, _ := st.UserByName(ctx, "lars"); lars.SingleSignOn() {
			t.Error("the local account was taken over")
		}
		if n, _ := st.ActiveAdmins(ctx); n != 0 {
			t.Errorf("a refused sign-on granted admin: %d admins", n)
		}
	})
}

// TestMigratePeople: tokens made before users existed become their holders' (one user per
// name, with a grant of source migration for each role an unrevoked token carried); agent
// credentials stay nobody's; sessions open before the upgrade end.
func TestMigratePeople(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		clk := &setClock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
		st, err := Open(dsn, Options{Now: clk.Now})
		check(t, "Open", err)
		t.Cleanup(func() { st.Close() })
		applied, err := st.MigrateTo(ctx, 14)
		if err != nil || len(applied) != 14 {
			t.Fatalf("MigrateTo(14) applied %v, %v", applied, err)
		}
		exec := func(sql string, args ...any) {
			t.Helper()
			check(t, firstLine(sql), st.DB().Exec(sql, args...).Error)
		}
		t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
		exec(`INSERT INTO vendors (id, name, display_name, created_at) VALUES (?, ?, ?, ?)`, "vnd_m", "siemens", "Siemens AG", t0)
		exec(`INSERT INTO sites (id, name, created_at) VALUES (?, ?, ?)`, "site_m", "Basel Works", t0)
		exec(`INSERT INTO zones (id, site_id, name, sl_t, test_bench, window_spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			"zone_m", "site_m", "Cell 3", 2, false, `{"cron":"0 2 * * 6","duration":"4h","time_zone":"UTC","max_parallel":1}`, t0, t0)
		exec(`INSERT INTO products (id, vendor_id, name, kind) VALUES (?, ?, ?, ?)`, "prd_m", "vnd_m", "simatic-s7-1500", "plc")
		exec(`INSERT INTO assets (id, zone_id, product_id, name, installed_version, criticality, safety_critical, redundancy_group, adapter, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, "ast_m", "zone_m", "prd_m", "PLC-301", "V3.0", 2, false, "", "simulator", t0, t0)
		for _, tk := range []struct {
			id, name, role, vendor, secret string
			created                        time.Time
			revoked                        bool
		}{
			{"tok_erin_eng", "erin", "engineer", "", "otp_m_erin_eng", t0, false},
			{"tok_erin_apr", "erin", "approver", "", "otp_m_erin_apr", t0.Add(time.Hour), false},
			{"tok_erin_saf", "erin", "safety", "", "otp_m_erin_saf", t0.Add(2 * time.Hour), true},
			{"tok_ci", "siemens-ci", "vendor", "vnd_m", "otp_m_ci", t0.Add(3 * time.Hour), false},
			{"tok_bob", "bob", "engineer", "", "otp_m_bob", t0.Add(4 * time.Hour), true},
			{"tok_agent", "agent:agc_m", "agent", "", "otp_m_agent", t0.Add(5 * time.Hour), false},
		} {
			var vendor, revoked any
			if tk.vendor != "" {
				vendor = tk.vendor
			}
			if tk.revoked {
				revoked = tk.created.Add(time.Minute)
			}
			exec(`INSERT INTO tokens (id, name, role, vendor_id, token_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				tk.id, tk.name, tk.role, vendor, HashToken(tk.secret), tk.created, revoked)
		}
		exec(`INSERT INTO agent_credentials (id, asset_id, token_id, created_by, created_at) VALUES (?, ?, ?, ?, ?)`, "agc_m", "ast_m", "tok_agent", "root", t0)
		exec(`INSERT INTO sessions (id_hash, token_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			HashSessionID("old-session"), "tok_erin_eng", t0, t0, clk.Now().Add(time.Hour))

		applied, err = st.Migrate(ctx)
		if err != nil || !slices.Contains(applied, 15) {
			t.Fatalf("Migrate from 14 applied %v, %v", applied, err)
		}

		users, err := st.Users(ctx)
		check(t, "Users", err)
		var names []string
		for _, u := range users {
			names = append(names, u.Username)
			if u.CreatedBy != "migration" || u.PasswordHash != nil || u.SingleSignOn() || u.DisabledAt != nil {
				t.Errorf("migrated user = %+v", u)
			}
		}
		if !slices.Equal(names, []string{"bob", "erin", "siemens-ci"}) {
			t.Fatalf("users after the migration = %v, want bob, erin and siemens-ci (and no agent)", names)
		}
		erin, err := st.UserByName(ctx, "erin")
		check(t, "UserByName erin", err)
		if !erin.CreatedAt.Equal(t0) || erin.VendorID != nil {
			t.Errorf("erin = %+v, want created with her first token, no vendor", erin)
		}
		ci, err := st.UserByName(ctx, "siemens-ci")
		check(t, "UserByName siemens-ci", err)
		if ci.Vendor() != "vnd_m" {
			t.Errorf("siemens-ci's vendor = %q, want vnd_m", ci.Vendor())
		}
		bob, err := st.UserByName(ctx, "bob")
		check(t, "UserByName bob", err)

		for _, tt := range []struct {
			user string
			want []domain.Role
		}{
			{erin.ID, []domain.Role{domain.RoleApprover, domain.RoleEngineer}},
			{ci.ID, []domain.Role{domain.RoleVendor}},
			{bob.ID, nil},
		} {
			gs, err := st.Grants(ctx, tt.user, "")
			check(t, "Grants", err)
			var roles []domain.Role
			for _, g := range gs {
				roles = append(roles, g.Role)
				// Approver and safety roles minted by one admin come over pending, for two admins
				// to confirm; the others come over active.
				want := GrantActive
				if g.Role == domain.RoleApprover || g.Role == domain.RoleSafety {
					want = GrantPending
				}
				if g.Source != "migration" || g.RequestedBy != "migration" || g.State() != want {
					t.Errorf("migrated grant = %+v (%s), want %s", g, g.State(), want)
				}
			}
			slices.Sort(roles)
			if !slices.Equal(roles, tt.want) {
				t.Errorf("grants of %s = %v, want %v (a revoked token grants nothing)", tt.user, roles, tt.want)
			}
		}

		for id, want := range map[string]string{"tok_erin_eng": erin.ID, "tok_erin_apr": erin.ID, "tok_erin_saf": erin.ID, "tok_ci": ci.ID, "tok_bob": bob.ID} {
			if tk := tokenRow(t, st, id); tk.UserID == nil || *tk.UserID != want {
				t.Errorf("token %s belongs to %v, want %s", id, tk.UserID, want)
			}
		}
		if tk := tokenRow(t, st, "tok_agent"); tk.UserID != nil {
			t.Errorf("the agent credential's token belongs to user %s", *tk.UserID)
		}

		for _, tt := range []struct {
			secret string
			want   domain.Actor
			err    error
		}{
			{"otp_m_erin_eng", domain.Actor{Name: "erin", Role: domain.RoleEngineer, UserID: erin.ID}, nil},
			{"otp_m_erin_apr", domain.Actor{}, ErrNotFound}, // until two admins confirm her approver role
			{"otp_m_ci", domain.Actor{Name: "siemens-ci", Role: domain.RoleVendor, VendorID: "vnd_m", UserID: ci.ID}, nil},
			{"otp_m_erin_saf", domain.Actor{}, ErrNotFound},
			{"otp_m_bob", domain.Actor{}, ErrNotFound},
			{"otp_m_agent", domain.Actor{Name: "agent:agc_m", Role: RoleAgent}, nil},
		} {
			if a, err := st.Authenticate(ctx, tt.secret); a != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("Authenticate(%s) after the migration = %+v, %v; want %+v, %v", tt.secret, a, err, tt.want, tt.err)
			}
		}
		if c, err := st.AgentBySecret(ctx, "otp_m_agent"); err != nil || c.ID != "agc_m" {
			t.Errorf("AgentBySecret after the migration = %+v, %v", c, err)
		}
		if mine, err := st.PersonalTokens(ctx, erin.ID); err != nil || len(mine) != 3 {
			t.Errorf("erin's tokens = %+v, %v; want 3", mine, err)
		}
		if all, err := st.PersonalTokens(ctx, ""); err != nil || len(all) != 5 {
			t.Errorf("personal tokens = %d, %v; want 5 (not the agent's)", len(all), err)
		}

		var sessions int64
		check(t, "count sessions", st.DB().Model(&Session{}).Count(&sessions).Error)
		if sessions != 0 {
			t.Errorf("%d sessions survived the upgrade", sessions)
		}
		if _, _, err := st.SessionActor(ctx, "old-session", SessionLimits{Lifetime: time.Hour}); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session from before the upgrade = %v, want ErrNotFound", err)
		}
		// The migrated people go on as any other: a new token, a session.
		_, err = st.CreateToken(ctx, TokenSpec{UserID: erin.ID, Name: "new", Role: domain.RoleEngineer, Secret: "otp_m_new"}, admin)
		check(t, "CreateToken for a migrated user", err)
		if _, _, _, err := signInWithToken(ctx, st, "otp_m_new", SessionLimits{Lifetime: time.Hour}); err != nil {
			t.Errorf("sign in as a migrated user: %v", err)
		}
	})
}

// TestDisabledAdminsDoNotCount: the last-admin rule counts only admins who can act; a disabled
// admin's grant does not keep the plant administrable. A grant that ends revokes the tokens
// made in it, so granting the role again later does not revive them.
func TestDisabledAdminsDoNotCount(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, _ := storeOnClock(t, dsn, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		adam := person(t, st, "adam", domain.RoleAdmin, "")
		ada := person(t, st, "ada", domain.RoleAdmin, "")
		admin := domain.Actor{Name: "adam", Role: domain.RoleAdmin, UserID: adam}
		if _, err := st.DisableUser(ctx, ada, admin, Event{Actor: "adam", Role: "admin", Action: "user.disabled"}); err != nil {
			t.Fatal(err)
		}
		if n, err := st.ActiveAdmins(ctx); err != nil || n != 1 {
			t.Fatalf("ActiveAdmins with one admin disabled = %d, %v; want 1", n, err)
		}
		grants, err := st.Grants(ctx, adam, GrantActive)
		if err != nil || len(grants) != 1 {
			t.Fatalf("adam's grants: %+v, %v", grants, err)
		}
		_, err = st.EndGrant(ctx, grants[0].ID, "adam", Event{Actor: "adam", Role: "admin", Action: "role.revoked"})
		var ref *domain.Refusal
		if !errors.As(err, &ref) || ref.Rule != domain.RuleLastAdmin {
			t.Fatalf("ending the last admin who can act: %v; want rule %s", err, domain.RuleLastAdmin)
		}

		eve := person(t, st, "eve", domain.RoleEngineer, "")
		if _, err := st.CreateToken(ctx, TokenSpec{UserID: eve, Name: "ci", Role: domain.RoleEngineer, Secret: "otp_eve-ci"}, Event{Actor: "eve", Role: "engineer", Action: "token.created"}); err != nil {
			t.Fatal(err)
		}
		eg, err := st.Grants(ctx, eve, GrantActive)
		if err != nil || len(eg) != 1 {
			t.Fatalf("eve's grants: %+v, %v", eg, err)
		}
		if _, err := st.EndGrant(ctx, eg[0].ID, "adam", Event{Actor: "adam", Role: "admin", Action: "role.revoked"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RequestGrant(ctx, GrantRequest{UserID: eve, Role: domain.RoleEngineer, By: "adam", Source: GrantByAdmin, Confirmed: true}, Event{Actor: "adam", Role: "admin", Action: "role.granted"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Authenticate(ctx, "otp_eve-ci"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a token of an ended grant works again after the role is granted again: %v", err)
		}
	})
}

// TestResetSuspendsPrivilegedGrants: an admin's password reset makes him the password's
// issuer; the account's privileged grants go back to pending, asked by him, and only another
// admin confirms them again. A grant that is not privileged stays.
func TestResetSuspendsPrivilegedGrants(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, _ := storeOnClock(t, dsn, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		person(t, st, "adam", domain.RoleAdmin, "")
		person(t, st, "ada", domain.RoleAdmin, "")
		otto := person(t, st, "otto", domain.RoleApprover, "")
		grant(t, st, otto, domain.RoleEngineer)
		if err := st.SetPassword(ctx, otto, "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", true, "", Event{Actor: "adam", Role: "admin", Action: "user.password_reset"}); err != nil {
			t.Fatal(err)
		}
		roles, err := st.HeldRoles(ctx, otto)
		if err != nil || !slices.Equal(roles, []domain.Role{domain.RoleEngineer}) {
			t.Fatalf("otto holds %v, %v after the reset; want engineer only", roles, err)
		}
		pending, err := st.Grants(ctx, otto, GrantPending)
		if err != nil || len(pending) != 1 || pending[0].Role != domain.RoleApprover || pending[0].RequestedBy != "adam" {
			t.Fatalf("pending grants after the reset: %+v, %v", pending, err)
		}
		adam := domain.Actor{Name: "adam", Role: domain.RoleAdmin}
		var ref *domain.Refusal
		if _, err := st.ConfirmGrant(ctx, pending[0].ID, adam, Event{Actor: "adam", Role: "admin", Action: "role.granted"}); !errors.As(err, &ref) || ref.Rule != domain.RuleTwoPerson {
			t.Fatalf("the resetting admin confirms the suspended grant: %v; want rule %s", err, domain.RuleTwoPerson)
		}
		ada := domain.Actor{Name: "ada", Role: domain.RoleAdmin}
		if _, err := st.ConfirmGrant(ctx, pending[0].ID, ada, Event{Actor: "ada", Role: "admin", Action: "role.granted"}); err != nil {
			t.Fatalf("another admin confirms: %v", err)
		}
		if roles, _ := st.HeldRoles(ctx, otto); !slices.Contains(roles, domain.RoleApprover) {
			t.Errorf("otto holds %v after the confirmation", roles)
		}
	})
}
