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

// ScheduleDrill makes the drill's Temporal Schedule start RestoreDrill every interval (creating
// it, or changing the interval of the one there is). A run still going when the next is due is
// not doubled: the schedule skips it.
func (g *Gateway) ScheduleDrill(ctx context.Context, drillID string, every time.Duration) error {
	return g.scheduleEvery(ctx, workflows.DrillScheduleID(drillID), every, &client.ScheduleWorkflowAction{
		ID: workflows.DrillWorkflowID(drillID), Workflow: workflows.RestoreDrill, TaskQueue: workflows.TaskQueue,
		Args: []any{activities.DrillInput{DrillID: drillID, StartedBy: "schedule"}},
	}, map[string]any{"drill_id": drillID})
}

// DrillSchedule describes a drill's schedule: its interval and next start, or ok false when
// it has none.
func (g *Gateway) DrillSchedule(ctx context.Context, drillID string) (every time.Duration, next *time.Time, ok bool, err error) {
	d, err := g.Temporal.ScheduleClient().GetHandle(ctx, workflows.DrillScheduleID(drillID)).Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	if d.Schedule.Spec != nil && len(d.Schedule.Spec.Intervals) > 0 {
		every = d.Schedule.Spec.Intervals[0].Every
	}
	if len(d.Info.NextActionTimes) > 0 {
		t := d.Info.NextActionTimes[0].UTC()
		next = &t
	}
	return every, next, true, nil
}

// UnscheduleDrill deletes the drill's schedule; a schedule already gone is no error.
func (g *Gateway) UnscheduleDrill(ctx context.Context, drillID string) error {
	err := g.Temporal.ScheduleClient().GetHandle(ctx, workflows.DrillScheduleID(drillID)).Delete(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// RunDrill starts a run of the drill now and answers the id of the run it records; a run of
// the drill asked for now and still going is joined rather than doubled.
func (g *Gateway) RunDrill(ctx context.Context, drillID, startedBy string) (runID string, err error) {
	run, err := g.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.DrillWorkflowID(drillID), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionTimeout: time.Hour,
	}, workflows.RestoreDrill, activities.DrillInput{DrillID: drillID, StartedBy: startedBy})
	if err != nil {
		return "", err
	}
	return activities.DrillRunID(run.GetRunID()), nil
}

// ReconcileDrills gives every drill plan that has no schedule its schedule: a plan stored just
// before the process stopped. It answers the drills it scheduled. The server runs it at start.
func (g *Gateway) ReconcileDrills(ctx context.Context, st *store.Store) ([]string, error) {
	var scheduled []string
	var errs []error
	var afterAt time.Time
	afterID := ""
	for {
		drills, err := st.DrillsPage(ctx, afterAt, afterID, reconcileBatch)
		if err != nil {
			return scheduled, err
		}
		for _, d := range drills {
			_, _, ok, err := g.DrillSchedule(ctx, d.ID)
			if err == nil && !ok {
				if err = g.ScheduleDrill(ctx, d.ID, d.Interval()); err == nil {
					scheduled = append(scheduled, d.ID)
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("schedule of drill %s: %w", d.ID, err))
			}
		}
		if len(drills) < reconcileBatch {
			return scheduled, errors.Join(errs...)
		}
		afterAt, afterID = drills[len(drills)-1].CreatedAt, drills[len(drills)-1].ID
	}
}
