package api_test

import (
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/programreport"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	staffRoles := []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/reports/program"] = staffRoles
	allowed["GET /api/v1/reports/program/charts/{name}.svg"] = staffRoles
}

// TestProgramReport runs two campaigns on the demo plant on a real Temporal server — one that
// patches two HMIs of packaging line 2 and one whose verification fails and rolls back — and
// checks the program report's figures against what the trail recorded: counts, lead times,
// the CVE and its exposure, the zones covered, the window budget, the rollback's cause and the
// month's trend; then its CSV, PDF and SVG forms, the site scope, and who may read it.
func TestProgramReport(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			testProgramReport(t, backend == "postgres")
		})
	}
}

func testProgramReport(t *testing.T, postgres bool) {
	e := newEnv(t, envOptions{postgres: postgres})
	ctx := context.Background()
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 64<<10))
	e.openWindowNow("zone_packaging")
	run := func(name string, assets []string, want string) campaignDoc {
		var c campaignDoc
		if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": name, "patch_id": p.ID, "asset_ids": assets}, &c); code != http.StatusCreated {
			t.Fatalf("create campaign: %d", code)
		}
		c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
		if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
			t.Fatalf("approve: %d", code)
		}
		c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
		if c.Status != want {
			t.Fatalf("campaign %s is %s, want %s: %s", name, c.Status, want, c.Detail)
		}
		return c
	}
	ok := run("HMI fix, line 2", []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02"}, "completed")
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-03/simulator/faults", e.tokens.Engineer, map[string]any{"verify_fail": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	bad := run("HMI fix, hmi-03", []string{"ast_pkg-hmi-03"}, "rolled_back")

	// What happened, read from the trail: the milestones and the failure.
	release := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	at := func(campaignID, patchID, action, role string) time.Time {
		t.Helper()
		evs, err := e.store.AuditEvents(ctx, store.AuditFilter{CampaignID: campaignID, PatchID: patchID, Action: action})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if role == "" || ev.Role == role {
				at, _ := time.Parse(audit.TimeLayout, ev.At)
				return at
			}
		}
		t.Fatalf("no %s event of %s%s", action, campaignID, patchID)
		return time.Time{}
	}
	days := func(t time.Time) float64 { return math.Round(t.Sub(release).Hours()/24*10) / 10 }
	qualifiedAt := at("", p.ID, "patch.qualified", "")
	approvedOK, approvedBad := at(ok.ID, "", "campaign.approved", "system"), at(bad.ID, "", "campaign.approved", "system")
	deployedAt := at(ok.ID, "", "campaign.completed", "")
	stored, err := e.store.Patch(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	hmi := stored.ProductID

	var rep programreport.Report
	if code := e.call("GET", "/api/v1/reports/program", e.tokens.Auditor, nil, &rep); code != http.StatusOK {
		t.Fatalf("report: %d", code)
	}

	t.Run("lead times", func(t *testing.T) {
		lo, hi := min(days(approvedOK), days(approvedBad)), max(days(approvedOK), days(approvedBad))
		want := []programreport.LeadTime{
			{Milestone: "qualified", Count: 1, MedianDays: days(qualifiedAt), P90Days: days(qualifiedAt)},
			{Milestone: "approved", Count: 2, MedianDays: math.Round((lo+hi)/2*10) / 10, P90Days: hi},
			{Milestone: "deployed", Count: 1, MedianDays: days(deployedAt), P90Days: days(deployedAt)},
		}
		if len(rep.LeadTimes) != 3 {
			t.Fatalf("lead times %+v", rep.LeadTimes)
		}
		for i, w := range want {
			if g := rep.LeadTimes[i]; g.Milestone != w.Milestone || g.Count != w.Count || !near(g.MedianDays, w.MedianDays) || !near(g.P90Days, w.P90Days) {
				t.Errorf("lead time %d = %+v, want %+v", i, g, w)
			}
		}
	})

	t.Run("coverage", func(t *testing.T) {
		// Covered: no qualified patch applies any more. The patch fixes ViewPanel HMIs below
		// V16.0.2: in packaging line 2 the two patched HMIs are covered, hmi-03 (rolled back)
		// and hmi-04 are not, and every PLC and switch is.
		assets, err := e.store.Assets(ctx, store.AssetFilter{})
		if err != nil {
			t.Fatal(err)
		}
		wantZone := map[string][2]int{}
		for _, a := range assets {
			cov := wantZone[a.ZoneID]
			cov[1]++
			if a.ProductID != hmi || domain.CompareVersions(a.InstalledVersion, "V16.0.2") >= 0 {
				cov[0]++
			}
			wantZone[a.ZoneID] = cov
		}
		if w := wantZone["zone_packaging"]; w[1]-w[0] != 2 {
			t.Fatalf("packaging line 2 has %d uncovered assets, want hmi-03 and hmi-04", w[1]-w[0])
		}
		if len(rep.Coverage.Zones) != 5 {
			t.Errorf("coverage of %d zones, want the demo plant's 5", len(rep.Coverage.Zones))
		}
		total, covered := 0, 0
		for _, z := range rep.Coverage.Zones {
			if w := wantZone[z.ZoneID]; z.Covered != w[0] || z.Total != w[1] {
				t.Errorf("zone %s: %d of %d covered, want %d of %d", z.ZoneID, z.Covered, z.Total, w[0], w[1])
			}
			if !z.TestBench {
				total, covered = total+z.Total, covered+z.Covered
			}
		}
		if rep.Coverage.Total != total || rep.Coverage.Covered != covered {
			t.Errorf("production coverage %d of %d, want %d of %d", rep.Coverage.Covered, rep.Coverage.Total, covered, total)
		}
		slts := map[int]bool{}
		for _, s := range rep.Coverage.SLT {
			slts[s.SLT] = true
		}
		for _, want := range []int{2, 3, 4} {
			if !slts[want] {
				t.Errorf("no coverage row for SL-T %d: %+v", want, rep.Coverage.SLT)
			}
		}
	})

	t.Run("exposure", func(t *testing.T) {
		if len(rep.Exposure) != 1 {
			t.Fatalf("exposure %+v, want CVE-2026-31337 alone", rep.Exposure)
		}
		x := rep.Exposure[0]
		if x.CVE != "CVE-2026-31337" || !x.Open || x.Patched != 2 || x.KEV || !x.Since.Equal(release) || x.CVSS != 8.8 {
			t.Errorf("exposure %+v, want CVE-2026-31337 open since the release, 2 patched, not known exploited", x)
		}
		assets, _ := e.store.Assets(ctx, store.AssetFilter{ProductID: hmi})
		exposed := 0
		for _, a := range assets {
			if a.ZoneID != "zone_bench" && domain.CompareVersions(a.InstalledVersion, "V16.0.2") < 0 {
				exposed++
			}
		}
		if x.Exposed != exposed || exposed == 0 {
			t.Errorf("%d assets exposed, want %d", x.Exposed, exposed)
		}
		// Known exploited: the same CVE in the KEV catalog comes first and carries its due date.
		if _, err := e.store.ImportKEV(ctx, &store.ExploitationImport{ID: "imp_kev_test", Version: "2026.11.25", ReleasedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Origin: "file", ImportedBy: "test", ImportedAt: time.Now(), SHA256: strings.Repeat("a", 64)},
			[]store.KEVEntry{{CVEID: "CVE-2026-31337", VendorProject: "Acme", Product: "ViewPanel", DateAdded: "2026-11-25", DueDate: "2026-12-16", CWEs: []string{}}},
			store.Event{Actor: "test", Role: "admin", Action: "exploitation.imported"}); err != nil {
			t.Fatal(err)
		}
		var again programreport.Report
		e.call("GET", "/api/v1/reports/program", e.tokens.Engineer, nil, &again)
		if len(again.Exposure) != 1 || !again.Exposure[0].KEV || again.Exposure[0].KEVDue != "2026-12-16" {
			t.Errorf("after the KEV import: %+v", again.Exposure)
		}
	})

	t.Run("downtime", func(t *testing.T) {
		var pkg *programreport.Downtime
		for i := range rep.Downtime {
			if rep.Downtime[i].ZoneID == "zone_packaging" {
				pkg = &rep.Downtime[i]
			}
		}
		if pkg == nil {
			t.Fatalf("no downtime row for packaging line 2: %+v", rep.Downtime)
		}
		// Both campaigns changed assets of the zone; the window opens every minute for an hour,
		// so its budget is the whole period up to now.
		wantBudget := math.Round(rep.GeneratedAt.Sub(rep.From).Hours()*10) / 10
		if pkg.Campaigns != 2 || pkg.ConsumedHours < 0 || !near(pkg.BudgetHours, wantBudget) {
			t.Errorf("packaging line 2: %+v, want 2 campaigns and a budget of %.1f hours", pkg, wantBudget)
		}
	})

	t.Run("rollbacks", func(t *testing.T) {
		var prod []programreport.Rollback
		for _, r := range rep.Rollbacks.Items {
			if !r.TestBench {
				prod = append(prod, r)
			}
		}
		if len(prod) != 1 || prod[0].AssetID != "ast_pkg-hmi-03" || prod[0].CampaignID != bad.ID || prod[0].Outcome != "rolled_back" ||
			prod[0].Cause != "verification failed" || !strings.HasPrefix(prod[0].Detail, "verification failed: ") {
			t.Errorf("production rollbacks %+v, want hmi-03 rolled back after its verification failed", prod)
		}
		if rep.Rollbacks.Campaigns != 1 || len(rep.Rollbacks.Causes) == 0 || rep.Rollbacks.Causes[0].Cause != "verification failed" {
			t.Errorf("rollbacks %+v", rep.Rollbacks)
		}
	})

	t.Run("trend", func(t *testing.T) {
		month := deployedAt.Format("2006-01")
		last := rep.Trend[len(rep.Trend)-1]
		if last.Month != month || last.Deployed != 1 || last.AssetsPatched != 2 || last.Rollbacks != len(rep.Rollbacks.Items) || last.ExposureDays <= 0 {
			t.Errorf("this month's trend %+v, want 1 deployed, 2 patched, %d rollbacks and exposure", last, len(rep.Rollbacks.Items))
		}
		if len(rep.Trend) < 12 {
			t.Errorf("a year's trend has %d months", len(rep.Trend))
		}
	})

	t.Run("site", func(t *testing.T) {
		var rot programreport.Report
		if code := e.call("GET", "/api/v1/reports/program?site=site_rotterdam", e.tokens.Engineer, nil, &rot); code != http.StatusOK {
			t.Fatalf("site report: %d", code)
		}
		if rot.SiteName != "Rotterdam Terminal" || len(rot.Rollbacks.Items) != 0 || rot.LeadTimes[2].Count != 0 || rot.LeadTimes[1].Count != 0 {
			t.Errorf("Rotterdam's report counts Basel's campaigns: %+v %+v", rot.LeadTimes, rot.Rollbacks)
		}
		for _, z := range rot.Coverage.Zones {
			if z.SiteID != "site_rotterdam" {
				t.Errorf("Rotterdam's report covers zone %s of %s", z.ZoneID, z.SiteID)
			}
		}
		var basel programreport.Report
		e.call("GET", "/api/v1/reports/program?site=site_basel", e.tokens.Engineer, nil, &basel)
		if basel.LeadTimes[2].Count != 1 || len(basel.Rollbacks.Items) != len(rep.Rollbacks.Items) {
			t.Errorf("Basel's report: %+v", basel.LeadTimes)
		}
	})

	t.Run("csv pdf svg", func(t *testing.T) {
		body, ct := e.getRaw(t, "/api/v1/reports/program?format=csv", e.tokens.Approver, http.StatusOK)
		if !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("csv content type %s", ct)
		}
		for _, s := range programreport.Sections {
			if !strings.Contains(body, "\nsection,"+s+"\n") {
				t.Errorf("the CSV lacks the section %s", s)
			}
		}
		if !strings.Contains(body, "ast_pkg-hmi-03,pkg-hmi-03,zone_packaging,false,rolled_back,verification failed,") || !strings.Contains(body, "\nCVE-2026-31337,true,2026-12-16,8.8,") {
			t.Errorf("the CSV lacks the rollback or the CVE:\n%s", body)
		}
		pdf, ct := e.getRaw(t, "/api/v1/reports/program?format=pdf", e.tokens.Admin, http.StatusOK)
		if ct != "application/pdf" || !strings.HasPrefix(pdf, "%PDF-") || !strings.Contains(pdf, "%%EOF") {
			t.Errorf("pdf: %s, %d bytes", ct, len(pdf))
		}
		for _, name := range programreport.ChartNames {
			svg, ct := e.getRaw(t, "/api/v1/reports/program/charts/"+name+".svg", e.tokens.Safety, http.StatusOK)
			if ct != "image/svg+xml" || !strings.HasPrefix(svg, "<svg ") {
				t.Errorf("chart %s: %s %.80s", name, ct, svg)
			}
			switch name {
			case "coverage", "rollbacks", "downtime":
				if !strings.Contains(svg, `<rect class="bar"`) {
					t.Errorf("chart %s draws no bar", name)
				}
			default:
				if !strings.Contains(svg, `<polyline class="trend"`) {
					t.Errorf("chart %s draws no line", name)
				}
			}
		}
		if !strings.Contains(func() string {
			s, _ := e.getRaw(t, "/api/v1/reports/program/charts/rollbacks.svg", e.tokens.Engineer, http.StatusOK)
			return s
		}(), "verification failed") {
			t.Errorf("the rollbacks chart does not name the cause")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			path, token string
			want        int
			field       string
		}{
			{"/api/v1/reports/program", e.tokens.Vendor, http.StatusForbidden, ""},
			{"/api/v1/reports/program/charts/coverage.svg", e.tokens.Vendor, http.StatusForbidden, ""},
			{"/api/v1/reports/program?site=site_nowhere", e.tokens.Engineer, http.StatusUnprocessableEntity, "site"},
			{"/api/v1/reports/program?from=last+year", e.tokens.Engineer, http.StatusUnprocessableEntity, "from"},
			{"/api/v1/reports/program?from=2026-12-01&to=2026-11-01", e.tokens.Engineer, http.StatusUnprocessableEntity, "from"},
			{"/api/v1/reports/program?from=2020-01-01&to=2026-11-01", e.tokens.Engineer, http.StatusUnprocessableEntity, "from"},
			{"/api/v1/reports/program?format=xlsx", e.tokens.Engineer, http.StatusUnprocessableEntity, "format"},
			{"/api/v1/reports/program/charts/pie.svg", e.tokens.Engineer, http.StatusNotFound, ""},
		} {
			var prob problemDoc
			code := e.call("GET", tc.path, tc.token, nil, &prob)
			if code != tc.want {
				t.Errorf("%s: %d, want %d", tc.path, code, tc.want)
				continue
			}
			if tc.field != "" && (len(prob.Errors) == 0 || prob.Errors[0].Field != tc.field) {
				t.Errorf("%s: errors %+v, want one naming %s", tc.path, prob.Errors, tc.field)
			}
		}
	})
}

func near(a, b float64) bool { return math.Abs(a-b) <= 0.11 }

// getRaw GETs path and answers the body and content type, failing unless the status is want.
func (e *env) getRaw(t *testing.T, path, token string, want int) (string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	return string(b), res.Header.Get("Content-Type")
}
