package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/teststack"
)

// TestCSAFIngestCLI loads real CISA advisories with `otpatch csaf ingest` and checks a broken
// file makes the command fail while the good ones are still ingested.
func TestCSAFIngestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev")
	}
	shared := filepath.Join("..", "..", "..", "shared", "testdata", "csaf")
	files, _ := filepath.Glob(filepath.Join(shared, "icsa-2*.json"))
	if len(files) < 2 {
		t.Skipf("no CSAF advisories in %s", shared)
	}
	dir := t.TempDir()
	addr := freePort(t)
	startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`{"document": {"csaf_version": "2.0"`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, _ := binary()
	cmd := exec.Command(bin, "csaf", "ingest", "--url", "http://"+addr, "--token", tokens["engineer"], files[0], files[1], broken)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("ingest with a broken file succeeded:\n%s", out)
	}
	for _, want := range []string{strings.TrimSuffix(filepath.Base(files[0]), ".json"), "broken.json"} {
		if !strings.Contains(strings.ToLower(string(out)), strings.ToLower(want)) {
			t.Errorf("output does not mention %s:\n%s", want, out)
		}
	}
	var list []map[string]any
	teststack.List(t, nil, "http://"+addr+"/api/v1/advisories", tokens["engineer"], &list)
	if len(list) != 2 {
		t.Errorf("%d advisories stored, want the 2 good ones", len(list))
	}
}
