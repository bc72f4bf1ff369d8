package workflows

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// runInput executes the campaign workflow with in. It returns the result, or the input of the
// execution it continued as new with; anything else fails the test.
func (h *harness) runInput(in CampaignInput) (CampaignResult, *CampaignInput) {
	h.t.Helper()
	h.env.ExecuteWorkflow(Campaign, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("campaign workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) {
			h.t.Fatalf("campaign workflow failed: %v", err)
		}
		if can.WorkflowType.Name != "Campaign" {
			h.t.Fatalf("continued as new as %s, want Campaign", can.WorkflowType.Name)
		}
		var next CampaignInput
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
			h.t.Fatal(err)
		}
		return CampaignResult{}, &next
	}
	var res CampaignResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return res, nil
}

// deployed lists the assets DeployAsset ran on, sorted (the assets of a batch run together).
func (h *harness) deployed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, c := range h.deploys {
		out = append(out, c.In.AssetID)
	}
	slices.Sort(out)
	return out
}

// fivePLCs is a complete plan with a bench asset and five PLCs in one zone, two at a time.
func fivePLCs() activities.CampaignPlan {
	w := window("0 2 * * 0", 4*time.Hour, 2)
	ts := []activities.Target{benchTarget("bench1")}
	for i := range 5 {
		ts = append(ts, target(fmt.Sprintf("plc%d", i+1), "line1", 1, 1, w, time.Minute))
	}
	return completePlan(newPlan(ts...))
}

// TestCampaignContinuesAsNewBetweenPages: a campaign loads its targets two at a time and
// continues as new between pages when the server suggests it. Each execution goes on where the
// one before stopped — the bench validation and the approval are not repeated, every asset is
// deployed exactly once, in plan order — and the last one ends with the counts of all five.
func TestCampaignContinuesAsNewBetweenPages(t *testing.T) {
	plan := fivePLCs()
	start := sunday0100(t)

	h := newHarness(t, plan)
	h.env.SetStartTime(start)
	h.env.SetContinueAsNewSuggested(true)
	h.at(30*time.Minute, func() { h.decide("alice", approve(alice)) })
	_, next := h.runInput(CampaignInput{CampaignID: plan.CampaignID, PageSize: 2})
	if next == nil {
		t.Fatal("the first execution ended; want it to continue as new after its first page")
	}
	r := next.Resume
	if r == nil || r.Wave != 0 || r.Offset != 2 || r.Counts[domain.AssetDone] != 2 || r.Counts[domain.AssetPending] != 3 || r.Continued != 1 ||
		len(r.Approvals) != 1 || r.Approvals[0].Actor != alice.Name || r.Status != domain.CampaignDeploying || next.PageSize != 2 {
		t.Fatalf("continued with %+v (resume %+v), want wave 0 from offset 2, 2 done and 3 pending, alice's approval, deploying", next, r)
	}
	if got := h.deployed(); !slices.Equal(got, []string{"bench1", "plc1", "plc2"}) {
		t.Errorf("first execution deployed %v, want the bench, plc1 and plc2", got)
	}

	h2 := newHarness(t, plan)
	h2.env.SetStartTime(start.Add(70 * time.Minute))
	h2.env.SetContinueAsNewSuggested(true)
	_, next2 := h2.runInput(*next)
	if next2 == nil || next2.Resume.Offset != 4 || next2.Resume.Counts[domain.AssetDone] != 4 || next2.Resume.Continued != 2 {
		t.Fatalf("second execution continued with %+v, want offset 4 with 4 done", next2)
	}
	if got := h2.deployed(); !slices.Equal(got, []string{"plc3", "plc4"}) {
		t.Errorf("second execution deployed %v, want plc3 and plc4 only", got)
	}
	for _, s := range h2.statusList() {
		if s == domain.CampaignTesting || s == domain.CampaignAwaitingApproval {
			t.Errorf("second execution went back to %s: %v", s, h2.statusList())
		}
	}

	h3 := newHarness(t, plan)
	h3.env.SetStartTime(start.Add(80 * time.Minute))
	res, again := h3.runInput(*next2)
	if again != nil {
		t.Fatalf("the third execution continued again with %+v; one page is left and the server no longer suggests it", again)
	}
	if res.Status != domain.CampaignCompleted || res.Detail != "5 assets patched and verified" {
		t.Errorf("result %+v, want completed with 5 assets patched and verified", res)
	}
	if got := h3.deployed(); !slices.Equal(got, []string{"plc5"}) {
		t.Errorf("third execution deployed %v, want plc5 only", got)
	}
}

// TestCampaignContinuedKeepsPauseAndAbort: an engineer's pause outlives the continuation — the
// next execution holds the campaign until a resume — and an abort there counts the assets of
// every execution: the two verified before stay, the three never started are named.
func TestCampaignContinuedKeepsPauseAndAbort(t *testing.T) {
	plan := fivePLCs()
	start := sunday0100(t)

	h := newHarness(t, plan)
	h.env.SetStartTime(start)
	h.env.SetContinueAsNewSuggested(true)
	h.deployTakes = 10 * time.Minute
	h.at(30*time.Minute, func() { h.decide("alice", approve(alice)) })
	var pause *operation
	h.at(65*time.Minute, func() { pause = h.operate(UpdatePause, "pause", OperatorRequest{Actor: ed, Reason: "shift change"}) })
	_, next := h.runInput(CampaignInput{CampaignID: plan.CampaignID, PageSize: 2})
	if pause == nil || pause.err != nil || !pause.accepted {
		t.Fatalf("pause %+v, want accepted", pause)
	}
	if next == nil || next.Resume.Paused == nil || next.Resume.Paused.Actor != ed.Name || next.Resume.Counts[domain.AssetDone] != 2 {
		t.Fatalf("continued with %+v, want the pause by ed carried and 2 assets done", next)
	}

	h2 := newHarness(t, plan)
	h2.env.SetStartTime(start.Add(80 * time.Minute))
	var held CampaignStatus
	var abort *operation
	h2.at(30*time.Minute, func() {
		held = h2.status()
		abort = h2.operate(UpdateAbort, "abort", OperatorRequest{Actor: ed, Reason: "vendor recalled the firmware"})
	})
	res, again := h2.runInput(*next)
	if again != nil {
		t.Fatalf("continued again with %+v while paused", again)
	}
	if held.Status != CampaignPaused || held.Paused == nil || held.Counts[domain.AssetDone] != 2 || held.Counts[domain.AssetPending] != 3 || held.Continued != 1 {
		t.Errorf("while held: %+v, want paused by ed with 2 done and 3 pending after 1 continuation", held)
	}
	if abort == nil || abort.err != nil {
		t.Fatalf("abort %+v, want accepted", abort)
	}
	want := "aborted by ed: vendor recalled the firmware; 2 verified assets left as they are, 0 restored after abort, 3 not started"
	if res.Status != domain.CampaignAborted || res.Detail != want {
		t.Errorf("result %+v, want aborted: %q", res, want)
	}
	if got := h2.deployed(); len(got) != 0 {
		t.Errorf("the paused execution deployed %v", got)
	}
}
