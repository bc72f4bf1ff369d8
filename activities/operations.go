package activities

import (
	"context"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// OperatorActionInput is an engineer's pause, resume or abort, already accepted by the
// workflow's validator.
type OperatorActionInput struct {
	ID         string         `json:"id"`
	CampaignID string         `json:"campaign_id"`
	Actor      string         `json:"actor"`
	Role       string         `json:"role"`
	Action     string         `json:"action"` // campaign.pause_requested, campaign.resume_requested, campaign.abort_requested
	Reason     string         `json:"reason,omitempty"`
	At         time.Time      `json:"at"`
	RequestID  string         `json:"request_id,omitempty"`
	WorkflowID string         `json:"workflow_id"`
	Details    map[string]any `json:"details,omitempty"`
}

// RecordOperatorAction writes an operator action with its audit event, once per ID.
func (a *Activities) RecordOperatorAction(ctx context.Context, in OperatorActionInput) error {
	op := store.OperatorAction{ID: in.ID, CampaignID: in.CampaignID, Actor: in.Actor, Role: in.Role, Action: in.Action, Reason: in.Reason, At: in.At}
	details := map[string]any{"reason": in.Reason}
	for k, v := range in.Details {
		details[k] = v
	}
	ev := store.Event{Actor: in.Actor, Role: in.Role, Action: in.Action, RequestID: in.RequestID, WorkflowID: in.WorkflowID, Details: details}
	if err := a.Store.AddOperatorAction(ctx, &op, ev); err != nil {
		return err
	}
	a.logger().Info("campaign operator action", "campaign_id", in.CampaignID, "action", in.Action, "actor", in.Actor, "reason", in.Reason)
	return nil
}

// ReplanInput is a zone's new maintenance window for one campaign.
type ReplanInput struct {
	CampaignID string        `json:"campaign_id"`
	ZoneID     string        `json:"zone_id"`
	Window     domain.Window `json:"window"`
	Actor      string        `json:"actor"`
	Role       string        `json:"role"`
	RequestID  string        `json:"request_id,omitempty"`
	WorkflowID string        `json:"workflow_id"`
	UpdateID   string        `json:"update_id"`
}

// ReplanResult is the campaign's plan digest after the change.
type ReplanResult struct {
	PlanDigest string `json:"plan_digest"`
	Changed    bool   `json:"changed"`
	// Name is the name of the asset a waiver is for, as the plan gives it.
	Name string `json:"name,omitempty"`
}

// ReplanCampaign stores the campaign's plan with the zone's new window and its new digest,
// audited as campaign.replanned. A retry after the change was written changes nothing.
func (a *Activities) ReplanCampaign(ctx context.Context, in ReplanInput) (ReplanResult, error) {
	ev := store.Event{Actor: in.Actor, Role: in.Role, Action: "campaign.replanned", RequestID: in.RequestID, WorkflowID: in.WorkflowID,
		Details: map[string]any{"zone_id": in.ZoneID, "window": in.Window, "rule": "a changed window changes the plan digest; approvals of the earlier plan no longer count"}}
	digest, changed, err := a.Store.ReplanWindow(ctx, in.CampaignID, in.ZoneID, in.Window, ev)
	return ReplanResult{PlanDigest: digest, Changed: changed}, err
}
