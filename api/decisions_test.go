package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/evidence"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	allowed["POST /api/v1/advisories/{advisoryID}/decisions"] = []string{"engineer", "admin"}
	allowed["GET /api/v1/decisions"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/decisions/{decisionID}"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["POST /api/v1/decisions/{decisionID}/approve"] = []string{"approver"}
	allowed["POST /api/v1/decisions/{decisionID}/reject"] = []string{"approver"}
}

// decisionDoc is a decision as the API answers it.
type decisionDoc struct {
	ID         string   `json:"id"`
	AdvisoryID string   `json:"advisory_id"`
	TrackingID string   `json:"tracking_id"`
	Kind       string   `json:"kind"`
	State      string   `json:"state"`
	AssetIDs   []string `json:"asset_ids"`
	AssetCount int      `json:"asset_count"`
	Group      struct {
		By     string `json:"by"`
		ZoneID string `json:"zone_id"`
	} `json:"group"`
	PatchID          string `json:"patch_id"`
	CampaignID       string `json:"campaign_id"`
	MitigationPlanID string `json:"mitigation_plan_id"`
	Approver         string `json:"approver"`
	ApprovedBy       string `json:"approved_by"`
	RequestedBy      string `json:"requested_by"`
	SupersededBy     string `json:"superseded_by"`
	VEXJustification string `json:"vex_justification"`
}

// TestAdvisoryDecisions decides on the demo advisory through the API, on both databases: a
// patch decision plans the campaign in one step and the campaign and its evidence name the
// advisory; a mitigation files the NERC plan; a risk acceptance is refused to its requester
// and approved by the approver it names, then expires; a not-affected statement with its VEX
// justification supersedes the mitigation for one switch. Each affected asset of the advisory
// shows its current decision.
func TestAdvisoryDecisions(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			clk := &testClock{t: time.Now().UTC()}
			e := newEnv(t, envOptions{postgres: backend == "postgres", now: clk.Now})
			testAdvisoryDecisions(t, e, clk)
		})
	}
}

