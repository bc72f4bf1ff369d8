package workflows

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// TestFeedSync runs SyncFeed for the feed, retries a store failure a bounded number of times
// and returns what the sync did.
func TestFeedSync(t *testing.T) {
	for _, tt := range []struct {
		name      string
		transient int
		wantErr   bool
	}{
		{name: "synced"},
		{name: "a store failure is retried", transient: 2},
		{name: "three failures fail the workflow", transient: 3, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(FeedSync)
			env.RegisterActivity(&activities.Activities{})
			calls := 0
			want := activities.FeedSyncResult{FeedID: "feed1", Result: domain.FeedSyncRefusals, Ingested: 2, Refused: 1}
			env.OnActivity(a.SyncFeed, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.FeedSyncInput) (activities.FeedSyncResult, error) {
					calls++
					if in.FeedID != "feed1" {
						t.Errorf("SyncFeed of %q", in.FeedID)
					}
					if calls <= tt.transient {
						return activities.FeedSyncResult{}, errors.New("database is locked")
					}
					return want, nil
				})
			env.ExecuteWorkflow(FeedSync, activities.FeedSyncInput{FeedID: "feed1"})
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if err := env.GetWorkflowError(); (err != nil) != tt.wantErr {
				t.Fatalf("workflow error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				if calls != 3 {
					t.Fatalf("SyncFeed ran %d times, want 3", calls)
				}
				return
			}
			var got activities.FeedSyncResult
			if err := env.GetWorkflowResult(&got); err != nil || got != want {
				t.Fatalf("result %+v, %v; want %+v", got, err, want)
			}
		})
	}
}
