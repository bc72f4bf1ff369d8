package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

func init() {
	allowed["GET /api/v1/qualifications"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["PUT /api/v1/qualifications"] = []string{"engineer", "admin"}
	allowed["POST /api/v1/qualifications/import"] = []string{"engineer", "admin"}
	allowed["GET /api/v1/qualifications/mappings"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
}

// qualificationDoc is the part of a qualification entry the tests read.
type qualificationDoc struct {
	ID       string `json:"id"`
	PatchRef string `json:"patch_ref"`
	Product  string `json:"product"`
	Release  string `json:"release"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Revision int    `json:"revision"`
	Current  bool   `json:"current"`
	Source   string `json:"source"`
	List     string `json:"source_list"`
}

// importList posts a qualification list and decodes the answer into out.
func (e *env) importList(token, query, body string, out any) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/api/v1/qualifications/import?"+query, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("import answer %d: %v: %s", res.StatusCode, err, raw)
		}
	}
	return res.StatusCode
}

// A hold end to end: a held patch is refused at plan time with the hold's reason; lifted, the
// campaign is planned; held again (from an imported list) after planning, the campaign shows
// the hold and its approval is refused with the reason until the hold is lifted. On both
// databases.
func TestQualificationHold(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { qualificationHold(t, false) })
	t.Run("postgres", func(t *testing.T) { qualificationHold(t, true) })
}

func qualificationHold(t *testing.T, postgres bool) {
	e := newEnv(t, envOptions{postgres: postgres})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1024))
	eng := e.tokens.Engineer
	set := func(body map[string]any) (int, qualificationDoc, problemDoc) {
		t.Helper()
		var raw json.RawMessage
		code := e.call("PUT", "/api/v1/qualifications", eng, body, &raw)
		var q qualificationDoc
		var prob problemDoc
		_ = json.Unmarshal(raw, &q)
		_ = json.Unmarshal(raw, &prob)
		return code, q, prob
	}

	// A hold needs its reason.
	code, _, prob := set(map[string]any{"patch": "ACME-SA-2026-014", "product": "ViewPanel-HMI", "release": "16.0", "status": "held"})
	if code != http.StatusUnprocessableEntity || len(prob.Errors) != 1 || prob.Errors[0].Field != "reason" {
		t.Fatalf("a hold without reason: %d %+v", code, prob)
	}
	const freeze = "plant freeze until the turnaround ends on 2026-12-20"
	code, held, _ := set(map[string]any{"patch": "ACME-SA-2026-014", "product": "ViewPanel-HMI", "release": "16.0", "status": "held", "reason": freeze})
	if code != http.StatusOK || held.Status != "held" || held.Revision != 1 || !held.Current || held.Source != "person" {
		t.Fatalf("hold: %d %+v", code, held)
	}

	// The patch's page shows it.
	var patch struct {
		Qualifications []qualificationDoc `json:"qualifications"`
	}
	e.call("GET", "/api/v1/patches/"+p.ID, e.tokens.Approver, nil, &patch)
	if len(patch.Qualifications) != 1 || patch.Qualifications[0].ID != held.ID {
		t.Errorf("the patch shows %+v, want the hold", patch.Qualifications)
	}

	// Planned while held: refused with the reason.
	body := map[string]any{"name": "HMI web server fix", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01"}}
	var refused problemDoc
	if code := e.call("POST", "/api/v1/campaigns", eng, body, &refused); code != http.StatusConflict || refused.Rule != "qualification_hold" || !strings.Contains(refused.Detail, freeze) {
		t.Fatalf("a held patch planned: %d %+v", code, refused)
	}

	// Lifted: the campaign is planned.
	if code, q, _ := set(map[string]any{"patch": "ACME-SA-2026-014", "product": "ViewPanel-HMI", "release": "16.0", "status": "qualified"}); code != http.StatusOK || q.Revision != 2 {
		t.Fatalf("lift: %d %+v", code, q)
	}
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", eng, body, &c); code != http.StatusCreated {
		t.Fatalf("create after the lift: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	if c.Status != "awaiting_approval" {
		t.Fatalf("campaign %s", c.Status)
	}

	// Held again after planning, from the vendor's list: the campaign shows the hold, and its
	// approval is refused with the reason.
	const vendorHold = "web server does not start after the update on Windows 10 21H2"
	list := "update_id,product,release,status,notes\n" +
		p.ID + ",prd_acme_hmi,*,held," + vendorHold + "\n" +
		"KB5034441,ViewPanel-HMI,16.0,qualified,\n"
	query := url.Values{"mapping": {"generic"}, "vendor": {"ACME"}, "list": {"ACME patch qualification"}, "list_date": {"2026-12-01"}}.Encode()
	var imp struct {
		Rows    int `json:"rows"`
		Added   int `json:"added"`
		Changed int `json:"changed"`
		Matched int `json:"matched_patches"`
	}
	if code := e.importList(eng, query, list, &imp); code != http.StatusOK || imp.Rows != 2 || imp.Added != 2 || imp.Matched != 1 {
		t.Fatalf("import: %d %+v", code, imp)
	}
	var view struct {
		Holds []struct {
			Reason   string   `json:"reason"`
			Release  string   `json:"release"`
			Versions []string `json:"versions"`
		} `json:"holds"`
	}
	e.call("GET", "/api/v1/campaigns/"+c.ID, e.tokens.Approver, nil, &view)
	if len(view.Holds) != 1 || view.Holds[0].Reason != vendorHold || view.Holds[0].Release != "*" || len(view.Holds[0].Versions) != 1 || view.Holds[0].Versions[0] != "V16.0.1" {
		t.Errorf("the campaign shows holds %+v", view.Holds)
	}
	decide := func() (int, problemDoc) {
		var pd problemDoc
		return e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, &pd), pd
	}
	if code, pd := decide(); code != http.StatusConflict || pd.Rule != "qualification_hold" || !strings.Contains(pd.Detail, vendorHold) {
		t.Errorf("approval while held: %d %+v", code, pd)
	}

	// A bad list changes nothing and names every bad row.
	bad := "update_id,product,release,status,notes\n" +
		p.ID + ",prd_acme_hmi,*,qualified,\n" +
		"KB1,ViewPanel-HMI,16.0,fine,\n" +
		"KB2,ViewPanel-HMI,,held,\n"
	var bp problemDoc
	if code := e.importList(eng, query, bad, &bp); code != http.StatusUnprocessableEntity || len(bp.Errors) != 3 ||
		bp.Errors[0].Field != "line 3: status" || bp.Errors[1].Field != "line 4: release" || bp.Errors[2].Field != "line 4: notes" {
		t.Errorf("a bad list: %d %+v", code, bp)
	}
	if code := e.importList(eng, "mapping=siemens&list=x&list_date=2026-12-01", list, &bp); code != http.StatusUnprocessableEntity || bp.Errors[0].Field != "mapping" {
		t.Errorf("an unknown mapping: %d %+v", code, bp)
	}
	if code, _ := decide(); code != http.StatusConflict {
		t.Errorf("a refused list lifted the hold: approval answered %d", code)
	}

	// Lifted by a person: the campaign is approved.
	if code, q, _ := set(map[string]any{"patch": p.ID, "product": "prd_acme_hmi", "release": "*", "status": "qualified"}); code != http.StatusOK || q.Revision != 2 {
		t.Fatalf("lift the vendor's hold: %d %+v", code, q)
	}
	e.call("GET", "/api/v1/campaigns/"+c.ID, e.tokens.Approver, nil, &view)
	if len(view.Holds) != 0 {
		t.Errorf("holds after the lift: %+v", view.Holds)
	}
	if code, pd := decide(); code != http.StatusOK {
		t.Errorf("approval after the lift: %d %+v", code, pd)
	}

	// The history keeps when each hold was set and lifted.
	var hist []qualificationDoc
	if code := e.list("/api/v1/qualifications?history=1&patch="+p.ID, e.tokens.Auditor, &hist); code != http.StatusOK {
		t.Fatalf("history: %d", code)
	}
	var got []string
	for _, q := range hist {
		got = append(got, q.Product+" "+q.Release+" "+q.Status+" "+q.Source)
	}
	// Ordered by patch reference: ACME-SA-2026-014 before the patch id.
	want := []string{"viewpanel-hmi 16.0 held person", "viewpanel-hmi 16.0 qualified person", "prd_acme_hmi * held import", "prd_acme_hmi * qualified person"}
	for i := range got {
		got[i] = strings.Replace(got[i], "ViewPanel-HMI", "viewpanel-hmi", 1)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("history\n%v\nwant\n%v", got, want)
	}
	var current []qualificationDoc
	e.list("/api/v1/qualifications?status=held", e.tokens.Auditor, &current)
	if len(current) != 0 {
		t.Errorf("current holds after both lifts: %+v", current)
	}
	e.checkAudit(t, c.ID, []string{"campaign.decision_refused", "campaign.approved"})

	// A vendor's workbook imports as its CSV does.
	book, err := os.ReadFile("../internal/qualification/testdata/rockwell-2026-11.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	xq := url.Values{"mapping": {"rockwell"}, "format": {"xlsx"}, "list": {"Patch qualification for Microsoft updates"}, "list_date": {"2026-11-30"}}.Encode()
	if code := e.importList(eng, xq, string(book), &imp); code != http.StatusOK || imp.Rows != 6 || imp.Added != 6 {
		t.Errorf("the workbook: %d %+v", code, imp)
	}

	// The asset owner's qualification is not the vendor's to read.
	var asVendor map[string]any
	e.call("GET", "/api/v1/patches/"+p.ID, e.tokens.Vendor, nil, &asVendor)
	if _, ok := asVendor["qualifications"]; ok || asVendor["id"] != p.ID {
		t.Errorf("the vendor reads the patch with qualifications: %v", asVendor["qualifications"])
	}
	var qp problemDoc
	if code := e.call("GET", "/api/v1/qualifications?history=maybe&status=hold", e.tokens.Auditor, nil, &qp); code != http.StatusUnprocessableEntity || len(qp.Errors) != 2 {
		t.Errorf("a bad query: %d %+v", code, qp)
	}
}
