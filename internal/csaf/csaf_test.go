package csaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sharedDir holds the real CISA advisories: /work/shared beside the repository.
const sharedDir = "../../../shared/testdata/csaf"

func sharedAdvisories(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(sharedDir, "*.json"))
	if len(files) == 0 {
		t.Skipf("no CSAF advisories in %s (the shared test data lives beside the repository, in ../shared/testdata/csaf); skipping", sharedDir)
	}
	return files
}

func parseFile(t testing.TB, path string) *Advisory {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return a
}

// Every real advisory parses, names its tracking id after its file, defines products and
// vulnerabilities, and every range it converted is one domain.ParseVersionRange accepts.
func TestParseRealAdvisories(t *testing.T) {
	files := sharedAdvisories(t)
	var products, unconverted, vulns, fixes int
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			a := parseFile(t, path)
			if want := strings.ToUpper(strings.TrimSuffix(filepath.Base(path), ".json")); a.TrackingID != want {
				t.Errorf("tracking id %q, want %q", a.TrackingID, want)
			}
			if a.Title == "" || a.Publisher != "CISA" || a.CurrentRelease.IsZero() || a.InitialRelease.After(a.CurrentRelease) {
				t.Errorf("document: title %q publisher %q released %v / %v", a.Title, a.Publisher, a.InitialRelease, a.CurrentRelease)
			}
			if len(a.Products) == 0 || len(a.Vulnerabilities) == 0 || len(a.CVEs()) == 0 {
				t.Errorf("%d products, %d vulnerabilities, CVEs %v", len(a.Products), len(a.Vulnerabilities), a.CVEs())
			}
			for _, p := range a.Products {
				if p.Vendor == "" || p.ProductName == "" || p.Version == "" {
					t.Errorf("product %s: vendor %q, product %q, version %q", p.ID, p.Vendor, p.ProductName, p.Version)
				}
				if p.Unconverted {
					unconverted++
				}
				for _, r := range p.Ranges {
					if _, err := domain.ParseVersionRange(r); err != nil {
						t.Errorf("product %s: range %q from %q: %v", p.ID, r, p.Version, err)
					}
				}
			}
			for _, v := range a.Vulnerabilities {
				if len(v.Affected) == 0 || v.CVSS <= 0 || v.CVSS > 10 {
					t.Errorf("%s: affected %v, CVSS %v", v.CVE, v.Affected, v.CVSS)
				}
				for _, r := range v.Remediations {
					if r.FixedVersion != "" {
						fixes++
					}
				}
			}
			products += len(a.Products)
			vulns += len(a.Vulnerabilities)
		})
	}
	t.Logf("%d advisories: %d products (%d ranges not converted), %d vulnerabilities, %d vendor fixes with a version",
		len(files), products, unconverted, vulns, fixes)
}

// goldenAdvisories are pinned in testdata/*.golden.json: each shows a different way CISA
// writes versions and remediations.
var goldenAdvisories = []string{
	"icsa-21-131-09", // Siemens: "< V9.0.3", "Update to V9.0.3 or later version"
	"icsa-21-145-02", // Rockwell: vers:all/* and ">= 21"; mitigations only
	"icsa-21-315-08", // Siemens: two products with their own fixes
	"icsa-21-334-05", // Hitachi Energy: "Upgrade to v5.7.3.1" after "v5.7.3 and prior"
	"icsa-21-350-06", // Siemens: "All versions with enabled Ethernet options", none_available
	"icsa-22-174-01", // Yokogawa: ">= R1.01 | <= R4.31 (Only affected by …)"
	"icsa-22-195-09", // Siemens: five products, five fixed versions
	"icsa-22-207-02", // Honeywell: "<R160.1", "R160.1 and later releases"
	"icsa-22-249-02", // AVEVA: "<= 2020  R2 SP1 ", hotfix HF 2020.2.00.40
	"icsa-22-256-01", // Hitachi Energy: "2.0.0 | 2.0.1" alternatives, "version 2.3.0"
	"icsa-23-052-01", // Mitsubishi: ">= 1.00A | <= 1.29F"
	"icsa-24-219-01", // Delta: "<1.4.2", "has released v1.4.2"
	"icsa-24-263-03", // IDEC: "<=Ver.9.1.0", "WindLDR: Ver.9.2.0"
}

