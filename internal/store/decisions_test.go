package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestDecisions records each kind of decision on an advisory on both databases: a bad one is
// refused with every field named and nothing stored; a mitigation files the advisory's NERC
// mitigation plan (recording its evaluation) so the compliance report counts the assets as
// mitigated and a not-affected statement its assets as not applicable; a newer decision
// supersedes the older for its assets and keeps it; a risk acceptance waits for an approver
// other than its requester, then counts until its expiry day.
func TestDecisions(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		clk := &setClock{t: time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)}
		st, err := Open(dsn, Options{Now: clk.Now})
		check(t, "Open", err)
		t.Cleanup(func() { st.Close() })
		_, err = st.Migrate(ctx)
		check(t, "Migrate", err)
		f := seedCompliance(t, st)
		eng := Event{Actor: "ed.eng", Role: "engineer"}
		before := auditCount(t, st)
		tick := func() { clk.Set(clk.Now().Add(time.Minute)) }

		// Refused: every failing field is named, nothing is stored.
		bad := Decision{AdvisoryID: f.adv.ID, Kind: "not_affected", VEXJustification: "it is fine", Owner: "x", AssetIDs: nil}
		var v *domain.ValidationError
		if err := st.CreateDecision(ctx, &bad, "usr_ed", eng); !errors.As(err, &v) {
			t.Fatalf("bad decision: %v", err)
		} else {
			var fields []string
			for _, fe := range v.Fields {
				fields = append(fields, fe.Field)
			}
			if want := []string{"owner", "vex_justification", "impact_statement", "asset_ids"}; !slices.Equal(fields, want) {
				t.Fatalf("refused fields %v, want %v (%v)", fields, want, err)
			}
		}
		accTooLong := Decision{AdvisoryID: f.adv.ID, Kind: "accept", Justification: "j", Approver: "olga", ExpiresOn: "2027-02-11", AssetIDs: []string{f.plc1.ID}}
		if err := st.CreateDecision(ctx, &accTooLong, "usr_ed", eng); !errors.As(err, &v) || v.Fields[0].Field != "expires_on" || !strings.Contains(v.Fields[0].Message, "at most a year") {
			t.Fatalf("acceptance longer than a year: %v", err)
		}
		if n := auditCount(t, st); n != before {
			t.Fatalf("refused decisions wrote %d events", n-before)
		}

		tick()
		// Not affected, for PLC-301.
		na := Decision{AdvisoryID: f.adv.ID, Kind: "not_affected", VEXJustification: string(domain.VEXVulnerableCodeNotInExecutePath),
			ImpactStatement: "the web server is disabled in the PLC's configuration", AssetIDs: []string{f.plc1.ID}}
		check(t, "not affected", st.CreateDecision(ctx, &na, "usr_ed", eng))
		if na.State != "active" || na.TrackingID != "ICSA-26-031-01" || na.AssetCount != 1 {
			t.Fatalf("not affected = %+v", na)
		}

		rep, err := st.Compliance(ctx, ComplianceInput{AdvisoryAssets: map[string][]string{f.adv.ID: {f.plc1.ID, f.plc2.ID}}})
		check(t, "Compliance", err)
		if it := itemOf(t, rep, f.adv.ID); it.Assets.NotApplicable != 1 || it.Assets.Pending != 1 {
			t.Fatalf("compliance with PLC-301 not affected = %+v", it.Assets)
		}

		tick()
		// Mitigate PLC-301 and PLC-302: supersedes the not-affected statement, files the plan.
		mit := Decision{AdvisoryID: f.adv.ID, Kind: "mitigate", ControlKind: "firewall_rule", Description: "deny TCP/443 to the PLCs at the cell conduit",
			Owner: "ot-security", Evidence: "CHG-4711", ReviewOn: "2026-03-20", AssetIDs: []string{f.plc2.ID, f.plc1.ID, f.plc1.ID},
			Group: DecisionGroup{By: GroupFilter, ZoneID: f.plc1.ZoneID}}
		check(t, "mitigate", st.CreateDecision(ctx, &mit, "usr_ed", eng))
		if mit.MitigationPlanID == "" || mit.AssetCount != 2 {
			t.Fatalf("mitigation = %+v", mit)
		}
		plan, err := st.MitigationPlan(ctx, mit.MitigationPlanID)
		check(t, "MitigationPlan", err)
		if plan.SubjectID != f.adv.ID || plan.DueOn != "2026-03-20" || plan.Owner != "ot-security" || !strings.Contains(plan.CompensatingControls[0], "firewall_rule") {
			t.Fatalf("plan = %+v", plan)
		}
		rep, err = st.Compliance(ctx, ComplianceInput{AdvisoryAssets: map[string][]string{f.adv.ID: {f.plc1.ID, f.plc2.ID}}})
		check(t, "Compliance", err)
		it := itemOf(t, rep, f.adv.ID)
		if it.Evaluation == nil || it.Evaluation.Decision != DecisionMitigate || it.ActionStatus != ActionDone || it.Assets.Mitigated != 2 {
			t.Fatalf("compliance of the mitigated advisory = %+v", it)
		}
		old, err := st.Decision(ctx, na.ID)
		check(t, "Decision", err)
		if old.State != "superseded" || old.SupersededBy != mit.ID || !slices.Equal(old.AssetIDs, []string{f.plc1.ID}) {
			t.Fatalf("the older decision = %+v", old)
		}
		if hist, err := st.DecisionsPage(ctx, DecisionFilter{AdvisoryID: f.adv.ID, AssetID: f.plc1.ID, Limit: 10}); err != nil || len(hist) != 2 || hist[0].ID != mit.ID || hist[1].ID != na.ID {
			t.Fatalf("history of PLC-301 = %+v, %v", hist, err)
		}

		tick()
		// Accept the risk for PLC-302, until 2026-06-30; pending until approved.
		acc := Decision{AdvisoryID: f.adv.ID, Kind: "accept", Justification: "the cell is replaced in July", Approver: "olga.ops",
			ExpiresOn: "2026-06-30", AssetIDs: []string{f.plc2.ID}}
		check(t, "accept", st.CreateDecision(ctx, &acc, "usr_ed", eng))
		cur, err := st.CurrentDecisions(ctx, f.adv.ID)
		check(t, "CurrentDecisions", err)
		if cur[f.plc2.ID].ID != acc.ID || cur[f.plc2.ID].State != "pending" || cur[f.plc1.ID].ID != mit.ID {
			t.Fatalf("current decisions with the acceptance pending = %v", cur)
		}
		for _, tt := range []struct {
			name string
			who  domain.Actor
		}{
			{"the requester, by another name of the same person", domain.Actor{Name: "ed.eng.approver", Role: domain.RoleApprover, UserID: "usr_ed"}},
			{"an engineer", domain.Actor{Name: "other.eng", Role: domain.RoleEngineer, UserID: "usr_other"}},
			{"an approver it does not name", domain.Actor{Name: "sam.ops", Role: domain.RoleApprover, UserID: "usr_sam"}},
		} {
			if _, err := st.ApproveDecision(ctx, acc.ID, tt.who, Event{Actor: tt.who.Name, Role: string(tt.who.Role)}); !errors.Is(err, ErrForbidden) {
				t.Fatalf("approval by %s: %v", tt.name, err)
			}
		}
		if _, err := st.ApproveDecision(ctx, mit.ID, domain.Actor{Name: "olga.ops", Role: domain.RoleApprover, UserID: "usr_olga"}, Event{Actor: "olga.ops", Role: "approver"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("approving a mitigation: %v", err)
		}
		olga := domain.Actor{Name: "olga.ops", Role: domain.RoleApprover, UserID: "usr_olga"}
		got, err := st.ApproveDecision(ctx, acc.ID, olga, Event{Actor: "olga.ops", Role: "approver"})
		check(t, "approve", err)
		if got.State != "active" || got.ApprovedBy != "olga.ops" || got.ApprovedAt == nil {
			t.Fatalf("approved = %+v", got)
		}
		if _, err := st.ApproveDecision(ctx, acc.ID, olga, Event{Actor: "olga.ops", Role: "approver"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("approving twice: %v", err)
		}
		mitNow, _ := st.Decision(ctx, mit.ID)
		if mitNow.State != "active" {
			t.Fatalf("the mitigation, superseded for one of its two assets, is %s", mitNow.State)
		}
		page, err := st.DecisionsPage(ctx, DecisionFilter{AdvisoryID: f.adv.ID, State: "active", Limit: 10})
		check(t, "DecisionsPage", err)
		if len(page) != 2 || page[0].ID != acc.ID || page[1].ID != mit.ID {
			t.Fatalf("active decisions = %v", page)
		}

		// The acceptance counts on its expiry day and is expired the next.
		clk.Set(time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC))
		if d, _ := st.Decision(ctx, acc.ID); d.State != "active" {
			t.Fatalf("on its expiry day the acceptance is %s", d.State)
		}
		clk.Set(time.Date(2026, 7, 1, 0, 30, 0, 0, time.UTC))
		if d, _ := st.Decision(ctx, acc.ID); d.State != "expired" || d.State == string(domain.DecisionActive) {
			t.Fatalf("after its expiry day the acceptance is %s", d.State)
		}
		page, err = st.DecisionsPage(ctx, DecisionFilter{State: "expired", Limit: 10})
		check(t, "DecisionsPage expired", err)
		if len(page) != 1 || page[0].ID != acc.ID {
			t.Fatalf("expired decisions = %v", page)
		}
		page, _ = st.DecisionsPage(ctx, DecisionFilter{State: "active", Limit: 10})
		if len(page) != 1 || page[0].ID != mit.ID {
			t.Fatalf("active decisions after the expiry = %v", page)
		}
		// Paging: newest first, one at a time.
		first, _ := st.DecisionsPage(ctx, DecisionFilter{Limit: 1})
		second, _ := st.DecisionsPage(ctx, DecisionFilter{Limit: 1, AfterAt: first[0].RequestedAt, AfterID: first[0].ID})
		if len(first) != 1 || len(second) != 1 || first[0].ID != acc.ID || second[0].ID != mit.ID {
			t.Fatalf("pages %v then %v", first, second)
		}

		evs, err := st.AuditEvents(ctx, AuditFilter{Action: "decision.recorded"})
		check(t, "AuditEvents", err)
		if len(evs) != 3 {
			t.Fatalf("%d decision.recorded events, want 3", len(evs))
		}
		if evs, _ := st.AuditEvents(ctx, AuditFilter{Action: "decision.approved"}); len(evs) != 1 || evs[0].Actor != "olga.ops" {
			t.Fatalf("decision.approved events = %+v", evs)
		}
	})
}
