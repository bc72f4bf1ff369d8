package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	staffRoles := []string{"engineer", "approver", "safety", "auditor", "admin"}
	for _, route := range []string{"GET /api/v1/compliance/patches", "GET /api/v1/compliance/advisories", "GET /api/v1/compliance/mitigations",
		"GET /api/v1/compliance/overdue", "GET /api/v1/compliance/assets", "GET /api/v1/compliance/sites",
		"GET /api/v1/compliance/mitigations/{mitigationID}", "GET /api/v1/compliance/extensions/{extensionID}"} {
		allowed[route] = staffRoles
	}
	for _, route := range []string{"PUT /api/v1/compliance/patches/{patchID}/evaluation", "PUT /api/v1/compliance/advisories/{advisoryID}/evaluation",
		"POST /api/v1/compliance/mitigations", "POST /api/v1/compliance/mitigations/{mitigationID}/complete",
		"POST /api/v1/compliance/mitigations/{mitigationID}/extensions"} {
		allowed[route] = []string{"engineer", "admin"}
	}
	allowed["POST /api/v1/compliance/extensions/{extensionID}/approve"] = []string{"approver"}
	allowed["POST /api/v1/compliance/extensions/{extensionID}/reject"] = []string{"approver"}
}

// testClock is the store clock of a compliance test, moved by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type overdueDoc struct {
	AsOf        string               `json:"as_of"`
	Evaluations []store.OverdueEntry `json:"evaluations"`
	Actions     []store.OverdueEntry `json:"actions"`
}

func (e *env) overdue(token string) overdueDoc {
	e.t.Helper()
	var d overdueDoc
	if code := e.call("GET", "/api/v1/compliance/overdue", token, nil, &d); code != http.StatusOK {
		e.t.Fatalf("GET overdue: %d", code)
	}
	return d
}

// getCSV reads a CSV report.
func (e *env) getCSV(path, token string) [][]string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		e.t.Fatalf("GET %s: %d %s: %s", path, res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		e.t.Fatalf("GET %s: not CSV: %v", path, err)
	}
	return rows
}

func kinds(es []store.OverdueEntry) []string {
	out := []string{}
	for _, x := range es {
		out = append(out, x.Kind+" "+x.Due)
	}
	return out
}

// TestComplianceAPI runs NERC CIP-007-6 R2 through the API with the store's clock moved by
// hand: the evaluation deadline passes, a late-evening decision in Chicago counts on the next
// UTC day, the action deadline passes, a mitigation plan satisfies it, its due date passes,
// the requester's own approval of an extension is refused and audited, and another
// approver's moves the due date. Reports answer in JSON and CSV.
func TestComplianceAPI(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			clk := &testClock{t: time.Date(2026, 1, 28, 10, 0, 0, 0, time.UTC)}
			e := newEnv(t, envOptions{postgres: backend == "postgres", now: clk.Now})
			testComplianceAPI(t, e, clk)
		})
	}
}

