package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	allowed["POST /api/v1/campaigns/{campaignID}/assets/{assetID}/backup-waiver"] = []string{"engineer", "admin"}
}

type waiverAnswer struct {
	AssetID    string `json:"asset_id"`
	Actor      string `json:"actor"`
	Role       string `json:"role"`
	Reason     string `json:"reason"`
	PlanDigest string `json:"plan_digest"`
	Replanned  bool   `json:"replanned"`
}

// waivedCampaign creates a campaign over assets, waits for the bench, waives the backup of
// waived with reason (after checking the refusals: an approver, no reason, an asset that is not
// a target) and approves the plan. The waiver changes the plan: the review shows it, the
// digest is new, and an approval of the plan without it is refused.
func (e *env) waivedCampaign(t *testing.T, patchID string, assets []string, waived, reason string) campaignDoc {
	t.Helper()
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "waiver", "patch_id": patchID, "asset_ids": assets}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	if c.Status != "awaiting_approval" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	path := "/api/v1/campaigns/" + c.ID + "/assets/" + waived + "/backup-waiver"
	if code := e.call("POST", path, e.tokens.Approver, map[string]any{"reason": reason}, nil); code != http.StatusForbidden {
		t.Errorf("approver waiving: %d, want 403", code)
	}
	var prob problemDoc
	if code := e.call("POST", path, e.tokens.Engineer, map[string]any{"reason": "  "}, &prob); code != http.StatusUnprocessableEntity || prob.Rule != "reason" {
		t.Errorf("waiver without a reason: %d rule %q, want 422 reason", code, prob.Rule)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/assets/ast_nowhere/backup-waiver", e.tokens.Engineer, map[string]any{"reason": reason}, &prob); code != http.StatusConflict || prob.Rule != "asset" {
		t.Errorf("waiver for an asset that is not a target: %d rule %q, want 409 asset", code, prob.Rule)
	}
	var ans waiverAnswer
	if code := e.call("POST", path, e.tokens.Engineer, map[string]any{"reason": reason}, &ans); code != http.StatusOK || ans.AssetID != waived || ans.Role != "engineer" || ans.Reason != reason ||
		!ans.Replanned || ans.PlanDigest == "" || ans.PlanDigest == c.PlanDigest {
		t.Fatalf("waiver: %d %+v, want accepted with a new plan digest", code, ans)
	}
	if code := e.call("POST", path, e.tokens.Admin, map[string]any{"reason": "again"}, &prob); code != http.StatusConflict || prob.Rule != "state" {
		t.Errorf("second waiver: %d rule %q, want 409 state", code, prob.Rule)
	}
	var view struct {
		PlanDigest string `json:"plan_digest"`
		Review     struct {
			PlanDigest string `json:"plan_digest"`
			Waivers    []struct {
				AssetID string `json:"asset_id"`
				Name    string `json:"name"`
				By      string `json:"by"`
				Reason  string `json:"reason"`
			} `json:"waivers"`
		} `json:"review"`
	}
	if code := e.call("GET", "/api/v1/campaigns/"+c.ID, e.tokens.Approver, nil, &view); code != http.StatusOK || view.PlanDigest != ans.PlanDigest || view.Review.PlanDigest != ans.PlanDigest ||
		len(view.Review.Waivers) != 1 || view.Review.Waivers[0].AssetID != waived || view.Review.Waivers[0].Name == "" || view.Review.Waivers[0].By != ans.Actor || view.Review.Waivers[0].Reason != reason {
		t.Errorf("campaign after the waiver: %d %+v, want the new digest and the waiver in the review", code, view)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, &prob); code != http.StatusUnprocessableEntity || prob.Rule != "plan_digest" {
		t.Errorf("approval of the plan without the waiver: %d rule %q, want 422 plan_digest", code, prob.Rule)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": ans.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve the plan with the waiver: %d", code)
	}
	c.PlanDigest = ans.PlanDigest
	return c
}

