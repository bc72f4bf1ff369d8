package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/teststack"
)

// TestQualificationCLI imports a Rockwell-style list and a bad one with `otpatch qualification
// import`, and sets and lifts a hold with `otpatch qualification set`.
func TestQualificationCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev")
	}
	dir := t.TempDir()
	addr := freePort(t)
	startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	bin, _ := binary()
	url := "http://" + addr
	run := func(args ...string) (string, error) {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"qualification"}, args...)...).CombinedOutput()
		return string(out), err
	}
	lists := filepath.Join("..", "..", "internal", "qualification", "testdata")
	common := []string{"--url", url, "--token", tokens["engineer"], "--mapping", "rockwell", "--list", "Patch qualification for Microsoft updates", "--list-date", "2026-11-30"}

	out, err := run(append(append([]string{"import"}, common...), filepath.Join(lists, "rockwell-2026-11.csv"))...)
	if err != nil || !strings.Contains(out, "6 rows: 6 added, 0 changed, 0 unchanged") || !strings.Contains(out, "KB5035845 FactoryTalk View SE 13.0: held (new)") {
		t.Errorf("import: %v\n%s", err, out)
	}
	out, err = run(append(append([]string{"import"}, common...), filepath.Join(lists, "rockwell-bad.csv"))...)
	if err == nil || !strings.Contains(out, "line 5: status: \"Pending\" is no test status") || !strings.Contains(out, "nothing was changed") {
		t.Errorf("a bad list: %v\n%s", err, out)
	}

	set := []string{"set", "--url", url, "--token", tokens["engineer"], "--patch", "KB5034441", "--product", "FactoryTalk View SE", "--release", "13.0"}
	out, err = run(append(set, "--status", "held")...)
	if err == nil || !strings.Contains(out, "reason: is required when the status is held") {
		t.Errorf("a hold without reason: %v\n%s", err, out)
	}
	out, err = run(append(set, "--status", "held", "--reason", "HMI clients lose their session")...)
	if err != nil || !strings.Contains(out, "KB5034441 FactoryTalk View SE 13.0: held (revision 2, set by") {
		t.Errorf("hold: %v\n%s", err, out)
	}
	var held []map[string]any
	teststack.List(t, nil, url+"/api/v1/qualifications?status=held", tokens["auditor"], &held)
	if len(held) != 2 {
		t.Errorf("%d holds, want the list's and the person's", len(held))
	}
}
