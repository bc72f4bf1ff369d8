package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// newUserDoc is a user as the users routes answer him; InitialPassword is only in the answer
// that created the account.
type newUserDoc struct {
	ID                 string     `json:"id"`
	Username           string     `json:"username"`
	MustChangePassword bool       `json:"must_change_password"`
	InitialPassword    string     `json:"initial_password"`
	FailedSignIns      int        `json:"failed_sign_ins"`
	Locked             bool       `json:"locked"`
	Grants             []grantDoc `json:"grants"`
}

// addUser has the admin of token add a local account, or fails the test.
func (e *env) addUser(token, username string) newUserDoc {
	e.t.Helper()
	var u struct {
		newUserDoc
		problemDoc
	}
	code := e.call("POST", "/api/v1/users", token, map[string]any{"username": username, "display_name": strings.ToUpper(username[:1]) + username[1:]}, &u)
	if code != http.StatusCreated || u.ID == "" || u.InitialPassword == "" || !u.MustChangePassword || len(u.Grants) != 0 {
		e.t.Fatalf("add %s: %d %+v", username, code, u)
	}
	return u.newUserDoc
}

// ask has the admin of token ask for role to be granted to userID.
func (e *env) ask(token, userID string, role domain.Role) (int, grantDoc, problemDoc) {
	e.t.Helper()
	var g struct {
		grantDoc
		problemDoc
	}
	code := e.call("POST", "/api/v1/users/"+userID+"/grants", token, map[string]any{"role": role}, &g)
	return code, g.grantDoc, g.problemDoc
}

// user answers GET /api/v1/users/{id} for token.
func (e *env) user(token, id string) newUserDoc {
	e.t.Helper()
	var u newUserDoc
	if code := e.call("GET", "/api/v1/users/"+id, token, nil, &u); code != http.StatusOK {
		e.t.Fatalf("GET user %s: %d", id, code)
	}
	return u
}

// auditRead lists the audit events that match query as the auditor reads them.
func (e *env) auditRead(query string) []audit.Event {
	e.t.Helper()
	var evs []audit.Event
	if code := e.list("/api/v1/audit/events?"+query, e.tokens.Auditor, &evs); code != http.StatusOK {
		e.t.Fatalf("GET audit events ?%s: %d", query, code)
	}
	return evs
}

// signInRaw posts a sign-in and returns the status, the headers and the problem document.
func (e *env) signInRaw(body map[string]any) (int, http.Header, problemDoc) {
	e.t.Helper()
	code, hdr, raw := e.raw("POST", "/api/v1/session", nil, body, nil)
	var p problemDoc
	if code != http.StatusCreated {
		if err := json.Unmarshal(raw, &p); err != nil {
			e.t.Fatalf("sign-in answer %d: %s", code, raw)
		}
		if hdr.Get("Set-Cookie") != "" {
			e.t.Errorf("a refused sign-in (%d) set a cookie: %q", code, hdr.Get("Set-Cookie"))
		}
	}
	return code, hdr, p
}

// alive reports the status a session's next request gets.
func (b *browser) alive() int {
	b.e.t.Helper()
	code, _ := b.do("GET", "/api/v1/me", nil, false)
	return code
}

func sortedRoles(roles []string) []string {
	out := slices.Clone(roles)
	slices.Sort(out)
	return out
}

