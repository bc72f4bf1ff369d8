package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// reviewDoc is the approver's view of a campaign (GET /api/v1/campaigns/{id} → review).
type reviewDoc struct {
	Review struct {
		Patch struct {
			Title  string       `json:"title"`
			Vendor string       `json:"vendor"`
			CVEs   []domain.CVE `json:"cves"`
		} `json:"patch"`
		PlanDigest string `json:"plan_digest"`
		Targets    []struct {
			Name          string `json:"name"`
			ZoneName      string `json:"zone_name"`
			FromVersion   string `json:"from_version"`
			Compatibility string `json:"compatibility"`
			Accepted      bool   `json:"accepted_not_stated"`
			CoveredBy     string `json:"covered_by"`
		} `json:"targets"`
		Bench []struct {
			Name        string   `json:"name"`
			FromVersion string   `json:"from_version"`
			ToVersion   string   `json:"to_version"`
			Prepare     string   `json:"prepare"`
			State       string   `json:"state"`
			Checks      []string `json:"checks"`
		} `json:"bench"`
		Uncovered []string `json:"uncovered"`
		Waves     []struct {
			ZoneName       string `json:"zone_name"`
			ErrorThreshold int    `json:"error_threshold"`
		} `json:"waves"`
	} `json:"review"`
}

func (e *env) review(id string) reviewDoc {
	e.t.Helper()
	var r reviewDoc
	if code := e.call("GET", "/api/v1/campaigns/"+id, e.tokens.Approver, nil, &r); code != http.StatusOK {
		e.t.Fatalf("get campaign: %d", code)
	}
	return r
}

func (e *env) campaignCount() int {
	e.t.Helper()
	var cs []campaignDoc
	if code := e.list("/api/v1/campaigns", e.tokens.Engineer, &cs); code != http.StatusOK {
		e.t.Fatalf("list campaigns: %d", code)
	}
	return len(cs)
}

// setInstalled changes what an asset runs, on the simulated device and in the inventory, as a
// site engineer's manual update would.
func (e *env) setInstalled(id, version string) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.sim.Register(ctx, id, version, `{"hostname":"`+id+`"}`); err != nil {
		e.t.Fatal(err)
	}
	ev := store.Event{Actor: "site-engineer", Role: string(domain.RoleEngineer), Action: "asset.version_changed"}
	if err := e.store.SetInstalledVersion(ctx, id, version, ev); err != nil {
		e.t.Fatal(err)
	}
}

func hasField(p problemDoc, field, text string) bool {
	for _, f := range p.Errors {
		if f.Field == field && strings.Contains(f.Message, text) {
			return true
		}
	}
	return false
}