// The flattened model of chosen advisories is pinned; `go test ./internal/csaf -update`
// rewrites the files after a deliberate change.
func TestGolden(t *testing.T) {
	sharedAdvisories(t)
	for _, name := range goldenAdvisories {
		t.Run(name, func(t *testing.T) {
			a := parseFile(t, filepath.Join(sharedDir, name+".json"))
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(a); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/csaf -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from the parse; if the change is intended, run go test ./internal/csaf -update\n%s", golden, firstDiff(buf.String(), string(want)))
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, a, b)
		}
	}
	return ""
}

// The version texts of the real advisories (and the forms the CSAF and Siemens documents use)
// convert to ranges in domain syntax; what cannot be read is flagged, never guessed.
func TestConvertVersion(t *testing.T) {
	tests := []struct {
		text      string
		ranges    []string
		condition string
		in, out   []string
	}{
		// From the CISA files in ../shared/testdata/csaf.
		{text: "< 08A06", ranges: []string{"< 08A06"}, in: []string{"08A05", "7.9"}, out: []string{"08A06", "8.7"}},
		{text: "<= 1.01.09", ranges: []string{"<= 1.01.09"}, in: []string{"1.01.09", "1.1.8"}, out: []string{"1.01.10"}},
		{text: "< V9.0.3", ranges: []string{"< V9.0.3"}, in: []string{"V9.0.2"}, out: []string{"V9.0.3", "9.1"}},
		{text: "vers:all/*", ranges: []string{"*"}, in: []string{"anything", "1.0"}},
		{text: ">= 21", ranges: []string{">= 21"}, in: []string{"21", "22.011"}, out: []string{"20"}},
		{text: "< V1973.3700", ranges: []string{"< V1973.3700"}},
		{text: "All versions with enabled Ethernet options", ranges: []string{"*"}, condition: "with enabled Ethernet options"},
		{text: "<= 6.6.8a", ranges: []string{"<= 6.6.8a"}},
		{text: ">= R1.01 | <= R4.31", ranges: []string{">= R1.01, <= R4.31"}, in: []string{"R1.01", "R4.31", "R3.2"}, out: []string{"R1.00", "R4.40"}},
		{text: ">= R1.01 | <= R4.31 (Only affected by CVE-222-30997)", ranges: []string{">= R1.01, <= R4.31"}, condition: "Only affected by CVE-222-30997"},
		{text: "<R160.1", ranges: []string{"< R160.1"}, in: []string{"R151.1"}, out: []string{"R160.1", "R161"}},
		{text: "<= 2020  R2 SP1 ", ranges: []string{"<= 2020 R2 SP1"}, in: []string{"2020 R2", "2020.2.1"}, out: []string{"2020 R2 SP2", "2023"}},
		{text: "2.0.0 | 2.0.1", ranges: []string{"2.0.0", "2.0.1"}, in: []string{"2.0.0", "2.0.1"}, out: []string{"2.0.2", "2.1.0"}},
		{text: "2.1.0 | 2.1.1 | 2.1.2 | 2.1.3", ranges: []string{"2.1.0", "2.1.1", "2.1.2", "2.1.3"}},
		{text: ">= 1.00A | <= 1.29F", ranges: []string{">= 1.00A, <= 1.29F"}},
		{text: "<=16.0.0.23211", ranges: []string{"<= 16.0.0.23211"}},
		{text: "16.00", ranges: []string{"16.00"}, in: []string{"16", "V16.0"}, out: []string{"16.01"}},
		{text: "<1.4.2", ranges: []string{"< 1.4.2"}},
		{text: "<=Ver.9.1.0", ranges: []string{"<= Ver.9.1.0"}, in: []string{"Ver.9.0.5", "9.1"}, out: []string{"Ver.9.2.0"}},
		// vers and Siemens forms.
		{text: "vers:generic/<2.9.4", ranges: []string{"< 2.9.4"}, in: []string{"V2.9.3"}, out: []string{"V2.9.4"}},
		{text: "vers:generic/>=1.0|<2.0|>=3.0", ranges: []string{">= 1.0, < 2.0", ">= 3.0"}, in: []string{"1.5", "3.1"}, out: []string{"2.5", "0.9"}},
		{text: "vers:generic/1.0%7C2.0", ranges: []string{"1.0|2.0"}, condition: ""}, // checked below: refused
		{text: "<V5.4.2", ranges: []string{"< V5.4.2"}},
		{text: "All versions", ranges: []string{"*"}},
		{text: "All versions < V5.4.2", ranges: []string{"< V5.4.2"}},
		{text: "V3.0 < V3.0 Update 2", ranges: []string{">= V3.0, < V3.0 Update 2"}, in: []string{"V3.0", "V3.0 Update 1"}, out: []string{"V3.0 Update 2", "V2.9"}},
		{text: "prior to 4.2", ranges: []string{"< 4.2"}},
		{text: "5.7.3 and prior", ranges: []string{"<= 5.7.3"}},
		{text: "V21 and later", ranges: []string{">= V21"}},
		{text: "R1.01 through R4.31", ranges: []string{">= R1.01, <= R4.31"}},
		{text: ">= 4.0, < 4.7 SP2", ranges: []string{">= 4.0, < 4.7 SP2"}},
		// Not converted: flagged.
		{text: "Firmware versions shipped before the 2019 hardware revision"},
		{text: "2.x"},
		{text: "vers:generic/!=1.0"},
		{text: "see vendor advisory"},
		{text: ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			c := ConvertVersion(tt.text)
			if tt.text == "vers:generic/1.0%7C2.0" {
				// A percent-encoded "|" inside a version is not a version: refused, not split.
				if c.OK {
					t.Errorf("converted %q to %q", tt.text, c.Ranges)
				}
				return
			}
			if !slices.Equal(c.Ranges, tt.ranges) || c.OK != (tt.ranges != nil) || c.Condition != tt.condition {
				t.Fatalf("ConvertVersion(%q) = %q ok=%v condition %q, want %q condition %q", tt.text, c.Ranges, c.OK, c.Condition, tt.ranges, tt.condition)
			}
			var rs []domain.VersionRange
			for _, r := range c.Ranges {
				vr, err := domain.ParseVersionRange(r)
				if err != nil {
					t.Fatalf("range %q: %v", r, err)
				}
				rs = append(rs, vr)
			}
			contains := func(v string) bool {
				return slices.ContainsFunc(rs, func(r domain.VersionRange) bool { return r.Contains(v) })
			}
			for _, v := range tt.in {
				if !contains(v) {
					t.Errorf("%q should cover %q", tt.text, v)
				}
			}
			for _, v := range tt.out {
				if contains(v) {
					t.Errorf("%q should not cover %q", tt.text, v)
				}
			}
		})
	}
}