// TestOneAdminCannotApproveAlone is the acceptance point of "people, not tokens": with a
// campaign on the SL-T 4 safety HMI waiting for approval, one admin alone can add people and
// ask for roles, but cannot confirm what he asked for, grant himself a role, or mint himself a
// token in a role he lacks; the person he asked a role for cannot act in it; the campaign stays
// where it is, and every refusal is in the audit trail. A second admin's confirmation is what
// makes the role real.
func TestOneAdminCannotApproveAlone(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 2048))
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "SIS HMI 2", "patch_id": p.ID, "asset_ids": []string{"ast_sis-hmi-02"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	if c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed"); c.Status != "awaiting_approval" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	adam := e.me(e.tokens.Admin)
	decide := func(call func(body, out any) int) (int, problemDoc) {
		var p problemDoc
		return call(map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, &p), p
	}

	// Adam adds nina (an engineer, to become an approver) and sven (to become safety).
	nina := e.addUser(e.tokens.Admin, "nina")
	sven := e.addUser(e.tokens.Admin, "sven")
	if code, g, p := e.ask(e.tokens.Admin, nina.ID, domain.RoleEngineer); code != http.StatusCreated || g.State != "active" {
		t.Fatalf("engineer for nina: %d %+v %+v, want 201 active", code, g, p)
	}
	code, ninaApprover, prob := e.ask(e.tokens.Admin, nina.ID, domain.RoleApprover)
	if code != http.StatusAccepted || ninaApprover.State != "pending" || ninaApprover.RequestedBy != "adam-admin" || ninaApprover.ConfirmedBy != nil {
		t.Fatalf("approver for nina: %d %+v %+v, want 202 pending", code, ninaApprover, prob)
	}
	code, svenSafety, prob := e.ask(e.tokens.Admin, sven.ID, domain.RoleSafety)
	if code != http.StatusAccepted || svenSafety.State != "pending" {
		t.Fatalf("safety for sven: %d %+v %+v, want 202 pending", code, svenSafety, prob)
	}
	// Pia's account is ada's (she issued its password); adam asks for approver for her.
	pia := e.addUser(e.tokens.Admin2, "pia")
	code, piaApprover, prob := e.ask(e.tokens.Admin, pia.ID, domain.RoleApprover)
	if code != http.StatusAccepted || piaApprover.State != "pending" {
		t.Fatalf("approver for pia: %d %+v %+v, want 202 pending", code, piaApprover, prob)
	}

	// Alone, adam confirms nothing he asked for and gives himself nothing.
	t.Run("adam alone", func(t *testing.T) {
		confirm := func(grantID string) func() (int, problemDoc) {
			return func() (int, problemDoc) {
				var p problemDoc
				return e.call("POST", "/api/v1/grants/"+grantID+"/confirm", e.tokens.Admin, nil, &p), p
			}
		}
		askSelf := func(role domain.Role) func() (int, problemDoc) {
			return func() (int, problemDoc) {
				code, _, p := e.ask(e.tokens.Admin, adam.UserID, role)
				return code, p
			}
		}
		for _, tc := range []struct {
			name   string
			do     func() (int, problemDoc)
			status int
			rule   string
		}{
			{"confirming nina's approver grant", confirm(ninaApprover.ID), http.StatusForbidden, domain.RuleTwoPerson},
			{"confirming sven's safety grant", confirm(svenSafety.ID), http.StatusForbidden, domain.RuleTwoPerson},
			{"confirming what he asked for an account he did not make", confirm(piaApprover.ID), http.StatusForbidden, domain.RuleTwoPerson},
			{"granting himself approver", askSelf(domain.RoleApprover), http.StatusForbidden, domain.RuleSelfGrant},
			{"granting himself safety", askSelf(domain.RoleSafety), http.StatusForbidden, domain.RuleSelfGrant},
			{"minting himself an approver token", func() (int, problemDoc) {
				var p problemDoc
				return e.call("POST", "/api/v1/tokens", e.tokens.Admin, map[string]any{"name": "approving", "role": "approver"}, &p), p
			}, http.StatusForbidden, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, p := tc.do()
				if code != tc.status || p.Rule != tc.rule {
					t.Errorf("%d rule %q (%s), want %d rule %q", code, p.Rule, p.Detail, tc.status, tc.rule)
				}
			})
		}
		var pending []grantDoc
		if code := e.list("/api/v1/grants?state=pending", e.tokens.Admin, &pending); code != http.StatusOK {
			t.Fatalf("pending grants: %d", code)
		}
		still := map[string]grantDoc{}
		for _, g := range pending {
			still[g.ID] = g
		}
		for _, want := range []grantDoc{ninaApprover, svenSafety, piaApprover} {
			if g, ok := still[want.ID]; !ok || g.State != "pending" || g.ConfirmedBy != nil || g.Username == "" {
				t.Errorf("grant %s (%s) after adam's attempts: %+v, want still pending", want.ID, want.Role, g)
			}
		}
		if len(pending) != 3 {
			t.Errorf("pending grants = %+v, want nina's, sven's and pia's only", pending)
		}
		if code := e.call("GET", "/api/v1/grants?state=maybe", e.tokens.Admin, nil, nil); code != http.StatusUnprocessableEntity {
			t.Errorf("grants ?state=maybe: %d, want 422", code)
		}
		if roles := e.me(e.tokens.Admin).Roles; !slices.Equal(roles, []string{"admin"}) {
			t.Errorf("adam holds %v after his attempts, want admin only", roles)
		}
	})

	// Nina signs in with her initial password, must change it first, and then holds engineer
	// only: no approver token, no approver session, no decision.
	const ninaPassword = "Kraftwerk-Nord-2026"
	b := e.signInPassword("nina", nina.InitialPassword)
	t.Run("nina without the role", func(t *testing.T) {
		if !b.doc.PasswordChangeRequired || b.doc.Actor.Role != "engineer" || !slices.Equal(b.doc.Roles, []string{"engineer"}) {
			t.Fatalf("nina's first session: %+v, want engineer only, password change required", b.doc)
		}
		var p problemDoc
		if code := b.call("GET", "/api/v1/campaigns/"+c.ID, nil, &p); code != http.StatusForbidden || p.Rule != "password_change_required" {
			t.Errorf("reading the campaign before the password change: %d %+v, want 403 password_change_required", code, p)
		}
		if code := b.call("PUT", "/api/v1/me/password", map[string]string{"current_password": nina.InitialPassword, "new_password": ninaPassword}, &p); code != http.StatusNoContent {
			t.Fatalf("password change: %d %+v", code, p)
		}
		var m meDoc
		if code := b.call("GET", "/api/v1/me", nil, &m); code != http.StatusOK || m.Name != "nina" || !slices.Equal(m.Roles, []string{"engineer"}) {
			t.Errorf("nina's /me: %d %+v, want engineer only", code, m)
		}
		var laptop tokenDoc
		if code := b.call("POST", "/api/v1/tokens", map[string]any{"name": "laptop"}, &laptop); code != http.StatusCreated || laptop.Role != "engineer" {
			t.Fatalf("nina minting a token in her role: %d %+v", code, laptop)
		}
		for _, tc := range []struct {
			name string
			do   func() (int, problemDoc)
		}{
			{"minting an approver token", func() (int, problemDoc) {
				var p problemDoc
				return b.call("POST", "/api/v1/tokens", map[string]any{"name": "approving", "role": "approver"}, &p), p
			}},
			{"switching her session to approver", func() (int, problemDoc) {
				var p problemDoc
				return b.call("PUT", "/api/v1/session", map[string]any{"role": "approver"}, &p), p
			}},
			{"signing in as approver", func() (int, problemDoc) {
				code, _, p := e.signInRaw(map[string]any{"username": "nina", "password": ninaPassword, "role": "approver", "keep_other_sessions": true})
				return code, p
			}},
			{"deciding in her session", func() (int, problemDoc) {
				return decide(func(body, out any) int { return b.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", body, out) })
			}},
			{"deciding with her token", func() (int, problemDoc) {
				return decide(func(body, out any) int {
					return e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", laptop.Token, body, out)
				})
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if code, p := tc.do(); code != http.StatusForbidden {
					t.Errorf("%d %+v, want 403", code, p)
				}
			})
		}
		if b.alive() != http.StatusOK {
			t.Error("nina's session ended on the refusals")
		}
		if got := e.campaign(c.ID); got.Status != "awaiting_approval" {
			t.Errorf("campaign %s after the refusals, want awaiting_approval", got.Status)
		}
	})

	// The auditor finds every refusal through the audit filters.
	t.Run("audit trail", func(t *testing.T) {
		refused := e.auditRead("action=role.grant_refused")
		rules := map[string]int{}
		for _, ev := range refused {
			var d struct {
				Rule string `json:"rule"`
			}
			if err := json.Unmarshal([]byte(ev.Details), &d); err != nil {
				t.Fatal(err)
			}
			if ev.Action != "role.grant_refused" || ev.Actor != "adam-admin" || ev.Role != "admin" || ev.RequestID == "" {
				t.Errorf("refusal event %+v, want adam-admin's role.grant_refused with its request", ev)
			}
			rules[d.Rule]++
		}
		if len(refused) != 5 || rules[domain.RuleTwoPerson] != 3 || rules[domain.RuleSelfGrant] != 2 {
			t.Errorf("role.grant_refused events by rule %v (%d), want two_person 3 and self_grant 2", rules, len(refused))
		}
		if evs := e.auditRead("action=role.grant_refused&actor=nina"); len(evs) != 0 {
			t.Errorf("the actor filter lets through %d events of adam's", len(evs))
		}
		if evs := e.auditRead("action=role.no_such_action"); len(evs) != 0 {
			t.Errorf("an unknown action matches %d events", len(evs))
		}
		var minters []string
		for _, ev := range e.auditRead("action=token.refused") {
			minters = append(minters, ev.Actor)
		}
		if slices.Sort(minters); !slices.Equal(minters, []string{"adam-admin", "nina"}) {
			t.Errorf("token.refused events by %v, want adam-admin and nina", minters)
		}
		denied := 0
		for _, ev := range e.auditRead("action=access.denied&actor=nina") {
			if strings.HasSuffix(ev.SubjectID, "/decisions") {
				denied++
			}
		}
		if denied != 2 {
			t.Errorf("%d refused decisions of nina's in the trail, want 2", denied)
		}
		if evs := e.auditRead("action=session.role_refused&actor=nina"); len(evs) != 1 {
			t.Errorf("session.role_refused events of nina's: %d, want 1", len(evs))
		}
		if evs := e.auditRead("action=session.refused"); len(evs) != 1 || !strings.Contains(evs[0].Details, "nina") {
			t.Errorf("session.refused events: %+v, want nina's sign-in as approver", evs)
		}
	})

	// Two persons, not never: ada confirms, and nina acts as an approver.
	t.Run("a second admin confirms", func(t *testing.T) {
		// Not any second admin: one who issued the account's password knows it, and so is
		// the account's counterpart.
		var p problemDoc
		if code := e.call("POST", "/api/v1/grants/"+piaApprover.ID+"/confirm", e.tokens.Admin2, nil, &p); code != http.StatusForbidden || p.Rule != domain.RuleTwoPerson {
			t.Errorf("ada confirming a role for the account whose password she issued: %d %+v, want 403 two_person", code, p)
		}

		var g grantDoc
		if code := e.call("POST", "/api/v1/grants/"+ninaApprover.ID+"/confirm", e.tokens.Admin2, nil, &g); code != http.StatusOK || g.State != "active" ||
			g.ConfirmedBy == nil || *g.ConfirmedBy != "ada-admin" || g.RequestedBy != "adam-admin" {
			t.Fatalf("ada confirming nina's approver grant: %d %+v", code, g)
		}
		if code := e.call("POST", "/api/v1/grants/"+ninaApprover.ID+"/confirm", e.tokens.Admin2, nil, &p); code != http.StatusConflict {
			t.Errorf("confirming again: %d, want 409", code)
		}
		var m meDoc
		if code := b.call("GET", "/api/v1/me", nil, &m); code != http.StatusOK || !slices.Equal(sortedRoles(m.Roles), []string{"approver", "engineer"}) {
			t.Fatalf("nina's /me after the confirmation: %d %+v, want approver and engineer", code, m)
		}
		var s sessionDoc
		if code := b.call("PUT", "/api/v1/session", map[string]any{"role": "approver"}, &s); code != http.StatusOK || s.Actor.Role != "approver" || s.Actor.Name != "nina" {
			t.Fatalf("nina switching to approver: %d %+v", code, s)
		}
		var res struct {
			Satisfied   bool `json:"satisfied"`
			NeedsSafety bool `json:"needs_safety"`
		}
		if code := b.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, &res); code != http.StatusOK || res.Satisfied || !res.NeedsSafety {
			t.Errorf("nina approving: %d %+v, want accepted, still needing safety", code, res)
		}
		// Sven's safety grant is still pending: the SL-T 4 plan still waits for safety.
		if got := e.campaign(c.ID); got.Status != "awaiting_approval" {
			t.Errorf("campaign %s after one approval, want awaiting_approval", got.Status)
		}
		granted := e.auditRead("action=role.granted&actor=ada-admin")
		if len(granted) != 1 || granted[0].SubjectID != ninaApprover.ID || !strings.Contains(granted[0].Details, `"requested_by":"adam-admin"`) {
			t.Errorf("ada's role.granted events: %+v", granted)
		}
	})
}

