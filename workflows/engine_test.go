package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

var (
	ed     = domain.Actor{Name: "ed", Role: domain.RoleEngineer}
	adminA = domain.Actor{Name: "ada", Role: domain.RoleAdmin}
)

// sunday0100 is one hour before the weekly Sunday 02:00 window of line().
func sunday0100(t *testing.T) time.Time { return time.Date(2026, 6, 7, 1, 0, 0, 0, zurich(t)) }

func line() domain.Window { return window("0 2 * * 0", 4*time.Hour, 1) }

// threePLCs is a plan with a bench asset and three SL-T 2 PLCs in one zone, one at a time.
func threePLCs() activities.CampaignPlan {
	return newPlan(benchTarget("bench1"),
		target("plc1", "line1", 2, 1, line(), 30*time.Minute),
		target("plc2", "line1", 2, 2, line(), 30*time.Minute),
		target("plc3", "line1", 2, 3, line(), 30*time.Minute))
}

// TestEnginePauseLetsInFlightFinish pauses while plc1 deploys: plc1 finishes and is verified,
// no other asset starts until an engineer resumes, and the refusals name their rule.
func TestEnginePauseLetsInFlightFinish(t *testing.T) {
	h := newHarness(t, threePLCs())
	start := sunday0100(t)
	h.env.SetStartTime(start)
	h.deployTakes = 10 * time.Minute
	windowStart := start.Add(time.Hour)
	h.at(30*time.Minute, func() { h.decide("alice", approve(alice)) })
	var pause, again, byAuditor, early, resume *operation
	h.at(time.Hour+5*time.Minute, func() {
		early = h.operate(UpdateResume, "resume-early", OperatorRequest{Actor: ed})
		byAuditor = h.operate(UpdatePause, "pause-auditor", OperatorRequest{Actor: audrey, Reason: "curious"})
		pause = h.operate(UpdatePause, "pause", OperatorRequest{Actor: ed, Reason: "operator on line 1 asked for a break"})
	})
	var during CampaignStatus
	h.at(time.Hour+6*time.Minute, func() { again = h.operate(UpdatePause, "pause-again", OperatorRequest{Actor: adminA}) })
	h.at(2*time.Hour, func() {
		during = h.status()
		resume = h.operate(UpdateResume, "resume", OperatorRequest{Actor: adminA})
	})

	res := h.run()

	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want completed", res)
	}
	if pause == nil || !pause.accepted || pause.err != nil || !pause.resp.Paused {
		t.Fatalf("pause: %+v, want accepted and paused", pause)
	}
	for name, tc := range map[string]struct {
		o    *operation
		rule string
	}{"resume while not paused": {early, "state"}, "auditor pauses": {byAuditor, "role"}, "second pause": {again, "state"}} {
		if tc.o == nil || tc.o.rule() != tc.rule || tc.o.accepted {
			t.Errorf("%s: %+v (rule %q), want refused by rule %q", name, tc.o, tc.o.rule(), tc.rule)
		}
	}
	if resume == nil || resume.err != nil || resume.resp.Paused {
		t.Errorf("resume: %+v, want accepted and no longer paused", resume)
	}
	// plc1 was in flight when the pause arrived: it finished and was verified. (A mocked
	// deploy is recorded when it returns, deployTakes after it started.)
	if d := h.deploysOf("plc1"); len(d) != 1 || !d[0].At.Equal(windowStart.Add(h.deployTakes)) {
		t.Errorf("plc1 deploys %+v, want one from %s to %s", d, windowStart, windowStart.Add(h.deployTakes))
	}
	if during.Status != CampaignPaused || during.Assets["plc1"] != domain.AssetDone || during.Paused == nil || during.Paused.Actor != "ed" {
		t.Errorf("while paused: status %s, plc1 %s, paused %+v; want paused with plc1 done, paused by ed", during.Status, during.Assets["plc1"], during.Paused)
	}
	// Nothing else started while paused.
	for _, id := range []string{"plc2", "plc3"} {
		d := h.deploysOf(id)
		if len(d) != 1 || d[0].At.Before(start.Add(2*time.Hour)) {
			t.Errorf("%s deploys %+v, want one after the resume at %s", id, d, start.Add(2*time.Hour))
		}
	}
	paused, ok := h.statusCall(CampaignPaused)
	if !ok || !paused.At.Equal(windowStart.Add(10*time.Minute)) || !strings.Contains(paused.In.Detail, "operator on line 1 asked for a break") {
		t.Errorf("paused status %+v, want it recorded when plc1 finished (%s) with the reason", paused, windowStart.Add(10*time.Minute))
	}
	var actions []string
	for _, op := range h.operatorActions {
		actions = append(actions, op.In.Action+" by "+op.In.Actor)
	}
	if want := []string{"campaign.pause_requested by ed", "campaign.resume_requested by ada"}; !slices.Equal(actions, want) {
		t.Errorf("recorded operator actions %v, want %v (refused requests are never recorded)", actions, want)
	}
}

