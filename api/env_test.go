package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/passwords"
	"github.com/otpatch/otpatch/internal/refusals"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/internal/teststack"
)

// env is a whole otpatch on real components: a Temporal server (temporaltest) with the worker,
// the store, an S3 endpoint, the simulator and the API over httptest, seeded with the demo plant.
type env struct {
	t       testing.TB
	url     string
	store   *store.Store
	objects *artifacts.Store
	sim     *simulator.Simulator
	tokens  demo.Tokens
	keys    map[string]ed25519.PrivateKey
	// temporal is the Temporal test server (benchmarks register their own workers on it).
	temporal *temporaltest.TestServer
	// refusals tallies refused authentications; flushRefusals writes them to the audit trail.
	refusals *refusals.Tally
}

type envOptions struct {
	postgres bool
	// maxArtifact bounds uploads (0: the default).
	maxArtifact int64
	// presignExpiry is how long presigned URLs stay valid (0: the default).
	presignExpiry time.Duration
	// now is the store's clock (nil: the wall clock).
	now func() time.Time
	// simStep is how long each simulated operation takes; approvalTTL how long approvals count.
	simStep, approvalTTL time.Duration
	// adapters adds device adapters (ssh, agent) to the worker.
	adapters func(st *store.Store, objs *artifacts.Store) map[string]adapters.Target
	// expected is how long device work takes on assets of adapters only site workers hold.
	expected map[string]time.Duration
	// maxCampaignAssets bounds a campaign's targets (0: the default).
	maxCampaignAssets int
}

func newEnv(t *testing.T, opt envOptions) *env {
	t.Helper()
	return newEnvTB(t, opt, temporaltest.WithT(t))
}

// newEnvTB is newEnv for a test or a benchmark; without server options the Temporal server is
// stopped in tb's cleanup.
func newEnvTB(t testing.TB, opt envOptions, serverOpts ...temporaltest.TestServerOption) *env {
	t.Helper()
	o := teststack.Options{Now: opt.now, MaxArtifactBytes: opt.maxArtifact, MaxCampaignAssets: opt.maxCampaignAssets, PresignExpiry: opt.presignExpiry, ServerOptions: serverOpts, Adapters: opt.adapters,
		SimStep: opt.simStep, ApprovalTTL: opt.approvalTTL, Expected: opt.expected}
	if opt.postgres {
		o.DSN = testenv.PostgresDSN(t)
	}
	s := teststack.New(t, o)
	return &env{t: t, url: s.URL, store: s.Store, objects: s.Objects, sim: s.Sim, tokens: s.Tokens, keys: s.Keys, temporal: s.Temporal, refusals: s.Refusals}
}

// call sends a JSON request and decodes a JSON answer into out (when not nil).
func (e *env) call(method, path, token string, body any, out any) int {
	e.t.Helper()
	return teststack.Call(e.t, nil, method, e.url+path, token, body, out)
}

// list reads every page of the collection at path into out (a pointer to a slice) and returns
// the status (200, or the first refusal).
func (e *env) list(path, token string, out any) int {
	e.t.Helper()
	return teststack.List(e.t, nil, e.url+path, token, out)
}

// problemDoc is the problem+json answer.
type problemDoc struct {
	Detail string              `json:"detail"`
	Rule   string              `json:"rule"`
	Errors []domain.FieldError `json:"errors"`
}

// testPatch is a manifest with its artifact bytes.
type testPatch struct {
	manifest domain.Manifest
	artifact []byte
}

func newTestPatch(t testing.TB, version string, size int) testPatch {
	t.Helper()
	art := make([]byte, size)
	if _, err := rand.Read(art); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(art)
	return testPatch{artifact: art, manifest: domain.Manifest{
		Schema: domain.ManifestSchemaVersion, Vendor: "acme", Product: "ViewPanel-HMI", PatchID: "ACME-SA-2026-014", Version: version,
		Title: "ViewPanel HMI web server: authentication bypass fixed", ReleaseDate: "2026-11-20",
		AffectedVersions: []string{"< V16.0.2"}, FixedVersion: "V16.0.2", CVEs: []domain.CVE{{ID: "CVE-2026-31337", CVSS: 8.8}},
		Compatibility:   []domain.CompatibilityRow{{ProductVersion: "V16.0.1", Status: "qualified"}},
		RestartRequired: "service", Artifacts: []domain.ArtifactRef{{Name: "viewpanel.fwpkg", Size: int64(size), SHA256: hex.EncodeToString(sum[:])}},
	}}
}

