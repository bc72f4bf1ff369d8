package domain

import (
	"fmt"
	"testing"
)

// BenchmarkPlan50000 computes the plan of a campaign over 50,000 production assets in 50 zones
// (every one running the qualified from-version, one bench asset covering it) and its digest:
// what POST /api/v1/campaigns computes before it stores the campaign. Never in CI
// (docs/benchmarks.md):
//
//	go test ./internal/domain -run '^$' -bench Plan50000 -benchtime 10x
func BenchmarkPlan50000(b *testing.B) {
	const n, zones = 50000, 50
	m := planManifest()
	win := Window{Cron: "0 2 * * 0", Duration: Duration(4 * 3600e9), TimeZone: "Europe/Zurich", MaxParallel: 100}
	inv := []Candidate{{AssetID: "ast_bench-hmi-01", Name: "bench-hmi-01", ZoneID: "z-bench", TestBench: true, InstalledVersion: "V16.0.2", Window: win,
		Baselines: []Baseline{{Version: "V16.0.1", ObjectKey: "backups/c1/bench.bin", SHA256: "aa", Size: 3}}}}
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("ast_line%02d-hmi-%05d", i%zones, i)
		inv = append(inv, Candidate{AssetID: ids[i], Name: ids[i][4:], ZoneID: fmt.Sprintf("z-line%02d", i%zones), ZoneName: fmt.Sprintf("Line %02d", i%zones),
			SLT: 2, InstalledVersion: "V16.0.1", Window: win, Criticality: 1 + i%5, RedundancyGroup: fmt.Sprintf("rg-%05d", i/2)})
	}
	req := PlanRequest{PatchID: "pat_acme-sa-2026-014", ManifestSHA256: "ab", CreatedBy: "eve", AssetIDs: ids, ErrorThreshold: 5}
	b.ResetTimer()
	for b.Loop() {
		p, err := BuildPlan(m, req, inv)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Targets) != n+1 || p.Digest() == "" {
			b.Fatalf("plan of %d targets", len(p.Targets))
		}
	}
}
