package main

import (
	"context"
	"time"

	"github.com/otpatch/otpatch/internal/engine"
)

// reconcileEvery is how often the server looks for patches and campaigns whose workflow never
// started.
const reconcileEvery = time.Minute

// reconcile starts, now and then every reconcileEvery until ctx ends, the workflow of every
// patch still submitted and every campaign still a draft: what a process stopped between
// committing the row and starting its workflow left behind (internal/engine). A workflow that
// runs or ran already is never started again.
func (d *deps) reconcile(ctx context.Context) {
	g := &engine.Gateway{Temporal: d.tc, Store: d.store}
	// A feed stored just before the process stopped may lack its schedule; once at start is
	// enough, the API creating the schedule with the feed otherwise.
	if got, err := g.ReconcileFeeds(ctx, d.store); err != nil && ctx.Err() == nil {
		d.log.Warn("giving feeds left without a schedule their schedule failed; it is tried again at the next start", "err", err)
	} else if len(got) > 0 {
		d.log.Info("scheduled the feeds a stopped process left without a schedule", "feeds", got)
	}
	if got, err := g.ReconcileDrills(ctx, d.store); err != nil && ctx.Err() == nil {
		d.log.Warn("giving restore drills left without a schedule their schedule failed; it is tried again at the next start", "err", err)
	} else if len(got) > 0 {
		d.log.Info("scheduled the restore drills a stopped process left without a schedule", "drills", got)
	}
	// Every campaign past its draft is compared with its workflow once at start: after a
	// restore, Temporal's copy may lack a workflow or hold one that ended otherwise. Each
	// difference is an alarm and an audit event (engine.ReconcileCampaigns).
	if diffs, err := g.ReconcileCampaigns(ctx, d.store); err != nil && ctx.Err() == nil {
		d.log.Warn("comparing campaigns with their workflows failed for some; they are compared again at the next start", "err", err)
	} else {
		for _, diff := range diffs {
			d.log.Warn("a campaign and its workflow disagree; an alarm was raised", "campaign", diff.CampaignID, "status", diff.Status, "workflow", diff.Workflow, "alarm", diff.Alarm, "halted", diff.Halted)
		}
	}
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		got, err := g.Reconcile(ctx, d.store)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("starting workflows left behind failed; trying again in a minute", "err", err)
		}
		if len(got.Patches)+len(got.Campaigns) > 0 {
			d.log.Info("started the workflows of rows a stopped process left unstarted", "patches", got.Patches, "campaigns", got.Campaigns)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
