package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// startWorkerTestProcess runs the otpatch binary with args and extra environment, killed at cleanup.
func startWorkerTestProcess(t *testing.T, name string, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("build otpatch: %v", err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(append(os.Environ(), "OTPATCH_SIM_STEP=700ms"), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(out.String(), 3000))
		}
	})
	return cmd, out
}

var (
	printedS3        = regexp.MustCompile(`S3:\s+http://(\S+) \(bucket`)
	printedNamespace = regexp.MustCompile(`Temporal:\s+\S+ \(namespace (\S+)\)`)
)

// TestWorkerKilledDuringWave runs `otpatch dev --no-worker` (Temporal, API, database, S3) and
// `otpatch worker` as its own process, kills the worker with SIGKILL while a wave deploys,
// starts a new worker, and checks that the campaign completes, each asset records exactly one
// deploy for the campaign, and the audit chain verifies.
func TestWorkerKilledDuringWave(t *testing.T) {
	if testing.Short() {
		t.Skip("runs otpatch dev and two otpatch worker processes")
	}
	dir := t.TempDir()
	addr, temporalAddr := freePort(t), freePort(t)
	_, devOut := startWorkerTestProcess(t, "otpatch dev", nil, "dev", "--demo", "--no-worker", "--data", dir, "--listen", addr, "--temporal-listen", temporalAddr)
	c := apiClient{t: t, base: "http://" + addr}
	waitFor(t, "otpatch dev to be ready and print its S3 endpoint", func() (bool, string) {
		res, err := http.Get(c.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK && printedS3.MatchString(devOut.String()) && printedNamespace.MatchString(devOut.String()), res.Status
	})
	if !strings.Contains(devOut.String(), "no worker in this process") {
		t.Errorf("otpatch dev --no-worker does not say it runs no worker")
	}
	var creds devCredentials
	b, err := os.ReadFile(filepath.Join(dir, "s3-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &creds); err != nil {
		t.Fatal(err)
	}
	workerEnv := []string{
		"OTPATCH_DATABASE_URL=" + filepath.Join(dir, "otpatch.db"),
		"OTPATCH_TEMPORAL_ADDRESS=" + temporalAddr,
		"OTPATCH_TEMPORAL_NAMESPACE=" + printedNamespace.FindStringSubmatch(devOut.String())[1],
		"OTPATCH_S3_ENDPOINT=" + printedS3.FindStringSubmatch(devOut.String())[1],
		"OTPATCH_S3_ACCESS_KEY=" + creds.AccessKey,
		"OTPATCH_S3_SECRET_KEY=" + creds.SecretKey,
	}
	worker, _ := startWorkerTestProcess(t, "first otpatch worker", workerEnv, "worker")
	tokens := readTokens(t, dir)

	bin, _ := binary()
	campID, status := startPLCCampaign(t, c, dir, tokens, 400000, 2)
	targets := plcTargets
	if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = worker.Wait()
	before := status()
	t.Logf("killed the worker during the wave: campaign %s (%s)", before.Status, before.Detail)

	startWorkerTestProcess(t, "second otpatch worker", workerEnv, "worker")
	waitFor(t, "completion with the new worker", func() (bool, string) {
		s := status()
		return s.Status == "completed" || s.Status == "halted" || s.Status == "rolled_back", s.Status + " " + s.Detail
	})
	if final := status(); final.Status != "completed" {
		t.Fatalf("campaign %s after the worker restart: %s", final.Status, final.Detail)
	}
	checkOneDeployEach(t, c, tokens["engineer"], campID, targets)
	if out := runCLI(t, bin, "audit", "verify", "--data", dir); !strings.Contains(out, "audit log intact") {
		t.Errorf("audit verify: %s", out)
	}
}
