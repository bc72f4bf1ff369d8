package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// Operating a running campaign: engineers pause, resume and abort it (Temporal Updates whose
// validators refuse what the campaign's state does not allow); staff see the alarms that ask
// for manual action.

type operatorRequest struct {
	Reason string `json:"reason,omitempty"`
}

// operate sends a pause, resume or abort to the campaign as a Temporal Update.
func (s *server) operate(update string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Store.Campaign(r.Context(), chi.URLParam(r, "campaignID"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var in operatorRequest
		if err := decodeOptional(w, r, &in); err != nil {
			s.fail(w, r, err)
			return
		}
		if domain.CampaignStatus(c.Status).Terminal() {
			s.operationRefused(w, r, c.ID, update, "state", fmt.Sprintf("campaign is %s; it has ended", c.Status), in.Reason)
			return
		}
		handle, err := s.Temporal.UpdateWorkflow(r.Context(), client.UpdateWorkflowOptions{
			WorkflowID: c.WorkflowID, UpdateName: update, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{workflows.OperatorRequest{Actor: actorOf(r), Reason: in.Reason, RequestID: requestID(r)}},
		})
		var res workflows.OperatorResponse
		if err == nil {
			err = handle.Get(r.Context(), &res)
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && strings.HasPrefix(appErr.Type(), workflows.RefusalErrorPrefix) {
			s.operationRefused(w, r, c.ID, update, strings.TrimPrefix(appErr.Type(), workflows.RefusalErrorPrefix), appErr.Message(), in.Reason)
			return
		}
		if err != nil {
			s.internal(w, r, fmt.Errorf("%s campaign %s: %w", update, c.ID, err))
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// operationRefused answers a refused pause, resume or abort and audits the refusal.
func (s *server) operationRefused(w http.ResponseWriter, r *http.Request, campaignID, update, rule, detail, reason string) {
	status := http.StatusConflict
	if rule == "reason" {
		status = http.StatusUnprocessableEntity
	}
	ev := event(r, "campaign.operation_refused")
	ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", campaignID, campaignID
	ev.Details = map[string]any{"operation": update, "rule": rule, "refusal": detail, "reason": reason}
	if _, err := s.Store.Append(r.Context(), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err)
	}
	writeProblem(w, r, problem{Status: status, Title: "Operation refused", Detail: detail, Rule: rule})
}

// windowChanged applies a zone's new window to every campaign that has not ended and has a
// target in the zone: the stored plan gets the new window and a new digest (audited as
// campaign.replanned), and the running workflow is told at once, so a campaign waiting for the
// old window wakes up and one that was approved asks for approval of the new plan.
func (s *server) windowChanged(r *http.Request, zoneID string, win domain.Window) {
	ctx := r.Context()
	cs, err := s.Store.CampaignsInZone(ctx, zoneID)
	if err != nil {
		s.Logger.Error("window change: listing campaigns failed", "zone_id", zoneID, "err", err)
		return
	}
	actor := actorOf(r)
	for _, c := range cs {
		ev := event(r, "campaign.replanned")
		ev.WorkflowID = c.WorkflowID
		ev.Details = map[string]any{"zone_id": zoneID, "window": win, "rule": "a changed window changes the plan digest; approvals of the earlier plan no longer count"}
		if _, _, err := s.Store.ReplanWindow(ctx, c.ID, zoneID, win, ev); err != nil {
			s.Logger.Error("window change: re-planning campaign failed", "campaign_id", c.ID, "err", err)
			continue
		}
		handle, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: c.WorkflowID, UpdateName: workflows.UpdateWindow, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{workflows.WindowChange{ZoneID: zoneID, Window: win, Actor: actor, RequestID: requestID(r)}},
		})
		if err == nil {
			err = handle.Get(ctx, nil)
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && strings.HasPrefix(appErr.Type(), workflows.RefusalErrorPrefix) {
			continue // ended meanwhile, or not loaded yet (it will load the re-planned plan)
		}
		if err != nil {
			s.Logger.Error("window change: telling the campaign failed", "campaign_id", c.ID, "err", err)
		}
	}
}

func (s *server) listAlarms(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	as, err := s.Store.Alarms(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if as == nil {
		as = []store.Alarm{}
	}
	writeJSON(w, http.StatusOK, as)
}

// operatorOperations are the routes of operations.go.
func (s *server) operatorOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/campaigns/{campaignID}/pause", ID: "operate", Tag: "Campaigns", Summary: "Pause a campaign: no new asset starts, assets in flight finish (409 when already paused or ended)", Allow: engineers, Roles: "engineer, admin", /* body: {reason} (optional) */ Answers: []answer{ok(nil)}, Handle: s.operate(workflows.UpdatePause)},
		{Method: "POST", Path: "/api/v1/campaigns/{campaignID}/resume", ID: "operate2", Tag: "Campaigns", Summary: "Resume a paused campaign", Allow: engineers, Roles: "engineer, admin", /* body: {reason} (optional) */ Answers: []answer{ok(nil)}, Handle: s.operate(workflows.UpdateResume)},
		{Method: "POST", Path: "/api/v1/campaigns/{campaignID}/abort", ID: "operate3", Tag: "Campaigns", Summary: "Abort a campaign: no new work, assets in flight roll back to their backups, verified assets stay; ends aborted", Allow: engineers, Roles: "engineer, admin", /* body: {reason} (required) */ Answers: []answer{ok(nil)}, Handle: s.operate(workflows.UpdateAbort)},
		{Method: "GET", Path: "/api/v1/alarms", ID: "listAlarms", Tag: "Operations", Summary: "Alarms that need manual action (a rollback that failed), newest first", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.listAlarms},
	}
}
