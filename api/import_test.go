package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	allowed["POST /api/v1/assets/import"] = []string{"engineer", "admin"}
}

const importCSVHeader = "name,zone_id,product_id,installed_version,criticality,safety_critical,redundancy_group,adapter\n"

// importCSV posts a CSV body to the import and decodes the answer.
func (e *env) importCSV(token, contentType, body string, out any) int {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.url+"/api/v1/assets/import", strings.NewReader(body))
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
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("import: decode %q: %v", raw, err)
		}
	}
	return res.StatusCode
}

func (e *env) assetCount() int {
	e.t.Helper()
	as, err := e.store.Assets(context.Background(), store.AssetFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(as)
}

func (e *env) events(action string) int {
	e.t.Helper()
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(evs)
}

// TestAssetImport: an engineer's CSV file is imported all or nothing. A good file creates every
// asset (with its simulated device) and one audit event listing them; a file with several bad
// rows is refused with 422 naming each failing row and field, stores nothing and records one
// refusal; an oversized file, too many rows and a wrong content type are refused too.
func TestAssetImport(t *testing.T) {
	e := newEnv(t, envOptions{})
	before := e.assetCount()

	t.Run("a valid file creates every asset in one audited write", func(t *testing.T) {
		csv := importCSVHeader +
			"imp-plc-01,zone_packaging,prd_acme_plc,V2.9.3,4,false,line-a,simulator\n" +
			"imp-plc-02,zone_packaging,prd_acme_plc,V2.9.3,4,no,line-a,simulator\n" +
			"\"imp-sis-01\",zone_safety,prd_acme_plc,V2.9.3,5,true,,simulator\n"
		var res struct {
			Imported int `json:"imported"`
			Assets   []struct {
				ID, Name       string
				SafetyCritical bool `json:"safety_critical"`
			} `json:"assets"`
		}
		if code := e.importCSV(e.tokens.Engineer, "text/csv; charset=utf-8", csv, &res); code != http.StatusCreated {
			t.Fatalf("import: %d %+v", code, res)
		}
		if res.Imported != 3 || len(res.Assets) != 3 || !res.Assets[2].SafetyCritical || res.Assets[1].SafetyCritical {
			t.Fatalf("import answered %+v", res)
		}
		if n := e.assetCount(); n != before+3 {
			t.Errorf("inventory has %d assets, want %d", n, before+3)
		}
		for _, a := range res.Assets {
			var got struct {
				Name   string
				Device *struct{ Version string }
			}
			if code := e.call("GET", "/api/v1/assets/"+a.ID, e.tokens.Engineer, nil, &got); code != http.StatusOK || got.Name != a.Name {
				t.Errorf("GET %s: %d %+v", a.ID, code, got)
			}
			if got.Device == nil || got.Device.Version != "V2.9.3" {
				t.Errorf("%s has no simulated device at V2.9.3: %+v", a.Name, got.Device)
			}
		}
		evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{Action: "asset.imported"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Fatalf("%d asset.imported events, want 1", len(evs))
		}
		for _, a := range res.Assets {
			if !strings.Contains(evs[0].Details, a.ID) {
				t.Errorf("the import event does not name %s: %s", a.ID, evs[0].Details)
			}
		}
	})

	t.Run("bad rows refuse the whole file, each named", func(t *testing.T) {
		count, refusals := e.assetCount(), e.events("asset.import_refused")
		csv := importCSVHeader +
			"imp-ok-01,zone_packaging,prd_acme_plc,V2.9.3,3,false,,simulator\n" + // row 2: fine
			"imp-bad-03,zone_nowhere,prd_acme_plc,V2.9.3,3,false,,simulator\n" + // row 3: zone
			"imp-bad-04,zone_packaging,prd_acme_plc,V2.9.3,9,maybe,,simulator\n" + // row 4: criticality, safety_critical
			"imp-plc-01,zone_packaging,prd_acme_plc,V2.9.3,3,false,,simulator\n" + // row 5: already in the inventory
			"imp-ok-01,zone_packaging,prd_nothing,,3,false,,modbus\n" + // row 6: name twice in the file, product, version, adapter
			"imp-short,zone_packaging\n" // row 7: columns
		var p problemDoc
		if code := e.importCSV(e.tokens.Engineer, "text/csv", csv, &p); code != http.StatusUnprocessableEntity {
			t.Fatalf("import of bad rows: %d %+v", code, p)
		}
		var fields []string
		for _, f := range p.Errors {
			fields = append(fields, f.Field)
		}
		want := []string{"row 3: zone_id", "row 4: criticality", "row 4: safety_critical", "row 5: name", "row 6: name", "row 6: product_id",
			"row 6: installed_version", "row 6: adapter", "row 7: columns"}
		if !slices.Equal(fields, want) {
			t.Errorf("errors name %q, want %q", fields, want)
		}
		if !strings.Contains(p.Detail, "5 of 6 rows") || !strings.Contains(p.Detail, "nothing was imported") {
			t.Errorf("detail: %q", p.Detail)
		}
		if n := e.assetCount(); n != count {
			t.Errorf("a refused import changed the inventory from %d to %d assets", count, n)
		}
		if n := e.events("asset.import_refused"); n != refusals+1 {
			t.Errorf("%d refusal events recorded, want 1", n-refusals)
		}
	})

	t.Run("oversized, too many rows, wrong header or content type", func(t *testing.T) {
		count := e.assetCount()
		big := importCSVHeader + strings.Repeat("x", 1<<20)
		var rows strings.Builder
		rows.WriteString(importCSVHeader)
		for i := range 5001 {
			fmt.Fprintf(&rows, "many-%d,zone_packaging,prd_acme_plc,V2.9.3,3,false,,simulator\n", i)
		}
		for _, c := range []struct {
			what, ctype, body string
			status            int
		}{
			{"a file over 1 MiB", "text/csv", big, http.StatusRequestEntityTooLarge},
			{"5001 rows", "text/csv", rows.String(), http.StatusRequestEntityTooLarge},
			{"JSON", "application/json", `{"name":"x"}`, http.StatusUnsupportedMediaType},
			{"another header", "text/csv", "name,zone\nx,zone_packaging\n", http.StatusUnprocessableEntity},
			{"a header alone", "text/csv", importCSVHeader, http.StatusUnprocessableEntity},
		} {
			var p problemDoc
			if code := e.importCSV(e.tokens.Engineer, c.ctype, c.body, &p); code != c.status {
				t.Errorf("%s: %d %+v, want %d", c.what, code, p, c.status)
			}
		}
		if n := e.assetCount(); n != count {
			t.Errorf("refused imports changed the inventory from %d to %d assets", count, n)
		}
	})

	t.Run("an admin may import, an approver may not", func(t *testing.T) {
		ok := importCSVHeader + "imp-admin-01,zone_dmz,prd_nw_historian,4.7 SP1,2,false,,simulator\n"
		if code := e.importCSV(e.tokens.Approver, "text/csv", ok, nil); code != http.StatusForbidden {
			t.Errorf("approver: %d, want 403", code)
		}
		if code := e.importCSV(e.tokens.Admin, "text/csv", ok, nil); code != http.StatusCreated {
			t.Errorf("admin: %d, want 201", code)
		}
	})
}
