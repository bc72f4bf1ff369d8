package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// Operator updates: engineers pause, resume and abort a running campaign; the API tells a
// campaign that a zone's maintenance window changed.
const (
	UpdatePause  = "pause"
	UpdateResume = "resume"
	UpdateAbort  = "abort"
	UpdateWindow = "window"
)

// CampaignPaused is the status of a campaign whose next asset waits for an operator's resume
// (domain.CampaignPaused).
const CampaignPaused = domain.CampaignPaused

// OperatorRequest is an engineer's pause, resume or abort. Abort needs a reason.
type OperatorRequest struct {
	Actor     domain.Actor `json:"actor"`
	Reason    string       `json:"reason,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
}

// OperatorAction is an accepted operator request as the status query shows it.
type OperatorAction struct {
	Actor  string      `json:"actor"`
	Role   domain.Role `json:"role"`
	Reason string      `json:"reason,omitempty"`
	At     string      `json:"at"`
}

// OperatorResponse tells the operator where the campaign stands after the request.
type OperatorResponse struct {
	Status   domain.CampaignStatus `json:"status"`
	Paused   bool                  `json:"paused"`
	Aborting bool                  `json:"aborting"`
	Detail   string                `json:"detail,omitempty"`
}

// WindowChange tells a campaign that zone ZoneID's maintenance window is now Window.
type WindowChange struct {
	ZoneID    string        `json:"zone_id"`
	Window    domain.Window `json:"window"`
	Actor     domain.Actor  `json:"actor"`
	RequestID string        `json:"request_id,omitempty"`
}

// WindowChangeResponse says what the change did to the campaign's plan.
type WindowChangeResponse struct {
	Status          domain.CampaignStatus `json:"status"`
	PlanDigest      string                `json:"plan_digest"`
	Replanned       bool                  `json:"replanned"`
	ApprovalsVoided int                   `json:"approvals_voided"`
}

func refusal(rule, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), RefusalErrorPrefix+rule, nil)
}

func (c *campaign) registerOperatorHandlers() error {
	handlers := []struct {
		name    string
		handler func(workflow.Context, OperatorRequest) (OperatorResponse, error)
		check   func(OperatorRequest) error
	}{
		{UpdatePause, c.pause, c.checkPause},
		{UpdateResume, c.resume, c.checkResume},
		{UpdateAbort, c.abortCampaign, c.checkAbort},
	}
	for _, h := range handlers {
		check := h.check
		if err := workflow.SetUpdateHandlerWithOptions(c.ctx, h.name, h.handler, workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req OperatorRequest) error { return check(req) },
		}); err != nil {
			return err
		}
	}
	return workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateWindow, c.changeWindow, workflow.UpdateHandlerOptions{Validator: c.checkWindowChange})
}

// checkOperator is what every operator request must satisfy: the engineer or admin role and a
// campaign that has not ended and is not being aborted.
func (c *campaign) checkOperator(req OperatorRequest) error {
	if req.Actor.Role != domain.RoleEngineer && req.Actor.Role != domain.RoleAdmin {
		return refusal("role", "role %q cannot pause, resume or abort a campaign; that needs the engineer or admin role", req.Actor.Role)
	}
	if c.state.Status.Terminal() || c.ended {
		return refusal("state", "campaign is %s; it has ended", c.state.Status)
	}
	if c.abort != nil {
		return refusal("state", "campaign is being aborted by %s", c.abort.Actor)
	}
	if len(req.Reason) > 2000 {
		return refusal("reason", "the reason is longer than 2000 characters")
	}
	return nil
}

func (c *campaign) checkPause(req OperatorRequest) error {
	if err := c.checkOperator(req); err != nil {
		return err
	}
	if c.v.airGap && c.plan.TransferSite != "" {
		return refusal("state", "the campaign runs at air-gapped site %s, on the site's own instance: pause it there", c.plan.TransferSite)
	}
	if c.paused != nil {
		return refusal("state", "campaign is already paused by %s", c.paused.Actor)
	}
	return nil
}

func (c *campaign) checkResume(req OperatorRequest) error {
	if err := c.checkOperator(req); err != nil {
		return err
	}
	if c.paused == nil {
		return refusal("state", "campaign is not paused")
	}
	return nil
}

func (c *campaign) checkAbort(req OperatorRequest) error {
	if err := c.checkOperator(req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return refusal("reason", "an abort needs a reason")
	}
	return nil
}

// operatorAction records an accepted operator request in the audit trail, once per update.
func (c *campaign) recordOperator(ctx workflow.Context, action string, req OperatorRequest, details map[string]any) (OperatorAction, error) {
	now := workflow.Now(ctx)
	in := activities.OperatorActionInput{ID: "op_" + workflow.GetCurrentUpdateInfo(ctx).ID, CampaignID: c.in.CampaignID,
		Actor: req.Actor.Name, Role: string(req.Actor.Role), Action: action, Reason: req.Reason, At: now,
		RequestID: req.RequestID, WorkflowID: c.wfID, Details: details}
	err := workflow.ExecuteActivity(bookkeeping(ctx), a.RecordOperatorAction, in).Get(ctx, nil)
	return OperatorAction{Actor: req.Actor.Name, Role: req.Actor.Role, Reason: req.Reason, At: now.UTC().Format("2006-01-02T15:04:05Z07:00")}, err
}

func (c *campaign) response() OperatorResponse {
	return OperatorResponse{Status: c.state.Status, Paused: c.paused != nil, Aborting: c.abort != nil, Detail: c.state.Detail}
}

// pause holds the campaign before its next asset; assets in flight finish.
func (c *campaign) pause(ctx workflow.Context, req OperatorRequest) (OperatorResponse, error) {
	act, err := c.recordOperator(ctx, "campaign.pause_requested", req, nil)
	if err != nil {
		return OperatorResponse{}, err
	}
	if c.paused == nil && c.abort == nil {
		c.paused = &act
		c.state.Paused = &act
	}
	return c.response(), nil
}

// resume lets a paused campaign start assets again.
func (c *campaign) resume(ctx workflow.Context, req OperatorRequest) (OperatorResponse, error) {
	act, err := c.recordOperator(ctx, "campaign.resume_requested", req, map[string]any{"paused_by": c.pausedBy()})
	if err != nil {
		return OperatorResponse{}, err
	}
	_ = act
	c.paused, c.state.Paused = nil, nil
	return c.response(), nil
}

func (c *campaign) pausedBy() string {
	if c.paused == nil {
		return ""
	}
	return c.paused.Actor
}

// abortCampaign stops new work and cancels the assets in flight: each rolls back to its
// verified backup on a disconnected context; verified assets stay as they are.
func (c *campaign) abortCampaign(ctx workflow.Context, req OperatorRequest) (OperatorResponse, error) {
	act, err := c.recordOperator(ctx, "campaign.abort_requested", req, nil)
	if err != nil {
		return OperatorResponse{}, err
	}
	if c.abort == nil && !c.ended {
		c.abort = &act
		c.state.Abort = &act
		if c.cancelDeploys != nil {
			c.cancelDeploys()
		}
	}
	return c.response(), nil
}

func (c *campaign) checkWindowChange(ctx workflow.Context, ch WindowChange) error {
	if ch.Actor.Role != domain.RoleEngineer && ch.Actor.Role != domain.RoleAdmin {
		return refusal("role", "role %q cannot change a maintenance window", ch.Actor.Role)
	}
	if c.state.Status.Terminal() || c.ended {
		return refusal("state", "campaign is %s; it has ended", c.state.Status)
	}
	if err := c.fixedPlan(); err != nil {
		return err
	}
	if c.plan.CampaignID == "" {
		return refusal("state", "campaign has not loaded its plan yet")
	}
	if _, ok := c.windows[ch.ZoneID]; ok {
		return ch.Window.Validate()
	}
	return refusal("zone", "campaign has no target in zone %s", ch.ZoneID)
}

// changeWindow re-plans the campaign with a zone's new window. The plan (and its digest)
// includes every target zone's window, so approvals of the old plan no longer count: a campaign
// that was approved goes back to awaiting_approval before it starts another asset, and a
// campaign waiting for the old window wakes up at once and waits for the new one.
func (c *campaign) changeWindow(ctx workflow.Context, ch WindowChange) (WindowChangeResponse, error) {
	c.replanning++
	defer func() { c.replanning-- }()
	in := activities.ReplanInput{CampaignID: c.in.CampaignID, ZoneID: ch.ZoneID, Window: ch.Window, Actor: ch.Actor.Name,
		Role: string(ch.Actor.Role), RequestID: ch.RequestID, WorkflowID: c.wfID, UpdateID: workflow.GetCurrentUpdateInfo(ctx).ID}
	var res activities.ReplanResult
	if err := workflow.ExecuteActivity(bookkeeping(ctx), a.ReplanCampaign, in).Get(ctx, &res); err != nil {
		return WindowChangeResponse{}, err
	}
	out := WindowChangeResponse{PlanDigest: res.PlanDigest}
	if res.PlanDigest != c.plan.PlanDigest {
		for i := range c.plan.Targets {
			if c.plan.Targets[i].ZoneID == ch.ZoneID {
				c.plan.Targets[i].Window = ch.Window
			}
		}
		c.windows[ch.ZoneID] = ch.Window
		out.ApprovalsVoided, out.Replanned = c.replan(ctx, res.PlanDigest, fmt.Sprintf("zone %s's maintenance window was changed by %s", ch.ZoneID, ch.Actor.Name))
	}
	out.Status = c.state.Status
	return out, nil
}

// replan takes the stored plan's digest after a change, saying why it changed. When the digest
// is new, approvals of the earlier plan no longer count (voided says how many did): the next
// gate asks for approval of the new plan, and a campaign waiting for a window wakes up to ask
// at once.
func (c *campaign) replan(ctx workflow.Context, digest, why string) (voided int, replanned bool) {
	if digest == c.plan.PlanDigest {
		return 0, false
	}
	voided = len(c.validApprovals(workflow.Now(ctx)))
	c.plan.PlanDigest, c.state.PlanDigest = digest, digest
	c.replanned = why
	c.windowChanged = true
	return voided, true
}

// fixedPlan refuses a change of plan that cannot be carried out: at an air-gapped site's
// own instance the plan is the one approved centrally, and a plan carried to a site cannot
// change once approved, for the site runs the one it was given.
func (c *campaign) fixedPlan() error {
	if !c.v.airGap {
		return nil
	}
	if c.plan.Imported {
		return refusal("state", "this plan was approved at the central instance and carried here; change it there, have it approved, and carry the new plan")
	}
	if c.plan.TransferSite != "" && c.state.Status != domain.CampaignAwaitingApproval && c.state.Status != domain.CampaignTesting && c.state.Status != domain.CampaignDraft {
		return refusal("state", "the approved plan is carried to air-gapped site %s, which runs it as approved; abort this campaign and plan a new one", c.plan.TransferSite)
	}
	return nil
}
