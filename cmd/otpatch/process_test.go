package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary builds the otpatch command once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "otpatch-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "otpatch")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Stderr = os.Stderr
	return out, cmd.Run()
})

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// devProcess is a running `otpatch dev`.
type devProcess struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startDev(t *testing.T, dir, addr string, extra ...string) *devProcess {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("build otpatch: %v", err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, append([]string{"dev", "--demo", "--data", dir, "--listen", addr}, extra...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "OTPATCH_SIM_STEP=700ms")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, out: &out}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("otpatch dev output:\n%s", tail(out.String(), 4000))
		}
	})
	// A bound, not a measure: on a machine busy with the rest of the suite a start has taken
	// over a minute.
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("otpatch dev did not become ready:\n%s", tail(out.String(), 4000))
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type apiClient struct {
	t    testing.TB
	base string
}

func (c apiClient) do(method, path, token string, body io.Reader, contentType string, out any) int {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %s", method, path, raw)
		}
	}
	return res.StatusCode
}

func (c apiClient) json(method, path, token string, body any, out any) int {
	b, _ := json.Marshal(body)
	return c.do(method, path, token, bytes.NewReader(b), "application/json", out)
}

// checkOneDeployEach asserts that every target runs V2.9.4 and records exactly one deploy for
// the campaign, whatever was killed during it.
func checkOneDeployEach(t *testing.T, c apiClient, token, campID string, targets []string) {
	t.Helper()
	for _, id := range targets {
		var a struct {
			Device struct {
				Version    string `json:"version"`
				Operations []struct {
					Op             string `json:"op"`
					IdempotencyKey string `json:"idempotency_key"`
				} `json:"operations"`
			} `json:"device"`
		}
		c.json("GET", "/api/v1/assets/"+id, token, nil, &a)
		deploys := 0
		for _, op := range a.Device.Operations {
			if op.Op == "deploy" && strings.HasPrefix(op.IdempotencyKey, campID+"/") {
				deploys++
			}
		}
		if deploys != 1 || a.Device.Version != "V2.9.4" {
			t.Errorf("%s: %d deploys for the campaign, version %s; want exactly 1 and V2.9.4", id, deploys, a.Device.Version)
		}
	}
}

// startPLCCampaign submits a signed ControlStation PLC patch with the CLI, opens the packaging
// zone's window now with maxParallel, and starts and approves a campaign for its four PLCs.
// It returns the campaign id and a function that reads the campaign.
func startPLCCampaign(t *testing.T, c apiClient, dir string, tokens map[string]string, artifactBytes, maxParallel int) (string, func() campaignState) {
	t.Helper()
	patchID := submitPLCPatch(t, c, dir, tokens, artifactBytes)
	c.json("PUT", "/api/v1/zones/zone_packaging/window", tokens["engineer"], map[string]any{"cron": "* * * * *", "duration": "1h", "time_zone": "Europe/Zurich", "max_parallel": maxParallel}, nil)
	var camp struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
	}
	if code := c.json("POST", "/api/v1/campaigns", tokens["engineer"], map[string]any{"name": "PLC fix", "patch_id": patchID, "asset_ids": plcTargets}, &camp); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	status := func() campaignState {
		var s campaignState
		c.json("GET", "/api/v1/campaigns/"+camp.ID, tokens["engineer"], nil, &s)
		return s
	}
	waitFor(t, "awaiting approval", func() (bool, string) { s := status(); return s.Status == "awaiting_approval", s.Status })
	if code := c.json("POST", "/api/v1/campaigns/"+camp.ID+"/decisions", tokens["approver"], map[string]any{"decision": "approve", "plan_digest": camp.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	waitFor(t, "a deploy in flight", func() (bool, string) {
		s := status()
		for _, a := range s.Assets {
			if !a.TestBench && (a.State == "deploying" || a.State == "verifying") {
				return true, s.Status
			}
		}
		return false, s.Status + " " + s.Detail
	})
	return camp.ID, status
}

// submitPLCPatch submits Acme's signed fix for the ControlStation PLCs with dir's demo key and
// waits until it is qualified.
func submitPLCPatch(t *testing.T, c apiClient, dir string, tokens map[string]string, artifactBytes int) string {
	t.Helper()
	bin, _ := binary()
	manifest := filepath.Join(dir, "manifest.json")
	artifact := filepath.Join(dir, "plc-2.9.4.fw")
	if err := os.WriteFile(artifact, bytes.Repeat([]byte("firmware"), artifactBytes/8), 0o644); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, manifest, "ControlStation-PLC", "V2.9.4", "< V2.9.4")
	runCLI(t, bin, "vendor", "sign", "--key", filepath.Join(dir, "demo-keys", "acme.key"), "--manifest", manifest, "--artifact", artifact)
	patchID := strings.TrimSpace(runCLI(t, bin, "vendor", "submit", "--url", c.base, "--token", tokens["vendor"], "--manifest", signedManifest(manifest), artifact))
	waitFor(t, "qualification", func() (bool, string) {
		var p struct{ Status string }
		c.json("GET", "/api/v1/patches/"+patchID, tokens["engineer"], nil, &p)
		return p.Status == "qualified", p.Status
	})
	return patchID
}

