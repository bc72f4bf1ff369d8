// Package hostopstest lays out a small "Linux gateway" in a folder for the tests of hostops and
// of the adapters built on it: a firmware version file, configuration files, an installer that
// changes them, and the verify and rollback steps a vendor's manifest would carry.
package hostopstest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/otpatch/otpatch/internal/adapters"
)

// Gateway is a test device in Root running version 1.0: Root/version, Root/etc/gw.conf
// (mode=safe) and Root/etc/plc.d/line1.conf. Script installs the version given as its first
// argument, changes gw.conf to mode=patched, removes line1.conf and appends to
// Root/installs.log; it prints "installing VERSION as USER" on stdout and the old version on
// stderr. Verify prints the version; Rollback appends to Root/rollbacks.log.
type Gateway struct {
	Root     string
	Script   []byte
	Verify   string
	Rollback string
}

// NewGateway lays a gateway out in root.
func NewGateway(t testing.TB, root string) *Gateway {
	t.Helper()
	g := &Gateway{Root: root}
	Write(t, filepath.Join(root, "version"), "1.0\n")
	Write(t, filepath.Join(root, "etc", "gw.conf"), "mode=safe\n")
	Write(t, filepath.Join(root, "etc", "plc.d", "line1.conf"), "ip=10.0.0.1\n")
	g.Script = []byte(fmt.Sprintf(`#!/bin/sh
set -e
dev=%q
echo "installing $1 as $(id -un)"
echo "from $(cat "$dev/version")" >&2
echo "$1" > "$dev/version"
echo "mode=patched" > "$dev/etc/gw.conf"
rm -f "$dev/etc/plc.d/line1.conf"
echo run >> "$dev/installs.log"
`, root))
	g.Verify = MustJSON(t, []string{"/bin/cat", filepath.Join(root, "version")})
	g.Rollback = MustJSON(t, []string{"/bin/sh", "-c", `echo rolled back; echo run >> "$0/rollbacks.log"`, root})
	return g
}

// BackupPaths are the gateway's configuration and version: what its backup holds.
func (g *Gateway) BackupPaths() []string {
	return []string{filepath.Join(g.Root, "etc"), filepath.Join(g.Root, "version")}
}

// DeployRequest installs version with the gateway's installer (no artifact opener).
func (g *Gateway) DeployRequest(key, version string) adapters.DeployRequest {
	return adapters.DeployRequest{
		IdempotencyKey: key, PatchID: "p1", ToVersion: version,
		ArtifactName: "gw-" + version + ".sh", ArtifactSize: int64(len(g.Script)), ArtifactSHA256: Sum(g.Script),
		Install: `["/bin/sh","{artifact}","{version}"]`,
	}
}

// Write writes a file, making its folder.
func Write(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Read reads a file; a missing one reads as "".
func Read(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// MustJSON encodes v (a step's argument list).
func MustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Sum is the SHA-256 of b in hex.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
