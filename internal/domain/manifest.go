package domain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// ManifestSchemaVersion is the manifest format this build reads.
const ManifestSchemaVersion = "otpatch.manifest/v1"

// MaxManifestBytes bounds a manifest document.
const MaxManifestBytes = 1 << 20

// Manifest is what a vendor signs: which product a patch is for, what it fixes, how to install
// and verify it, and the exact artifacts (size and SHA-256) that belong to it.
type Manifest struct {
	Schema           string             `json:"schema"`
	Vendor           string             `json:"vendor"`
	Product          string             `json:"product"`
	PatchID          string             `json:"patch_id"`
	Version          string             `json:"version"`
	Title            string             `json:"title"`
	ReleaseDate      string             `json:"release_date"`
	AffectedVersions []string           `json:"affected_versions"`
	FixedVersion     string             `json:"fixed_version"`
	CVEs             []CVE              `json:"cves,omitempty"`
	RestartRequired  string             `json:"restart_required,omitempty"`
	Install          string             `json:"install,omitempty"`
	Verify           string             `json:"verify,omitempty"`
	Rollback         string             `json:"rollback,omitempty"`
	Supersedes       []string           `json:"supersedes,omitempty"`
	Compatibility    []CompatibilityRow `json:"compatibility,omitempty"`
	Artifacts        []ArtifactRef      `json:"artifacts"`
}

// CVE is one vulnerability a patch fixes.
type CVE struct {
	ID   string  `json:"id"`
	CVSS float64 `json:"cvss,omitempty"`
}

// CompatibilityRow is the vendor's statement for one product version (IEC TR 62443-2-3).
type CompatibilityRow struct {
	ProductVersion string `json:"product_version"`
	Status         string `json:"status"` // qualified | not_qualified | not_tested
	Notes          string `json:"notes,omitempty"`
}

// ArtifactRef binds one artifact by name, size and SHA-256.
type ArtifactRef struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	MediaType string `json:"media_type,omitempty"`
}

var (
	namePattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
	cvePattern      = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)
	restartCategory = map[string]bool{"": true, "none": true, "vulnerable_component": true, "service": true,
		"parent": true, "dependencies": true, "connected": true, "machine": true, "zone": true, "system": true}
)

// MaxArtifactsPerPatch bounds the artifacts of one manifest.
const MaxArtifactsPerPatch = 16

// ParseManifest decodes and validates manifest bytes, listing every failing field.
func ParseManifest(raw []byte) (*Manifest, error) {
	if len(raw) > MaxManifestBytes {
		return nil, &ValidationError{What: "manifest", Fields: []FieldError{{Field: "manifest", Message: fmt.Sprintf("is %d bytes; the limit is %d", len(raw), MaxManifestBytes)}}}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		field, msg := JSONFault(err, "manifest")
		return nil, &ValidationError{What: "manifest", Fields: []FieldError{{Field: field, Message: msg}}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ValidationError{What: "manifest", Fields: []FieldError{{Field: "manifest", Message: "has data after the JSON object"}}}
	}
	return &m, m.Validate()
}

// Validate checks every field and returns a *ValidationError listing all failures.
func (m *Manifest) Validate() error {
	v := &ValidationError{What: "manifest"}
	if m.Schema != ManifestSchemaVersion {
		v.Add("schema", "must be %q, got %q", ManifestSchemaVersion, m.Schema)
	}
	for _, f := range [...]struct{ field, val string }{{"vendor", m.Vendor}, {"product", m.Product}, {"patch_id", m.PatchID}} {
		if fault := NameFault(f.val); fault != "" {
			v.Add(f.field, "%s", fault)
		} else if !namePattern.MatchString(f.val) {
			v.Add(f.field, "must start with a letter or a digit, got %q", f.val)
		}
	}
	v.Text("version", m.Version, 64)
	v.Text("fixed_version", m.FixedVersion, 64, "the product version the asset reports after install")
	v.Text("title", m.Title, 200)
	if _, err := time.Parse(time.DateOnly, m.ReleaseDate); err != nil {
		v.Add("release_date", "must be a date as YYYY-MM-DD, got %q", m.ReleaseDate)
	}
	if len(m.AffectedVersions) == 0 || len(m.AffectedVersions) > 256 {
		v.Add("affected_versions", "must list 1 to 256 affected product versions or ranges")
	}
	for i, a := range m.AffectedVersions {
		if _, err := ParseVersionRange(a); err != nil {
			v.Add(fmt.Sprintf("affected_versions[%d]", i), "%v", err)
		}
	}
	for i, c := range m.CVEs {
		if !cvePattern.MatchString(c.ID) {
			v.Add(fmt.Sprintf("cves[%d].id", i), "must look like CVE-2024-12345, got %q", c.ID)
		}
		if c.CVSS < 0 || c.CVSS > 10 {
			v.Add(fmt.Sprintf("cves[%d].cvss", i), "must be between 0 and 10, got %v", c.CVSS)
		}
	}
	if !restartCategory[m.RestartRequired] {
		v.Add("restart_required", "must be a CSAF restart category (none, vulnerable_component, service, parent, dependencies, connected, machine, zone, system), got %q", m.RestartRequired)
	}
	for i, c := range m.Compatibility {
		switch c.Status {
		case "qualified", "not_qualified", "not_tested":
		default:
			v.Add(fmt.Sprintf("compatibility[%d].status", i), "must be qualified, not_qualified or not_tested, got %q", c.Status)
		}
	}
	for _, f := range [...]struct{ field, val string }{{"install", m.Install}, {"verify", m.Verify}, {"rollback", m.Rollback}} {
		if len(f.val) > 16<<10 {
			v.Add(f.field, "is longer than 16 KiB")
		}
	}
	if len(m.Artifacts) == 0 || len(m.Artifacts) > MaxArtifactsPerPatch {
		v.Add("artifacts", "must list 1 to %d artifacts", MaxArtifactsPerPatch)
	}
	seen := map[string]bool{}
	for i, a := range m.Artifacts {
		p := fmt.Sprintf("artifacts[%d]", i)
		if !namePattern.MatchString(a.Name) {
			v.Add(p+".name", "must be a plain file name (letters, digits, '.', '_', '+', '-'), got %q", a.Name)
		}
		if seen[a.Name] {
			v.Add(p+".name", "%q is listed twice", a.Name)
		}
		seen[a.Name] = true
		if a.Size <= 0 {
			v.Add(p+".size", "must be the artifact's size in bytes, got %d", a.Size)
		}
		if b, err := hex.DecodeString(a.SHA256); err != nil || len(b) != 32 {
			v.Add(p+".sha256", "must be 64 lowercase hex digits, got %q", a.SHA256)
		} else if a.SHA256 != strings.ToLower(a.SHA256) {
			v.Add(p+".sha256", "must be lowercase hex")
		}
	}
	return v.Err()
}

// Artifact returns the manifest entry named name.
func (m *Manifest) Artifact(name string) (ArtifactRef, bool) {
	for _, a := range m.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return ArtifactRef{}, false
}

// MaxCVSS is the highest CVSS score the manifest lists.
func (m *Manifest) MaxCVSS() float64 {
	max := 0.0
	for _, c := range m.CVEs {
		if c.CVSS > max {
			max = c.CVSS
		}
	}
	return max
}
