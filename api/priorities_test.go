package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	for _, route := range []string{"POST /api/v1/exploitation/kev", "POST /api/v1/exploitation/kev/fetch", "POST /api/v1/exploitation/epss",
		"POST /api/v1/exploitation/epss/fetch", "PUT /api/v1/zones/{zoneID}/conduits"} {
		allowed[route] = []string{"engineer", "admin"}
	}
	for _, route := range []string{"GET /api/v1/exploitation", "GET /api/v1/priorities", "GET /api/v1/zones/{zoneID}/conduits"} {
		allowed[route] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	}
}

const exploitationFixtures = "../internal/exploitation/testdata"

// postFile sends body with a content type and decodes the answer into out.
func (e *env) postFile(path, token, contentType string, body []byte, out any) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("decode %q: %v", raw, err)
		}
	}
	return res.StatusCode
}

type importDoc struct {
	Outcome string `json:"outcome"`
	Import  struct {
		ID         string `json:"id"`
		Source     string `json:"source"`
		Version    string `json:"version"`
		ReleasedAt string `json:"released_at"`
		Entries    int    `json:"entries"`
		Origin     string `json:"origin"`
		ImportedBy string `json:"imported_by"`
	} `json:"import"`
}

type priorityDoc struct {
	Rank       int     `json:"rank"`
	Decision   string  `json:"decision"`
	Points     int     `json:"points"`
	CVE        string  `json:"cve"`
	AssetID    string  `json:"asset_id"`
	ZoneID     string  `json:"zone_id"`
	AdvisoryID string  `json:"advisory_id"`
	CVSS       float64 `json:"cvss"`
	KEV        *struct {
		DateAdded  string `json:"date_added"`
		Ransomware bool   `json:"ransomware"`
	} `json:"kev"`
	Factors []struct {
		Kind   string `json:"kind"`
		Text   string `json:"text"`
		Points int    `json:"points"`
	} `json:"factors"`
	Plant *struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		State string `json:"state"`
	} `json:"plant_decision"`
}

func (p priorityDoc) texts() []string {
	var out []string
	for _, f := range p.Factors {
		out = append(out, f.Text)
	}
	return out
}

func TestExploitationAndPriorities(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testExploitationAndPriorities(t, envOptions{postgres: backend == "postgres"}) })
	}
}

