package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// UpdateBackupWaiver records an engineer's waiver of the verified backup for one asset of a
// campaign: with it, the asset is deployed even when its backup fails, and a later failure
// cannot be rolled back (the asset ends rollback_failed with an alarm). The waiver is part of
// the plan: it changes the plan's digest, so approvals of the earlier plan no longer count.
const UpdateBackupWaiver = "backup-waiver"

// BackupWaiverRequest is an engineer's waiver of the verified backup for AssetID.
type BackupWaiverRequest struct {
	Actor     domain.Actor `json:"actor"`
	AssetID   string       `json:"asset_id"`
	Reason    string       `json:"reason"`
	RequestID string       `json:"request_id,omitempty"`
}

// BackupWaiver is an accepted waiver, as the asset's deployment gets it.
type BackupWaiver struct {
	AssetID string      `json:"asset_id"`
	Actor   string      `json:"actor"`
	Role    domain.Role `json:"role"`
	Reason  string      `json:"reason"`
	At      string      `json:"at"`
}

// BackupWaiverResponse is the accepted waiver and what it did to the campaign's plan.
type BackupWaiverResponse struct {
	BackupWaiver
	Status          domain.CampaignStatus `json:"status"`
	PlanDigest      string                `json:"plan_digest"`
	Replanned       bool                  `json:"replanned"`
	ApprovalsVoided int                   `json:"approvals_voided"`
}

// waiverVersion marks executions that take backup waivers; older histories replay without.
// waiverPlannedVersion marks executions in which a waiver is a change of the plan.
const (
	waiverVersion        = "backup-waiver"
	waiverPlannedVersion = "backup-waiver-in-plan"
)

func (c *campaign) registerWaiverHandler() error {
	return workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateBackupWaiver, c.waiveBackup, workflow.UpdateHandlerOptions{
		Validator: func(ctx workflow.Context, req BackupWaiverRequest) error { return c.checkWaiver(req) },
	})
}

// checkWaiver refuses a waiver that is not an engineer's, has no reason, names an asset that
// is not a target or has already been started, or arrives after the campaign ended.
func (c *campaign) checkWaiver(req BackupWaiverRequest) error {
	if req.Actor.Role != domain.RoleEngineer && req.Actor.Role != domain.RoleAdmin {
		return refusal("role", "role %q cannot waive a backup; that needs the engineer or admin role", req.Actor.Role)
	}
	if c.state.Status.Terminal() || c.ended {
		return refusal("state", "campaign is %s; it has ended", c.state.Status)
	}
	if err := c.fixedPlan(); err != nil {
		return err
	}
	if c.abort != nil {
		return refusal("state", "campaign is being aborted by %s", c.abort.Actor)
	}
	if !c.v.waivable {
		return refusal("state", "this campaign has not loaded its plan yet, or started before backup waivers existed")
	}
	if strings.TrimSpace(req.Reason) == "" {
		return refusal("reason", "a backup waiver needs a reason")
	}
	if len(req.Reason) > 2000 {
		return refusal("reason", "the reason is longer than 2000 characters")
	}
	s, ok := c.state.Assets[req.AssetID]
	if !ok && c.v.bounded {
		// The status holds the bench and the page being deployed; the API checked in the store
		// that a target of another page is pending.
		s, ok = domain.AssetPending, true
	}
	if !ok {
		return refusal("asset", "asset %s is not a target of this campaign", req.AssetID)
	}
	if s != domain.AssetPending {
		return refusal("state", "asset %s is %s; a waiver applies only to an asset not yet started", req.AssetID, s)
	}
	if w, ok := c.waivers[req.AssetID]; ok {
		return refusal("state", "asset %s already has a backup waiver by %s", req.AssetID, w.Actor)
	}
	return nil
}

// waiveBackup takes the waiver into the state and undoes it when recording fails. Assets are
// not started while a waiver is being recorded. In executions where a waiver is a plan change,
// the stored plan gets the waiver and a new digest (audited as campaign.replanned): a campaign
// that was approved asks for approval of the new plan before it starts another asset, and a
// waiver given before approval is simply part of the plan the approvers see.
func (c *campaign) waiveBackup(ctx workflow.Context, req BackupWaiverRequest) (BackupWaiverResponse, error) {
	now := workflow.Now(ctx)
	w := BackupWaiver{AssetID: req.AssetID, Actor: req.Actor.Name, Role: req.Actor.Role, Reason: req.Reason, At: now.UTC().Format("2006-01-02T15:04:05Z07:00")}
	c.waivers[req.AssetID] = w
	c.waiving++
	defer func() { c.waiving-- }()
	if !c.v.waiverPlanned {
		_, err := c.recordOperator(ctx, "asset.backup_waived", OperatorRequest{Actor: req.Actor, Reason: req.Reason, RequestID: req.RequestID},
			map[string]any{"asset_id": req.AssetID, "rule": "no verified backup, no deploy: this waiver lets the asset deploy without one, and a failure cannot be rolled back"})
		if err != nil {
			delete(c.waivers, req.AssetID)
			return BackupWaiverResponse{}, err
		}
		return BackupWaiverResponse{BackupWaiver: w, Status: c.state.Status, PlanDigest: c.plan.PlanDigest}, nil
	}
	c.replanning++
	defer func() { c.replanning-- }()
	name := c.targetName(req.AssetID)
	in := activities.WaiverInput{CampaignID: c.in.CampaignID, RequestID: req.RequestID, WorkflowID: c.wfID, UpdateID: workflow.GetCurrentUpdateInfo(ctx).ID,
		Waiver: domain.PlanWaiver{AssetID: req.AssetID, Name: name, By: req.Actor.Name, Role: req.Actor.Role, Reason: req.Reason, At: now.UTC()}}
	var res activities.ReplanResult
	if err := workflow.ExecuteActivity(bookkeeping(ctx), a.WaiveBackup, in).Get(ctx, &res); err != nil {
		delete(c.waivers, req.AssetID)
		return BackupWaiverResponse{}, err
	}
	if res.Name != "" {
		name = res.Name
	} else if name == "" {
		name = req.AssetID
	}
	voided, replanned := c.replan(ctx, res.PlanDigest, fmt.Sprintf("backup waiver for %s by %s", name, req.Actor.Name))
	return BackupWaiverResponse{BackupWaiver: w, Status: c.state.Status, PlanDigest: res.PlanDigest, Replanned: replanned, ApprovalsVoided: voided}, nil
}

// targetName is the name of target assetID (its id when the plan has no name for it). An
// execution that pages through its targets may not hold the target: then it is empty, and
// WaiveBackup answers the plan's name.
func (c *campaign) targetName(assetID string) string {
	for _, t := range c.plan.Targets {
		if t.AssetID == assetID && t.Name != "" {
			return t.Name
		}
	}
	if c.v.bounded {
		return ""
	}
	return assetID
}