// The version a vendor_fix names is read from the texts the real advisories use.
func TestFixedVersionOf(t *testing.T) {
	tests := []struct{ details, want string }{
		{"Update to V9.0.3 or later version", "V9.0.3"},
		{"Update to V1988 or later version", "V1988"},
		{"Retail Operations v5.7.3 and prior: Upgrade to v5.7.3.1", "v5.7.3.1"},
		{"(CVE-2022-30314) Safety Manager R160.1 and later releases include a remediation for this item. R160.1 was introduced in October 2014.", "R160.1"},
		{"TXpert Hub CoreTec 4: version 2.3.0", "2.3.0"},
		{"Delta Electronics has released v1.4.2 of DIAScreen and recommends users install this update on all affected systems.", "v1.4.2"},
		{"WindLDR: Ver.9.2.0", "Ver.9.2.0"},
		{"For AVEVA Edge 2020 R2 SP1, users should apply security fix HF 2020.2.00.40 (login required).", "2020.2.00.40"},
		{"Update to V3.0 Update 2 or later version", "V3.0 Update 2"},
		{"Routinely monitor the application process log for unrecognized user sessions originating outside of the Retail Operations application.", ""},
		{"Implement firewalls (by shutting down unused communications ports, limiting communications hosts, limiting access to FINS port (9600)) and isolate them from the IT network.", ""},
		{"(CVE-2022-30313) Users are advised to follow the Safety Manager release documentation.", ""},
	}
	for _, tt := range tests {
		if got := FixedVersionOf(tt.details); got != tt.want {
			t.Errorf("FixedVersionOf(%q) = %q, want %q", tt.details, got, tt.want)
		}
	}
}

