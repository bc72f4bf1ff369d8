package activities

import (
	"context"
)

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
	err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, map[string]any{
		"error": "no verified backup (" + in.BackupError + "); deploying under the waiver of " + in.WaivedBy + ": " + in.Reason}, ev)
	if err != nil {
		return err
	}
	a.logger().Warn("deploying without a verified backup under a waiver", "campaign_id", in.CampaignID, "asset_id", in.AssetID,
		"waived_by", in.WaivedBy, "reason", in.Reason, "backup_error", in.BackupError)
	return nil
}