// TestPlanFromLiveInventory walks the ways a plan could differ from what runs: an empty target
// list, an asset already at the fixed version, an error threshold a safety zone does not allow,
// a version no bench covers, an asset in two open campaigns; and what the approver reads.
func TestPlanFromLiveInventory(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	create := func(body map[string]any, out any) int {
		body["patch_id"] = p.ID
		if _, ok := body["name"]; !ok {
			body["name"] = "plan test"
		}
		return e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, body, out)
	}

	// 1. No targets never means every affected asset.
	for _, body := range []map[string]any{{"asset_ids": []string{}}, {}} {
		var prob problemDoc
		if code := create(body, &prob); code != http.StatusUnprocessableEntity || !hasField(prob, "asset_ids", "names no asset") {
			t.Errorf("campaign with %v: %d %+v, want 422 naming asset_ids", body, code, prob)
		}
	}
	if n := e.campaignCount(); n != 0 {
		t.Fatalf("%d campaigns after refusals, want none", n)
	}

	// 2. pkg-hmi-04 was updated by hand after qualification: the plan reads it as it is now.
	e.setInstalled("ast_pkg-hmi-04", "V16.0.2")
	var prob problemDoc
	if code := create(map[string]any{"asset_ids": []string{"ast_pkg-hmi-04"}}, &prob); code != http.StatusUnprocessableEntity ||
		!hasField(prob, "asset_ids", "pkg-hmi-04 runs V16.0.2, already at or past the fixed version V16.0.2") {
		t.Errorf("campaign on a patched asset: %d %+v, want 422 with the reason", code, prob)
	}
	var pv struct {
		Now []struct {
			Name      string `json:"name"`
			Installed string `json:"installed_version"`
			Applies   bool   `json:"applies"`
			Reason    string `json:"reason"`
		} `json:"applicability_now"`
	}
	if code := e.call("GET", "/api/v1/patches/"+p.ID, e.tokens.Engineer, nil, &pv); code != http.StatusOK {
		t.Fatalf("get patch: %d", code)
	}
	found := false
	for _, a := range pv.Now {
		if a.Name == "pkg-hmi-04" {
			found = true
			if a.Installed != "V16.0.2" || a.Applies || !strings.Contains(a.Reason, "already at or past") {
				t.Errorf("pkg-hmi-04 now: %+v, want V16.0.2, not applicable", a)
			}
		}
	}
	if !found {
		t.Error("the patch view lacks pkg-hmi-04's version as it is now")
	}

	// 5. A threshold a safety zone does not allow is refused, not silently lowered.
	if code := create(map[string]any{"asset_ids": []string{"ast_pkg-hmi-01", "ast_sis-hmi-01"}, "error_threshold": 1}, &prob); code != http.StatusUnprocessableEntity ||
		!hasField(prob, "error_threshold", "Safety Systems holds SL-T 3–4 or safety-critical targets") {
		t.Errorf("threshold 1 with a safety HMI: %d %+v, want 422 naming the zone", code, prob)
	}

	// 3. A version no bench covers: an SL-T 3 target is refused; a packaging target is planned
	// with the gap shown, once its not_stated compatibility is accepted.
	e.setInstalled("ast_proc-hmi-01", "V15.2")
	e.setInstalled("ast_pkg-hmi-02", "V15.2")
	if code := create(map[string]any{"asset_ids": []string{"ast_proc-hmi-01"}, "accept_not_stated": []string{"ast_proc-hmi-01"}, "accept_reason": "vendor confirmed"}, &prob); code != http.StatusUnprocessableEntity ||
		!hasField(prob, "asset_ids", "proc-hmi-01 (SL-T 3) runs V15.2") {
		t.Errorf("SL-T 3 target without bench coverage: %d %+v, want 422", code, prob)
	}
	if code := create(map[string]any{"asset_ids": []string{"ast_pkg-hmi-02"}}, &prob); code != http.StatusUnprocessableEntity || !hasField(prob, "asset_ids", "not_stated") {
		t.Errorf("not_stated without acceptance: %d %+v, want 422", code, prob)
	}
	if n := e.campaignCount(); n != 0 {
		t.Fatalf("%d campaigns after refusals, want none", n)
	}
	var a campaignDoc
	if code := create(map[string]any{"name": "packaging HMIs", "asset_ids": []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02"},
		"accept_not_stated": []string{"ast_pkg-hmi-02"}, "accept_reason": "Acme support confirmed V15.2 by ticket 4711"}, &a); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}

	// 4. One open campaign per asset, enforced by the store.
	var b campaignDoc
	if code := create(map[string]any{"name": "line 2 HMI 3", "asset_ids": []string{"ast_pkg-hmi-03"}}, &b); code != http.StatusCreated {
		t.Fatalf("create campaign on hmi-03: %d", code)
	}
	if code := create(map[string]any{"asset_ids": []string{"ast_pkg-hmi-03"}}, &prob); code != http.StatusConflict || !strings.Contains(prob.Detail, `pkg-hmi-03 is a target of campaign "line 2 HMI 3"`) {
		t.Errorf("second campaign on hmi-03: %d %q, want 409 naming the first", code, prob.Detail)
	}
	if n := e.campaignCount(); n != 2 {
		t.Fatalf("%d campaigns, want 2", n)
	}

	// 8. The approver sees what the plan does, in names.
	a = e.waitCampaign(a.ID, "awaiting_approval", "test_failed")
	if a.Status != "awaiting_approval" {
		t.Fatalf("campaign %s: %s", a.Status, a.Detail)
	}
	if !strings.Contains(a.Detail, "bench-hmi-01 V16.0.1 → V16.0.2") {
		t.Errorf("detail %q, want the bench run from → to", a.Detail)
	}
	rv := e.review(a.ID).Review
	if rv.Patch.Title != "ViewPanel HMI web server: authentication bypass fixed" || len(rv.Patch.CVEs) != 1 || rv.Patch.CVEs[0].CVSS != 8.8 {
		t.Errorf("review patch %+v, want title and CVE with CVSS", rv.Patch)
	}
	want := map[string]string{"pkg-hmi-01": "V16.0.1 qualified bench-hmi-01", "pkg-hmi-02": "V15.2 not_stated  accepted"}
	for _, tg := range rv.Targets {
		got := tg.FromVersion + " " + tg.Compatibility + " " + tg.CoveredBy
		if tg.Accepted {
			got += " accepted"
		}
		if want[tg.Name] != got || tg.ZoneName != "Packaging Line 2" {
			t.Errorf("target %s: %q in %s, want %q in Packaging Line 2", tg.Name, got, tg.ZoneName, want[tg.Name])
		}
	}
	if len(rv.Bench) != 1 || rv.Bench[0].Name != "bench-hmi-01" || rv.Bench[0].FromVersion != "V16.0.1" || rv.Bench[0].ToVersion != "V16.0.2" || rv.Bench[0].State != "done" || len(rv.Bench[0].Checks) == 0 {
		t.Errorf("bench %+v, want bench-hmi-01 V16.0.1 → V16.0.2 done with its checks", rv.Bench)
	}
	if !slices.Equal(rv.Uncovered, []string{"pkg-hmi-02"}) {
		t.Errorf("uncovered %v, want pkg-hmi-02", rv.Uncovered)
	}
	// A wrong digest is refused without handing out the right one.
	if code := e.call("POST", "/api/v1/campaigns/"+a.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": "not-the-plan"}, &prob); code != http.StatusUnprocessableEntity ||
		strings.Contains(prob.Detail, a.PlanDigest[:12]) {
		t.Errorf("wrong digest: %d %q, want 422 without the current digest", code, prob.Detail)
	}
}

