package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// Operating a running campaign: engineers pause, resume and abort it (Temporal Updates whose
// validators refuse what the campaign's state does not allow); staff see the alarms that ask
// for manual action.

type operatorRequest struct {
	Reason string `json:"reason,omitempty" doc:"Why; required to abort"`
}

// operate sends a pause, resume or abort to the campaign as a Temporal Update and answers
// with status once the campaign took it.
func (s *server) operate(update string, status int) http.HandlerFunc {
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
		var res workflows.OperatorResponse
		err = s.engine.Update(r.Context(), c.WorkflowID, update, updateKey(r),
			workflows.OperatorRequest{Actor: actorOf(r), Reason: in.Reason, RequestID: requestID(r)}, &res)
		var refused *engine.Refusal
		if errors.As(err, &refused) {
			s.operationRefused(w, r, c.ID, update, refused.Rule, refused.Message, in.Reason)
			return
		}
		if err != nil {
			s.internal(w, r, fmt.Errorf("%s campaign %s: %w", update, c.ID, err))
			return
		}
		writeJSON(w, status, res)
	}
}

// operationRefused answers a refused pause, resume or abort and audits the refusal.
func (s *server) operationRefused(w http.ResponseWriter, r *http.Request, campaignID, update, rule, detail, reason string) {
	status := engine.StatusOf(rule)
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
		if fixedAtSite(c) {
			continue // its plan, windows included, is the one carried to the site
		}
		ev := event(r, "campaign.replanned")
		ev.WorkflowID = c.WorkflowID
		ev.Details = map[string]any{"zone_id": zoneID, "window": win, "rule": "a changed window changes the plan digest; approvals of the earlier plan no longer count"}
		if _, _, err := s.Store.ReplanWindow(ctx, c.ID, zoneID, win, ev); err != nil {
			s.Logger.Error("window change: re-planning campaign failed", "campaign_id", c.ID, "err", err)
			continue
		}
		err := s.engine.Update(ctx, c.WorkflowID, workflows.UpdateWindow, updateKey(r),
			workflows.WindowChange{ZoneID: zoneID, Window: win, Actor: actor, RequestID: requestID(r)}, nil)
		var refused *engine.Refusal
		if errors.As(err, &refused) {
			continue // ended meanwhile, or not loaded yet (it will load the re-planned plan)
		}
		if err != nil {
			s.Logger.Error("window change: telling the campaign failed", "campaign_id", c.ID, "err", err)
		}
	}
}

// fixedAtSite reports whether a campaign's plan can no longer change here: it was imported
// from the central instance (an air-gapped site's own), or it is carried to an air-gapped site
// and approved. A changed plan must be approved centrally and carried again.
func fixedAtSite(c store.Campaign) bool {
	if c.ImportedFrom != "" {
		return true
	}
	var p struct {
		TransferSite string `json:"transfer_site"`
	}
	_ = json.Unmarshal([]byte(c.Plan), &p)
	switch domain.CampaignStatus(c.Status) {
	case domain.CampaignDraft, domain.CampaignTesting, domain.CampaignAwaitingApproval:
		return false
	}
	return p.TransferSite != ""
}

// listAlarms answers a page of alarms, newest first.
func (s *server) listAlarms(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	f := store.AlarmFilter{CampaignID: r.URL.Query().Get("campaign_id"), Limit: pr.Limit + 1}
	f.AfterRaised, f.AfterID = newestFirstAfter(pr, v)
	if f.CampaignID != "" {
		if _, err := s.Store.Campaign(ctx, f.CampaignID); errors.Is(err, store.ErrNotFound) {
			v.Add("campaign_id", "no campaign %q", f.CampaignID)
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	as, err := s.Store.AlarmsPage(ctx, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageFrom(as, func(a store.Alarm) string { return newestFirstKey(a.RaisedAt, a.ID) }, pr.Limit))
}

// operatorOperations are the routes of operations.go.
func (s *server) operatorOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/campaigns/{campaignID}/pause", ID: "pauseCampaign", Headers: []param{retryHeader}, Tag: "Operations", Allow: engineers,
			Summary:     "Pause a campaign: no new asset starts, assets in flight finish",
			Description: "Refused (409) when the campaign is paused already, being aborted or has ended; a reason longer than 2000 characters is refused (422). Every refusal is audited.",
			Body:        operatorRequest{}, BodyOptional: true,
			Answers: []answer{ok(workflows.OperatorResponse{})}, Handle: s.operate(workflows.UpdatePause, http.StatusOK)},
		{Method: "POST", Path: "/api/v1/campaigns/{campaignID}/resume", ID: "resumeCampaign", Headers: []param{retryHeader}, Tag: "Operations", Allow: engineers,
			Summary:     "Resume a paused campaign",
			Description: "Refused (409) when the campaign is not paused, being aborted or has ended; a reason longer than 2000 characters is refused (422). Every refusal is audited.",
			Body:        operatorRequest{}, BodyOptional: true,
			Answers: []answer{ok(workflows.OperatorResponse{})}, Handle: s.operate(workflows.UpdateResume, http.StatusOK)},
		{Method: "POST", Path: "/api/v1/campaigns/{campaignID}/abort", ID: "abortCampaign", Headers: []param{retryHeader}, Tag: "Operations", Allow: engineers,
			Summary: "Abort a campaign: no new work, assets in flight roll back to their backups",
			Description: "The abort is taken at once and carried out after the answer (202): assets in flight roll back to their backups, verified assets stay, " +
				"and the campaign ends aborted. The reason is required, at most 2000 characters (422); a campaign being aborted already or that has ended is refused (409). Every refusal is audited.",
			Body:    operatorRequest{},
			Answers: []answer{accepted(workflows.OperatorResponse{})}, Handle: s.operate(workflows.UpdateAbort, http.StatusAccepted)},
		{Method: "GET", Path: "/api/v1/alarms", ID: "listAlarms", Tag: "Operations", Allow: staff,
			Summary:     "List the alarms that need manual action, newest first",
			Description: "An alarm asks a person to act, as when a rollback failed. An unknown campaign_id is refused (422).",
			Query:       paged(qString("campaign_id", "Only this campaign's alarms")),
			Answers:     []answer{ok(page[store.Alarm]{})}, Handle: s.listAlarms},
	}
}
