package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/internal/teststack"
	"github.com/otpatch/otpatch/workflows"
)

// BenchmarkEngineCampaign1000 runs a campaign over 1,000 simulated assets (zero-latency
// simulator, window always open, max_parallel 50) on the real Temporal test server with the
// real activities, store and object store, and beside it, on the same server in the same run, a
// baseline: a parent workflow that starts 1,000 trivial child workflows in batches of 50. It
// reports both wall times, the per-asset overhead, and the longest workflow histories. Never in
// CI (docs/benchmarks.md):
//
//	go test ./api/ -run '^$' -bench EngineCampaign1000 -benchtime 1x -timeout 30m
//
// OTPATCH_BENCH_ASSETS changes the number of assets, OTPATCH_BENCH_PARALLEL the batch size.
func BenchmarkEngineCampaign1000(b *testing.B) {
	n, parallel := testenv.EnvInt("OTPATCH_BENCH_ASSETS", 1000), testenv.EnvInt("OTPATCH_BENCH_PARALLEL", 50)
	for i := 0; i < b.N; i++ {
		benchCampaign(b, n, parallel)
	}
}

func benchCampaign(b *testing.B, n, parallel int) {
	b.StopTimer()
	ctx := context.Background()
	e := newEnvTB(b, envOptions{})
	ids := addSimulatedHMIs(b, e, n, parallel)
	p := e.qualifiedPatch(newTestPatch(b, "V16.0.2", 4096))

	// Baseline: 1,000 trivial children in batches of parallel, on the same server.
	e.temporal.NewWorker("bench-baseline", func(r worker.Registry) {
		r.RegisterWorkflow(teststack.BaselineParent)
		r.RegisterWorkflow(teststack.BaselineChild)
	})
	tc := e.temporal.GetDefaultClient()
	start := time.Now()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-baseline", TaskQueue: "bench-baseline"}, teststack.BaselineParent, n, parallel, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		b.Fatal(err)
	}
	baseline := time.Since(start)
	baseParentEvents := historyLength(b, tc, "bench-baseline")

	// The campaign: created, validated on the test bench, approved, then 1,000 assets.
	b.StartTimer()
	created := time.Now()
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "bench", "patch_id": p.ID, "asset_ids": ids}, &c); code != http.StatusCreated {
		b.Fatalf("create campaign: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	if c.Status != "awaiting_approval" {
		b.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		b.Fatalf("approve: %d", code)
	}
	approved := time.Now()
	// Poll the store, not GET /campaigns/{id}: that answer lists all 1,000 assets, and polling
	// it would load the machine the benchmark measures.
	deadline := time.Now().Add(30 * time.Minute)
	for {
		sc, err := e.store.Campaign(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		if sc.Status == "completed" || sc.Status == "halted" || sc.Status == "rolled_back" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("campaign still %s", sc.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	waves := time.Since(approved)
	total := time.Since(created)
	done := e.campaign(c.ID)
	if done.Status != "completed" {
		b.Fatalf("campaign %s: %s", done.Status, done.Detail)
	}

	campaignEvents := historyLength(b, tc, workflows.CampaignWorkflowID(c.ID))
	maxAsset := 0
	for _, id := range ids {
		maxAsset = max(maxAsset, historyLength(b, tc, workflows.AssetWorkflowID(c.ID, id)))
	}
	perAsset := float64(waves-baseline) / float64(n) / float64(time.Millisecond)
	b.ReportMetric(waves.Seconds(), "campaign-waves-s")
	b.ReportMetric(total.Seconds(), "campaign-total-s")
	b.ReportMetric(baseline.Seconds(), "baseline-s")
	b.ReportMetric(waves.Seconds()/baseline.Seconds(), "waves/baseline")
	b.ReportMetric(perAsset, "overhead-ms/asset")
	b.ReportMetric(float64(campaignEvents), "campaign-events")
	b.ReportMetric(float64(maxAsset), "max-asset-events")
	b.ReportMetric(float64(baseParentEvents), "baseline-parent-events")
	b.Logf("%d assets, max_parallel %d: campaign waves %s (created→completed %s), baseline %d trivial children %s, ratio %.2f, overhead %.1f ms/asset; history events: campaign %d, largest asset %d, baseline parent %d",
		n, parallel, waves.Round(time.Millisecond), total.Round(time.Millisecond), n, baseline.Round(time.Millisecond), waves.Seconds()/baseline.Seconds(), perAsset, campaignEvents, maxAsset, baseParentEvents)
}

// addSimulatedHMIs adds n simulated ViewPanel HMIs to the packaging zone, whose window it opens
// now (always open, parallel at a time), and returns their ids.
func addSimulatedHMIs(tb testing.TB, e *env, n, parallel int) []string {
	tb.Helper()
	ctx := context.Background()
	tmpl, err := e.store.Asset(ctx, "ast_pkg-hmi-01")
	if err != nil {
		tb.Fatal(err)
	}
	as := make([]store.Asset, n)
	ids := make([]string, n)
	for i := range as {
		ids[i] = fmt.Sprintf("ast_bench-%05d", i)
		as[i] = store.Asset{ID: ids[i], ZoneID: tmpl.ZoneID, ProductID: tmpl.ProductID, Name: fmt.Sprintf("bench-hmi-%05d", i),
			InstalledVersion: tmpl.InstalledVersion, Criticality: 1, Adapter: "simulator"}
	}
	if err := e.store.CreateAssets(ctx, as, store.Event{Actor: "bench", Role: "system", Action: "asset.imported"}); err != nil {
		tb.Fatal(err)
	}
	for _, a := range as {
		if err := e.sim.Register(ctx, a.ID, a.InstalledVersion, `{"bench":true}`); err != nil {
			tb.Fatal(err)
		}
	}
	w := domain.Window{Cron: "* * * * *", Duration: domain.Duration(6 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: parallel}
	if code := e.call("PUT", "/api/v1/zones/"+tmpl.ZoneID+"/window", e.tokens.Engineer, w, nil); code != http.StatusOK {
		tb.Fatalf("set window: %d", code)
	}
	return ids
}

// historyLength counts the events of a workflow's history.
func historyLength(b testing.TB, c client.Client, workflowID string) int {
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			b.Fatalf("history of %s: %v", workflowID, err)
		}
		n++
	}
	return n
}

// BenchmarkCreateCampaign50000 creates a campaign of 50,000 simulated HMIs through the API on
// PostgreSQL and reports how long POST /api/v1/campaigns takes to answer 201: the plan computed
// from the inventory, its digest, the campaign and its 50,000 targets stored, the workflow
// started. Never in CI (docs/benchmarks.md):
//
//	export OTPATCH_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go test ./api/ -run '^$' -bench CreateCampaign50000 -benchtime 1x -timeout 30m
//
// OTPATCH_BENCH_ASSETS changes the number of assets.
func BenchmarkCreateCampaign50000(b *testing.B) {
	n := testenv.EnvInt("OTPATCH_BENCH_ASSETS", 50000)
	e := newEnvTB(b, envOptions{postgres: true})
	ids := addSimulatedHMIs(b, e, n, 100)
	p := e.qualifiedPatch(newTestPatch(b, "V16.0.2", 4096))
	b.ResetTimer()
	var took time.Duration
	for i := range b.N {
		var c campaignDoc
		start := time.Now()
		code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": fmt.Sprintf("plant-wide %d", i), "patch_id": p.ID, "asset_ids": ids}, &c)
		took = time.Since(start)
		if code != http.StatusCreated {
			b.Fatalf("create a campaign of %d assets: %d", n, code)
		}
		b.StopTimer()
		b.Logf("%d assets: POST /api/v1/campaigns answered 201 in %s", n, took.Round(time.Millisecond))
		if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/abort", e.tokens.Engineer, map[string]any{"reason": "benchmark"}, nil); code != http.StatusOK && code != http.StatusAccepted {
			b.Fatalf("abort: %d", code)
		}
		e.waitCampaignWithin(10*time.Minute, c.ID, "aborted")
		b.StartTimer()
	}
}