// TestLocalAccounts: a new account's initial password must be changed before anything else,
// and a new password meets the policy (each refusal names its rule); failed sign-ins in a row
// lock the account for the lockout period (Retry-After), even against the right password;
// the second factor, once on, is asked at every password sign-in, and a code counts once.
func TestLocalAccounts(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second) // near the wall clock: cookie lifetimes are counted on it
	clk := &testClock{t: start}
	e := newEnv(t, envOptions{now: clk.Now})
	lena := e.addUser(e.tokens.Admin, "lena")
	if code, _, p := e.ask(e.tokens.Admin, lena.ID, domain.RoleEngineer); code != http.StatusCreated {
		t.Fatalf("engineer for lena: %d %+v", code, p)
	}
	const password = "Leitstand-7-Nord"

	t.Run("the initial password must change first", func(t *testing.T) {
		b := e.signInPassword("lena", lena.InitialPassword)
		if !b.doc.PasswordChangeRequired || b.doc.Via != "password" || b.doc.Actor.Name != "lena" {
			t.Fatalf("first sign-in: %+v, want a password session that must change the password", b.doc)
		}
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/assets", nil},
			{"GET", "/api/v1/sessions", nil},
			{"POST", "/api/v1/tokens", map[string]any{"name": "laptop"}},
			{"PUT", "/api/v1/session", map[string]any{"role": "engineer"}},
			{"POST", "/api/v1/me/totp", nil},
		} {
			var p problemDoc
			if code := b.call(req.method, req.path, req.body, &p); code != http.StatusForbidden || p.Rule != "password_change_required" || !strings.Contains(p.Detail, "/api/v1/me/password") {
				t.Errorf("%s %s before the change: %d %+v, want 403 password_change_required", req.method, req.path, code, p)
			}
		}
		var m meDoc
		if code := b.call("GET", "/api/v1/me", nil, &m); code != http.StatusOK || m.Name != "lena" || m.SignIn != "password" {
			t.Errorf("GET /me before the change: %d %+v", code, m)
		}
		change := func(current, next string) (int, problemDoc) {
			var p problemDoc
			return b.call("PUT", "/api/v1/me/password", map[string]string{"current_password": current, "new_password": next}, &p), p
		}
		for _, tc := range []struct{ name, password, rule string }{
			{"too short", "Kurz-7a", domain.RulePasswordLength},
			{"one character class", "nurkleinbuchstaben", domain.RulePasswordClasses},
			{"two character classes", "nurkleinbuchstaben42", domain.RulePasswordClasses},
			{"the username in it", "Ma-LENA-Leitstand-7", domain.RulePasswordName},
			{"the initial password again", lena.InitialPassword, domain.RulePasswordReuse},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if code, p := change(lena.InitialPassword, tc.password); code != http.StatusUnprocessableEntity || p.Rule != tc.rule {
					t.Errorf("%d %+v, want 422 rule %s", code, p, tc.rule)
				}
			})
		}
		if evs := e.auditRead("action=user.password_refused&actor=lena"); len(evs) != 5 {
			t.Errorf("%d user.password_refused events, want 5", len(evs))
		}
		if code, p := change("not-the-password", password); code != http.StatusUnauthorized {
			t.Errorf("a wrong current password: %d %+v, want 401", code, p)
		}
		if code, p := change(lena.InitialPassword, password); code != http.StatusNoContent {
			t.Fatalf("a good new password: %d %+v", code, p)
		}
		if code := b.call("GET", "/api/v1/assets", nil, nil); code != http.StatusOK {
			t.Errorf("GET assets after the change: %d", code)
		}
		var s sessionDoc
		if code := b.call("GET", "/api/v1/session", nil, &s); code != http.StatusOK || !s.SignedIn || s.PasswordChangeRequired {
			t.Errorf("the session after the change: %d %+v", code, s)
		}
		if code, _, _ := e.signInRaw(map[string]any{"username": "lena", "password": lena.InitialPassword}); code != http.StatusUnauthorized {
			t.Errorf("the initial password after the change: %d, want 401", code)
		}
		b = e.signInPassword("lena", password)
		if b.doc.PasswordChangeRequired {
			t.Errorf("a sign-in with the new password must change it again: %+v", b.doc)
		}
		if code, p := change(password, lena.InitialPassword); code != http.StatusUnprocessableEntity || p.Rule != domain.RulePasswordReuse {
			t.Errorf("going back to the initial password: %d %+v, want 422 password_reuse", code, p)
		}
	})

	t.Run("lockout", func(t *testing.T) {
		wrong := map[string]any{"username": "lena", "password": "Falsch-Passwort-1"}
		right := map[string]any{"username": "lena", "password": password}
		for i := 1; i < 5; i++ {
			if code, _, _ := e.signInRaw(wrong); code != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d, want 401", i, code)
			}
		}
		code, hdr, p := e.signInRaw(wrong)
		if code != http.StatusForbidden || hdr.Get("Retry-After") != "900" {
			t.Fatalf("the fifth wrong password in a row: %d Retry-After %q %+v, want 403 with Retry-After 900", code, hdr.Get("Retry-After"), p)
		}
		clk.Set(start.Add(10 * time.Minute))
		code, hdr, p = e.signInRaw(right)
		if code != http.StatusForbidden || hdr.Get("Retry-After") != "300" || !strings.Contains(p.Detail, "locked until") {
			t.Errorf("the right password while locked: %d Retry-After %q %+v, want 403 with Retry-After 300", code, hdr.Get("Retry-After"), p)
		}
		if u := e.user(e.tokens.Admin, lena.ID); !u.Locked {
			t.Errorf("the admin's view of lena: %+v, want locked", u)
		}
		if evs := e.auditRead("action=user.locked"); len(evs) != 1 || evs[0].SubjectID != lena.ID {
			t.Errorf("user.locked events: %+v, want one for lena", evs)
		}
		e.flushRefusals()
		locked := 0
		for _, ev := range e.refused() {
			var d struct {
				Reasons map[string]int `json:"reasons"`
			}
			if err := json.Unmarshal([]byte(ev.Details), &d); err != nil {
				t.Fatal(err)
			}
			locked += d.Reasons["account_locked"]
		}
		if locked != 2 {
			t.Errorf("%d account_locked refusals in the trail, want 2", locked)
		}

		clk.Set(start.Add(15*time.Minute + time.Second))
		if code, _, p := e.signInRaw(right); code != http.StatusCreated {
			t.Fatalf("the right password after the lock: %d %+v", code, p)
		}
		if u := e.user(e.tokens.Admin, lena.ID); u.Locked || u.FailedSignIns != 0 {
			t.Errorf("lena after signing in: %+v, want unlocked with no failures", u)
		}
		// Only failures in a row count: a success in between starts the count again.
		for i := 0; i < 4; i++ {
			e.signInRaw(wrong)
		}
		if code, _, _ := e.signInRaw(right); code != http.StatusCreated {
			t.Fatalf("the right password after 4 failures: %d", code)
		}
		if code, _, _ := e.signInRaw(wrong); code != http.StatusUnauthorized {
			t.Errorf("a wrong password after a success: %d, want 401, not a lock", code)
		}
		e.signInRaw(right)
	})

	t.Run("second factor", func(t *testing.T) {
		b := e.signInPassword("lena", password)
		var key struct {
			Secret string `json:"secret"`
			URI    string `json:"otpauth_uri"`
		}
		if code := b.call("POST", "/api/v1/me/totp", nil, &key); code != http.StatusCreated || key.Secret == "" || !strings.HasPrefix(key.URI, "otpauth://totp/") || !strings.Contains(key.URI, "lena") {
			t.Fatalf("start: %d %+v", code, key)
		}
		for _, path := range []string{"/api/v1/users", "/api/v1/users/" + lena.ID} {
			var raw json.RawMessage
			e.call("GET", path, e.tokens.Admin, nil, &raw)
			if strings.Contains(string(raw), key.Secret) || strings.Contains(string(raw), "$argon2") {
				t.Errorf("GET %s shows the second factor's secret or a password hash: %s", path, raw)
			}
		}
		code := func() string {
			c, err := totp.GenerateCode(key.Secret, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		wrongCode := func(c string) string {
			return c[:5] + strconv.Itoa((int(c[5]-'0')+5)%10)
		}
		now := code()
		var p problemDoc
		// A wrong code counts like a wrong password (toward the lockout), so codes cannot be
		// tried by the thousand.
		if c := b.call("POST", "/api/v1/me/totp/confirm", map[string]string{"code": wrongCode(now)}, &p); c != http.StatusUnauthorized || !strings.Contains(p.Detail, "lockout") {
			t.Errorf("confirm with a wrong code: %d %+v, want 401 counted toward the lockout", c, p)
		}
		if c := b.call("POST", "/api/v1/me/totp/confirm", map[string]string{"code": now}, &p); c != http.StatusNoContent {
			t.Fatalf("confirm: %d %+v", c, p)
		}
		var m meDoc
		if b.call("GET", "/api/v1/me", nil, &m); !m.TOTP {
			t.Errorf("/me after the confirmation: %+v, want totp on", m)
		}
		signIn := func(code string) (int, problemDoc) {
			body := map[string]any{"username": "lena", "password": password}
			if code != "" {
				body["totp"] = code
			}
			c, _, p := e.signInRaw(body)
			return c, p
		}
		if c, p := signIn(""); c != http.StatusUnauthorized || p.Rule != "totp_required" {
			t.Errorf("without a code: %d %+v, want 401 totp_required", c, p)
		}
		if c, p := signIn(wrongCode(now)); c != http.StatusUnauthorized || p.Rule != "" {
			t.Errorf("with a wrong code: %d %+v, want 401", c, p)
		}
		if c, p := signIn(now); c != http.StatusUnauthorized {
			t.Errorf("with the code the confirmation used: %d %+v, want 401", c, p)
		}
		clk.Set(clk.Now().Add(30 * time.Second))
		next := code()
		if c, p := signIn(next); c != http.StatusCreated {
			t.Fatalf("with the current code: %d %+v", c, p)
		}
		if c, p := signIn(next); c != http.StatusUnauthorized {
			t.Errorf("the same code again: %d %+v, want 401", c, p)
		}
		// A lost device: another admin switches the second factor off; never an admin his own.
		adam := e.me(e.tokens.Admin)
		if c := e.call("DELETE", "/api/v1/users/"+adam.UserID+"/totp", e.tokens.Admin, nil, &p); c != http.StatusForbidden || p.Rule != domain.RuleSelfGrant {
			t.Errorf("an admin switching off his own second factor: %d %+v, want 403 self_grant", c, p)
		}
		if c := e.call("DELETE", "/api/v1/users/"+lena.ID+"/totp", e.tokens.Admin, nil, nil); c != http.StatusNoContent {
			t.Fatalf("the admin switching lena's second factor off: %d", c)
		}
		if c, p := signIn(""); c != http.StatusCreated {
			t.Errorf("without a code after the reset: %d %+v", c, p)
		}
	})
}

// TestSessionsPerPerson: a person's new sign-in ends his other sessions unless he keeps them,
// and he can end one or all; a session acts in one role he holds and switches among them;
// revoking a grant ends the sessions and tokens acting in it at their next request; idle time
// and lifetime end a session; the last admin grant cannot be ended.
func TestSessionsPerPerson(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second) // near the wall clock: cookie lifetimes are counted on it
	clk := &testClock{t: start}
	e := newEnv(t, envOptions{now: clk.Now})
	piaID, piaEngineer := e.person("pia", domain.RoleEngineer, "")
	auditorGrant := e.grantRole(piaID, domain.RoleAuditor)
	pw := e.tokens.Password
	with := func(extra map[string]any) map[string]any {
		body := map[string]any{"username": "pia", "password": pw}
		for k, v := range extra {
			body[k] = v
		}
		return body
	}

	t.Run("a new sign-in ends the others unless kept", func(t *testing.T) {
		first := e.signInPassword("pia", pw)
		if first.doc.Actor.Role != "engineer" || !slices.Equal(sortedRoles(first.doc.Roles), []string{"auditor", "engineer"}) {
			t.Fatalf("pia's session: %+v, want engineer (the first role held) of auditor and engineer", first.doc)
		}
		second := e.signInPassword("pia", pw)
		if first.alive() != http.StatusUnauthorized || second.alive() != http.StatusOK {
			t.Fatalf("after a second sign-in: first %d, second %d; want 401, 200", first.alive(), second.alive())
		}
		kept, code, raw := e.openSession(with(map[string]any{"keep_other_sessions": true}))
		if kept == nil {
			t.Fatalf("keeping the others: %d %s", code, raw)
		}
		if second.alive() != http.StatusOK || kept.alive() != http.StatusOK {
			t.Fatalf("after a sign-in that keeps the others: second %d, kept %d", second.alive(), kept.alive())
		}
		var list struct {
			Items []struct {
				ID      string `json:"id"`
				UserID  string `json:"user_id"`
				Role    string `json:"role"`
				Method  string `json:"method"`
				Current bool   `json:"current"`
			} `json:"items"`
		}
		code, body := kept.do("GET", "/api/v1/sessions", nil, false)
		if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil || len(list.Items) != 2 {
			t.Fatalf("pia's sessions: %d %s", code, body)
		}
		for _, s := range list.Items {
			if s.UserID != piaID || s.Method != "password" || s.Current != (s.ID == store.HashSessionID(kept.cookie.Value)) {
				t.Errorf("listed session %+v", s)
			}
		}
		for _, b := range []*browser{second, kept} {
			if strings.Contains(string(body), b.cookie.Value) {
				t.Fatalf("the session list shows a session id: %s", body)
			}
		}
		// One session of his own ends; another person's is not his to end.
		if code := e.call("DELETE", "/api/v1/sessions/"+store.HashSessionID(kept.cookie.Value), e.tokens.Engineer, nil, nil); code != http.StatusNotFound || kept.alive() != http.StatusOK {
			t.Errorf("erin ending pia's session: %d, want 404 and the session alive", code)
		}
		if code := kept.call("DELETE", "/api/v1/sessions/"+store.HashSessionID(second.cookie.Value), nil, nil); code != http.StatusNoContent {
			t.Fatalf("ending her other session: %d", code)
		}
		if second.alive() != http.StatusUnauthorized || kept.alive() != http.StatusOK {
			t.Errorf("after ending one: second %d, kept %d; want 401, 200", second.alive(), kept.alive())
		}
		// Sign out everywhere.
		other, _, _ := e.openSession(with(map[string]any{"keep_other_sessions": true}))
		var out struct {
			Ended int `json:"sessions_ended"`
		}
		if code := kept.call("DELETE", "/api/v1/sessions", nil, &out); code != http.StatusOK || out.Ended != 2 {
			t.Errorf("signing out everywhere: %d %+v, want 2 ended", code, out)
		}
		if kept.alive() != http.StatusUnauthorized || other.alive() != http.StatusUnauthorized {
			t.Errorf("after signing out everywhere: %d %d, want 401 401", kept.alive(), other.alive())
		}
		if evs := e.auditRead("action=session.logout_everywhere&actor=pia"); len(evs) != 1 {
			t.Errorf("%d session.logout_everywhere events, want 1", len(evs))
		}
	})

	t.Run("a session acts in one role she holds", func(t *testing.T) {
		b := e.signInPassword("pia", pw)
		var p problemDoc
		if code := b.call("POST", "/api/v1/sites", map[string]any{}, &p); code != http.StatusUnprocessableEntity {
			t.Fatalf("an engineer's change: %d %+v, want the handler's 422", code, p)
		}
		var s sessionDoc
		if code := b.call("PUT", "/api/v1/session", map[string]any{"role": "auditor"}, &s); code != http.StatusOK || s.Actor.Role != "auditor" {
			t.Fatalf("switching to auditor: %d %+v", code, s)
		}
		if code := b.call("POST", "/api/v1/sites", map[string]any{}, &p); code != http.StatusForbidden {
			t.Errorf("an auditor's change: %d, want 403", code)
		}
		if code := b.call("PUT", "/api/v1/session", map[string]any{"role": "approver"}, &p); code != http.StatusForbidden {
			t.Errorf("switching to a role she does not hold: %d %+v, want 403", code, p)
		}
		if code := b.call("PUT", "/api/v1/session", map[string]any{"role": "king"}, &p); code != http.StatusUnprocessableEntity {
			t.Errorf("switching to no role: %d, want 422", code)
		}
		var m meDoc
		if b.call("GET", "/api/v1/me", nil, &m); m.Role != "auditor" {
			t.Errorf("after the refused switches the session acts as %s, want auditor", m.Role)
		}
		if code := e.call("PUT", "/api/v1/session", piaEngineer, map[string]any{"role": "auditor"}, nil); code != http.StatusBadRequest {
			t.Errorf("switching the role of a bearer token: %d, want 400", code)
		}
		if code, _, p := e.signInRaw(map[string]any{"token": piaEngineer, "role": "auditor", "keep_other_sessions": true}); code != http.StatusUnprocessableEntity {
			t.Errorf("a token sign-in in another role than the token's: %d %+v, want 422", code, p)
		}
		if b2, code, raw := e.openSession(with(map[string]any{"role": "auditor"})); b2 == nil || b2.doc.Actor.Role != "auditor" {
			t.Errorf("signing in as auditor: %d %s", code, raw)
		}
	})

	t.Run("revoking a grant ends what acts in it", func(t *testing.T) {
		b, code, raw := e.openSession(with(map[string]any{"role": "auditor"}))
		if b == nil {
			t.Fatalf("signing in as auditor: %d %s", code, raw)
		}
		var tok tokenDoc
		if code := b.call("POST", "/api/v1/tokens", map[string]any{"name": "audit-laptop"}, &tok); code != http.StatusCreated || tok.Role != "auditor" {
			t.Fatalf("minting a token in the acting role: %d %+v", code, tok)
		}
		if m := e.me(tok.Token); m.Role != "auditor" || m.Name != "pia" {
			t.Fatalf("the auditor token acts as %+v", m)
		}
		var g grantDoc
		if code := e.call("DELETE", "/api/v1/grants/"+auditorGrant.ID, e.tokens.Admin, nil, &g); code != http.StatusOK || g.State != "ended" || g.EndedBy == nil || *g.EndedBy != "adam-admin" {
			t.Fatalf("revoking pia's auditor grant: %d %+v", code, g)
		}
		if code := e.call("GET", "/api/v1/me", tok.Token, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("the token in the revoked role: %d, want 401", code)
		}
		if b.alive() != http.StatusUnauthorized {
			t.Errorf("the session in the revoked role: %d, want 401", b.alive())
		}
		if m := e.me(piaEngineer); m.Role != "engineer" || !slices.Equal(m.Roles, []string{"engineer"}) {
			t.Errorf("pia's engineer token after the revocation: %+v", m)
		}
		if code, _, _ := e.signInRaw(with(map[string]any{"role": "auditor"})); code != http.StatusForbidden {
			t.Errorf("signing in as auditor after the revocation: %d, want 403", code)
		}
		if code := e.call("DELETE", "/api/v1/grants/"+auditorGrant.ID, e.tokens.Admin, nil, nil); code != http.StatusConflict {
			t.Errorf("revoking again: %d, want 409", code)
		}
		// Granting the role again does not revive what was made or opened in it before.
		e.grantRole(piaID, domain.RoleAuditor)
		if code := e.call("GET", "/api/v1/me", tok.Token, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("the old auditor token after a new grant: %d, want 401", code)
		}
		if b.alive() != http.StatusUnauthorized {
			t.Errorf("the old auditor session after a new grant: %d, want 401", b.alive())
		}
	})

	t.Run("idle time and lifetime end a session", func(t *testing.T) {
		b := e.signInPassword("pia", pw)
		for i := range 3 {
			clk.Set(clk.Now().Add(29 * time.Minute))
			if code := b.alive(); code != http.StatusOK {
				t.Fatalf("after %d quiet spells of 29 minutes: %d, want 200", i+1, code)
			}
		}
		clk.Set(clk.Now().Add(30 * time.Minute))
		if code := b.alive(); code != http.StatusUnauthorized {
			t.Errorf("after 30 idle minutes: %d, want 401", code)
		}
		b = e.signInPassword("pia", pw)
		opened := clk.Now()
		for clk.Now().Add(25 * time.Minute).Before(opened.Add(8 * time.Hour)) {
			clk.Set(clk.Now().Add(25 * time.Minute))
			if code := b.alive(); code != http.StatusOK {
				t.Fatalf("%s after sign-in, in use: %d, want 200", clk.Now().Sub(opened), code)
			}
		}
		clk.Set(opened.Add(8 * time.Hour))
		if code := b.alive(); code != http.StatusUnauthorized {
			t.Errorf("8 hours after sign-in: %d, want 401", code)
		}
		var s sessionDoc
		if code := b.call("GET", "/api/v1/session", nil, &s); code != http.StatusOK || s.SignedIn {
			t.Errorf("GET session after the end: %d %+v, want signed out", code, s)
		}
	})

	t.Run("the last admin grant stays", func(t *testing.T) {
		var active []grantDoc
		if code := e.list("/api/v1/grants?state=active", e.tokens.Admin2, &active); code != http.StatusOK {
			t.Fatalf("active grants: %d", code)
		}
		admins := map[string]string{}
		for _, g := range active {
			if g.Role == "admin" {
				admins[g.Username] = g.ID
			}
		}
		if len(admins) != 2 || admins["adam-admin"] == "" || admins["ada-admin"] == "" {
			t.Fatalf("active admin grants: %v", admins)
		}
		if code := e.call("DELETE", "/api/v1/grants/"+admins["adam-admin"], e.tokens.Admin2, nil, nil); code != http.StatusOK {
			t.Fatalf("ada revoking adam's admin grant: %d", code)
		}
		if code := e.call("GET", "/api/v1/me", e.tokens.Admin, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("adam's admin token after the revocation: %d, want 401", code)
		}
		var p problemDoc
		if code := e.call("DELETE", "/api/v1/grants/"+admins["ada-admin"], e.tokens.Admin2, nil, &p); code != http.StatusForbidden || p.Rule != domain.RuleLastAdmin {
			t.Errorf("ending the last admin grant: %d %+v, want 403 last_admin", code, p)
		}
		if code := e.call("GET", "/api/v1/me", e.tokens.Admin2, nil, nil); code != http.StatusOK {
			t.Errorf("the last admin after the refusal: %d", code)
		}
	})
}

