package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/hostops"
	"github.com/otpatch/otpatch/internal/hostops/hostopstest"
)

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "server URL") || !strings.Contains(err.Error(), "agent token") ||
		!strings.Contains(err.Error(), "job-signing public key") || !strings.Contains(err.Error(), "asset") {
		t.Errorf("empty config: %v, want every missing setting named", err)
	}
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	for _, server := range []string{"http://otpatch.example:8080", "otpatch.example", "ftp://x"} {
		_, err := New(Config{Server: server, AssetID: "ast_1", Token: "t", SigningKey: pub, StateDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "only over HTTPS") {
			t.Errorf("server %q: %v, want HTTPS required", server, err)
		}
	}
	if _, err := New(Config{Server: "https://otpatch.example", AssetID: "ast_1", Token: "t", SigningKey: pub, StateDir: t.TempDir()}); err != nil {
		t.Errorf("complete config: %v", err)
	}
}

func TestJournal(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &entry{JobID: "job_1", Attempt: 2, Op: "deploy"}
	if err := j.put(e); err != nil {
		t.Fatal(err)
	}
	if got := j.unreported(); len(got) != 0 {
		t.Errorf("an entry without a result is unreported: %+v", got)
	}
	e.Starts, e.Result = 1, &jobs.Result{Attempt: 2, OK: true}
	if err := j.put(e); err != nil {
		t.Fatal(err)
	}
	// Reopened after a restart: the result is there and still to be reported.
	j2, _ := openJournal(dir)
	if got := j2.get("job_1", 2); got == nil || got.Result == nil || !got.Result.OK {
		t.Fatalf("journal after reopen: %+v", got)
	}
	if j2.get("job_1", 1) != nil {
		t.Error("attempt 1 found; entries are per attempt")
	}
	if got := j2.unreported(); len(got) != 1 {
		t.Fatalf("unreported = %+v", got)
	}
	_ = j2.reported(j2.unreported()[0])
	if got := j2.unreported(); len(got) != 0 {
		t.Errorf("unreported after reporting = %+v", got)
	}
}

// recordingDevice is a real device that records every call made to it.
type recordingDevice struct {
	Device
	calls *[]string
}

func (d recordingDevice) Backup(ctx context.Context) (io.ReadCloser, string, error) {
	*d.calls = append(*d.calls, "backup")
	return d.Device.Backup(ctx)
}

func (d recordingDevice) Deploy(ctx context.Context, req adapters.DeployRequest, artifact io.Reader) error {
	*d.calls = append(*d.calls, "deploy")
	return d.Device.Deploy(ctx, req, artifact)
}

func (d recordingDevice) Verify(ctx context.Context, req adapters.VerifyRequest) (adapters.VerifyResult, error) {
	*d.calls = append(*d.calls, "verify")
	return d.Device.Verify(ctx, req)
}

func (d recordingDevice) Restore(ctx context.Context, req adapters.RestoreRequest) error {
	*d.calls = append(*d.calls, "restore")
	return d.Device.Restore(ctx, req)
}

func (d recordingDevice) Hold(ctx context.Context, key string, since time.Time) error {
	*d.calls = append(*d.calls, "hold")
	return d.Device.Hold(ctx, key, since)
}

