package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// TestCampaignWaitsForWindowThreeDaysAhead runs a campaign approved on a Thursday whose zone's
// weekly window opens on Sunday 02:00 Europe/Zurich, three days after the start: the workflow
// validates on the bench, waits for approval, sleeps on a durable timer until the window and
// deploys only inside it. Time skipping makes the three days take milliseconds.
func TestCampaignWaitsForWindowThreeDaysAhead(t *testing.T) {
	wall := time.Now()
	loc := zurich(t)
	start := time.Date(2026, 6, 4, 2, 0, 0, 0, loc)       // Thursday
	windowStart := time.Date(2026, 6, 7, 2, 0, 0, 0, loc) // Sunday, three days later
	windowEnd := windowStart.Add(4 * time.Hour)
	line := window("0 2 * * 0", 4*time.Hour, 2)
	plan := newPlan(benchTarget("bench1"),
		target("plc1", "line1", 2, 2, line, 30*time.Minute),
		target("plc2", "line1", 2, 1, line, 30*time.Minute))
	if plan.Policy.Approvals != 1 || plan.Policy.NeedsSafety {
		t.Fatalf("SL-T 2 plan should need one approval without safety, policy is %+v", plan.Policy)
	}

	h := newHarness(t, plan)
	h.env.SetStartTime(start)
	const approvalDelay = time.Hour
	var approval *outcome
	var awaiting CampaignStatus
	h.at(approvalDelay, func() {
		awaiting = h.status()
		approval = h.decide("u-alice", approve(alice))
	})
	var sleeping CampaignStatus
	h.at(48*time.Hour, func() { sleeping = h.status() })

	res := h.run()
	t.Logf("wall time for three days of workflow time: %s", time.Since(wall))

	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want status completed", res)
	}
	want := []domain.CampaignStatus{domain.CampaignTesting, domain.CampaignAwaitingApproval, domain.CampaignApproved,
		domain.CampaignScheduled, domain.CampaignDeploying, domain.CampaignCompleted}
	if got := h.statusList(); !slices.Equal(got, want) {
		t.Errorf("status transitions %v, want %v", got, want)
	}

	// Bench validation ran before approval was asked for.
	if awaiting.Status != domain.CampaignAwaitingApproval {
		t.Errorf("status when the approval arrived: %s, want awaiting_approval", awaiting.Status)
	}
	bench := h.deploysOf("bench1")
	if len(bench) != 1 || !bench[0].At.Equal(start) {
		t.Errorf("bench deploys %+v, want one at the start %s", bench, start)
	}
	if c, _ := h.statusCall(domain.CampaignAwaitingApproval); c.At.Before(bench[0].At) {
		t.Errorf("awaiting_approval recorded at %s, before the bench deploy at %s", c.At, bench[0].At)
	}

	// The approval was accepted, recorded and satisfied the policy.
	if approval == nil || !approval.accepted || !approval.done || approval.err != nil {
		t.Fatalf("approval outcome %+v, want accepted and completed", approval)
	}
	if !approval.resp.Satisfied || approval.resp.Status != domain.CampaignApproved || approval.resp.Approvals != 1 {
		t.Errorf("approval response %+v, want satisfied, approved, 1 approval", approval.resp)
	}
	if len(h.approvals) != 1 || h.approvals[0].In.ID != "apr_u-alice" || h.approvals[0].In.Actor != "alice" ||
		h.approvals[0].In.Decision != "approved" || !h.approvals[0].In.At.Equal(start.Add(approvalDelay)) {
		t.Errorf("recorded approvals %+v, want alice's approval apr_u-alice at %s", h.approvals, start.Add(approvalDelay))
	}

	if c, _ := h.statusCall(domain.CampaignApproved); c.Seq < h.approvals[0].Seq {
		t.Errorf("campaign status approved (call %d) was written before the approval record (call %d)", c.Seq, h.approvals[0].Seq)
	}

	// Scheduled for Sunday's window, recorded right after approval.
	sched, ok := h.statusCall(domain.CampaignScheduled)
	if !ok {
		t.Fatal("campaign was never scheduled")
	}
	if !sched.At.Equal(start.Add(approvalDelay)) {
		t.Errorf("scheduled at %s, want %s", sched.At, start.Add(approvalDelay))
	}
	if got := sched.In.Details["window_start"]; got != windowStart.UTC().Format(time.RFC3339Nano) {
		t.Errorf("scheduled window_start %v, want %s", got, windowStart.UTC().Format(time.RFC3339Nano))
	}
	if !strings.Contains(sched.In.Detail, "opens "+windowStart.UTC().Format(time.RFC3339)) {
		t.Errorf("scheduled detail %q does not name the window start", sched.In.Detail)
	}
	if sleeping.Status != domain.CampaignScheduled || sleeping.NextWindow == nil || !sleeping.NextWindow.Start.Equal(windowStart) {
		t.Errorf("status two days in: %s, next window %+v; want scheduled for %s", sleeping.Status, sleeping.NextWindow, windowStart)
	}
	if len(h.windows) != 3 {
		t.Fatalf("SetNextWindow calls %+v, want the occurrence (scheduling), again (deploying), then nil", h.windows)
	}
	for i, w := range h.windows[:2] {
		if o := w.In.Occurrence; o == nil || !o.Start.Equal(windowStart) || !o.End.Equal(windowEnd) {
			t.Errorf("SetNextWindow[%d] = %+v, want %s – %s", i, o, windowStart, windowEnd)
		}
	}
	if !h.windows[0].At.Equal(start.Add(approvalDelay)) || !h.windows[1].At.Equal(windowStart) {
		t.Errorf("SetNextWindow ran at %s and %s, want %s and %s", h.windows[0].At, h.windows[1].At, start.Add(approvalDelay), windowStart)
	}
	if h.windows[2].In.Occurrence != nil {
		t.Errorf("last SetNextWindow = %+v, want nil after the campaign", h.windows[2].In.Occurrence)
	}

	// Production deploys only inside the window.
	for _, id := range []string{"plc1", "plc2"} {
		ds := h.deploysOf(id)
		if len(ds) != 1 {
			t.Fatalf("%s deployed %d times, want once", id, len(ds))
		}
		if ds[0].At.Before(windowStart) || !ds[0].At.Before(windowEnd) {
			t.Errorf("%s deployed at %s, outside the window %s – %s", id, ds[0].At, windowStart, windowEnd)
		}
		if ds[0].In.ToVersion != toVersion || ds[0].In.WorkflowID != AssetWorkflowID(testCampaign, id) {
			t.Errorf("%s deploy input %+v", id, ds[0].In)
		}
	}
	if c, _ := h.statusCall(domain.CampaignCompleted); c.At.Before(windowStart) {
		t.Errorf("completed at %s, before the window opened", c.At)
	}
	if h.statuses[0].In.WorkflowID != CampaignWorkflowID(testCampaign) {
		t.Errorf("status events carry workflow id %q, want %q", h.statuses[0].In.WorkflowID, CampaignWorkflowID(testCampaign))
	}
}

