package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/feeds/feedstest"
	"github.com/otpatch/otpatch/internal/teststack"
)

// TestCSAFSyncCLI syncs a provider served over HTTPS with `otpatch csaf sync` (the feed's
// sync runs on the dev instance's worker), then a copy of the provider's tree, as carried to
// an air-gapped site, with `otpatch csaf sync --dir`: without a fingerprint nothing is
// trusted and the command fails; with the provider's, a tampered advisory is refused by name.
func TestCSAFSyncCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev")
	}
	shared := filepath.Join("..", "..", "..", "shared", "testdata", "csaf")
	p := feedstest.NewProvider(t)
	jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	a := &feedstest.Advisory{Name: "icsa-21-131-09.json", Raw: feedstest.RealAdvisory(t, shared, "icsa-21-131-09.json"), Updated: jan, InFeed: true, InDir: true}
	b := &feedstest.Advisory{Name: "icsa-21-145-02.json", Raw: feedstest.RealAdvisory(t, shared, "icsa-21-145-02.json"), Updated: jan, InDir: true}
	p.Docs = []*feedstest.Advisory{a, b}
	p.Publish()

	dir := t.TempDir()
	addr := freePort(t)
	startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	base := "http://" + addr
	bin, _ := binary()

	var feed struct {
		ID string `json:"id"`
	}
	if st := teststack.Call(t, nil, "POST", base+"/api/v1/feeds", tokens["engineer"], map[string]any{"url": p.MetadataURL(), "ca_pem": p.CAPEM()}, &feed); st != http.StatusCreated {
		t.Fatalf("create feed: %d", st)
	}
	out, err := exec.Command(bin, "csaf", "sync", "--url", base, "--token", tokens["engineer"]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), feed.ID) || !strings.Contains(string(out), ": ok; 2 ingested") {
		t.Fatalf("csaf sync: %v\n%s", err, out)
	}

	// The tree carried offline, with one advisory changed since and tampered with.
	b.Updated = jan.Add(24 * time.Hour)
	p.Publish()
	tree := filepath.Join(t.TempDir(), "provider")
	for name, f := range p.Snapshot() {
		path := filepath.Join(tree, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(path), 0o755)
		data := f.Data
		if strings.HasSuffix(name, b.Name) {
			data = append([]byte(" "), data...)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The tree's provider-metadata URL is the online feed's: its documents are recorded there.
	out, err = exec.Command(bin, "csaf", "sync", "--url", base, "--token", tokens["engineer"], "--dir", tree, "--fingerprint", feedstest.Fingerprint(p.Key)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused "+p.DocURL(b)+": hash mismatch") {
		t.Fatalf("csaf sync --dir of a tampered tree: %v\n%s", err, out)
	}
}
