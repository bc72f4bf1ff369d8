package engine

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/otpatch/otpatch/workflows"
)

// DefaultNotifyEvery is how often the notification dispatcher reads the audit log.
const DefaultNotifyEvery = time.Minute

// ScheduleNotifications makes the Temporal Schedule that runs the notification dispatcher
// every interval (creating it, or changing the interval of the one there is). A dispatch
// still running when the next is due is not doubled: the schedule skips it.
func (g *Gateway) ScheduleNotifications(ctx context.Context, every time.Duration) error {
	return g.scheduleEvery(ctx, workflows.NotificationScheduleID, every, &client.ScheduleWorkflowAction{
		ID: workflows.NotificationDispatchWorkflowID, Workflow: workflows.NotificationDispatch, TaskQueue: workflows.TaskQueue,
		Args: []any{workflows.NotificationDispatchInput{}},
	}, nil)
}

// DispatchNotifications runs the dispatcher now and waits for it; a dispatch already running
// is joined rather than doubled.
func (g *Gateway) DispatchNotifications(ctx context.Context) (workflows.NotificationDispatchResult, error) {
	return runJoined[workflows.NotificationDispatchResult](ctx, g, workflows.NotificationDispatchWorkflowID, workflows.NotificationDispatch, workflows.NotificationDispatchInput{})
}

// runJoined starts workflow wf with id and input in, or joins the run of that id already
// going, and waits for its result.
func runJoined[R any](ctx context.Context, g *Gateway, id string, wf, in any) (R, error) {
	var res R
	run, err := g.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, wf, in)
	if err != nil {
		return res, err
	}
	return res, run.Get(ctx, &res)
}