// TestCampaignDecisionRefusals sends decisions the approval policy must refuse; each is refused
// by the update validator with its rule, never reaches RecordApproval, and the campaign stays
// awaiting approval until a valid rejection ends it as rejected.
func TestCampaignDecisionRefusals(t *testing.T) {
	wrongDigest := approve(alice)
	wrongDigest.PlanDigest = strings.Repeat("0", 64)
	noReason := reject(alice, "  ")
	creatorApprover := domain.Actor{Name: eve.Name, Role: domain.RoleApprover}
	tests := []struct {
		name   string
		before []DecisionRequest // accepted first
		req    DecisionRequest
		rule   string
	}{
		{name: "creator approves", req: approve(creatorApprover), rule: "creator"},
		{name: "creator rejects", req: reject(creatorApprover, "not now"), rule: "creator"},
		{name: "plan digest is not the current plan", req: wrongDigest, rule: "plan_digest"},
		{name: "engineer approves", req: approve(domain.Actor{Name: "ed", Role: domain.RoleEngineer}), rule: "role"},
		{name: "auditor approves", req: approve(audrey), rule: "role"},
		{name: "same approver twice", before: []DecisionRequest{approve(alice)}, req: approve(alice), rule: "distinct"},
		{name: "rejection without a reason", req: noReason, rule: "reason"},
		{name: "unknown decision", req: DecisionRequest{Actor: alice, Decision: "maybe", PlanDigest: testDigest}, rule: "decision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// SL-T 3: two approvers, one of them safety, so a single approval leaves it waiting.
			plan := newPlan(benchTarget("bench1"), target("rtu1", "substation", 3, 3, window("0 2 * * 0", 4*time.Hour, 1), 30*time.Minute))
			h := newHarness(t, plan)
			var before []*outcome
			for i, req := range tt.before {
				h.at(time.Duration(i+1)*time.Minute, func() { before = append(before, h.decide("before-"+string(rune('a'+i)), req)) })
			}
			var refused *outcome
			h.at(time.Hour, func() { refused = h.decide("refused", tt.req) })
			var during CampaignStatus
			var ending *outcome
			h.at(2*time.Hour, func() {
				during = h.status()
				ending = h.decide("reject", reject(sam, "vendor advisory withdrawn"))
			})

			res := h.run()

			for _, o := range before {
				if !o.accepted || o.err != nil {
					t.Fatalf("setup decision %s: %+v", o.id, o)
				}
			}
			if refused == nil || refused.refused == nil {
				t.Fatalf("decision was not refused: %+v", refused)
			}
			if refused.accepted || refused.done {
				t.Errorf("a refused decision must be neither accepted nor completed: %+v", refused)
			}
			if got := refused.rule(); got != tt.rule {
				t.Errorf("refused by rule %q (%v), want %q", got, refused.refused, tt.rule)
			}
			for _, ap := range h.approvals {
				if ap.In.ID == "apr_refused" {
					t.Errorf("refused decision was recorded: %+v", ap.In)
				}
			}
			if len(h.approvals) != len(tt.before)+1 {
				t.Errorf("%d decisions recorded, want %d (the accepted ones and the final rejection)", len(h.approvals), len(tt.before)+1)
			}
			if during.Status != domain.CampaignAwaitingApproval || len(during.Approvals) != len(tt.before) {
				t.Errorf("after the refusal: status %s with %d approvals, want awaiting_approval with %d", during.Status, len(during.Approvals), len(tt.before))
			}
			if ending == nil || !ending.accepted || ending.resp.Status != domain.CampaignRejected {
				t.Errorf("final rejection outcome %+v, want accepted with status rejected", ending)
			}
			if res.Status != domain.CampaignRejected || !strings.Contains(res.Detail, "sam") || !strings.Contains(res.Detail, "vendor advisory withdrawn") {
				t.Errorf("result %+v, want rejected by sam with the reason", res)
			}
			if len(h.deploysOf("rtu1")) != 0 {
				t.Error("a rejected campaign deployed to production")
			}
		})
	}
}