// TestBenchStartsFromTheFromVersion runs two campaigns of one patch one after the other: the
// first leaves the bench patched; the second restores the bench's V16.0.1 baseline before it
// validates, so its run is V16.0.1 → V16.0.2 again, on the device and in the evidence.
func TestBenchStartsFromTheFromVersion(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.withCheckpoints()
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	first := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-01"}, nil)
	if c := e.waitCampaign(first.ID, "completed", "halted", "rolled_back"); c.Status != "completed" {
		t.Fatalf("first campaign %s: %s", c.Status, c.Detail)
	}
	ctx := context.Background()
	if d, _ := e.sim.Device(ctx, "ast_bench-hmi-01"); d.Version != "V16.0.2" {
		t.Fatalf("bench runs %s after the first campaign, want V16.0.2", d.Version)
	}
	before, _ := e.sim.Operations(ctx, "ast_bench-hmi-01")

	second := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-02"}, nil)
	rv := e.review(second.ID).Review
	if len(rv.Bench) != 1 || rv.Bench[0].Prepare != domain.PrepareRestoreBaseline || rv.Bench[0].FromVersion != "V16.0.1" || rv.Bench[0].State != "done" {
		t.Fatalf("second bench run %+v, want restore_baseline V16.0.1, done", rv.Bench)
	}
	after, _ := e.sim.Operations(ctx, "ast_bench-hmi-01")
	var ops []string
	for _, o := range after[len(before):] {
		ops = append(ops, o.Op)
	}
	if !slices.Equal(ops, []string{"restore", "deploy"}) {
		t.Errorf("bench operations in the second campaign %v, want the baseline restored, then the deploy", ops)
	}
	if c := e.waitCampaign(second.ID, "completed", "halted", "rolled_back"); c.Status != "completed" {
		t.Fatalf("second campaign %s: %s", c.Status, c.Detail)
	}

	// The evidence bundle shows the bench run from → to.
	code, _, body := e.get("/api/v1/campaigns/"+second.ID+"/evidence", e.tokens.Auditor)
	if code != http.StatusOK {
		t.Fatalf("evidence: %d", code)
	}
	var bench []struct {
		Name        string `json:"name"`
		FromVersion string `json:"from_version"`
		ToVersion   string `json:"to_version"`
		State       string `json:"state"`
	}
	if err := json.Unmarshal(untar(t, body)["test-bench.json"], &bench); err != nil {
		t.Fatal(err)
	}
	if len(bench) != 1 || bench[0].FromVersion != "V16.0.1" || bench[0].ToVersion != "V16.0.2" || bench[0].State != "done" {
		t.Errorf("evidence test-bench.json %+v, want bench-hmi-01 V16.0.1 → V16.0.2 done", bench)
	}
}

