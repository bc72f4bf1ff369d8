package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/testenv"
)

// Benchmarks of the audit trail on PostgreSQL (docs/benchmarks.md). CI never runs them:
//
//	OTPATCH_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/store -run '^$' -bench 'AuditAppend|AuditTrail1M' -benchtime 20000x -timeout 1h
//
// (-benchtime applies to every benchmark; see docs/benchmarks.md for the runs recorded.)

// BenchmarkAuditAppend8Writers appends events from 8 concurrent writers, as API requests and
// activities do; each event is its own transaction. Goal: 2,000 events/s or more.
func BenchmarkAuditAppend8Writers(b *testing.B) {
	const writers = 8
	ctx := context.Background()
	st, _ := benchStore(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				_, err := st.Append(ctx, Event{Actor: fmt.Sprintf("writer-%d", w), Role: "system", Action: "asset.state",
					SubjectType: "asset", SubjectID: fmt.Sprintf("ast_%d", i%500), CampaignID: fmt.Sprintf("cmp_%d", i%40),
					RequestID: fmt.Sprintf("req-%d", i), Details: map[string]any{"state": "deploying", "wave": i % 4}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	res, err := st.VerifyAudit(ctx)
	if err != nil || !res.OK || res.Events != int64(b.N) {
		b.Fatalf("after the benchmark VerifyAudit = %+v, %v; want OK with %d events", res, err, b.N)
	}
}

// BenchmarkAuditTrail1M loads a chained trail of 1,000,000 events (computed here and written
// with COPY) and adds them to the Merkle tree as the upgrade's migration does, then measures
// verifying it (goal: 400,000 events/s or more), serving an inclusion proof of a random event
// (goal: under 20 ms at p99) and reading one filtered page of it as GET /api/v1/audit/events
// does (goal: under 50 ms at p99).
func BenchmarkAuditTrail1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	st, dsn := benchStore(b)
	start := time.Now()
	loadTrail(b, dsn, n)
	b.Logf("loaded %d chained events in %s", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := st.buildTree(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("added %d events to the Merkle tree (the migration of a chain) in %s", n, time.Since(start).Round(time.Millisecond))
	// OTPATCH_BENCH_AT_STATISTICS=N overrides the planner's statistics target of the event
	// time (docs/benchmarks.md: it fixes the plan of time-range pages).
	if v := os.Getenv("OTPATCH_BENCH_AT_STATISTICS"); v != "" {
		if err := st.DB().Exec(`ALTER TABLE audit_events ALTER COLUMN at SET STATISTICS ` + strconv.Itoa(atoi(b, v))).Error; err != nil {
			b.Fatal(err)
		}
	}
	if err := st.DB().WithContext(ctx).Exec(`ANALYZE audit_events`).Error; err != nil {
		b.Fatal(err)
	}

	b.Run("verify", func(b *testing.B) {
		for range b.N {
			res, err := st.VerifyAudit(ctx)
			if err != nil || !res.OK || res.Events != n {
				b.Fatalf("VerifyAudit = %+v, %v; want OK with %d events", res, err, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})

	b.Run("inclusion-proof", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		lat := make([]time.Duration, 0, b.N)
		for range b.N {
			seq := 1 + rng.Int64N(n)
			t0 := time.Now()
			e, path, size, err := st.InclusionProof(ctx, seq, 0)
			lat = append(lat, time.Since(t0))
			if err != nil || size != n || e.Seq != seq || len(path) == 0 {
				b.Fatalf("InclusionProof(%d) = %d hashes in %d, %v", seq, len(path), size, err)
			}
		}
		b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
	})

	b.Run("filtered-page", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		filters := pageFilters()
		lat := make([]time.Duration, 0, b.N)
		byKind := map[string][]time.Duration{}
		for range b.N {
			kind, f := filters(rng)
			t0 := time.Now()
			if _, err := st.AuditEvents(ctx, f); err != nil {
				b.Fatal(err)
			}
			d := time.Since(t0)
			if d > 50*time.Millisecond && testing.Verbose() {
				var plan []string
				q := fmt.Sprintf("EXPLAIN SELECT * FROM audit_events WHERE seq > %d", f.AfterSeq)
				for col, v := range map[string]string{"actor": f.Actor, "action": f.Action} {
					if v != "" {
						q += fmt.Sprintf(" AND %s = '%s'", col, v)
					}
				}
				if !f.From.IsZero() {
					q += fmt.Sprintf(" AND at >= '%s' AND at < '%s'", audit.FormatTime(f.From), audit.FormatTime(f.To))
				}
				st.DB().Raw(q + " ORDER BY seq LIMIT 100").Scan(&plan)
				b.Logf("%s took %s:\n%s", kind, d, strings.Join(plan, "\n"))
			}
			lat = append(lat, d)
			byKind[kind] = append(byKind[kind], d)
		}
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		kinds := make([]string, 0, len(byKind))
		for k := range byKind {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		for _, k := range kinds {
			b.Logf("%-22s n=%-5d p50 %6.2f ms  p99 %6.2f ms", k, len(byKind[k]),
				float64(percentile(byKind[k], 50).Microseconds())/1000, float64(percentile(byKind[k], 99).Microseconds())/1000)
		}
	})
}

func benchStore(b *testing.B) (*Store, string) {
	b.Helper()
	dsn := testenv.PostgresDSN(b)
	st, err := Open(dsn, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return st, dsn
}

// The synthetic trail: a year of events by 20 actors, 30 actions, 2,000 campaigns, 200 patches
// and 5,000 assets, about one event every 31 seconds.
const (
	trailActors    = 20
	trailActions   = 30
	trailCampaigns = 2000
	trailPatches   = 200
	trailAssets    = 5000
)

var trailStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func trailEvent(i int64) audit.Event {
	e := audit.Event{At: audit.FormatTime(trailStart.Add(time.Duration(i) * 31 * time.Second)),
		Actor: fmt.Sprintf("actor-%02d", i%trailActors), Role: "engineer", Action: fmt.Sprintf("action.%02d", (i*7)%trailActions),
		SubjectType: "asset", RequestID: fmt.Sprintf("req-%d", i), Details: fmt.Sprintf(`{"n":%d,"state":"deploying"}`, i)}
	if i%3 != 0 {
		e.CampaignID = fmt.Sprintf("cmp_%04d", (i/50)%trailCampaigns)
		e.PatchID = fmt.Sprintf("pat_%03d", (i/50)%trailPatches)
	}
	if i%2 == 0 {
		e.AssetID = fmt.Sprintf("ast_%04d", (i*13)%trailAssets)
	}
	e.SubjectID = e.AssetID
	return e
}

// loadTrail writes n correctly chained events with COPY and moves the head to the last.
func loadTrail(b *testing.B, dsn string, n int64) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	head, hash := int64(0), ""
	var i int64
	cols := []string{"seq", "at", "actor", "role", "action", "subject_type", "subject_id", "campaign_id", "patch_id", "asset_id", "request_id", "workflow_id", "details", "prev_hash", "hash"}
	copied, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_events"}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		e := trailEvent(i)
		i++
		e.Seal(head, hash)
		head, hash = e.Seq, e.Hash
		return []any{e.Seq, e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID, e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID, e.Details, e.PrevHash, e.Hash}, nil
	}))
	if err != nil || copied != n {
		b.Fatalf("COPY audit_events: %d rows, %v", copied, err)
	}
	if _, err := conn.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, head, hash); err != nil {
		b.Fatal(err)
	}
}

// pageFilters returns a generator of the filters an auditor uses: by campaign, asset, patch,
// actor and action, a time range alone and with an actor, and a cursor deep in the trail.
func pageFilters() func(*rand.Rand) (string, AuditFilter) {
	day := func(rng *rand.Rand) time.Time { return trailStart.AddDate(0, 0, rng.IntN(360)) }
	return func(rng *rand.Rand) (string, AuditFilter) {
		f := AuditFilter{Limit: 100}
		kind := ""
		switch rng.IntN(8) {
		case 0:
			kind, f.CampaignID = "campaign", fmt.Sprintf("cmp_%04d", rng.IntN(trailCampaigns))
		case 1:
			kind, f.AssetID = "asset", fmt.Sprintf("ast_%04d", rng.IntN(trailAssets))
		case 2:
			kind, f.PatchID = "patch", fmt.Sprintf("pat_%03d", rng.IntN(trailPatches))
		case 3:
			kind, f.Actor, f.Action = "actor+action", fmt.Sprintf("actor-%02d", rng.IntN(trailActors)), fmt.Sprintf("action.%02d", rng.IntN(trailActions))
		case 4:
			kind = "time range (1 day)"
			f.From = day(rng)
			f.To = f.From.AddDate(0, 0, 1)
		case 5:
			kind, f.Actor = "actor+time (1 week)", fmt.Sprintf("actor-%02d", rng.IntN(trailActors))
			f.From = day(rng)
			f.To = f.From.AddDate(0, 0, 7)
		case 6:
			kind, f.Action, f.AfterSeq = "action+cursor", fmt.Sprintf("action.%02d", rng.IntN(trailActions)), int64(rng.IntN(990_000))
		case 7:
			kind, f.AfterSeq = "cursor", int64(rng.IntN(999_000))
		}
		return kind, f
	}
}

func atoi(b *testing.B, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
