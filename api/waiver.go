package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/workflows"
)

// Backup waivers: no verified backup, no deploy, unless an engineer waives the backup of one
// asset of a campaign with a reason (a Temporal Update whose validator refuses what the
// campaign's state does not allow). The waiver is part of the plan: the plan gets a new digest
// (audited as campaign.replanned), approvals of the earlier plan no longer count, and an
// approved campaign asks for approval of the new plan before it starts another asset. An asset
// deployed under a waiver cannot be rolled back.

type waiverRequest struct {
	Reason string `json:"reason" api:"required" doc:"Why the asset may deploy without a verified backup (at most 2000 characters)"`
}

func (s *server) waiveBackup(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.Campaign(r.Context(), chi.URLParam(r, "campaignID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in waiverRequest
	if err := decodeOptional(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	assetID := chi.URLParam(r, "assetID")
	if domain.CampaignStatus(c.Status).Terminal() {
		s.operationRefused(w, r, c.ID, workflows.UpdateBackupWaiver, "state", fmt.Sprintf("campaign is %s; it has ended", c.Status), in.Reason)
		return
	}
	// A campaign pages through its targets: the workflow knows the state of those in flight,
	// the store that of every target.
	ca, ok, err := s.Store.CampaignTarget(r.Context(), c.ID, assetID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.operationRefused(w, r, c.ID, workflows.UpdateBackupWaiver, "asset", fmt.Sprintf("asset %s is not a target of this campaign", assetID), in.Reason)
		return
	}
	if ca.State != string(domain.AssetPending) {
		s.operationRefused(w, r, c.ID, workflows.UpdateBackupWaiver, "state", fmt.Sprintf("asset %s is %s; a waiver applies only to an asset not yet started", assetID, ca.State), in.Reason)
		return
	}
	var res workflows.BackupWaiverResponse
	err = s.engine.Update(r.Context(), c.WorkflowID, workflows.UpdateBackupWaiver, updateKey(r),
		workflows.BackupWaiverRequest{Actor: actorOf(r), AssetID: assetID, Reason: in.Reason, RequestID: requestID(r)}, &res)
	var refused *engine.Refusal
	if errors.As(err, &refused) {
		s.operationRefused(w, r, c.ID, workflows.UpdateBackupWaiver, refused.Rule, refused.Message, in.Reason)
		return
	}
	if err != nil {
		s.internal(w, r, fmt.Errorf("backup waiver for %s in campaign %s: %w", assetID, c.ID, err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// waiverOperations are the routes of waiver.go.
func (s *server) waiverOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/campaigns/{campaignID}/assets/{assetID}/backup-waiver", ID: "waiveBackup", Headers: []param{retryHeader}, Tag: "Operations", Allow: engineers,
			Summary: "Waive the verified backup of one target not yet started",
			Description: "The asset deploys even when its backup fails, and a later failure cannot be rolled back (it ends rollback_failed with an alarm). " +
				"The waiver changes the plan: a new plan_digest (audited as campaign.replanned), approvals of the earlier plan no longer count, " +
				"and an approved campaign awaits approval of the new plan before it starts another asset. " +
				"Refused (409) for an asset that is not a target of the campaign, already started or already waived, and for a campaign being aborted or that has ended; " +
				"the reason is required, at most 2000 characters (422). Every refusal is audited.",
			Body:    waiverRequest{},
			Answers: []answer{ok(workflows.BackupWaiverResponse{})}, Handle: s.waiveBackup},
	}
}