// TestCampaignSafetyPolicy checks the two-person rule of an SL-T 3 plan: two approvers without
// the safety role do not satisfy it, an approver and a safety officer do.
func TestCampaignSafetyPolicy(t *testing.T) {
	tests := []struct {
		name      string
		decisions []DecisionRequest
		satisfied bool
	}{
		{name: "two approvers, no safety", decisions: []DecisionRequest{approve(alice), approve(bob)}, satisfied: false},
		{name: "safety alone", decisions: []DecisionRequest{approve(sam)}, satisfied: false},
		{name: "approver and safety", decisions: []DecisionRequest{approve(alice), approve(sam)}, satisfied: true},
		{name: "safety then approver", decisions: []DecisionRequest{approve(sam), approve(bob)}, satisfied: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := newPlan(benchTarget("bench1"), target("rtu1", "substation", 3, 3, window("0 2 * * 0", 4*time.Hour, 1), 30*time.Minute))
			if plan.Policy.Approvals != 2 || !plan.Policy.NeedsSafety {
				t.Fatalf("SL-T 3 plan policy %+v, want two approvals, one safety", plan.Policy)
			}
			h := newHarness(t, plan)
			var outs []*outcome
			for i, req := range tt.decisions {
				h.at(time.Duration(i+1)*time.Hour, func() { outs = append(outs, h.decide(req.Actor.Name, req)) })
			}
			var after CampaignStatus
			var ending *outcome
			h.at(time.Duration(len(tt.decisions)+1)*time.Hour, func() {
				after = h.status()
				if after.Status == domain.CampaignAwaitingApproval {
					ending = h.decide("end", reject(alice, "test over"))
				}
			})

			res := h.run()

			if len(outs) != len(tt.decisions) {
				t.Fatalf("%d decisions sent, want %d", len(outs), len(tt.decisions))
			}
			for i, o := range outs {
				if !o.accepted || !o.done || o.err != nil {
					t.Fatalf("decision %d: %+v, want accepted", i, o)
				}
				last := i == len(outs)-1
				if want := last && tt.satisfied; o.resp.Satisfied != want || o.resp.Required != 2 || !o.resp.NeedsSafety {
					t.Errorf("response %d: %+v, want satisfied=%v of 2 with safety", i, o.resp, want)
				}
			}
			if tt.satisfied {
				if res.Status != domain.CampaignCompleted {
					t.Errorf("result %+v, want completed", res)
				}
				if len(h.deploysOf("rtu1")) != 1 {
					t.Error("approved campaign did not deploy rtu1")
				}
				if ending != nil {
					t.Error("campaign was still awaiting approval after the policy was satisfied")
				}
				return
			}
			if after.Status != domain.CampaignAwaitingApproval || len(after.Approvals) != len(tt.decisions) {
				t.Errorf("status %s with %d approvals, want awaiting_approval with %d", after.Status, len(after.Approvals), len(tt.decisions))
			}
			if res.Status != domain.CampaignRejected || ending == nil || ending.resp.Status != domain.CampaignRejected {
				t.Errorf("result %+v, ending %+v: want rejected", res, ending)
			}
			if len(h.deploysOf("rtu1")) != 0 {
				t.Error("campaign without a satisfied policy deployed to production")
			}
		})
	}
}

