package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
)

// CSAF feeds: each feed has a Temporal Schedule (FeedScheduleID) that starts FeedSync every
// interval; a sync asked for now starts the same workflow by the same id, so one sync of a
// feed runs at a time.

// FeedScheduleID is the id of a feed's schedule.
func FeedScheduleID(feedID string) string { return "feed-" + feedID }

// FeedSyncWorkflowID is the workflow id of a feed's sync.
func FeedSyncWorkflowID(feedID string) string { return "feed-sync-" + feedID }

// FeedSyncTimeout bounds one sync: the provider's files are each bounded in size and time.
const FeedSyncTimeout = 30 * time.Minute

// FeedSync runs one sync of a CSAF feed.
func FeedSync(ctx workflow.Context, in activities.FeedSyncInput) (activities.FeedSyncResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: FeedSyncTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute, MaximumAttempts: 3},
	})
	var res activities.FeedSyncResult
	err := workflow.ExecuteActivity(ctx, a.SyncFeed, in).Get(ctx, &res)
	return res, err
}
