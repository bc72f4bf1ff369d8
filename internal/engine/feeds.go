package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// ScheduleFeed makes the feed's Temporal Schedule start FeedSync every interval (creating
// it, or changing the interval of the one there is). A sync still running when the next is
// due is not doubled: the schedule skips it.
func (g *Gateway) ScheduleFeed(ctx context.Context, feedID string, every time.Duration) error {
	return g.scheduleEvery(ctx, workflows.FeedScheduleID(feedID), every, &client.ScheduleWorkflowAction{
		ID: workflows.FeedSyncWorkflowID(feedID), Workflow: workflows.FeedSync, TaskQueue: workflows.TaskQueue,
		Args: []any{activities.FeedSyncInput{FeedID: feedID}},
	}, map[string]any{"feed_id": feedID})
}

// FeedSchedule describes a feed's schedule: its interval, or ok false when it has none.
func (g *Gateway) FeedSchedule(ctx context.Context, feedID string) (every time.Duration, ok bool, err error) {
	d, err := g.Temporal.ScheduleClient().GetHandle(ctx, workflows.FeedScheduleID(feedID)).Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if d.Schedule.Spec != nil && len(d.Schedule.Spec.Intervals) > 0 {
		every = d.Schedule.Spec.Intervals[0].Every
	}
	return every, true, nil
}

// UnscheduleFeed deletes the feed's schedule; a schedule already gone is no error.
func (g *Gateway) UnscheduleFeed(ctx context.Context, feedID string) error {
	err := g.Temporal.ScheduleClient().GetHandle(ctx, workflows.FeedScheduleID(feedID)).Delete(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// SyncFeed runs a sync of the feed now and waits for its result; a sync of the feed already
// running (its schedule's, or another request's) is joined rather than doubled.
func (g *Gateway) SyncFeed(ctx context.Context, feedID string) (activities.FeedSyncResult, error) {
	run, err := g.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.FeedSyncWorkflowID(feedID), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionTimeout: 2 * workflows.FeedSyncTimeout,
	}, workflows.FeedSync, activities.FeedSyncInput{FeedID: feedID})
	if err != nil {
		return activities.FeedSyncResult{}, err
	}
	var res activities.FeedSyncResult
	return res, run.Get(ctx, &res)
}

// ReconcileFeeds gives every feed that has no schedule its schedule: a feed stored just before
// the process stopped, its schedule not created yet. It answers the feeds it scheduled. The
// server runs it once at start.
func (g *Gateway) ReconcileFeeds(ctx context.Context, st *store.Store) ([]string, error) {
	var scheduled []string
	var errs []error
	var afterAt time.Time
	afterID := ""
	for {
		feeds, err := st.FeedsPage(ctx, afterAt, afterID, reconcileBatch)
		if err != nil {
			return scheduled, err
		}
		for _, f := range feeds {
			_, ok, err := g.FeedSchedule(ctx, f.ID)
			if err == nil && !ok {
				if err = g.ScheduleFeed(ctx, f.ID, time.Duration(f.IntervalMinutes)*time.Minute); err == nil {
					scheduled = append(scheduled, f.ID)
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("schedule of feed %s: %w", f.ID, err))
			}
		}
		if len(feeds) < reconcileBatch {
			return scheduled, errors.Join(errs...)
		}
		afterAt, afterID = feeds[len(feeds)-1].CreatedAt, feeds[len(feeds)-1].ID
	}
}
