package ui_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/teststack"
	"github.com/otpatch/otpatch/ui"
)

// stack is a whole otpatch on real components (teststack) with the embedded UI and signed
// audit checkpoints, which evidence bundles need.
type stack struct {
	t      *testing.T
	url    string
	store  *store.Store
	sim    *simulator.Simulator
	tokens demo.Tokens
	keys   map[string]ed25519.PrivateKey
	// temporal is the stack's Temporal server, for workers a test starts (a site's worker).
	temporal *temporaltest.TestServer
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := teststack.New(t, teststack.Options{UI: ui.Handler(), Checkpoints: true, ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)}})
	return &stack{t: t, url: s.URL, store: s.Store, sim: s.Sim, tokens: s.Tokens, keys: s.Keys, temporal: s.Temporal}
}

// call sends a JSON request with a bearer token and decodes the answer into out.
func (s *stack) call(method, path, token string, body, out any) int {
	s.t.Helper()
	return teststack.Call(s.t, nil, method, s.url+path, token, body, out)
}

// patchFiles are a signed submission on disk, as a vendor picks them in the browser.
type patchFiles struct {
	manifest, signature, artifact string
}

// signedPatch writes an acme ViewPanel HMI patch: manifest.json, manifest.json.sig and the
// firmware artifact of size bytes.
func (s *stack) signedPatch(version string, size int) patchFiles {
	s.t.Helper()
	dir := s.t.TempDir()
	art := make([]byte, size)
	if _, err := rand.Read(art); err != nil {
		s.t.Fatal(err)
	}
	sum := sha256.Sum256(art)
	m := domain.Manifest{
		Schema: domain.ManifestSchemaVersion, Vendor: "acme", Product: "ViewPanel-HMI", PatchID: "ACME-SA-2026-014", Version: version,
		Title: "ViewPanel HMI web server: authentication bypass fixed", ReleaseDate: "2026-11-20",
		AffectedVersions: []string{"< V16.0.2"}, FixedVersion: "V16.0.2", CVEs: []domain.CVE{{ID: "CVE-2026-31337", CVSS: 8.8}},
		// The demo's HMIs run V16.0.1; the browser tests add HMIs at the other versions.
		Compatibility: []domain.CompatibilityRow{{ProductVersion: "V16.0.1", Status: "qualified"}, {ProductVersion: "V15.9", Status: "not_tested"},
			{ProductVersion: "V15.1", Status: "not_qualified", Notes: "update to V15.2 first"}},
		RestartRequired: "service", Artifacts: []domain.ArtifactRef{{Name: "viewpanel.fwpkg", Size: int64(size), SHA256: hex.EncodeToString(sum[:])}},
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		s.t.Fatal(err)
	}
	f := patchFiles{manifest: filepath.Join(dir, "manifest.json"), signature: filepath.Join(dir, "manifest.json.sig"), artifact: filepath.Join(dir, "viewpanel.fwpkg")}
	for path, b := range map[string][]byte{f.manifest: raw, f.signature: []byte(signing.Sign(s.keys["acme"], raw) + "\n"), f.artifact: art} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	return f
}

// submitByAPI submits the files with the vendor's bearer token and waits for qualification.
func (s *stack) submitByAPI(f patchFiles) string {
	s.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, part := range []struct{ name, path string }{{"manifest", f.manifest}, {"signature", f.signature}, {"artifact", f.artifact}} {
		b, err := os.ReadFile(part.path)
		if err != nil {
			s.t.Fatal(err)
		}
		var w io.Writer
		if part.name == "artifact" {
			w, _ = mw.CreateFormFile("artifact", filepath.Base(part.path))
		} else {
			w, _ = mw.CreateFormField(part.name)
		}
		w.Write(b)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", s.url+"/api/v1/patches", &buf)
	req.Header.Set("Authorization", "Bearer "+s.tokens.Vendor)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var p struct{ ID, Status string }
	json.NewDecoder(res.Body).Decode(&p)
	if res.StatusCode != http.StatusCreated {
		s.t.Fatalf("submit: %d", res.StatusCode)
	}
	s.waitFor("qualification of "+p.ID, func() (bool, string) {
		s.call("GET", "/api/v1/patches/"+p.ID, s.tokens.Engineer, nil, &p)
		return p.Status == "qualified" || p.Status == "rejected", p.Status
	})
	if p.Status != "qualified" {
		s.t.Fatalf("patch %s", p.Status)
	}
	return p.ID
}

func (s *stack) waitFor(what string, fn func() (bool, string)) {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := fn()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

// openWindowNow makes a zone's window always open, so a test does not wait for the clock.
func (s *stack) openWindowNow(zoneID string) {
	s.t.Helper()
	w := domain.Window{Cron: "* * * * *", Duration: domain.Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2}
	if code := s.call("PUT", "/api/v1/zones/"+zoneID+"/window", s.tokens.Engineer, w, nil); code != http.StatusOK {
		s.t.Fatalf("set window: %d", code)
	}
}

// addHMI adds a simulated ViewPanel HMI running version to a zone and returns its id.
func (s *stack) addHMI(zoneID, name, version string) string {
	s.t.Helper()
	var as struct {
		ID string `json:"id"`
	}
	req := map[string]any{"zone_id": zoneID, "product_id": "prd_acme_hmi", "name": name, "installed_version": version, "criticality": 2, "adapter": "simulator"}
	if code := s.call("POST", "/api/v1/assets", s.tokens.Engineer, req, &as); code != http.StatusCreated {
		s.t.Fatalf("add asset %s: %d", name, code)
	}
	return as.ID
}

// fault sets the faults a simulated device will show (simulator.Faults as JSON).
func (s *stack) fault(assetID string, faults map[string]any) {
	s.t.Helper()
	if code := s.call("PUT", "/api/v1/assets/"+assetID+"/simulator/faults", s.tokens.Engineer, faults, nil); code != http.StatusOK {
		s.t.Fatalf("set faults of %s: %d", assetID, code)
	}
}

// approvedCampaign plans a campaign of a patch over production assets by API, waits for its
// bench validation and has the approver approve the plan; it returns the campaign's id.
func (s *stack) approvedCampaign(name, patchID string, assetIDs []string) string {
	s.t.Helper()
	var c struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
		Status     string `json:"status"`
		Detail     string `json:"detail"`
	}
	if code := s.call("POST", "/api/v1/campaigns", s.tokens.Engineer, map[string]any{"name": name, "patch_id": patchID, "asset_ids": assetIDs}, &c); code != http.StatusCreated {
		s.t.Fatalf("create campaign: %d", code)
	}
	s.waitFor("bench validation", func() (bool, string) {
		s.call("GET", "/api/v1/campaigns/"+c.ID, s.tokens.Engineer, nil, &c)
		return c.Status == "awaiting_approval", c.Status + " " + c.Detail
	})
	if code := s.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", s.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		s.t.Fatalf("approve: %d", code)
	}
	return c.ID
}

// hasRoute tells whether the server documents a route (features other issues add).
func (s *stack) hasRoute(method, path string) bool {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	res, err := http.Get(s.url + "/api/v1/openapi.json")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	json.NewDecoder(res.Body).Decode(&doc)
	_, ok := doc.Paths[path][method]
	return ok
}
