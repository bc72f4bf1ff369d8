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

// rewriteLog changes event from and recomputes every later chain hash, every tree node and
// the head, as an attacker with database access who knows both algorithms would: the check
// without checkpoints passes afterwards.
func rewriteLog(t *testing.T, st *Store, from int64) {
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
	regrowTree(t, st)
}

// truncateLog deletes the events after keep and moves the chain head and the tree back to
// match: a log cut short that verifies on its own.
func truncateLog(t *testing.T, st *Store, keep int64) {
	t.Helper()
	var last audit.Event
	if err := st.DB().Raw(`SELECT hash FROM audit_events WHERE seq = ?`, keep).Scan(&last.Hash).Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM audit_events WHERE seq > ?`} {
		if err := st.DB().Exec(q, keep).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DB().Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, keep, last.Hash).Error; err != nil {
		t.Fatal(err)
	}
	regrowTree(t, st)
}

// regrowTree throws the stored tree away and builds it again from the events, as a store
// that migrates from a chain does.
func regrowTree(t *testing.T, st *Store) {
	t.Helper()
	for _, q := range []string{`DELETE FROM audit_nodes`, `UPDATE audit_head SET tree_size = 0, tree_root = '' WHERE id = 1`} {
		if err := st.DB().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	st.tree = nil
	if err := st.buildTree(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Checkpoints on a real MinIO bucket with object lock: they are written under COMPLIANCE
// retention and cannot be deleted; verification against them detects a rewritten log and a
// truncated one, which the check without checkpoints does not; on SQLite and PostgreSQL.
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
			cp, err := c.CheckpointHead(ctx, st.AuditTreeHead)
			if err != nil {
				t.Fatal(err)
			}
			key := audit.NoteObjectKey(cp.Size)
			if !strings.HasPrefix(key, "audit/checkpoints/") || !strings.HasSuffix(key, "3.note") {
				t.Errorf("checkpoint key %s, want audit/checkpoints/<size>.note", key)
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
			forged := bytes.Replace(cp.Note, []byte("\n3\n"), []byte("\n2\n"), 1)
			if _, err := raw.PutObject(ctx, objs.Bucket(), key, bytes.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			got, err := cps.Notes(ctx, cp.Size)
			if err != nil || len(got) != 2 || !bytes.Equal(got[0], cp.Note) && !bytes.Equal(got[1], cp.Note) {
				t.Fatalf("after a delete and an overwrite, Notes = %q, %v; want the original still there", got, err)
			}
			st.SetCheckpointer(c)
			res, err := st.VerifyAudit(ctx)
			if err != nil || res.OK || !strings.Contains(res.Problem, "tampered") {
				t.Fatalf("VerifyAudit with a forged checkpoint version = %+v, %v; want it refused", res, err)
			}
		})

		t.Run("rewritten log", func(t *testing.T) {
			st := freshTrail(t, dsn)
			c := newCheckpointer(t, cpsUnder(t, srv), 1000)
			appendEvents(t, st, 4)
			if _, err := c.CheckpointHead(ctx, st.AuditTreeHead); err != nil {
				t.Fatal(err)
			}
			appendEvents(t, st, 6)
			if _, err := c.CheckpointHead(ctx, st.AuditTreeHead); err != nil {
				t.Fatal(err)
			}
			st.SetCheckpointer(c)
			res, err := st.VerifyAudit(ctx)
			if err != nil || !res.OK || res.Notes != 2 || res.NoteSize != 10 {
				t.Fatalf("intact log with checkpoints = %+v, %v; want OK with checkpoints of 4 and 10", res, err)
			}
			rewriteLog(t, st, 6)
			st.SetCheckpointer(nil)
			if res, err := st.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("the rewrite is not consistent (the check without checkpoints fails: %+v, %v)", res, err)
			}
			st.SetCheckpointer(c)
			res, err = st.VerifyAudit(ctx)
			if err != nil || res.OK || res.BrokenAt != 5 || !strings.Contains(res.Problem, "signed checkpoint says") {
				t.Fatalf("rewritten log: %+v, %v; want broken from 5 (after the checkpoint of 4)", res, err)
			}
			if h, err := st.CheckAuditTail(ctx); err != nil || h.OK {
				t.Fatalf("the tail check of a rewritten log = %+v, %v; want the root at the newest checkpoint to differ", h, err)
			}
		})

		t.Run("legacy chain checkpoints", func(t *testing.T) {
			// A trail kept before the tree, with a checkpoint of its chain: migrating makes every
			// event a leaf in order; the old checkpoint still verifies, nothing is lost.
			st := freshTrail(t, dsn)
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			mine := cpsUnder(t, srv)
			c, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: key, Store: mine, Interval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			events := appendEvents(t, st, 7)
			if err := mine.PutCheckpoint(ctx, audit.SignCheckpoint(key, 7, events[6].Hash, audit.FormatTime(time.Now()))); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{`DELETE FROM audit_nodes`, `UPDATE audit_head SET tree_size = 0, tree_root = '' WHERE id = 1`} {
				if err := st.DB().Exec(q).Error; err != nil {
					t.Fatal(err)
				}
			}
			st.tree = nil
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			size, root, err := st.AuditTreeHead(ctx)
			want := audit.Ranges.NewEmptyRange(0)
			for _, e := range events {
				_ = want.Append(e.LeafHash(), nil)
			}
			if err != nil || size != 7 || !bytes.Equal(root, audit.Root(want)) {
				t.Fatalf("after migrating, the tree holds %d events (%v); want the 7 events in order", size, err)
			}
			appendEvents(t, st, 2)
			st.SetCheckpointer(c)
			if _, err := c.CheckpointHead(ctx, st.AuditTreeHead); err != nil {
				t.Fatal(err)
			}
			res, err := st.VerifyAudit(ctx)
			if err != nil || !res.OK || res.Checkpoints != 1 || res.CheckpointSeq != 7 || res.Notes != 1 || res.Events != 9 {
				t.Fatalf("VerifyAudit after the migration = %+v, %v; want the old chain checkpoint and the new note both matched", res, err)
			}
		})

		t.Run("events appended without the tree", func(t *testing.T) {
			// An older process, during a rolling upgrade, moves the chain but not the tree: the
			// next append makes its events leaves first, in order.
			st := freshTrail(t, dsn)
			appendEvents(t, st, 3)
			e := audit.Event{At: audit.FormatTime(time.Now()), Actor: "old-binary", Role: "system", Action: "asset.state", Details: "{}"}
			var head auditHead
			if err := st.DB().Take(&head, "id = 1").Error; err != nil {
				t.Fatal(err)
			}
			e.Seal(head.Seq, head.Hash)
			if err := st.DB().Table("audit_events").Create(&e).Error; err != nil {
				t.Fatal(err)
			}
			if err := st.DB().Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, e.Seq, e.Hash).Error; err != nil {
				t.Fatal(err)
			}
			appendEvents(t, st, 2)
			size, _, err := st.AuditTreeHead(ctx)
			if err != nil || size != 6 {
				t.Fatalf("tree of %d events, %v; want all 6", size, err)
			}
			if res, err := st.VerifyAudit(ctx); err != nil || !res.OK || res.Events != 6 {
				t.Fatalf("VerifyAudit = %+v, %v", res, err)
			}
		})

		t.Run("every N events", func(t *testing.T) {
			st := freshTrail(t, dsn)
			c := newCheckpointer(t, cpsUnder(t, srv), 5)
			st.SetCheckpointer(c)
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = c.Run(rctx, st.AuditTreeHead) }()
			t.Cleanup(func() { cancel(); <-done })
			appendEvents(t, st, 12)
			size, _, err := st.AuditTreeHead(ctx)
			if err != nil || size != 12 {
				t.Fatalf("log of %d, %v; want 12", size, err)
			}
			// The promise is that fewer than Every events follow the newest checkpoint. Where the
			// checkpoints fall depends on how commits were grouped, so the newest must be past
			// event 12−5 = 7. Run writes off the request path; wait for it (the deadline only
			// bounds a hang).
			var newest *audit.TreeCheckpoint
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if newest, err = c.Newest(ctx); err != nil {
					t.Fatal(err)
				}
				if newest != nil && newest.Size > size-5 {
					break
				}
			}
			if newest == nil || newest.Size <= size-5 {
				t.Fatalf("newest checkpoint %+v after 12 events with Every=5; want one past event %d", newest, size-5)
			}
			res, err := st.VerifyAudit(ctx)
			if err != nil || !res.OK || res.Notes == 0 {
				t.Fatalf("VerifyAudit = %+v, %v", res, err)
			}
		})
	})
}

// The tail-deletion attack: events written after the newest checkpoint are deleted, with the
// chain head and the tree moved back to match, so the log verifies on its own. While the
// server runs, its tail check sees the log shrink below what it saw; a clean shutdown signs
// the tail, so after it the verification and the start-up check of the next process see the
// checkpoint beyond the log; both raise a critical alarm and mark the audit broken.
func TestTailDeletionIsDetected(t *testing.T) {
	srv := testenv.MinIO(t)
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := freshTrail(t, dsn)
		cps := cpsUnder(t, srv)
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		c, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: key, Store: cps, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		st.SetCheckpointer(c)
		appendEvents(t, st, 5)
		if _, err := c.CheckpointHead(ctx, st.AuditTreeHead); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, st, 4) // 6 to 9: not yet in a checkpoint

		// While running: the quick check compares the log with what this process saw.
		truncateLog(t, st, 6)
		if res, err := st.VerifyAudit(ctx); err != nil || !res.OK {
			t.Fatalf("the truncation is not consistent with the checkpoint of 5: %+v, %v", res, err)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		watched := st.WatchAudit(wctx, WatchOptions{Tail: time.Hour, Full: time.Hour})
		h := st.AuditHealth()
		if h == nil || h.OK || !strings.Contains(h.Problem, "events 7 to 9 were removed from the tail") {
			t.Fatalf("AuditHealth after the tail was cut while running = %+v; want it broken, naming events 7 to 9", h)
		}
		alarms, err := st.AlarmsPage(ctx, AlarmFilter{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		raised := false
		for _, a := range alarms {
			raised = raised || a.Kind == "audit_log_broken" && a.Severity == "critical"
		}
		if !raised {
			t.Fatalf("alarms %+v; want a critical audit_log_broken alarm", alarms)
		}
		cancel()
		<-watched

		// After a clean shutdown (Close signs the tail) the cut is beyond a checkpoint.
		appendEvents(t, st, 3)
		if err := c.Close(ctx, st.AuditTreeHead); err != nil {
			t.Fatal(err)
		}
		size, _, _ := st.AuditTreeHead(ctx)
		truncateLog(t, st, size-2)
		res, err := st.VerifyAudit(ctx)
		if err != nil || res.OK || !strings.Contains(res.Problem, "removed from the tail") {
			t.Fatalf("VerifyAudit after the tail signed at shutdown was cut = %+v, %v; want it broken", res, err)
		}
		// A process starting on it (a new store and checkpointer) sees it at its first check.
		next := openStore(t, dsn)
		c2, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: key, Store: cps, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		next.SetCheckpointer(c2)
		h2, err := next.CheckAuditTail(ctx)
		if err != nil || h2.OK || !strings.Contains(h2.Problem, "newest signed checkpoint") {
			t.Fatalf("the start-up check = %+v, %v; want the newest checkpoint beyond the log", h2, err)
		}
	})
}

// cpsUnder gives a test its own locked bucket on srv, so its checkpoints describe only its
// own log.
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

// freshTrail opens the test's database with an empty audit log: the subtests share it.
func freshTrail(t *testing.T, dsn string) *Store {
	t.Helper()
	st := newStore(t, dsn)
	for _, q := range []string{`DELETE FROM audit_events`, `DELETE FROM audit_nodes`, `UPDATE audit_head SET seq = 0, hash = '', tree_size = 0, tree_root = '' WHERE id = 1`} {
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