// TestEngineAbortMidWave aborts while plc1 deploys: plc1 is rolled back to its backup on a
// disconnected context, plc2 and plc3 are never touched, the bench asset (verified) stays
// patched, and the campaign ends aborted with the reason.
func TestEngineAbortMidWave(t *testing.T) {
	h := newHarness(t, threePLCs())
	start := sunday0100(t)
	h.env.SetStartTime(start)
	h.deployTakes = 10 * time.Minute
	h.at(30*time.Minute, func() { h.decide("alice", approve(alice)) })
	var noReason, abort *operation
	h.at(time.Hour+5*time.Minute, func() {
		noReason = h.operate(UpdateAbort, "abort-no-reason", OperatorRequest{Actor: ed, Reason: " "})
		abort = h.operate(UpdateAbort, "abort", OperatorRequest{Actor: ed, Reason: "vendor recalled the firmware"})
	})

	res := h.run()

	if noReason.rule() != "reason" {
		t.Errorf("abort without a reason: %+v, want refused by rule reason", noReason)
	}
	if abort == nil || !abort.accepted || abort.err != nil || !abort.resp.Aborting {
		t.Fatalf("abort: %+v, want accepted", abort)
	}
	if res.Status != domain.CampaignAborted || !strings.Contains(res.Detail, "vendor recalled the firmware") ||
		!strings.Contains(res.Detail, "1 restored after abort, 2 not started") {
		t.Errorf("result %+v, want aborted with the reason, 1 restored after abort, 2 not started", res)
	}
	if len(h.restores) != 1 || h.restores[0].In.AssetID != "plc1" {
		t.Errorf("restores %+v, want plc1's backup restored", h.restores)
	}
	touched := h.touched()
	if touched["plc2"] || touched["plc3"] {
		t.Errorf("assets touched %v: plc2 and plc3 must not start after an abort", touched)
	}
	if len(h.restores) > 0 && h.restores[0].At.Before(start.Add(time.Hour+5*time.Minute)) {
		t.Errorf("restore at %s, before the abort", h.restores[0].At)
	}
	var last activities.AssetStateInput
	for _, s := range h.assetStates {
		if s.In.AssetID == "plc1" {
			last = s.In
		}
	}
	// Restored because of the abort: aborted, never a verification failure.
	if last.State != domain.AssetAborted || !strings.Contains(last.Error, "restored after abort") || strings.Contains(last.Error, "verification") {
		t.Errorf("plc1 last recorded state %s (%q), want aborted, restored after abort", last.State, last.Error)
	}
	if len(h.notStarted) != 1 || !strings.Contains(h.notStarted[0].In.Reason, "aborted by ed") {
		t.Errorf("not-started closings %+v, want one naming the abort", h.notStarted)
	}
	if h.device("bench1").version != toVersion || h.device("bench1").restored {
		t.Error("the verified bench asset was rolled back by the abort")
	}
	if len(h.operatorActions) != 1 || h.operatorActions[0].In.Action != "campaign.abort_requested" || h.operatorActions[0].In.Reason != "vendor recalled the firmware" {
		t.Errorf("operator actions %+v, want the abort with its reason", h.operatorActions)
	}
}