func testExploitationAndPriorities(t *testing.T, opt envOptions) {
	e := newEnv(t, opt)
	ctx := context.Background()
	kev, err := os.ReadFile(filepath.Join(exploitationFixtures, "known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	epss, err := os.ReadFile(filepath.Join(exploitationFixtures, "epss_scores.csv"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("imports from files", func(t *testing.T) {
		var doc importDoc
		if code := e.postFile("/api/v1/exploitation/kev", e.tokens.Engineer, "application/json", kev, &doc); code != http.StatusCreated ||
			doc.Outcome != "imported" || doc.Import.Version != "2026.12.01" || doc.Import.Entries != 4 || doc.Import.Origin != "file" || doc.Import.ImportedBy == "" {
			t.Fatalf("KEV import: %d %+v", code, doc)
		}
		var again importDoc
		if code := e.postFile("/api/v1/exploitation/kev", e.tokens.Admin, "application/json", kev, &again); code != http.StatusOK || again.Outcome != "unchanged" || again.Import.ID != doc.Import.ID {
			t.Errorf("the same catalog again: %d %+v", code, again)
		}
		older := bytes.Replace(kev, []byte(`"dateReleased": "2026-12-01T14:59:01.4402Z"`), []byte(`"dateReleased": "2026-11-30T14:00:00Z"`), 1)
		var p problemDoc
		if code := e.postFile("/api/v1/exploitation/kev", e.tokens.Engineer, "application/json", older, &p); code != http.StatusConflict || !strings.Contains(p.Detail, "not newer") {
			t.Errorf("an older catalog: %d %q", code, p.Detail)
		}
		bad := bytes.Replace(kev, []byte(`"Unknown"`), []byte(`"Perhaps"`), 1)
		p = problemDoc{}
		if code := e.postFile("/api/v1/exploitation/kev", e.tokens.Engineer, "application/json", bad, &p); code != http.StatusUnprocessableEntity ||
			!fieldNamed(p, "vulnerabilities[1].knownRansomwareCampaignUse") {
			t.Errorf("a bad catalog: %d %q %v", code, p.Detail, p.Errors)
		}
		if code := e.postFile("/api/v1/exploitation/kev", e.tokens.Engineer, "text/csv", epss, nil); code != http.StatusUnsupportedMediaType {
			t.Errorf("KEV as CSV: %d", code)
		}
		if n := e.auditCount("exploitation.kev_imported"); n != 1 {
			t.Errorf("%d kev_imported events, want 1", n)
		}
		if n := e.auditCount("exploitation.import_refused"); n != 3 {
			t.Errorf("%d import_refused events, want 3", n)
		}

		// EPSS, gzipped as FIRST publishes it.
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(epss)
		_ = zw.Close()
		doc = importDoc{}
		if code := e.postFile("/api/v1/exploitation/epss", e.tokens.Engineer, "text/csv", gz.Bytes(), &doc); code != http.StatusCreated ||
			doc.Import.Version != "v2025.03.14" || doc.Import.Entries != 11 || doc.Import.ReleasedAt != "2026-12-01T12:55:00Z" {
			t.Fatalf("EPSS import: %d %+v", code, doc)
		}
		if code := e.postFile("/api/v1/exploitation/epss", e.tokens.Engineer, "text/csv", epss, &again); code != http.StatusOK || again.Outcome != "unchanged" {
			t.Errorf("the same scores, not gzipped: %d %+v", code, again)
		}
		p = problemDoc{}
		if code := e.postFile("/api/v1/exploitation/epss", e.tokens.Engineer, "text/csv", bytes.Replace(epss, []byte("0.84356"), []byte("84%"), 1), &p); code != http.StatusUnprocessableEntity || !fieldNamed(p, "line 4") {
			t.Errorf("a bad score: %d %v", code, p.Errors)
		}
		p = problemDoc{}
		if code := e.call("POST", "/api/v1/exploitation/epss/fetch", e.tokens.Engineer, map[string]string{"url": "http://epss.example/epss.csv"}, &p); code != http.StatusUnprocessableEntity || !fieldNamed(p, "url") {
			t.Errorf("fetch over plain http: %d %v", code, p)
		}

		var cur struct {
			Imports []struct {
				Source, Version string
				Entries         int
				ReleasedAt      string `json:"released_at"`
			} `json:"imports"`
		}
		if code := e.call("GET", "/api/v1/exploitation", e.tokens.Auditor, nil, &cur); code != http.StatusOK || len(cur.Imports) != 2 ||
			cur.Imports[0].Source != "kev" || cur.Imports[0].ReleasedAt != "2026-12-01T14:59:01.4402Z" || cur.Imports[1].Entries != 11 {
			t.Errorf("current imports: %d %+v", code, cur)
		}
	})

	t.Run("conduits", func(t *testing.T) {
		var p problemDoc
		bad := map[string]any{"conduits": []any{
			map[string]any{"kind": "cloud"},
			map[string]any{"kind": "zone", "zone_id": "zone_safety"},
			map[string]any{"kind": "zone", "zone_id": "zone_nope"},
			map[string]any{"kind": "enterprise", "zone_id": "zone_dmz"},
		}}
		if code := e.call("PUT", "/api/v1/zones/zone_safety/conduits", e.tokens.Engineer, bad, &p); code != http.StatusUnprocessableEntity ||
			!fieldNamed(p, "conduits[1].zone_id") || !fieldNamed(p, "conduits[2].zone_id") || !fieldNamed(p, "conduits[3].zone_id") {
			t.Errorf("bad conduits: %d %v", code, p.Errors)
		}
		var doc struct {
			Exposed  bool `json:"exposed"`
			Conduits []struct {
				Kind   string `json:"kind"`
				ZoneID string `json:"zone_id"`
			} `json:"conduits"`
		}
		set := map[string]any{"conduits": []any{map[string]any{"kind": "zone", "zone_id": "zone_dmz", "description": "firewall SIS-FW1"}}}
		if code := e.call("PUT", "/api/v1/zones/zone_safety/conduits", e.tokens.Engineer, set, &doc); code != http.StatusOK || !doc.Exposed || len(doc.Conduits) != 1 {
			t.Fatalf("set conduits: %d %+v", code, doc)
		}
		if code := e.call("GET", "/api/v1/zones/zone_process/conduits", e.tokens.Safety, nil, &doc); code != http.StatusOK || doc.Exposed || len(doc.Conduits) != 0 {
			t.Errorf("an isolated zone: %d %+v", code, doc)
		}
		var zone struct {
			ID       string `json:"id"`
			SLT      int    `json:"sl_t"`
			Exposed  bool   `json:"exposed"`
			Conduits []struct {
				Kind        string `json:"kind"`
				ZoneID      string `json:"zone_id"`
				Description string `json:"description"`
			} `json:"conduits"`
		}
		if code := e.call("GET", "/api/v1/zones/zone_safety", e.tokens.Auditor, nil, &zone); code != http.StatusOK || !zone.Exposed || zone.SLT != 4 ||
			len(zone.Conduits) != 1 || zone.Conduits[0].ZoneID != "zone_dmz" || zone.Conduits[0].Description != "firewall SIS-FW1" {
			t.Errorf("the zone shows its conduits: %d %+v", code, zone)
		}
		if n := e.auditCount("zone.conduits_set"); n != 1 {
			t.Errorf("%d zone.conduits_set events, want 1", n)
		}
	})

	t.Run("priorities", func(t *testing.T) {
		advs := []string{"icsa-22-207-02.json", "icsa-21-054-02.json"}
		for _, name := range advs {
			raw, err := os.ReadFile(filepath.Join(sharedCSAF, name))
			if err != nil {
				t.Skipf("no CSAF advisory %s (the shared test data lives beside the repository); skipping", name)
			}
			if code := e.postAdvisory(e.tokens.Engineer, raw, nil); code != http.StatusCreated {
				t.Fatalf("ingest %s: %d", name, code)
			}
		}
		// A small plant: a Honeywell Safety Manager with a safety role in the safety zone, whose
		// conduit reaches the less trusted DMZ; an Advantech switch in the process zone, which
		// has no conduit.
		seed := store.Event{Actor: "test", Role: "system", Action: "seed"}
		for _, v := range []store.Vendor{{ID: "vnd_honeywell", Name: "honeywell", DisplayName: "Honeywell"}, {ID: "vnd_advantech", Name: "advantech", DisplayName: "Advantech"}} {
			if err := e.store.CreateVendor(ctx, &v, seed); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []store.Product{{ID: "prd_hw_sm", VendorID: "vnd_honeywell", Name: "Safety Manager", Kind: "plc"},
			{ID: "prd_adv_sw", VendorID: "vnd_advantech", Name: "BB-ESWGP506-2SFP-T", Kind: "network_device"}} {
			if err := e.store.CreateProduct(ctx, &p, seed); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range []store.Asset{
			{ID: "ast_sis-sm-01", ZoneID: "zone_safety", ProductID: "prd_hw_sm", Name: "sis-sm-01", InstalledVersion: "R151.1", Criticality: 5, SafetyCritical: true, Adapter: "simulator"},
			{ID: "ast_proc-sw-09", ZoneID: "zone_process", ProductID: "prd_adv_sw", Name: "proc-sw-09", InstalledVersion: "1.01.09", Criticality: 2, Adapter: "simulator"},
		} {
			if err := e.store.CreateAsset(ctx, &a, seed); err != nil {
				t.Fatal(err)
			}
		}

		var rows []priorityDoc
		if code := e.list("/api/v1/priorities?limit=2", e.tokens.Approver, &rows); code != http.StatusOK {
			t.Fatalf("priorities: %d", code)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Decision+" "+r.CVE+"@"+r.AssetID)
		}
		// The KEV CVE with known ransomware use on the safety asset in the exposed zone is
		// first; the CVSS 9.8 CVE with a low EPSS on the switch in the isolated zone last.
		want := []string{
			"act CVE-2022-30315@ast_sis-sm-01",    // KEV, ransomware, EPSS 0.91, exposed, safety
			"track* CVE-2022-30313@ast_sis-sm-01", // CVSS 7.3 on an exposed zone
			"track CVE-2022-30316@ast_sis-sm-01",  // 45 points, EPSS 0.00099
			"track CVE-2022-30314@ast_sis-sm-01",  // 45 points, EPSS 0.00075
			"track CVE-2021-22667@ast_proc-sw-09", // CVSS 9.8 but EPSS 0.00211, isolated, criticality 2
		}
		if !slices.Equal(got, want) {
			t.Fatalf("order\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for i, r := range rows {
			if r.Rank != i+1 {
				t.Errorf("%s: rank %d, want %d", r.CVE, r.Rank, i+1)
			}
			sum := 0
			for _, f := range r.Factors {
				sum += f.Points
			}
			if sum != r.Points {
				t.Errorf("%s: factors add up to %d, points %d", r.CVE, sum, r.Points)
			}
		}
		first, last := rows[0], rows[len(rows)-1]
		for _, f := range []string{"in KEV since 2026-02-01, federal due date 2026-02-22", "ransomware use known", "EPSS 0.91212 (97th percentile)", "CVSS 7.5",
			"zone Safety Systems (SL-T 4) has a conduit to zone Terminal DMZ (SL-T 2)", "zone SL-T 4", "asset criticality 5 of 5", "safety role"} {
			if !slices.Contains(first.texts(), f) {
				t.Errorf("first row: no factor %q in %q", f, first.texts())
			}
		}
		if first.KEV == nil || !first.KEV.Ransomware || first.AdvisoryID == "" {
			t.Errorf("first row: KEV %+v, advisory %q", first.KEV, first.AdvisoryID)
		}
		for _, f := range []string{"EPSS 0.00211 (59th percentile)", "CVSS 9.8", "zone Process Control (SL-T 3) has no conduit to a less trusted zone or network", "no vendor fix: mitigate"} {
			if !slices.Contains(last.texts(), f) {
				t.Errorf("last row: no factor %q in %q", f, last.texts())
			}
		}
		if last.Points >= first.Points || last.KEV != nil {
			t.Errorf("last row %d points, first %d; KEV %+v", last.Points, first.Points, last.KEV)
		}

		var some []priorityDoc
		if e.list("/api/v1/priorities?decision=act", e.tokens.Auditor, &some); len(some) != 1 || some[0].CVE != "CVE-2022-30315" {
			t.Errorf("?decision=act: %+v", some)
		}
		some = nil
		if e.list("/api/v1/priorities?zone_id=zone_process", e.tokens.Auditor, &some); len(some) != 1 || some[0].Rank != 1 || some[0].AssetID != "ast_proc-sw-09" {
			t.Errorf("?zone_id=zone_process: %+v", some)
		}
		some = nil
		if e.list("/api/v1/priorities?cve=CVE-2022-30314&asset_id=ast_sis-sm-01", e.tokens.Auditor, &some); len(some) != 1 {
			t.Errorf("?cve&asset_id: %+v", some)
		}
		var p problemDoc
		if code := e.call("GET", "/api/v1/priorities?cve=log4shell&decision=panic", e.tokens.Auditor, nil, &p); code != http.StatusUnprocessableEntity || !fieldNamed(p, "cve") || !fieldNamed(p, "decision") {
			t.Errorf("bad filters: %d %v", code, p.Errors)
		}

		// Without the conduit the safety zone is no longer exposed: the CVSS 7.3 row stays
		// track* (a safety role is high impact) with the 6 exposure points fewer.
		before := rows[1]
		if code := e.call("PUT", "/api/v1/zones/zone_safety/conduits", e.tokens.Engineer, map[string]any{"conduits": []any{}}, nil); code != http.StatusOK {
			t.Fatalf("clear conduits: %d", code)
		}
		some = nil
		e.list("/api/v1/priorities?cve=CVE-2022-30313", e.tokens.Auditor, &some)
		if len(some) != 1 || some[0].Decision != "track*" || some[0].Points != before.Points-6 || !slices.Contains(some[0].texts(), "zone Safety Systems (SL-T 4) has no conduit to a less trusted zone or network") {
			t.Errorf("after clearing the conduits: %+v", some)
		}
	})

	t.Run("the plant's decisions", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(sharedCSAF, "icsa-22-207-02.json")); err != nil {
			t.Skip("no CSAF advisory icsa-22-207-02.json (the shared test data lives beside the repository); skipping")
		}
		var all []priorityDoc
		e.list("/api/v1/priorities", e.tokens.Auditor, &all)
		if len(all) == 0 {
			t.Fatal("no priorities")
		}
		for _, r := range all {
			if r.Plant != nil {
				t.Fatalf("a row with a decision before any was recorded: %+v", r)
			}
		}
		var safety, sw []priorityDoc
		for _, r := range all {
			if r.AssetID == "ast_sis-sm-01" {
				safety = append(safety, r)
			} else if r.AssetID == "ast_proc-sw-09" {
				sw = append(sw, r)
			}
		}
		// A compensating control on the safety manager shows on its rows; the rank stays, the
		// control being reviewed, not a fix.
		var d struct {
			ID string `json:"id"`
		}
		if code := e.call("POST", "/api/v1/advisories/"+safety[0].AdvisoryID+"/decisions", e.tokens.Engineer, map[string]any{"kind": "mitigate", "asset_ids": []string{"ast_sis-sm-01"},
			"control_kind": "network_isolation", "description": "remote access conduit closed", "owner": "ot-network", "evidence": "CHG-77", "review_date": e.store.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)}, &d); code != http.StatusCreated {
			t.Fatalf("mitigate: %d", code)
		}
		var now []priorityDoc
		e.list("/api/v1/priorities?asset_id=ast_sis-sm-01", e.tokens.Auditor, &now)
		if len(now) != len(safety) {
			t.Fatalf("%d rows for the safety manager after the mitigation, %d before", len(now), len(safety))
		}
		for i, r := range now {
			if r.Plant == nil || r.Plant.ID != d.ID || r.Plant.Kind != "mitigate" || r.Plant.State != "active" || r.Decision != safety[i].Decision || r.Points != safety[i].Points {
				t.Errorf("row %d after the mitigation: %+v (before %+v)", i, r, safety[i])
			}
		}
		// The switch stated not affected, with a VEX justification, leaves the list.
		if code := e.call("POST", "/api/v1/advisories/"+sw[0].AdvisoryID+"/decisions", e.tokens.Engineer, map[string]any{"kind": "not_affected", "asset_ids": []string{"ast_proc-sw-09"},
			"vex_justification": "vulnerable_code_not_in_execute_path", "impact_statement": "the web management is disabled at build time"}, nil); code != http.StatusCreated {
			t.Fatalf("not affected: %d", code)
		}
		now = nil
		e.list("/api/v1/priorities?asset_id=ast_proc-sw-09", e.tokens.Auditor, &now)
		if len(now) != 0 {
			t.Errorf("the switch stated not affected still has rows: %+v", now)
		}
		now = nil
		e.list("/api/v1/priorities", e.tokens.Auditor, &now)
		if len(now) != len(all)-len(sw) {
			t.Errorf("%d rows after the not-affected statement, want %d", len(now), len(all)-len(sw))
		}
	})
}
