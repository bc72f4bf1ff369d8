package activities

import (
	"context"
	"fmt"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// WaiverInput is an engineer's waiver of one target's verified backup, accepted by the
// campaign workflow's validator.
type WaiverInput struct {
	CampaignID string            `json:"campaign_id"`
	Waiver     domain.PlanWaiver `json:"waiver"`
	RequestID  string            `json:"request_id,omitempty"`
	WorkflowID string            `json:"workflow_id"`
	UpdateID   string            `json:"update_id"`
}

// WaiveBackup stores the campaign's plan with the waiver and its new digest, audited as
// campaign.replanned: a waiver changes what runs, so it is part of what approvers approve and
// approvals of the plan without it no longer count. A retry after the change was written
// changes nothing.
func (a *Activities) WaiveBackup(ctx context.Context, in WaiverInput) (ReplanResult, error) {
	w := in.Waiver
	name := w.Name
	if name == "" {
		name = w.AssetID
	}
	ev := store.Event{Actor: w.By, Role: string(w.Role), Action: "campaign.replanned", AssetID: w.AssetID, RequestID: in.RequestID, WorkflowID: in.WorkflowID,
		Details: map[string]any{"reason": fmt.Sprintf("backup waiver for %s by %s", name, w.By), "asset_id": w.AssetID, "waiver_reason": w.Reason,
			"rule": "no verified backup, no deploy: a waiver lets the asset deploy without one (a failure cannot be rolled back); it changes the plan digest, and approvals of the earlier plan no longer count"}}
	digest, changed, err := a.Store.Replan(ctx, in.CampaignID, func(p domain.Plan) (domain.Plan, bool) {
		out, changed := p.WithWaiver(w)
		if pw, ok := out.WaiverFor(w.AssetID); ok && pw.Name != "" {
			name = pw.Name
		}
		return out, changed
	}, ev)
	if err != nil {
		return ReplanResult{}, err
	}
	a.logger().Warn("backup waived; the plan changed and needs approval", "campaign_id", in.CampaignID, "asset_id", w.AssetID,
		"waived_by", w.By, "reason", w.Reason, "plan_digest", digest)
	return ReplanResult{PlanDigest: digest, Changed: changed, Name: name}, nil
}

// UnbackedDeployInput says an asset goes ahead without a verified backup, under an engineer's
// waiver.
type UnbackedDeployInput struct {
	AssetInput
	WaivedBy    string `json:"waived_by"`
	Role        string `json:"role"`
	Reason      string `json:"reason"`
	BackupError string `json:"backup_error"`
}

// RecordUnbackedDeploy records, before the deploy, that the asset is deployed without a
// verified backup: the audit event asset.deploying_without_backup names the engineer who waived
// it, the reason and why the backup failed; a failure later cannot be rolled back.
func (a *Activities) RecordUnbackedDeploy(ctx context.Context, in UnbackedDeployInput) error {
	ev := a.assetEvent(in.AssetInput, "asset.deploying_without_backup", map[string]any{
		"waived_by": in.WaivedBy, "role": in.Role, "reason": in.Reason, "backup_error": in.BackupError,
		"rule": "no verified backup, no deploy, except under an engineer's waiver; a failure cannot be rolled back"})
	err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{
		Error: store.Text("no verified backup (" + in.BackupError + "); deploying under the waiver of " + in.WaivedBy + ": " + in.Reason)}, ev)
	if err != nil {
		return err
	}
	a.logger().Warn("deploying without a verified backup under a waiver", "campaign_id", in.CampaignID, "asset_id", in.AssetID,
		"waived_by", in.WaivedBy, "reason", in.Reason, "backup_error", in.BackupError)
	return nil
}