func testComplianceAPI(t *testing.T, e *env, clk *testClock) {
	ctx := context.Background()
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	// A qualified ViewPanel patch released 2026-01-27 for two packaging HMIs (Basel) and a
	// safety HMI (Rotterdam), stored directly: the vendor path is tested elsewhere.
	m := newTestPatch(t, "V16.0.2", 10).manifest
	m.ReleaseDate = "2026-01-27"
	raw, _ := json.Marshal(m)
	p := store.Patch{ID: store.NewID("pat"), VendorID: "vnd_acme", ProductID: "prd_acme_hmi", PatchRef: m.PatchID, Version: m.Version, Title: m.Title,
		Status: string(domain.PatchSubmitted), Manifest: string(raw), ManifestSHA256: sha(raw), Signature: "sig", KeyFingerprint: "fp", SubmittedBy: "acme-release"}
	if err := e.store.CreatePatch(ctx, &p, nil, store.Event{Actor: "acme-release", Role: "vendor", Action: "patch.submitted"}); err != nil {
		t.Fatal(err)
	}
	targets := []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02", "ast_sis-hmi-01"}
	if err := e.store.SetPatchStatus(ctx, p.ID, domain.PatchQualified, nil, targets, store.Event{Actor: "otpatch", Role: "system", Action: "patch.qualified"}); err != nil {
		t.Fatal(err)
	}

	var list struct {
		AsOf  string                 `json:"as_of"`
		Items []store.ComplianceItem `json:"items"`
	}
	if code := e.call("GET", "/api/v1/compliance/patches", e.tokens.Auditor, nil, &list); code != http.StatusOK || len(list.Items) != 1 {
		t.Fatalf("GET compliance/patches: %d, %d items", code, len(list.Items))
	}
	if it := list.Items[0]; list.AsOf != "2026-01-28" || it.ReleaseDate != "2026-01-27" || it.EvaluationDue != "2026-03-03" || it.Assets.Pending != 3 {
		t.Fatalf("compliance item = %+v as of %s", it, list.AsOf)
	}

	// The evaluation deadline: not overdue on its day, overdue the next UTC day.
	clk.Set(time.Date(2026, 3, 3, 23, 0, 0, 0, time.UTC))
	if d := e.overdue(e.tokens.Auditor); len(d.Evaluations) != 0 {
		t.Fatalf("overdue on the due day: %+v", d.Evaluations)
	}
	clk.Set(time.Date(2026, 3, 4, 1, 0, 0, 0, time.UTC))
	if d := e.overdue(e.tokens.Auditor); !slices.Equal(kinds(d.Evaluations), []string{"evaluation 2026-03-03"}) || d.Evaluations[0].SubjectID != p.ID {
		t.Fatalf("overdue evaluations on 4 March = %+v", d.Evaluations)
	}
	rows := e.getCSV("/api/v1/compliance/overdue?format=csv", e.tokens.Auditor)
	if len(rows) != 2 || rows[0][0] != "kind" || rows[1][0] != "evaluation" || rows[1][2] != p.ID || rows[1][6] != "2026-03-03" || rows[1][7] != "1" {
		t.Fatalf("overdue CSV = %q", rows)
	}

	// A bad evaluation is refused with every failing field named.
	var prob problemDoc
	if code := e.call("PUT", "/api/v1/compliance/patches/"+p.ID+"/evaluation", e.tokens.Engineer, map[string]string{"decision": "later"}, &prob); code != http.StatusUnprocessableEntity || len(prob.Errors) != 2 {
		t.Fatalf("bad evaluation: %d %+v", code, prob)
	}
	if code := e.call("PUT", "/api/v1/compliance/patches/pat_nope/evaluation", e.tokens.Engineer, map[string]string{"decision": "apply", "reason": "x"}, nil); code != http.StatusNotFound {
		t.Fatalf("evaluating an unknown patch: %d", code)
	}
	// Decided at 23:30 on 3 March in Chicago: 05:30 UTC on 4 March, the day that counts.
	clk.Set(time.Date(2026, 3, 3, 23, 30, 0, 0, chicago))
	var ev store.Evaluation
	if code := e.call("PUT", "/api/v1/compliance/patches/"+p.ID+"/evaluation", e.tokens.Engineer,
		map[string]string{"decision": "apply", "reason": "authentication bypass reachable from the cell network"}, &ev); code != http.StatusOK {
		t.Fatalf("evaluate: %d", code)
	}
	if ev.EvaluatedOn != "2026-03-04" || ev.EvaluatedBy != "erin-engineer" || ev.Decision != "apply" {
		t.Fatalf("evaluation = %+v", ev)
	}
	e.call("GET", "/api/v1/compliance/patches", e.tokens.Engineer, nil, &list)
	if it := list.Items[0]; it.EvaluationLateDays != 1 || it.ActionDue != "2026-04-08" || it.EvaluationOverdue {
		t.Fatalf("after a late evaluation: %+v", it)
	}

	// The action deadline, 2026-04-08, passes with nothing installed.
	clk.Set(time.Date(2026, 4, 9, 0, 0, 0, 0, time.UTC))
	if d := e.overdue(e.tokens.Approver); !slices.Equal(kinds(d.Actions), []string{"action 2026-04-08"}) || len(d.Evaluations) != 0 {
		t.Fatalf("overdue on 9 April = %+v", d)
	}
	var assets []store.AssetPatchStatus
	e.list("/api/v1/compliance/assets?site_id=site_rotterdam", e.tokens.Safety, &assets)
	if len(assets) != 1 || assets[0].AssetName != "sis-hmi-01" || assets[0].Status != "pending" || assets[0].FixedVersion != "V16.0.2" {
		t.Fatalf("Rotterdam asset status = %+v", assets)
	}

	// A mitigation plan satisfies the action; it is then due on its own date.
	var plan store.MitigationPlan
	if code := e.call("POST", "/api/v1/compliance/mitigations", e.tokens.Engineer, map[string]any{"subject_type": "patch", "subject_id": p.ID,
		"compensating_controls": []string{"HMI web server disabled", "conduit firewall denies TCP/443"}, "owner": "ot-security", "due_date": "2026-05-15"}, &plan); code != http.StatusCreated {
		t.Fatalf("create plan: %d", code)
	}
	if d := e.overdue(e.tokens.Auditor); len(d.Actions) != 0 {
		t.Fatalf("overdue with a plan filed = %+v", d.Actions)
	}
	rows = e.getCSV("/api/v1/compliance/assets?format=csv", e.tokens.Auditor)
	if len(rows) != 4 || rows[0][9] != "status" || rows[1][9] != "mitigated" || rows[3][1] != "sis-hmi-01" || rows[3][9] != "mitigated" {
		t.Fatalf("assets CSV = %q", rows)
	}
	// The clock's notifications of the plan: none while its due date is more than 7 days off,
	// nerc_due once within them, nerc_overdue once after it, each recorded once however often
	// the dispatcher checks.
	clock := &activities.Activities{Store: e.store, Now: clk.Now}
	checkClock := func(when string, want int) {
		t.Helper()
		if res, err := clock.CheckClock(ctx); err != nil || res.Recorded != want {
			t.Fatalf("the clock's check %s: %+v %v, want %d recorded", when, res, err, want)
		}
	}
	checkClock("with the due date months off", 0)
	clk.Set(time.Date(2026, 5, 10, 7, 0, 0, 0, time.UTC))
	checkClock("5 days before the due date", 1)
	checkClock("again", 0)
	clk.Set(time.Date(2026, 5, 16, 7, 0, 0, 0, time.UTC))
	checkClock("the day after the due date", 1)
	checkClock("again", 0)
	for action, want := range map[string]string{notify.NERCDueAction: "falls due on 2026-05-15", notify.NERCOverdueAction: "was due on 2026-05-15"} {
		evs, _ := e.store.AuditEvents(ctx, store.AuditFilter{Action: action})
		if len(evs) != 1 || evs[0].SubjectID != plan.ID {
			t.Fatalf("%s events: %+v, want one of plan %s", action, evs, plan.ID)
		}
		if n, ok := notify.FromEvent(evs[0], ""); !ok || !strings.Contains(n.Subject, want) || n.Link != "/#/compliance" {
			t.Errorf("%s is told as %+v, want it to say %q and link to the compliance page", action, n, want)
		}
	}
	if d := e.overdue(e.tokens.Auditor); !slices.Equal(kinds(d.Actions), []string{"mitigation_plan 2026-05-15"}) || d.Actions[0].PlanID != plan.ID || d.Actions[0].Owner != "ot-security" {
		t.Fatalf("overdue on 16 May = %+v", d.Actions)
	}

	// Erin requests an extension, then is made an approver too (asked by one admin, confirmed
	// by the other) and mints herself an approver token. Her own approval is refused, audited,
	// and changes nothing: approvals compare persons, not roles.
	var ext store.MitigationExtension
	if code := e.call("POST", "/api/v1/compliance/mitigations/"+plan.ID+"/extensions", e.tokens.Engineer,
		map[string]string{"due_date": "2026-06-30", "reason": "the vendor's hotfix for the safety HMI ships in June"}, &ext); code != http.StatusCreated {
		t.Fatalf("request extension: %d", code)
	}
	e.grantRole(e.me(e.tokens.Engineer).UserID, domain.RoleApprover)
	erinApprover := e.mintInRole("erin-engineer", "approving", "approver").Token
	if code := e.call("POST", "/api/v1/compliance/extensions/"+ext.ID+"/approve", erinApprover, nil, &prob); code != http.StatusForbidden || !strings.Contains(prob.Detail, "may not decide it") {
		t.Fatalf("self-approval: %d %+v", code, prob)
	}
	if evs, _ := e.store.AuditEvents(ctx, store.AuditFilter{Action: "compliance.extension_refused"}); len(evs) != 1 || evs[0].Actor != "erin-engineer" {
		t.Fatalf("refused self-approval audit events = %+v", evs)
	}
	if d := e.overdue(e.tokens.Auditor); len(d.Actions) != 1 {
		t.Fatalf("a refused self-approval moved the due date: %+v", d.Actions)
	}
	var decided store.MitigationExtension
	if code := e.call("POST", "/api/v1/compliance/extensions/"+ext.ID+"/approve", e.tokens.Approver, map[string]string{"reason": "vendor date confirmed"}, &decided); code != http.StatusOK || decided.Status != "approved" || decided.DecidedBy != "otto-operations" {
		t.Fatalf("approve: %d %+v", code, decided)
	}
	if d := e.overdue(e.tokens.Auditor); len(d.Actions) != 0 {
		t.Fatalf("overdue after the approved extension = %+v", d.Actions)
	}
	var plans []store.MitigationPlan
	e.list("/api/v1/compliance/mitigations", e.tokens.Auditor, &plans)
	if len(plans) != 1 || plans[0].DueOn != "2026-06-30" || plans[0].OriginalDueOn != "2026-05-15" || len(plans[0].Extensions) != 1 {
		t.Fatalf("plans = %+v", plans)
	}
	if code := e.call("POST", "/api/v1/compliance/extensions/"+ext.ID+"/approve", e.tokens.Approver, nil, nil); code != http.StatusConflict {
		t.Fatalf("approving again: %d, want 409", code)
	}

	// The per-site summary.
	rows = e.getCSV("/api/v1/compliance/sites?format=csv", e.tokens.Auditor)
	bySite := map[string][]string{}
	for _, r := range rows[1:] {
		bySite[r[0]] = r
	}
	// site_id, site_name, zones, assets, items, installed, pending, mitigated, not_applicable,
	// evaluations_overdue, actions_overdue, open_plans, overdue_plans, approved_extensions
	if b := bySite["site_basel"]; len(b) != 14 || b[4] != "1" || b[7] != "2" || b[6] != "0" || b[11] != "1" || b[13] != "1" {
		t.Fatalf("Basel summary = %q (header %q)", b, rows[0])
	}
	if r := bySite["site_rotterdam"]; len(r) != 14 || r[7] != "1" {
		t.Fatalf("Rotterdam summary = %q", r)
	}
	if code := e.call("GET", "/api/v1/compliance/sites?format=xml", e.tokens.Auditor, nil, &prob); code != http.StatusUnprocessableEntity {
		t.Fatalf("format=xml: %d", code)
	}

	// What was created is where Location says.
	var got store.MitigationPlan
	if code := e.call("GET", "/api/v1/compliance/mitigations/"+plan.ID, e.tokens.Auditor, nil, &got); code != http.StatusOK || got.ID != plan.ID || len(got.Extensions) != 1 {
		t.Fatalf("GET plan: %d %+v", code, got)
	}
	var gotExt store.MitigationExtension
	if code := e.call("GET", "/api/v1/compliance/extensions/"+ext.ID, e.tokens.Auditor, nil, &gotExt); code != http.StatusOK || gotExt.Status != "approved" {
		t.Fatalf("GET extension: %d %+v", code, gotExt)
	}

	// The lists are pages; their CSV is the whole report, which limit and after do not page.
	var page struct {
		AsOf  string                   `json:"as_of"`
		Items []store.AssetPatchStatus `json:"items"`
		Next  string                   `json:"next"`
	}
	var walked []string
	for q := "limit=2"; ; {
		page.Next = ""
		if code := e.call("GET", "/api/v1/compliance/assets?"+q, e.tokens.Auditor, nil, &page); code != http.StatusOK || len(page.Items) > 2 || page.AsOf != "2026-05-16" {
			t.Fatalf("assets page ?%s: %d %+v", q, code, page)
		}
		for _, a := range page.Items {
			walked = append(walked, a.AssetName)
		}
		if page.Next == "" {
			break
		}
		q = "limit=2&after=" + url.QueryEscape(page.Next)
	}
	if strings.Join(walked, ",") != "pkg-hmi-01,pkg-hmi-02,sis-hmi-01" {
		t.Fatalf("walked the asset pages of 2: %q", walked)
	}

	// A filter naming nothing otpatch knows is refused, naming the parameter.
	for _, q := range []string{"site_id=site_typo", "zone_id=zone_typo", "status=lost", "format=csv&limit=5"} {
		if code := e.call("GET", "/api/v1/compliance/assets?"+q, e.tokens.Auditor, nil, &prob); code != http.StatusUnprocessableEntity ||
			len(prob.Errors) != 1 || !strings.Contains(q, prob.Errors[0].Field+"=") {
			t.Errorf("compliance/assets?%s: %d %+v", q, code, prob)
		}
	}
	if code := e.call("GET", "/api/v1/compliance/mitigations?subject_id=pat_typo", e.tokens.Auditor, nil, &prob); code != http.StatusUnprocessableEntity ||
		len(prob.Errors) != 1 || prob.Errors[0].Field != "subject_id" {
		t.Errorf("mitigations?subject_id=pat_typo: %d %+v", code, prob)
	}
	plans = nil
	if e.list("/api/v1/compliance/mitigations?status=completed&subject_id="+p.ID, e.tokens.Auditor, &plans); len(plans) != 0 {
		t.Errorf("completed plans of %s: %+v", p.ID, plans)
	}

	// Every compliance change is in the audit trail, with the request that made it.
	for _, action := range []string{"compliance.evaluated", "compliance.mitigation_planned", "compliance.extension_requested", "compliance.extension_approved"} {
		evs, err := e.store.AuditEvents(ctx, store.AuditFilter{Action: action})
		if err != nil || len(evs) != 1 || evs[0].RequestID == "" {
			t.Errorf("%s events = %+v, %v", action, evs, err)
		}
	}
	if res, err := e.store.VerifyAudit(ctx); err != nil || !res.OK {
		t.Fatalf("VerifyAudit = %+v, %v", res, err)
	}
}