// TestDriftedAssetLeftUntouched changes pkg-hmi-02's firmware by hand after approval: at its
// turn the engine reads the device, finds another version than the plan's, and leaves it as it
// is; pkg-hmi-01 is patched and the campaign completes.
func TestDriftedAssetLeftUntouched(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	// The packaging window opens next New Year: the campaign waits, approved.
	far := domain.Window{Cron: "0 3 1 1 *", Duration: domain.Duration(3600e9), TimeZone: "Europe/Zurich", MaxParallel: 2}
	if code := e.call("PUT", "/api/v1/zones/zone_packaging/window", e.tokens.Engineer, far, nil); code != http.StatusOK {
		t.Fatalf("set window: %d", code)
	}
	c := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02"}, nil)
	c = e.waitCampaign(c.ID, "scheduled")
	ctx := context.Background()
	if err := e.sim.Register(ctx, "ast_pkg-hmi-02", "V16.0.0", `{"hostname":"pkg-hmi-02"}`); err != nil {
		t.Fatal(err)
	}
	e.openWindowNow("zone_packaging") // a plan change: approve the new plan
	c = e.waitCampaign(c.ID, "awaiting_approval")
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve the new plan: %d", code)
	}
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" || !strings.Contains(c.Detail, "1 drifted") {
		t.Fatalf("campaign %s: %s, want completed with 1 drifted", c.Status, c.Detail)
	}
	if got := e.assetState(c, "ast_pkg-hmi-02"); got != "drifted" {
		t.Errorf("pkg-hmi-02 %s, want drifted", got)
	}
	if got := e.assetState(c, "ast_pkg-hmi-01"); got != "done" {
		t.Errorf("pkg-hmi-01 %s, want done", got)
	}
	if ops := e.ops("ast_pkg-hmi-02"); len(ops) != 0 {
		t.Errorf("pkg-hmi-02 operations %v, want none: nothing is deployed to a drifted asset", ops)
	}
	if d, _ := e.sim.Device(ctx, "ast_pkg-hmi-02"); d.Version != "V16.0.0" {
		t.Errorf("pkg-hmi-02 runs %s, want V16.0.0 as it was", d.Version)
	}
	as, err := e.store.Asset(ctx, "ast_pkg-hmi-02")
	if err != nil || as.InstalledVersion != "V16.0.0" {
		t.Errorf("inventory says pkg-hmi-02 runs %s (%v), want V16.0.0 read from the device", as.InstalledVersion, err)
	}
	e.checkAudit(t, c.ID, []string{"asset.version_checked", "asset.drifted"})
}
