package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// plcPatch is a patch for Acme's ControlStation PLCs (V2.9.3 → V2.9.4).
func plcPatch(t *testing.T) testPatch {
	p := newTestPatch(t, "V2.9.4", 4096)
	p.manifest.Product, p.manifest.PatchID, p.manifest.Title = "ControlStation-PLC", "ACME-SA-2026-020", "ControlStation PLC: firmware fix"
	p.manifest.AffectedVersions, p.manifest.FixedVersion = []string{"< V2.9.4"}, "V2.9.4"
	p.manifest.Compatibility = []domain.CompatibilityRow{{ProductVersion: "V2.9.3", Status: "qualified"}}
	return p
}

// TestEngineCorruptBackupBlocksDeploy corrupts hmi-03's backup in transit: the read-back hash
// does not match the device's, so hmi-03 is never deployed and the campaign halts.
func TestEngineCorruptBackupBlocksDeploy(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-03/simulator/faults", e.tokens.Engineer, map[string]any{"backup_corrupt": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	c := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-03"}, nil)
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "halted" {
		t.Fatalf("campaign %s: %s, want halted", c.Status, c.Detail)
	}
	for _, a := range c.Assets {
		if a.AssetID != "ast_pkg-hmi-03" {
			continue
		}
		if a.State != "failed" || !strings.Contains(a.Error, "no verified backup, so nothing was deployed") || !strings.Contains(a.Error, "does not verify") {
			t.Errorf("hmi-03: %s (%s), want failed for want of a verified backup", a.State, a.Error)
		}
	}
	if ops := e.ops("ast_pkg-hmi-03"); len(ops) != 0 {
		t.Errorf("hmi-03 operations %v: nothing may be deployed without a verified backup", ops)
	}
	d, _ := e.sim.Device(context.Background(), "ast_pkg-hmi-03")
	if d.Version != "V16.0.1" {
		t.Errorf("hmi-03 runs %s, want V16.0.1", d.Version)
	}
}

// TestEngineRollbackFailedRaisesAlarm makes hmi-04 fail verification and then refuse its
// restore: the asset ends rollback_failed, the campaign halts, and an alarm shows in the API,
// in the audit trail and in no other campaign.
func TestEngineRollbackFailedRaisesAlarm(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-04/simulator/faults", e.tokens.Engineer, map[string]any{"verify_fail": true, "restore_fail": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	var alarms []store.Alarm
	if code := e.list("/api/v1/alarms", e.tokens.Auditor, &alarms); code != http.StatusOK || len(alarms) != 0 {
		t.Fatalf("alarms before: %d %+v, want none", code, alarms)
	}
	c := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-04"}, nil)
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "halted" || e.assetState(c, "ast_pkg-hmi-04") != "rollback_failed" {
		t.Fatalf("campaign %s (%s), hmi-04 %s; want halted with rollback_failed", c.Status, c.Detail, e.assetState(c, "ast_pkg-hmi-04"))
	}
	if code := e.list("/api/v1/alarms", e.tokens.Auditor, &alarms); code != http.StatusOK {
		t.Fatalf("alarms: %d", code)
	}
	if len(alarms) != 1 || alarms[0].AssetID != "ast_pkg-hmi-04" || alarms[0].CampaignID != c.ID || alarms[0].Kind != "rollback_failed" ||
		alarms[0].Severity != "critical" || !strings.Contains(alarms[0].Message, "restore_fail") {
		t.Errorf("alarms %+v, want one critical rollback_failed alarm for hmi-04 naming the cause", alarms)
	}
	e.checkAudit(t, c.ID, []string{"asset.rollback_failed", "alarm.raised", "campaign.halted"})
}