func testAdvisoryDecisions(t *testing.T, e *env, clk *testClock) {
	ctx := context.Background()
	tick := func() { clk.Set(clk.Now().Add(time.Minute)) }
	day := func(days int) string { return clk.Now().UTC().AddDate(0, 0, days).Format(time.DateOnly) }
	var adv advisoryDoc
	if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, acmeAdvisory("2026-11-20T00:00:00Z")), &adv); code != http.StatusCreated {
		t.Fatalf("ingest: %d", code)
	}
	decide := func(token string, body map[string]any, out any) int {
		t.Helper()
		tick()
		return e.call("POST", "/api/v1/advisories/"+adv.ID+"/decisions", token, body, out)
	}
	pkgHMIs, err := e.store.Assets(ctx, store.AssetFilter{ProductID: "prd_acme_hmi", ZoneID: "zone_packaging"})
	if err != nil || len(pkgHMIs) == 0 {
		t.Fatalf("packaging HMIs: %v", err)
	}
	var pkgIDs []string
	for _, a := range pkgHMIs {
		pkgIDs = append(pkgIDs, a.ID)
	}
	slices.Sort(pkgIDs)

	t.Run("refusals", func(t *testing.T) {
		var p problemDoc
		// No qualified patch yet: refused, with the assets named, and no campaign.
		if code := decide(e.tokens.Engineer, map[string]any{"kind": "patch", "zone_id": "zone_packaging"}, &p); code != http.StatusConflict || !strings.Contains(p.Detail, "no qualified patch fixes") || !strings.Contains(p.Detail, "pkg-hmi-01") {
			t.Fatalf("patch without a qualified patch: %d %q", code, p.Detail)
		}
		p = problemDoc{}
		code := decide(e.tokens.Engineer, map[string]any{"kind": "not_affected", "asset_ids": []string{"ast_pkg-plc-01"}, "vex_justification": "harmless", "owner": "x"}, &p)
		var fields []string
		for _, f := range p.Errors {
			fields = append(fields, f.Field)
		}
		if code != http.StatusUnprocessableEntity || !slices.Equal(fields, []string{"asset_ids", "owner", "vex_justification", "impact_statement"}) {
			t.Fatalf("bad not-affected: %d %v %q", code, fields, p.Detail)
		}
		if code := decide(e.tokens.Approver, map[string]any{"kind": "accept", "all": true}, nil); code != http.StatusForbidden {
			t.Fatalf("an approver deciding: %d", code)
		}
		var list []decisionDoc
		if e.list("/api/v1/decisions?advisory_id="+adv.ID, e.tokens.Auditor, &list); len(list) != 0 {
			t.Fatalf("refused decisions were stored: %+v", list)
		}
	})

	// Advisory → campaign in one step.
	patch := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1000))
	var pd struct {
		decisionDoc
		problemDoc
	}
	if code := decide(e.tokens.Engineer, map[string]any{"kind": "patch", "zone_id": "zone_packaging", "product_id": "prd_acme_hmi"}, &pd); code != http.StatusCreated {
		t.Fatalf("patch decision: %d %q", code, pd.Detail)
	}
	if pd.Kind != "patch" || pd.State != "active" || pd.CampaignID == "" || pd.PatchID != patch.ID || !slices.Equal(pd.AssetIDs, pkgIDs) || pd.Group.By != "filter" || pd.Group.ZoneID != "zone_packaging" {
		t.Fatalf("patch decision = %+v (want the packaging HMIs %v)", pd, pkgIDs)
	}
	var c struct {
		ID       string `json:"id"`
		PatchID  string `json:"patch_id"`
		Name     string `json:"name"`
		Advisory *struct {
			DecisionID string `json:"decision_id"`
			AdvisoryID string `json:"advisory_id"`
			TrackingID string `json:"tracking_id"`
		} `json:"advisory"`
		Assets []struct {
			AssetID   string `json:"asset_id"`
			TestBench bool   `json:"test_bench"`
		} `json:"assets"`
	}
	if code := e.call("GET", "/api/v1/campaigns/"+pd.CampaignID, e.tokens.Approver, nil, &c); code != http.StatusOK {
		t.Fatalf("GET campaign: %d", code)
	}
	var targets []string
	for _, a := range c.Assets {
		if !a.TestBench {
			targets = append(targets, a.AssetID)
		}
	}
	slices.Sort(targets)
	if c.PatchID != patch.ID || c.Advisory == nil || c.Advisory.TrackingID != "ACME-SA-2026-014" || c.Advisory.DecisionID != pd.ID || !slices.Equal(targets, pkgIDs) {
		t.Fatalf("campaign from the decision = %+v", c)
	}
	t.Run("evidence names the advisory", func(t *testing.T) {
		e.withCheckpoints()
		code, _, bundle := e.get("/api/v1/campaigns/"+c.ID+"/evidence", e.tokens.Auditor)
		if code != http.StatusOK {
			t.Fatalf("evidence: %d %s", code, bundle)
		}
		files := untar(t, bundle)
		var cj struct {
			Advisory struct {
				DecisionID string `json:"decision_id"`
				TrackingID string `json:"tracking_id"`
			} `json:"advisory"`
		}
		if err := json.Unmarshal(files[evidence.FileCampaign], &cj); err != nil || cj.Advisory.DecisionID != pd.ID || cj.Advisory.TrackingID != "ACME-SA-2026-014" {
			t.Errorf("campaign.json advisory = %+v, %v", cj.Advisory, err)
		}
		events := string(files[evidence.FileEvents])
		if !strings.Contains(events, `"decision.recorded"`) || !strings.Contains(events, pd.ID) {
			t.Errorf("the evidence's audit events lack the decision:\n%s", events)
		}
	})

	// Mitigate the switches: the advisory's NERC mitigation plan, due on the review date.
	switches, _ := e.store.Assets(ctx, store.AssetFilter{ProductID: "prd_helix_switch"})
	var md decisionDoc
	if code := decide(e.tokens.Engineer, map[string]any{"kind": "mitigate", "product_id": "prd_helix_switch", "control_kind": "disabled_service",
		"description": "HTTP management disabled on every switch", "owner": "ot-network", "evidence": "https://change.example/CHG-1234", "review_date": day(30)}, &md); code != http.StatusCreated {
		t.Fatalf("mitigate: %d", code)
	}
	if md.MitigationPlanID == "" || md.AssetCount != len(switches) {
		t.Fatalf("mitigation = %+v", md)
	}
	var plan store.MitigationPlan
	if code := e.call("GET", "/api/v1/compliance/mitigations/"+md.MitigationPlanID, e.tokens.Auditor, nil, &plan); code != http.StatusOK ||
		plan.SubjectID != adv.ID || plan.DueOn != day(30) || plan.Owner != "ot-network" || len(plan.CompensatingControls) != 1 || !strings.Contains(plan.CompensatingControls[0], "CHG-1234") {
		t.Fatalf("the mitigation plan: %d %+v", code, plan)
	}
	var items struct {
		Items []store.ComplianceItem `json:"items"`
	}
	e.call("GET", "/api/v1/compliance/advisories", e.tokens.Auditor, nil, &items)
	for _, it := range items.Items {
		if it.SubjectID == adv.ID && (it.Evaluation == nil || it.Evaluation.Decision != "mitigate" || len(it.MitigationPlans) != 1) {
			t.Fatalf("compliance of the advisory = %+v", it)
		}
	}

	// Accept the risk for the safety HMIs: never approved by its requester.
	carlID, carl := e.person("carl-engineer", domain.RoleEngineer, "")
	_, olga := e.person("olga-operations", domain.RoleApprover, "")
	var p problemDoc
	if code := decide(carl, map[string]any{"kind": "accept", "zone_id": "zone_safety", "justification": "SIS HMIs are replaced at the turnaround",
		"approver": "carl-engineer", "expires_on": day(60)}, &p); code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "approver" {
		t.Fatalf("naming oneself as approver: %d %+v", code, p)
	}
	var ad decisionDoc
	if code := decide(carl, map[string]any{"kind": "accept", "zone_id": "zone_safety", "justification": "SIS HMIs are replaced at the turnaround",
		"approver": "olga-operations", "expires_on": day(60)}, &ad); code != http.StatusCreated || ad.State != "pending" || ad.RequestedBy != "carl-engineer" || len(ad.AssetIDs) == 0 {
		t.Fatalf("accept: %d %+v", code, ad)
	}
	e.grantRole(carlID, domain.RoleApprover)
	carlApproving := e.mintInRole("carl-engineer", "approving", "approver")
	p = problemDoc{}
	if code := e.call("POST", "/api/v1/decisions/"+ad.ID+"/approve", carlApproving.Token, nil, &p); code != http.StatusForbidden ||
		p.Detail != "carl-engineer requested this risk acceptance and so cannot approve or reject it; another person must" {
		t.Fatalf("the requester approving: %d %q", code, p.Detail)
	}
	if n := e.auditCount("decision.approval_refused"); n != 1 {
		t.Fatalf("%d refusals audited", n)
	}
	if code := e.call("POST", "/api/v1/decisions/"+ad.ID+"/approve", e.tokens.Approver, nil, &p); code != http.StatusForbidden || !strings.Contains(p.Detail, "asks olga-operations") {
		t.Fatalf("another approver approving: %d %q", code, p.Detail)
	}
	if code := e.call("POST", "/api/v1/decisions/"+ad.ID+"/approve", olga, nil, &ad); code != http.StatusOK || ad.State != "active" || ad.ApprovedBy != "olga-operations" {
		t.Fatalf("olga approving: %d %+v", code, ad)
	}

	// A second acceptance, for the same assets, is rejected by its approver with the reason:
	// never by its requester, never without a reason, and the first stays in force.
	var rd decisionDoc
	if code := decide(carl, map[string]any{"kind": "accept", "asset_ids": ad.AssetIDs, "justification": "extend the acceptance",
		"approver": "olga-operations", "expires_on": day(90)}, &rd); code != http.StatusCreated || rd.State != "pending" {
		t.Fatalf("second acceptance: %d %+v", code, rd)
	}
	reject := func(token string, body any, out any) int {
		return e.call("POST", "/api/v1/decisions/"+rd.ID+"/reject", token, body, out)
	}
	p = problemDoc{}
	if code := reject(carlApproving.Token, map[string]any{"reason": "no"}, &p); code != http.StatusForbidden || !strings.Contains(p.Detail, "cannot approve or reject it") {
		t.Fatalf("the requester rejecting: %d %q", code, p.Detail)
	}
	p = problemDoc{}
	if code := reject(olga, map[string]any{"reason": "  "}, &p); code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "reason" {
		t.Fatalf("rejecting without a reason: %d %+v", code, p)
	}
	var rejected struct {
		State        string `json:"state"`
		RejectedBy   string `json:"rejected_by"`
		RejectReason string `json:"reject_reason"`
	}
	if code := reject(olga, map[string]any{"reason": "the vendor's fix is out; patch instead"}, &rejected); code != http.StatusOK ||
		rejected.State != "rejected" || rejected.RejectedBy != "olga-operations" || rejected.RejectReason != "the vendor's fix is out; patch instead" {
		t.Fatalf("olga rejecting: %d %+v", code, rejected)
	}
	if code := e.call("POST", "/api/v1/decisions/"+rd.ID+"/approve", olga, nil, nil); code != http.StatusConflict {
		t.Fatalf("approving a rejected acceptance: %d, want 409", code)
	}
	if code := reject(olga, map[string]any{"reason": "again"}, nil); code != http.StatusConflict {
		t.Fatalf("rejecting twice: %d, want 409", code)
	}
	if e.auditCount("decision.rejected") != 1 || e.auditCount("decision.rejection_refused") != 1 {
		t.Errorf("audit: %d decision.rejected, %d decision.rejection_refused", e.auditCount("decision.rejected"), e.auditCount("decision.rejection_refused"))
	}
	current, err := e.store.CurrentDecisions(ctx, adv.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ad.AssetIDs {
		if current[id].ID != ad.ID {
			t.Errorf("asset %s: current decision %s after the rejection, want the approved %s", id, current[id].ID, ad.ID)
		}
	}

	// Not affected, for one switch: supersedes the mitigation for it.
	var nd decisionDoc
	if code := decide(e.tokens.Engineer, map[string]any{"kind": "not_affected", "asset_ids": []string{switches[0].ID}, "vex_justification": "vulnerable_code_not_in_execute_path",
		"impact_statement": "the switch runs without its web server"}, &nd); code != http.StatusCreated || nd.VEXJustification != "vulnerable_code_not_in_execute_path" {
		t.Fatalf("not affected: %d %+v", code, nd)
	}

	// The advisory shows each affected asset's current decision.
	var shown struct {
		Affected []struct {
			AssetID  string `json:"asset_id"`
			Decision *struct {
				ID, Kind, State string
				CampaignID      string `json:"campaign_id"`
			} `json:"decision"`
		} `json:"affected_assets"`
	}
	if code := e.call("GET", "/api/v1/advisories/"+adv.ID, e.tokens.Safety, nil, &shown); code != http.StatusOK {
		t.Fatalf("GET advisory: %d", code)
	}
	want := map[string]string{switches[0].ID: nd.ID}
	for _, sw := range switches[1:] {
		want[sw.ID] = md.ID
	}
	for _, id := range ad.AssetIDs {
		want[id] = ad.ID
	}
	for _, id := range pkgIDs {
		want[id] = pd.ID
	}
	for _, a := range shown.Affected {
		w, ok := want[a.AssetID]
		switch {
		case !ok && a.Decision != nil:
			t.Errorf("%s shows decision %+v, decided nothing", a.AssetID, a.Decision)
		case ok && (a.Decision == nil || a.Decision.ID != w):
			t.Errorf("%s shows decision %+v, want %s", a.AssetID, a.Decision, w)
		case ok && a.Decision.Kind == "patch" && a.Decision.CampaignID != pd.CampaignID:
			t.Errorf("%s: the patch decision links campaign %s", a.AssetID, a.Decision.CampaignID)
		}
		delete(want, a.AssetID)
	}
	if len(want) != 0 {
		t.Errorf("assets not listed as affected: %v", want)
	}
	var history []decisionDoc
	if e.list("/api/v1/decisions?advisory_id="+adv.ID+"&asset_id="+switches[0].ID, e.tokens.Auditor, &history); len(history) != 2 || history[0].ID != nd.ID || history[1].ID != md.ID {
		t.Errorf("the history of %s = %+v", switches[0].ID, history)
	}
	var mdNow decisionDoc
	e.call("GET", "/api/v1/decisions/"+md.ID, e.tokens.Auditor, nil, &mdNow)
	if mdNow.State != "active" || len(mdNow.AssetIDs) != len(switches) {
		t.Errorf("the mitigation superseded for one switch = %+v", mdNow)
	}

	// The acceptance counts until its expiry day, then no longer.
	clk.Set(clk.Now().AddDate(0, 0, 61))
	var expired []decisionDoc
	if e.list("/api/v1/decisions?state=expired", e.tokens.Auditor, &expired); len(expired) != 1 || expired[0].ID != ad.ID || expired[0].State != "expired" {
		t.Fatalf("expired decisions = %+v", expired)
	}
	var prob problemDoc
	if code := e.call("GET", "/api/v1/decisions?state=later&kind=maybe", e.tokens.Auditor, nil, &prob); code != http.StatusUnprocessableEntity || len(prob.Errors) != 2 {
		t.Fatalf("bad filters: %d %+v", code, prob)
	}
}
