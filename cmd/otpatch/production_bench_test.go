package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for PostgreSQL's statistics
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/internal/teststack"
	"github.com/otpatch/otpatch/workflows"
)

// BenchmarkProductionCampaign runs one campaign over 10,000 simulated PLCs on the production
// shape — Temporal on PostgreSQL, otpatch on PostgreSQL, MinIO, `otpatch server` and two
// `otpatch worker` processes of the lean build, devices with zero latency — and, on the same
// cluster in the same run, a baseline: a parent workflow that starts as many trivial child
// workflows at the same parallelism. It reports wall times, their ratio, the per-asset
// overhead, history lengths and sizes, the processes' peak RSS and PostgreSQL's load, and
// checks one deploy per device and the audit chain. Never in CI (docs/benchmarks.md):
//
//	export OTPATCH_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go test ./cmd/otpatch -run '^$' -bench ProductionCampaign -benchtime 1x -timeout 90m
//
// OTPATCH_BENCH_ASSETS changes the number of assets, OTPATCH_BENCH_PARALLEL the window's
// max_parallel (the baseline's batch size).
func BenchmarkProductionCampaign(b *testing.B) {
	n, parallel := testenv.EnvInt("OTPATCH_BENCH_ASSETS", 10000), testenv.EnvInt("OTPATCH_BENCH_PARALLEL", 100)
	for range b.N {
		benchProductionCampaign(b, n, parallel)
	}
}

