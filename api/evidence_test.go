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
	if rep.CampaignID != c.ID || rep.Events == 0 || rep.Checkpoint < rep.ChainTo || rep.VendorKey == "" {
		t.Errorf("report %+v", rep)
	}
	files := untar(t, bundle)
	signed := e.signed(tp, "acme")
	if !bytes.Equal(files[evidence.FileManifest], signed.manifest) {
		t.Errorf("manifest.json is not the manifest exactly as signed")
	}
	if strings.TrimSpace(string(files[evidence.FileSignature])) != signed.signature {
		t.Errorf("manifest.sig is not the vendor's signature")
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
		if !bytes.Contains(files[evidence.FileExcerpt], []byte(`"action":"`+want)) {
			t.Errorf("the audit excerpt has no %s event", want)
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