// plcTargets are the packaging line's four PLCs of the demo plant.
var plcTargets = []string{"ast_pkg-plc-01", "ast_pkg-plc-02", "ast_pkg-plc-03", "ast_pkg-plc-04"}

// TestKillDuringDeployment kills `otpatch dev` with SIGKILL while a campaign deploys, starts
// it again on the same data folder, and checks the campaign completes, no simulated device
// was deployed twice, and the audit chain is intact.
func TestKillDuringDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev twice")
	}
	dir := t.TempDir()
	addr := freePort(t)
	p := startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	c := apiClient{t: t, base: "http://" + addr}

	// The vendor signs and submits a patch with the CLI, as the README shows; the window opens
	// for four assets at a time.
	bin, _ := binary()
	campID, status := startPLCCampaign(t, c, dir, tokens, 1600000, 4)
	targets := plcTargets

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	t.Logf("killed otpatch dev during deployment: %s", status0(p))

	startDev(t, dir, addr)
	waitFor(t, "completion after restart", func() (bool, string) {
		s := status()
		return s.Status == "completed" || s.Status == "halted" || s.Status == "rolled_back", s.Status + " " + s.Detail
	})
	final := status()
	if final.Status != "completed" {
		t.Fatalf("campaign %s after restart: %s", final.Status, final.Detail)
	}
	checkOneDeployEach(t, c, tokens["engineer"], campID, targets)
	out := runCLI(t, bin, "audit", "verify", "--data", dir)
	if !strings.Contains(out, "audit log intact") {
		t.Errorf("audit verify: %s", out)
	}
}

func status0(p *devProcess) string { return p.cmd.ProcessState.String() }

type campaignState struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
	Assets []struct {
		AssetID   string `json:"asset_id"`
		State     string `json:"state"`
		TestBench bool   `json:"test_bench"`
	} `json:"assets"`
}

func readTokens(t testing.TB, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "demo-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The file also maps the demo's usernames to their roles ("users"); the tokens are its
	// string fields.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for name, raw := range fields {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			m[name] = s
		}
	}
	for _, role := range []string{"vendor", "vendor2", "engineer", "approver", "safety", "auditor", "admin"} {
		if m[role] == "" {
			t.Errorf("demo-tokens.json has no %s token", role)
		}
	}
	return m
}

func writeManifest(t testing.TB, path, product, version, affected string) {
	t.Helper()
	m := fmt.Sprintf(`{
  "schema": "otpatch.manifest/v1", "vendor": "acme", "product": %q, "patch_id": "ACME-SA-2026-020",
  "version": %q, "title": "ControlStation PLC: Modbus stack overflow fixed", "release_date": "2026-11-02",
  "affected_versions": [%q], "fixed_version": %q, "restart_required": "machine",
  "compatibility": [{"product_version": "V2.9.3", "status": "qualified"}],
  "artifacts": []
}`, product, version, affected, version)
	if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runCLI(t testing.TB, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("otpatch %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func waitFor(t testing.TB, what string, fn func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := fn()
		if ok {
			return
		}
		last = s
		time.Sleep(150 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last: %s)", what, last)
}