func benchProductionCampaign(b *testing.B, n, parallel int) {
	ctx := context.Background()
	s := startProductionStack(b)
	s.seed(b)
	st, err := store.Open(s.dsn, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ids := addBenchAssets(b, st, n)

	addr := freePort(b)
	base := "http://" + addr
	server := startOtpatch(b, "otpatch server", s.env("OTPATCH_LISTEN="+addr), answersReady(base), "server")
	var workers []*otpatchProcess
	for _, name := range []string{"worker-1", "worker-2"} {
		workers = append(workers, startOtpatch(b, name, s.env("OTPATCH_SIM_STEP=0s"), logsPolling, "worker"))
	}
	c := apiClient{t: b, base: base}
	eng, appr := s.tokens["engineer"], s.tokens["approver"]
	if code := c.json("PUT", "/api/v1/zones/zone_packaging/window", eng,
		map[string]any{"cron": "* * * * *", "duration": "12h", "time_zone": "Europe/Zurich", "max_parallel": parallel}, nil); code != http.StatusOK {
		b.Fatalf("open the packaging window: %d", code)
	}
	patchID := benchPatch(b, s, base)

	tc, err := client.Dial(client.Options{HostPort: s.temporal.HostPort(), Namespace: s.temporal.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Close()
	pg, err := sql.Open("pgx", s.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pg.Close()

	// Baseline: n trivial children, parallel at a time, on the same cluster.
	bw := worker.New(tc, "bench-baseline", worker.Options{})
	bw.RegisterWorkflow(teststack.BaselineParent)
	bw.RegisterWorkflow(teststack.BaselineChild)
	if err := bw.Start(); err != nil {
		b.Fatal(err)
	}
	dbs := []string{dbName(b, s.dsn), dbName(b, s.temporalDSNs[0]), dbName(b, s.temporalDSNs[1])}
	before := pgLoad(b, pg, dbs)
	start := time.Now()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-baseline", TaskQueue: "bench-baseline"}, teststack.BaselineParent, n, parallel, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		b.Fatal(err)
	}
	baseline := time.Since(start)
	baseLoad := pgLoad(b, pg, dbs).since(before, baseline)
	bw.Stop()
	baseRuns, baseHist := campaignRuns(b, tc, "bench-baseline")

	// The campaign: created through the API, validated on the bench, approved, then n assets.
	b.ResetTimer()
	created := time.Now()
	var camp struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
	}
	if code := c.json("POST", "/api/v1/campaigns", eng, map[string]any{"name": "plant-wide PLC update", "patch_id": patchID, "asset_ids": ids}, &camp); code != http.StatusCreated {
		b.Fatalf("create a campaign of %d assets: %d", n, code)
	}
	accepted := time.Since(created)
	if st := waitStatus(b, st, camp.ID, time.Hour, "awaiting_approval", "test_failed"); st != "awaiting_approval" {
		b.Fatalf("campaign is %s", st)
	}
	if code := c.json("POST", "/api/v1/campaigns/"+camp.ID+"/decisions", appr, map[string]any{"decision": "approve", "plan_digest": camp.PlanDigest}, nil); code != http.StatusOK {
		b.Fatalf("approve: %d", code)
	}
	approved := time.Now()
	before = pgLoad(b, pg, dbs)
	if st := waitStatus(b, st, camp.ID, 3*time.Hour, "completed", "halted", "rolled_back", "aborted"); st != "completed" {
		b.Fatalf("campaign ended %s", st)
	}
	b.StopTimer()
	waves := time.Since(approved)
	total := time.Since(created)
	waveLoad := pgLoad(b, pg, dbs).since(before, waves)

	// One deploy per device, every target done, the audit chain intact.
	var wrong int
	if err := pg.QueryRow(`SELECT count(*) FROM (SELECT asset_id FROM sim_operations WHERE op = 'deploy' AND asset_id LIKE 'ast_fleet-%' GROUP BY asset_id HAVING count(*) <> 1) x`).Scan(&wrong); err != nil {
		b.Fatal(err)
	}
	var deployed, done int
	if err := pg.QueryRow(`SELECT count(DISTINCT asset_id) FROM sim_operations WHERE op = 'deploy' AND asset_id LIKE 'ast_fleet-%'`).Scan(&deployed); err != nil {
		b.Fatal(err)
	}
	if err := pg.QueryRow(`SELECT count(*) FROM campaign_assets WHERE campaign_id = $1 AND state = 'done' AND NOT test_bench`, camp.ID).Scan(&done); err != nil {
		b.Fatal(err)
	}
	if wrong != 0 || deployed != n || done != n {
		b.Fatalf("%d devices deployed (%d not exactly once), %d targets done; want %d, each once", deployed, wrong, done, n)
	}
	if out := runEnv(b, lean(b), nil, "audit", "verify", "--database", s.dsn, "--no-checkpoints"); !strings.Contains(out, "audit log intact") {
		b.Fatalf("audit verify: %s", out)
	}

	runs, longest := campaignRuns(b, tc, workflows.CampaignWorkflowID(camp.ID))
	var asset historyInfo
	for i := 0; i < len(ids); i += max(1, len(ids)/200) { // a sample of 200 assets
		h := describeHistory(b, tc, workflows.AssetWorkflowID(camp.ID, ids[i]), "")
		asset.events, asset.bytes = max(asset.events, h.events), max(asset.bytes, h.bytes)
	}
	ratio := waves.Seconds() / baseline.Seconds()
	perAsset := float64(waves-baseline) / float64(n) / float64(time.Millisecond)
	b.ReportMetric(waves.Seconds(), "campaign-waves-s")
	b.ReportMetric(baseline.Seconds(), "baseline-s")
	b.ReportMetric(ratio, "waves/baseline")
	b.ReportMetric(perAsset, "overhead-ms/asset")
	b.Logf("%d assets, max_parallel %d, 2 workers: campaign waves %s (created→completed %s; POST answered in %s), baseline %d trivial children %s, ratio %.2f, overhead %.1f ms/asset",
		n, parallel, waves.Round(time.Millisecond), total.Round(time.Millisecond), accepted.Round(time.Millisecond), n, baseline.Round(time.Millisecond), ratio, perAsset)
	b.Logf("histories: campaign %d executions, the longest %d events / %.1f MB; largest asset (of 200) %d events / %.1f KB; baseline parent %d executions, the longest %d events / %.1f MB",
		runs, longest.events, float64(longest.bytes)/1e6, asset.events, float64(asset.bytes)/1e3, baseRuns, baseHist.events, float64(baseHist.bytes)/1e6)
	b.Logf("peak RSS: server %s, %s %s, %s %s", peakRSS(server), workers[0].name, peakRSS(workers[0]), workers[1].name, peakRSS(workers[1]))
	b.Logf("PostgreSQL (otpatch's and Temporal's databases): baseline %s; campaign waves %s", baseLoad, waveLoad)
}

// addBenchAssets adds n simulated ControlStation PLCs to the packaging zone and returns their ids.
func addBenchAssets(b *testing.B, st *store.Store, n int) []string {
	ctx := context.Background()
	tmpl, err := st.Asset(ctx, "ast_pkg-plc-01")
	if err != nil {
		b.Fatal(err)
	}
	sim := simulator.New(st.DB(), 0, nil)
	ids := make([]string, n)
	for lo := 0; lo < n; lo += 1000 {
		var as []store.Asset
		for i := lo; i < min(lo+1000, n); i++ {
			ids[i] = fmt.Sprintf("ast_fleet-%05d", i)
			as = append(as, store.Asset{ID: ids[i], ZoneID: tmpl.ZoneID, ProductID: tmpl.ProductID, Name: fmt.Sprintf("fleet-plc-%05d", i),
				InstalledVersion: tmpl.InstalledVersion, Criticality: 1, Adapter: "simulator"})
		}
		if err := st.CreateAssets(ctx, as, store.Event{Actor: "bench", Role: "system", Action: "asset.imported"}); err != nil {
			b.Fatal(err)
		}
		for _, a := range as {
			if err := sim.Register(ctx, a.ID, a.InstalledVersion, `{"bench":true}`); err != nil {
				b.Fatal(err)
			}
		}
	}
	return ids
}

// benchPatch submits a signed ControlStation patch through the CLI and waits for its
// qualification.
func benchPatch(b *testing.B, s *productionStack, base string) string {
	bin := lean(b)
	manifest := filepath.Join(s.dir, "manifest.json")
	artifact := filepath.Join(s.dir, "plc-2.9.4.fw")
	if err := os.WriteFile(artifact, bytes.Repeat([]byte("firmware"), 512), 0o644); err != nil {
		b.Fatal(err)
	}
	writeManifest(b, manifest, "ControlStation-PLC", "V2.9.4", "< V2.9.4")
	runCLI(b, bin, "vendor", "sign", "--key", filepath.Join(s.dir, "demo-keys", "acme.key"), "--manifest", manifest, "--artifact", artifact)
	id := strings.TrimSpace(runCLI(b, bin, "vendor", "submit", "--url", base, "--token", s.tokens["vendor"], "--manifest", signedManifest(manifest), artifact))
	c := apiClient{t: b, base: base}
	waitFor(b, "qualification", func() (bool, string) {
		var p struct{ Status string }
		c.json("GET", "/api/v1/patches/"+id, s.tokens["engineer"], nil, &p)
		return p.Status == "qualified", p.Status
	})
	return id
}

// waitStatus waits until the campaign's row has one of statuses and returns it.
func waitStatus(b *testing.B, st *store.Store, id string, within time.Duration, statuses ...string) string {
	deadline := time.Now().Add(within)
	for {
		c, err := st.Campaign(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range statuses {
			if c.Status == s {
				return s
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("campaign still %s after %s: %s", c.Status, within, c.Detail)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type historyInfo struct {
	events int64
	bytes  int64
}

func describeHistory(b *testing.B, tc client.Client, id, runID string) historyInfo {
	d, err := tc.DescribeWorkflowExecution(context.Background(), id, runID)
	if err != nil {
		b.Fatalf("describe %s: %v", id, err)
	}
	return historyInfo{events: d.GetWorkflowExecutionInfo().GetHistoryLength(), bytes: d.GetWorkflowExecutionInfo().GetHistorySizeBytes()}
}

// campaignRuns walks a workflow's executions from the last back to the first and returns how
// many there were and the longest history.
func campaignRuns(b *testing.B, tc client.Client, id string) (runs int, longest historyInfo) {
	for runID := ""; ; {
		runs++
		h := describeHistory(b, tc, id, runID)
		if h.events > longest.events {
			longest = h
		}
		it := tc.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		ev, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		if runID = ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(); runID == "" {
			return runs, longest
		}
	}
}

// peakRSS is a process's peak resident set (VmHWM).
func peakRSS(p *otpatchProcess) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown"
}

// pgStats are PostgreSQL's counters summed over the stack's databases.
type pgStats struct {
	commits, rowsWritten, rowsRead float64
}

func pgLoad(b *testing.B, db *sql.DB, names []string) pgStats {
	var s pgStats
	err := db.QueryRow(`SELECT sum(xact_commit), sum(tup_inserted + tup_updated + tup_deleted), sum(tup_returned + tup_fetched) FROM pg_stat_database WHERE datname = ANY($1)`, names).
		Scan(&s.commits, &s.rowsWritten, &s.rowsRead)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// dbName is the database a PostgreSQL URL names.
func dbName(b *testing.B, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

type pgRate struct{ commits, written, read float64 }

func (s pgStats) since(before pgStats, d time.Duration) pgRate {
	return pgRate{commits: (s.commits - before.commits) / d.Seconds(), written: (s.rowsWritten - before.rowsWritten) / d.Seconds(), read: (s.rowsRead - before.rowsRead) / d.Seconds()}
}

func (r pgRate) String() string {
	return fmt.Sprintf("%.0f commits/s, %.0f rows written/s, %.0f rows read/s", r.commits, r.written, r.read)
}
