package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	engineers := []string{"engineer", "admin"}
	allowed["POST /api/v1/campaigns/{campaignID}/pause"] = engineers
	allowed["POST /api/v1/campaigns/{campaignID}/resume"] = engineers
	allowed["POST /api/v1/campaigns/{campaignID}/abort"] = engineers
	allowed["GET /api/v1/alarms"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
}

var packagingHMIs = []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02", "ast_pkg-hmi-03", "ast_pkg-hmi-04"}

type operatorAnswer struct {
	Status   string `json:"status"`
	Paused   bool   `json:"paused"`
	Aborting bool   `json:"aborting"`
}

// approvedCampaign creates a campaign over assets, waits for the bench and approves it.
func (e *env) approvedCampaign(patchID string, assets []string, extra map[string]any) campaignDoc {
	e.t.Helper()
	req := map[string]any{"name": "engine test", "patch_id": patchID, "asset_ids": assets}
	for k, v := range extra {
		req[k] = v
	}
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, req, &c); code != http.StatusCreated {
		e.t.Fatalf("create campaign: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	if c.Status != "awaiting_approval" {
		e.t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		e.t.Fatalf("approve: %d", code)
	}
	return c
}

func (e *env) assetState(c campaignDoc, id string) string {
	for _, a := range c.Assets {
		if a.AssetID == id {
			return a.State
		}
	}
	return ""
}

func (e *env) ops(id string) []string {
	e.t.Helper()
	ops, err := e.sim.Operations(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, o := range ops {
		out = append(out, o.Op)
	}
	return out
}

// TestEngineAbortMidWave aborts a campaign while pkg-hmi-02's deploy hangs: hmi-02 goes back to
// its backup, hmi-01 (verified before the abort) keeps the new version, hmi-03 and hmi-04 are
// never touched, the campaign ends aborted, and the trail holds who aborted and why. An abort
// without a reason and an approver's abort are refused.
func TestEngineAbortMidWave(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging") // two at a time: hmi-01 and hmi-02 first
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-02/simulator/faults", e.tokens.Engineer, map[string]any{"hang": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	c := e.approvedCampaign(p.ID, packagingHMIs, nil)
	e.waitFor("hmi-01 done and hmi-02 hanging in deploy", func() (bool, string) {
		c = e.campaign(c.ID)
		return e.assetState(c, "ast_pkg-hmi-01") == "done" && e.assetState(c, "ast_pkg-hmi-02") == "deploying", c.Status + " " + c.Detail
	})

	var prob problemDoc
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/abort", e.tokens.Engineer, map[string]any{}, &prob); code != http.StatusUnprocessableEntity || prob.Rule != "reason" {
		t.Errorf("abort without a reason: %d rule %q, want 422 reason", code, prob.Rule)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/abort", e.tokens.Approver, map[string]any{"reason": "x"}, nil); code != http.StatusForbidden {
		t.Errorf("approver aborting: %d, want 403", code)
	}
	var ans operatorAnswer
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/abort", e.tokens.Engineer, map[string]any{"reason": "hmi-02 stopped answering"}, &ans); code != http.StatusAccepted || !ans.Aborting {
		t.Fatalf("abort: %d %+v", code, ans)
	}
	c = e.waitCampaign(c.ID, "aborted", "completed", "halted", "rolled_back")
	if c.Status != "aborted" {
		t.Fatalf("campaign %s: %s, want aborted", c.Status, c.Detail)
	}
	ctx := context.Background()
	want := map[string]struct {
		state, version string
		ops            []string
	}{
		"ast_pkg-hmi-01": {"done", "V16.0.2", []string{"deploy"}},
		// Restored because of the abort: aborted, never listed as a verification failure.
		"ast_pkg-hmi-02": {"aborted", "V16.0.1", []string{"restore"}}, // the hung deploy never applied
		// Never started: closed as not_started, not left pending forever.
		"ast_pkg-hmi-03": {"not_started", "V16.0.1", nil},
		"ast_pkg-hmi-04": {"not_started", "V16.0.1", nil},
	}
	for id, w := range want {
		d, err := e.sim.Device(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.assetState(c, id); got != w.state || d.Version != w.version || !slices.Equal(e.ops(id), w.ops) {
			t.Errorf("%s: state %s, runs %s, operations %v; want %s, %s, %v", id, got, d.Version, e.ops(id), w.state, w.version, w.ops)
		}
	}
	for _, a := range c.Assets {
		if a.AssetID == "ast_pkg-hmi-02" && (!strings.Contains(a.Error, "restored after abort") || strings.Contains(a.Error, "verification")) {
			t.Errorf("hmi-02's end: %q, want restored after abort and no verification failure", a.Error)
		}
		if a.State == "not_started" && !strings.Contains(a.Error, "aborted by erin-engineer") {
			t.Errorf("%s not started: %q, want the abort named", a.Name, a.Error)
		}
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/pause", e.tokens.Engineer, nil, &prob); code != http.StatusConflict || prob.Rule != "state" {
		t.Errorf("pausing an aborted campaign: %d rule %q, want 409 state", code, prob.Rule)
	}
	e.checkAudit(t, c.ID, []string{"campaign.abort_requested", "asset.rolling_back", "asset.aborted", "asset.not_started", "campaign.aborted", "campaign.operation_refused"})
	e.checkActor(t, c.ID, "campaign.abort_requested", "engineer")
}

