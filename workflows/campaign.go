package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// CampaignInput names the campaign to run.
type CampaignInput struct {
	CampaignID string `json:"campaign_id"`
	// Resume is where an execution that continued as new goes on (bounded.go); nil for the
	// first execution.
	Resume *CampaignProgress `json:"resume,omitempty"`
	// HistoryLimit is how many events an execution's history may reach before it continues as
	// new at the next page of targets (0: DefaultHistoryLimit).
	HistoryLimit int `json:"history_limit,omitempty"`
	// PageSize is how many targets of a wave are loaded at a time (0: 500).
	PageSize int `json:"page_size,omitempty"`
	// Indexed says the namespace has otpatch's search attributes (search.go): the campaign was
	// started with them, and its asset deployments are too. ZoneSites maps each zone of the
	// plan to its site, for the asset deployments' search attributes. Neither is a value the
	// engine applies to a device.
	Indexed   bool              `json:"indexed,omitempty"`
	ZoneSites map[string]string `json:"zone_sites,omitempty"`
}

// CampaignResult is how the campaign ended.
type CampaignResult struct {
	Status domain.CampaignStatus `json:"status"`
	Detail string                `json:"detail,omitempty"`
}

// DecisionRequest is an approver's approval or rejection of the plan with PlanDigest.
type DecisionRequest struct {
	Actor      domain.Actor `json:"actor"`
	Decision   string       `json:"decision"` // "approve" or "reject"
	Reason     string       `json:"reason,omitempty"`
	PlanDigest string       `json:"plan_digest"`
	RequestID  string       `json:"request_id,omitempty"`
}

// DecisionResponse tells the approver where approval stands.
type DecisionResponse struct {
	Status      domain.CampaignStatus `json:"status"`
	Approvals   int                   `json:"approvals"`
	Required    int                   `json:"required"`
	NeedsSafety bool                  `json:"needs_safety"`
	Satisfied   bool                  `json:"satisfied"`
}

// CampaignStatus is the answer to the status query.
type CampaignStatus struct {
	Status     domain.CampaignStatus        `json:"status"`
	Detail     string                       `json:"detail,omitempty"`
	PlanDigest string                       `json:"plan_digest"`
	Policy     domain.Policy                `json:"policy"`
	Approvals  []domain.Approval            `json:"approvals"`
	NextWindow *domain.Occurrence           `json:"next_window,omitempty"`
	Assets     map[string]domain.AssetState `json:"assets"`
	// Paused is set while an operator's pause holds the campaign before its next asset.
	Paused *OperatorAction `json:"paused,omitempty"`
	// Abort is set once an operator aborted the campaign.
	Abort *OperatorAction `json:"abort,omitempty"`
	// ErrorThreshold is how many failed assets a wave tolerates (0 in safety-critical zones).
	ErrorThreshold int `json:"error_threshold"`
	// Counts are the production targets by state, in executions that page through their targets;
	// their Assets then hold the test-bench targets and the page being deployed.
	Counts map[domain.AssetState]int `json:"counts,omitempty"`
	// Continued is how many times the campaign continued as new to keep its history short.
	Continued int `json:"continued,omitempty"`
}

type campaign struct {
	ctx      workflow.Context
	in       CampaignInput
	plan     activities.CampaignPlan
	state    CampaignStatus
	rejected *DecisionRequest
	log      log.Logger
	wfID     string

	// windows is each target zone's current window; a window change replaces it.
	windows map[string]domain.Window
	// deployCtx is the context asset children run in; abort cancels it.
	deployCtx     workflow.Context
	cancelDeploys workflow.CancelFunc
	paused        *OperatorAction
	abort         *OperatorAction
	ended         bool
	// replanning counts plan changes (window edits, backup waivers) being recorded; replanned
	// says why the plan changed and windowChanged wakes a campaign waiting for a window.
	replanning    int
	replanned     string
	windowChanged bool
	// v is the behaviour this execution runs with, read once from its version markers.
	v behaviour
	// waivers holds the backup waivers by asset, and waiving counts waivers being recorded (no
	// asset starts meanwhile).
	waivers map[string]BackupWaiver
	waiving int

	// Executions that keep their history bounded (bounded.go) hold the plan's outline, the
	// production targets' counts by state, and one page of targets at a time.
	outline *activities.CampaignOutline
	counts  map[domain.AssetState]int
	// page is the ids of the targets of the page being deployed; offset is where the next page
	// of the wave starts; tolerated counts failures within the thresholds of earlier waves.
	page      []string
	offset    int
	tolerated int
	resumed   bool
	// pages counts the pages this execution loaded: one that has loaded none does not
	// continue as new, so every execution makes progress.
	pages int
}

