package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/evidence"
	"github.com/otpatch/otpatch/internal/signing"
)

func init() {
	allowed["GET /api/v1/campaigns/{campaignID}/evidence"] = []string{"engineer", "auditor", "admin"}
}

func untar(t *testing.T, bundle []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name], _ = io.ReadAll(tr)
	}
}

// A completed campaign's evidence bundle holds what an auditor asks for and verifies offline
// with the published checkpoint key; a changed file fails naming it.
func TestCampaignEvidence(t *testing.T) {
	e := newEnv(t, envOptions{})
	tp := newTestPatch(t, "V16.0.2", 2000)
	p := e.qualifiedPatch(tp)
	// The window opens before the campaign exists: editing it later re-plans the campaign, and
	// an approval of the digest read before the re-plan would be refused.
	e.openWindowNow("zone_packaging")
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "evidence", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	var pr problemDoc
	if code := e.call("GET", "/api/v1/campaigns/"+c.ID+"/evidence", e.tokens.Auditor, nil, &pr); code != http.StatusConflict || !strings.Contains(pr.Detail, "checkpoints are not configured") {
		t.Fatalf("evidence without checkpoints: %d %q", code, pr.Detail)
	}
	cpr := e.withCheckpoints()
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}

	code, ct, bundle := e.get("/api/v1/campaigns/"+c.ID+"/evidence", e.tokens.Auditor)
	if code != http.StatusOK || ct != "application/gzip" {
		t.Fatalf("evidence: %d %s %s", code, ct, bundle)
	}
	rep, err := evidence.Verify(bytes.NewReader(bundle), cpr.PublicKey())
	if err != nil {
		t.Fatalf("a fresh bundle does not verify: %v", err)
	}
	if rep.CampaignID != c.ID || rep.Events == 0 || rep.TreeSize < int64(rep.Events) || rep.VendorKey == "" || rep.KeyFromBundle {
		t.Errorf("report %+v", rep)
	}
	files := untar(t, bundle)
	signed := e.signed(tp, "acme")
	if !bytes.Equal(files[evidence.FileManifest], signed.manifest) {
		t.Errorf("manifest.json is not the manifest exactly as signed")
	}
	if sig, _ := signing.ParseSignature(signed.signature); !bytes.Equal(files[evidence.FileSignature], sig) {
		t.Errorf("manifest.sig is not the vendor's raw signature")
	}
	var report map[string]any
	if err := json.Unmarshal(files[evidence.FileReport], &report); err != nil || len(report) == 0 {
		t.Errorf("qualification report %s: %v", files[evidence.FileReport], err)
	}
	var approvals []struct{ Actor, Decision, PlanDigest string }
	json.Unmarshal(files[evidence.FileApprovals], &approvals)
	if len(approvals) != 1 || approvals[0].Decision != "approved" || approvals[0].Actor == "" {
		t.Errorf("approvals %s", files[evidence.FileApprovals])
	}
	var backups []struct {
		AssetID string `json:"asset_id"`
		SHA256  string `json:"sha256"`
	}
	json.Unmarshal(files[evidence.FileBackups], &backups)
	for _, a := range c.Assets {
		if a.TestBench || a.BackupSHA256 == "" {
			continue
		}
		found := false
		for _, b := range backups {
			found = found || (b.AssetID == a.AssetID && b.SHA256 == a.BackupSHA256)
		}
		if !found {
			t.Errorf("backup of %s (%s) missing from %s", a.AssetID, a.BackupSHA256, files[evidence.FileBackups])
		}
	}
	var bench []struct {
		AssetID string `json:"asset_id"`
		State   string `json:"state"`
	}
	json.Unmarshal(files[evidence.FileTestBench], &bench)
	if len(bench) == 0 || bench[0].State == "" {
		t.Errorf("test-bench results %s", files[evidence.FileTestBench])
	}
	var deploy []struct {
		AssetID string            `json:"asset_id"`
		State   string            `json:"state"`
		Ops     []json.RawMessage `json:"device_operations"`
		Events  []json.RawMessage `json:"audit_events"`
	}
	json.Unmarshal(files[evidence.FileDeployment], &deploy)
	if len(deploy) != 1 || deploy[0].AssetID != "ast_pkg-hmi-01" || deploy[0].State != "done" || len(deploy[0].Ops) != 1 || len(deploy[0].Events) == 0 {
		t.Errorf("deployment log %s", files[evidence.FileDeployment])
	}
	for _, want := range []string{"campaign.created", "campaign.approve", "campaign.evidence_exported"} {
		if !bytes.Contains(files[evidence.FileEvents], []byte(`"action":"`+want)) {
			t.Errorf("the campaign's audit events have no %s event", want)
		}
	}
	if !bytes.Contains(files[evidence.FileReadme], []byte("otpatch evidence verify")) {
		t.Error("README.md does not say how to verify")
	}

	// One altered file (in place, the archive re-made) fails, naming it.
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, b := range files {
		if name == evidence.FileApprovals {
			b = bytes.Replace(b, []byte(`"approved"`), []byte(`"rejected"`), 1)
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	_, err = evidence.Verify(&buf, cpr.PublicKey())
	if err == nil || !strings.HasPrefix(err.Error(), evidence.FileApprovals+":") {
		t.Fatalf("altered approvals.json: %v", err)
	}
}

// A campaign's bundle holds that campaign's events only: not another campaign's, not a
// refused submission, not a token created meanwhile; every event it holds proves into its
// checkpoint.
func TestEvidenceBundleHoldsOnlyItsCampaign(t *testing.T) {
	e := newEnv(t, envOptions{})
	cpr := e.withCheckpoints()
	tp := newTestPatch(t, "V16.0.2", 1000)
	p := e.qualifiedPatch(tp)
	var a, b campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "scoped A", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01"}}, &a); code != http.StatusCreated {
		t.Fatalf("create campaign A: %d", code)
	}
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "scoped B", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-02"}}, &b); code != http.StatusCreated {
		t.Fatalf("create campaign B: %d", code)
	}
	var tok tokenDoc
	if code := e.call("POST", "/api/v1/tokens", e.tokens.Engineer, map[string]any{"name": "night-shift-script", "expires_in": "PT1H"}, &tok); code != http.StatusCreated {
		t.Fatalf("token: %d", code)
	}
	bad := e.signed(newTestPatch(t, "V16.0.3", 500), "acme")
	bad.signature = signing.Sign(e.keys["northwind"], bad.manifest)
	if code := e.submit(e.tokens.Vendor, bad, nil); code < 400 {
		t.Fatalf("a submission signed by another vendor's key was accepted: %d", code)
	}
	e.waitCampaign(a.ID, "awaiting_approval", "test_failed")
	e.waitCampaign(b.ID, "awaiting_approval", "test_failed")

	code, _, bundle := e.get("/api/v1/campaigns/"+a.ID+"/evidence", e.tokens.Auditor)
	if code != http.StatusOK {
		t.Fatalf("evidence: %d %s", code, bundle)
	}
	rep, err := evidence.Verify(bytes.NewReader(bundle), cpr.PublicKey())
	if err != nil {
		t.Fatalf("the bundle does not verify: %v", err)
	}
	files := untar(t, bundle)
	lines := bytes.Split(bytes.TrimSuffix(files[evidence.FileEvents], []byte("\n")), []byte("\n"))
	if len(lines) != rep.Events || len(lines) < 3 {
		t.Fatalf("%d event lines, report says %d", len(lines), rep.Events)
	}
	for _, l := range lines {
		var ev struct {
			Seq        int64  `json:"seq"`
			CampaignID string `json:"campaign_id"`
			Action     string `json:"action"`
		}
		if err := json.Unmarshal(l, &ev); err != nil || ev.CampaignID != a.ID {
			t.Errorf("event %d (%s) of campaign %q is in the bundle of %s", ev.Seq, ev.Action, ev.CampaignID, a.ID)
		}
	}
	for name, f := range files {
		for _, leak := range []string{b.ID, tok.ID, "night-shift-script", "northwind"} {
			if bytes.Contains(f, []byte(leak)) {
				t.Errorf("%s of campaign %s's bundle mentions %q", name, a.ID, leak)
			}
		}
	}
	// Campaign B's own bundle holds B's events and nothing of A's.
	_, _, other := e.get("/api/v1/campaigns/"+b.ID+"/evidence", e.tokens.Auditor)
	if bytes.Contains(untar(t, other)[evidence.FileEvents], []byte(a.ID)) {
		t.Errorf("campaign %s's bundle holds events of %s", b.ID, a.ID)
	}
}
