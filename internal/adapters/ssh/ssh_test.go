package ssh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/ssh"
	"github.com/otpatch/otpatch/internal/hostops/hostopstest"
	"github.com/otpatch/otpatch/internal/testenv"
)

const asset = "gw-1"

var (
	write    = hostopstest.Write
	read     = hostopstest.Read
	mustJSON = hostopstest.MustJSON
	sum      = hostopstest.Sum
)

// device is a "Linux gateway" in the home of the test account of a real sshd.
type device struct {
	srv      *testenv.SSHServer
	root     string
	endpoint adapters.Endpoint
	script   []byte
	verify   string
	rollback string
	gw       *hostopstest.Gateway
}

func newDevice(t *testing.T) *device {
	t.Helper()
	srv := testenv.SSHD(t)
	g := hostopstest.NewGateway(t, filepath.Join(srv.Home, "device"))
	d := &device{srv: srv, root: g.Root, script: g.Script, verify: g.Verify, rollback: g.Rollback, gw: g}
	srv.Chown(t)
	d.endpoint = adapters.Endpoint{Address: srv.Addr, User: srv.User, BackupPaths: g.BackupPaths()}
	return d
}

func (d *device) lookup(_ context.Context, id string) (adapters.Endpoint, error) {
	if id != asset {
		return adapters.Endpoint{}, fmt.Errorf("no asset %s", id)
	}
	return d.endpoint, nil
}