// TestEnginePauseResume pauses a campaign before its window work starts: once approved it holds
// as paused and touches no production asset; an approver cannot resume it; after the
// engineer's resume it completes.
func TestEnginePauseResume(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "paused", "patch_id": p.ID, "asset_ids": packagingHMIs[:2]}, &c); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval")
	var ans operatorAnswer
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/pause", e.tokens.Engineer, nil, &ans); code != http.StatusOK || !ans.Paused {
		t.Fatalf("pause: %d %+v", code, ans)
	}
	var prob problemDoc
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/pause", e.tokens.Admin, map[string]any{"reason": "twice"}, &prob); code != http.StatusConflict || prob.Rule != "state" {
		t.Errorf("second pause: %d rule %q, want 409 state", code, prob.Rule)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	c = e.waitCampaign(c.ID, "paused")
	for _, id := range packagingHMIs[:2] {
		if ops := e.ops(id); len(ops) != 0 {
			t.Errorf("%s was changed while the campaign was paused: %v", id, ops)
		}
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/resume", e.tokens.Approver, nil, nil); code != http.StatusForbidden {
		t.Errorf("approver resuming: %d, want 403", code)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/resume", e.tokens.Engineer, map[string]any{"reason": "line stopped"}, &ans); code != http.StatusOK || ans.Paused {
		t.Fatalf("resume: %d %+v", code, ans)
	}
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back", "aborted")
	if c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	for _, id := range packagingHMIs[:2] {
		if ops := e.ops(id); !slices.Equal(ops, []string{"deploy"}) {
			t.Errorf("%s operations %v, want one deploy", id, ops)
		}
	}
	e.checkAudit(t, c.ID, []string{"campaign.pause_requested", "campaign.paused", "campaign.resume_requested", "campaign.completed"})
}

// TestEngineWindowEditTakesEffect edits the window of a zone an approved campaign waits for
// (next opening: January): the campaign is re-planned at once, its approval no longer counts, an
// approval of the old digest is refused, and approving the new plan deploys in the new window.
func TestEngineWindowEditTakesEffect(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	yearly := domain.Window{Cron: "0 3 1 1 *", Duration: domain.Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2}
	if code := e.call("PUT", "/api/v1/zones/zone_packaging/window", e.tokens.Engineer, yearly, nil); code != http.StatusOK {
		t.Fatalf("set window: %d", code)
	}
	c := e.approvedCampaign(p.ID, packagingHMIs[:2], nil)
	old := c.PlanDigest
	c = e.waitCampaign(c.ID, "scheduled")

	e.openWindowNow("zone_packaging")
	c = e.campaign(c.ID) // the PUT answers after the campaign took the change
	if c.PlanDigest == old {
		t.Fatalf("plan digest unchanged after the window edit")
	}
	c = e.waitCampaign(c.ID, "awaiting_approval")
	var prob problemDoc
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": old}, &prob); code != http.StatusUnprocessableEntity || prob.Rule != "plan_digest" {
		t.Errorf("approving the old plan: %d rule %q, want 422 plan_digest", code, prob.Rule)
	}
	for _, id := range packagingHMIs[:2] {
		if ops := e.ops(id); len(ops) != 0 {
			t.Errorf("%s changed before the new plan was approved: %v", id, ops)
		}
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve the new plan: %d", code)
	}
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	e.checkAudit(t, c.ID, []string{"campaign.replanned", "campaign.completed"})
}

// checkActor asserts the campaign's trail holds action by a person with role.
func (e *env) checkActor(t *testing.T, campaignID, action, role string) {
	t.Helper()
	evs, err := e.store.AuditEvents(context.Background(), storeFilter(campaignID, action))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Role == role {
			return
		}
	}
	t.Errorf("no %s by a %s in the trail of %s (%d events)", action, role, campaignID, len(evs))
}

func storeFilter(campaignID, action string) store.AuditFilter {
	return store.AuditFilter{CampaignID: campaignID, Action: action}
}