// A change journaled as started with no result (the agent stopped while the device changed)
// is never run again: a deploy the device reports as installed is done; any other change
// holds the device lock and fails permanently, for a person.
func TestSettleCutShortChange(t *testing.T) {
	for _, c := range []struct {
		name    string
		op      string
		verify  bool
		version string // what the device runs
		ok      bool
		calls   string
	}{
		{"deploy the device reports", jobs.OpDeploy, true, "2.0", true, "verify"},
		{"deploy the device does not report", jobs.OpDeploy, true, "1.0", false, "verify hold"},
		{"deploy without a verify step", jobs.OpDeploy, false, "2.0", false, "hold"},
		{"restore", jobs.OpRestore, false, "1.0", false, "hold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			g := hostopstest.NewGateway(t, filepath.Join(base, "device"))
			hostopstest.Write(t, filepath.Join(g.Root, "version"), c.version+"\n")
			home := filepath.Join(base, "home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				t.Fatal(err)
			}
			var calls []string
			dev := func(ep adapters.Endpoint) Device {
				return recordingDevice{Device: &hostops.Host{Run: hostops.Local{Dir: home}, Endpoint: ep, Timeout: time.Minute}, calls: &calls}
			}
			dir := t.TempDir()
			a, err := New(Config{Server: "https://otpatch.example", AssetID: "ast_1", Token: "t", SigningKey: make(ed25519.PublicKey, ed25519.PublicKeySize),
				StateDir: dir, Device: dev, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			key := "cmp_1/ast_1/" + c.op
			job := jobs.Job{ID: "job_1", AssetID: "ast_1", Attempt: 1, Op: c.op, IdempotencyKey: key,
				Endpoint: adapters.Endpoint{BackupPaths: g.BackupPaths(), WorkDir: "work"}}
			if c.op == jobs.OpDeploy {
				req := g.DeployRequest(key, "2.0")
				job.Deploy = &req
			} else {
				job.Restore = &adapters.RestoreRequest{IdempotencyKey: key, BackupSize: 1, BackupSHA256: strings.Repeat("b", 64)}
			}
			if c.verify {
				job.Verify = &adapters.VerifyRequest{Expect: "2.0", Step: g.Verify}
			}
			started := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
			if err := a.journal.put(&entry{JobID: job.ID, Attempt: 1, Op: job.Op, Starts: 1, Job: &job, ChangeStarted: &started}); err != nil {
				t.Fatal(err)
			}
			// As after a restart: a new journal over the same state directory.
			j, err := openJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			cut := j.cutShort()
			if len(cut) != 1 || cut[0].Job == nil || cut[0].Job.Op != job.Op {
				t.Fatalf("cut-short changes after a restart: %+v", cut)
			}
			if err := a.settle(context.Background(), cut[0]); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(calls, " "); got != c.calls {
				t.Errorf("device calls %q, want %q: a cut-short change is asked about, never run again", got, c.calls)
			}
			if _, err := os.Stat(filepath.Join(g.Root, "installs.log")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the installer ran while settling (%v)", err)
			}
			e := j.get(job.ID, 1)
			if e == nil || e.Result == nil {
				t.Fatalf("no result journaled: %+v", e)
			}
			res := e.Result
			if res.OK != c.ok {
				t.Errorf("result %+v, want ok=%v", res, c.ok)
			}
			lock := filepath.Join(home, "work", "changing")
			owner, lockErr := os.ReadFile(filepath.Join(lock, "owner"))
			if c.ok && !errors.Is(lockErr, fs.ErrNotExist) {
				t.Errorf("the device is locked (%q, %v) after a deploy it reports as done", owner, lockErr)
			}
			if !c.ok {
				want := key + " since 2026-11-27T10:00:00Z"
				if strings.TrimSpace(string(owner)) != want {
					t.Errorf("device lock owner %q (%v), want %q", owner, lockErr, want)
				}
				if !res.Permanent || !strings.Contains(res.Error, "did not finish") || !strings.Contains(res.Error, want) || !strings.Contains(res.Error, "remove "+lock) {
					t.Errorf("failure %+v, want the device lock's permanent error naming the change and the lock", res)
				}
			}
			if len(res.Output) == 0 || !strings.Contains(res.Output[len(res.Output)-1].Text, "not run again") {
				t.Errorf("output %+v, want the device's answer in the deployment log", res.Output)
			}
			if len(j.cutShort()) != 0 || len(j.unreported()) != 1 {
				t.Errorf("after settling: %d cut short, %d to report; want 0 and 1", len(j.cutShort()), len(j.unreported()))
			}
		})
	}
}
