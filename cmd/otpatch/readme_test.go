package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeWalkthrough starts otpatch with the README's first command and runs the shell
// blocks of the README's walkthroughs exactly as written against it: first the walkthroughs
// between the walkthrough markers (the first campaign must complete and the second must roll
// back), then the air-gapped site between the airgap markers, after the same shell setup (it
// starts the site's own instance itself, and stops it). The blocks check their outcomes with
// grep.
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the demo's maintenance windows")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	first := regexp.MustCompile("(?s)## The two commands.*?```sh\n(.*?)\n```").FindSubmatch(readme)
	if first == nil || string(first[1]) != "go run ./cmd/otpatch dev --demo" {
		t.Fatalf("the README's first command is not the one this test runs: %q", first)
	}
	walkthrough := readmeBlocks(t, string(readme), "walkthrough")
	if len(walkthrough) == 0 || !strings.Contains(walkthrough[0], `otpatch() {`) {
		t.Fatal("the walkthrough does not start with the shell setup block")
	}
	script := strings.Join(walkthrough, "")
	if !strings.Contains(script, "vendor submit") || !strings.Contains(script, "rolled_back") {
		t.Fatal("the walkthrough blocks were not found")
	}
	airgap := strings.Join(append(walkthrough[:1:1], readmeBlocks(t, string(readme), "airgap")...), "")
	for _, want := range []string{"--transfer-site", "transfer export", "transfer import", "trap ", "evidence verify"} {
		if !strings.Contains(airgap, want) {
			t.Fatalf("the air-gapped site's blocks do not contain %q", want)
		}
	}

	data := t.TempDir()
	addr := freePort(t)
	env := append(os.Environ(), "OTPATCH_DATA="+data, "OTPATCH_LISTEN="+addr, "OTPATCH_URL=http://"+addr)
	var devOut bytes.Buffer
	dev := exec.Command("sh", "-c", string(first[1]))
	dev.Dir, dev.Env, dev.Stdout, dev.Stderr = root, env, &devOut, &devOut
	dev.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-dev.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = dev.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-dev.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("otpatch dev output:\n%s", tail(devOut.String(), 3000))
		}
	})
	waitFor(t, "otpatch dev to answer /healthz", func() (bool, string) {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})

	t.Run("walkthrough", func(t *testing.T) {
		runReadmeScript(t, root, env, script, 10*time.Minute)
	})
	// The air-gapped site runs after the first walkthrough, in the same central instance; it
	// reuses nothing of it but the shell setup. Its site instance listens on SITE_LISTEN.
	t.Run("airgap", func(t *testing.T) {
		runReadmeScript(t, root, append(env, "SITE_LISTEN="+freePort(t), "SITE_TEMPORAL_LISTEN="+freePort(t)), airgap, 12*time.Minute)
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(data, "airgap", "basel.log")); err == nil {
				t.Logf("the site's otpatch dev output (tail):\n%s", tail(string(b), 3000))
			}
		}
	})
}

// readmeBlocks are the ```sh blocks of the README between <!-- NAME:begin --> and
// <!-- NAME:end -->, in order.
func readmeBlocks(t *testing.T, readme, name string) []string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "<!-- "+name+":begin -->")
	section, _, ok2 := strings.Cut(section, "<!-- "+name+":end -->")
	if !ok || !ok2 {
		t.Fatalf("README has no %s markers", name)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) == 0 {
		t.Fatalf("README has no sh blocks between the %s markers", name)
	}
	return blocks
}

// runReadmeScript runs script with bash -euo pipefail in its own process group, so that what
// it started in the background is stopped with it when it runs out of time.
func runReadmeScript(t *testing.T, root string, env []string, script string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = root, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("output (tail):\n%s", tail(string(out), 3000))
	if err != nil {
		t.Fatalf("the README blocks failed: %v", err)
	}
}