// TestEngineRedundancyPairNeverTogether patches the four packaging PLCs (two redundancy pairs,
// two at a time): each pair's second member is backed up only after the first was verified,
// read from the audit trail's order and the simulator's operation timestamps.
func TestEngineRedundancyPairNeverTogether(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(plcPatch(t))
	e.openWindowNow("zone_packaging")
	plcs := []string{"ast_pkg-plc-01", "ast_pkg-plc-02", "ast_pkg-plc-03", "ast_pkg-plc-04"}
	c := e.approvedCampaign(p.ID, plcs, nil)
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	ctx := context.Background()
	evs, err := e.store.AuditEvents(ctx, store.AuditFilter{CampaignID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	// span is each asset's first backing_up and its done event, by audit sequence.
	type span struct{ start, done int64 }
	spans := map[string]*span{}
	for _, ev := range evs {
		s := spans[ev.AssetID]
		if s == nil {
			s = &span{}
			spans[ev.AssetID] = s
		}
		switch ev.Action {
		case "asset.backing_up":
			if s.start == 0 {
				s.start = ev.Seq
			}
		case "asset.done":
			s.done = ev.Seq
		}
	}
	deployAt := map[string]time.Time{}
	for _, id := range plcs {
		ops, _ := e.sim.Operations(ctx, id)
		if len(ops) != 1 || ops[0].Op != "deploy" {
			t.Fatalf("%s operations %+v, want one deploy", id, ops)
		}
		deployAt[id] = ops[0].At
	}
	pairs := [][2]string{{"ast_pkg-plc-01", "ast_pkg-plc-02"}, {"ast_pkg-plc-03", "ast_pkg-plc-04"}}
	for _, pr := range pairs {
		a, b := spans[pr[0]], spans[pr[1]]
		if a == nil || b == nil || a.done == 0 || b.done == 0 {
			t.Fatalf("pair %v: spans %+v %+v", pr, a, b)
		}
		first, second := a, b
		fid, sid := pr[0], pr[1]
		if b.start < a.start {
			first, second, fid, sid = b, a, pr[1], pr[0]
		}
		if second.start < first.done {
			t.Errorf("pair %v in flight together: %s started (seq %d) before %s was verified (seq %d)", pr, sid, second.start, fid, first.done)
		}
		if deployAt[sid].Before(deployAt[fid]) {
			t.Errorf("pair %v: %s deployed at %s, before its partner %s at %s", pr, sid, deployAt[sid], fid, deployAt[fid])
		}
	}
	// Two at a time and never a whole pair: the first batch takes one member of each pair.
	pairOf := map[string]int{"ast_pkg-plc-01": 1, "ast_pkg-plc-02": 1, "ast_pkg-plc-03": 2, "ast_pkg-plc-04": 2}
	order := slices.Clone(plcs)
	slices.SortFunc(order, func(x, y string) int { return int(spans[x].start - spans[y].start) })
	if pairOf[order[0]] == pairOf[order[1]] {
		t.Errorf("the first two assets started were %v, one redundancy pair", order[:2])
	}
}

// TestEngineTwoZonesDifferentWindows patches an HMI on packaging line 2 (window open now) and
// one in process control (SL-T 3, window opening at the next full minute): the packaging wave
// runs first, process control waits for its own window, both complete.
func TestEngineTwoZonesDifferentWindows(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	loc, _ := time.LoadLocation("Europe/Zurich")
	opens := time.Now().In(loc).Truncate(time.Minute).Add(time.Minute)
	if time.Until(opens) < 20*time.Second {
		opens = opens.Add(time.Minute)
	}
	later := domain.Window{Cron: fmt.Sprintf("%d %d * * *", opens.Minute(), opens.Hour()), Duration: domain.Duration(10 * time.Minute), TimeZone: "Europe/Zurich", MaxParallel: 1}
	if code := e.call("PUT", "/api/v1/zones/zone_process/window", e.tokens.Engineer, later, nil); code != http.StatusOK {
		t.Fatalf("set window: %d", code)
	}
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "two zones", "patch_id": p.ID,
		"asset_ids": []string{"ast_pkg-hmi-01", "ast_proc-hmi-01"}}, &c); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval")
	for _, tok := range []string{e.tokens.Approver, e.tokens.Safety} { // SL-T 3: an approver and safety
		if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", tok, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
			t.Fatalf("approve: %d", code)
		}
	}
	e.waitFor("the process-control wave to wait for its window", func() (bool, string) {
		c = e.campaign(c.ID)
		return c.Status == "scheduled" && strings.Contains(c.Detail, "Process Control"), c.Status + ": " + c.Detail
	})
	if e.assetState(c, "ast_pkg-hmi-01") != "done" || len(e.ops("ast_proc-hmi-01")) != 0 {
		t.Errorf("while process control waits: pkg-hmi-01 %s, proc-hmi-01 operations %v; want done and none", e.assetState(c, "ast_pkg-hmi-01"), e.ops("ast_proc-hmi-01"))
	}
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	ops, _ := e.sim.Operations(context.Background(), "ast_proc-hmi-01")
	if len(ops) != 1 || ops[0].At.Before(opens) || !ops[0].At.Before(opens.Add(10*time.Minute)) {
		t.Errorf("proc-hmi-01 operations %+v, want one deploy inside %s – %s", ops, opens, opens.Add(10*time.Minute))
	}
	pkg, _ := e.sim.Operations(context.Background(), "ast_pkg-hmi-01")
	if len(pkg) != 1 || !pkg[0].At.Before(opens) {
		t.Errorf("pkg-hmi-01 operations %+v, want one deploy before process control's window", pkg)
	}
}

// TestEngineErrorThresholdFromRequest creates a campaign with error_threshold 1 over four
// packaging HMIs, one of which fails verification: it is rolled back and the others complete.
// An out-of-range threshold is refused.
func TestEngineErrorThresholdFromRequest(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	var prob problemDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "x", "patch_id": p.ID, "asset_ids": packagingHMIs, "error_threshold": -1}, &prob); code != http.StatusUnprocessableEntity ||
		len(prob.Errors) != 1 || prob.Errors[0].Field != "error_threshold" {
		t.Errorf("threshold -1: %d %+v, want 422 on error_threshold", code, prob)
	}
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-02/simulator/faults", e.tokens.Engineer, map[string]any{"verify_fail": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	c := e.approvedCampaign(p.ID, packagingHMIs, map[string]any{"error_threshold": 1})
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" || !strings.Contains(c.Detail, "within the error threshold of 1") {
		t.Fatalf("campaign %s: %s, want completed within the threshold", c.Status, c.Detail)
	}
	for _, id := range packagingHMIs {
		want := "done"
		if id == "ast_pkg-hmi-02" {
			want = "rolled_back"
		}
		if got := e.assetState(c, id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
}