// TestCampaignDecisionOutsideApproval refuses a decision once the campaign is approved and
// waiting for its window.
func TestCampaignDecisionOutsideApproval(t *testing.T) {
	plan := newPlan(benchTarget("bench1"), target("plc1", "line1", 1, 1, window("0 2 * * 0", 4*time.Hour, 1), 30*time.Minute))
	h := newHarness(t, plan)
	h.env.SetStartTime(time.Date(2026, 6, 4, 2, 0, 0, 0, zurich(t)))
	h.at(time.Hour, func() { h.decide("first", approve(alice)) })
	var late *outcome
	h.at(2*time.Hour, func() { late = h.decide("late", reject(bob, "changed my mind")) })

	res := h.run()

	if late == nil || late.rule() != "state" {
		t.Fatalf("late rejection: %+v, want refused by rule state", late)
	}
	if res.Status != domain.CampaignCompleted {
		t.Errorf("result %+v, want completed", res)
	}
	if len(h.approvals) != 1 {
		t.Errorf("recorded decisions %+v, want only the approval", h.approvals)
	}
}

// TestCampaignTestBench ends a campaign as test_failed when the bench cannot validate the patch:
// nothing is asked of approvers and production is never touched.
func TestCampaignTestBench(t *testing.T) {
	line := window("0 2 * * 0", 4*time.Hour, 1)
	tests := []struct {
		name    string
		targets []activities.Target
		fail    func(h *harness)
		detail  string
	}{
		{name: "no bench asset", targets: []activities.Target{target("plc1", "line1", 1, 1, line, time.Minute)}, detail: "no test-bench asset"},
		{name: "bench verification fails", targets: []activities.Target{benchTarget("bench1"), target("plc1", "line1", 1, 1, line, time.Minute)},
			fail: func(h *harness) { h.device("bench1").unhealthyAfterDeploy = true }, detail: "test-bench validation failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, newPlan(tt.targets...))
			if tt.fail != nil {
				tt.fail(h)
			}
			res := h.run()
			if res.Status != domain.CampaignTestFailed || !strings.Contains(res.Detail, tt.detail) {
				t.Errorf("result %+v, want test_failed with %q", res, tt.detail)
			}
			if slices.Contains(h.statusList(), domain.CampaignAwaitingApproval) {
				t.Error("a campaign that failed validation asked for approval")
			}
			if h.touched()["plc1"] {
				t.Error("a campaign that failed validation touched production")
			}
		})
	}
}

