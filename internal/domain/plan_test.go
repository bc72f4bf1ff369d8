package domain

import (
	"errors"
	"strings"
	"testing"
)

func planManifest() *Manifest {
	return &Manifest{FixedVersion: "V16.0.2", AffectedVersions: []string{"<V16.0.2"},
		Compatibility: []CompatibilityRow{{ProductVersion: "V16.0.1", Status: "qualified"}, {ProductVersion: "V15.1", Status: "not_qualified", Notes: "needs V15.2 first"}}}
}

func planInventory() []Candidate {
	win := Window{Cron: "0 2 * * 0", Duration: Duration(4 * 3600e9), TimeZone: "UTC", MaxParallel: 2}
	return []Candidate{
		{AssetID: "bench", Name: "bench-hmi-01", ZoneID: "z-bench", TestBench: true, InstalledVersion: "V16.0.2", Window: win,
			Baselines: []Baseline{{Version: "V16.0.1", ObjectKey: "backups/c1/bench.bin", SHA256: "aa", Size: 3}}},
		{AssetID: "hmi1", Name: "pkg-hmi-01", ZoneID: "z-pkg", ZoneName: "Packaging", SLT: 2, InstalledVersion: "V16.0.1", Window: win, Criticality: 2},
		{AssetID: "hmi2", Name: "pkg-hmi-02", ZoneID: "z-pkg", ZoneName: "Packaging", SLT: 2, InstalledVersion: "V16.0.2", Window: win},
		{AssetID: "hmi6", Name: "pkg-hmi-06", ZoneID: "z-pkg", ZoneName: "Packaging", SLT: 2, InstalledVersion: "V15.2", Window: win},
		{AssetID: "hmi7", Name: "pkg-hmi-07", ZoneID: "z-pkg", ZoneName: "Packaging", SLT: 2, InstalledVersion: "V15.1", Window: win},
		{AssetID: "sis1", Name: "sis-hmi-01", ZoneID: "z-sis", ZoneName: "Safety", SLT: 3, SafetyCritical: true, InstalledVersion: "V16.0.1", Window: win, Criticality: 5},
		{AssetID: "sis9", Name: "sis-hmi-09", ZoneID: "z-sis", ZoneName: "Safety", SLT: 3, SafetyCritical: true, InstalledVersion: "V15.2", Window: win},
	}
}

func TestBuildPlan(t *testing.T) {
	m := planManifest()
	for _, tc := range []struct {
		name    string
		req     PlanRequest
		field   string
		message string
	}{
		{"no targets", PlanRequest{}, "asset_ids", "names no asset"},
		{"already fixed", PlanRequest{AssetIDs: []string{"hmi2"}}, "asset_ids", "pkg-hmi-02 runs V16.0.2, already at or past the fixed version V16.0.2"},
		{"not qualified", PlanRequest{AssetIDs: []string{"hmi7"}}, "asset_ids", "not qualified for this patch (needs V15.2 first)"},
		{"not stated without acceptance", PlanRequest{AssetIDs: []string{"hmi6"}}, "asset_ids", "accept it explicitly with accept_not_stated"},
		{"acceptance without reason", PlanRequest{AssetIDs: []string{"hmi6"}, AcceptNotStated: []string{"hmi6"}}, "accept_reason", "is required"},
		{"unknown asset", PlanRequest{AssetIDs: []string{"nope"}}, "asset_ids", "nope: no asset of this patch's product"},
		{"bench as target", PlanRequest{AssetIDs: []string{"bench"}}, "asset_ids", "is a test-bench asset"},
		{"threshold above a safety zone", PlanRequest{AssetIDs: []string{"hmi1", "sis1"}, ErrorThreshold: 1}, "error_threshold", "zone Safety holds SL-T 3–4"},
		{"safety target without bench coverage", PlanRequest{AssetIDs: []string{"sis9"}, AcceptNotStated: []string{"sis9"}, AcceptReason: "r"}, "asset_ids", "sis-hmi-09 (SL-T 3, safety-critical) runs V15.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildPlan(m, tc.req, planInventory())
			var v *ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("err = %v, want a validation error", err)
			}
			for _, f := range v.Fields {
				if f.Field == tc.field && strings.Contains(f.Message, tc.message) {
					return
				}
			}
			t.Fatalf("errors %+v lack %s: %q", v.Fields, tc.field, tc.message)
		})
	}

	t.Run("complete plan", func(t *testing.T) {
		p, err := BuildPlan(m, PlanRequest{PatchID: "p", AssetIDs: []string{"sis1", "hmi1", "hmi6"}, AcceptNotStated: []string{"hmi6"}, AcceptReason: "vendor confirmed by phone", CreatedBy: "eve"}, planInventory())
		if err != nil {
			t.Fatal(err)
		}
		if p.ToVersion != "V16.0.2" || len(p.Bench) != 1 || p.Bench[0].AssetID != "bench" || p.Bench[0].FromVersion != "V16.0.1" || p.Bench[0].Prepare != PrepareRestoreBaseline {
			t.Fatalf("bench = %+v, want bench restored to the V16.0.1 baseline", p.Bench)
		}
		if strings.Join(p.Uncovered, ",") != "hmi6" {
			t.Fatalf("uncovered = %v, want hmi6 (V15.2, no bench)", p.Uncovered)
		}
		if len(p.Waves) != 2 || p.Waves[0].ZoneID != "z-pkg" || p.Waves[1].ZoneID != "z-sis" || p.Waves[1].ErrorThreshold != 0 {
			t.Fatalf("waves = %+v, want packaging then safety", p.Waves)
		}
		if p.Acceptance == nil || p.Acceptance.By != "eve" || p.Acceptance.AssetIDs[0] != "hmi6" {
			t.Fatalf("acceptance = %+v", p.Acceptance)
		}
		for _, tg := range p.Targets {
			if tg.AssetID == "hmi6" && (!tg.Accepted || tg.Compatibility != CompatNotStated || tg.FromVersion != "V15.2") {
				t.Fatalf("hmi6 target = %+v", tg)
			}
		}
		again, _ := BuildPlan(m, PlanRequest{PatchID: "p", AssetIDs: []string{"hmi6", "hmi1", "sis1"}, AcceptNotStated: []string{"hmi6"}, AcceptReason: "vendor confirmed by phone", CreatedBy: "eve"}, planInventory())
		if again.Digest() != p.Digest() {
			t.Fatal("the same plan asked in another order has another digest")
		}
	})
}

func TestWrongDigestRefusalHidesTheCurrentDigest(t *testing.T) {
	current := strings.Repeat("ab", 32)
	err := Policy{Approvals: 1}.CheckApprover("eve", Actor{Name: "omar", Role: RoleApprover}, "deadbeef", current, nil)
	if err == nil || strings.Contains(err.Error(), current) || strings.Contains(err.Error(), current[:12]) {
		t.Fatalf("refusal %v reveals the current digest", err)
	}
}

func TestStateInfoCoversEveryState(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range AssetStateInfo() {
		if s.Label == "" || s.Tone == "" {
			t.Errorf("asset state %s has no label or tone", s.Value)
		}
		seen[s.Value] = true
	}
	for _, s := range AssetStates() {
		if !seen[string(s)] {
			t.Errorf("asset state %s is not listed", s)
		}
	}
	ended := 0
	for _, s := range CampaignStatusInfo() {
		if s.Ended {
			ended++
		}
	}
	if ended != len(TerminalStatuses()) {
		t.Errorf("%d campaign statuses are marked ended, want the %d terminal ones", ended, len(TerminalStatuses()))
	}
}
