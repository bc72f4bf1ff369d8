package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/hostops"
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

// fakeDevice answers Verify with version and records every call; Hold returns the lock error
// hostops gives.
type fakeDevice struct {
	version string
	calls   []string
}

func (d *fakeDevice) Backup(context.Context) (io.ReadCloser, string, error) {
	d.calls = append(d.calls, "backup")
	return nil, "", errors.New("not used")
}

func (d *fakeDevice) Deploy(context.Context, adapters.DeployRequest, io.Reader) error {
	d.calls = append(d.calls, "deploy")
	return nil
}

func (d *fakeDevice) Verify(context.Context, adapters.VerifyRequest) (adapters.VerifyResult, error) {
	d.calls = append(d.calls, "verify")
	return adapters.VerifyResult{Version: d.version, Healthy: true}, nil
}

func (d *fakeDevice) Restore(context.Context, adapters.RestoreRequest) error {
	d.calls = append(d.calls, "restore")
	return nil
}

func (d *fakeDevice) Hold(_ context.Context, key string, since time.Time) error {
	d.calls = append(d.calls, "hold")
	return &hostops.InterruptedError{Lock: "/var/lib/otpatch-agent/.otpatch/changing", Owner: key + " since " + since.Format(time.RFC3339)}
}

// A change journaled as started with no result (the agent stopped while the device changed)
// is never run again: a deploy the device reports as installed is done; any other change
// holds the device lock and fails permanently, for a person.
func TestSettleCutShortChange(t *testing.T) {
	deploy := &adapters.DeployRequest{IdempotencyKey: "cmp_1/ast_1/deploy", ToVersion: "2.0.0", ArtifactSize: 1, ArtifactSHA256: strings.Repeat("a", 64)}
	verify := &adapters.VerifyRequest{Expect: "2.0.0", Step: `["cat","version"]`}
	restore := &adapters.RestoreRequest{IdempotencyKey: "cmp_1/ast_1/restore", BackupSize: 1, BackupSHA256: strings.Repeat("b", 64)}
	for _, c := range []struct {
		name    string
		job     jobs.Job
		version string
		ok      bool
		calls   string
	}{
		{"deploy the device reports", jobs.Job{Op: jobs.OpDeploy, Deploy: deploy, Verify: verify}, "2.0.0", true, "verify"},
		{"deploy the device does not report", jobs.Job{Op: jobs.OpDeploy, Deploy: deploy, Verify: verify}, "1.0.0", false, "verify hold"},
		{"deploy without a verify step", jobs.Job{Op: jobs.OpDeploy, Deploy: deploy}, "2.0.0", false, "hold"},
		{"restore", jobs.Job{Op: jobs.OpRestore, Restore: restore}, "1.0.0", false, "hold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := &fakeDevice{version: c.version}
			dir := t.TempDir()
			a, err := New(Config{Server: "https://otpatch.example", AssetID: "ast_1", Token: "t", SigningKey: make(ed25519.PublicKey, ed25519.PublicKeySize),
				StateDir: dir, Device: func(adapters.Endpoint) Device { return dev }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			job := c.job
			job.ID, job.AssetID, job.Attempt = "job_1", "ast_1", 1
			job.IdempotencyKey = "cmp_1/ast_1/" + job.Op
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
			if got := strings.Join(dev.calls, " "); got != c.calls {
				t.Errorf("device calls %q, want %q: a cut-short change is asked about, never run again", got, c.calls)
			}
			e := j.get(job.ID, 1)
			if e == nil || e.Result == nil {
				t.Fatalf("no result journaled: %+v", e)
			}
			res := e.Result
			if res.OK != c.ok {
				t.Errorf("result %+v, want ok=%v", res, c.ok)
			}
			if !c.ok && (!res.Permanent || !strings.Contains(res.Error, "did not finish") || !strings.Contains(res.Error, "cmp_1/ast_1/"+job.Op+" since 2026-11-27T10:00:00Z") ||
				!strings.Contains(res.Error, "remove /var/lib/otpatch-agent/.otpatch/changing")) {
				t.Errorf("failure %+v, want the device lock's permanent error naming the change and the lock", res)
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