func (d *device) adapter(t *testing.T, mod func(*ssh.Config)) *ssh.Adapter {
	t.Helper()
	cfg := ssh.Config{KeyFile: d.srv.KeyFile, KnownHostsFile: d.srv.KnownHostsFile, DialTimeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	a, err := ssh.New(cfg, d.lookup)
	if err != nil {
		t.Fatalf("ssh.New: %v", err)
	}
	return a
}

func (d *device) deployRequest(key, version string, opened *atomic.Int32) adapters.DeployRequest {
	req := d.gw.DeployRequest(key, version)
	req.ArtifactSize, req.ArtifactSHA256 = int64(len(d.script)), sum(d.script)
	req.Artifact = func(context.Context) (io.ReadCloser, error) {
		if opened != nil {
			opened.Add(1)
		}
		return io.NopCloser(bytes.NewReader(d.script)), nil
	}
	return req
}

func withOutput(ctx context.Context) (context.Context, *adapters.Recorder) {
	r := &adapters.Recorder{}
	return r.Record(ctx), r
}

func TestRoundTrip(t *testing.T) {
	d := newDevice(t)
	a := d.adapter(t, nil)
	ctx, out := withOutput(context.Background())
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	rc, checksum, err := a.Backup(ctx, asset)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	backup, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read backup: %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if checksum != sum(backup) || len(backup) == 0 {
		t.Fatalf("Backup checksum %s, but the stream's SHA-256 is %s (%d bytes)", checksum, sum(backup), len(backup))
	}

	var opened atomic.Int32
	req := d.deployRequest("campaign-1/gw-1/deploy", "2.0", &opened)
	if err := a.Deploy(ctx, asset, req); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if v := read(t, filepath.Join(d.root, "version")); v != "2.0\n" {
		t.Fatalf("version after deploy = %q, want 2.0", v)
	}
	if got := out.Get("install stdout"); !strings.Contains(got, "installing 2.0 as "+d.srv.User) {
		t.Fatalf("install stdout recorded = %q", got)
	}
	if got := out.Get("install stderr"); !strings.Contains(got, "from 1.0") {
		t.Fatalf("install stderr recorded = %q", got)
	}
	// The work directory defaults to ~/.otpatch.
	if b := read(t, filepath.Join(d.srv.Home, ".otpatch", "artifacts", "gw-2.0.sh")); b != string(d.script) {
		t.Fatal("artifact not in ~/.otpatch/artifacts")
	}

	if err := a.Deploy(ctx, asset, req); err != nil {
		t.Fatalf("second Deploy: %v", err)
	}
	if runs := read(t, filepath.Join(d.root, "installs.log")); runs != "run\n" {
		t.Fatalf("installer ran %d times, want once", strings.Count(runs, "run"))
	}
	if n := opened.Load(); n != 1 {
		t.Fatalf("artifact opened %d times, want once (not for a request applied before)", n)
	}

	res, err := a.Verify(ctx, asset, adapters.VerifyRequest{Expect: "2.0", Step: d.verify})
	if err != nil || !res.Healthy || res.Version != "2.0" {
		t.Fatalf("Verify = %+v, %v; want healthy 2.0", res, err)
	}

	rreq := adapters.RestoreRequest{IdempotencyKey: "campaign-1/gw-1/restore", BackupSHA256: checksum,
		BackupSize: int64(len(backup)), Step: d.rollback, Backup: bytes.NewReader(backup)}
	if err := a.Restore(ctx, asset, rreq); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if v := read(t, filepath.Join(d.root, "version")); v != "1.0\n" {
		t.Fatalf("version after restore = %q, want 1.0", v)
	}
	if c := read(t, filepath.Join(d.root, "etc", "gw.conf")); c != "mode=safe\n" {
		t.Fatalf("gw.conf after restore = %q", c)
	}
	if got := out.Get("rollback stdout"); !strings.Contains(got, "rolled back") {
		t.Fatalf("rollback stdout recorded = %q", got)
	}
	rreq.Backup = bytes.NewReader(backup)
	if err := a.Restore(ctx, asset, rreq); err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	if runs := read(t, filepath.Join(d.root, "rollbacks.log")); runs != "run\n" {
		t.Fatalf("rollback step ran %d times, want once", strings.Count(runs, "run"))
	}

	// A failing verify step is an unhealthy device, not an error.
	res, err = a.Verify(ctx, asset, adapters.VerifyRequest{Expect: "2.0",
		Step: mustJSON(t, []string{"/bin/sh", "-c", "echo 1.0; echo 'gw service not running' >&2; exit 2"})})
	if err != nil || res.Healthy || res.Version != "1.0" || !strings.Contains(res.Detail, "gw service not running") {
		t.Fatalf("Verify with a failing step = %+v, %v", res, err)
	}
}

// Arguments reach the device exactly as ParseStep made them, whatever they contain.
func TestArgvIsNotReinterpreted(t *testing.T) {
	d := newDevice(t)
	a := d.adapter(t, nil)
	weird := []string{"it's", `"quoted"`, "$HOME", "`id`", "a;b", "a b", "*", "~", "new\nline", "back\\slash", "", "-n"}
	argv := append([]string{"/usr/bin/printf", "[%s]\\n"}, weird...)
	res, err := a.Verify(context.Background(), asset, adapters.VerifyRequest{Step: mustJSON(t, argv)})
	if err != nil || !res.Healthy {
		t.Fatalf("Verify: %+v, %v", res, err)
	}
	ctx, out := withOutput(context.Background())
	if _, err := a.Verify(ctx, asset, adapters.VerifyRequest{Step: mustJSON(t, argv)}); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, w := range weird {
		want.WriteString("[" + w + "]\n")
	}
	if got := out.Get("verify stdout"); got != want.String() {
		t.Fatalf("the device received\n%s\nwant\n%s", got, want.String())
	}
}

func TestDeployRefusesCorruptArtifact(t *testing.T) {
	d := newDevice(t)
	a := d.adapter(t, nil)
	req := d.deployRequest("k1", "2.0", nil)
	corrupt := bytes.Clone(d.script)
	corrupt[5] ^= 1
	req.Artifact = func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(corrupt)), nil }
	err := a.Deploy(context.Background(), asset, req)
	if err == nil || !strings.Contains(err.Error(), sum(corrupt)) || !strings.Contains(err.Error(), sum(d.script)) {
		t.Fatalf("Deploy of a corrupted artifact: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.root, "installs.log")); err == nil {
		t.Fatal("the installer ran")
	}
}

