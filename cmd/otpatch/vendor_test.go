package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVendorCLI runs the vendor's side with the CLI against a running otpatch: keygen, the
// admin trusts the key, sign, submit with progress, qualified with the affected demo assets;
// then the key is revoked and a patch signed with it is refused.
func TestVendorCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev")
	}
	dir := t.TempDir()
	addr := freePort(t)
	startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	c := apiClient{t: t, base: "http://" + addr}
	bin, _ := binary()

	keyBase := filepath.Join(dir, "acme-2026")
	out := runCLI(t, bin, "vendor", "keygen", "--out", keyBase)
	if !strings.Contains(out, "fingerprint SHA256:") {
		t.Errorf("keygen output: %s", out)
	}
	pub, err := os.ReadFile(keyBase + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		ID          string `json:"id"`
		Fingerprint string `json:"fingerprint"`
	}
	if code := c.json("POST", "/api/v1/vendors/vnd_acme/keys", tokens["admin"], map[string]any{"public_key": strings.TrimSpace(string(pub))}, &key); code != http.StatusCreated {
		t.Fatalf("trust key: %d", code)
	}

	manifest := filepath.Join(dir, "manifest.json")
	artifact := filepath.Join(dir, "historian-4.7sp2.msi")
	if err := os.WriteFile(artifact, []byte(strings.Repeat("MSI", 100000)), 0o644); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, manifest, "ViewPanel-HMI", "V16.0.2", "< V16.0.2")
	runCLI(t, bin, "vendor", "sign", "--key", keyBase+".key", "--manifest", manifest, "--artifact", artifact)
	// Flags after the arguments work as before them.
	cmd := exec.Command(bin, "vendor", "submit", signedManifest(manifest), artifact, "--url", c.base, "--token", tokens["vendor"])
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("submit: %v\n%s", err, stderr.String())
	}
	patchID := strings.TrimSpace(string(stdout))
	if !strings.Contains(stderr.String(), "100.0%") || !strings.Contains(stderr.String(), key.Fingerprint) {
		t.Errorf("submit did not show progress and the signing key: %s", stderr.String())
	}
	var p struct {
		Status     string   `json:"status"`
		Applicable []string `json:"applicable_assets"`
	}
	waitFor(t, "qualification", func() (bool, string) {
		c.json("GET", "/api/v1/patches/"+patchID, tokens["engineer"], nil, &p)
		return p.Status == "qualified" || p.Status == "rejected", p.Status
	})
	if p.Status != "qualified" || len(p.Applicable) != 10 {
		t.Errorf("patch %s with %d applicable assets (%v), want qualified with the 10 demo HMIs", p.Status, len(p.Applicable), p.Applicable)
	}

	// The same vendor sends the next version through presigned URLs and waits for the verdict.
	writeManifest(t, manifest, "ViewPanel-HMI", "V16.0.3", "< V16.0.3")
	runCLI(t, bin, "vendor", "sign", "--key", keyBase+".key", "--artifact", artifact, manifest)
	cmd = exec.Command(bin, "vendor", "submit", "--presigned", "--wait", "--url", c.base, "--token", tokens["vendor"], signedManifest(manifest), artifact)
	stderr.Reset()
	cmd.Stderr = &stderr
	if stdout, err = cmd.Output(); err != nil {
		t.Fatalf("presigned submit: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "through presigned upload") || !strings.Contains(stderr.String(), "qualified: applies to 10 assets") {
		t.Errorf("presigned submit with --wait printed: %s", stderr.String())
	}

	if code := c.json("POST", "/api/v1/vendors/vnd_acme/keys/"+key.ID+"/revoke", tokens["admin"], map[string]any{"reason": "key rotated after a build server compromise"}, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	writeManifest(t, manifest, "ViewPanel-HMI", "V16.0.4", "< V16.0.4")
	runCLI(t, bin, "vendor", "sign", "--key", keyBase+".key", "--manifest", manifest, "--artifact", artifact)
	cmd = exec.Command(bin, "vendor", "submit", "--url", c.base, "--token", tokens["vendor"], "--manifest", signedManifest(manifest), artifact)
	msg, err := cmd.CombinedOutput()
	if exitOf(err) != exitFailure || !strings.Contains(string(msg), "submission refused: 4") || !strings.Contains(string(msg), "revoked") {
		t.Errorf("a patch signed with a revoked key: exit %d, output %s; want 1 and the server's problem detail", exitOf(err), msg)
	}
}

// signedManifest is where otpatch vendor sign --artifact writes the completed manifest.
func signedManifest(manifest string) string {
	return strings.TrimSuffix(manifest, ".json") + ".signed.json"
}
