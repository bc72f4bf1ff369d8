package hostops_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/hostops"
	"github.com/otpatch/otpatch/internal/hostops/hostopstest"
)

// device is a temporary "Linux gateway": a version file and configuration files under root,
// and an install script artifact that records each run.
type device struct {
	root     string
	host     *hostops.Host
	workDir  string
	script   []byte
	verify   string
	rollback string
	gw       *hostopstest.Gateway
}

func newDevice(t *testing.T) *device {
	t.Helper()
	for _, tool := range []string{"tar", "sha256sum", "dd", "realpath", "stat"} {
		if _, err := os.Stat("/usr/bin/" + tool); err != nil {
			if _, err := os.Stat("/bin/" + tool); err != nil {
				t.Skipf("%s not found: hostops needs the standard Linux tools", tool)
			}
		}
	}
	base := t.TempDir()
	g := hostopstest.NewGateway(t, filepath.Join(base, "device"))
	d := &device{root: g.Root, script: g.Script, verify: g.Verify, rollback: g.Rollback, gw: g}
	home := filepath.Join(base, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	d.host = &hostops.Host{
		Run: hostops.Local{Dir: home},
		Endpoint: adapters.Endpoint{
			BackupPaths: g.BackupPaths(),
			WorkDir:     "work", // relative to the runner's directory
		},
		Timeout: time.Minute,
	}
	d.workDir = filepath.Join(home, "work")
	return d
}

var (
	write    = hostopstest.Write
	read     = hostopstest.Read
	mustJSON = hostopstest.MustJSON
	sum      = hostopstest.Sum
)

// backup takes a backup of the device and returns it with its checksum.
func (d *device) backup(t *testing.T) ([]byte, string) {
	t.Helper()
	rc, checksum, err := d.host.Backup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, checksum
}

// deployRequest installs version with d.script (a test may have swapped the installer).
func (d *device) deployRequest(key, version string) adapters.DeployRequest {
	req := d.gw.DeployRequest(key, version)
	req.ArtifactSize, req.ArtifactSHA256 = int64(len(d.script)), sum(d.script)
	return req
}

func withOutput(ctx context.Context) (context.Context, *adapters.Recorder) {
	r := &adapters.Recorder{}
	return r.Record(ctx), r
}

func TestRoundTrip(t *testing.T) {
	d := newDevice(t)
	ctx, out := withOutput(context.Background())

	rc, checksum, err := d.host.Backup(ctx)
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
	if checksum != sum(backup) {
		t.Fatalf("Backup checksum %s, but the stream's SHA-256 is %s", checksum, sum(backup))
	}
	if left, _ := filepath.Glob(filepath.Join(d.workDir, "backup-*")); len(left) != 0 {
		t.Fatalf("backup archive left on the host after Close: %v", left)
	}

	req := d.deployRequest("campaign-1/asset-1/deploy", "2.0")
	if err := d.host.Deploy(ctx, req, bytes.NewReader(d.script)); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if v := read(t, filepath.Join(d.root, "version")); v != "2.0\n" {
		t.Fatalf("version after deploy = %q, want 2.0", v)
	}
	if got := out.Get("install stdout"); !strings.Contains(got, "installing 2.0") {
		t.Fatalf("install stdout recorded = %q", got)
	}
	if got := out.Get("install stderr"); !strings.Contains(got, "from 1.0") {
		t.Fatalf("install stderr recorded = %q", got)
	}
	if b := read(t, filepath.Join(d.workDir, "artifacts", "gw-2.0.sh")); b != string(d.script) {
		t.Fatalf("artifact on the host differs from the one sent")
	}

	// The same request again (a retried activity) installs nothing.
	if err := d.host.Deploy(ctx, req, bytes.NewReader(d.script)); err != nil {
		t.Fatalf("second Deploy: %v", err)
	}
	if runs := read(t, filepath.Join(d.root, "installs.log")); runs != "run\n" {
		t.Fatalf("installer ran %d times, want once", strings.Count(runs, "run"))
	}

	res, err := d.host.Verify(ctx, adapters.VerifyRequest{Expect: "2.0", Step: d.verify})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.Healthy || res.Version != "2.0" {
		t.Fatalf("Verify = %+v, want healthy 2.0", res)
	}

	rreq := adapters.RestoreRequest{IdempotencyKey: "campaign-1/asset-1/restore", BackupSHA256: checksum,
		BackupSize: int64(len(backup)), Step: d.rollback, Backup: bytes.NewReader(backup)}
	if err := d.host.Restore(ctx, rreq); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if v := read(t, filepath.Join(d.root, "version")); v != "1.0\n" {
		t.Fatalf("version after restore = %q, want 1.0", v)
	}
	if c := read(t, filepath.Join(d.root, "etc", "gw.conf")); c != "mode=safe\n" {
		t.Fatalf("gw.conf after restore = %q", c)
	}
	if c := read(t, filepath.Join(d.root, "etc", "plc.d", "line1.conf")); c != "ip=10.0.0.1\n" {
		t.Fatalf("line1.conf after restore = %q, want it back", c)
	}
	if got := out.Get("rollback stdout"); !strings.Contains(got, "rolled back") {
		t.Fatalf("rollback stdout recorded = %q", got)
	}
	rreq.Backup = bytes.NewReader(backup)
	if err := d.host.Restore(ctx, rreq); err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	if runs := read(t, filepath.Join(d.root, "rollbacks.log")); runs != "run\n" {
		t.Fatalf("rollback step ran %d times, want once", strings.Count(runs, "run"))
	}
	if left, _ := filepath.Glob(filepath.Join(d.workDir, "restore-*")); len(left) != 0 {
		t.Fatalf("restore archive left on the host: %v", left)
	}
	res, err = d.host.Verify(ctx, adapters.VerifyRequest{Expect: "2.0", Step: d.verify})
	if err != nil || res.Version != "1.0" {
		t.Fatalf("Verify after restore = %+v, %v; want version 1.0", res, err)
	}
}

func TestDeployRefusesCorruptArtifact(t *testing.T) {
	d := newDevice(t)
	req := d.deployRequest("k1", "2.0")
	corrupt := bytes.Clone(d.script)
	corrupt[len(corrupt)-2] ^= 1
	err := d.host.Deploy(context.Background(), req, bytes.NewReader(corrupt))
	if err == nil {
		t.Fatal("Deploy of a corrupted artifact succeeded")
	}
	for _, want := range []string{sum(corrupt), req.ArtifactSHA256, "nothing was installed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(d.root, "installs.log")); err == nil {
		t.Fatal("the installer ran")
	}
	if left, _ := os.ReadDir(filepath.Join(d.workDir, "artifacts")); len(left) != 0 {
		t.Fatalf("artifacts left on the host: %v", left)
	}

	// A truncated artifact whose sum the request states for the full one: refused too.
	err = d.host.Deploy(context.Background(), req, bytes.NewReader(d.script[:10]))
	if err == nil || !strings.Contains(err.Error(), "over 10 bytes") {
		t.Fatalf("Deploy of a truncated artifact: %v", err)
	}
}

func TestDeployArtifactReadError(t *testing.T) {
	d := newDevice(t)
	req := d.deployRequest("k1", "2.0")
	r := io.MultiReader(bytes.NewReader(d.script[:5]), errReader{errors.New("object store went away")})
	err := d.host.Deploy(context.Background(), req, r)
	if err == nil || !strings.Contains(err.Error(), "object store went away") {
		t.Fatalf("Deploy with a failing artifact reader: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.root, "installs.log")); err == nil {
		t.Fatal("the installer ran")
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestDeployFailingInstall(t *testing.T) {
	d := newDevice(t)
	d.script = []byte("#!/bin/sh\necho step one\necho 'disk full' >&2\necho run >> " + filepath.Join(d.root, "installs.log") + "\nexit 4\n")
	req := d.deployRequest("k1", "2.0")
	ctx, out := withOutput(context.Background())
	err := d.host.Deploy(ctx, req, bytes.NewReader(d.script))
	var ce *hostops.CommandError
	if !errors.As(err, &ce) || ce.Exit.Status != 4 || !strings.Contains(err.Error(), "exit status 4") ||
		!strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Deploy with a failing installer: %v", err)
	}
	if !strings.Contains(out.Get("install stdout"), "step one") {
		t.Fatalf("install stdout not recorded: %q", out.Get("install stdout"))
	}
	// No marker: a retry runs the installer again.
	_ = d.host.Deploy(ctx, req, bytes.NewReader(d.script))
	if runs := read(t, filepath.Join(d.root, "installs.log")); runs != "run\nrun\n" {
		t.Fatalf("installs.log = %q, want two runs", runs)
	}
}

func TestDeployNeedsInstallStep(t *testing.T) {
	d := newDevice(t)
	req := d.deployRequest("k1", "2.0")
	req.Install = ""
	if err := d.host.Deploy(context.Background(), req, bytes.NewReader(d.script)); err == nil || !strings.Contains(err.Error(), "no install step") {
		t.Fatalf("Deploy without an install step: %v", err)
	}
	req.Install = "/bin/sh {artifact}; reboot"
	if err := d.host.Deploy(context.Background(), req, bytes.NewReader(d.script)); err == nil || !strings.Contains(err.Error(), "JSON array") {
		t.Fatalf("Deploy with a shell install step: %v", err)
	}
	req.Install = `["/bin/sh","{artifact}"]`
	req.ArtifactName = "../evil"
	if err := d.host.Deploy(context.Background(), req, bytes.NewReader(d.script)); err == nil || !strings.Contains(err.Error(), "not a plain file name") {
		t.Fatalf("Deploy with artifact name ../evil: %v", err)
	}
}

func TestVerify(t *testing.T) {
	d := newDevice(t)
	ctx, out := withOutput(context.Background())
	tests := []struct {
		name       string
		step       string
		want       adapters.VerifyResult
		wantDetail string
	}{
		{name: "last line", step: mustJSON(t, []string{"/bin/sh", "-c", "echo checking; echo; echo '  2.4.1  '; echo"}),
			want: adapters.VerifyResult{Version: "2.4.1", Healthy: true}},
		{name: "version= form", step: mustJSON(t, []string{"/bin/echo", "version=2.4.1"}),
			want: adapters.VerifyResult{Version: "2.4.1", Healthy: true}},
		{name: "expected version placeholder", step: "/bin/echo {version}",
			want: adapters.VerifyResult{Version: "9.9", Healthy: true}},
		{name: "non-zero exit is unhealthy", step: mustJSON(t, []string{"/bin/sh", "-c", "echo 2.0; echo 'watchdog: service gw down' >&2; exit 3"}),
			want: adapters.VerifyResult{Version: "2.0", Healthy: false}, wantDetail: "exit status 3: watchdog: service gw down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.host.Verify(ctx, adapters.VerifyRequest{Expect: "9.9", Step: tt.step})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Version != tt.want.Version || got.Healthy != tt.want.Healthy || !strings.Contains(got.Detail, tt.wantDetail) {
				t.Fatalf("Verify = %+v, want %+v with detail containing %q", got, tt.want, tt.wantDetail)
			}
		})
	}
	if !strings.Contains(out.Get("verify stderr"), "service gw down") {
		t.Fatalf("verify stderr not recorded: %q", out.Get("verify stderr"))
	}
	if _, err := d.host.Verify(ctx, adapters.VerifyRequest{Expect: "1"}); err == nil || !strings.Contains(err.Error(), "no verify step") {
		t.Fatalf("Verify without a step: %v", err)
	}
	if _, err := d.host.Verify(ctx, adapters.VerifyRequest{Expect: "1", Step: "/bin/sh {artifact}"}); err == nil {
		t.Fatal("Verify with {artifact} succeeded")
	}
	if _, err := d.host.Verify(ctx, adapters.VerifyRequest{Expect: "1", Step: "/nonexistent/gw-verify"}); err == nil {
		t.Fatal("Verify with a missing program succeeded")
	}
}

func TestRestoreRefusesCorruptBackup(t *testing.T) {
	d := newDevice(t)
	ctx := context.Background()
	backup, checksum := d.backup(t)
	write(t, filepath.Join(d.root, "version"), "2.0\n")

	corrupt := bytes.Clone(backup)
	corrupt[len(corrupt)/2] ^= 0xff
	err := d.host.Restore(ctx, adapters.RestoreRequest{IdempotencyKey: "r1", BackupSHA256: checksum, Backup: bytes.NewReader(corrupt)})
	if err == nil || !strings.Contains(err.Error(), checksum) || !strings.Contains(err.Error(), sum(corrupt)) {
		t.Fatalf("Restore of a corrupted backup: %v", err)
	}
	if v := read(t, filepath.Join(d.root, "version")); v != "2.0\n" {
		t.Fatalf("the corrupted backup was extracted: version = %q", v)
	}
	// Not marked: the same key restores once the right bytes arrive.
	if err := d.host.Restore(ctx, adapters.RestoreRequest{IdempotencyKey: "r1", BackupSHA256: checksum, Backup: bytes.NewReader(backup)}); err != nil {
		t.Fatal(err)
	}
	if v := read(t, filepath.Join(d.root, "version")); v != "1.0\n" {
		t.Fatalf("version after restore = %q", v)
	}
}

func TestBackupPaths(t *testing.T) {
	tests := []struct {
		paths   []string
		wantErr string
	}{
		{nil, "no backup paths"},
		{[]string{"etc/gw"}, "not absolute"},
		{[]string{"/etc/../root"}, `".."`},
		{[]string{"/"}, "whole host"},
	}
	for _, tt := range tests {
		h := &hostops.Host{Run: hostops.Local{}, Endpoint: adapters.Endpoint{BackupPaths: tt.paths, WorkDir: t.TempDir()}}
		if _, _, err := h.Backup(context.Background()); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Backup with paths %q: %v, want error containing %q", tt.paths, err, tt.wantErr)
		}
	}
	d := newDevice(t)
	d.host.Endpoint.BackupPaths = []string{filepath.Join(d.root, "missing")}
	if _, _, err := d.host.Backup(context.Background()); err == nil || !strings.Contains(err.Error(), "backup (tar)") {
		t.Fatalf("Backup of a missing path: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	d := newDevice(t)
	d.host.Timeout = 500 * time.Millisecond
	d.script = []byte("#!/bin/sh\necho started\nsleep 30 &\nsleep 30\n")
	req := d.deployRequest("k1", "2.0")
	start := time.Now()
	err := d.host.Deploy(context.Background(), req, bytes.NewReader(d.script))
	if !errors.Is(err, hostops.ErrTimeout) || !strings.Contains(err.Error(), "install step timed out after 500ms") {
		t.Fatalf("Deploy of a hanging installer: %v", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("a timed-out installer took %s to stop", took)
	}

	_, err = d.host.Verify(context.Background(), adapters.VerifyRequest{Step: "/bin/sleep 30"})
	if !errors.Is(err, hostops.ErrTimeout) || !strings.Contains(err.Error(), "verify step timed out after 500ms") {
		t.Fatalf("Verify of a hanging step: %v", err)
	}
}

func TestCancel(t *testing.T) {
	d := newDevice(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := d.host.Verify(ctx, adapters.VerifyRequest{Step: "/bin/sleep 30"})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, hostops.ErrTimeout) {
		t.Fatalf("Verify cancelled by the caller: %v, want the caller's deadline", err)
	}
}

func TestCapture(t *testing.T) {
	c := hostops.NewCapture(10)
	c.Write([]byte("hello"))
	if c.String() != "hello" || c.Truncated() {
		t.Fatalf("Capture = %q", c.String())
	}
	c.Write([]byte(" wonderful world"))
	if got := c.String(); !strings.HasPrefix(got, "hello") || !strings.HasSuffix(got, "world") || !strings.Contains(got, "11 bytes left out") {
		t.Fatalf("Capture = %q", got)
	}
}

// An archive that holds anything outside the asset's backup paths — a planted file elsewhere
// on the host — is refused before anything is extracted, even with a matching SHA-256.
func TestRestoreRefusesMembersOutsideBackupPaths(t *testing.T) {
	d := newDevice(t)
	outside := filepath.Join(filepath.Dir(d.root), "elsewhere")
	write(t, filepath.Join(outside, "evil.sh"), "echo planted\n")
	rel := func(p string) string { return "." + p }
	archive := filepath.Join(t.TempDir(), "crafted.tar.gz")
	if out, err := exec.Command("tar", "-czf", archive, "-C", "/", rel(filepath.Join(d.root, "etc")), rel(outside)).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	os.RemoveAll(outside)
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(d.root, "etc", "gw.conf"), "mode=changed\n")
	err = d.host.Restore(context.Background(), adapters.RestoreRequest{IdempotencyKey: "r-crafted", BackupSHA256: sum(b), BackupSize: int64(len(b)), Backup: bytes.NewReader(b)})
	if err == nil || !strings.Contains(err.Error(), "outside the asset's backup paths") {
		t.Fatalf("Restore of a crafted archive: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "evil.sh")); err == nil {
		t.Fatal("the file outside the backup paths was extracted")
	}
	if c := read(t, filepath.Join(d.root, "etc", "gw.conf")); c != "mode=changed\n" {
		t.Fatalf("gw.conf = %q: part of a refused archive was extracted", c)
	}
}

// An earlier attempt that started changing the device and never finished leaves the device
// lock: otpatch then neither installs again nor restores over what may still be running, and
// says what to check (the error is permanent, so no retry piles on).
func TestInterruptedChangeBlocksTheDevice(t *testing.T) {
	d := newDevice(t)
	ctx := context.Background()
	backup, checksum := d.backup(t)
	write(t, filepath.Join(d.workDir, "changing", "owner"), "campaign-1/asset-1/deploy since 2026-11-27T10:00:00Z\n")

	err := d.host.Deploy(ctx, d.deployRequest("campaign-1/asset-1/deploy", "2.0"), bytes.NewReader(d.script))
	var ie *hostops.InterruptedError
	if !errors.As(err, &ie) || !ie.Permanent() || !strings.Contains(err.Error(), "campaign-1/asset-1/deploy since") {
		t.Fatalf("Deploy on a locked device: %v", err)
	}
	if runs := read(t, filepath.Join(d.root, "installs.log")); runs != "" {
		t.Fatalf("the installer ran on a locked device: %q", runs)
	}
	err = d.host.Restore(ctx, adapters.RestoreRequest{IdempotencyKey: "campaign-1/asset-1/restore", BackupSHA256: checksum, BackupSize: int64(len(backup)), Backup: bytes.NewReader(backup)})
	if !errors.As(err, &ie) {
		t.Fatalf("Restore on a locked device: %v", err)
	}
	// Once a person cleared it, the change goes through and releases the lock.
	os.RemoveAll(filepath.Join(d.workDir, "changing"))
	if err := d.host.Deploy(ctx, d.deployRequest("campaign-1/asset-1/deploy", "2.0"), bytes.NewReader(d.script)); err != nil {
		t.Fatalf("Deploy after the lock was cleared: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.workDir, "changing")); err == nil {
		t.Fatal("the device lock is still there after the deploy")
	}
}

// Hold keeps a device locked for a change whose end nobody recorded: it names the lock for a
// person, every later change is refused until the lock is gone, and holding it again keeps the
// first owner.
func TestHoldLocksTheDevice(t *testing.T) {
	d := newDevice(t)
	ctx := context.Background()
	since := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	err := d.host.Hold(ctx, "campaign-1/asset-1/deploy", since)
	var ie *hostops.InterruptedError
	lock := filepath.Join(d.workDir, "changing")
	if !errors.As(err, &ie) || !ie.Permanent() || ie.Lock != lock || !strings.Contains(err.Error(), "campaign-1/asset-1/deploy since 2026-11-27T10:00:00Z") {
		t.Fatalf("Hold: %v", err)
	}
	if owner := strings.TrimSpace(read(t, filepath.Join(lock, "owner"))); owner != "campaign-1/asset-1/deploy since 2026-11-27T10:00:00Z" {
		t.Errorf("lock owner %q", owner)
	}
	if err := d.host.Deploy(ctx, d.deployRequest("campaign-1/asset-1/deploy", "2.0"), bytes.NewReader(d.script)); !errors.As(err, &ie) {
		t.Fatalf("Deploy on a held device: %v", err)
	}
	if runs := read(t, filepath.Join(d.root, "installs.log")); runs != "" {
		t.Fatalf("the installer ran on a held device: %q", runs)
	}
	if err := d.host.Hold(ctx, "campaign-2/asset-1/restore", since.Add(time.Hour)); !errors.As(err, &ie) || !strings.Contains(err.Error(), "campaign-1/asset-1/deploy since") {
		t.Fatalf("Hold of a held device: %v, want the first owner named", err)
	}
}

// A work directory that other accounts can write to, or one inside a backup path, is refused
// before anything is copied or run.
func TestWorkDirMustBeOtpatchsOwn(t *testing.T) {
	d := newDevice(t)
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(d.workDir, "artifacts"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(d.workDir, "artifacts"), 0o777); err != nil {
		t.Fatal(err)
	}
	err := d.host.Deploy(ctx, d.deployRequest("k1", "2.0"), bytes.NewReader(d.script))
	if err == nil || !strings.Contains(err.Error(), "can be written by other accounts") {
		t.Fatalf("Deploy with a world-writable artifacts directory: %v", err)
	}
	if runs := read(t, filepath.Join(d.root, "installs.log")); runs != "" {
		t.Fatalf("the installer ran: %q", runs)
	}
	inside := *d.host
	inside.Endpoint.WorkDir = filepath.Join(d.root, "etc", ".otpatch")
	if _, _, err := inside.Backup(ctx); err == nil || !strings.Contains(err.Error(), "inside the backup path") {
		t.Fatalf("Backup with the work directory inside a backup path: %v", err)
	}
}