// TestCampaignContinuesInNextOccurrence approves a campaign 30 minutes into a one-hour daily
// window: the asset that fits in what is left is deployed now, the one that does not waits for
// tomorrow's occurrence; one longer than the whole window halts the campaign.
func TestCampaignContinuesInNextOccurrence(t *testing.T) {
	loc := zurich(t)
	start := time.Date(2026, 6, 4, 2, 0, 0, 0, loc) // the daily window opens at start
	firstEnd := start.Add(time.Hour)
	next := time.Date(2026, 6, 5, 2, 0, 0, 0, loc)
	daily := window("0 2 * * *", time.Hour, 2)

	t.Run("deploys in the next occurrence", func(t *testing.T) {
		h := newHarness(t, newPlan(benchTarget("bench1"),
			target("short", "line1", 1, 1, daily, 20*time.Minute),
			target("long", "line1", 1, 2, daily, 45*time.Minute)))
		h.env.SetStartTime(start)
		h.at(30*time.Minute, func() { h.decide("u1", approve(alice)) })

		res := h.run()

		if res.Status != domain.CampaignCompleted {
			t.Fatalf("result %+v, want completed", res)
		}
		short, long := h.deploysOf("short"), h.deploysOf("long")
		if len(short) != 1 || !short[0].At.Equal(start.Add(30*time.Minute)) {
			t.Errorf("short asset deploys %+v, want one at %s (fits the 30 minutes left)", short, start.Add(30*time.Minute))
		}
		if len(long) != 1 {
			t.Fatalf("long asset deployed %d times, want once", len(long))
		}
		if long[0].At.Before(firstEnd) || long[0].At.Before(next) || !long[0].At.Before(next.Add(time.Hour)) {
			t.Errorf("long asset deployed at %s, want inside the next occurrence %s – %s", long[0].At, next, next.Add(time.Hour))
		}
		sched, ok := h.statusCall(domain.CampaignScheduled)
		if !ok || sched.In.Details["window_start"] != next.UTC().Format(time.RFC3339Nano) || !sched.At.Equal(firstEnd) {
			t.Errorf("scheduled call %+v (ok=%v), want at %s for the window at %s", sched, ok, firstEnd, next)
		}
	})

	t.Run("longer than the whole window halts", func(t *testing.T) {
		h := newHarness(t, newPlan(benchTarget("bench1"), target("huge", "line1", 1, 1, daily, 90*time.Minute)))
		h.env.SetStartTime(start)
		h.at(30*time.Minute, func() { h.decide("u1", approve(alice)) })

		res := h.run()

		if res.Status != domain.CampaignHalted || !strings.Contains(res.Detail, "longer than zone line1's whole window") {
			t.Errorf("result %+v, want halted because the asset never fits", res)
		}
		if h.touched()["huge"] {
			t.Error("an asset that cannot fit any occurrence was touched")
		}
	})
}

// TestCampaignHaltsInFirstWave fails an asset of the first wave: the campaign halts, later
// waves are never backed up or deployed, and the result says whether the failed asset is back
// on its verified backup (rolled_back) or needs manual action (halted).
func TestCampaignHaltsInFirstWave(t *testing.T) {
	tests := []struct {
		name   string
		fail   func(d *device)
		status domain.CampaignStatus
		asset  domain.AssetState
	}{
		{name: "verification fails, backup restored", fail: func(d *device) { d.unhealthyAfterDeploy = true },
			status: domain.CampaignRolledBack, asset: domain.AssetRolledBack},
		{name: "deploy fails, backup restored", fail: func(d *device) { d.deployErr = errAdapter("firmware download interrupted") },
			status: domain.CampaignRolledBack, asset: domain.AssetRolledBack},
		{name: "restore fails", fail: func(d *device) { d.unhealthyAfterDeploy, d.restoreErr = true, errAdapter("device unreachable") },
			status: domain.CampaignHalted, asset: domain.AssetRollbackFailed},
		{name: "no verified backup", fail: func(d *device) { d.backupErr = errNoBackup() },
			status: domain.CampaignHalted, asset: domain.AssetFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := zurich(t)
			start := time.Date(2026, 6, 4, 2, 0, 0, 0, loc)
			weekly := window("0 2 * * 0", 4*time.Hour, 2)
			h := newHarness(t, newPlan(benchTarget("bench1"),
				target("hmi1", "office", 1, 1, weekly, 30*time.Minute), // wave 1: lowest SL-T
				target("hmi2", "office", 1, 1, weekly, 30*time.Minute),
				target("plc1", "line1", 2, 2, weekly, 30*time.Minute), // wave 2
				target("plc2", "line1", 2, 3, weekly, 30*time.Minute)))
			h.env.SetStartTime(start)
			tt.fail(h.device("hmi1"))
			h.at(time.Hour, func() { h.decide("u1", approve(alice)) })

			res := h.run()

			if res.Status != tt.status || !strings.Contains(res.Detail, "HMI1") {
				t.Errorf("result %+v, want %s naming HMI1", res, tt.status)
			}
			touched := h.touched()
			for _, id := range []string{"plc1", "plc2"} {
				if touched[id] {
					t.Errorf("wave 2 asset %s was touched after wave 1 failed", id)
				}
			}
			if len(h.deploysOf("hmi2")) != 1 {
				t.Errorf("hmi2, in the same batch as hmi1, deployed %d times, want once", len(h.deploysOf("hmi2")))
			}
			var last domain.AssetState
			for _, s := range h.assetStates {
				if s.In.AssetID == "hmi1" {
					last = s.In.State
				}
			}
			if last != tt.asset {
				t.Errorf("hmi1 ended %s, want %s", last, tt.asset)
			}
			if got := h.statusList(); got[len(got)-1] != tt.status || slices.Contains(got, domain.CampaignCompleted) {
				t.Errorf("status transitions %v, want to end %s", got, tt.status)
			}
			if w := h.windows[len(h.windows)-1].In.Occurrence; w != nil {
				t.Errorf("next window left at %+v after the halt, want nil", w)
			}
		})
	}
}

