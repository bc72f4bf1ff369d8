package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// siteResults is what the store holds of an air-gapped site's results, for ReadSiteResults.
type siteResults struct {
	mu    sync.Mutex
	res   activities.SiteResults
	reads int
}

func (s *siteResults) set(r activities.SiteResults) { s.mu.Lock(); s.res = r; s.mu.Unlock() }

func (s *siteResults) mock(h *harness) {
	h.env.OnActivity(a.ReadSiteResults, mock.Anything, mock.Anything).Return(func(context.Context, string) (activities.SiteResults, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reads++
		return s.res, nil
	})
}

// approvedCarried is a carried campaign that alice approves after an hour, with the site's
// results as the test sets them.
func approvedCarried(t *testing.T) (*harness, *siteResults) {
	h := newHarness(t, carriedPlan())
	site := &siteResults{}
	site.mock(h)
	h.at(time.Hour, func() { h.decide("u-alice", approve(alice)) })
	return h, site
}

func carriedPlan() activities.CampaignPlan {
	w := window("0 2 * * 0", 4*time.Hour, 2)
	p := newPlan(benchTarget("bench1"), target("plc1", "line1", 2, 1, w, 30*time.Minute), target("plc2", "line1", 2, 2, w, 30*time.Minute))
	p.TransferSite = "site_b"
	return p
}

// TestCarriedCampaignWaitsForSiteResults: a plan carried to an air-gapped site is approved
// here without a bench run here, touches no device here, says its results are not returned
// yet, and ends as the site's results say once they are imported (signalled).
func TestCarriedCampaignWaitsForSiteResults(t *testing.T) {
	h, site := approvedCarried(t)
	var waiting CampaignStatus
	h.at(3*time.Hour, func() {
		waiting = h.status()
		site.set(activities.SiteResults{Returned: true, Sequence: 1, Status: domain.CampaignDeploying, Detail: "wave 1 of 1",
			Assets: map[string]domain.AssetState{"bench1": domain.AssetDone, "plc1": domain.AssetDone, "plc2": domain.AssetPending}})
		h.env.SignalWorkflow(SignalSiteResults, nil)
	})
	var midway CampaignStatus
	h.at(4*time.Hour, func() {
		midway = h.status()
		site.set(activities.SiteResults{Returned: true, Sequence: 2, Status: domain.CampaignCompleted, Detail: "2 assets patched and verified",
			Assets: map[string]domain.AssetState{"bench1": domain.AssetDone, "plc1": domain.AssetDone, "plc2": domain.AssetDone}})
		h.env.SignalWorkflow(SignalSiteResults, nil)
	})
	res := h.run()
	if res.Status != domain.CampaignCompleted || !strings.Contains(res.Detail, "at site site_b: 2 assets patched and verified") {
		t.Fatalf("result %+v, want completed as the site reported", res)
	}
	if waiting.Status != domain.CampaignScheduled || !strings.Contains(waiting.Detail, "results not returned yet") {
		t.Errorf("before the results: %s %q, want scheduled, results not returned yet", waiting.Status, waiting.Detail)
	}
	if midway.Status != domain.CampaignDeploying || midway.Assets["plc1"] != domain.AssetDone || midway.Assets["plc2"] != domain.AssetPending {
		t.Errorf("after the first results: %+v", midway)
	}
	if got := h.touched(); len(got) != 0 {
		t.Errorf("the central instance touched devices of an air-gapped site: %v", got)
	}
	if len(h.prepares) != 0 || len(h.checks) != 0 {
		t.Errorf("a bench run at the central instance: %d prepares, %d checks", len(h.prepares), len(h.checks))
	}
}

// TestCarriedCampaignLooksWithoutSignal: results imported while the signal was lost are taken
// at the next daily look.
func TestCarriedCampaignLooksWithoutSignal(t *testing.T) {
	h, site := approvedCarried(t)
	h.at(90*time.Minute, func() {
		site.set(activities.SiteResults{Returned: true, Sequence: 1, Status: domain.CampaignHalted, Detail: "wave 1 halted",
			Assets: map[string]domain.AssetState{"plc1": domain.AssetRolledBack}})
	})
	res := h.run()
	if res.Status != domain.CampaignHalted || !strings.Contains(res.Detail, "at site site_b") {
		t.Fatalf("result %+v, want halted as the site reported", res)
	}
	if len(h.notStarted) != 1 {
		t.Errorf("the targets the site never reported are not closed: %d calls", len(h.notStarted))
	}
}

// TestCarriedCampaignAborted: an abort while the site's results are awaited ends the campaign
// here and says the site must be told.
func TestCarriedCampaignAborted(t *testing.T) {
	h, _ := approvedCarried(t)
	h.at(2*time.Hour, func() {
		h.operate(UpdateAbort, "abort", OperatorRequest{Actor: ed, Reason: "vendor recalled the firmware"})
	})
	res := h.run()
	if res.Status != domain.CampaignAborted || !strings.Contains(res.Detail, "site site_b") {
		t.Fatalf("result %+v, want aborted, naming the site", res)
	}
}

