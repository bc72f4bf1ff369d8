package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// TestCampaignOfMoreThan2000Assets runs a campaign of 2,100 simulated HMIs (zero latency, 100 at
// a time) end to end on the embedded default: created through the API, validated on the bench,
// approved, deployed. The campaign continues as new as its history grows, so every execution's
// history stays below its limit; each device is deployed exactly once and ends done, and the
// audit trail verifies.
func TestCampaignOfMoreThan2000Assets(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2,100-asset campaign takes a minute or more")
	}
	const n = 2100
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	ids := addSimulatedHMIs(t, e, n, 100)
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))

	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "plant-wide HMI update", "patch_id": p.ID, "asset_ids": ids}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign of %d assets: %d", n, code)
	}
	c = e.waitCampaignWithin(5*time.Minute, c.ID, "awaiting_approval", "test_failed")
	if c.Status != "awaiting_approval" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	// Wait on the store: the campaign's own row says when it ended.
	e.waitWithin(20*time.Minute, "the campaign to end", func() (bool, string) {
		sc, err := e.store.Campaign(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch sc.Status {
		case "completed", "halted", "rolled_back", "aborted":
			return true, sc.Status
		}
		return false, sc.Status + ": " + sc.Detail
	})
	sc, err := e.store.Campaign(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Status != "completed" || sc.Detail != "2100 assets patched and verified" {
		t.Fatalf("campaign %s: %s; want completed with 2100 assets patched and verified", sc.Status, sc.Detail)
	}

	cas, err := e.store.CampaignAssets(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, ca := range cas {
		if ca.State == "done" && !ca.TestBench {
			done++
		}
	}
	if done != n {
		t.Errorf("%d of %d production targets are done", done, n)
	}
	for _, id := range ids {
		ops, err := e.sim.Operations(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		deploys := 0
		for _, op := range ops {
			if op.Op == "deploy" {
				deploys++
			}
		}
		if deploys != 1 {
			t.Fatalf("%s was deployed %d times, want once: %+v", id, deploys, ops)
		}
	}

	// Walk the campaign's executions from the last back to the first.
	tc := e.temporal.GetDefaultClient()
	runs, longest := 0, 0
	for runID := ""; ; runs++ {
		it := tc.GetWorkflowHistory(ctx, workflows.CampaignWorkflowID(c.ID), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		events, prev := 0, ""
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if events == 0 {
				prev = ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
			}
			events++
		}
		longest = max(longest, events)
		if prev == "" {
			runs++
			break
		}
		runID = prev
	}
	t.Logf("%d assets: %d executions of the campaign workflow, the longest history %d events", n, runs, longest)
	if runs < 2 {
		t.Errorf("the campaign ran in %d execution(s); at %d assets it must have continued as new", runs, n)
	}
	if longest > workflows.DefaultHistoryLimit+2000 {
		t.Errorf("an execution's history reached %d events; the limit is %d and a page adds at most about 1,600", longest, workflows.DefaultHistoryLimit)
	}
	res, err := e.store.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Errorf("audit trail does not verify: %+v", res)
	}
}

// TestCampaignSizeLimit: a server configured for campaigns of at most three targets refuses a
// request that lists four assets, and one whose plan would reach four with its bench run, each
// naming asset_ids and the limit; nothing is created.
func TestCampaignSizeLimit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{maxCampaignAssets: 3})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	before, err := e.store.CampaignsPage(ctx, store.CampaignFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		assets []string
		want   string
	}{
		{[]string{"ast_pkg-hmi-01", "ast_pkg-hmi-02", "ast_pkg-hmi-03", "ast_pkg-hmi-04"}, "lists 4 assets, more than the 3 one campaign may have; split it into several campaigns"},
		{[]string{"ast_pkg-hmi-01", "ast_pkg-hmi-02", "ast_pkg-hmi-03"}, "the campaign would reach 4 assets, more than the 3 one campaign may have; list the assets of one part of the plant in asset_ids"},
	} {
		var pd problemDoc
		code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "too many", "patch_id": p.ID, "asset_ids": tc.assets}, &pd)
		if code != http.StatusUnprocessableEntity || len(pd.Errors) != 1 || pd.Errors[0].Field != "asset_ids" || pd.Errors[0].Message != tc.want {
			t.Errorf("%d assets: %d %+v, want 422 on asset_ids: %s", len(tc.assets), code, pd, tc.want)
		}
	}
	after, err := e.store.CampaignsPage(ctx, store.CampaignFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d campaigns after the refusals, %d before", len(after), len(before))
	}
}
