package ui_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/s3embed"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/ui"
	"github.com/otpatch/otpatch/workflows"
)

// stack is a whole otpatch on real components — a Temporal server (temporaltest) with the
// worker, the store on SQLite, an S3 endpoint, the simulator and the API with the embedded UI
// over httptest — seeded with the demo plant. It mirrors api's test env, which a test in
// another package cannot import.
type stack struct {
	t      *testing.T
	url    string
	store  *store.Store
	sim    *simulator.Simulator
	tokens demo.Tokens
	keys   map[string]ed25519.PrivateKey
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(dir, "otpatch.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s3, err := s3embed.New(s3embed.Config{Dir: filepath.Join(dir, "objects"), AccessKey: "test-access", SecretKey: "test-secret-key"})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); s3.Close() })
	endpoint, err := s3.Listen(sctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := artifacts.New(artifacts.Config{Endpoint: endpoint, AccessKey: "test-access", SecretKey: "test-secret-key", Bucket: "otpatch"})
	if err != nil {
		t.Fatal(err)
	}
	if err := objs.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	sim := simulator.New(st.DB(), 0, nil)
	tokens, err := demo.Seed(ctx, st, sim, dir)
	if err != nil {
		t.Fatal(err)
	}
	// Signed audit checkpoints in the object store, as a server runs with: evidence bundles
	// need them.
	_, cpKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := audit.NewObjectCheckpoints(ctx, objs, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: cpKey, Store: cps})
	if err != nil {
		t.Fatal(err)
	}
	st.SetCheckpointer(cp)
	t.Cleanup(func() { st.SetCheckpointer(nil) })
	keys := map[string]ed25519.PrivateKey{}
	for _, v := range []string{"acme", "northwind"} {
		b, err := os.ReadFile(filepath.Join(dir, "demo-keys", v+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if keys[v], err = signing.ParsePrivate(b); err != nil {
			t.Fatal(err)
		}
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	acts := &activities.Activities{Store: st, Objects: objs, Adapters: map[string]adapters.Target{"simulator": sim}, Log: log, Now: time.Now}
	ts.NewWorker(workflows.TaskQueue, func(r worker.Registry) {
		r.RegisterWorkflow(workflows.Campaign)
		r.RegisterWorkflow(workflows.AssetDeployment)
		r.RegisterWorkflow(workflows.PatchQualification)
		r.RegisterActivity(acts)
	})
	h := api.New(api.Deps{Store: st, Objects: objs, Temporal: ts.GetDefaultClient(), Simulator: sim, Logger: log, UI: ui.Handler()})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &stack{t: t, url: srv.URL, store: st, sim: sim, tokens: tokens, keys: keys}
}

// call sends a JSON request with a bearer token and decodes the answer into out.
func (s *stack) call(method, path, token string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %q: %v", method, path, raw, err)
		}
	}
	return res.StatusCode
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