// TestImportedCampaignCountsImportedApprovals: at the site, the approvals that came with the
// plan count: the campaign validates on the bench and deploys without a decision here.
func TestImportedCampaignCountsImportedApprovals(t *testing.T) {
	plan := carriedPlan()
	plan.TransferSite, plan.Imported = "", true
	start := time.Date(2026, 6, 7, 1, 0, 0, 0, zurich(t))
	plan.ImportedApprovals = []domain.Approval{{Actor: bob.Name, Role: bob.Role, PlanDigest: testDigest, At: start.Add(-time.Hour)}}
	h := newHarness(t, plan)
	h.env.SetStartTime(start)
	res := h.run()
	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v, want completed", res)
	}
	if len(h.approvals) != 0 {
		t.Errorf("%d approvals recorded at the site; the imported ones count", len(h.approvals))
	}
	if c, ok := h.statusCall(domain.CampaignApproved); !ok || !strings.Contains(c.In.Detail, "bob") {
		t.Errorf("approved: %+v, want by bob", c.In)
	}
}

// TestImportedApprovalOfAnotherPlanDoesNotCount: an imported approval of another digest waits
// for an approval at the site.
func TestImportedApprovalOfAnotherPlanDoesNotCount(t *testing.T) {
	plan := carriedPlan()
	plan.TransferSite, plan.Imported = "", true
	plan.ImportedApprovals = []domain.Approval{{Actor: bob.Name, Role: bob.Role, PlanDigest: strings.Repeat("0", 64), At: time.Now()}}
	h := newHarness(t, plan)
	var awaiting CampaignStatus
	h.at(30*time.Minute, func() { awaiting = h.status(); h.decide("u-alice", approve(alice)) })
	res := h.run()
	if awaiting.Status != domain.CampaignAwaitingApproval {
		t.Fatalf("with an approval of another plan: %s, want awaiting approval", awaiting.Status)
	}
	if res.Status != domain.CampaignCompleted {
		t.Fatalf("result %+v", res)
	}
}

// TestCarriedCampaignPauseRefused: the site's instance runs the campaign; a pause here would
// hold nothing, so it is refused naming where to pause.
func TestCarriedCampaignPauseRefused(t *testing.T) {
	h, site := approvedCarried(t)
	var pause *operation
	h.at(2*time.Hour, func() {
		pause = h.operate(UpdatePause, "pause", OperatorRequest{Actor: ed, Reason: "line stop"})
		site.set(activities.SiteResults{Returned: true, Sequence: 1, Status: domain.CampaignCompleted, Detail: "done"})
		h.env.SignalWorkflow(SignalSiteResults, nil)
	})
	h.run()
	if pause == nil || pause.rule() != "state" || !strings.Contains(pause.refused.Error(), "pause it there") {
		t.Fatalf("pause of a carried campaign: %+v, want refused (state)", pause)
	}
}

// TestCarriedPlanFixedOnceApproved: the approved plan of a carried campaign is the one the
// site runs, and an imported plan is the one approved centrally: neither changes where it is.
func TestCarriedPlanFixedOnceApproved(t *testing.T) {
	h, site := approvedCarried(t)
	longer := window("0 2 * * 0", 6*time.Hour, 2)
	var change *reply[WindowChangeResponse]
	h.at(2*time.Hour, func() {
		change = send[WindowChangeResponse](h, UpdateWindow, "window", WindowChange{ZoneID: "line1", Window: longer, Actor: ed})
		site.set(activities.SiteResults{Returned: true, Sequence: 1, Status: domain.CampaignCompleted, Detail: "done"})
		h.env.SignalWorkflow(SignalSiteResults, nil)
	})
	h.run()
	if change == nil || change.rule() != "state" || !strings.Contains(change.refused.Error(), "carried to air-gapped site site_b") {
		t.Fatalf("window change of an approved carried plan: %+v, want refused (state)", change)
	}

	plan := carriedPlan()
	plan.TransferSite, plan.Imported = "", true
	plan.ImportedApprovals = []domain.Approval{{Actor: bob.Name, Role: bob.Role, PlanDigest: testDigest, At: time.Now()}}
	h = newHarness(t, plan)
	var waiver *reply[BackupWaiverResponse]
	h.at(time.Minute, func() {
		waiver = send[BackupWaiverResponse](h, UpdateBackupWaiver, "waive", BackupWaiverRequest{Actor: ed, AssetID: "plc1", Reason: "no backup agent for this model"})
	})
	h.run()
	if waiver == nil || waiver.rule() != "state" || !strings.Contains(waiver.refused.Error(), "approved at the central instance") {
		t.Fatalf("waiver at the site: %+v, want refused (state)", waiver)
	}
}
