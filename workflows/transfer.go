package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// Air-gapped sites. A plan whose targets are at an air-gapped site (plan.TransferSite) is
// approved here and carried to the site as a signed transfer bundle; the site's own instance
// imports it, validates it on the site's test bench, and deploys it in the plan's windows
// with this same workflow. Here the campaign then waits for the site's results, which come
// back as a bundle too: nothing is assumed until they are imported.

// SignalSiteResults tells a campaign that a results bundle of its site was imported; the
// workflow reads them from the store (ReadSiteResults), so a lost signal is made good by the
// next look.
const SignalSiteResults = "site-results"

// airGapVersion marks executions that know air-gapped sites: the central instance skips the
// bench phase of a plan carried to a site and waits for its results; a site's instance counts
// the approvals imported with the plan.
const airGapVersion = "air-gapped-sites"

// siteResultsLook is how often a campaign waiting for an air-gapped site's results looks at
// the store without a signal: daily, so that a campaign waiting months for a site keeps a
// short history (a handful of events a day).
const siteResultsLook = 24 * time.Hour

// carried is the campaign of a plan carried to an air-gapped site, at the central instance:
// approval here (the site's test bench validates before production there), then the site's
// results.
func (c *campaign) carried() error {
	_, prod := c.split()
	need := fmt.Sprintf("to be carried to air-gapped site %s, whose own instance validates it on the site's test bench before any production asset; needs %d approval(s)",
		c.plan.TransferSite, c.plan.Policy.Approvals)
	if c.plan.Policy.NeedsSafety {
		need += ", one from the safety role"
	}
	if err := c.awaitApproval(need, nil); err != nil {
		return err
	}
	waiting := fmt.Sprintf("approved; export its plan bundle for site %s (otpatch transfer export) and import the site's results: results not returned yet", c.plan.TransferSite)
	if err := c.setStatus(domain.CampaignScheduled, waiting, nil); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(c.ctx, SignalSiteResults)
	var seen uint64
	for {
		// Wake on a signal, an abort, or after a day to look anyway.
		if _, err := workflow.AwaitWithTimeout(c.ctx, siteResultsLook, func() bool { return c.abort != nil || ch.Len() > 0 }); err != nil {
			return err
		}
		for ch.ReceiveAsync(nil) {
		}
		if c.abort != nil {
			return c.endWith(domain.CampaignAborted, fmt.Sprintf("aborted by %s: %s; the plan may already be at site %s, whose instance must be told",
				c.abort.Actor, c.abort.Reason, c.plan.TransferSite), "the campaign was aborted before the site's results returned")
		}
		var res activities.SiteResults
		if err := workflow.ExecuteActivity(bookkeeping(c.ctx), a.ReadSiteResults, c.in.CampaignID).Get(c.ctx, &res); err != nil {
			return err
		}
		if !res.Returned || res.Sequence == seen {
			continue
		}
		seen = res.Sequence
		for _, t := range c.plan.Targets {
			if st, ok := res.Assets[t.AssetID]; ok {
				c.state.Assets[t.AssetID] = st
			}
		}
		if res.Status.Terminal() {
			return c.endWith(res.Status, fmt.Sprintf("at site %s: %s", c.plan.TransferSite, res.Detail),
				"site "+c.plan.TransferSite+" did not start it")
		}
		done := 0
		for _, t := range prod {
			if c.state.Assets[t.AssetID].Final() {
				done++
			}
		}
		if err := c.setStatus(domain.CampaignDeploying, fmt.Sprintf("site %s reported %s (%s); %d of %d production assets ended; the next results are awaited",
			c.plan.TransferSite, res.Status, strings.TrimSpace(res.Detail), done, len(prod)), nil); err != nil {
			return err
		}
	}
}
