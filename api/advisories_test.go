package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	allowed["POST /api/v1/advisories"] = []string{"engineer", "admin"}
	allowed["GET /api/v1/advisories"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/advisories/{advisoryID}"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
}

// sharedCSAF holds the real CISA advisories: /work/shared beside the repository.
const sharedCSAF = "../../shared/testdata/csaf"

// advisoryDoc is the part of an advisory answer the tests read.
type advisoryDoc struct {
	ID             string   `json:"id"`
	TrackingID     string   `json:"tracking_id"`
	Title          string   `json:"title"`
	Ingest         string   `json:"ingest"`
	CVEs           []string `json:"cves"`
	Remediation    string   `json:"remediation"`
	AffectedCount  int      `json:"affected_asset_count"`
	AffectedAssets []struct {
		AssetID          string `json:"asset_id"`
		InstalledVersion string `json:"installed_version"`
		VersionChecked   bool   `json:"version_checked"`
		Remedy           struct {
			Kind         string `json:"kind"`
			FixedVersion string `json:"fixed_version"`
			Summary      string `json:"summary"`
		} `json:"remedy"`
		Patch *struct {
			ID           string `json:"id"`
			FixedVersion string `json:"fixed_version"`
		} `json:"patch"`
	} `json:"affected_assets"`
	VendorFixes []struct {
		FixedVersion string `json:"fixed_version"`
		Patches      []struct {
			ID string `json:"id"`
		} `json:"patches"`
	} `json:"vendor_fixes"`
}

// postAdvisory sends a document as the body of POST /api/v1/advisories.
func (e *env) postAdvisory(token string, body []byte, out any) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/api/v1/advisories", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); res.StatusCode >= 400 && ct != "application/problem+json" {
		e.t.Errorf("error answer has Content-Type %q, want application/problem+json", ct)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("decode %q: %v", raw, err)
		}
	}
	return res.StatusCode
}

func (e *env) auditCount(action string) int {
	e.t.Helper()
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(evs)
}

// acmeAdvisory is a CSAF 2.0 document for the demo plant's fictional products: the
// ViewPanel HMI below V16.0.2 has a vendor fix, the ControlStation PLC below V2.9.3 (the demo
// runs V2.9.3) is named too, and every Helix switch has mitigations only.
func acmeAdvisory(current string) map[string]any {
	product := func(vendor, name, version, id string) map[string]any {
		return map[string]any{"category": "vendor", "name": vendor, "branches": []any{map[string]any{"category": "product_name", "name": name, "branches": []any{
			map[string]any{"category": "product_version_range", "name": version, "product": map[string]any{"name": name + " " + version, "product_id": id}},
		}}}}
	}
	return map[string]any{
		"document": map[string]any{
			"category": "csaf_security_advisory", "csaf_version": "2.0", "title": "Acme ViewPanel HMI authentication bypass",
			"publisher": map[string]any{"name": "Acme PSIRT", "category": "vendor", "namespace": "https://acme.example"},
			"tracking": map[string]any{"id": "ACME-SA-2026-014", "status": "final", "version": "1",
				"initial_release_date": "2026-11-20T00:00:00Z", "current_release_date": current},
		},
		"product_tree": map[string]any{"branches": []any{
			product("Acme Automation AG", "ViewPanel-HMI", "vers:generic/<16.0.2", "ACME-HMI"),
			product("Acme Automation AG", "ControlStation-PLC", "vers:generic/<2.9.3", "ACME-PLC"),
			product("Helix Industrial Networks", "Helix-Switch", "All versions", "HELIX-SW"),
		}},
		"vulnerabilities": []any{
			map[string]any{
				"cve": "CVE-2026-31337", "product_status": map[string]any{"known_affected": []any{"ACME-HMI", "ACME-PLC"}},
				"scores": []any{map[string]any{"products": []any{"ACME-HMI"}, "cvss_v3": map[string]any{"baseScore": 8.8, "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", "version": "3.1"}}},
				"remediations": []any{
					map[string]any{"category": "vendor_fix", "details": "Update to V16.0.2 or later version", "product_ids": []any{"ACME-HMI"}, "restart_required": map[string]any{"category": "service"}},
					map[string]any{"category": "mitigation", "details": "Restrict access to the HMI web server to the engineering network", "product_ids": []any{"ACME-HMI", "ACME-PLC"}},
				},
			},
			map[string]any{
				"cve": "CVE-2026-31338", "product_status": map[string]any{"known_affected": []any{"HELIX-SW"}},
				"scores":       []any{map[string]any{"products": []any{"HELIX-SW"}, "cvss_v3": map[string]any{"baseScore": 5.3, "vectorString": "CVSS:3.1/AV:N", "version": "3.1"}}},
				"remediations": []any{map[string]any{"category": "mitigation", "details": "Disable the switch's HTTP management interface", "product_ids": []any{"HELIX-SW"}}},
			},
		},
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdvisories ingests real CISA advisories and one for the demo plant through the API:
// each is stored once per tracking id, a newer revision replaces it, broken documents are
// refused and audited; the demo advisory hits the HMIs below V16.0.2 and, once a patch is
// qualified, links it as the fix; the switches get "no patch — mitigate".
func TestAdvisories(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testAdvisories(t, envOptions{postgres: backend == "postgres"}) })
	}
}

