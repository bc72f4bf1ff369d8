package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/evidence"
	"github.com/otpatch/otpatch/internal/signing"
)

// verifyScript is the auditor's verifier, which needs nothing of otpatch.
var verifyScript = filepath.Join("..", "docs", "verify-evidence.py")

// runVerifyScript runs docs/verify-evidence.py with args and returns its exit status and
// everything it printed.
func runVerifyScript(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command("python3", append([]string{verifyScript}, args...)...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	default:
		t.Fatalf("run %s: %v", verifyScript, err)
		return 0, ""
	}
}

// retar packs files as a bundle, in path order.
func retar(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// resum writes SHA256SUMS anew for the files as they are now, as someone who altered them but
// does not hold the checkpoint key would; SHA256SUMS.sig stays as it was.
func resum(files map[string][]byte) {
	names := make([]string, 0, len(files))
	for n := range files {
		if n != evidence.FileSums && n != evidence.FileSumsSig {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		s := sha256.Sum256(files[n])
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	files[evidence.FileSums] = b.Bytes()
}

// eventLine is what the tampering needs of one line of audit/events.jsonl.
type eventLine struct {
	Seq     int64  `json:"seq"`
	Action  string `json:"action"`
	Role    string `json:"role"`
	AssetID string `json:"asset_id"`
}

// A real campaign's evidence bundle verifies with docs/verify-evidence.py, Python and openssl
// alone, given the key the server publishes in any of its forms; each way of tampering with
// it fails with exit status 1 and names the file or the event that gives it away.
func TestVerifyEvidenceScript(t *testing.T) {
	for _, tool := range []string{"python3", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH; docs/verify-evidence.py needs python3 and openssl", tool)
		}
	}
	e := newEnv(t, envOptions{})
	cpr := e.withCheckpoints()
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 2000))
	e.openWindowNow("zone_packaging")
	c := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-01"}, nil)
	if c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back"); c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	code, _, bundle := e.get("/api/v1/campaigns/"+c.ID+"/evidence", e.tokens.Auditor)
	if code != http.StatusOK {
		t.Fatalf("evidence: %d %s", code, bundle)
	}
	code, _, keyJSON := e.get("/api/v1/audit/key", e.tokens.Auditor)
	if code != http.StatusOK {
		t.Fatalf("audit key: %d %s", code, keyJSON)
	}
	var key struct {
		PEM         string `json:"public_key_pem"`
		VKey        string `json:"vkey"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := json.Unmarshal(keyJSON, &key); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundlePath := write("evidence.tar.gz", bundle)
	published := write("audit-key.json", keyJSON)
	files := untar(t, bundle)
	lines := bytes.SplitAfter(files[evidence.FileEvents], []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline
	proofs := bytes.SplitAfter(files[evidence.FileProofs], []byte("\n"))
	events := make([]eventLine, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &events[i]); err != nil {
			t.Fatalf("line %d of %s: %v", i+1, evidence.FileEvents, err)
		}
	}

	// The bundle as served verifies, with the published key as JSON, PEM or vkey.
	for _, k := range []string{published, write("audit-key.pem", []byte(key.PEM)), write("audit-key.vkey", []byte(key.VKey+"\n"))} {
		status, out := runVerifyScript(t, bundlePath, "--key", k)
		want := fmt.Sprintf("bundle verified: %d events included in checkpoint of size ", len(lines))
		if status != 0 || !strings.Contains(out, want) || !strings.Contains(out, key.Fingerprint) {
			t.Fatalf("the bundle as served, --key %s: exit %d, want 0 and %q\n%s", filepath.Base(k), status, want, out)
		}
	}
	// Without a key it verifies with the bundle's own and says which key that was.
	if status, out := runVerifyScript(t, bundlePath); status != 0 || !strings.Contains(out, "WARNING") || !strings.Contains(out, key.VKey) {
		t.Fatalf("without --key: exit %d, want 0 and a warning naming the key %s\n%s", status, key.VKey, out)
	}
	if status, out := runVerifyScript(t, filepath.Join(dir, "missing.tar.gz"), "--key", published); status != 2 {
		t.Errorf("a bundle that does not exist: exit %d, want 2 (usage)\n%s", status, out)
	}

	// A later checkpoint of the same log and key, for a larger log.
	appendTrail(t, e.store, 3)
	if _, err := cpr.CheckpointHead(context.Background(), e.store.AuditTreeHead); err != nil {
		t.Fatal(err)
	}
	code, _, later := e.get("/api/v1/audit/checkpoint", e.tokens.Auditor)
	if code != http.StatusOK || bytes.Equal(later, files[evidence.FileCheckpoint]) {
		t.Fatalf("a later checkpoint: %d\n%s", code, later)
	}
	if bytes.Equal(bytes.SplitN(later, []byte("\n"), 3)[1], bytes.SplitN(files[evidence.FileCheckpoint], []byte("\n"), 3)[1]) {
		t.Fatalf("the later checkpoint has the size of the bundle's:\n%s", later)
	}
	_, foreign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreignPEM, err := signing.MarshalPublic(foreign.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	// The event that is removed belongs to an asset, so the asset's record still shows it.
	removed := slices.IndexFunc(events, func(ev eventLine) bool { return ev.AssetID != "" })
	approval := slices.IndexFunc(events, func(ev eventLine) bool { return ev.Action == "campaign.approved" && ev.Role != "system" })
	if removed < 0 || approval < 0 {
		t.Fatalf("%s has no event of an asset, or no approval:\n%s", evidence.FileEvents, files[evidence.FileEvents])
	}

	cases := []struct {
		name   string
		tamper func(f map[string][]byte)
		// args are the script's options; want is what its output must name.
		args []string
		want []string
	}{
		{"changed event", func(f map[string][]byte) {
			l := bytes.Clone(lines[0])
			i := bytes.Index(l, []byte(`"action":"`)) + len(`"action":"`)
			l[i] ^= 0x01 // one letter of the action changes
			f[evidence.FileEvents] = bytes.Join(append([][]byte{l}, lines[1:]...), nil)
			resum(f)
		}, []string{"--key", published}, []string{evidence.FileSumsSig, fmt.Sprintf("event %d ", events[0].Seq)}},
		{"removed event", func(f map[string][]byte) {
			f[evidence.FileEvents] = bytes.Join(append(append([][]byte{}, lines[:removed]...), lines[removed+1:]...), nil)
			f[evidence.FileProofs] = bytes.Join(append(append([][]byte{}, proofs[:removed]...), proofs[removed+1:]...), nil)
		}, []string{"--key", published}, []string{evidence.FileEvents, evidence.FileProofs, fmt.Sprintf("event %d ", events[removed].Seq)}},
		{"changed approval", func(f map[string][]byte) {
			f[evidence.FileApprovals] = bytes.Replace(f[evidence.FileApprovals], []byte(`"approved"`), []byte(`"rejected"`), 1)
		}, []string{"--key", published}, []string{evidence.FileApprovals, fmt.Sprintf("event %d ", events[approval].Seq)}},
		{"swapped checkpoint", func(f map[string][]byte) {
			f[evidence.FileCheckpoint] = later
			resum(f)
		}, []string{"--key", published}, []string{evidence.FileSumsSig, evidence.FileCheckpoint}},
		{"foreign signature", func(f map[string][]byte) {
			f[evidence.FileCheckpointKey] = foreignPEM
			resum(f)
			f[evidence.FileSumsSig] = ed25519.Sign(foreign, f[evidence.FileSums])
		}, []string{"--key", published}, []string{evidence.FileSumsSig, evidence.FileCheckpointKey, "not the published key"}},
		{"foreign signature, no key given", func(f map[string][]byte) {
			f[evidence.FileCheckpointKey] = foreignPEM
			resum(f)
			f[evidence.FileSumsSig] = ed25519.Sign(foreign, f[evidence.FileSums])
		}, nil, []string{evidence.FileCheckpoint, evidence.FileVerifierKey}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := make(map[string][]byte, len(files))
			for n, b := range files {
				f[n] = bytes.Clone(b)
			}
			tc.tamper(f)
			path := write(strings.ReplaceAll(tc.name, " ", "-")+".tar.gz", retar(t, f))
			status, out := runVerifyScript(t, append([]string{path}, tc.args...)...)
			if status != 1 {
				t.Fatalf("exit %d, want 1\n%s", status, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output does not name %q\n%s", w, out)
				}
			}
		})
	}
}