// minimal is a small valid CSAF document; tests change it to break it.
func minimal() map[string]any {
	return map[string]any{
		"document": map[string]any{
			"category": "csaf_security_advisory", "csaf_version": "2.0", "title": "Acme ViewPanel",
			"publisher": map[string]any{"name": "Acme PSIRT", "category": "vendor", "namespace": "https://acme.example"},
			"tracking": map[string]any{"id": "ACME-SA-1", "status": "final", "version": "1",
				"initial_release_date": "2026-01-01T00:00:00Z", "current_release_date": "2026-01-02T00:00:00Z"},
		},
		"product_tree": map[string]any{"branches": []any{map[string]any{"category": "vendor", "name": "Acme Automation AG", "branches": []any{
			map[string]any{"category": "product_name", "name": "ViewPanel-HMI", "branches": []any{
				map[string]any{"category": "product_version_range", "name": "vers:generic/<16.0.2", "product": map[string]any{"name": "ViewPanel-HMI < V16.0.2", "product_id": "P1"}},
			}},
		}}}},
		"vulnerabilities": []any{map[string]any{
			"cve": "CVE-2026-31337", "product_status": map[string]any{"known_affected": []any{"P1"}},
			"scores":       []any{map[string]any{"products": []any{"P1"}, "cvss_v3": map[string]any{"baseScore": 8.8, "vectorString": "CVSS:3.1/AV:N"}}},
			"remediations": []any{map[string]any{"category": "vendor_fix", "details": "Update to V16.0.2 or later version", "product_ids": []any{"P1"}, "restart_required": map[string]any{"category": "service"}}},
		}},
	}
}

