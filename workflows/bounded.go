package workflows

import (
	"errors"

	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// A campaign of any size a plant has. A workflow's history grows with every event and Temporal
// refuses histories over 51,200 events and payloads over 2 MB, so executions from this version
// on never hold the whole plan nor the whole run:
//
//   - the plan is loaded as an outline (header, test-bench targets, each zone's window, the
//     production waves with their sizes) and each wave's targets a page at a time, in the
//     plan's order;
//   - the production targets' states are kept as counts; each target's own state is in the
//     store (and the status query shows the page being deployed);
//   - between pages, once the history has grown past a limit, the execution continues as new
//     with where it stands (CampaignProgress): the wave, the next page, the failures counted
//     against the thresholds, the approvals and a pause. Every asset of earlier pages has
//     ended by then, so nothing runs twice.
//
// What the approvers approved is what runs: the pages are the plan's waves in the plan's
// order, and every continuation reloads the plan by its digest.

// boundedVersion marks executions that keep their history bounded.
const boundedVersion = "campaign-history-bounded"

// DefaultHistoryLimit is how many events an execution's history reaches before it continues
// as new at the next page: a fifth of Temporal's 51,200-event limit, half its warning level.
const DefaultHistoryLimit = 5000

// wavePage is how many targets a page holds: the children of a page and their bookkeeping stay
// well inside DefaultHistoryLimit, and a page's payload is about 100 KB.
const wavePage = 500

// CampaignProgress is where a campaign that continued as new goes on.
type CampaignProgress struct {
	// Wave is the wave (0-based) to go on with and Offset its next target in plan order.
	Wave   int `json:"wave"`
	Offset int `json:"offset"`
	// Failed counts the failures within the current wave's threshold; Tolerated those of the
	// waves before it.
	Failed    int `json:"failed"`
	Tolerated int `json:"tolerated"`
	// Counts are the production targets by state.
	Counts    map[domain.AssetState]int `json:"counts"`
	Approvals []domain.Approval         `json:"approvals,omitempty"`
	Paused    *OperatorAction           `json:"paused,omitempty"`
	// Replanned says why the plan changed since its approvals, when it did.
	Replanned string                `json:"replanned,omitempty"`
	Status    domain.CampaignStatus `json:"status"`
	Detail    string                `json:"detail,omitempty"`
	Continued int                   `json:"continued"`
}

// loadPlan reads the plan: as an outline in executions that keep their history bounded (when
// the plan carries its waves and is not carried to an air-gapped site), whole otherwise.
func (c *campaign) loadPlan() error {
	ctx := c.ctx
	if workflow.GetVersion(ctx, boundedVersion, workflow.DefaultVersion, 1) >= 1 {
		var o activities.CampaignOutline
		if err := workflow.ExecuteActivity(bookkeeping(ctx), a.LoadCampaignOutline, c.in.CampaignID).Get(ctx, &o); err != nil {
			return err
		}
		// A plan carried to an air-gapped site deploys nothing here: it waits for the site's
		// results, in a short history, with the whole plan (transfer.go).
		if o.Complete && o.TransferSite == "" {
			c.v.bounded, c.outline, c.plan = true, &o, o.CampaignPlan
			return nil
		}
	}
	return workflow.ExecuteActivity(bookkeeping(ctx), a.LoadCampaign, c.in.CampaignID).Get(ctx, &c.plan)
}

// resumeFrom takes over where the execution before this one stood.
func (c *campaign) resumeFrom() {
	r := c.in.Resume
	if r == nil {
		return
	}
	if r.Counts != nil {
		c.counts = r.Counts
		c.state.Counts = c.counts
	}
	c.state.Approvals = append([]domain.Approval(nil), r.Approvals...)
	c.paused, c.state.Paused = r.Paused, r.Paused
	c.replanned = r.Replanned
	c.state.Status, c.state.Detail = r.Status, r.Detail
	c.state.Continued = r.Continued
	for _, t := range c.plan.Targets {
		delete(c.state.Assets, t.AssetID) // the bench's states are in the store
	}
}

// deployOutline is phase 3 of executions that keep their history bounded: the plan's waves,
// each a page of targets at a time, then the campaign's end.
func (c *campaign) deployOutline() error {
	if c.outline == nil {
		return errors.New("campaign continued as new but its plan has no outline")
	}
	start := 0
	if r := c.in.Resume; r != nil {
		start, c.tolerated = r.Wave, r.Tolerated
	}
	waves := c.outline.OutlineWaves
	for i := start; i < len(waves); i++ {
		ow := waves[i]
		w := wave{zone: ow.ZoneID, zoneName: ow.ZoneName, threshold: ow.ErrorThreshold, planned: true, paged: true, index: i}
		failed, err := c.runWave(i+1, len(waves), w)
		if err != nil {
			return err
		}
		c.tolerated += failed
	}
	if err := c.setWindow(nil); err != nil {
		return err
	}
	return c.completed(c.outline.Production, c.tolerated, c.counts[domain.AssetDrifted])
}

// startWave begins paged wave w: at its first target, or where the execution before this one
// stopped. It returns the failures already counted against the wave's threshold.
func (c *campaign) startWave(w wave) (failed int) {
	c.offset = 0
	if r := c.in.Resume; r != nil && !c.resumed && r.Wave == w.index {
		c.resumed = true
		c.offset = r.Offset
		return r.Failed
	}
	return 0
}

// nextPage loads the next page of wave w's targets; none when the wave is done. Before it, an
// execution whose history has grown past its limit continues as new (every target of the
// pages before has ended).
func (c *campaign) nextPage(w wave, failed int) ([]activities.Target, error) {
	if err := c.continueIfLong(w, failed); err != nil {
		return nil, err
	}
	c.closePage()
	c.page = c.page[:0]
	var ts []activities.Target
	size := c.in.PageSize
	if size <= 0 || size > activities.MaxWavePage {
		size = wavePage
	}
	in := activities.WaveTargetsInput{CampaignID: c.in.CampaignID, Wave: w.index, Offset: c.offset, Limit: size}
	if err := workflow.ExecuteActivity(bookkeeping(c.ctx), a.LoadWaveTargets, in).Get(c.ctx, &ts); err != nil {
		return nil, err
	}
	c.offset += len(ts)
	c.pages++
	for _, t := range ts {
		c.state.Assets[t.AssetID] = domain.AssetPending
		c.page = append(c.page, t.AssetID)
	}
	return ts, nil
}

// closePage drops the states of the page that ended from the status (the store keeps them);
// a page cut short by the campaign's end shows its targets not started.
func (c *campaign) closePage() {
	for _, id := range c.page {
		if c.ended && c.state.Assets[id] == domain.AssetPending {
			c.state.Assets[id] = domain.AssetNotStarted
			continue
		}
		if !c.ended {
			delete(c.state.Assets, id)
		}
	}
	if c.ended && c.counts != nil {
		c.counts[domain.AssetNotStarted] += c.counts[domain.AssetPending]
		delete(c.counts, domain.AssetPending)
	}
}

// setAsset records target t's new state, counting production targets by state.
func (c *campaign) setAsset(t activities.Target, s domain.AssetState) {
	if c.counts != nil && !t.TestBench {
		if prev, ok := c.state.Assets[t.AssetID]; ok {
			c.counts[prev]--
			if c.counts[prev] == 0 {
				delete(c.counts, prev)
			}
		}
		c.counts[s]++
	}
	c.state.Assets[t.AssetID] = s
}

// continueIfLong continues the campaign as new when its history has reached the limit (or the
// server suggests it), once the updates being handled and the plan changes being recorded are
// done. It runs between pages only, when no asset is in flight.
func (c *campaign) continueIfLong(w wave, failed int) error {
	limit := c.in.HistoryLimit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	info := workflow.GetInfo(c.ctx)
	if c.pages == 0 || info.GetCurrentHistoryLength() < limit && !info.GetContinueAsNewSuggested() {
		return nil
	}
	if err := workflow.Await(c.ctx, func() bool {
		return workflow.AllHandlersFinished(c.ctx) && c.replanning == 0 && c.waiving == 0
	}); err != nil {
		return err
	}
	if c.abort != nil {
		return nil // the wave's loop ends the campaign
	}
	return workflow.NewContinueAsNewError(c.ctx, Campaign, CampaignInput{CampaignID: c.in.CampaignID, HistoryLimit: c.in.HistoryLimit, PageSize: c.in.PageSize, Indexed: c.in.Indexed, ZoneSites: c.in.ZoneSites,
		Resume: &CampaignProgress{Wave: w.index, Offset: c.offset, Failed: failed, Tolerated: c.tolerated, Counts: c.counts,
			Approvals: c.state.Approvals, Paused: c.paused, Replanned: c.replanned, Status: c.state.Status, Detail: c.state.Detail,
			Continued: c.state.Continued + 1}})
}
