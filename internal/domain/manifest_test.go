package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validManifestFile = "testdata/manifest_valid.json"

func readValidManifest(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(validManifestFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// manifestDoc returns the valid manifest as a generic document to break field by field.
func manifestDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readValidManifest(t), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestParseManifestValid(t *testing.T) {
	m, err := ParseManifest(readValidManifest(t))
	if err != nil {
		t.Fatalf("ParseManifest(%s): %v", validManifestFile, err)
	}
	if m.Vendor != "siemens" || m.Product != "simatic-s7-1500" || m.FixedVersion != "V3.1.4" {
		t.Errorf("decoded %s/%s fixed in %s", m.Vendor, m.Product, m.FixedVersion)
	}
	if got := m.MaxCVSS(); got != 9.8 {
		t.Errorf("MaxCVSS() = %v, want 9.8", got)
	}
	a, ok := m.Artifact("s7-1500-fw-V3.1.4.upd")
	if !ok || a.Size != 20971520 {
		t.Errorf("Artifact(s7-1500-fw-V3.1.4.upd) = %+v, %v", a, ok)
	}
	if _, ok := m.Artifact("missing.bin"); ok {
		t.Error("Artifact(missing.bin) found an artifact the manifest does not list")
	}
	if !m.Affects("V3.0 Update 2") || m.Affects("V3.1.4") {
		t.Error("the manifest must affect V3.0 Update 2 and not its fixed version V3.1.4")
	}
}

func TestParseManifestRefuses(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		// change breaks the valid document; raw, when set, replaces it.
		change func(doc map[string]any)
		raw    func(valid []byte) []byte
		// want maps every field that must fail to a fragment of its message; no other
		// field may fail.
		want map[string]string
	}{
		{name: "wrong schema", change: func(d map[string]any) { d["schema"] = "otpatch.manifest/v0" },
			want: map[string]string{"schema": `must be "otpatch.manifest/v1", got "otpatch.manifest/v0"`}},
		{name: "missing schema", change: func(d map[string]any) { delete(d, "schema") },
			want: map[string]string{"schema": `got ""`}},
		{name: "vendor with a slash", change: func(d map[string]any) { d["vendor"] = "siemens/../x" },
			want: map[string]string{"vendor": `got "siemens/../x"`}},
		{name: "empty product", change: func(d map[string]any) { d["product"] = "" },
			want: map[string]string{"product": "is required"}},
		{name: "patch id too long", change: func(d map[string]any) { d["patch_id"] = strings.Repeat("a", 129) },
			want: map[string]string{"patch_id": "is 129 characters; at most 128"}},
		{name: "blank version", change: func(d map[string]any) { d["version"] = "  " },
			want: map[string]string{"version": "is required"}},
		{name: "missing fixed version", change: func(d map[string]any) { delete(d, "fixed_version") },
			want: map[string]string{"fixed_version": "the product version the asset reports after install"}},
		{name: "title too long", change: func(d map[string]any) { d["title"] = strings.Repeat("t", 201) },
			want: map[string]string{"title": "is 201 characters; at most 200"}},
		{name: "release date not ISO", change: func(d map[string]any) { d["release_date"] = "14.05.2024" },
			want: map[string]string{"release_date": `must be a date as YYYY-MM-DD, got "14.05.2024"`}},
		{name: "no affected versions", change: func(d map[string]any) { d["affected_versions"] = []any{} },
			want: map[string]string{"affected_versions": "must list 1 to 256"}},
		{name: "bad affected version entries", change: func(d map[string]any) {
			d["affected_versions"] = []any{"< V3.1.4", "latest", ">= 2.0 < 3.0"}
		}, want: map[string]string{
			"affected_versions[1]": "has no version number",
			"affected_versions[2]": "join them with a comma",
		}},
		{name: "bad CVE id and score", change: func(d map[string]any) {
			d["cves"] = []any{map[string]any{"id": "CVE-2024-38867", "cvss": 9.8}, map[string]any{"id": "cve-2024-1", "cvss": 10.5}}
		}, want: map[string]string{
			"cves[1].id":   `must look like CVE-2024-12345, got "cve-2024-1"`,
			"cves[1].cvss": "must be between 0 and 10, got 10.5",
		}},
		{name: "restart category not from CSAF", change: func(d map[string]any) { d["restart_required"] = "reboot" },
			want: map[string]string{"restart_required": `must be a CSAF restart category`}},
		{name: "compatibility status", change: func(d map[string]any) {
			d["compatibility"] = []any{map[string]any{"product_version": "V3.0", "status": "works"}}
		}, want: map[string]string{"compatibility[0].status": `must be qualified, not_qualified or not_tested, got "works"`}},
		{name: "install script over 16 KiB", change: func(d map[string]any) { d["install"] = strings.Repeat("x", 16<<10+1) },
			want: map[string]string{"install": "longer than 16 KiB"}},
		{name: "no artifacts", change: func(d map[string]any) { d["artifacts"] = []any{} },
			want: map[string]string{"artifacts": "must list 1 to 16 artifacts"}},
		{name: "too many artifacts", change: func(d map[string]any) {
			var arts []any
			for i := range 17 {
				arts = append(arts, map[string]any{"name": "part" + string(rune('a'+i)), "size": 1, "sha256": sha})
			}
			d["artifacts"] = arts
		}, want: map[string]string{"artifacts": "must list 1 to 16 artifacts"}},
		{name: "artifact fields", change: func(d map[string]any) {
			d["artifacts"] = []any{
				map[string]any{"name": "../etc/passwd", "size": 0, "sha256": "abc"},
				map[string]any{"name": "fw.upd", "size": 10, "sha256": strings.ToUpper(sha)},
				map[string]any{"name": "fw.upd", "size": -1, "sha256": sha},
			}
		}, want: map[string]string{
			"artifacts[0].name":   "must be a plain file name",
			"artifacts[0].size":   "got 0",
			"artifacts[0].sha256": `must be 64 lowercase hex digits, got "abc"`,
			"artifacts[1].sha256": "must be lowercase hex",
			"artifacts[2].name":   `"fw.upd" is listed twice`,
			"artifacts[2].size":   "got -1",
		}},
		{name: "several fields at once", change: func(d map[string]any) {
			d["vendor"], d["product"], d["patch_id"] = "", "", ""
			d["release_date"] = "2024-13-01"
			delete(d, "title")
		}, want: map[string]string{
			"vendor":       "is required",
			"product":      "is required",
			"patch_id":     "is required",
			"release_date": `got "2024-13-01"`,
			"title":        "is required",
		}},
		{name: "unknown field", change: func(d map[string]any) { d["signature"] = "trust me" },
			want: map[string]string{"signature": "signature is not a field of this manifest"}},
		{name: "unknown field inside an artifact", change: func(d map[string]any) {
			d["artifacts"].([]any)[0].(map[string]any)["url"] = "http://example.com/fw.upd"
		}, want: map[string]string{"url": "url is not a field of this manifest"}},
		{name: "wrong type", change: func(d map[string]any) { d["cves"] = "CVE-2024-38867" },
			want: map[string]string{"cves": "must be a list, not string"}},
		{name: "not JSON", raw: func([]byte) []byte { return []byte("vendor: siemens\n") },
			want: map[string]string{"manifest": "is not valid JSON at byte"}},
		{name: "empty", raw: func([]byte) []byte { return nil },
			want: map[string]string{"manifest": "is empty"}},
		{name: "second document after the manifest", raw: func(v []byte) []byte { return append(v, []byte(` {"schema":"x"}`)...) },
			want: map[string]string{"manifest": "has data after the JSON object"}},
		{name: "stray closing brace after the manifest", raw: func(v []byte) []byte { return append(bytes.TrimSpace(v), '}') },
			want: map[string]string{"manifest": "has data after the JSON object"}},
		{name: "stray closing bracket after the manifest", raw: func(v []byte) []byte { return append(bytes.TrimSpace(v), ']') },
			want: map[string]string{"manifest": "has data after the JSON object"}},
		{name: "oversized", raw: func(v []byte) []byte {
			return append(bytes.TrimSpace(v), bytes.Repeat([]byte(" "), MaxManifestBytes)...)
		}, want: map[string]string{"manifest": "the limit is 1048576"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := readValidManifest(t)
			if tt.raw != nil {
				raw = tt.raw(raw)
			} else {
				doc := manifestDoc(t)
				tt.change(doc)
				var err error
				if raw, err = json.Marshal(doc); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ParseManifest(raw)
			if err == nil {
				t.Fatalf("ParseManifest accepted the manifest; want errors on %v", tt.want)
			}
			got := fieldErrors(t, err)
			for field, frag := range tt.want {
				msg, ok := got[field]
				if !ok {
					t.Errorf("no error for field %s; got %v", field, got)
				} else if !strings.Contains(msg, frag) {
					t.Errorf("%s: message %q does not mention %q", field, msg, frag)
				}
			}
			for field, msg := range got {
				if _, ok := tt.want[field]; !ok {
					t.Errorf("unexpected error on field %s: %s", field, msg)
				}
			}
			if !strings.HasPrefix(err.Error(), "manifest is invalid:") {
				t.Errorf("Error() = %q, want it to start with \"manifest is invalid:\"", err)
			}
		})
	}
}

// The fields of a manifest that fails in several places are listed in the same order every
// time, so the API's answer and its golden files are stable.
func TestParseManifestErrorOrderIsStable(t *testing.T) {
	raw := []byte(`{"schema":"otpatch.manifest/v1","vendor":"","product":"","patch_id":"","install":"` +
		strings.Repeat("x", 16<<10+1) + `","verify":"` + strings.Repeat("x", 16<<10+1) + `"}`)
	_, first := ParseManifest(raw)
	if first == nil {
		t.Fatal("ParseManifest accepted a manifest without vendor, product or patch_id")
	}
	for i := range 50 {
		_, err := ParseManifest(raw)
		if err.Error() != first.Error() {
			t.Fatalf("run %d listed the failures as\n%s\nbut the first run as\n%s", i, err, first)
		}
	}
}

// FuzzParseManifest feeds arbitrary bytes to the manifest parser. It must never panic, and a
// manifest it accepts must survive being encoded and parsed again unchanged: what the store
// keeps and re-reads is what was validated.
func FuzzParseManifest(f *testing.F) {
	f.Add(readValidManifest(f))
	seeds, _ := filepath.Glob("testdata/manifest_*.json")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"schema":"otpatch.manifest/v1","affected_versions":["*",">= 1, < 2"],"artifacts":[{"name":"a","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	encode := func(t *testing.T, m *Manifest) []byte {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			t.Fatalf("encode accepted manifest: %v", err)
		}
		return buf.Bytes()
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParseManifest(raw)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("ParseManifest accepted a manifest that Validate refuses: %v", err)
		}
		first := encode(t, m)
		again, err := ParseManifest(first)
		if err != nil {
			t.Fatalf("accepted manifest %q fails after re-encoding as %q: %v", raw, first, err)
		}
		// Compare encodings: an empty list and a missing one ("cves": [] and no "cves") are
		// the same manifest.
		if second := encode(t, again); !bytes.Equal(first, second) {
			t.Fatalf("manifest changed on re-encoding:\n%s\n%s", first, second)
		}
	})
}

func TestManifestJSONFaultsInReadersTerms(t *testing.T) {
	for raw, want := range map[string][2]string{
		`{"cves": ["CVE-2026-12345"]}`:        {"cves", "must be an object, not string"},
		`{"release_date": 20261120}`:          {"release_date", "must be a string, not number"},
		`{"vendor": "acme", "colour": "red"}`: {"colour", "colour is not a field of this manifest"},
		`{"vendor": `:                         {"manifest", "ends before the JSON is complete"},
	} {
		_, err := ParseManifest([]byte(raw))
		var v *ValidationError
		if !errors.As(err, &v) || len(v.Fields) != 1 {
			t.Fatalf("ParseManifest(%s) = %v, want one field fault", raw, err)
		}
		f := v.Fields[0]
		if f.Field != want[0] || !strings.Contains(f.Message, want[1]) || strings.Contains(f.Message, "Go ") || strings.Contains(f.Message, "domain.") {
			t.Errorf("ParseManifest(%s): %s %q, want %s %q and no Go type", raw, f.Field, f.Message, want[0], want[1])
		}
	}
}
