package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	allowed["POST /api/v1/drills"] = []string{"engineer", "admin"}
	allowed["GET /api/v1/drills"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/drills/{drillID}"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["POST /api/v1/drills/{drillID}/run"] = []string{"engineer", "admin"}
	allowed["DELETE /api/v1/drills/{drillID}"] = []string{"engineer", "admin"}
}

type drillDoc struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	ProductID     string     `json:"product_id"`
	ZoneID        string     `json:"zone_id"`
	IntervalHours int        `json:"interval_hours"`
	LastResult    string     `json:"last_result"`
	LastRestoreMS *int64     `json:"last_restore_ms"`
	NextDue       time.Time  `json:"next_due"`
	Overdue       bool       `json:"overdue"`
	Scheduled     *bool      `json:"scheduled"`
	NextRun       *time.Time `json:"next_run"`
	Runs          []store.DrillRun
}

type drillRunDoc struct {
	DrillID string `json:"drill_id"`
	RunID   string `json:"run_id"`
}

// waitDrillRun runs the drill now and waits until the run it started has ended.
func (e *env) waitDrillRun(drillID string) store.DrillRun {
	e.t.Helper()
	var started drillRunDoc
	if code := e.call("POST", "/api/v1/drills/"+drillID+"/run", e.tokens.Engineer, nil, &started); code != http.StatusAccepted || started.RunID == "" {
		e.t.Fatalf("run drill: %d %+v", code, started)
	}
	var run store.DrillRun
	e.waitFor("drill run "+started.RunID+" to end", func() (bool, string) {
		var d drillDoc
		if code := e.call("GET", "/api/v1/drills/"+drillID, e.tokens.Auditor, nil, &d); code != http.StatusOK {
			return false, "GET drill: " + http.StatusText(code)
		}
		for _, r := range d.Runs {
			if r.ID == started.RunID {
				run = r
				return r.Result != "running", "result " + string(r.Result)
			}
		}
		return false, "run not recorded yet"
	})
	return run
}