// TestEngineAbortWhileWaiting aborts a campaign sleeping until its window three days ahead:
// it ends at once, without waiting for the window, and touches nothing.
func TestEngineAbortWhileWaiting(t *testing.T) {
	h := newHarness(t, threePLCs())
	start := time.Date(2026, 6, 4, 2, 0, 0, 0, zurich(t))
	h.env.SetStartTime(start)
	h.at(time.Hour, func() { h.decide("alice", approve(alice)) })
	h.at(2*time.Hour, func() { h.operate(UpdateAbort, "abort", OperatorRequest{Actor: ed, Reason: "plant shutdown moved"}) })

	res := h.run()

	if res.Status != domain.CampaignAborted {
		t.Fatalf("result %+v, want aborted", res)
	}
	if c, _ := h.statusCall(domain.CampaignAborted); !c.At.Equal(start.Add(2 * time.Hour)) {
		t.Errorf("aborted at %s, want at once (%s)", c.At, start.Add(2*time.Hour))
	}
	if touched := h.touched(); len(touched) != 1 || !touched["bench1"] {
		t.Errorf("touched %v, want only the bench asset", touched)
	}
}

// TestEngineApprovalExpiresBeforeWindow approves a plan eleven days before its window: when the
// window opens the approval has expired (7 days), the campaign goes back to awaiting approval
// and deploys only after a fresh approval, inside the same window.
func TestEngineApprovalExpiresBeforeWindow(t *testing.T) {
	june15 := window("0 2 15 6 *", 4*time.Hour, 2)
	plan := newPlan(benchTarget("bench1"), target("plc1", "line1", 2, 1, june15, 30*time.Minute))
	h := newHarness(t, plan)
	loc := zurich(t)
	start := time.Date(2026, 6, 4, 2, 0, 0, 0, loc)
	windowStart := time.Date(2026, 6, 15, 2, 0, 0, 0, loc)
	h.env.SetStartTime(start)
	h.at(time.Hour, func() { h.decide("alice-1", approve(alice)) })
	var atWindow CampaignStatus
	var renewed *outcome
	h.at(windowStart.Sub(start)+30*time.Minute, func() {
		atWindow = h.status()
		renewed = h.decide("alice-2", approve(alice))
	})

	res := h.run()

	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want completed", res)
	}
	want := []domain.CampaignStatus{domain.CampaignTesting, domain.CampaignAwaitingApproval, domain.CampaignApproved,
		domain.CampaignScheduled, domain.CampaignAwaitingApproval, domain.CampaignApproved, domain.CampaignDeploying, domain.CampaignCompleted}
	if got := h.statusList(); !slices.Equal(got, want) {
		t.Errorf("status transitions %v, want %v", got, want)
	}
	var expired call[activities.StatusInput]
	for _, s := range h.statuses {
		if s.In.Status == domain.CampaignAwaitingApproval && s.In.Details["reason"] == "approval_expired" {
			expired = s
		}
	}
	if !expired.At.Equal(windowStart) || !strings.Contains(expired.In.Detail, "approval expired") {
		t.Errorf("back to awaiting approval %+v, want at the window's opening %s with reason approval_expired", expired, windowStart)
	}
	if atWindow.Status != domain.CampaignAwaitingApproval {
		t.Errorf("status half an hour into the window: %s, want awaiting_approval", atWindow.Status)
	}
	if renewed == nil || renewed.refused != nil || !renewed.resp.Satisfied {
		t.Fatalf("fresh approval by the same approver: %+v, want accepted and satisfied", renewed)
	}
	if d := h.deploysOf("plc1"); len(d) != 1 || !d[0].At.Equal(windowStart.Add(30*time.Minute)) {
		t.Errorf("plc1 deploys %+v, want one right after the fresh approval", d)
	}
}

