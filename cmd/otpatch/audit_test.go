package main

import (
	"context"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

// TestAuditVerifyCLI runs `otpatch audit verify` against a trail with a signed checkpoint in
// a real MinIO: intact, then the chain rewritten consistently in the database — which the
// chain alone cannot tell — is caught against the checkpoint.
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
	if _, err := cp.CheckpointHead(ctx, st.AuditHead); err != nil {
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
	verify := func() (string, error) {
		cmd := exec.Command(bin, "audit", "verify", "--database", db, "--checkpoint-key", pubFile,
			"--s3-endpoint", mc.Endpoint, "--s3-access-key", mc.AccessKey, "--s3-secret-key", mc.SecretKey, "--s3-bucket", "otpatch")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "the chain and the signed checkpoints") {
		t.Fatalf("intact trail: %v\n%s", err, out)
	}
	// Rewrite event 3 and re-seal everything after it, as someone with database access would.
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
	if err := st.DB().Exec(`UPDATE audit_head SET hash = ? WHERE id = 1`, prev).Error; err != nil {
		t.Fatal(err)
	}
	if res, _ := st.VerifyAudit(ctx); !res.OK {
		t.Fatalf("the rewrite should pass the chain check alone: %+v", res)
	}
	st.Close()
	if out, err := verify(); err == nil || !strings.Contains(out, "BROKEN") {
		t.Errorf("a rewritten chain passed verification against the checkpoint:\n%s", out)
	}
}
