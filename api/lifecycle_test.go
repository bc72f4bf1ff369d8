package api_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/store"
)

// TestLifecycle drives a vendor patch through qualification, test bench, approval, window,
// backup, deploy and verification to completion, and a second campaign whose verification
// fails back to the backup — through the API, on a real Temporal server, store and S3.
func TestLifecycle(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: backend == "postgres"})
			ctx := context.Background()
			p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 6<<20+123))
			for _, want := range []string{"ast_pkg-hmi-01", "ast_bench-hmi-01", "ast_sis-hmi-01"} {
				if !slices.Contains(p.Applicable, want) {
					t.Errorf("applicable assets %v miss %s", p.Applicable, want)
				}
			}
			if slices.Contains(p.Applicable, "ast_pkg-plc-01") {
				t.Errorf("a PLC is listed as applicable to an HMI patch")
			}
			e.openWindowNow("zone_packaging")

			t.Run("success", func(t *testing.T) {
				var c campaignDoc
				code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{
					"name": "HMI fix, line 2", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02"}}, &c)
				if code != http.StatusCreated {
					t.Fatalf("create campaign: %d", code)
				}
				c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
				if c.Status != "awaiting_approval" {
					t.Fatalf("campaign %s: %s", c.Status, c.Detail)
				}
				// The creator cannot approve: the engineer role is refused by the route, and
				// an approver who is the creator would be refused by the workflow (see TestApprovalRules).
				if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Engineer, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusForbidden {
					t.Errorf("engineer approving: %d, want 403", code)
				}
				var res map[string]any
				if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, &res); code != http.StatusOK {
					t.Fatalf("approve: %d %v", code, res)
				}
				c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
				if c.Status != "completed" {
					t.Fatalf("campaign %s: %s", c.Status, c.Detail)
				}
				for _, a := range c.Assets {
					if a.State != "done" {
						t.Errorf("%s: state %s (%s)", a.Name, a.State, a.Error)
					}
					d, err := e.sim.Device(ctx, a.AssetID)
					if err != nil {
						t.Fatal(err)
					}
					if d.Version != "V16.0.2" {
						t.Errorf("%s runs %s, want V16.0.2", a.Name, d.Version)
					}
					e.checkBackup(t, a.BackupKey, a.BackupSHA256, a.AssetID, a.FromVersion)
					ops, _ := e.sim.Operations(ctx, a.AssetID)
					if len(ops) != 1 || ops[0].Op != "deploy" {
						t.Errorf("%s operations %+v, want one deploy", a.Name, ops)
					}
				}
				as, _ := e.store.Asset(ctx, "ast_pkg-hmi-01")
				if as.InstalledVersion != "V16.0.2" {
					t.Errorf("inventory says %s, want V16.0.2", as.InstalledVersion)
				}
				untouched, _ := e.sim.Device(ctx, "ast_pkg-hmi-03")
				if untouched.Version != "V16.0.1" {
					t.Errorf("an asset outside the campaign changed to %s", untouched.Version)
				}
				e.checkAudit(t, c.ID, []string{"campaign.created", "campaign.testing", "campaign.awaiting_approval", "campaign.approved",
					"asset.backing_up", "asset.backed_up", "asset.deploying", "asset.verifying", "asset.done", "campaign.deploying", "campaign.completed"})
			})

			t.Run("verify failure rolls back", func(t *testing.T) {
				if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-03/simulator/faults", e.tokens.Engineer, map[string]any{"verify_fail": true}, nil); code != http.StatusOK {
					t.Fatalf("set fault: %d", code)
				}
				var c campaignDoc
				e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "HMI fix, hmi-03", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-03"}}, &c)
				c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
				if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
					t.Fatalf("approve: %d", code)
				}
				c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
				if c.Status != "rolled_back" {
					t.Fatalf("campaign %s, want rolled_back: %s", c.Status, c.Detail)
				}
				for _, a := range c.Assets {
					if a.TestBench {
						continue
					}
					if a.State != "rolled_back" {
						t.Errorf("%s: %s, want rolled_back", a.Name, a.State)
					}
					d, _ := e.sim.Device(ctx, a.AssetID)
					if d.Version != "V16.0.1" || d.Health != "ok" {
						t.Errorf("after rollback the device runs %s (%s), want V16.0.1 ok", d.Version, d.Health)
					}
					e.checkBackup(t, a.BackupKey, a.BackupSHA256, a.AssetID, "V16.0.1")
					ops, _ := e.sim.Operations(ctx, a.AssetID)
					if len(ops) != 2 || ops[0].Op != "deploy" || ops[1].Op != "restore" {
						t.Errorf("operations %+v, want deploy then restore", ops)
					}
				}
				e.checkAudit(t, c.ID, []string{"asset.failed", "asset.rolling_back", "asset.rolled_back", "campaign.rolled_back"})
			})
		})
	}
}

// checkBackup reads a backup object back and checks its hash and that it holds the asset's
// state before the change.
func (e *env) checkBackup(t *testing.T, key, sum, assetID, version string) {
	t.Helper()
	rc, err := e.objects.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("backup %s: %v", key, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if sha(b) != sum || sum == "" {
		t.Errorf("backup %s hashes to %s, campaign records %s", key, sha(b), sum)
	}
	if !strings.Contains(string(b), `"asset_id":"`+assetID+`"`) || !strings.Contains(string(b), `"version":"`+version+`"`) {
		t.Errorf("backup %s = %s, want the state of %s at %s", key, b, assetID, version)
	}
}

// checkAudit asserts the campaign's trail holds the actions and the whole chain verifies.
func (e *env) checkAudit(t *testing.T, campaignID string, actions []string) {
	t.Helper()
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{CampaignID: campaignID})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.Action] = true
	}
	for _, a := range actions {
		if !seen[a] {
			t.Errorf("audit trail of %s lacks %s", campaignID, a)
		}
	}
	var res struct {
		OK      bool   `json:"ok"`
		Problem string `json:"problem"`
	}
	if code := e.call("GET", "/api/v1/audit/verify", e.tokens.Auditor, nil, &res); code != http.StatusOK || !res.OK {
		t.Errorf("audit verify: %d %+v", code, res)
	}
}
