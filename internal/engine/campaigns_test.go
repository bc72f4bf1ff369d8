package engine_test

import (
	"context"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/teststack"
	"github.com/otpatch/otpatch/workflows"
)

// TestReconcileCampaignsAfterARestore: campaigns whose rows and workflows disagree, as after a
// restore of otpatch's and Temporal's databases from copies of different moments, are each
// raised as an alarm with an audit event; a running campaign without a workflow, or whose
// workflow was terminated, is marked halted; a campaign and workflow that agree are left alone.
func TestReconcileCampaignsAfterARestore(t *testing.T) {
	s := teststack.New(t, teststack.Options{ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)}})
	ctx := context.Background()
	tc := s.Temporal.GetDefaultClient()
	g := &engine.Gateway{Temporal: tc}
	ev := store.Event{Actor: "erin-engineer", Role: "engineer", Action: "campaign.created"}

	p := store.Patch{ID: store.NewID("pat"), VendorID: "vnd_acme", ProductID: "prd_acme_hmi", PatchRef: "ACME-SA-2026-098", Version: "V16.0.9",
		Title: "restored", Status: string(domain.PatchQualified), Manifest: "{}", Reasons: "[]", Applicable: "[]", Report: "{}", SubmittedBy: "vera-vendor"}
	if err := s.Store.CreatePatch(ctx, &p, nil, store.Event{Actor: "vera-vendor", Role: "vendor", Action: "patch.submitted"}); err != nil {
		t.Fatal(err)
	}
	campaign := func(name string, status domain.CampaignStatus) string {
		c := store.Campaign{ID: store.NewID("cmp"), Name: name, PatchID: p.ID, Status: string(domain.CampaignDraft), CreatedBy: "erin-engineer", Plan: "{}"}
		c.WorkflowID = workflows.CampaignWorkflowID(c.ID)
		if err := s.Store.CreateCampaign(ctx, &c, nil, ev); err != nil {
			t.Fatal(err)
		}
		if err := s.Store.SetCampaignStatus(ctx, c.ID, status, "", store.Event{Actor: "otpatch", Role: "system", Action: "campaign." + string(status)}); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	// A workflow nobody polls for runs until it is terminated: what Temporal holds for a
	// campaign is all reconciliation reads.
	startRunning := func(id string) {
		if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.CampaignWorkflowID(id), TaskQueue: "nobody-polls"}, "Campaign"); err != nil {
			t.Fatal(err)
		}
	}
	missing := campaign("missing", domain.CampaignDeploying)
	terminated := campaign("terminated", domain.CampaignScheduled)
	startRunning(terminated)
	if err := tc.TerminateWorkflow(ctx, workflows.CampaignWorkflowID(terminated), "", "lost with the restore"); err != nil {
		t.Fatal(err)
	}
	stillRunning := campaign("ended but running", domain.CampaignCompleted)
	startRunning(stillRunning)
	agree := campaign("agree", domain.CampaignDeploying)
	startRunning(agree)
	t.Cleanup(func() {
		for _, id := range []string{stillRunning, agree} {
			_ = tc.TerminateWorkflow(context.Background(), workflows.CampaignWorkflowID(id), "", "test over")
		}
	})

	got, err := g.ReconcileCampaigns(ctx, s.Store)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]engine.CampaignDifference{
		missing:      {CampaignID: missing, Status: "deploying", Workflow: "missing", Alarm: engine.AlarmWorkflowMissing, Halted: true},
		terminated:   {CampaignID: terminated, Status: "scheduled", Workflow: "terminated", Alarm: engine.AlarmWorkflowEnded, Halted: true},
		stillRunning: {CampaignID: stillRunning, Status: "completed", Workflow: "running", Alarm: engine.AlarmWorkflowStillRunning},
	}
	if len(got) != len(want) {
		t.Fatalf("differences %+v, want %d", got, len(want))
	}
	for _, d := range got {
		if d != want[d.CampaignID] {
			t.Errorf("difference %+v, want %+v", d, want[d.CampaignID])
		}
	}
	for id, status := range map[string]string{missing: "halted", terminated: "halted", stillRunning: "completed", agree: "deploying"} {
		c, err := s.Store.Campaign(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != status {
			t.Errorf("campaign %s is %s after reconciling, want %s", id, c.Status, status)
		}
	}
	alarms, err := s.Store.AlarmsPage(ctx, store.AlarmFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	raised := map[string]string{}
	for _, a := range alarms {
		raised[a.CampaignID] = a.Kind
	}
	for id, d := range want {
		if raised[id] != d.Alarm {
			t.Errorf("alarm of campaign %s: %q, want %q", id, raised[id], d.Alarm)
		}
	}
	if _, ok := raised[agree]; ok {
		t.Errorf("an alarm was raised for a campaign whose workflow runs as its row says")
	}
	evs, err := s.Store.AuditEvents(ctx, store.AuditFilter{Action: "campaign.reconcile_alarm", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(want) {
		t.Errorf("%d campaign.reconcile_alarm audit events, want %d", len(evs), len(want))
	}
	// Reconciling again changes nothing more: the halted campaigns have ended and have no
	// running workflow, and the alarm of the one still running is raised once.
	if _, err := g.ReconcileCampaigns(ctx, s.Store); err != nil {
		t.Fatal(err)
	}
	if evs2, _ := s.Store.AuditEvents(ctx, store.AuditFilter{Action: "campaign.reconcile_alarm", Limit: 100}); len(evs2) != len(evs) {
		t.Errorf("reconciling again wrote %d more alarm events", len(evs2)-len(evs))
	}
}