// TestRestoreDrill runs restore drills on the demo plant's test bench on a real Temporal server:
// after a campaign backed up two HMIs of Packaging Line 2, a drill of the HMI product restores
// the newest of those backups onto the bench HMI, verifies it and records the time to restore
// as evidence (run, audit event); a drill of a zone without any backup fails with its reason and,
// its interval passed (the stored times set back), is overdue in the list and in compliance.
func TestRestoreDrill(t *testing.T) {
	e := newEnv(t, envOptions{simStep: 50 * time.Millisecond})
	ctx := context.Background()

	t.Run("refused", func(t *testing.T) {
		for name, body := range map[string]map[string]any{
			"neither":   {"interval_hours": 24},
			"both":      {"product_id": "prd_acme_hmi", "zone_id": "zone_dmz"},
			"unknown":   {"product_id": "prd_nope"},
			"bench":     {"zone_id": "zone_bench"},
			"too often": {"product_id": "prd_acme_hmi", "interval_hours": 1},
		} {
			var p problemDoc
			if code := e.call("POST", "/api/v1/drills", e.tokens.Engineer, body, &p); code != http.StatusUnprocessableEntity || len(p.Errors) == 0 {
				t.Errorf("%s: %d %+v, want 422 naming the field", name, code, p)
			}
			for _, fe := range p.Errors {
				if strings.Contains(fe.Message, "int") && strings.Contains(fe.Message, "*") {
					t.Errorf("%s: message speaks Go: %s", name, fe.Message)
				}
			}
		}
		var list struct{ Items []drillDoc }
		if code := e.call("GET", "/api/v1/drills", e.tokens.Auditor, nil, &list); code != http.StatusOK || len(list.Items) != 0 {
			t.Errorf("after refusals: %d %+v, want no drill", code, list.Items)
		}
	})

	// A campaign takes verified backups of two production HMIs.
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{
		"name": "HMI fix", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	if c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed"); c.Status != "awaiting_approval" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	if c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back"); c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	backups := map[string]string{}
	for _, a := range c.Assets {
		if !a.TestBench {
			backups[a.AssetID] = a.BackupSHA256
		}
	}

	var hmi drillDoc
	if code := e.call("POST", "/api/v1/drills", e.tokens.Engineer, map[string]any{"product_id": "prd_acme_hmi", "interval_hours": 24}, &hmi); code != http.StatusCreated {
		t.Fatalf("create drill: %d", code)
	}
	if hmi.Name != "ViewPanel-HMI" || hmi.Overdue {
		t.Errorf("new drill: %+v, want named for its product and not overdue", hmi)
	}
	run := e.waitDrillRun(hmi.ID)
	if run.Result != "passed" {
		t.Fatalf("drill run %s: %s", run.Result, run.Reason)
	}
	if run.BenchAssetID != "ast_bench-hmi-01" || run.BackupCampaignID != c.ID || backups[run.SourceAssetID] != run.BackupSHA256 {
		t.Errorf("run restored %s (%s) of campaign %s onto %s; want a backup of this campaign %v onto the bench HMI", run.SourceAssetID, run.BackupSHA256, run.BackupCampaignID, run.BenchAssetID, backups)
	}
	if run.BackupVersion != "V16.0.1" || run.VerifiedVersion != "V16.0.1" || run.RestoreMS <= 0 || run.FinishedAt == nil {
		t.Errorf("run: backup %s, verified %s, %d ms, finished %v; want V16.0.1 verified with a time to restore", run.BackupVersion, run.VerifiedVersion, run.RestoreMS, run.FinishedAt)
	}
	var d drillDoc
	e.call("GET", "/api/v1/drills/"+hmi.ID, e.tokens.Auditor, nil, &d)
	if d.LastResult != "passed" || d.Overdue || d.LastRestoreMS == nil || *d.LastRestoreMS != run.RestoreMS || d.Scheduled == nil || !*d.Scheduled || d.NextRun == nil {
		t.Errorf("drill after its run: %+v", d)
	}
	if bench, err := e.store.Asset(ctx, "ast_bench-hmi-01"); err != nil || bench.InstalledVersion != "V16.0.1" {
		t.Errorf("bench HMI in the inventory: %s, %v; want V16.0.1, the restored backup's version", bench.InstalledVersion, err)
	}
	var passed []audit.Event
	if err := e.store.EachAuditEvent(ctx, store.AuditFilter{Action: "drill.passed"}, func(ev audit.Event) error { passed = append(passed, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(passed) != 1 || passed[0].SubjectID != hmi.ID || !strings.Contains(string(passed[0].Details), run.BackupSHA256) {
		t.Errorf("audit events drill.passed: %+v", passed)
	}

	t.Run("no backup", func(t *testing.T) {
		var dmz drillDoc
		if code := e.call("POST", "/api/v1/drills", e.tokens.Engineer, map[string]any{"zone_id": "zone_dmz", "interval_hours": 48}, &dmz); code != http.StatusCreated {
			t.Fatalf("create drill: %d", code)
		}
		run := e.waitDrillRun(dmz.ID)
		if run.Result != "failed" || !strings.Contains(run.Reason, "no verified production backup of zone zone_dmz") {
			t.Errorf("drill without backup: %s %q", run.Result, run.Reason)
		}
		// Its interval passed with no passing run: overdue. The passing drill is not.
		if err := e.store.DB().Exec("UPDATE drills SET created_at = ? WHERE id = ?", e.store.Now().Add(-72*time.Hour), dmz.ID).Error; err != nil {
			t.Fatal(err)
		}
		var over struct{ Items []drillDoc }
		if code := e.call("GET", "/api/v1/drills?overdue=1", e.tokens.Approver, nil, &over); code != http.StatusOK || len(over.Items) != 1 || over.Items[0].ID != dmz.ID || !over.Items[0].Overdue {
			t.Errorf("overdue drills: %d %+v, want only %s", code, over.Items, dmz.ID)
		}
		var comp struct {
			Drills []store.OverdueEntry `json:"drills"`
		}
		if code := e.call("GET", "/api/v1/compliance/overdue", e.tokens.Auditor, nil, &comp); code != http.StatusOK || len(comp.Drills) != 1 ||
			comp.Drills[0].SubjectID != dmz.ID || comp.Drills[0].Kind != "restore_drill" || comp.Drills[0].DaysOverdue != 1 {
			t.Errorf("compliance overdue drills: %d %+v", code, comp.Drills)
		}
		if code := e.call("DELETE", "/api/v1/drills/"+dmz.ID, e.tokens.Engineer, nil, nil); code != http.StatusNoContent {
			t.Errorf("delete: %d", code)
		}
		if code := e.call("GET", "/api/v1/drills/"+dmz.ID, e.tokens.Engineer, nil, nil); code != http.StatusNotFound {
			t.Errorf("deleted drill: %d, want 404", code)
		}
		if runs, err := e.store.DrillRuns(ctx, dmz.ID, 10); err != nil || len(runs) != 1 {
			t.Errorf("runs of the deleted drill: %d, %v; want its run kept as evidence", len(runs), err)
		}
	})
}
