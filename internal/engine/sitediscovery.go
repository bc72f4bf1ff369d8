package engine

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/otpatch/otpatch/workflows"
)

// SiteDiscoveryEvery is how often the site workers are asked for their neighbour tables.
const SiteDiscoveryEvery = time.Hour

// ScheduleSiteDiscovery makes the Temporal Schedule that asks every site's worker for its
// neighbour table every interval (creating it, or changing the interval of the one there is).
func (g *Gateway) ScheduleSiteDiscovery(ctx context.Context, every time.Duration) error {
	return g.scheduleEvery(ctx, workflows.SiteDiscoveryScheduleID, every, &client.ScheduleWorkflowAction{
		ID: workflows.SiteDiscoveryWorkflowID, Workflow: workflows.SiteDiscovery, TaskQueue: workflows.TaskQueue,
		Args: []any{workflows.SiteDiscoveryInput{}},
	}, nil)
}

// DiscoverSites asks every site's worker now and waits for what each saw; a run already going
// is joined rather than doubled.
func (g *Gateway) DiscoverSites(ctx context.Context, in workflows.SiteDiscoveryInput) (workflows.SiteDiscoveryResult, error) {
	id := workflows.SiteDiscoveryWorkflowID
	if in.Now {
		id = workflows.SiteDiscoveryNowID
	}
	return runJoined[workflows.SiteDiscoveryResult](ctx, g, id, workflows.SiteDiscovery, in)
}
