package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// Restore drills: each drill plan has a Temporal Schedule (DrillScheduleID) that starts
// RestoreDrill every interval; a run asked for now starts the same workflow by DrillWorkflowID.

// DrillScheduleID is the id of a drill's schedule.
func DrillScheduleID(drillID string) string { return "drill-" + drillID }

// DrillWorkflowID is the workflow id of a drill's run asked for now (its schedule's runs carry
// the schedule's time after it).
func DrillWorkflowID(drillID string) string { return "drill-run-" + drillID }

// RestoreDrill runs one restore drill: it picks the most recent verified production backup of
// the drill's product or zone and a test-bench asset of that product, restores the backup onto
// the bench, verifies the bench runs the backup's version and is healthy, and records the time
// to restore and the result. A run that cannot restore (no backup, no bench) ends failed with
// its reason; it is a result, not a workflow failure.
func RestoreDrill(ctx workflow.Context, in activities.DrillInput) (activities.DrillOutcome, error) {
	bctx := bookkeeping(ctx)
	var p activities.DrillPlanned
	if err := workflow.ExecuteActivity(bctx, a.BeginDrill, in).Get(ctx, &p); err != nil {
		return activities.DrillOutcome{}, err
	}
	if p.RunID == "" {
		return activities.DrillOutcome{Result: domain.DrillFailed, Reason: "the drill plan was deleted"}, nil
	}
	end := activities.DrillEnd{Planned: p, Result: domain.DrillFailed, Reason: p.Reason}
	if p.Reason == "" {
		end = restoreAndVerify(ctx, p)
	}
	var out activities.DrillOutcome
	err := workflow.ExecuteActivity(bctx, a.FinishDrill, end).Get(ctx, &out)
	return out, err
}

// restoreAndVerify restores the planned backup onto the bench and verifies it, timing both on
// workflow time.
func restoreAndVerify(ctx workflow.Context, p activities.DrillPlanned) activities.DrillEnd {
	end := activities.DrillEnd{Planned: p, Result: domain.DrillFailed}
	restoreCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrTypeNoBackup, activities.ErrTypeUnknownAdapter}},
	})
	start := workflow.Now(ctx)
	if err := workflow.ExecuteActivity(restoreCtx, a.RestoreDrillBackup, p).Get(ctx, nil); err != nil {
		end.Reason = "the restore failed: " + reasonOf(err)
		return end
	}
	var vr struct {
		Version string `json:"version"`
		Healthy bool   `json:"healthy"`
		Detail  string `json:"detail,omitempty"`
	}
	if err := workflow.ExecuteActivity(verifyCtxOf(ctx), a.VerifyDrill, p).Get(ctx, &vr); err != nil {
		end.Reason = "the verification after the restore failed: " + reasonOf(err)
		return end
	}
	end.VerifiedVersion = vr.Version
	if !vr.Healthy {
		end.Reason = fmt.Sprintf("the bench did not verify after the restore: %s", vr.Detail)
		return end
	}
	end.Result, end.RestoreMS = domain.DrillPassed, workflow.Now(ctx).Sub(start).Milliseconds()
	return end
}

// reasonOf is the message of an activity's failure, without Temporal's wrapping.
func reasonOf(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
