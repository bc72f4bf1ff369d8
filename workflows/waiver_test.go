package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// waiverPlan is a bench asset and two SL-T 2 PLCs in line1 (Sunday 02:00 window, one at a
// time) with the given plan waivers; plc1's backup fails.
func waiverPlan(t *testing.T, waivers ...domain.PlanWaiver) *harness {
	p := newPlan(benchTarget("bench1"),
		target("plc1", "line1", 2, 1, line(), 30*time.Minute),
		target("plc2", "line1", 2, 2, line(), 30*time.Minute))
	p.Waivers = waivers
	h := newHarness(t, p)
	h.device("plc1").backupErr = errNoBackup()
	return h
}

func waiverOf(asset string) BackupWaiverRequest {
	return BackupWaiverRequest{Actor: ed, AssetID: asset, Reason: "backup port of plc1 is broken; ticket CHG-4711"}
}

// TestEngineWaiverNeedsApprovalOfNewPlan waives plc1's backup after the campaign was approved:
// the waiver is stored in the plan (new digest), the approval of the earlier plan no longer
// counts, an approval of the old digest is refused, and nothing deploys in Sunday's window until
// the new plan is approved; plc1 then deploys without a backup under the waiver.
func TestEngineWaiverNeedsApprovalOfNewPlan(t *testing.T) {
	h := waiverPlan(t)
	loc := zurich(t)
	start := time.Date(2026, 6, 4, 2, 0, 0, 0, loc) // Thursday
	approvedAgain := time.Date(2026, 6, 7, 3, 0, 0, 0, loc)
	h.env.SetStartTime(start)
	h.at(time.Hour, func() { h.decide("alice-1", approve(alice)) })
	var w, again *waiver
	h.at(2*time.Hour, func() {
		w = h.waive("waiver-1", waiverOf("plc1"))
	})
	var after, atWindow CampaignStatus
	var stale, fresh *outcome
	h.at(3*time.Hour, func() {
		after = h.status()
		stale = h.decide("bob-old", approve(bob))
		again = h.waive("waiver-2", BackupWaiverRequest{Actor: adminA, AssetID: "plc1", Reason: "again"})
	})
	h.at(approvedAgain.Sub(start), func() {
		atWindow = h.status()
		fresh = h.decide("bob-new", approveDigest(bob, atWindow.PlanDigest))
	})

	res := h.run()

	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want completed", res)
	}
	if w == nil || !w.done || w.err != nil || !w.resp.Replanned || w.resp.ApprovalsVoided != 1 || w.resp.PlanDigest == testDigest || w.resp.AssetID != "plc1" {
		t.Fatalf("waiver %+v, want accepted, replanned with a new digest and 1 approval voided", w)
	}
	if len(h.waivers) != 1 {
		t.Fatalf("WaiveBackup calls %+v, want one", h.waivers)
	}
	if pw := h.waivers[0].In.Waiver; pw.AssetID != "plc1" || (pw.Name != "PLC1" && pw.Name != "") || pw.By != "ed" || pw.Role != domain.RoleEngineer || pw.Reason != waiverOf("plc1").Reason || !pw.At.Equal(start.Add(2*time.Hour)) {
		t.Errorf("waiver stored in the plan %+v, want plc1's by ed with the reason, at the time it was given", pw)
	}
	if after.Status != domain.CampaignAwaitingApproval || after.PlanDigest != w.resp.PlanDigest {
		t.Errorf("an hour after the waiver: %s with digest %s, want awaiting_approval of %s", after.Status, after.PlanDigest, w.resp.PlanDigest)
	}
	var asked bool
	for _, s := range h.statuses {
		if s.In.Status == domain.CampaignAwaitingApproval && s.In.Details["reason"] == "plan_changed" && strings.Contains(s.In.Detail, "backup waiver for PLC1 by ed") {
			asked = true
		}
	}
	if !asked {
		t.Errorf("no awaiting_approval saying the plan changed by the waiver among %+v", h.statuses)
	}
	if stale.rule() != "plan_digest" {
		t.Errorf("approval of the plan without the waiver: %+v (rule %q), want refused by plan_digest", stale, stale.rule())
	}
	if again.rule() != "state" {
		t.Errorf("second waiver of plc1: rule %q, want refused by state", again.rule())
	}
	if atWindow.Status != domain.CampaignAwaitingApproval {
		t.Errorf("an hour into Sunday's window: %s, want awaiting_approval of the new plan", atWindow.Status)
	}
	if fresh == nil || !fresh.resp.Satisfied {
		t.Fatalf("approval of the new digest: %+v", fresh)
	}
	for _, id := range []string{"plc1", "plc2"} {
		d := h.deploysOf(id)
		if len(d) != 1 || d[0].At.Before(approvedAgain) {
			t.Errorf("%s deploys %+v, want one, after the new plan was approved at %s", id, d, approvedAgain)
		}
	}
	if len(h.unbacked) != 1 || h.unbacked[0].In.AssetID != "plc1" || h.unbacked[0].In.WaivedBy != "ed" {
		t.Errorf("deploys without a backup %+v, want plc1's under ed's waiver", h.unbacked)
	}
}

// TestEngineWaiverBeforeApproval waives plc1's backup while the campaign awaits approval: no
// approval is voided, the waiver is simply part of the plan the approvers approve, and an
// approval of the plan without it is refused.
func TestEngineWaiverBeforeApproval(t *testing.T) {
	h := waiverPlan(t)
	h.env.SetStartTime(sunday0100(t))
	var w *waiver
	h.at(10*time.Minute, func() { w = h.waive("waiver-1", waiverOf("plc1")) })
	var stale, fresh *outcome
	h.at(20*time.Minute, func() {
		stale = h.decide("alice-old", approve(alice))
		fresh = h.decide("alice-new", approveDigest(alice, h.status().PlanDigest))
	})

	res := h.run()

	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want completed", res)
	}
	if w == nil || w.err != nil || w.resp.Status != domain.CampaignAwaitingApproval || !w.resp.Replanned || w.resp.ApprovalsVoided != 0 {
		t.Fatalf("waiver %+v, want taken into the plan while awaiting approval, nothing voided", w)
	}
	if stale.rule() != "plan_digest" || fresh == nil || !fresh.resp.Satisfied {
		t.Errorf("approvals: old digest %q, new digest %+v; want the old refused and the new satisfied", stale.rule(), fresh)
	}
	if len(h.unbacked) != 1 || h.unbacked[0].In.AssetID != "plc1" {
		t.Errorf("deploys without a backup %+v, want plc1's", h.unbacked)
	}
}

// TestEngineWaiverLoadedWithPlan runs a plan that already carries plc1's waiver (the approvers
// approved it): plc1 deploys under it without anyone waiving again.
func TestEngineWaiverLoadedWithPlan(t *testing.T) {
	h := waiverPlan(t, domain.PlanWaiver{AssetID: "plc1", Name: "PLC1", By: "ed", Role: domain.RoleEngineer, Reason: "backup port broken", At: sunday0100(t)})
	h.env.SetStartTime(sunday0100(t))
	h.at(10*time.Minute, func() { h.decide("alice-1", approve(alice)) })

	res := h.run()

	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want completed", res)
	}
	if len(h.unbacked) != 1 || h.unbacked[0].In.WaivedBy != "ed" || h.unbacked[0].In.Reason != "backup port broken" {
		t.Errorf("deploys without a backup %+v, want plc1's under the plan's waiver", h.unbacked)
	}
	if len(h.waivers) != 0 {
		t.Errorf("WaiveBackup calls %+v, want none", h.waivers)
	}
}