// TestEngineWindowEditedWhileWaiting moves a zone's window from Sunday to Friday while the
// approved campaign sleeps until Sunday: the change takes effect at once, the plan's digest
// changes so the campaign asks for approval again, an approval of the old digest is refused,
// and it deploys on Friday.
func TestEngineWindowEditedWhileWaiting(t *testing.T) {
	h := newHarness(t, threePLCs())
	loc := zurich(t)
	start := time.Date(2026, 6, 4, 2, 0, 0, 0, loc) // Thursday
	friday := time.Date(2026, 6, 5, 4, 0, 0, 0, loc)
	h.env.SetStartTime(start)
	fridays := window("0 4 * * 5", 2*time.Hour, 3)
	h.at(time.Hour, func() { h.decide("alice-1", approve(alice)) })
	var change *WindowChangeResponse
	h.at(2*time.Hour, func() {
		change = h.changeWindow("w1", WindowChange{ZoneID: "line1", Window: fridays, Actor: ed})
	})
	var after CampaignStatus
	var stale, fresh *outcome
	h.at(3*time.Hour, func() {
		after = h.status()
		stale = h.decide("bob-old", approve(bob))
		fresh = h.decide("bob-new", approveDigest(bob, after.PlanDigest))
	})

	res := h.run()

	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want completed", res)
	}
	if change == nil || !change.Replanned || change.ApprovalsVoided != 1 || change.PlanDigest == testDigest {
		t.Errorf("window change response %+v, want replanned with a new digest, 1 approval voided", change)
	}
	if len(h.replans) != 1 || h.replans[0].In.ZoneID != "line1" || h.replans[0].In.Window.Cron != fridays.Cron || h.replans[0].In.Actor != "ed" {
		t.Errorf("ReplanCampaign calls %+v, want one for line1 by ed", h.replans)
	}
	if after.Status != domain.CampaignAwaitingApproval || after.PlanDigest != change.PlanDigest {
		t.Errorf("an hour after the change: %s with digest %s, want awaiting_approval of %s", after.Status, after.PlanDigest, change.PlanDigest)
	}
	if c, ok := h.statusCall(domain.CampaignAwaitingApproval); !ok || len(h.statuses) == 0 {
		t.Errorf("no awaiting approval recorded: %+v", c)
	}
	if stale.rule() != "plan_digest" {
		t.Errorf("approval of the old digest: %+v (rule %q), want refused by plan_digest", stale, stale.rule())
	}
	if fresh == nil || !fresh.resp.Satisfied {
		t.Fatalf("approval of the new digest: %+v", fresh)
	}
	for _, id := range []string{"plc1", "plc2", "plc3"} {
		d := h.deploysOf(id)
		if len(d) != 1 || !d[0].At.Equal(friday) {
			t.Errorf("%s deploys %+v, want one in Friday's window at %s", id, d, friday)
		}
	}
}