func encode(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Broken or non-CSAF documents are refused with the field that is wrong.
func TestParseRefuses(t *testing.T) {
	deep := map[string]any{"category": "product_family", "name": "f"}
	for range 40 {
		deep = map[string]any{"category": "product_family", "name": "f", "branches": []any{deep}}
	}
	tests := []struct {
		name  string
		doc   func() []byte
		field string
	}{
		{"not JSON", func() []byte { return []byte("<html>") }, "document"},
		{"a JSON array", func() []byte { return []byte("[1,2]") }, "document"},
		{"no document", func() []byte { return []byte(`{"vulnerabilities": []}`) }, "document"},
		{"CSAF 1.2", func() []byte {
			d := minimal()
			d["document"].(map[string]any)["csaf_version"] = "1.2"
			return encode(t, d)
		}, "document.csaf_version"},
		{"no tracking id", func() []byte {
			d := minimal()
			delete(d["document"].(map[string]any)["tracking"].(map[string]any), "id")
			return encode(t, d)
		}, "document.tracking.id"},
		{"bad date", func() []byte {
			d := minimal()
			d["document"].(map[string]any)["tracking"].(map[string]any)["current_release_date"] = "yesterday"
			return encode(t, d)
		}, "document.tracking.current_release_date"},
		{"undefined product", func() []byte {
			d := minimal()
			d["vulnerabilities"].([]any)[0].(map[string]any)["product_status"] = map[string]any{"known_affected": []any{"P9"}}
			return encode(t, d)
		}, "vulnerabilities[0].product_status.known_affected"},
		{"product defined twice", func() []byte {
			d := minimal()
			d["product_tree"].(map[string]any)["full_product_names"] = []any{map[string]any{"name": "x", "product_id": "P1"}}
			return encode(t, d)
		}, "product_tree.full_product_names[0].product_id"},
		{"wrong type", func() []byte {
			d := minimal()
			d["vulnerabilities"] = "none"
			return encode(t, d)
		}, "vulnerabilities"},
		{"unknown remediation category", func() []byte {
			d := minimal()
			d["vulnerabilities"].([]any)[0].(map[string]any)["remediations"].([]any)[0].(map[string]any)["category"] = "reboot"
			return encode(t, d)
		}, "vulnerabilities[0].remediations[0].category"},
		{"CSAF without a publisher category", func() []byte {
			d := minimal()
			delete(d["document"].(map[string]any)["publisher"].(map[string]any), "category")
			return encode(t, d)
		}, "document.publisher.category"},
		{"product without a name", func() []byte {
			d := minimal()
			d["product_tree"].(map[string]any)["full_product_names"] = []any{map[string]any{"product_id": "P7"}}
			return encode(t, d)
		}, "product_tree.full_product_names[0].name"},
		{"CVSS v3 score without vector", func() []byte {
			d := minimal()
			d["vulnerabilities"].([]any)[0].(map[string]any)["scores"] = []any{map[string]any{"products": []any{"P1"}, "cvss_v3": map[string]any{"baseScore": 8.8}}}
			return encode(t, d)
		}, "vulnerabilities[0].scores[0].cvss_v3.version"},
		{"malformed CVE", func() []byte {
			d := minimal()
			d["vulnerabilities"].([]any)[0].(map[string]any)["cve"] = "CVE-26-1"
			return encode(t, d)
		}, "vulnerabilities[0].cve"},
		{"unknown flag label", func() []byte {
			d := minimal()
			d["vulnerabilities"].([]any)[0].(map[string]any)["flags"] = []any{map[string]any{"label": "not_my_problem", "product_ids": []any{"P1"}}}
			return encode(t, d)
		}, "vulnerabilities[0].flags[0].label"},
		{"a null vulnerability", func() []byte {
			d := minimal()
			d["vulnerabilities"] = []any{d["vulnerabilities"].([]any)[0], nil}
			return encode(t, d)
		}, "vulnerabilities[1]"},
		{"a null note", func() []byte {
			d := minimal()
			d["document"].(map[string]any)["notes"] = []any{nil}
			return encode(t, d)
		}, "document.notes[0]"},
		{"branches 40 deep", func() []byte {
			d := minimal()
			d["product_tree"] = map[string]any{"branches": []any{deep}}
			return encode(t, d)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBytes(tt.doc())
			var v *domain.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("err = %v, want a *domain.ValidationError", err)
			}
			if tt.field != "" && !slices.ContainsFunc(v.Fields, func(f domain.FieldError) bool { return f.Field == tt.field }) {
				t.Errorf("problems %v do not name %s", v.Fields, tt.field)
			}
			for _, f := range v.Fields {
				// The reader's terms: no Go types, no regular expressions.
				if strings.Contains(f.Message, "csaf.") || strings.Contains(f.Message, "struct") || strings.Contains(f.Message, "^") {
					t.Errorf("problem %s: %q is not in the reader's terms", f.Field, f.Message)
				}
			}
		})
	}
	t.Run("larger than the limit", func(t *testing.T) {
		_, err := Parse(io.MultiReader(strings.NewReader(`{"document": "`), &repeat{b: 'a', n: MaxDocumentBytes}))
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("err = %v", err)
		}
	})
}

// repeat yields n copies of b without holding them in memory.
type repeat struct {
	b byte
	n int
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range n {
		p[i] = r.b
	}
	r.n -= n
	return n, nil
}

