package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// otherParam is a path parameter the vendor walk has no value for.
var otherParam = regexp.MustCompile(`\{\w+\}`)

// TestVendorSeesNoInventory walks every route the authorization table opens to vendors, with
// the vendor's token, after its patch was qualified and a campaign holds assets it applies
// to: no answer names an asset, zone or site or carries an inventory field (OWASP
// API3:2023). The vendor still learns how many assets run each of its product versions, and
// staff still read the full qualification report.
func TestVendorSeesNoInventory(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1000))
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "Packaging HMIs", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}

	// What a vendor must never read: the inventory's fields, and every asset, zone and site
	// by id and by name.
	forbidden := []string{`"asset_id"`, `"zone_id"`, `"zone_name"`, `"zones"`, `"sl_t"`, `"max_sl_t"`, `"safety_critical`, `"installed_version"`,
		`"criticality"`, `"max_criticality"`, `"applicable_assets"`, `"applicability_now"`, `"qualification_report"`, `"ast_`, `"zone_`}
	for _, list := range []string{"/api/v1/assets", "/api/v1/zones", "/api/v1/sites"} {
		var items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		if code := e.list(list, e.tokens.Engineer, &items); code != http.StatusOK || len(items) == 0 {
			t.Fatalf("GET %s: %d, %d items", list, code, len(items))
		}
		for _, it := range items {
			forbidden = append(forbidden, it.ID, it.Name)
		}
	}

	// The submissions the walk makes: one streamed, one through presigned URLs.
	streamed := e.signed(newTestPatch(t, "V16.0.3", 1000), "acme")
	presigned := newTestPatch(t, "V16.0.4", 1000)
	var upload uploadDoc
	send := func(method, path string, body any) (int, []byte) {
		var raw json.RawMessage
		return e.call(method, path, e.tokens.Vendor, body, &raw), raw
	}
	special := map[string]func() (int, []byte){
		"POST /api/v1/patches": func() (int, []byte) {
			var raw json.RawMessage
			return e.submit(e.tokens.Vendor, streamed, &raw), raw
		},
		"POST /api/v1/patches/uploads": func() (int, []byte) {
			s := e.signed(presigned, "acme")
			code, raw := send("POST", "/api/v1/patches/uploads", map[string]string{"manifest": string(s.manifest), "signature": s.signature})
			if err := json.Unmarshal(raw, &upload); err != nil || len(upload.Artifacts) != 1 {
				t.Fatalf("start upload: %d %s", code, raw)
			}
			if code := putURL(t, upload.Artifacts[0].URL, presigned.artifact); code != http.StatusOK {
				t.Fatalf("PUT to the presigned URL: %d", code)
			}
			return code, raw
		},
	}

	var routes []string
	for route, roles := range allowed {
		if slices.Contains(roles, "vendor") {
			routes = append(routes, route)
		}
	}
	sort.Strings(routes) // an upload starts before it completes
	for _, route := range routes {
		t.Run(route, func(t *testing.T) {
			method, path, _ := strings.Cut(route, " ")
			path = strings.NewReplacer("{patchID}", p.ID, "{uploadID}", upload.UploadID, "{vendorID}", "vnd_acme").Replace(path)
			path = otherParam.ReplaceAllString(path, "unknown") // a route this test does not know yet still answers
			var code int
			var raw []byte
			if call, ok := special[route]; ok {
				code, raw = call()
			} else {
				code, raw = send(method, path, nil)
			}
			if code >= 500 || code == http.StatusForbidden {
				t.Fatalf("%s: %d %s", path, code, raw)
			}
			var found []string
			for _, f := range forbidden {
				if bytes.Contains(raw, []byte(f)) {
					found = append(found, f)
				}
			}
			if len(found) > 0 {
				t.Errorf("the vendor's answer (%d) contains the inventory's %q: %s", code, found, raw)
			}
		})
	}

	t.Run("counts by product version", func(t *testing.T) {
		var staff struct {
			Report struct {
				Applicable []struct {
					Version       string `json:"installed_version"`
					Compatibility string `json:"compatibility"`
				} `json:"applicable"`
			} `json:"qualification_report"`
			Now []json.RawMessage `json:"applicability_now"`
		}
		e.call("GET", "/api/v1/patches/"+p.ID, e.tokens.Engineer, nil, &staff)
		if len(p.Applicable) == 0 || len(staff.Report.Applicable) != len(p.Applicable) || len(staff.Now) == 0 {
			t.Fatalf("staff no longer read the full report: %d applicable, report %+v, %d rows now", len(p.Applicable), staff.Report, len(staff.Now))
		}
		want := map[string]int{}
		for _, a := range staff.Report.Applicable {
			want[a.Version+" "+a.Compatibility]++
		}
		var vendor struct {
			ByVersion []struct {
				ProductVersion string `json:"product_version"`
				Assets         int    `json:"assets"`
				Compatibility  string `json:"compatibility"`
			} `json:"applicable_by_version"`
			Risk struct {
				MaxCVSS float64  `json:"max_cvss"`
				CVEs    []string `json:"cves"`
			} `json:"risk"`
		}
		e.call("GET", "/api/v1/patches/"+p.ID, e.tokens.Vendor, nil, &vendor)
		got := map[string]int{}
		for _, v := range vendor.ByVersion {
			got[v.ProductVersion+" "+v.Compatibility] += v.Assets
		}
		if len(got) != len(want) || got["V16.0.1 qualified"] == 0 {
			t.Errorf("applicable_by_version = %+v, want the counts %v", vendor.ByVersion, want)
		}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s: %d assets, want %d", k, got[k], n)
			}
		}
		if vendor.Risk.MaxCVSS != 8.8 || !slices.Equal(vendor.Risk.CVEs, []string{"CVE-2026-31337"}) {
			t.Errorf("risk = %+v, want the patch's CVE and CVSS", vendor.Risk)
		}
	})
}

// A vendor reads its own signing keys — fingerprints, validity, revocations — and nothing of
// another vendor's: those answer 404, as an unknown vendor does.
func TestVendorReadsItsOwnKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	var own []struct {
		ID          string `json:"id"`
		VendorID    string `json:"vendor_id"`
		Fingerprint string `json:"fingerprint"`
	}
	if code := e.list("/api/v1/vendors/vnd_acme/keys", e.tokens.Vendor, &own); code != http.StatusOK || len(own) == 0 {
		t.Fatalf("the vendor's own keys: %d, %d keys", code, len(own))
	}
	for _, k := range own {
		if k.VendorID != "vnd_acme" {
			t.Errorf("the vendor's key list holds key %s of %s", k.ID, k.VendorID)
		}
	}
	if code := e.call("GET", "/api/v1/vendors/vnd_acme/keys/"+own[0].ID, e.tokens.Vendor, nil, nil); code != http.StatusOK {
		t.Errorf("one of its own keys: %d", code)
	}
	var others []struct {
		ID string `json:"id"`
	}
	if code := e.list("/api/v1/vendors/vnd_northwind/keys", e.tokens.Engineer, &others); code != http.StatusOK || len(others) == 0 {
		t.Fatalf("staff read northwind's keys: %d, %d keys", code, len(others))
	}
	var p problemDoc
	for _, path := range []string{"/api/v1/vendors/vnd_northwind/keys", "/api/v1/vendors/vnd_northwind/keys/" + others[0].ID} {
		if code := e.call("GET", path, e.tokens.Vendor, nil, &p); code != http.StatusNotFound {
			t.Errorf("acme's vendor reads %s: %d %q, want 404", path, code, p.Detail)
		}
	}
}
