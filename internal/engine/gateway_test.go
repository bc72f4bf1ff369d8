package engine_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/teststack"
	"github.com/otpatch/otpatch/workflows"
)

// TestReconcileStartsWhatACrashLeftBehind: a patch committed as submitted whose qualification
// never started (the process stopped in between) is qualified once the gateway reconciles,
// and reconciling or starting again never runs its workflow a second time.
func TestReconcileStartsWhatACrashLeftBehind(t *testing.T) {
	s := teststack.New(t, teststack.Options{ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)}})
	ctx := context.Background()
	tc := s.Temporal.GetDefaultClient()
	g := &engine.Gateway{Temporal: tc}

	// What the submission handler commits before it starts the workflow; this manifest is not
	// signed, so the qualification that reconciling starts must reject it.
	p := store.Patch{ID: store.NewID("pat"), VendorID: "vnd_acme", ProductID: "prd_acme_hmi", PatchRef: "ACME-SA-2026-099", Version: "V16.0.9",
		Title: "left behind", Status: string(domain.PatchSubmitted), Manifest: "{}", Reasons: "[]", Applicable: "[]", Report: "{}", SubmittedBy: "vera-vendor"}
	if err := s.Store.CreatePatch(ctx, &p, nil, store.Event{Actor: "vera-vendor", Role: "vendor", Action: "patch.submitted"}); err != nil {
		t.Fatal(err)
	}
	got, err := g.Reconcile(ctx, s.Store)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got.Patches, p.ID) {
		t.Fatalf("reconcile started %v, want %s among them", got.Patches, p.ID)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		q, err := s.Store.Patch(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if q.Status != string(domain.PatchSubmitted) && q.Status != string(domain.PatchQualifying) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the patch is still %s: its qualification did not run", q.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	id := workflows.QualificationWorkflowID(p.ID)
	tc.GetWorkflow(ctx, id, "").Get(ctx, nil) //nolint:errcheck // the outcome is in the store; this waits for the end
	for range 2 {
		if _, err := g.Reconcile(ctx, s.Store); err != nil {
			t.Fatal(err)
		}
		if err := g.StartQualification(ctx, p.ID); err != nil {
			t.Fatalf("starting a qualification that ran: %v, want nothing done", err)
		}
	}
	runs, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + id + "'"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(runs.Executions); n != 1 {
		t.Errorf("the qualification of %s ran %d times, want once", p.ID, n)
	}
}

func TestRefusalStatuses(t *testing.T) {
	for rule, want := range map[string]int{"reason": 422, "plan_digest": 422, "decision": 422, "state": 409, "creator": 409, "distinct": 409, "role": 409, "asset": 409} {
		if got := engine.StatusOf(rule); got != want {
			t.Errorf("StatusOf(%q) = %d, want %d", rule, got, want)
		}
	}
	if engine.UpdateID("pause", "") != "" {
		t.Error("an update without a request id must let Temporal choose its id")
	}
	long := engine.UpdateID("pause", string(make([]byte, 500)))
	if len(long) > 200 || engine.UpdateID("pause", "r1") != "pause:r1" {
		t.Errorf("UpdateID: %q", long)
	}
}
