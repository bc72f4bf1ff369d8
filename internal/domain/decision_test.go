package domain

import (
	"slices"
	"testing"
)

func TestDecisionTransitions(t *testing.T) {
	for _, tt := range []struct {
		from, to DecisionState
		ok       bool
	}{
		{DecisionPending, DecisionActive, true},
		{DecisionPending, DecisionSuperseded, true},
		{DecisionPending, DecisionExpired, false},
		{DecisionActive, DecisionExpired, true},
		{DecisionActive, DecisionSuperseded, true},
		{DecisionActive, DecisionPending, false},
		{DecisionSuperseded, DecisionActive, false},
		{DecisionExpired, DecisionActive, false},
	} {
		if got := tt.from.CanMoveTo(tt.to); got != tt.ok {
			t.Errorf("%s → %s allowed = %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
	for _, s := range DecisionStates() {
		if s.Counts() != (s == DecisionActive) {
			t.Errorf("%s counts = %v", s, s.Counts())
		}
	}
}

func TestCheckDecision(t *testing.T) {
	const today = "2026-03-01"
	for _, tt := range []struct {
		name   string
		kind   DecisionKind
		f      DecisionFields
		fields []string
	}{
		{"patch", DecisionPatch, DecisionFields{}, nil},
		{"unknown kind", "later", DecisionFields{}, []string{"kind"}},
		{"mitigation", DecisionMitigate, DecisionFields{ControlKind: ControlFirewallRule, Description: "deny 443", Owner: "ot-sec", Evidence: "CHG-1", ReviewOn: "2026-04-01"}, nil},
		{"mitigation reviewed in the past", DecisionMitigate, DecisionFields{ControlKind: ControlOther, Description: "d", Owner: "o", Evidence: "e", ReviewOn: "2026-02-28"}, []string{"review_date"}},
		{"mitigation reviewed in two years", DecisionMitigate, DecisionFields{ControlKind: ControlOther, Description: "d", Owner: "o", Evidence: "e", ReviewOn: "2028-03-01"}, []string{"review_date"}},
		{"empty mitigation", DecisionMitigate, DecisionFields{}, []string{"control_kind", "description", "owner", "evidence", "review_date"}},
		{"acceptance for a year", DecisionAccept, DecisionFields{Justification: "j", Approver: "olga", ExpiresOn: "2027-03-01"}, nil},
		{"acceptance for a year and a day", DecisionAccept, DecisionFields{Justification: "j", Approver: "olga", ExpiresOn: "2027-03-02"}, []string{"expires_on"}},
		{"acceptance expiring today", DecisionAccept, DecisionFields{Justification: "j", Approver: "olga", ExpiresOn: today}, []string{"expires_on"}},
		{"acceptance with a control", DecisionAccept, DecisionFields{Justification: "j", Approver: "olga", ExpiresOn: "2026-05-01", Owner: "x"}, []string{"owner"}},
		{"not affected", DecisionNotAffected, DecisionFields{VEXJustification: VEXComponentNotPresent, ImpactStatement: "no web server"}, nil},
		{"not affected without VEX", DecisionNotAffected, DecisionFields{VEXJustification: "fine", ImpactStatement: " "}, []string{"vex_justification", "impact_statement"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := &ValidationError{What: "decision"}
			CheckDecision(v, tt.kind, tt.f, today)
			var got []string
			for _, f := range v.Fields {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("failing fields %v, want %v (%v)", got, tt.fields, v.Fields)
			}
		})
	}
}

func TestCheckAcceptanceApprover(t *testing.T) {
	ed := Actor{Name: "ed", Role: RoleEngineer, UserID: "usr_ed"}
	for _, tt := range []struct {
		name     string
		approver Actor
		named    string
		rule     string
	}{
		{"the named approver", Actor{Name: "olga", Role: RoleApprover, UserID: "usr_olga"}, "olga", ""},
		{"the requester as approver", Actor{Name: "ed", Role: RoleApprover, UserID: "usr_ed"}, "", "requester"},
		{"the requester under another name", Actor{Name: "ed-ops", Role: RoleApprover, UserID: "usr_ed"}, "", "requester"},
		{"a safety officer", Actor{Name: "sam", Role: RoleSafety, UserID: "usr_sam"}, "", "role"},
		{"an approver not named", Actor{Name: "ann", Role: RoleApprover, UserID: "usr_ann"}, "olga", "approver"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAcceptanceApprover(ed, tt.approver, tt.named)
			var r *Refusal
			switch {
			case tt.rule == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.rule != "" && (!IsRefusal(err) || !asRefusal(err, &r) || r.Rule != tt.rule):
				t.Errorf("got %v, want rule %s", err, tt.rule)
			}
		})
	}
}

func asRefusal(err error, r **Refusal) bool {
	x, ok := err.(*Refusal)
	*r = x
	return ok
}

// FuzzCheckDecision: whatever a request holds, checking it never panics, and a decision it
// accepts has a known kind and, for an acceptance, an expiry within a year.
func FuzzCheckDecision(f *testing.F) {
	f.Add("accept", "j", "olga", "2027-03-01", "", "")
	f.Add("mitigate", "", "", "", "firewall_rule", "2026-03-02")
	f.Add("not_affected", "", "", "", "", "")
	f.Add("accept", "j", "olga", "2027-02-29", "", "")
	f.Fuzz(func(t *testing.T, kind, justification, approver, expires, control, review string) {
		v := &ValidationError{What: "decision"}
		k := DecisionKind(kind)
		fields := DecisionFields{Justification: justification, Approver: approver, ExpiresOn: expires, ControlKind: ControlKind(control), ReviewOn: review}
		if k == DecisionMitigate {
			fields.Description, fields.Owner, fields.Evidence = "d", "o", "e"
		}
		CheckDecision(v, k, fields, "2026-03-01")
		if v.Err() == nil && (!k.Valid() || (k == DecisionAccept && (expires <= "2026-03-01" || expires > "2027-03-01"))) {
			t.Fatalf("accepted %q with expiry %q", kind, expires)
		}
	})
}