// TestEngineErrorThreshold tolerates failed assets up to the campaign's error threshold per
// wave (each rolled back), halts above it, and never tolerates one in a safety-critical zone.
func TestEngineErrorThreshold(t *testing.T) {
	open := window("* * * * *", time.Hour, 3)
	tests := []struct {
		name      string
		threshold int
		slt       int
		bad       []string
		status    domain.CampaignStatus
		deployed  []string
		detail    string
	}{
		{name: "one failure within a threshold of 1", threshold: 1, slt: 2, bad: []string{"plc2"}, status: domain.CampaignCompleted,
			deployed: []string{"plc1", "plc2", "plc3", "plc4"}, detail: "1 failed and were rolled back within the error threshold of 1"},
		{name: "two failures above a threshold of 1", threshold: 1, slt: 2, bad: []string{"plc1", "plc2"}, status: domain.CampaignRolledBack,
			deployed: []string{"plc1", "plc2", "plc3"}, detail: "2 failed assets in this wave exceed the error threshold of 1"},
		{name: "threshold 0 by default", threshold: 0, slt: 2, bad: []string{"plc1"}, status: domain.CampaignRolledBack,
			deployed: []string{"plc1", "plc2", "plc3"}, detail: "error threshold 0"},
		{name: "safety-critical zone ignores the threshold", threshold: 5, slt: 3, bad: []string{"plc1"}, status: domain.CampaignRolledBack,
			deployed: []string{"plc1", "plc2", "plc3"}, detail: "error threshold 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := newPlan(benchTarget("bench1"),
				target("plc1", "line1", tt.slt, 1, open, time.Minute), target("plc2", "line1", tt.slt, 1, open, time.Minute),
				target("plc3", "line1", tt.slt, 1, open, time.Minute), target("plc4", "line1", tt.slt, 2, open, time.Minute))
			plan.ErrorThreshold = tt.threshold
			h := newHarness(t, plan)
			for _, id := range tt.bad {
				h.device(id).unhealthyAfterDeploy = true
			}
			h.at(time.Minute, func() {
				h.decide("alice", approve(alice))
				if plan.Policy.NeedsSafety {
					h.decide("sam", approve(sam))
				}
			})
			res := h.run()
			if res.Status != tt.status || !strings.Contains(res.Detail, tt.detail) {
				t.Errorf("result %+v, want %s with %q", res, tt.status, tt.detail)
			}
			var deployed []string
			for _, id := range []string{"plc1", "plc2", "plc3", "plc4"} {
				if len(h.deploysOf(id)) > 0 {
					deployed = append(deployed, id)
				}
			}
			if !slices.Equal(deployed, tt.deployed) {
				t.Errorf("deployed %v, want %v", deployed, tt.deployed)
			}
			if len(h.restores) != len(tt.bad) {
				t.Errorf("%d restores, want one per failed asset (%d)", len(h.restores), len(tt.bad))
			}
		})
	}
}

// TestEngineWindowClosesMidCampaign runs three PLCs one at a time in a 30-minute daily window;
// each deploy takes 10 minutes and is expected to take 12: after two, what is left of the window
// (10 minutes) is too short, so the third waits and is deployed in the next day's occurrence.
func TestEngineWindowClosesMidCampaign(t *testing.T) {
	loc := zurich(t)
	daily := window("0 2 * * *", 30*time.Minute, 1)
	plan := newPlan(benchTarget("bench1"),
		target("plc1", "line1", 2, 1, daily, 12*time.Minute), target("plc2", "line1", 2, 2, daily, 12*time.Minute),
		target("plc3", "line1", 2, 3, daily, 12*time.Minute))
	h := newHarness(t, plan)
	start := time.Date(2026, 6, 4, 1, 0, 0, 0, loc)
	open, next := time.Date(2026, 6, 4, 2, 0, 0, 0, loc), time.Date(2026, 6, 5, 2, 0, 0, 0, loc)
	h.env.SetStartTime(start)
	h.deployTakes = 10 * time.Minute
	h.at(30*time.Minute, func() { h.decide("alice", approve(alice)) })

	res := h.run()

	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want completed", res)
	}
	for id, done := range map[string]time.Time{"plc1": open.Add(10 * time.Minute), "plc2": open.Add(20 * time.Minute), "plc3": next.Add(10 * time.Minute)} {
		if d := h.deploysOf(id); len(d) != 1 || !d[0].At.Equal(done) {
			t.Errorf("%s deploys %+v, want one finishing at %s", id, d, done)
		}
	}
	var waits []string
	for _, s := range h.statuses {
		if s.In.Status == domain.CampaignScheduled {
			waits = append(waits, s.In.Detail)
		}
	}
	if len(waits) != 2 || !strings.Contains(waits[1], "opens "+next.UTC().Format(time.RFC3339)) {
		t.Errorf("waiting details %q, want a second wait for %s", waits, next.UTC().Format(time.RFC3339))
	}
}
