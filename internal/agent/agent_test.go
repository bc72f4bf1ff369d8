package agent

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/agent/jobs"
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