// TestTokenScope: a person mints tokens only for himself and only in a role he holds; each
// token acts in its role only, a vendor's carries his vendor; listings never show a secret or
// a hash, which only the answer that created the token carries.
func TestTokenScope(t *testing.T) {
	e := newEnv(t, envOptions{})
	erin := e.me(e.tokens.Engineer)

	var created json.RawMessage
	if code := e.call("POST", "/api/v1/tokens", e.tokens.Engineer, map[string]any{"name": "laptop"}, &created); code != http.StatusCreated {
		t.Fatalf("erin minting a token: %d %s", code, created)
	}
	var laptop tokenDoc
	if err := json.Unmarshal(created, &laptop); err != nil {
		t.Fatal(err)
	}
	if laptop.Role != "engineer" || laptop.UserID != erin.UserID || !strings.HasPrefix(laptop.Token, "otp_") || !strings.Contains(string(created), laptop.Token) {
		t.Fatalf("the creation answer: %s, want erin's engineer token with its secret", created)
	}
	for _, role := range []string{"vendor", "approver", "safety", "auditor", "admin"} {
		var p problemDoc
		if code := e.call("POST", "/api/v1/tokens", e.tokens.Engineer, map[string]any{"name": "as-" + role, "role": role}, &p); code != http.StatusForbidden || !strings.Contains(p.Detail, "does not hold") {
			t.Errorf("erin minting a %s token: %d %+v, want 403", role, code, p)
		}
	}
	if code := e.call("POST", "/api/v1/tokens", e.tokens.Admin, map[string]any{"name": "ops", "role": "admin"}, nil); code != http.StatusCreated {
		t.Errorf("adam minting an admin token: %d", code)
	}
	if code := e.call("POST", "/api/v1/tokens", e.tokens.Admin, map[string]any{"name": "as-engineer", "role": "engineer"}, nil); code != http.StatusForbidden {
		t.Errorf("adam minting an engineer token he has no role for: %d, want 403", code)
	}
	if evs := e.auditRead("action=token.created&actor=erin-engineer"); len(evs) != 1 || !strings.Contains(evs[0].Details, `"role":"engineer"`) || strings.Contains(evs[0].Details, "otp_") {
		t.Errorf("erin's token.created events: %+v", evs)
	}

	t.Run("a vendor's token carries his vendor", func(t *testing.T) {
		ci := e.mintToken(e.tokens.Vendor, "ci", "")
		if ci.Role != "vendor" || ci.VendorID != "vnd_acme" {
			t.Errorf("acme's new token: %+v, want vendor of vnd_acme", ci)
		}
		if m := e.me(ci.Token); m.Name != "acme-release" || m.VendorID != "vnd_acme" {
			t.Errorf("acme's new token acts as %+v", m)
		}
		if code := e.call("GET", "/api/v1/patches", ci.Token, nil, nil); code != http.StatusOK {
			t.Errorf("acme's new token reading patches: %d", code)
		}
		if code := e.call("POST", "/api/v1/tokens", e.tokens.Vendor, map[string]any{"name": "plant", "role": "engineer"}, nil); code != http.StatusForbidden {
			t.Errorf("a vendor minting an engineer token: %d, want 403", code)
		}
	})

	t.Run("one token per role held", func(t *testing.T) {
		quinnID, quinn := e.person("quinn", domain.RoleEngineer, "")
		e.grantRole(quinnID, domain.RoleAuditor)
		if code := e.call("POST", "/api/v1/tokens", quinn, map[string]any{"name": "audit", "role": "auditor"}, nil); code != http.StatusForbidden {
			t.Errorf("quinn's engineer token minting an auditor token: %d, want 403 (a token mints only in its own role)", code)
		}
		// A session opened with the engineer token acts in that role only.
		viaToken, code, raw := e.openSession(map[string]any{"token": quinn, "keep_other_sessions": true})
		if viaToken == nil {
			t.Fatalf("quinn signing in with his token: %d %s", code, raw)
		}
		if code := viaToken.call("PUT", "/api/v1/session", map[string]any{"role": "auditor"}, nil); code != http.StatusForbidden {
			t.Errorf("a token session switching to another role: %d, want 403", code)
		}
		if code := viaToken.call("POST", "/api/v1/tokens", map[string]any{"name": "audit", "role": "auditor"}, nil); code != http.StatusForbidden {
			t.Errorf("a token session minting in another role: %d, want 403", code)
		}
		aud := e.mintInRole("quinn", "audit", "auditor")
		eng := e.mintToken(quinn, "plant", "engineer")
		if a, g := e.me(aud.Token), e.me(eng.Token); a.Role != "auditor" || g.Role != "engineer" || a.UserID != quinnID || g.UserID != quinnID {
			t.Fatalf("quinn's tokens act as %+v and %+v", a, g)
		}
		if code := e.call("POST", "/api/v1/sites", aud.Token, map[string]any{}, nil); code != http.StatusForbidden {
			t.Errorf("the auditor token changing a site: %d, want 403", code)
		}
		if code := e.call("POST", "/api/v1/sites", eng.Token, map[string]any{}, nil); code != http.StatusUnprocessableEntity {
			t.Errorf("the engineer token changing a site: %d, want the handler's 422", code)
		}
	})

	t.Run("no secret or hash outside the creation answer", func(t *testing.T) {
		var secrets []string
		for _, tok := range []string{laptop.Token, e.tokens.Engineer, e.tokens.Admin, e.tokens.Vendor} {
			secrets = append(secrets, tok, store.HashToken(tok))
		}
		for _, who := range []string{e.tokens.Engineer, e.tokens.Admin, e.tokens.Vendor} {
			list, raw := e.listRaw(who)
			if len(list) == 0 {
				t.Errorf("an empty token list")
			}
			for _, bad := range append([]string{"token_hash", "otp_", `"token":`, "hash"}, secrets...) {
				if strings.Contains(raw, bad) {
					t.Errorf("a token list shows %q: %s", bad, raw)
				}
			}
		}
		for _, path := range []string{"/api/v1/users", "/api/v1/users/" + erin.UserID, "/api/v1/me"} {
			var raw json.RawMessage
			e.call("GET", path, e.tokens.Admin, nil, &raw)
			for _, bad := range []string{"password_hash", "$argon2", "totp_secret", "token_hash"} {
				if strings.Contains(string(raw), bad) {
					t.Errorf("GET %s shows %q: %s", path, bad, raw)
				}
			}
		}
	})

	t.Run("a person's own account only", func(t *testing.T) {
		adam := e.me(e.tokens.Admin)
		if u := e.user(e.tokens.Engineer, erin.UserID); u.Username != "erin-engineer" {
			t.Errorf("erin reading herself: %+v", u)
		}
		if code := e.call("GET", "/api/v1/users/"+adam.UserID, e.tokens.Engineer, nil, nil); code != http.StatusNotFound {
			t.Errorf("erin reading adam's account: %d, want 404", code)
		}
		var own []tokenDoc
		e.list("/api/v1/tokens", e.tokens.Admin, &own)
		var adams string
		for _, tk := range own {
			if tk.UserID == adam.UserID {
				adams = tk.ID
			}
		}
		if code := e.call("DELETE", "/api/v1/tokens/"+adams, e.tokens.Engineer, nil, nil); code != http.StatusNotFound {
			t.Errorf("erin revoking adam's token: %d, want 404", code)
		}
		if code := e.call("DELETE", "/api/v1/tokens/"+laptop.ID, e.tokens.Admin, nil, nil); code != http.StatusOK {
			t.Errorf("adam revoking erin's token: %d", code)
		}
		if code := e.call("GET", "/api/v1/me", laptop.Token, nil, nil); code != http.StatusUnauthorized {
			t.Errorf("erin's revoked token: %d, want 401", code)
		}
	})
}