func testAdvisories(t *testing.T, opt envOptions) {
	e := newEnv(t, opt)
	ctx := context.Background()

	files, _ := filepath.Glob(filepath.Join(sharedCSAF, "*.json"))
	t.Run("real CISA advisories", func(t *testing.T) {
		if len(files) == 0 {
			t.Skipf("no CSAF advisories in %s (the shared test data lives beside the repository); skipping", sharedCSAF)
		}
		for _, path := range files {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var doc advisoryDoc
			if code := e.postAdvisory(e.tokens.Engineer, raw, &doc); code != http.StatusCreated && code != http.StatusOK {
				t.Fatalf("%s: status %d", filepath.Base(path), code)
			}
			if want := strings.ToUpper(strings.TrimSuffix(filepath.Base(path), ".json")); doc.TrackingID != want || len(doc.CVEs) == 0 || doc.AffectedCount != 0 {
				t.Errorf("%s: tracking id %q, CVEs %v, %d affected assets (the demo plant runs none of these products)", filepath.Base(path), doc.TrackingID, doc.CVEs, doc.AffectedCount)
			}
		}
		// The same document again is the advisory already stored: 200, same id, no event.
		raw, _ := os.ReadFile(files[0])
		var first, again advisoryDoc
		before := e.auditCount("advisory.ingested")
		var list []advisoryDoc
		e.list("/api/v1/advisories", e.tokens.Auditor, &list)
		for _, a := range list {
			if a.TrackingID == strings.ToUpper(strings.TrimSuffix(filepath.Base(files[0]), ".json")) {
				first = a
			}
		}
		if code := e.postAdvisory(e.tokens.Admin, raw, &again); code != http.StatusOK || again.ID != first.ID || again.Ingest != "unchanged" {
			t.Errorf("re-ingest: status %d, id %s (stored %s), ingest %q; want 200, the stored id, unchanged", code, again.ID, first.ID, again.Ingest)
		}
		if n := e.auditCount("advisory.ingested"); n != before || before != len(files) {
			t.Errorf("%d advisory.ingested events after re-ingest, %d before, for %d files", n, before, len(files))
		}
		var mitigate advisoryDoc
		e.call("GET", "/api/v1/advisories/"+idOf(list, "ICSA-21-350-06"), e.tokens.Safety, nil, &mitigate)
		if mitigate.Remediation != "no patch — mitigate" {
			t.Errorf("ICSA-21-350-06 (none_available, mitigations) remediation %q", mitigate.Remediation)
		}
	})

	hmis, err := e.store.Assets(ctx, store.AssetFilter{ProductID: "prd_acme_hmi"})
	if err != nil || len(hmis) == 0 {
		t.Fatalf("demo HMIs: %d, %v", len(hmis), err)
	}
	switches, _ := e.store.Assets(ctx, store.AssetFilter{ProductID: "prd_helix_switch"})

	var adv advisoryDoc
	if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, acmeAdvisory("2026-11-20T00:00:00Z")), &adv); code != http.StatusCreated || adv.Ingest != "created" {
		t.Fatalf("ingest the demo advisory: status %d, %+v", code, adv)
	}
	if adv.AffectedCount != len(hmis)+len(switches) {
		t.Errorf("%d affected assets, want the %d HMIs (V16.0.1 < V16.0.2) and %d switches; not the PLCs (V2.9.3 is not < V2.9.3)", adv.AffectedCount, len(hmis), len(switches))
	}
	check := func(doc advisoryDoc, patchID string) {
		t.Helper()
		byID := map[string]int{}
		for i, a := range doc.AffectedAssets {
			byID[a.AssetID] = i
		}
		for _, h := range hmis {
			i, ok := byID[h.ID]
			if !ok {
				t.Errorf("%s (%s) is not listed as affected", h.ID, h.InstalledVersion)
				continue
			}
			a := doc.AffectedAssets[i]
			if a.Remedy.Kind != "update" || a.Remedy.FixedVersion != "V16.0.2" || !a.VersionChecked {
				t.Errorf("%s: remedy %+v, version checked %v", h.ID, a.Remedy, a.VersionChecked)
			}
			switch {
			case patchID == "" && a.Patch != nil:
				t.Errorf("%s links patch %s before any patch is qualified", h.ID, a.Patch.ID)
			case patchID != "" && (a.Patch == nil || a.Patch.ID != patchID):
				t.Errorf("%s: patch %+v, want %s", h.ID, a.Patch, patchID)
			}
		}
		for _, sw := range switches {
			if i, ok := byID[sw.ID]; !ok || doc.AffectedAssets[i].Remedy.Summary != "no patch — mitigate" || doc.AffectedAssets[i].Patch != nil {
				t.Errorf("switch %s: listed %v, %+v", sw.ID, ok, doc.AffectedAssets[i])
			}
		}
		for _, a := range doc.AffectedAssets {
			if strings.Contains(a.AssetID, "plc") {
				t.Errorf("PLC %s at %s is listed", a.AssetID, a.InstalledVersion)
			}
		}
		if len(doc.VendorFixes) != 1 || doc.VendorFixes[0].FixedVersion != "V16.0.2" {
			t.Fatalf("vendor fixes %+v", doc.VendorFixes)
		}
		if got := doc.VendorFixes[0].Patches; (patchID == "") != (len(got) == 0) || (patchID != "" && got[0].ID != patchID) {
			t.Errorf("vendor fix patches %+v, want %q", got, patchID)
		}
	}
	check(adv, "")

	patch := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1000))
	var shown advisoryDoc
	if code := e.call("GET", "/api/v1/advisories/"+adv.ID, e.tokens.Approver, nil, &shown); code != http.StatusOK {
		t.Fatalf("GET advisory: %d", code)
	}
	check(shown, patch.ID)

	t.Run("revisions", func(t *testing.T) {
		newer := acmeAdvisory("2026-12-01T00:00:00Z")
		newer["document"].(map[string]any)["title"] = "Acme ViewPanel HMI authentication bypass (update B)"
		var doc advisoryDoc
		if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, newer), &doc); code != http.StatusCreated || doc.Ingest != "replaced" || doc.ID != adv.ID || !strings.Contains(doc.Title, "update B") {
			t.Errorf("newer revision: status %d, ingest %q, id %s (was %s), title %q", code, doc.Ingest, doc.ID, adv.ID, doc.Title)
		}
		if n := e.auditCount("advisory.replaced"); n != 1 {
			t.Errorf("%d advisory.replaced events, want 1", n)
		}
		var p problemDoc
		if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, acmeAdvisory("2026-11-20T00:00:00Z")), &p); code != http.StatusConflict || !strings.Contains(p.Detail, "older") {
			t.Errorf("older revision: status %d, %q; want 409 naming it older", code, p.Detail)
		}
	})

	t.Run("refused documents leave nothing and are audited", func(t *testing.T) {
		var before []advisoryDoc
		e.list("/api/v1/advisories", e.tokens.Engineer, &before)
		refusals := e.auditCount("advisory.ingest_refused")
		notCSAF := acmeAdvisory("2026-11-20T00:00:00Z")
		notCSAF["document"].(map[string]any)["csaf_version"] = "1.2"
		undefined := acmeAdvisory("2027-01-01T00:00:00Z")
		undefined["vulnerabilities"].([]any)[0].(map[string]any)["product_status"] = map[string]any{"known_affected": []any{"NOPE"}}
		tests := []struct {
			name, field string
			body        []byte
		}{
			{"not JSON", "document", []byte("{\"document\": ")},
			{"a manifest, not an advisory", "document", mustJSON(t, newTestPatch(t, "V1", 10).manifest)},
			{"CSAF 1.2", "document.csaf_version", mustJSON(t, notCSAF)},
			{"undefined product id", "vulnerabilities[0].product_status.known_affected", mustJSON(t, undefined)},
		}
		for _, tt := range tests {
			var p problemDoc
			if code := e.postAdvisory(e.tokens.Engineer, tt.body, &p); code != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 422", tt.name, code)
			}
			if !fieldNamed(p, tt.field) {
				t.Errorf("%s: problem %q %v does not name %s", tt.name, p.Detail, p.Errors, tt.field)
			}
		}
		var after []advisoryDoc
		e.list("/api/v1/advisories", e.tokens.Engineer, &after)
		if len(after) != len(before) {
			t.Errorf("%d advisories after refused ingests, %d before", len(after), len(before))
		}
		if n := e.auditCount("advisory.ingest_refused"); n != refusals+len(tests) {
			t.Errorf("%d advisory.ingest_refused events, want %d", n, refusals+len(tests))
		}
	})

	t.Run("unknown advisory", func(t *testing.T) {
		if code := e.call("GET", "/api/v1/advisories/adv_nope", e.tokens.Auditor, nil, nil); code != http.StatusNotFound {
			t.Errorf("status %d, want 404", code)
		}
	})

	t.Run("one page at a time, and by tracking id", func(t *testing.T) {
		// Two more advisories of its own, so the walk has pages whether or not the shared CISA
		// advisories beside the repository were ingested above.
		for _, id := range []string{"ACME-SA-2026-101", "ACME-SA-2026-102"} {
			doc := acmeAdvisory("2026-11-21T00:00:00Z")
			doc["document"].(map[string]any)["tracking"].(map[string]any)["id"] = id
			if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, doc), nil); code != http.StatusCreated {
				t.Fatalf("ingest %s: %d", id, code)
			}
		}
		var all, onePerPage, one, none []advisoryDoc
		e.list("/api/v1/advisories", e.tokens.Auditor, &all)
		e.list("/api/v1/advisories?limit=1", e.tokens.Auditor, &onePerPage)
		trackingIDs := func(as []advisoryDoc) []string {
			out := []string{}
			for _, a := range as {
				out = append(out, a.TrackingID)
			}
			return out
		}
		if len(all) < 2 || !slices.Equal(trackingIDs(onePerPage), trackingIDs(all)) {
			t.Fatalf("one per page %v, all at once %v", trackingIDs(onePerPage), trackingIDs(all))
		}
		e.list("/api/v1/advisories?tracking_id="+url.QueryEscape(all[1].TrackingID), e.tokens.Auditor, &one)
		if len(one) != 1 || one[0].ID != all[1].ID {
			t.Errorf("?tracking_id=%s: %v", all[1].TrackingID, trackingIDs(one))
		}
		if code := e.list("/api/v1/advisories?tracking_id=NO-SUCH-ADVISORY", e.tokens.Auditor, &none); code != http.StatusOK || len(none) != 0 {
			t.Errorf("?tracking_id of no advisory: %d %v, want an empty page", code, trackingIDs(none))
		}
	})
}

func fieldNamed(p problemDoc, field string) bool {
	for _, f := range p.Errors {
		if f.Field == field {
			return true
		}
	}
	return false
}

func idOf(list []advisoryDoc, trackingID string) string {
	for _, a := range list {
		if a.TrackingID == trackingID {
			return a.ID
		}
	}
	return "adv_missing"
}