func TestUnknownHostKey(t *testing.T) {
	d := newDevice(t)
	empty := filepath.Join(t.TempDir(), "known_hosts")
	write(t, empty, "# no keys yet\n")
	a := d.adapter(t, func(c *ssh.Config) { c.KnownHostsFile = empty })
	_, err := a.Verify(context.Background(), asset, adapters.VerifyRequest{Step: d.verify})
	var hk *ssh.HostKeyError
	if !errors.As(err, &hk) || len(hk.Pinned) != 0 {
		t.Fatalf("Verify against an unknown host key: %v, want a HostKeyError", err)
	}
	for _, want := range []string{d.srv.Addr, gossh.FingerprintSHA256(d.srv.HostKey), "unknown", empty, d.srv.KnownHostsLine} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// Once an engineer adds the key, the same adapter connects: the file is read per connection.
	write(t, empty, d.srv.KnownHostsLine+"\n")
	if _, err := a.Verify(context.Background(), asset, adapters.VerifyRequest{Step: d.verify}); err != nil {
		t.Fatalf("Verify after the key was added: %v", err)
	}
}

func TestChangedHostKey(t *testing.T) {
	d := newDevice(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := gossh.NewPublicKey(pub)
	file := filepath.Join(t.TempDir(), "known_hosts")
	write(t, file, knownhosts.Line([]string{knownhosts.Normalize(d.srv.Addr)}, other)+"\n")
	a := d.adapter(t, func(c *ssh.Config) { c.KnownHostsFile = file })
	var opened atomic.Int32
	err := a.Deploy(context.Background(), asset, d.deployRequest("k1", "2.0", &opened))
	var hk *ssh.HostKeyError
	if !errors.As(err, &hk) || len(hk.Pinned) != 1 {
		t.Fatalf("Deploy to a changed host key: %v, want a HostKeyError", err)
	}
	for _, want := range []string{d.srv.Addr, "CHANGED", gossh.FingerprintSHA256(d.srv.HostKey), gossh.FingerprintSHA256(other), file + ":1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if opened.Load() != 0 {
		t.Fatal("the artifact was opened for a device that was refused")
	}
}

func TestWrongClientKey(t *testing.T) {
	d := newDevice(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	a := d.adapter(t, func(c *ssh.Config) { c.Signer = signer })
	_, err := a.Verify(context.Background(), asset, adapters.VerifyRequest{Step: d.verify})
	var ae *ssh.AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), gossh.FingerprintSHA256(signer.PublicKey())) ||
		!strings.Contains(err.Error(), "authorized_keys") {
		t.Fatalf("Verify with a key the device does not know: %v, want an AuthError", err)
	}
}

func TestHangingCommandTimesOut(t *testing.T) {
	d := newDevice(t)
	a := d.adapter(t, func(c *ssh.Config) { c.CommandTimeout = time.Second })
	// The step and a child of it hang; both must be gone afterwards.
	step := mustJSON(t, []string{"/bin/sh", "-c", "sleep 61 & sleep 62; echo never"})
	start := time.Now()
	_, err := a.Verify(context.Background(), asset, adapters.VerifyRequest{Step: step})
	if err == nil || !strings.Contains(err.Error(), "verify step timed out after 1s") {
		t.Fatalf("Verify of a hanging step: %v", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("a timed-out step took %s to return", took)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := sleeping(t, d.srv.UID)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the timed-out step still run on the device: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sleeping returns the "sleep 61/62" processes uid runs.
func sleeping(t *testing.T, uid int) []string {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte("sleep\x006")) {
			continue
		}
		info, err := os.Stat(filepath.Join("/proc", e.Name()))
		if err != nil {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
			continue
		}
		found = append(found, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return found
}

func TestNewRefusesBadConfig(t *testing.T) {
	lookup := func(context.Context, string) (adapters.Endpoint, error) { return adapters.Endpoint{}, nil }
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	if _, err := ssh.New(ssh.Config{Signer: signer}, lookup); err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Fatalf("New without known_hosts: %v", err)
	}
	if _, err := ssh.New(ssh.Config{KnownHostsFile: "/nonexistent"}, lookup); err == nil || !strings.Contains(err.Error(), "client key") {
		t.Fatalf("New without a key: %v", err)
	}
	if _, err := ssh.New(ssh.Config{Signer: signer, KnownHostsFile: filepath.Join(t.TempDir(), "missing")}, lookup); err == nil {
		t.Fatal("New with a missing known_hosts file succeeded")
	}
}

func TestQuote(t *testing.T) {
	got := ssh.Quote([]string{"/bin/echo", "it's", "$x y"})
	if want := `'/bin/echo' 'it'\''s' '$x y'`; got != want {
		t.Fatalf("Quote = %s, want %s", got, want)
	}
}
