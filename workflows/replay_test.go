package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplayHistories replays every history in testdata/ (recorded by TestRecordHistories,
// record_test.go) against today's workflow code, so a change that would break campaigns already
// running fails here instead of in production. v0-* histories were recorded before the
// "decision-recorded-before-proceeding" version marker existed; v2-* add campaigns paused and
// resumed, aborted mid-wave, deployed under a backup waiver and re-planned by a window edit,
// and asset states recorded by a local activity; v3-* add plans carrying from-versions, bench
// runs and waves, the device read before each change, window occurrences recorded by a local
// activity and never-started assets closed; v4-* add backup waivers stored in the plan, so an
// approved campaign waits for an approval of the plan with the waiver; v5-* add the route of
// each asset's device work (RouteAsset), device work on a site worker's task queue (patched and
// rolled back through the site) and a site without a worker (site_unreachable); v6-* add plans
// carried to an air-gapped site and plans imported there; v7-* add plans loaded as an outline
// with their targets a page at a time, and a campaign that continues as new after each page
// (v7-campaign-continued-1 … -4: each execution's history, from the start with the bench and
// the approval, through the continuations that resume mid-wave, to the one that finds the wave
// done).
func TestReplayHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no histories in testdata/; record them with: go test -tags histories -run TestRecordHistories ./workflows/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(Campaign)
			r.RegisterWorkflow(AssetDeployment)
			r.RegisterWorkflow(PatchQualification)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Errorf("%s does not replay: %v", f, err)
			}
		})
	}
}
