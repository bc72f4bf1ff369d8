package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/testenv"
)

// lockedBucket makes a bucket with object lock on a MinIO server and returns the artifacts
// store over it and a raw client.
func lockedBucket(t *testing.T, srv testenv.MinIOServer, bucket string) (*artifacts.Store, *minio.Client) {
	t.Helper()
	raw, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatalf("make bucket with object lock: %v", err)
	}
	objs, err := artifacts.New(artifacts.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	return objs, raw
}

func newCheckpointer(t *testing.T, cps audit.CheckpointStore, every int64) *audit.Checkpointer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: key, Store: cps, Every: every, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rewriteChain changes event from and recomputes every later hash and the head, as an
// attacker with database access would: the plain chain check passes afterwards.
func rewriteChain(t *testing.T, st *Store, from int64) {
	t.Helper()
	events, err := st.AuditEvents(context.Background(), AuditFilter{AfterSeq: from - 1})
	if err != nil {
		t.Fatal(err)
	}
	events[0].Actor, events[0].Action = "mallory", "campaign.approved"
	head, hash := events[0].Seq-1, events[0].PrevHash
	for _, e := range events {
		e.Seal(head, hash)
		head, hash = e.Seq, e.Hash
		if err := st.DB().Exec(`UPDATE audit_events SET actor = ?, action = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Actor, e.Action, e.PrevHash, e.Hash, e.Seq).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DB().Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, head, hash).Error; err != nil {
		t.Fatal(err)
	}
}

// Checkpoints on a real MinIO bucket with object lock: they are written under COMPLIANCE
// retention and cannot be deleted; verification against them detects a rewritten chain and a
// truncated one, which the plain chain check does not; on SQLite and PostgreSQL.
func TestAuditCheckpointsOnMinIO(t *testing.T) {
	srv := testenv.MinIO(t)
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		objs, raw := lockedBucket(t, srv, "audit-"+t.Name()[strings.LastIndex(t.Name(), "/")+1:])
		cps, err := audit.NewObjectCheckpoints(ctx, objs, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !cps.Locked() {
			t.Fatal("the bucket has object lock but the checkpoint store did not notice")
		}

		t.Run("retention", func(t *testing.T) {
			st := freshTrail(t, dsn)
			c := newCheckpointer(t, cps, 1000)
			appendEvents(t, st, 3)
			cp, err := c.CheckpointHead(ctx, st.AuditHead)
			if err != nil {
				t.Fatal(err)
			}
			key := audit.CheckpointObjectKey(cp.Seq)
			if !strings.HasPrefix(key, "audit/checkpoints/") || !strings.HasSuffix(key, "3.json") {
				t.Errorf("checkpoint key %s, want audit/checkpoints/<seq>.json", key)
			}
			info, err := raw.StatObject(ctx, objs.Bucket(), key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mode, until, err := raw.GetObjectRetention(ctx, objs.Bucket(), key, info.VersionID)
			if err != nil || mode == nil || *mode != minio.Compliance || until.Before(time.Now().Add(50*time.Minute)) {
				t.Fatalf("retention of %s = %v until %v (%v); want COMPLIANCE for an hour", key, mode, until, err)
			}
			for name, opts := range map[string]minio.RemoveObjectOptions{
				"delete the version":                 {VersionID: info.VersionID},
				"delete the version with the bypass": {VersionID: info.VersionID, GovernanceBypass: true},
			} {
				if err := raw.RemoveObject(ctx, objs.Bucket(), key, opts); err == nil {
					t.Errorf("%s: the object store accepted deleting a checkpoint under COMPLIANCE retention", name)
				}
			}
			// A plain delete only adds a delete marker: the checkpoint is still read.
			if err := raw.RemoveObject(ctx, objs.Bucket(), key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			// Overwriting it adds a version; the original is still read, the forgery fails.
			forged := cp
			forged.HeadHash = strings.Repeat("0", 64)
			b := forged.Marshal()
			if _, err := raw.PutObject(ctx, objs.Bucket(), key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			got, err := cps.Checkpoints(ctx, cp.Seq)
			if err != nil || len(got) != 2 || got[0] != cp && got[1] != cp {
				t.Fatalf("after a delete and an overwrite, Checkpoints = %+v, %v; want the original still there", got, err)
			}
			st.SetCheckpointer(c)
			res, err := st.VerifyAudit(ctx)
			if err != nil || res.OK || !strings.Contains(res.Problem, "does not carry a valid signature") {
				t.Fatalf("VerifyAudit with a forged checkpoint version = %+v, %v; want it refused", res, err)
			}
		})

		t.Run("rewritten chain", func(t *testing.T) {
			st := freshTrail(t, dsn)
			c := newCheckpointer(t, cpsUnder(t, srv), 1000)
			appendEvents(t, st, 4)
			if _, err := c.CheckpointHead(ctx, st.AuditHead); err != nil {
				t.Fatal(err)
			}
			appendEvents(t, st, 6)
			if _, err := c.CheckpointHead(ctx, st.AuditHead); err != nil {
				t.Fatal(err)
			}
			if res, err := st.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("before tampering: %+v, %v", res, err)
			}
			st.SetCheckpointer(c)
			res, err := st.VerifyAudit(ctx)
			if err != nil || !res.OK || res.Checkpoints != 2 || res.CheckpointSeq != 10 {
				t.Fatalf("intact chain with checkpoints = %+v, %v; want OK with checkpoints 4 and 10", res, err)
			}
			rewriteChain(t, st, 6)
			st.SetCheckpointer(nil)
			if res, err := st.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("the rewrite is not consistent (the plain check fails: %+v, %v)", res, err)
			}
			st.SetCheckpointer(c)
			res, err = st.VerifyAudit(ctx)
			if err != nil || res.OK || res.BrokenAt != 5 || !strings.Contains(res.Problem, "events 5 to 10 were rewritten") {
				t.Fatalf("rewritten chain: %+v, %v; want broken at 5 (after checkpoint 4), naming checkpoint 10", res, err)
			}
		})

		t.Run("truncated chain", func(t *testing.T) {
			st := freshTrail(t, dsn)
			c := newCheckpointer(t, cpsUnder(t, srv), 1000)
			events := appendEvents(t, st, 8)
			if _, err := c.CheckpointHead(ctx, st.AuditHead); err != nil {
				t.Fatal(err)
			}
			if err := st.DB().Exec(`DELETE FROM audit_events WHERE seq > 5`).Error; err != nil {
				t.Fatal(err)
			}
			if err := st.DB().Exec(`UPDATE audit_head SET seq = 5, hash = ? WHERE id = 1`, events[4].Hash).Error; err != nil {
				t.Fatal(err)
			}
			if res, err := st.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("the truncation is not consistent (the plain check fails: %+v, %v)", res, err)
			}
			st.SetCheckpointer(c)
			res, err := st.VerifyAudit(ctx)
			if err != nil || res.OK || res.BrokenAt != 6 || !strings.Contains(res.Problem, "events were removed from the tail") {
				t.Fatalf("truncated chain: %+v, %v; want broken at 6", res, err)
			}
		})

		t.Run("every N events", func(t *testing.T) {
			st := freshTrail(t, dsn)
			c := newCheckpointer(t, cpsUnder(t, srv), 5)
			st.SetCheckpointer(c)
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = c.Run(rctx, st.AuditHead) }()
			t.Cleanup(func() { cancel(); <-done })
			appendEvents(t, st, 12)
			head, _, err := st.AuditHead(ctx)
			if err != nil || head != 12 {
				t.Fatalf("head %d, %v; want 12", head, err)
			}
			// The promise is that fewer than Every events follow the newest checkpoint. Where the
			// checkpoints fall depends on how commits were grouped (a checkpoint may cover events
			// 1–8 when eight committed together), so the newest must be past event 12−5 = 7.
			// Run writes off the request path; wait for it (the deadline only bounds a hang).
			var got []audit.Checkpoint
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				got, err = c.Store().Checkpoints(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) > 0 && got[len(got)-1].Seq > head-5 {
					break
				}
			}
			if len(got) == 0 || got[len(got)-1].Seq <= head-5 {
				t.Fatalf("checkpoints %+v after 12 events with Every=5; want the newest past event %d", got, head-5)
			}
			res, err := st.VerifyAudit(ctx)
			if err != nil || !res.OK || res.Checkpoints == 0 {
				t.Fatalf("VerifyAudit = %+v, %v", res, err)
			}
		})
	})
}

// cpsUnder gives a test its own locked bucket on srv, so its checkpoints describe only its
// own chain.
func cpsUnder(t *testing.T, srv testenv.MinIOServer) *audit.ObjectCheckpoints {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	objs, _ := lockedBucket(t, srv, fmt.Sprintf("cp-%x", b))
	cps, err := audit.NewObjectCheckpoints(context.Background(), objs, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// freshTrail opens the test's database with an empty audit trail: the subtests share it.
func freshTrail(t *testing.T, dsn string) *Store {
	t.Helper()
	st := newStore(t, dsn)
	for _, q := range []string{`DELETE FROM audit_events`, `UPDATE audit_head SET seq = 0, hash = '' WHERE id = 1`} {
		if err := st.DB().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// Time-range filters compare event times as instants, whatever zone the bounds are given in,
// and EachAuditEvent walks every page of a filtered trail.
func TestAuditEventsTimeRangeAndWalk(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		now := time.Date(2026, 1, 31, 22, 30, 0, 0, time.UTC)
		st, err := Open(dsn, Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// 30 events 10 minutes apart across the month end (UTC).
		for i := range 30 {
			actor := "otpatch"
			if i%3 == 0 {
				actor = "ed.eng"
			}
			if _, err := st.Append(ctx, Event{Actor: actor, Role: "engineer", Action: "test.step", SubjectType: "test", SubjectID: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
			now = now.Add(10 * time.Minute)
		}
		zurich, _ := time.LoadLocation("Europe/Zurich")
		tests := []struct {
			name     string
			f        AuditFilter
			from, to int64 // expected seqs, inclusive
			step     int64
		}{
			// 2026-02-01T00:00Z is event 10 (22:30 + 9×10 min); Zurich is UTC+1 in winter.
			{"from the month end in UTC", AuditFilter{From: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}, 10, 30, 1},
			{"same instant in Zurich", AuditFilter{From: time.Date(2026, 2, 1, 1, 0, 0, 0, zurich)}, 10, 30, 1},
			{"to is exclusive", AuditFilter{To: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}, 1, 9, 1},
			{"range with actor", AuditFilter{Actor: "ed.eng", From: time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC), To: time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC)}, 4, 13, 3},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var want []int64
				for s := tt.from; s <= tt.to; s += tt.step {
					want = append(want, s)
				}
				evs, err := st.AuditEvents(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, e := range evs {
					got = append(got, e.Seq)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("AuditEvents = %v, want %v", got, want)
				}
				// The same selection walked in pages of 4.
				f := tt.f
				f.Limit = 4
				got = nil
				if err := st.EachAuditEvent(ctx, f, func(e audit.Event) error { got = append(got, e.Seq); return nil }); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("EachAuditEvent in pages of 4 = %v, want %v", got, want)
				}
			})
		}
	})
}
