package engine

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// Alarm kinds ReconcileCampaigns raises.
const (
	// AlarmWorkflowMissing: a campaign still running in otpatch's database has no workflow in
	// Temporal (Temporal's database was restored from an older copy, or lost).
	AlarmWorkflowMissing = "campaign_workflow_missing"
	// AlarmWorkflowEnded: a campaign still running in otpatch's database has a workflow that
	// ended.
	AlarmWorkflowEnded = "campaign_workflow_ended"
	// AlarmWorkflowStillRunning: a campaign that ended in otpatch's database has a workflow
	// still running.
	AlarmWorkflowStillRunning = "campaign_workflow_still_running"
)

// CampaignDifference is one campaign whose row and workflow disagree, and what was done.
type CampaignDifference struct {
	CampaignID string `json:"campaign_id"`
	// Status is the campaign's status in otpatch's database.
	Status string `json:"status"`
	// Workflow is the workflow's state in Temporal: missing, or its close status.
	Workflow string `json:"workflow"`
	// Alarm is the kind of alarm raised; Halted says whether the campaign was marked halted.
	Alarm  string `json:"alarm"`
	Halted bool   `json:"halted"`
}

// CampaignStore is what ReconcileCampaigns needs of the store.
type CampaignStore interface {
	CampaignsToReconcile(ctx context.Context, limit int) ([]store.Campaign, error)
	SetCampaignStatus(ctx context.Context, id string, status domain.CampaignStatus, detail string, ev store.Event) error
	RaiseAlarm(ctx context.Context, al *store.Alarm, ev store.Event) error
}

var _ CampaignStore = (*store.Store)(nil)

// ReconcileCampaigns compares every campaign past its draft with its workflow, as the server
// does once at start (after a restore above all). A campaign running in the database whose
// workflow runs is left alone: the workflow goes on from the step Temporal recorded, and every
// device step reads the device first, so a step done after the backup's point is recorded, not
// done again. A running campaign without a workflow, or whose workflow ended otherwise
// (terminated, failed, timed out, cancelled), is marked halted with an alarm: nothing restarts
// it, because a new run would plan it again; an engineer plans the targets not done in a new
// campaign, which reads each device's version. A workflow that completed while its row did not,
// or one still running for an ended campaign, raises an alarm and changes nothing. Each
// difference is an audit event (the alarm's, and the status change's).
func (g *Gateway) ReconcileCampaigns(ctx context.Context, st CampaignStore) ([]CampaignDifference, error) {
	cs, err := st.CampaignsToReconcile(ctx, reconcileBatch)
	if err != nil {
		return nil, err
	}
	var out []CampaignDifference
	var errs []error
	for _, c := range cs {
		d, err := g.reconcileCampaign(ctx, st, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("campaign %s: %w", c.ID, err))
			continue
		}
		if d != nil {
			out = append(out, *d)
		}
	}
	return out, errors.Join(errs...)
}

func (g *Gateway) reconcileCampaign(ctx context.Context, st CampaignStore, c store.Campaign) (*CampaignDifference, error) {
	status := domain.CampaignStatus(c.Status)
	wfID := workflows.CampaignWorkflowID(c.ID)
	desc, err := g.Temporal.DescribeWorkflowExecution(ctx, wfID, "")
	var notFound *serviceerror.NotFound
	wf := ""
	switch {
	case errors.As(err, &notFound):
		wf = "missing"
	case err != nil:
		return nil, err
	default:
		wf = workflowState(desc.GetWorkflowExecutionInfo().GetStatus())
	}
	d := &CampaignDifference{CampaignID: c.ID, Status: c.Status, Workflow: wf}
	ev := func(action string) store.Event {
		return store.Event{Actor: domain.SystemActor.Name, Role: string(domain.SystemActor.Role), Action: action, WorkflowID: wfID,
			Details: map[string]any{"status": c.Status, "workflow": wf}}
	}
	switch {
	case status.Terminal() && wf == "running":
		d.Alarm = AlarmWorkflowStillRunning
	case status.Terminal() || wf == "running":
		return nil, nil
	case wf == "completed":
		d.Alarm = AlarmWorkflowEnded
	case wf == "missing":
		d.Alarm, d.Halted = AlarmWorkflowMissing, true
	default:
		d.Alarm, d.Halted = AlarmWorkflowEnded, true
	}
	msg := alarmMessage(d)
	al := store.Alarm{ID: "alm_" + c.ID + "_reconcile", Kind: d.Alarm, Severity: "critical", CampaignID: c.ID, Message: msg}
	if err := st.RaiseAlarm(ctx, &al, ev("campaign.reconcile_alarm")); err != nil && !errors.Is(err, store.ErrUnchanged) {
		return nil, err
	}
	if d.Halted {
		if err := st.SetCampaignStatus(ctx, c.ID, domain.CampaignHalted, msg, ev("campaign.reconciled")); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// workflowState names a workflow's status as the alarms and audit events say it. A run that
// continued as new is running: describing by id finds its newest run.
func workflowState(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed_out"
	}
	return "unknown"
}

func alarmMessage(d *CampaignDifference) string {
	switch d.Alarm {
	case AlarmWorkflowMissing:
		return fmt.Sprintf("campaign was %s but Temporal has no workflow for it (its database was restored from an older copy or lost); marked halted: check each target's version on the device and plan the targets not done in a new campaign", d.Status)
	case AlarmWorkflowStillRunning:
		return fmt.Sprintf("campaign ended %s but its workflow still runs in Temporal; nothing was changed: find out which is right, and terminate the workflow if the campaign has ended", d.Status)
	case AlarmWorkflowEnded:
		if !d.Halted {
			return fmt.Sprintf("campaign is %s but its workflow completed; nothing was changed: compare the targets' states with the devices and close the campaign", d.Status)
		}
		return fmt.Sprintf("campaign was %s but its workflow ended %s; marked halted: check each target's version on the device and plan the targets not done in a new campaign", d.Status, d.Workflow)
	}
	return d.Alarm
}
