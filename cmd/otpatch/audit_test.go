package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

// TestAuditVerifyCLI runs `otpatch audit verify` against a log with a signed checkpoint in a
// real MinIO: intact, then the log rewritten consistently in the database — which the log
// alone cannot tell — is caught against the checkpoint; flags that cannot work together are
// refused with exit 2.
func TestAuditVerifyCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds otpatch and starts MinIO")
	}
	ctx := context.Background()
	mc := testenv.MinIO(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "otpatch.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	objs, err := artifacts.New(artifacts.Config{Endpoint: mc.Endpoint, AccessKey: mc.AccessKey, SecretKey: mc.SecretKey, Bucket: "otpatch"})
	if err != nil {
		t.Fatal(err)
	}
	if err := objs.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadOrCreateCheckpointKey(filepath.Join(dir, "checkpoint.key"))
	if err != nil {
		t.Fatal(err)
	}
	cps, err := audit.NewObjectCheckpoints(ctx, objs, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: key, Store: cps})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := st.Append(ctx, store.Event{Actor: "erin", Role: "engineer", Action: "site.created", SubjectType: "site", SubjectID: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cp.CheckpointHead(ctx, st.AuditTreeHead); err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "checkpoint.pub")
	if err := os.WriteFile(pubFile, []byte(signing.EncodePublic(key.Public().(ed25519.PublicKey))), 0o644); err != nil {
		t.Fatal(err)
	}
	st.Close()

	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		out, err := exec.Command(bin, append([]string{"audit", "verify"}, args...)...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	s3 := []string{"--s3-endpoint", mc.Endpoint, "--s3-access-key", mc.AccessKey, "--s3-secret-key", mc.SecretKey, "--s3-bucket", "otpatch"}
	verify := func() (string, int) {
		return run(append([]string{"--database", db, "--checkpoint-key", pubFile}, s3...)...)
	}
	if out, code := verify(); code != 0 || !strings.Contains(out, "audit log intact: 5 events") || !strings.Contains(out, "1 signed checkpoint notes (the newest of a log of 5 events)") {
		t.Fatalf("intact log: exit %d\n%s", code, out)
	}
	// Inconsistent flags: refused (exit 2), never a silent pass.
	for _, args := range [][]string{
		{"--database", db, "--checkpoint-key", pubFile},
		{"--database", db},
		append([]string{"--database", db}, s3...),
		{"--database", db, "--no-checkpoints", "--checkpoint-key", pubFile},
		{"--data", dir, "--database", db},
	} {
		if out, code := run(args...); code != 2 {
			t.Errorf("audit verify %v: exit %d, want 2 (usage)\n%s", args, code, out)
		}
	}
	if out, code := run("--database", db, "--no-checkpoints"); code != 0 || !strings.Contains(out, "WITHOUT signed checkpoints") {
		t.Errorf("--no-checkpoints: exit %d\n%s", code, out)
	}
	// Rewrite event 3 and re-seal everything after it, the tree included, as someone with
	// database access would.
	st, err = store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.AuditEvents(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	prev := evs[1].Hash
	for _, e := range evs[2:] {
		if e.Seq == 3 {
			e.Actor = "mallory"
		}
		e.Seal(e.Seq-1, prev)
		prev = e.Hash
		if err := st.DB().Exec(`UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Actor, e.PrevHash, e.Hash, e.Seq).Error; err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{`DELETE FROM audit_nodes`, `UPDATE audit_head SET tree_size = 0, tree_root = '' WHERE id = 1`} {
		if err := st.DB().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DB().Exec(`UPDATE audit_head SET hash = ? WHERE id = 1`, prev).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil { // rebuilds the tree from the rewritten events
		t.Fatal(err)
	}
	if res, _ := st.VerifyAudit(ctx); !res.OK {
		t.Fatalf("the rewrite should pass the check without checkpoints: %+v", res)
	}
	st.Close()
	if out, code := verify(); code != 3 || !strings.Contains(out, "BROKEN") {
		t.Errorf("a rewritten log passed verification against the checkpoint (exit %d):\n%s", code, out)
	}
}

// The tail-deletion attack on otpatch dev: the server stops cleanly (its last checkpoint
// signs every event), someone with the database deletes the newest events and moves the head
// and the tree back to match. `otpatch audit verify --data` finds it (exit 3); the server,
// started again, logs it, raises a critical alarm (counted on /metrics) and answers /readyz
// 503 naming the audit.
func TestTailDeletionAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev twice")
	}
	ctx := context.Background()
	dir := t.TempDir()
	addr := freePort(t)
	p := startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("otpatch dev did not stop cleanly: %v\n%s", err, tail(p.out.String(), 2000))
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, bin, "audit", "verify", "--data", dir); !strings.Contains(out, "audit log intact") {
		t.Fatalf("before the attack: %s", out)
	}

	st, err := store.Open(filepath.Join(dir, "otpatch.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	size, _, err := st.AuditTreeHead(ctx)
	if err != nil || size < 10 {
		t.Fatalf("log of %d events, %v", size, err)
	}
	// Half the log is cut: the server started again appends events of its own (the alarm, the
	// demo agents' host reports) before the test asks, and the log must stay shorter than what
	// the checkpoint signed for the cut to read as one.
	keep := size / 2
	var hash string
	if err := st.DB().Raw(`SELECT hash FROM audit_events WHERE seq = ?`, keep).Scan(&hash).Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM audit_events WHERE seq > ?`, `DELETE FROM audit_nodes WHERE ? >= 0`} {
		if err := st.DB().Exec(q, keep).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DB().Exec(`UPDATE audit_head SET seq = ?, hash = ?, tree_size = 0, tree_root = '' WHERE id = 1`, keep, hash).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil { // the tree, regrown to match the cut log
		t.Fatal(err)
	}
	if res, err := st.VerifyAudit(ctx); err != nil || !res.OK {
		t.Fatalf("the cut log does not verify on its own (%+v, %v): the attack is not consistent", res, err)
	}
	st.Close()

	cmd := exec.Command(bin, "audit", "verify", "--data", dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), fmt.Sprintf("events %d to %d were removed from the tail", keep+1, size)) {
		t.Fatalf("audit verify after the tail was cut: %v\n%s", err, out)
	}

	var devOut syncBuffer
	maddr := freePort(t)
	dev := exec.Command(bin, "dev", "--demo", "--data", dir, "--listen", addr, "--metrics-listen", maddr)
	dev.Stdout, dev.Stderr = &devOut, &devOut
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Process.Kill(); _ = dev.Wait() })
	var ready struct {
		Audit string `json:"audit"`
	}
	waitFor(t, "/readyz to report the broken audit log", func() (bool, string) {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		defer res.Body.Close()
		_ = json.NewDecoder(res.Body).Decode(&ready)
		return res.StatusCode == http.StatusServiceUnavailable && strings.Contains(ready.Audit, "removed from the tail"), res.Status + " " + ready.Audit
	})
	var alarms struct {
		Items []struct{ Kind, Severity, Message string } `json:"items"`
	}
	c := apiClient{t: t, base: "http://" + addr}
	if code := c.json("GET", "/api/v1/alarms", tokens["engineer"], nil, &alarms); code != http.StatusOK {
		t.Fatalf("alarms: %d", code)
	}
	found := false
	for _, a := range alarms.Items {
		found = found || a.Kind == "audit_log_broken" && a.Severity == "critical" && strings.Contains(a.Message, "removed from the tail")
	}
	if !found {
		t.Errorf("alarms %+v; want a critical audit_log_broken alarm", alarms.Items)
	}
	var verified struct {
		OK      bool   `json:"ok"`
		Problem string `json:"problem"`
	}
	if code := c.json("GET", "/api/v1/audit/verify", tokens["auditor"], nil, &verified); code != http.StatusOK || verified.OK || !strings.Contains(verified.Problem, "removed from the tail") {
		t.Errorf("GET /api/v1/audit/verify: %d %+v; want the cut tail reported", code, verified)
	}
	// otpatch dev serves /metrics as otpatch server does, on the API address and on
	// --metrics-listen: the alarm is counted, and every campaign status is reported.
	for _, base := range []string{"http://" + addr, "http://" + maddr} {
		m := scrape(t, base)
		for _, series := range []string{`otpatch_alarms{kind="audit_log_broken",severity="critical"} 1`, `otpatch_alarms_open 1`, `otpatch_campaigns{status="completed"} 0`,
			`otpatch_campaign_assets{state="rollback_failed"} 0`, `otpatch_database_scrape_ok 1`} {
			if !strings.Contains(m, series+"\n") {
				t.Errorf("%s/metrics lacks %s", base, series)
			}
		}
	}
	if !strings.Contains(devOut.String(), "AUDIT LOG BROKEN") {
		t.Errorf("the server did not log the broken audit log:\n%s", tail(devOut.String(), 2000))
	}
}
