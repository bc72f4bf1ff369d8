package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
)

// Notifications: a Temporal Schedule (NotificationScheduleID) starts NotificationDispatch
// every interval; it reads the audit log from the stored cursor and starts one
// NotificationDelivery per recipient, each by a workflow id made from the notification and
// the recipient with a reuse policy that refuses a second run: a dispatch that stopped after
// starting deliveries and before moving the cursor starts none of them twice.

// NotificationScheduleID is the id of the dispatcher's schedule.
const NotificationScheduleID = "notifications"

// NotificationDispatchWorkflowID is the workflow id of the dispatcher: one runs at a time.
const NotificationDispatchWorkflowID = "notification-dispatch"

// NotificationDeliveryWorkflowID is the workflow id of one delivery.
func NotificationDeliveryWorkflowID(d activities.DeliveryInput) string {
	return "notify-" + d.DeliveryKey()
}

// dispatchPages bounds how many batches of audit events one dispatch reads; the next run
// goes on from the cursor.
const dispatchPages = 20

// NotificationDispatchInput starts a dispatch.
type NotificationDispatchInput struct{}

// NotificationDispatchResult says what a dispatch started.
type NotificationDispatchResult struct {
	Started int   `json:"started"`
	Through int64 `json:"through"`
}

// NotificationDispatch turns the audit events after the cursor into deliveries.
func NotificationDispatch(ctx workflow.Context, _ NotificationDispatchInput) (NotificationDispatchResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5},
	})
	var res NotificationDispatchResult
	// What the clock made due is first recorded in the audit log, then told with the rest.
	if err := workflow.ExecuteActivity(ctx, a.CheckClock).Get(ctx, nil); err != nil {
		return res, err
	}
	for range dispatchPages {
		var p activities.PendingNotifications
		if err := workflow.ExecuteActivity(ctx, a.PendingNotifications, activities.PendingInput{}).Get(ctx, &p); err != nil {
			return res, err
		}
		for _, d := range p.Deliveries {
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID:            NotificationDeliveryWorkflowID(d),
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
				ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			})
			err := workflow.ExecuteChildWorkflow(cctx, NotificationDelivery, d).GetChildWorkflowExecution().Get(ctx, nil)
			var started *temporal.ChildWorkflowExecutionAlreadyStartedError
			switch {
			case errors.As(err, &started):
				// Started by an earlier dispatch: not sent twice.
			case err != nil:
				return res, err
			default:
				res.Started++
			}
		}
		if p.Through > res.Through {
			if err := workflow.ExecuteActivity(ctx, a.AdvanceNotifications, p.Through).Get(ctx, nil); err != nil {
				return res, err
			}
			res.Through = p.Through
		}
		if !p.More {
			break
		}
	}
	return res, nil
}

// NotificationDelivery delivers one notification to one recipient: each attempt is an
// activity, retried with back-off as the input says, each written to the delivery log.
func NotificationDelivery(ctx workflow.Context, in activities.DeliveryInput) (activities.DeliveryResult, error) {
	initial := time.Duration(in.RetryInitialMs) * time.Millisecond
	if initial <= 0 {
		initial = 30 * time.Second
	}
	maximum := max(time.Duration(in.RetryMaxMs)*time.Millisecond, initial)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: initial, BackoffCoefficient: 2, MaximumInterval: maximum, MaximumAttempts: int32(max(in.Attempts, 1))},
	})
	var res activities.DeliveryResult
	err := workflow.ExecuteActivity(ctx, a.DeliverNotification, in).Get(ctx, &res)
	return res, err
}