func TestParseMinimal(t *testing.T) {
	a, err := ParseBytes(encode(t, minimal()))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := a.Product("P1")
	if !ok || p.Vendor != "Acme Automation AG" || p.ProductName != "ViewPanel-HMI" || !slices.Equal(p.Ranges, []string{"< 16.0.2"}) {
		t.Fatalf("product: %+v", p)
	}
	r := a.Vulnerabilities[0].Remediations[0]
	if r.FixedVersion != "V16.0.2" || r.RestartRequired != "service" || a.MaxCVSS() != 8.8 {
		t.Fatalf("remediation %+v, CVSS %v", r, a.MaxCVSS())
	}
}

// What the CSAF 2.0 schema has and gocsaf's model types otherwise is read all the same:
// product groups and group references, and a CVSS v4 score beside the v3 one. A document
// without revision history or CVSS v3 severity (minimal has neither) is read as before.
func TestParseModelGaps(t *testing.T) {
	d := minimal()
	d["product_tree"].(map[string]any)["product_groups"] = []any{map[string]any{"group_id": "G1", "product_ids": []any{"P1"}}}
	vu := d["vulnerabilities"].([]any)[0].(map[string]any)
	vu["scores"] = append(vu["scores"].([]any), map[string]any{"products": []any{"P1"}, "cvss_v4": map[string]any{"baseScore": 9.3, "vectorString": "CVSS:4.0/AV:N"}})
	vu["remediations"] = append(vu["remediations"].([]any), map[string]any{"category": "mitigation", "details": "Close port 502", "group_ids": []any{"G1"}})
	a, err := ParseBytes(encode(t, d))
	if err != nil {
		t.Fatal(err)
	}
	v := a.Vulnerabilities[0]
	if v.CVSS != 9.3 || v.CVSSVector != "CVSS:4.0/AV:N" || len(v.Remediations) != 2 || !slices.Equal(v.Remediations[1].ProductIDs, []string{"P1"}) {
		t.Fatalf("vulnerability: %+v", v)
	}
	vu["remediations"].([]any)[1].(map[string]any)["group_ids"] = []any{"G9"}
	_, err = ParseBytes(encode(t, d))
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || !slices.ContainsFunc(ve.Fields, func(f domain.FieldError) bool { return f.Field == "vulnerabilities[0].remediations[1].group_ids" }) {
		t.Fatalf("undefined group: %v", err)
	}
}

