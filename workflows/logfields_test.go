package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func TestLogFields(t *testing.T) {
	for id, want := range map[string][]any{
		"campaign-cmp_1":               {"campaign_id", "cmp_1"},
		"campaign-cmp_1-asset-ast_x-1": {"campaign_id", "cmp_1", "asset_id", "ast_x-1"},
		"qualify-pat_9":                {"patch_id", "pat_9"},
		"feed-sync-fd_1":               nil,
	} {
		if got := LogFields(id); !slices.Equal(got, want) {
			t.Errorf("LogFields(%q) = %v, want %v", id, got, want)
		}
	}
}

// lines is a logger that keeps each line with its fields.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) add(msg string, kv []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, msg+" "+strings.TrimSpace(fmt.Sprintln(kv...)))
}
func (l *lines) Debug(msg string, kv ...any) { l.add(msg, kv) }
func (l *lines) Info(msg string, kv ...any)  { l.add(msg, kv) }
func (l *lines) Warn(msg string, kv ...any)  { l.add(msg, kv) }
func (l *lines) Error(msg string, kv ...any) { l.add(msg, kv) }
func (l *lines) With(kv ...any) log.Logger   { return &with{l, kv} }

type with struct {
	*lines
	kv []any
}

func (w *with) Info(msg string, kv ...any) { w.add(msg, append(slices.Clone(w.kv), kv...)) }
func (w *with) Warn(msg string, kv ...any) { w.add(msg, append(slices.Clone(w.kv), kv...)) }
func (w *with) With(kv ...any) log.Logger  { return &with{w.lines, append(slices.Clone(w.kv), kv...)} }

// TestLogLinesNameTheCampaignAndAsset: what a workflow and its activity log through the SDK's
// logger, on a worker made with WorkerOptions, carries the campaign and asset IDs.
func TestLogLinesNameTheCampaignAndAsset(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	logged := &lines{}
	s.SetLogger(logged)
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(WorkerOptions(worker.Options{}))
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: AssetWorkflowID("cmp_7", "ast_pkg-hmi-01")})
	act := func(ctx context.Context) error {
		activity.GetLogger(ctx).Info("activity line")
		return nil
	}
	env.RegisterActivityWithOptions(act, activity.RegisterOptions{Name: "logLine"})
	env.ExecuteWorkflow(func(ctx workflow.Context) error {
		workflow.GetLogger(ctx).Info("workflow line")
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10e9})
		return workflow.ExecuteActivity(ctx, "logLine").Get(ctx, nil)
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"workflow line", "activity line"} {
		found := false
		for _, l := range logged.all {
			found = found || strings.HasPrefix(l, msg) && strings.Contains(l, "campaign_id cmp_7") && strings.Contains(l, "asset_id ast_pkg-hmi-01")
		}
		if !found {
			t.Errorf("no %q line with campaign_id and asset_id in:\n%s", msg, strings.Join(logged.all, "\n"))
		}
	}
}
