package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// The site discovery schedule's and its workflow's ids.
const (
	SiteDiscoveryScheduleID   = "site-discovery"
	SiteDiscoveryWorkflowID   = "site-discovery"
	defaultSiteDiscoveryWaitS = 300
	// SiteDiscoveryNowID is the id of a run a person asked for (POST /api/v1/discoveries/sites),
	// apart from the schedule's, so that it never waits on a scheduled run's longer bound.
	SiteDiscoveryNowID = "site-discovery-now"
)

// SiteDiscoveryInput bounds the wait for each site's worker.
type SiteDiscoveryInput struct {
	// WaitSeconds is how long a site's read waits for a worker of the site to take it (0: 300).
	WaitSeconds int `json:"wait_seconds,omitempty"`
	// Now marks a run a person asked for.
	Now bool `json:"now,omitempty"`
}

// SiteReport says what one site's worker saw and what became of it.
type SiteReport struct {
	SiteID    string `json:"site_id"`
	SiteName  string `json:"site_name"`
	Worker    string `json:"worker,omitempty" doc:"The site worker that read its neighbour table"`
	Neighbors int    `json:"neighbors" doc:"Complete entries of the table"`
	New       int    `json:"new" doc:"Devices no asset knows, seen for the first time: each a discovery"`
	Alarms    int    `json:"alarms" doc:"Unknown-device alarms raised"`
	Skipped   string `json:"skipped,omitempty" doc:"Why the site reported nothing: no worker of the site took the read in time, or it could not read the table"`
}

// SiteDiscoveryResult is each site's report.
type SiteDiscoveryResult struct {
	Sites []SiteReport `json:"sites" doc:"Each site whose device work runs on its own site workers"`
}

// SiteDiscovery asks the worker of every site whose device work runs at the site for its
// neighbour table, on the site's own task queue, and records what each saw as sightings: a
// device no asset knows raises an alarm and a discovery. A site whose worker does not take the
// read in time, or fails it, is skipped until the next run; the others are not held up.
func SiteDiscovery(ctx workflow.Context, in SiteDiscoveryInput) (SiteDiscoveryResult, error) {
	bctx := bookkeeping(ctx)
	var sites []activities.SiteRef
	if err := workflow.ExecuteActivity(bctx, a.SitesWithWorkers).Get(ctx, &sites); err != nil {
		return SiteDiscoveryResult{}, err
	}
	wait := time.Duration(in.WaitSeconds) * time.Second
	if wait <= 0 {
		wait = defaultSiteDiscoveryWaitS * time.Second
	}
	reads := make([]workflow.Future, len(sites))
	for i, site := range sites {
		sctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              domain.SiteTaskQueue(site.ID),
			ScheduleToStartTimeout: wait,
			StartToCloseTimeout:    time.Minute,
			RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		reads[i] = workflow.ExecuteActivity(sctx, dv.SiteNeighbors)
	}
	var out SiteDiscoveryResult
	for i, site := range sites {
		rep := SiteReport{SiteID: site.ID, SiteName: site.Name}
		var seen activities.SiteNeighborsResult
		if err := reads[i].Get(ctx, &seen); err != nil {
			rep.Skipped = siteSkipReason(err)
			out.Sites = append(out.Sites, rep)
			continue
		}
		rep.Worker, rep.Neighbors = seen.Worker, len(seen.Neighbors)
		var res struct {
			New    int `json:"new"`
			Alarms int `json:"alarms"`
		}
		if err := workflow.ExecuteActivity(bctx, a.RecordSiteNeighbors, activities.SiteNeighborsRecord{SiteID: site.ID, SiteName: site.Name, SiteNeighborsResult: seen}).Get(ctx, &res); err != nil {
			return out, err
		}
		rep.New, rep.Alarms = res.New, res.Alarms
		out.Sites = append(out.Sites, rep)
	}
	return out, nil
}

// siteSkipReason says in words why a site's read gave nothing.
func siteSkipReason(err error) string {
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "no worker of the site took the read in time"
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return "the site's worker could not read its neighbour table: " + ae.Message()
	}
	return err.Error()
}
