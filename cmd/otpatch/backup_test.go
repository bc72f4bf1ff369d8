package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpatch/otpatch/internal/temporalpg"
	"github.com/otpatch/otpatch/internal/testenv"
)

// TestBackupRestoreProductionShape backs up a production installation (otpatch and Temporal on
// PostgreSQL, MinIO) with `otpatch backup` while a campaign deploys, lets the campaign finish,
// then restores the backup with `otpatch restore` into fresh PostgreSQL databases and a fresh
// MinIO and starts the server and a worker on them. The simulated devices are the plant: a
// restore of otpatch does not roll them back, so their state is carried over as it is now. The
// restored audit log verifies against its signed checkpoints, the restore is an audit event,
// and the campaign that was deploying at backup time completes with each device deployed
// exactly once.
func TestBackupRestoreProductionShape(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal on PostgreSQL twice, MinIO twice and four otpatch processes")
	}
	s := startProductionStack(t)
	s.seed(t)
	bin := lean(t)
	keyFile := filepath.Join(s.dir, "audit-checkpoint.key")
	signing := []string{"OTPATCH_CHECKPOINT_KEY_FILE=" + keyFile, "OTPATCH_AUDIT_CHECKPOINT_INTERVAL=1s"}

	addr := freePort(t)
	base := "http://" + addr
	server := startOtpatch(t, "otpatch server", s.env(append(signing, "OTPATCH_LISTEN="+addr)...), answersReady(base), "server")
	worker := startOtpatch(t, "otpatch worker", s.env(append(signing, "OTPATCH_SIM_STEP=2s")...), logsPolling, "worker")
	c := apiClient{t: t, base: base}

	manifest := filepath.Join(s.dir, "manifest.json")
	artifact := filepath.Join(s.dir, "plc-2.9.4.fw")
	if err := os.WriteFile(artifact, []byte(strings.Repeat("firmware", 4096)), 0o644); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, manifest, "ControlStation-PLC", "V2.9.4", "< V2.9.4")
	runCLI(t, bin, "vendor", "sign", "--key", filepath.Join(s.dir, "demo-keys", "acme.key"), "--manifest", manifest, "--artifact", artifact)
	patchID := strings.TrimSpace(runCLI(t, bin, "vendor", "submit", "--url", base, "--token", s.tokens["vendor"], "--manifest", signedManifest(manifest), artifact))
	waitFor(t, "qualification", func() (bool, string) {
		var p struct{ Status string }
		c.json("GET", "/api/v1/patches/"+patchID, s.tokens["engineer"], nil, &p)
		return p.Status == "qualified", p.Status
	})
	// One asset at a time, so the backup finds some done, one deploying and some not started.
	if code := c.json("PUT", "/api/v1/zones/zone_packaging/window", s.tokens["engineer"],
		map[string]any{"cron": "* * * * *", "duration": "1h", "time_zone": "Europe/Zurich", "max_parallel": 1}, nil); code != http.StatusOK {
		t.Fatalf("open the packaging window: %d", code)
	}
	var camp struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
	}
	if code := c.json("POST", "/api/v1/campaigns", s.tokens["engineer"], map[string]any{"name": "PLC fix", "patch_id": patchID, "asset_ids": plcTargets}, &camp); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	statusOn := func(c apiClient) func() campaignState {
		return func() campaignState {
			var st campaignState
			c.json("GET", "/api/v1/campaigns/"+camp.ID, s.tokens["engineer"], nil, &st)
			return st
		}
	}
	status := statusOn(c)
	waitFor(t, "awaiting approval", func() (bool, string) {
		st := status()
		return st.Status == "awaiting_approval", st.Status + " " + st.Detail
	})
	if code := c.json("POST", "/api/v1/campaigns/"+camp.ID+"/decisions", s.tokens["approver"], map[string]any{"decision": "approve", "plan_digest": camp.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	waitFor(t, "a deploy in flight", func() (bool, string) {
		st := status()
		for _, a := range st.Assets {
			if !a.TestBench && a.State == "deploying" {
				return true, ""
			}
		}
		return false, st.Status + " " + st.Detail
	})

	backupDir := filepath.Join(t.TempDir(), "backup")
	backupEnv := []string{"OTPATCH_DATABASE_URL=" + s.dsn, "OTPATCH_TEMPORAL_DATABASE_URL=" + s.temporalDSNs[0],
		"OTPATCH_TEMPORAL_VISIBILITY_DATABASE_URL=" + s.temporalDSNs[1], "OTPATCH_CHECKPOINT_KEY_FILE=" + keyFile,
		"OTPATCH_S3_ENDPOINT=" + s.minio.Endpoint, "OTPATCH_S3_ACCESS_KEY=" + s.minio.AccessKey, "OTPATCH_S3_SECRET_KEY=" + s.minio.SecretKey,
		"OTPATCH_S3_BUCKET=otpatch-artifacts"}
	out := runEnv(t, bin, backupEnv, "backup", "--out", backupDir)
	t.Logf("otpatch backup: %s", strings.TrimSpace(out))
	atBackup := status()
	var m backupManifest
	if b, err := os.ReadFile(filepath.Join(backupDir, backupManifestName)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Point.AuditSeq == 0 || len(m.Objects) == 0 || len(m.Files) != 4 {
		t.Fatalf("manifest: point %+v, %d objects, %d files; want an audit head, the bucket's objects and four files", m.Point, len(m.Objects), len(m.Files))
	}

	// The plant goes on after the point: the campaign finishes on the original installation.
	waitFor(t, "completion before the restore", func() (bool, string) {
		st := status()
		return st.Status == "completed" || st.Status == "halted", st.Status + " " + st.Detail
	})
	checkOneDeployEach(t, c, s.tokens["engineer"], camp.ID, plcTargets)
	for _, p := range []*otpatchProcess{server, worker} {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}
	_ = s.temporal.Stop()

	// A damaged backup is refused before anything is restored.
	fresh := &productionStack{dir: s.dir, tokens: s.tokens, dsn: testenv.PostgresDSN(t),
		temporalDSNs: []string{testenv.PostgresDSN(t), testenv.PostgresDSN(t)}, minio: testenv.MinIO(t)}
	restoredKey := filepath.Join(t.TempDir(), "audit-checkpoint.key")
	restoreEnv := []string{"OTPATCH_DATABASE_URL=" + fresh.dsn, "OTPATCH_TEMPORAL_DATABASE_URL=" + fresh.temporalDSNs[0],
		"OTPATCH_TEMPORAL_VISIBILITY_DATABASE_URL=" + fresh.temporalDSNs[1], "OTPATCH_CHECKPOINT_KEY_FILE=" + restoredKey,
		"OTPATCH_S3_ENDPOINT=" + fresh.minio.Endpoint, "OTPATCH_S3_ACCESS_KEY=" + fresh.minio.AccessKey, "OTPATCH_S3_SECRET_KEY=" + fresh.minio.SecretKey,
		"OTPATCH_S3_BUCKET=otpatch-artifacts"}
	dump := filepath.Join(backupDir, backupOtpatchDump)
	good, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(dump, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runErr(bin, restoreEnv, "restore", "--from", backupDir); err == nil || !strings.Contains(out, "does not match the manifest") {
		t.Fatalf("restore of a damaged backup: %v\n%s", err, out)
	}
	if err := os.WriteFile(dump, good, 0o600); err != nil {
		t.Fatal(err)
	}
	out = runEnv(t, bin, restoreEnv, "restore", "--from", backupDir)
	t.Logf("otpatch restore: %s", strings.TrimSpace(out))
	copyPlant(t, s.dsn, fresh.dsn)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ts, err := temporalpg.Start(ctx, temporalpg.Config{DSN: fresh.temporalDSNs[0], VisibilityDSN: fresh.temporalDSNs[1], Namespace: s.temporal.Namespace()})
	if err != nil {
		t.Fatalf("Temporal on the restored databases: %v", err)
	}
	t.Cleanup(func() { _ = ts.Stop() })
	fresh.temporal = ts
	signing = []string{"OTPATCH_CHECKPOINT_KEY_FILE=" + restoredKey, "OTPATCH_AUDIT_CHECKPOINT_INTERVAL=1s"}
	addr = freePort(t)
	base = "http://" + addr
	startOtpatch(t, "restored otpatch server", fresh.env(append(signing, "OTPATCH_LISTEN="+addr)...), answersReady(base), "server")
	startOtpatch(t, "restored otpatch worker", fresh.env(append(signing, "OTPATCH_SIM_STEP=100ms")...), logsPolling, "worker")
	c = apiClient{t: t, base: base}
	status = statusOn(c)
	waitFor(t, "the restored campaign to end", func() (bool, string) {
		st := status()
		return st.Status == "completed" || st.Status == "halted" || st.Status == "rolled_back" || st.Status == "aborted", st.Status + " " + st.Detail
	})
	if st := status(); st.Status != "completed" {
		t.Fatalf("restored campaign (at backup: %s) ended %s: %s", atBackup.Status, st.Status, st.Detail)
	}
	checkOneDeployEach(t, c, s.tokens["engineer"], camp.ID, plcTargets)

	count := func(action string) int {
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if code := c.json("GET", "/api/v1/audit/events?limit=100&action="+action, s.tokens["auditor"], nil, &page); code != http.StatusOK {
			t.Fatalf("GET /api/v1/audit/events?action=%s: %d", action, code)
		}
		return len(page.Items)
	}
	if n := count("otpatch.restored"); n != 1 {
		t.Errorf("audit log has %d otpatch.restored events, want 1", n)
	}
	t.Logf("after the restore: %d asset.found_deployed, %d campaign.reconcile_alarm events", count("asset.found_deployed"), count("campaign.reconcile_alarm"))

	keyJSON := filepath.Join(t.TempDir(), "audit-key.json")
	var key json.RawMessage
	if code := c.json("GET", "/api/v1/audit/key", s.tokens["auditor"], nil, &key); code != http.StatusOK {
		t.Fatalf("GET /api/v1/audit/key: %d", code)
	}
	if err := os.WriteFile(keyJSON, key, 0o600); err != nil {
		t.Fatal(err)
	}
	out = runEnv(t, bin, nil, "audit", "verify", "--database", fresh.dsn, "--checkpoint-key", keyJSON,
		"--s3-endpoint", fresh.minio.Endpoint, "--s3-access-key", fresh.minio.AccessKey, "--s3-secret-key", fresh.minio.SecretKey, "--s3-bucket", "otpatch-artifacts")
	if !strings.Contains(out, "audit log intact") || strings.Contains(out, "no signed checkpoint yet") {
		t.Errorf("audit verify of the restored installation: %s", out)
	}
	t.Logf("audit verify: %s", strings.TrimSpace(out))
}

// runErr runs the otpatch binary with only env for configuration and returns its output and
// its error, for commands expected to fail.
func runErr(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(environWithout("OTPATCH_"), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// copyPlant makes the restored installation's simulated devices what the plant's devices are
// now: a device keeps what was installed on it after a backup's point, whatever otpatch's
// database says.
func copyPlant(t *testing.T, fromDSN, toDSN string) {
	t.Helper()
	ctx := context.Background()
	from, err := pgx.Connect(ctx, fromDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close(ctx)
	to, err := pgx.Connect(ctx, toDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close(ctx)
	for _, table := range []string{"sim_devices", "sim_operations"} {
		var rows []byte
		if err := from.QueryRow(ctx, `SELECT coalesce(json_agg(t), '[]') FROM `+table+` t`).Scan(&rows); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		if _, err := to.Exec(ctx, `DELETE FROM `+table); err != nil {
			t.Fatal(err)
		}
		if _, err := to.Exec(ctx, `INSERT INTO `+table+` SELECT * FROM json_populate_recordset(NULL::`+table+`, $1::json)`, string(rows)); err != nil {
			t.Fatalf("write %s: %v", table, err)
		}
	}
}
