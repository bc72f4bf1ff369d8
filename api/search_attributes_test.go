package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/workflows"
)

// TestWorkflowsCarrySearchAttributes: once otpatch's search attributes are registered in the
// namespace (as otpatch dev, server, worker and migrate --temporal do), a qualification carries
// its patch, a campaign its campaign, patch, zones and sites, and each asset deployment its
// campaign, patch, asset, zone and site, so that an operator finds them in the Temporal UI and
// CLI by query; each has a summary. Registering again adds nothing.
func TestWorkflowsCarrySearchAttributes(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	tc := e.temporal.GetDefaultClient()
	added, err := engine.RegisterSearchAttributes(ctx, tc, e.temporal.GetDefaultNamespace())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"OtpatchAsset", "OtpatchCampaign", "OtpatchPatch", "OtpatchSites", "OtpatchZones"}
	if !slices.Equal(added, want) {
		t.Fatalf("registered %v, want %v", added, want)
	}
	if again, err := engine.RegisterSearchAttributes(ctx, tc, e.temporal.GetDefaultNamespace()); err != nil || len(again) != 0 {
		t.Fatalf("registering again: %v, %v; want nothing added", again, err)
	}
	// The frontend takes a namespace's new search attributes from its cache, refreshed every
	// few seconds: wait until a query on one is accepted.
	list := func(query string) ([]string, error) {
		res, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, x := range res.Executions {
			ids = append(ids, x.Execution.WorkflowId)
		}
		slices.Sort(ids)
		return ids, nil
	}
	e.waitWithin(time.Minute, "the namespace to take the search attributes", func() (bool, string) {
		_, err := list("OtpatchCampaign = 'none'")
		return err == nil, fmt.Sprint(err)
	})

	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1<<20))
	e.openWindowNow("zone_packaging")
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{
		"name": "HMI fix, searched", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	if c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back"); c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	zone, err := e.store.Zone(ctx, "zone_packaging")
	if err != nil {
		t.Fatal(err)
	}
	campaignWF := workflows.CampaignWorkflowID(c.ID)
	asset1, asset2 := workflows.AssetWorkflowID(c.ID, "ast_pkg-hmi-01"), workflows.AssetWorkflowID(c.ID, "ast_pkg-hmi-02")
	for query, wantIDs := range map[string][]string{
		fmt.Sprintf("OtpatchPatch = '%s' AND WorkflowType = 'PatchQualification'", p.ID):                            {workflows.QualificationWorkflowID(p.ID)},
		fmt.Sprintf("OtpatchCampaign = '%s' AND WorkflowType = 'Campaign'", c.ID):                                   {campaignWF},
		fmt.Sprintf("OtpatchAsset = 'ast_pkg-hmi-01' AND OtpatchCampaign = '%s'", c.ID):                             {asset1},
		fmt.Sprintf("OtpatchZones = 'zone_packaging' AND OtpatchPatch = '%s' AND OtpatchAsset IS NOT NULL", p.ID):   {asset1, asset2},
		fmt.Sprintf("OtpatchSites = '%s' AND WorkflowType = 'Campaign' AND OtpatchPatch = '%s'", zone.SiteID, p.ID): {campaignWF},
		fmt.Sprintf("OtpatchSites = '%s' AND OtpatchAsset = 'ast_pkg-hmi-02'", zone.SiteID):                         {asset2},
	} {
		slices.Sort(wantIDs)
		e.waitWithin(time.Minute, query, func() (bool, string) {
			got, err := list(query)
			return err == nil && slices.Equal(got, wantIDs), fmt.Sprintf("%v %v, want %v", got, err, wantIDs)
		})
	}
	for id, wantSummary := range map[string]string{campaignWF: `campaign "HMI fix, searched"`, asset1: "deploy of "} {
		d, err := tc.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		var summary string
		if err := converter.GetDefaultDataConverter().FromPayload(d.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary); err != nil {
			t.Fatalf("%s: summary: %v", id, err)
		}
		if !strings.Contains(summary, wantSummary) {
			t.Errorf("%s has the summary %q, want it to contain %q", id, summary, wantSummary)
		}
	}
}