// Inventory products are matched on vendor and product words; assets on the version range;
// each hit carries the remedy that applies.
func TestMatch(t *testing.T) {
	sharedAdvisories(t)
	mendix := parseFile(t, filepath.Join(sharedDir, "icsa-21-131-09.json"))
	vstar := parseFile(t, filepath.Join(sharedDir, "icsa-21-350-06.json"))
	stardom := parseFile(t, filepath.Join(sharedDir, "icsa-22-174-01.json"))
	products := []Product{
		{ProductID: "p-mendix", VendorName: "siemens", VendorAliases: []string{"Siemens AG"}, ProductName: "Mendix Excel Importer"},
		{ProductID: "p-vstar", VendorName: "Siemens AG", ProductName: "Capital VSTAR"},
		{ProductID: "p-stardom", VendorName: "Yokogawa Electric Corporation", ProductName: "STARDOM FCN/FCJ"},
		{ProductID: "p-other", VendorName: "Acme", ProductName: "Mendix Excel Importer Module"},
	}
	assets := []Asset{
		{ID: "a-old", ProductID: "p-mendix", InstalledVersion: "V9.0.2"},
		{ID: "a-fixed", ProductID: "p-mendix", InstalledVersion: "V9.0.3"},
		{ID: "a-acme", ProductID: "p-other", InstalledVersion: "V1.0"},
		{ID: "a-vstar", ProductID: "p-vstar", InstalledVersion: "whatever"},
		{ID: "a-fcn-old", ProductID: "p-stardom", InstalledVersion: "R4.20"},
		{ID: "a-fcn-new", ProductID: "p-stardom", InstalledVersion: "R4.50"},
	}
	hits := func(adv *Advisory) map[string]AffectedAsset {
		out := map[string]AffectedAsset{}
		for _, h := range Match(adv, products, assets) {
			out[h.AssetID] = h
		}
		return out
	}
	m := hits(mendix)
	if len(m) != 1 || m["a-old"].Remedy.Kind != RemedyUpdate || m["a-old"].Remedy.FixedVersion != "V9.0.3" ||
		!slices.Equal(m["a-old"].CVEs, []string{"CVE-2021-31339"}) || !m["a-old"].VersionChecked {
		t.Errorf("Mendix advisory: %+v (want only a-old, update to V9.0.3; a-acme is another vendor's)", m)
	}
	v := hits(vstar)
	if len(v) != 1 || v["a-vstar"].Remedy.Summary != NoPatch || len(v["a-vstar"].CVEs) != 8 {
		t.Errorf("VSTAR advisory: %+v (want a-vstar, %q, 8 CVEs)", v, NoPatch)
	}
	s := hits(stardom)
	if len(s) != 1 || !slices.Equal(s["a-fcn-old"].CSAFProductIDs, []string{"CSAFPID-0001", "CSAFPID-0002"}) || s["a-fcn-old"].CVSS != 6.3 {
		t.Errorf("STARDOM advisory: %+v", s)
	}
}

func TestNameMatching(t *testing.T) {
	tests := []struct {
		vendor, product   string // inventory
		csafVendor, csafP string
		want              bool
	}{
		{"acme", "ViewPanel-HMI", "Acme Automation AG", "ViewPanel-HMI", true},
		{"Siemens", "SIMATIC S7-1500", "Siemens", "SIMATIC S7-1500 CPU family", true},
		{"siemens", "SIMATIC S7-1500 CPU family", "Siemens AG", "SIMATIC S7-1500", true},
		{"Schneider", "IGSS Dashboard", "Schneider Electric", "IGSS Dashboard (DashBoard.exe)", true},
		{"Siemens", "SIMATIC S7-1200", "Siemens", "SIMATIC S7-1500 CPU family", false},
		{"Mitsubishi Electric", "MELSOFT", "Schneider Electric", "MELSOFT", false},
		{"ge", "RT430", "General Electric (GE)", "RT430 RT431 & RT434", true},
		{"Electric", "x", "Schneider Electric", "x", false},
		{"Honeywell International Inc.", "Safety Manager", "Honeywell", "Safety Manager", true},
	}
	for _, tt := range tests {
		ip := Product{VendorName: tt.vendor, ProductName: tt.product}
		got := vendorMatches(ip, tt.csafVendor) && productMatches(tt.product, TreeProduct{ProductName: tt.csafP})
		if got != tt.want {
			t.Errorf("inventory %s/%s vs advisory %s/%s: %v, want %v", tt.vendor, tt.product, tt.csafVendor, tt.csafP, got, tt.want)
		}
	}
}