// checkWaiverTrail asserts the trail holds the engineer's waiver as a change of the plan
// (campaign.replanned, with its reason), and the asset's deploy without a verified backup naming
// the engineer and the reason.
func (e *env) checkWaiverTrail(t *testing.T, campaignID, assetID, reason string) {
	t.Helper()
	ctx := context.Background()
	evs, err := e.store.AuditEvents(ctx, store.AuditFilter{CampaignID: campaignID, Action: "campaign.replanned"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Role != "engineer" || evs[0].Actor == "" || evs[0].AssetID != assetID || !strings.Contains(evs[0].Details, reason) ||
		!strings.Contains(evs[0].Details, "backup waiver for ") || !strings.Contains(evs[0].Details, "to_digest") {
		t.Errorf("campaign.replanned events %+v, want one for the waiver of %s by the engineer, with the reason and the new digest", evs, assetID)
	}
	engineer := evs[0].Actor
	evs, err = e.store.AuditEvents(ctx, store.AuditFilter{CampaignID: campaignID, Action: "asset.deploying_without_backup"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].AssetID != assetID || !strings.Contains(evs[0].Details, engineer) || !strings.Contains(evs[0].Details, reason) || !strings.Contains(evs[0].Details, "does not verify") {
		t.Errorf("asset.deploying_without_backup events %+v, want one for %s naming %s, the reason and the failed backup", evs, assetID, engineer)
	}
}

// TestEngineWaiverDeploysWithoutBackup corrupts hmi-03's backup, as in
// TestEngineCorruptBackupBlocksDeploy (which shows that without a waiver nothing deploys), but
// an engineer waives hmi-03's backup with a reason: hmi-03 is deployed and verified, its record
// says it was deployed without a verified backup, and the trail holds the waiver with the
// engineer and the reason.
func TestEngineWaiverDeploysWithoutBackup(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-03/simulator/faults", e.tokens.Engineer, map[string]any{"backup_corrupt": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	reason := "backup port of hmi-03 is broken; config is in the engineering station, ticket CHG-4711"
	c := e.waivedCampaign(t, p.ID, []string{"ast_pkg-hmi-03"}, "ast_pkg-hmi-03", reason)
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" {
		t.Fatalf("campaign %s: %s, want completed", c.Status, c.Detail)
	}
	for _, a := range c.Assets {
		if a.AssetID == "ast_pkg-hmi-03" && (a.State != "done" || !strings.Contains(a.Error, "deployed without a verified backup") || !strings.Contains(a.Error, reason)) {
			t.Errorf("hmi-03: %s (%q), want done and recorded as deployed without a verified backup under the waiver", a.State, a.Error)
		}
	}
	if ops := e.ops("ast_pkg-hmi-03"); !slices.Equal(ops, []string{"deploy"}) {
		t.Errorf("hmi-03 operations %v, want one deploy", ops)
	}
	if d, _ := e.sim.Device(context.Background(), "ast_pkg-hmi-03"); d.Version != "V16.0.2" {
		t.Errorf("hmi-03 runs %s, want V16.0.2", d.Version)
	}
	e.checkWaiverTrail(t, c.ID, "ast_pkg-hmi-03", reason)
	e.checkAudit(t, c.ID, []string{"campaign.replanned", "asset.deploying_without_backup", "asset.done", "campaign.completed", "campaign.operation_refused"})
	var prob problemDoc
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/assets/ast_pkg-hmi-03/backup-waiver", e.tokens.Engineer, map[string]any{"reason": reason}, &prob); code != http.StatusConflict || prob.Rule != "state" {
		t.Errorf("waiver on an ended campaign: %d rule %q, want 409 state", code, prob.Rule)
	}
}

// TestEngineWaiverFailureCannotRestore waives hmi-04's corrupt backup and makes its deploy fail
// verification: with no backup to restore, hmi-04 ends rollback_failed, nothing is restored,
// the campaign halts and a critical alarm asks for manual action.
func TestEngineWaiverFailureCannotRestore(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-04/simulator/faults", e.tokens.Engineer, map[string]any{"backup_corrupt": true, "verify_fail": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	reason := "vendor hotline confirmed the backup service is down; accepted risk"
	c := e.waivedCampaign(t, p.ID, []string{"ast_pkg-hmi-04"}, "ast_pkg-hmi-04", reason)
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "halted" || e.assetState(c, "ast_pkg-hmi-04") != "rollback_failed" {
		t.Fatalf("campaign %s (%s), hmi-04 %s; want halted with rollback_failed", c.Status, c.Detail, e.assetState(c, "ast_pkg-hmi-04"))
	}
	for _, a := range c.Assets {
		if a.AssetID == "ast_pkg-hmi-04" && !strings.Contains(a.Error, "no verified backup to restore") {
			t.Errorf("hmi-04 error %q, want it to say there was no backup to restore", a.Error)
		}
	}
	if ops := e.ops("ast_pkg-hmi-04"); !slices.Equal(ops, []string{"deploy"}) {
		t.Errorf("hmi-04 operations %v, want the deploy and no restore", ops)
	}
	var alarms []store.Alarm
	if code := e.list("/api/v1/alarms", e.tokens.Auditor, &alarms); code != http.StatusOK || len(alarms) != 1 || alarms[0].AssetID != "ast_pkg-hmi-04" || alarms[0].Severity != "critical" {
		t.Errorf("alarms: %d %+v, want one critical alarm for hmi-04", code, alarms)
	}
	e.checkWaiverTrail(t, c.ID, "ast_pkg-hmi-04", reason)
	e.checkAudit(t, c.ID, []string{"asset.rollback_failed", "alarm.raised", "campaign.halted"})
}
