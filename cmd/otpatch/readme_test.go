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
// blocks of the README's walkthroughs exactly as written: the first campaign must complete
// and the second must roll back (the blocks themselves check both with grep).
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
	_, section, ok := strings.Cut(string(readme), "<!-- walkthrough:begin -->")
	section, _, ok2 := strings.Cut(section, "<!-- walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README has no walkthrough markers")
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		script.WriteString(m[1])
	}
	if !strings.Contains(script.String(), "vendor submit") || !strings.Contains(script.String(), "rolled_back") {
		t.Fatal("the walkthrough blocks were not found")
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

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script.String())
	cmd.Dir, cmd.Env = root, env
	out, err := cmd.CombinedOutput()
	t.Logf("walkthrough output (tail):\n%s", tail(string(out), 3000))
	if err != nil {
		t.Fatalf("the README walkthrough failed: %v", err)
	}
}