// FuzzParse: Parse never panics on any input, refuses with a ValidationError or returns a
// model whose size is bounded by its input and whose converted ranges domain accepts.
func FuzzParse(f *testing.F) {
	f.Add(encode(f, minimal()))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"document":{"csaf_version":"2.0"},"product_tree":{"branches":[{"category":"vendor","name":"x","branches":[{"branches":[]}]}]}}`))
	files, _ := filepath.Glob(filepath.Join(sharedDir, "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 32<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := ParseBytes(raw)
		if err != nil {
			var v *domain.ValidationError
			if !errors.As(err, &v) || len(v.Fields) == 0 || len(v.Fields) > maxProblems+1 {
				t.Fatalf("error %v is not a bounded ValidationError", err)
			}
			return
		}
		if len(a.Products) > len(raw) || len(a.Vulnerabilities) > len(raw) {
			t.Fatalf("%d products, %d vulnerabilities from %d bytes", len(a.Products), len(a.Vulnerabilities), len(raw))
		}
		for _, p := range a.Products {
			if p.Unconverted && len(p.Ranges) > 0 {
				t.Fatalf("product %q is unconverted but has ranges %q", p.ID, p.Ranges)
			}
			for _, r := range p.Ranges {
				if _, err := domain.ParseVersionRange(r); err != nil {
					t.Fatalf("product %q: range %q: %v", p.ID, r, err)
				}
			}
		}
		if _, err := json.Marshal(a); err != nil {
			t.Fatal(err)
		}
		Match(a, []Product{{ProductID: "p", VendorName: "x", ProductName: "y"}}, []Asset{{ID: "a", ProductID: "p", InstalledVersion: "1.0"}})
	})
}

// A CSAF VEX document's known_not_affected products, with their flag or impact statement,
// mark the matching assets not affected; an asset a vulnerability affects is not listed,
// nor one whose version the product does not cover.
func TestVEXNotAffected(t *testing.T) {
	doc := minimal()
	doc["document"].(map[string]any)["category"] = "csaf_vex"
	pt := doc["product_tree"].(map[string]any)
	vp := pt["branches"].([]any)[0].(map[string]any)["branches"].([]any)[0].(map[string]any)
	vp["branches"] = append(vp["branches"].([]any),
		map[string]any{"category": "product_version_range", "name": "vers:generic/>=16.0.2|<17", "product": map[string]any{"name": "ViewPanel-HMI V16.0.2 to V17", "product_id": "P2"}},
		map[string]any{"category": "product_version_range", "name": "vers:generic/>=17", "product": map[string]any{"name": "ViewPanel-HMI V17 and later", "product_id": "P3"}})
	pt["product_groups"] = []any{map[string]any{"group_id": "G1", "product_ids": []any{"P3"}}}
	doc["vulnerabilities"] = []any{map[string]any{
		"cve":            "CVE-2026-31337",
		"product_status": map[string]any{"known_affected": []any{"P1"}, "known_not_affected": []any{"P2", "P3"}},
		"flags":          []any{map[string]any{"label": "vulnerable_code_not_in_execute_path", "product_ids": []any{"P2"}}},
		"threats":        []any{map[string]any{"category": "impact", "details": "The web server is not part of V17.", "group_ids": []any{"G1"}}},
	}}
	adv, err := ParseBytes(encode(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := adv.Vulnerabilities[0].Justifications; len(got) != 2 || got[0].Label != "vulnerable_code_not_in_execute_path" || got[1].Impact == "" || !slices.Equal(got[1].ProductIDs, []string{"P3"}) {
		t.Fatalf("justifications: %+v", got)
	}
	products := []Product{{ProductID: "hmi", VendorName: "acme", VendorAliases: []string{"Acme Automation AG"}, ProductName: "ViewPanel-HMI"}}
	assets := []Asset{
		{ID: "old", ProductID: "hmi", InstalledVersion: "V16.0.1"},
		{ID: "mid", ProductID: "hmi", InstalledVersion: "V16.0.3"},
		{ID: "new", ProductID: "hmi", InstalledVersion: "V17.1"},
	}
	got := map[string][]string{}
	for _, na := range NotAffected(adv, products, assets, Match(adv, products, assets)) {
		got[na.AssetID] = na.Justifications
	}
	want := map[string][]string{"mid": {"vulnerable_code_not_in_execute_path"}, "new": {"The web server is not part of V17."}}
	if len(got) != len(want) || !slices.Equal(got["mid"], want["mid"]) || !slices.Equal(got["new"], want["new"]) {
		t.Fatalf("not affected: %v, want %v", got, want)
	}
	if hits := Match(adv, products, assets); len(hits) != 1 || hits[0].AssetID != "old" {
		t.Fatalf("affected: %+v, want old only", hits)
	}
}
