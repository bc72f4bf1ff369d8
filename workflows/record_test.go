//go:build histories

package workflows

// Records the workflow histories that TestReplayHistories replays, by running campaigns on an
// embedded Temporal server with a real worker and fake activities. It takes about two minutes
// of wall time (the window opens two minutes after the start) and is built only with the
// histories tag:
//
//	go test -tags histories -run TestRecordHistories ./workflows/ -history-prefix v1
//
// Record a new set (a new prefix) whenever workflow code changes, and keep the old ones: the
// replay test then proves old histories still replay.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/temporalembed"
)

var historyPrefix = flag.String("history-prefix", "v1", "file name prefix of the recorded histories in testdata/")

// recordActivities has the activity names and signatures of activities.Activities, with a fake
// plant behind them: assets whose id starts with "bad" fail verification of the new version.
type recordActivities struct {
	plans map[string]activities.CampaignPlan
}

func (r *recordActivities) LoadCampaign(_ context.Context, id string) (activities.CampaignPlan, error) {
	p, ok := r.plans[id]
	if !ok {
		return p, fmt.Errorf("no campaign %s", id)
	}
	return p, nil
}
func (r *recordActivities) SetCampaignStatus(context.Context, activities.StatusInput) error {
	return nil
}
func (r *recordActivities) SetNextWindow(context.Context, activities.WindowInput) error { return nil }
func (r *recordActivities) RecordApproval(context.Context, activities.ApprovalInput) error {
	return nil
}
func (r *recordActivities) SetAssetState(context.Context, activities.AssetStateInput) error {
	return nil
}
func (r *recordActivities) BackupAsset(_ context.Context, in activities.AssetInput) (activities.BackupResult, error) {
	return activities.BackupResult{Key: backupKey(in.CampaignID, in.AssetID), SHA256: backupSHA(in.AssetID), Size: 4096, Version: fromVersion}, nil
}
func (r *recordActivities) DeployAsset(context.Context, activities.DeployInput) error { return nil }
func (r *recordActivities) VerifyAsset(_ context.Context, in activities.VerifyInput) (adapters.VerifyResult, error) {
	if strings.HasPrefix(in.AssetID, "bad") && in.Expect == toVersion {
		return adapters.VerifyResult{Version: toVersion, Healthy: false, Detail: "process value watchdog tripped"}, nil
	}
	return adapters.VerifyResult{Version: in.Expect, Healthy: true}, nil
}
func (r *recordActivities) RestoreAsset(context.Context, activities.RestoreInput) error { return nil }

func TestRecordHistories(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := temporalembed.Start(ctx, temporalembed.Config{DBPath: filepath.Join(t.TempDir(), "temporal.db"), FrontendAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A daily window that opens two minutes from now, so the campaign sleeps on a timer first.
	loc := zurich(t)
	opens := time.Now().In(loc).Truncate(time.Minute).Add(2 * time.Minute)
	w := window(fmt.Sprintf("%d %d * * *", opens.Minute(), opens.Hour()), 30*time.Minute, 2)
	plans := map[string]activities.CampaignPlan{}
	for id, prod := range map[string]string{"rec-completed": "plc1", "rec-rolled-back": "bad-plc1"} {
		p := newPlan(benchTarget("bench1"), target(prod, "line1", 1, 1, w, time.Minute))
		p.CampaignID = id
		plans[id] = p
	}

	wk := worker.New(c, TaskQueue, worker.Options{})
	wk.RegisterWorkflow(Campaign)
	wk.RegisterWorkflow(AssetDeployment)
	wk.RegisterActivity(&recordActivities{plans: plans})
	if err := wk.Start(); err != nil {
		t.Fatal(err)
	}
	defer wk.Stop()

	runs := map[string]client.WorkflowRun{}
	for id := range plans {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: CampaignWorkflowID(id), TaskQueue: TaskQueue}, Campaign, CampaignInput{CampaignID: id})
		if err != nil {
			t.Fatal(err)
		}
		runs[id] = run
	}
	for id, run := range runs {
		waitForStatus(ctx, t, c, run.GetID(), domain.CampaignAwaitingApproval)
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateID: "approve-" + id,
			UpdateName: UpdateDecision, Args: []any{approve(alice)}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			t.Fatal(err)
		}
		var resp DecisionResponse
		if err := h.Get(ctx, &resp); err != nil || !resp.Satisfied {
			t.Fatalf("approval of %s: %+v, %v", id, resp, err)
		}
	}
	for id, run := range runs {
		var res CampaignResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", id, res)
		writeHistory(ctx, t, c, run.GetID(), fmt.Sprintf("%s-campaign-%s.json", *historyPrefix, strings.TrimPrefix(id, "rec-")))
		for _, tg := range plans[id].Targets {
			if !tg.TestBench {
				writeHistory(ctx, t, c, AssetWorkflowID(id, tg.AssetID), fmt.Sprintf("%s-asset-%s.json", *historyPrefix, strings.TrimPrefix(id, "rec-")))
			}
		}
	}
}

func waitForStatus(ctx context.Context, t *testing.T, c client.Client, id string, want domain.CampaignStatus) {
	t.Helper()
	for {
		v, err := c.QueryWorkflow(ctx, id, "", QueryStatus)
		if err == nil {
			var s CampaignStatus
			if err := v.Get(&s); err == nil && s.Status == want {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never reached %s", id, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func writeHistory(ctx context.Context, t *testing.T, c client.Client, id, name string) {
	t.Helper()
	var h historypb.History
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", name), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote testdata/%s (%d events)", name, len(h.Events))
}