// behaviour is what a campaign execution does differently from older ones; each field comes
// from one workflow.GetVersion marker, so recorded histories replay as they ran.
type behaviour struct {
	// revalidate: approvals are re-checked before each batch (they expire).
	revalidate bool
	// mergeWindows: overlapping window occurrences are one span.
	mergeWindows bool
	// waivable: backup waivers are taken; waiverPlanned: a waiver is a change of the plan.
	waivable, waiverPlanned bool
	// recordWindows: window occurrences are computed in a local activity, so the history
	// records them and a tzdata or cron change cannot alter a replayed decision.
	recordWindows bool
	// closeUnstarted: never-started targets end not_started.
	closeUnstarted bool
	// airGap: plans carried to an air-gapped site wait for its results here, and approvals
	// imported with a plan count at the site (transfer.go).
	airGap bool
	// bounded: the plan is loaded as an outline and its targets a page at a time, and the
	// execution continues as new between pages once its history grows (bounded.go).
	bounded bool
}

// Campaign runs one campaign: test-bench validation, approval, then waves of asset
// deployments inside the zones' maintenance windows.
func Campaign(ctx workflow.Context, in CampaignInput) (CampaignResult, error) {
	c := &campaign{ctx: ctx, in: in}
	if err := c.setup(); err != nil {
		return CampaignResult{}, err
	}
	res, err := c.run()
	if err != nil {
		return CampaignResult{}, err
	}
	// Let an update that is still being handled finish before the workflow closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return res, nil
}

