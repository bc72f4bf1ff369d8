package sshdevice_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/ssh"
	"github.com/otpatch/otpatch/internal/demo/sshdevice"
)

func clientKey(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func start(t *testing.T, dir string, key gossh.PublicKey) *sshdevice.Device {
	t.Helper()
	d, err := sshdevice.Start(context.Background(), dir, key)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The demo device with the real ssh adapter: backup, a failed deploy, a deploy, verify, restore.
func TestRoundTripWithSSHAdapter(t *testing.T) {
	dir := t.TempDir()
	if err := sshdevice.Provision(dir, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	key := clientKey(t)
	dev := start(t, dir, key.PublicKey())
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, []byte(dev.HostKeyLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := ssh.New(ssh.Config{Signer: key, KnownHostsFile: known, CommandTimeout: 30 * time.Second},
		func(context.Context, string) (adapters.Endpoint, error) { return dev.Endpoint("otpatch"), nil })
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	ctx := adapters.WithOutput(context.Background(), func(stream, text string) { log.WriteString(stream + ": " + text) })

	rc, checksum, err := a.Backup(ctx, "gw")
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	backup, _ := io.ReadAll(rc)
	rc.Close()
	if sum(backup) != checksum {
		t.Fatalf("backup checksum %s, stream %s", checksum, sum(backup))
	}

	req := adapters.DeployRequest{IdempotencyKey: "c1/gw/deploy", ToVersion: "2.0.0", ArtifactName: "gw-update-2.0.0.sh",
		ArtifactSize: int64(len(sshdevice.Installer)), ArtifactSHA256: sum(sshdevice.Installer), Install: sshdevice.InstallStep,
		Artifact: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(sshdevice.Installer)), nil
		}}

	// The fail marker makes one install fail, as a demo of a failed deploy.
	if err := os.WriteFile(filepath.Join(dir, sshdevice.FailMarker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err = a.Deploy(ctx, "gw", req)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "flash write failed") {
		t.Fatalf("Deploy with the fail marker: %v", err)
	}
	if err := a.Deploy(ctx, "gw", req); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if v := read(t, filepath.Join(dir, "firmware", "version")); v != "2.0.0\n" {
		t.Fatalf("firmware after deploy = %q", v)
	}
	res, err := a.Verify(ctx, "gw", adapters.VerifyRequest{Expect: "2.0.0", Step: sshdevice.VerifyStep})
	if err != nil || !res.Healthy || res.Version != "2.0.0" {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	if err := a.Restore(ctx, "gw", adapters.RestoreRequest{IdempotencyKey: "c1/gw/restore", BackupSHA256: checksum,
		BackupSize: int64(len(backup)), Step: sshdevice.RollbackStep, Backup: bytes.NewReader(backup)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if v := read(t, filepath.Join(dir, "firmware", "version")); v != "1.0.0\n" {
		t.Fatalf("firmware after restore = %q", v)
	}
	if c := read(t, filepath.Join(dir, "etc", "gateway.conf")); !strings.Contains(c, "hardening=off") {
		t.Fatalf("gateway.conf after restore = %q", c)
	}
	for _, want := range []string{"install stdout: gw-update: running firmware 1.0.0, installing 2.0.0",
		"rollback stdout: gateway service restarted on firmware 1.0.0"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("deployment log lacks %q:\n%s", want, log.String())
		}
	}

	// A hanging command is stopped by the adapter's signal.
	slow, err := ssh.New(ssh.Config{Signer: key, KnownHostsFile: known, CommandTimeout: 500 * time.Millisecond},
		func(context.Context, string) (adapters.Endpoint, error) { return dev.Endpoint("otpatch"), nil })
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if _, err := slow.Verify(ctx, "gw", adapters.VerifyRequest{Step: "sleep 30"}); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Verify of a hanging step: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("hanging step took %s to stop", took)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	key := clientKey(t)
	dev := start(t, dir, key.PublicKey())
	hostKeys, err := knownhosts.New(writeKnown(t, dev.HostKeyLine()))
	if err != nil {
		t.Fatal(err)
	}
	dial := func(s gossh.Signer) (*gossh.Client, error) {
		return gossh.Dial("tcp", dev.Addr(), &gossh.ClientConfig{User: "otpatch", Auth: []gossh.AuthMethod{gossh.PublicKeys(s)},
			HostKeyCallback: hostKeys, Timeout: 5 * time.Second})
	}
	if c, err := dial(clientKey(t)); err == nil {
		c.Close()
		t.Fatal("an unauthorized key logged in")
	}
	c, err := dial(key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err == nil {
		t.Error("a pty was granted")
	}
	if err := sess.Shell(); err == nil {
		t.Error("a shell was granted")
	}
	sess.Close()
	if _, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		t.Error("port forwarding was granted")
	}
	sess, _ = c.NewSession()
	out, err := sess.CombinedOutput(`pwd; echo "$HOME"; exit 7`)
	var ee *gossh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 {
		t.Fatalf("exit status: %v", err)
	}
	root, _ := filepath.Abs(dir)
	if string(out) != root+"\n"+root+"\n" {
		t.Fatalf("pwd and HOME = %q, want %s twice", out, root)
	}
}

func writeKnown(t *testing.T, line string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// The host key and, when free, the port survive a restart, so known_hosts and the asset's
// address stay valid.
func TestRestartKeepsHostKeyAndPort(t *testing.T) {
	dir := t.TempDir()
	key := clientKey(t)
	d1, err := sshdevice.Start(context.Background(), dir, key.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	line, addr := d1.HostKeyLine(), d1.Addr()
	d1.Close()
	d2 := start(t, dir, key.PublicKey())
	if d2.HostKeyLine() != line || d2.Addr() != addr {
		t.Fatalf("after restart: %s %s, before: %s %s", d2.Addr(), d2.HostKeyLine(), addr, line)
	}
}