// TestCampaignDecisionCountsOnceRecorded fails the recording of a decision: the update returns
// the error, the decision is taken back, and the campaign keeps waiting instead of moving on
// with a decision that has no record in the audit trail.
func TestCampaignDecisionCountsOnceRecorded(t *testing.T) {
	tests := []struct {
		name  string
		first DecisionRequest // its recording fails
	}{
		{name: "approval", first: approve(alice)},
		{name: "rejection", first: reject(sam, "wrong maintenance window")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := newPlan(benchTarget("bench1"), target("plc1", "line1", 1, 1, window("0 2 * * 0", 4*time.Hour, 1), 30*time.Minute))
			h := newHarness(t, plan)
			h.env.SetStartTime(time.Date(2026, 6, 4, 2, 0, 0, 0, zurich(t)))
			h.approvalErr = func(in activities.ApprovalInput) error {
				if in.ID == "apr_first" {
					return temporal.NewNonRetryableApplicationError("database is read-only", "StoreReadOnly", nil)
				}
				return nil
			}
			var first, second *outcome
			var between CampaignStatus
			h.at(time.Hour, func() { first = h.decide("first", tt.first) })
			h.at(2*time.Hour, func() {
				between = h.status()
				second = h.decide("second", approve(bob))
			})

			res := h.run()

			if first == nil || !first.accepted || first.err == nil {
				t.Fatalf("first decision %+v, want accepted and then failed by the recording", first)
			}
			if between.Status != domain.CampaignAwaitingApproval || len(between.Approvals) != 0 {
				t.Errorf("after the failed recording: status %s with approvals %+v, want awaiting_approval with none", between.Status, between.Approvals)
			}
			if second == nil || second.err != nil || !second.resp.Satisfied {
				t.Fatalf("second decision %+v, want it to satisfy the policy", second)
			}
			if res.Status != domain.CampaignCompleted {
				t.Errorf("result %+v, want completed on bob's approval", res)
			}
			if c, _ := h.statusCall(domain.CampaignApproved); c.In.Detail != "approved by bob (approver)" {
				t.Errorf("approved detail %q, want only bob", c.In.Detail)
			}
			if ds := h.deploysOf("plc1"); len(ds) != 1 || ds[0].At.Before(time.Date(2026, 6, 4, 4, 0, 0, 0, zurich(t))) {
				t.Errorf("plc1 deploys %+v, want one after bob's approval", ds)
			}
		})
	}
}

// TestCampaignExpiredApprovalRenewed lets an approval expire while the campaign waits for a
// second one: the expired approval no longer counts, and its approver may approve again.
func TestCampaignExpiredApprovalRenewed(t *testing.T) {
	plan := newPlan(benchTarget("bench1"), target("rtu1", "substation", 3, 3, window("0 2 * * 0", 4*time.Hour, 1), 30*time.Minute))
	h := newHarness(t, plan)
	ttl := time.Duration(plan.Policy.TTL)
	h.at(time.Hour, func() { h.decide("alice-1", approve(alice)) })
	var safety, renewed *outcome
	h.at(ttl+2*time.Hour, func() { safety = h.decide("sam", approve(sam)) })
	h.at(ttl+3*time.Hour, func() { renewed = h.decide("alice-2", approve(alice)) })

	res := h.run()

	if safety == nil || safety.err != nil || safety.resp.Satisfied || safety.resp.Approvals != 1 {
		t.Errorf("safety approval after alice's expired: %+v, want 1 valid approval, not satisfied", safety)
	}
	if renewed == nil || renewed.refused != nil || !renewed.resp.Satisfied || renewed.resp.Approvals != 2 {
		t.Fatalf("alice approving again after expiry: %+v (rule %q), want accepted and satisfied", renewed, renewed.rule())
	}
	if res.Status != domain.CampaignCompleted {
		t.Errorf("result %+v, want completed", res)
	}
}