func (c *campaign) setup() error {
	if c.in.CampaignID == "" {
		return fmt.Errorf("campaign workflow needs a campaign id")
	}
	c.log = workflow.GetLogger(c.ctx)
	c.wfID = workflow.GetInfo(c.ctx).WorkflowExecution.ID
	c.state = CampaignStatus{Status: domain.CampaignDraft, Assets: map[string]domain.AssetState{}}
	c.waivers = map[string]BackupWaiver{}
	if err := workflow.SetQueryHandler(c.ctx, QueryStatus, func() (CampaignStatus, error) { return c.state, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(c.ctx, UpdateDecision, c.decide, workflow.UpdateHandlerOptions{Validator: c.validateDecision}); err != nil {
		return err
	}
	if err := c.registerWaiverHandler(); err != nil {
		return err
	}
	return c.registerOperatorHandlers()
}

// RefusalErrorPrefix starts the application error type of a refused decision; the rule follows.
const RefusalErrorPrefix = "refused."

func (c *campaign) validateDecision(ctx workflow.Context, req DecisionRequest) error {
	err := c.checkDecision(req, workflow.Now(ctx))
	var r *domain.Refusal
	if errors.As(err, &r) {
		return temporal.NewNonRetryableApplicationError(r.Message, RefusalErrorPrefix+r.Rule, nil)
	}
	return err
}

func (c *campaign) checkDecision(req DecisionRequest, now time.Time) error {
	if c.state.Status != domain.CampaignAwaitingApproval {
		return &domain.Refusal{Rule: "state", Message: fmt.Sprintf("campaign is %s; decisions are taken only while it awaits approval", c.state.Status)}
	}
	switch req.Decision {
	case "approve":
		return c.plan.Policy.CheckApprover(c.plan.CreatedBy, req.Actor, req.PlanDigest, c.plan.PlanDigest, c.validApprovals(now))
	case "reject":
		if strings.TrimSpace(req.Reason) == "" {
			return &domain.Refusal{Rule: "reason", Message: "a rejection needs a reason"}
		}
		return c.plan.Policy.CheckApprover(c.plan.CreatedBy, req.Actor, req.PlanDigest, c.plan.PlanDigest, nil)
	}
	return &domain.Refusal{Rule: "decision", Message: fmt.Sprintf("decision must be approve or reject, got %q", req.Decision)}
}

// validApprovals are the approvals of the current plan that have not expired at now. An expired
// approval no longer counts, so it must not stop its approver from approving again either.
func (c *campaign) validApprovals(now time.Time) []domain.Approval {
	var out []domain.Approval
	for _, ap := range c.state.Approvals {
		if ap.PlanDigest == c.plan.PlanDigest && now.Sub(ap.At) <= time.Duration(c.plan.Policy.TTL) {
			out = append(out, ap)
		}
	}
	return out
}

func (c *campaign) decide(ctx workflow.Context, req DecisionRequest) (DecisionResponse, error) {
	now := workflow.Now(ctx)
	decision := "approved"
	if req.Decision == "reject" {
		decision = "rejected"
	}
	// Take the decision into the state before recording it, so a concurrent duplicate is refused
	// by the validator; undo it when recording fails.
	ap := domain.Approval{Actor: req.Actor.Name, Role: req.Actor.Role, PlanDigest: req.PlanDigest, At: now}
	if decision == "approved" {
		c.state.Approvals = append(c.state.Approvals, ap)
	} else {
		r := req
		c.rejected = &r
	}
	in := activities.ApprovalInput{ID: "apr_" + workflow.GetCurrentUpdateInfo(ctx).ID,
		CampaignID: c.in.CampaignID, Actor: req.Actor.Name, Role: string(req.Actor.Role), Decision: decision,
		Reason: req.Reason, PlanDigest: req.PlanDigest, At: now, RequestID: req.RequestID, WorkflowID: c.wfID}
	if err := workflow.ExecuteActivity(bookkeeping(ctx), a.RecordApproval, in).Get(ctx, nil); err != nil {
		if decision == "approved" {
			c.state.Approvals = c.state.Approvals[:len(c.state.Approvals)-1]
		} else {
			c.rejected = nil
		}
		return DecisionResponse{}, err
	}
	sat := c.plan.Policy.Satisfied(c.state.Approvals, c.plan.PlanDigest, now)
	status := c.state.Status
	if c.rejected != nil {
		status = domain.CampaignRejected
	} else if sat {
		status = domain.CampaignApproved
	}
	return DecisionResponse{Status: status, Approvals: len(c.validApprovals(now)), Required: c.plan.Policy.Approvals, NeedsSafety: c.plan.Policy.NeedsSafety, Satisfied: sat}, nil
}

func (c *campaign) setStatus(s domain.CampaignStatus, detail string, details map[string]any) error {
	c.state.Status, c.state.Detail = s, detail
	return workflow.ExecuteActivity(bookkeeping(c.ctx), a.SetCampaignStatus,
		activities.StatusInput{CampaignID: c.in.CampaignID, Status: s, Detail: detail, WorkflowID: c.wfID, Details: details}).Get(c.ctx, nil)
}

// ended is how a phase reports that the campaign reached its end: run returns its result. Any
// other error fails the workflow task.
type ended struct{ res CampaignResult }

func (e *ended) Error() string { return "campaign ended " + string(e.res.Status) + ": " + e.res.Detail }

func (c *campaign) end(s domain.CampaignStatus, detail string) error {
	return c.endWith(s, detail, "the campaign ended "+string(s)+" before this asset's turn")
}

// endWith ends the campaign in s; targets that never started end not_started with why.
func (c *campaign) endWith(s domain.CampaignStatus, detail, why string) error {
	c.ended = true
	if c.v.closeUnstarted {
		if err := workflow.ExecuteActivity(bookkeeping(c.ctx), a.MarkNotStarted, activities.EndInput{CampaignID: c.in.CampaignID, WorkflowID: c.wfID, Reason: why}).Get(c.ctx, nil); err != nil {
			return err
		}
		for _, t := range c.plan.Targets {
			if c.state.Assets[t.AssetID] == domain.AssetPending {
				c.state.Assets[t.AssetID] = domain.AssetNotStarted
			}
		}
		c.closePage()
	}
	if err := c.setStatus(s, detail, nil); err != nil {
		return err
	}
	return &ended{CampaignResult{Status: s, Detail: detail}}
}

// occurrence is the window occurrence the campaign uses at now: computed in a local activity
// for executions that record it, so the history keeps the decision whatever the time-zone
// database or cron library of the replaying worker says.
func (c *campaign) occurrence(w domain.Window, now time.Time) (domain.Occurrence, bool, error) {
	if c.v.recordWindows {
		var res activities.OccurrenceResult
		err := workflow.ExecuteLocalActivity(localBookkeeping(c.ctx), a.WindowOccurrence, activities.OccurrenceInput{Window: w, At: now}).Get(c.ctx, &res)
		if err != nil {
			return domain.Occurrence{}, false, err
		}
		return res.Occurrence, res.Found, nil
	}
	current := w.CurrentUnmerged
	if c.v.mergeWindows {
		current = w.Current
	}
	occ, ok := current(now)
	return occ, ok, nil
}

// run takes the campaign through its phases — load the plan, validate on the test bench, get
// the plan approved, deploy wave by wave — and returns how it ended.
func (c *campaign) run() (CampaignResult, error) {
	err := c.load()
	if err == nil {
		err = c.phases()
	}
	var e *ended
	if errors.As(err, &e) {
		return e.res, nil
	}
	if err == nil {
		err = errors.New("campaign phases returned without an end")
	}
	return CampaignResult{}, err
}

func (c *campaign) phases() error {
	if c.in.Resume != nil {
		return c.deployOutline()
	}
	if c.v.airGap && c.plan.TransferSite != "" {
		return c.carried()
	}
	bench, prod := c.split()
	if err := c.validate(bench); err != nil {
		return err
	}
	if err := c.approve(bench); err != nil {
		return err
	}
	if c.v.bounded {
		return c.deployOutline()
	}
	return c.deployWaves(prod)
}

// load reads the plan and the version markers of this execution.
func (c *campaign) load() error {
	ctx := c.ctx
	if err := c.loadPlan(); err != nil {
		return err
	}
	// Executions from this version on re-check approvals before each batch (they expire) and
	// take window changes and operator requests; older histories replay as they ran.
	c.v.revalidate = workflow.GetVersion(ctx, "approval-revalidated-before-each-batch", workflow.DefaultVersion, 1) >= 1
	c.v.mergeWindows = workflow.GetVersion(ctx, "overlapping-window-occurrences-joined", workflow.DefaultVersion, 1) >= 1
	// Executions from this version on take backup waivers (UpdateBackupWaiver).
	c.v.waivable = workflow.GetVersion(ctx, waiverVersion, workflow.DefaultVersion, 1) >= 1
	c.v.recordWindows = workflow.GetVersion(ctx, "window-occurrences-recorded", workflow.DefaultVersion, 1) >= 1
	c.v.closeUnstarted = workflow.GetVersion(ctx, "unstarted-assets-closed", workflow.DefaultVersion, 1) >= 1
	// Executions from this version on take a backup waiver as a change of the plan, which the
	// approvers approve (and which the loaded plan may already carry).
	c.v.waiverPlanned = c.v.waivable && workflow.GetVersion(ctx, waiverPlannedVersion, workflow.DefaultVersion, 1) >= 1
	if c.v.waiverPlanned {
		for _, w := range c.plan.Waivers {
			c.waivers[w.AssetID] = BackupWaiver{AssetID: w.AssetID, Actor: w.By, Role: w.Role, Reason: w.Reason, At: w.At.UTC().Format("2006-01-02T15:04:05Z07:00")}
		}
	}
	c.v.airGap = workflow.GetVersion(ctx, airGapVersion, workflow.DefaultVersion, 1) >= 1
	if c.v.airGap && c.in.Resume == nil {
		c.state.Approvals = append(c.state.Approvals, c.plan.ImportedApprovals...)
	}
	c.state.PlanDigest, c.state.Policy = c.plan.PlanDigest, c.plan.Policy
	c.state.ErrorThreshold = c.plan.ErrorThreshold
	c.windows = map[string]domain.Window{}
	for _, t := range c.plan.Targets {
		c.state.Assets[t.AssetID] = domain.AssetPending
		c.windows[t.ZoneID] = t.Window
	}
	if c.outline != nil {
		c.windows = c.outline.Windows
		c.counts = map[domain.AssetState]int{domain.AssetPending: c.outline.Production}
		c.state.Counts = c.counts
		c.resumeFrom()
	}
	c.deployCtx, c.cancelDeploys = workflow.WithCancel(ctx)
	return nil
}

// split separates the test-bench targets from the production ones, in plan order.
func (c *campaign) split() (bench, prod []activities.Target) {
	for _, t := range c.plan.Targets {
		if t.TestBench {
			bench = append(bench, t)
		} else {
			prod = append(prod, t)
		}
	}
	return bench, prod
}

// validate is phase 1: the patch is deployed and verified on the test bench first.
func (c *campaign) validate(bench []activities.Target) error {
	if len(bench) == 0 {
		return c.end(domain.CampaignTestFailed, "no test-bench asset mirrors this product; validation cannot run")
	}
	if err := c.setStatus(domain.CampaignTesting, fmt.Sprintf("validating on %d test-bench assets", len(bench)), nil); err != nil {
		return err
	}
	if err := c.holdWhilePaused(); err != nil {
		return err
	}
	failed, drifted := c.deploy(bench)
	if c.abort != nil {
		return c.endAborted()
	}
	failed = append(failed, drifted...)
	if len(failed) > 0 {
		return c.endWith(domain.CampaignTestFailed, "test-bench validation failed: "+strings.Join(failed, "; "), "test-bench validation failed")
	}
	return nil
}

// approve is phase 2: the plan waits for approvals that satisfy its policy.
func (c *campaign) approve(bench []activities.Target) error {
	need := fmt.Sprintf("tested on %d test-bench assets; needs %d approval(s)", len(bench), c.plan.Policy.Approvals)
	if runs := c.benchRuns(bench); runs != "" {
		need = fmt.Sprintf("tested on the test bench (%s); needs %d approval(s)", runs, c.plan.Policy.Approvals)
	}
	if c.plan.Policy.NeedsSafety {
		need += ", one from the safety role"
	}
	return c.awaitApproval(need, nil)
}

// deployWaves is phase 3: the waves, each inside its zone's window, then the campaign's end.
func (c *campaign) deployWaves(prod []activities.Target) error {
	waves := planWaves(prod)
	if len(c.plan.Waves) > 0 {
		waves = c.planned(prod)
	}
	tolerated := 0
	for i, w := range waves {
		failed, err := c.runWave(i+1, len(waves), w)
		if err != nil {
			return err
		}
		tolerated += failed
	}
	if err := c.setWindow(nil); err != nil {
		return err
	}
	driftedN := 0
	for _, t := range prod {
		if c.state.Assets[t.AssetID] == domain.AssetDrifted {
			driftedN++
		}
	}
	return c.completed(len(prod), tolerated, driftedN)
}

// completed ends the campaign completed: of prod production targets, tolerated failed within
// their wave's threshold and drifted were left as they were.
func (c *campaign) completed(prod, tolerated, drifted int) error {
	drift := ""
	if drifted > 0 {
		drift = fmt.Sprintf("; %d drifted from the plan and were left as they were", drifted)
	}
	if tolerated > 0 {
		return c.end(domain.CampaignCompleted, fmt.Sprintf("%d assets patched and verified; %d failed and were rolled back within the error threshold of %d per wave%s",
			prod-tolerated-drifted, tolerated, c.plan.ErrorThreshold, drift))
	}
	return c.end(domain.CampaignCompleted, fmt.Sprintf("%d assets patched and verified%s", prod-drifted, drift))
}

// benchRuns describes the bench runs among ts ("bench-hmi-01 V16.0.1 → V16.0.2"); empty for
// plans made before bench runs were planned.
func (c *campaign) benchRuns(ts []activities.Target) string {
	var runs []string
	for _, t := range ts {
		if t.Bench != nil {
			runs = append(runs, fmt.Sprintf("%s %s → %s", t.Name, t.Bench.FromVersion, c.plan.ToVersion))
		}
	}
	return strings.Join(runs, ", ")
}

// planned is the plan's waves, in the plan's order with the plan's thresholds: what was
// approved is what runs.
func (c *campaign) planned(prod []activities.Target) []wave {
	byID := map[string]activities.Target{}
	for _, t := range prod {
		byID[t.AssetID] = t
	}
	out := make([]wave, 0, len(c.plan.Waves))
	for _, pw := range c.plan.Waves {
		w := wave{zone: pw.ZoneID, zoneName: pw.ZoneName, threshold: pw.ErrorThreshold, planned: true}
		for _, id := range pw.AssetIDs {
			if t, ok := byID[id]; ok {
				w.targets = append(w.targets, t)
				w.window = t.Window
			}
		}
		out = append(out, w)
	}
	return out
}

// awaitApproval asks for approval of the current plan and waits until the policy is satisfied,
// the plan is rejected or the campaign is aborted (then it returns the campaign's end).
func (c *campaign) awaitApproval(detail string, details map[string]any) error {
	ctx := c.ctx
	if err := c.setStatus(domain.CampaignAwaitingApproval, detail, details); err != nil {
		return err
	}
	// A decision counts once it is recorded: decide takes it into the state before recording it
	// and undoes it when recording fails, so wait for decisions still being recorded.
	recorded := workflow.GetVersion(ctx, "decision-recorded-before-proceeding", workflow.DefaultVersion, 1) >= 1
	if err := workflow.Await(ctx, func() bool {
		if c.abort != nil {
			return true
		}
		if (recorded && !workflow.AllHandlersFinished(ctx)) || c.replanning > 0 {
			return false
		}
		return c.rejected != nil || c.plan.Policy.Satisfied(c.state.Approvals, c.plan.PlanDigest, workflow.Now(ctx))
	}); err != nil {
		return err
	}
	if c.abort != nil {
		return c.endAborted()
	}
	if c.rejected != nil {
		return c.end(domain.CampaignRejected, fmt.Sprintf("rejected by %s: %s", c.rejected.Actor.Name, c.rejected.Reason))
	}
	var names []string
	for _, ap := range c.validApprovals(workflow.Now(ctx)) {
		names = append(names, ap.Actor+" ("+string(ap.Role)+")")
	}
	c.replanned = ""
	return c.setStatus(domain.CampaignApproved, "approved by "+strings.Join(names, ", "), nil)
}

// holdWhilePaused waits while an operator's pause holds the campaign; an abort ends it.
func (c *campaign) holdWhilePaused() error {
	if c.abort != nil {
		return c.endAborted()
	}
	if c.paused == nil {
		return nil
	}
	detail := fmt.Sprintf("paused by %s", c.paused.Actor)
	if c.paused.Reason != "" {
		detail += ": " + c.paused.Reason
	}
	if err := c.setStatus(CampaignPaused, detail+"; no new asset starts until an engineer resumes", nil); err != nil {
		return err
	}
	if err := workflow.Await(c.ctx, func() bool { return c.paused == nil || c.abort != nil }); err != nil {
		return err
	}
	if c.abort != nil {
		return c.endAborted()
	}
	return nil
}

// gate runs before each batch: it holds a paused campaign and sends one whose approvals no
// longer count (expired, or the plan changed) back to awaiting approval. waited is set when it
// held the campaign, so the caller looks at the clock and the window again.
func (c *campaign) gate() (waited bool, err error) {
	for {
		if err := c.holdWhilePaused(); err != nil {
			return waited, err
		}
		if c.paused != nil {
			continue
		}
		if !c.v.revalidate && c.replanned == "" {
			return waited, nil
		}
		if c.replanning > 0 {
			if err := workflow.Await(c.ctx, func() bool { return c.replanning == 0 || c.abort != nil }); err != nil {
				return waited, err
			}
			continue
		}
		now := workflow.Now(c.ctx)
		if c.plan.Policy.Satisfied(c.state.Approvals, c.plan.PlanDigest, now) {
			return waited, nil
		}
		waited = true
		detail := fmt.Sprintf("the plan changed (%s); approvals of the earlier plan no longer count: approve plan %s", c.replanned, domain.ShortHash(c.plan.PlanDigest))
		details := map[string]any{"reason": "plan_changed", "plan_digest": c.plan.PlanDigest}
		if c.replanned == "" {
			detail = fmt.Sprintf("approval expired: approvals count for %s and the window is open; approve plan %s again", c.plan.Policy.TTL, domain.ShortHash(c.plan.PlanDigest))
			details = map[string]any{"reason": "approval_expired", "ttl": c.plan.Policy.TTL.String()}
		}
		if err := c.awaitApproval(detail, details); err != nil {
			return waited, err
		}
	}
}

// sleep waits d on a durable timer; an abort or a window change ends the wait early.
func (c *campaign) sleep(d time.Duration) error {
	tctx, cancel := workflow.WithCancel(c.ctx)
	defer cancel()
	timer := workflow.NewTimer(tctx, d)
	c.windowChanged = false
	return workflow.Await(c.ctx, func() bool { return timer.IsReady() || c.abort != nil || c.windowChanged })
}

// endAborted ends an aborted campaign once the assets in flight have rolled back.
func (c *campaign) endAborted() error {
	c.ended = true
	if err := c.setWindow(nil); err != nil {
		return err
	}
	// Production targets only: the bench's validation is not part of what the abort left behind.
	counts := c.counts
	if counts == nil {
		counts = map[domain.AssetState]int{}
		for _, t := range c.plan.Targets {
			if s, ok := c.state.Assets[t.AssetID]; ok && !t.TestBench {
				counts[s]++
			}
		}
	}
	detail := fmt.Sprintf("aborted by %s: %s; %d verified assets left as they are, %d restored after abort, %d not started",
		c.abort.Actor, c.abort.Reason, counts[domain.AssetDone], counts[domain.AssetAborted], counts[domain.AssetPending]+counts[domain.AssetSkipped]+counts[domain.AssetNotStarted])
	if n := counts[domain.AssetRolledBack]; n > 0 {
		detail += fmt.Sprintf("; %d rolled back after a failure", n)
	}
	if n := counts[domain.AssetDrifted]; n > 0 {
		detail += fmt.Sprintf("; %d drifted and left as they were", n)
	}
	if n := counts[domain.AssetRollbackFailed] + counts[domain.AssetFailed]; n > 0 {
		detail += fmt.Sprintf("; %d need manual action (rollback failed)", n)
	}
	return c.endWith(domain.CampaignAborted, detail, fmt.Sprintf("the campaign was aborted by %s before this asset's turn", c.abort.Actor))
}

// assetStates lists the state of every target in plan order (a map's order is not
// deterministic, and workflow code must be).
func (c *campaign) assetStates() []domain.AssetState {
	out := make([]domain.AssetState, 0, len(c.plan.Targets))
	for _, t := range c.plan.Targets {
		if s, ok := c.state.Assets[t.AssetID]; ok {
			out = append(out, s)
		}
	}
	return out
}

// wave is the targets of one zone.
type wave struct {
	zone string
	// zoneName is the zone's name as the plan gives it (empty on older plans).
	zoneName string
	window   domain.Window
	targets  []activities.Target
	// threshold is the plan's error threshold for the wave when planned is set.
	threshold int
	planned   bool
	// paged: the wave's targets are loaded a page at a time; index is its place in the plan.
	paged bool
	index int
}

// planWaves groups targets by zone, lowest SL-T (then lowest criticality) first; plans made
// before plans carried their waves are grouped here.
func planWaves(ts []activities.Target) []wave {
	groups := domain.GroupWaves(ts, func(t activities.Target) string { return t.ZoneID },
		func(t activities.Target) int { return t.SLT }, func(t activities.Target) int { return t.Criticality })
	out := make([]wave, len(groups))
	for i, g := range groups {
		out[i] = wave{zone: g[0].ZoneID, window: g[0].Window, targets: g}
	}
	return out
}

func (c *campaign) setWindow(o *domain.Occurrence) error {
	c.state.NextWindow = o
	return workflow.ExecuteActivity(bookkeeping(c.ctx), a.SetNextWindow, activities.WindowInput{CampaignID: c.in.CampaignID, Occurrence: o}).Get(c.ctx, nil)
}

// runWave deploys one zone's targets batch by batch inside its window. It returns the campaign's
// end (*ended) when the campaign ended in this wave; failed counts the assets that failed within
// the wave's error threshold (each rolled back).
func (c *campaign) runWave(n, of int, w wave) (failed int, err error) {
	ctx := c.ctx
	pending := w.targets
	threshold := c.threshold(w)
	if w.paged {
		failed = c.startWave(w)
	}
	for {
		if len(pending) == 0 {
			if !w.paged {
				break
			}
			page, err := c.nextPage(w, failed)
			if err != nil || len(page) == 0 {
				return failed, err
			}
			pending = page
		}
		if c.abort != nil {
			return failed, c.endAborted()
		}
		if c.replanned != "" {
			// The plan changed (a window was edited): approve it again before waiting for it.
			if _, err := c.gate(); err != nil {
				return failed, err
			}
		}
		window := c.windows[w.zone]
		now := workflow.Now(ctx)
		occ, ok, err := c.occurrence(window, now)
		if err != nil {
			return failed, err
		}
		if !ok {
			return failed, c.end(domain.CampaignHalted, fmt.Sprintf("zone %s has no maintenance window occurrence in the coming year", w.name()))
		}
		if err := c.setWindow(&occ); err != nil {
			return failed, err
		}
		if occ.Start.After(now) {
			detail := fmt.Sprintf("waiting for window: wave %d/%d (zone %s) opens %s", n, of, w.name(), occ.Start.UTC().Format(time.RFC3339))
			if err := c.setStatus(domain.CampaignScheduled, detail, map[string]any{"window_start": occ.Start.UTC(), "window_end": occ.End.UTC()}); err != nil {
				return failed, err
			}
			if err := c.sleep(occ.Start.Sub(now)); err != nil {
				return failed, err
			}
			continue
		}
		if waited, err := c.gate(); err != nil {
			return failed, err
		} else if waited {
			continue // the clock moved and the window may have changed
		}
		batch, rest := pickBatch(pending, occ.End.Sub(now), window.MaxParallel)
		if len(batch) == 0 {
			for _, t := range pending {
				if t.Expected > time.Duration(window.Duration) {
					return failed, c.end(domain.CampaignHalted, fmt.Sprintf("asset %s needs %s, longer than zone %s's whole window (%s)", t.Name, t.Expected, w.name(), time.Duration(window.Duration)))
				}
			}
			// What is left of this occurrence is too short: continue in the next one.
			if err := c.sleep(occ.End.Sub(now)); err != nil {
				return failed, err
			}
			continue
		}
		detail := fmt.Sprintf("wave %d/%d (zone %s): %d assets in this batch, window closes %s", n, of, w.name(), len(batch), occ.End.UTC().Format(time.RFC3339))
		if err := c.setStatus(domain.CampaignDeploying, detail, nil); err != nil {
			return failed, err
		}
		if c.v.waiverPlanned {
			// A waiver recorded meanwhile changed the plan: the batch starts only under approvals
			// of the plan as it is now.
			if err := workflow.Await(ctx, func() bool { return c.waiving == 0 && c.replanning == 0 }); err != nil {
				return failed, err
			}
			if !c.plan.Policy.Satisfied(c.state.Approvals, c.plan.PlanDigest, workflow.Now(ctx)) {
				continue
			}
		}
		lines, _ := c.deploy(batch) // drifted assets are left as they were, not failures
		if c.abort != nil {
			return failed, c.endAborted()
		}
		failed += len(lines)
		if failed > threshold {
			return failed, c.halt(lines, threshold, failed)
		}
		pending = rest
	}
	return failed, nil
}

// name is how a person reads the wave's zone: its name, or its id on plans without names.
func (w wave) name() string {
	if w.zoneName != "" {
		return w.zoneName
	}
	return w.zone
}

// threshold is how many failed assets wave w tolerates: the campaign's error threshold, but 0
// in a safety-critical zone (SL-T 3–4 or a safety-critical asset).
func (c *campaign) threshold(w wave) int {
	if w.planned {
		return w.threshold
	}
	for _, t := range w.targets {
		if t.SafetyCritical || t.SLT >= 3 {
			return 0
		}
	}
	return max(c.plan.ErrorThreshold, 0)
}

// pickBatch takes up to max targets whose expected duration fits in left, at most one per
// redundancy group; the partner waits for a later batch, after the first is verified.
func pickBatch(ts []activities.Target, left time.Duration, max int) (batch, rest []activities.Target) {
	groups := map[string]bool{}
	for _, t := range ts {
		fits := t.Expected <= left && len(batch) < max
		if fits && t.RedundancyGroup != "" && groups[t.RedundancyGroup] {
			fits = false
		}
		if fits {
			batch = append(batch, t)
			if t.RedundancyGroup != "" {
				groups[t.RedundancyGroup] = true
			}
		} else {
			rest = append(rest, t)
		}
	}
	return batch, rest
}

// waiver is the backup waiver of assetID, if an engineer recorded one.
func (c *campaign) waiver(assetID string) *BackupWaiver {
	if w, ok := c.waivers[assetID]; ok {
		return &w
	}
	return nil
}

// halt ends the campaign after failed assets: rolled_back when each was restored and verified,
// halted when any needs manual action. Assets not started stay untouched.
func (c *campaign) halt(failed []string, threshold, count int) error {
	if err := c.setWindow(nil); err != nil {
		return err
	}
	status := domain.CampaignRolledBack
	for _, s := range c.assetStates() {
		if s == domain.AssetRollbackFailed || s == domain.AssetFailed {
			status = domain.CampaignHalted
		}
	}
	if c.counts[domain.AssetRollbackFailed]+c.counts[domain.AssetFailed] > 0 {
		status = domain.CampaignHalted
	}
	why := "halted at the first failure (error threshold 0): "
	if threshold > 0 {
		why = fmt.Sprintf("halted: %d failed assets in this wave exceed the error threshold of %d: ", count, threshold)
	}
	return c.end(status, why+strings.Join(failed, "; "))
}

// deploy runs AssetDeployment children for ts in parallel and returns a line per failed asset
// and a line per drifted asset (left as it was: not a failed change, but the plan did not hold).
func (c *campaign) deploy(ts []activities.Target) (failed, drifted []string) {
	ctx := c.ctx
	if c.v.waivable && c.waiving > 0 {
		// A waiver being recorded applies to the asset it names: let it finish first.
		_ = workflow.Await(ctx, func() bool { return c.waiving == 0 })
	}
	futures := make([]workflow.ChildWorkflowFuture, len(ts))
	for i, t := range ts {
		// Abort cancels deployCtx; the parent waits for each child to finish its rollback.
		opts := workflow.ChildWorkflowOptions{WorkflowID: AssetWorkflowID(c.in.CampaignID, t.AssetID), WaitForCancellation: true,
			StaticSummary: assetSummary(c.in.CampaignID, t, c.plan.ToVersion)}
		if c.in.Indexed {
			opts.TypedSearchAttributes = assetSearchAttributes(c.in.CampaignID, c.plan.PatchID, t.AssetID, t.ZoneID, c.in.ZoneSites[t.ZoneID])
		}
		cctx := workflow.WithChildOptions(c.deployCtx, opts)
		futures[i] = workflow.ExecuteChildWorkflow(cctx, AssetDeployment, AssetDeploymentInput{CampaignID: c.in.CampaignID, AssetID: t.AssetID,
			PatchID: c.plan.PatchID, ToVersion: c.plan.ToVersion, ArtifactSHA256: c.plan.ArtifactSHA256, Install: c.plan.Install, Waiver: c.waiver(t.AssetID),
			FromVersion: t.FromVersion, TestBench: t.TestBench && t.Bench != nil, Bench: t.Bench})
	}
	for i, f := range futures {
		var r AssetDeploymentResult
		if err := f.Get(ctx, &r); err != nil {
			if c.abort != nil && temporal.IsCanceledError(err) {
				continue // cancelled before it touched the asset
			}
			c.setAsset(ts[i], domain.AssetFailed)
			failed = append(failed, fmt.Sprintf("%s: %s", ts[i].Name, rootMessage(err)))
			continue
		}
		c.setAsset(ts[i], r.State)
		if r.State == domain.AssetSkipped {
			continue // aborted before it was touched
		}
		if r.State == domain.AssetDrifted {
			drifted = append(drifted, fmt.Sprintf("%s: %s", ts[i].Name, r.Error))
			continue
		}
		if !r.Succeeded() {
			failed = append(failed, fmt.Sprintf("%s %s: %s", ts[i].Name, r.State, r.Error))
		}
	}
	return failed, drifted
}

// assetSummary is an asset deployment's summary in the Temporal UI.
func assetSummary(campaignID string, t activities.Target, toVersion string) string {
	what := "deploy"
	if t.TestBench {
		what = "test-bench run"
	}
	name := t.Name
	if name == "" {
		name = t.AssetID
	}
	return fmt.Sprintf("%s of %s to %s (campaign %s)", what, name, toVersion, campaignID)
}