// submission is what a vendor sends: raw manifest bytes, signature text and artifact parts.
type submission struct {
	manifest  []byte
	signature string
	artifacts map[string][]byte
}

func (e *env) signed(p testPatch, vendor string) submission {
	raw, err := json.Marshal(p.manifest)
	if err != nil {
		e.t.Fatal(err)
	}
	return submission{manifest: raw, signature: signing.Sign(e.keys[vendor], raw), artifacts: map[string][]byte{p.manifest.Artifacts[0].Name: p.artifact}}
}

// submit posts a submission as multipart/form-data.
func (e *env) submit(token string, s submission, out any) int {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormField("manifest")
	fw.Write(s.manifest)
	mw.WriteField("signature", s.signature)
	for name, b := range s.artifacts {
		fw, _ := mw.CreateFormFile("artifact", name)
		fw.Write(b)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/api/v1/patches", &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
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

// patchDoc is the part of a patch answer the tests read.
type patchDoc struct {
	ID         string   `json:"id"`
	Status     string   `json:"status"`
	Reasons    []string `json:"reasons"`
	Applicable []string `json:"applicable_assets"`
	Artifacts  []struct {
		ObjectKey string `json:"object_key"`
		SHA256    string `json:"sha256"`
	} `json:"artifacts"`
}

type campaignDoc struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Detail     string `json:"detail"`
	PlanDigest string `json:"plan_digest"`
	Assets     []struct {
		AssetID      string `json:"asset_id"`
		Name         string `json:"name"`
		TestBench    bool   `json:"test_bench"`
		State        string `json:"state"`
		FromVersion  string `json:"from_version"`
		BackupKey    string `json:"backup_key"`
		BackupSHA256 string `json:"backup_sha256"`
		Error        string `json:"error"`
	} `json:"assets"`
}

// waitFor polls fn until it reports done, for at most 90 s.
func (e *env) waitFor(what string, fn func() (bool, string)) {
	e.t.Helper()
	e.waitWithin(90*time.Second, what, fn)
}

// waitWithin polls fn until it reports done or d has passed.
func (e *env) waitWithin(d time.Duration, what string, fn func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := fn()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("timed out after %s waiting for %s; last state: %s", d, what, last)
}

func (e *env) qualifiedPatch(p testPatch) patchDoc {
	e.t.Helper()
	var doc patchDoc
	if code := e.submit(e.tokens.Vendor, e.signed(p, "acme"), &doc); code != http.StatusCreated {
		e.t.Fatalf("submit: status %d", code)
	}
	e.waitFor("qualification", func() (bool, string) {
		e.call("GET", "/api/v1/patches/"+doc.ID, e.tokens.Engineer, nil, &doc)
		return doc.Status == "qualified" || doc.Status == "rejected", doc.Status
	})
	if doc.Status != "qualified" {
		e.t.Fatalf("patch %s: %v", doc.Status, doc.Reasons)
	}
	return doc
}

func (e *env) campaign(id string) campaignDoc {
	var c campaignDoc
	if code := e.call("GET", "/api/v1/campaigns/"+id, e.tokens.Engineer, nil, &c); code != http.StatusOK {
		e.t.Fatalf("get campaign: %d", code)
	}
	return c
}

func (e *env) waitCampaign(id string, statuses ...string) campaignDoc {
	e.t.Helper()
	return e.waitCampaignWithin(90*time.Second, id, statuses...)
}

// waitCampaignWithin waits up to d for the campaign to reach one of statuses.
func (e *env) waitCampaignWithin(d time.Duration, id string, statuses ...string) campaignDoc {
	e.t.Helper()
	var c campaignDoc
	e.waitWithin(d, fmt.Sprintf("campaign %s to be %v", id, statuses), func() (bool, string) {
		c = e.campaign(id)
		for _, s := range statuses {
			if c.Status == s {
				return true, c.Status
			}
		}
		return false, c.Status + ": " + c.Detail
	})
	return c
}

// openWindowNow makes a zone's window always open, so a test does not wait for the clock.
func (e *env) openWindowNow(zoneID string) {
	e.t.Helper()
	w := domain.Window{Cron: "* * * * *", Duration: domain.Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2}
	if code := e.call("PUT", "/api/v1/zones/"+zoneID+"/window", e.tokens.Engineer, w, nil); code != http.StatusOK {
		e.t.Fatalf("set window: %d", code)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// person adds a person to the store as an admin (and, for a privileged role, a second admin)
// would have: a local account with the demo password and nothing to change, one confirmed
// grant of role, and a personal token in that role named "setup". It returns his user id and
// the token.
func (e *env) person(name string, role domain.Role, vendorID string) (userID, token string) {
	e.t.Helper()
	ctx := context.Background()
	hash, err := passwords.Hash(e.tokens.Password, passwords.Default)
	if err != nil {
		e.t.Fatal(err)
	}
	ev := func(action string) store.Event {
		return store.Event{Actor: "test-setup", Role: "system", Action: action}
	}
	u, err := e.store.CreateUser(ctx, store.NewUser{Username: name, VendorID: vendorID, PasswordHash: hash, CreatedBy: "test-setup"}, ev("user.created"))
	if err != nil {
		e.t.Fatalf("add %s: %v", name, err)
	}
	if _, err := e.store.RequestGrant(ctx, store.GrantRequest{UserID: u.ID, Role: role, By: "test-setup", Source: store.GrantByAdmin, Confirmed: true}, ev("role.granted")); err != nil {
		e.t.Fatalf("grant %s to %s: %v", role, name, err)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		e.t.Fatal(err)
	}
	token = "otp_" + hex.EncodeToString(b)
	spec := store.TokenSpec{UserID: u.ID, Name: "setup", Role: role, Secret: token, ExpiresAt: e.store.Now().Add(demo.TokenLifetime)}
	if _, err := e.store.CreateToken(ctx, spec, ev("token.created")); err != nil {
		e.t.Fatalf("token for %s: %v", name, err)
	}
	return u.ID, token
}

// meDoc is the answer of GET /api/v1/me.
type meDoc struct {
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	VendorID string   `json:"vendor_id"`
	UserID   string   `json:"user_id"`
	Roles    []string `json:"roles"`
	SignIn   string   `json:"sign_in"`
	TOTP     bool     `json:"totp"`
}

// me answers GET /api/v1/me for a bearer token.
func (e *env) me(token string) meDoc {
	e.t.Helper()
	var m meDoc
	if code := e.call("GET", "/api/v1/me", token, nil, &m); code != http.StatusOK {
		e.t.Fatalf("GET /me: %d", code)
	}
	return m
}

// grantDoc is a role grant as the users and grants routes answer it.
type grantDoc struct {
	ID          string  `json:"id"`
	UserID      string  `json:"user_id"`
	Username    string  `json:"username"`
	Role        string  `json:"role"`
	State       string  `json:"state"`
	RequestedBy string  `json:"requested_by"`
	ConfirmedBy *string `json:"confirmed_by"`
	EndedBy     *string `json:"ended_by"`
}

// grantRole has the demo admin grant role to userID through the API; a privileged role is
// then confirmed by the second demo admin (two-person rule). It returns the active grant.
func (e *env) grantRole(userID string, role domain.Role) grantDoc {
	e.t.Helper()
	var g struct {
		grantDoc
		problemDoc
	}
	code := e.call("POST", "/api/v1/users/"+userID+"/grants", e.tokens.Admin, map[string]any{"role": role}, &g)
	switch {
	case code == http.StatusCreated && !role.Privileged() && g.State == "active":
		return g.grantDoc
	case code != http.StatusAccepted || !role.Privileged() || g.State != "pending":
		e.t.Fatalf("grant %s to %s: %d %+v", role, userID, code, g)
	}
	if code := e.call("POST", "/api/v1/grants/"+g.ID+"/confirm", e.tokens.Admin2, nil, &g); code != http.StatusOK || g.State != "active" {
		e.t.Fatalf("the second admin confirming %s for %s: %d %+v", role, userID, code, g)
	}
	return g.grantDoc
}
