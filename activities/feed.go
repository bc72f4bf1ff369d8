package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/feeds"
	"github.com/otpatch/otpatch/internal/store"
)

// FeedSyncInput names the CSAF feed to sync.
type FeedSyncInput struct {
	FeedID string `json:"feed_id"`
}

// FeedSyncResult is what one sync of a feed did (the documents are on the feed, in the store).
type FeedSyncResult struct {
	FeedID string `json:"feed_id"`
	// Result is ok, refusals or failed (Error says why).
	Result     domain.FeedResult `json:"result"`
	Error      string            `json:"error,omitempty"`
	Considered int               `json:"considered"`
	Skipped    int               `json:"skipped"`
	Ingested   int               `json:"ingested"`
	Unchanged  int               `json:"unchanged"`
	Refused    int               `json:"refused"`
}

// SyncFeed fetches what changed at a CSAF provider since the last sync, checks it and
// ingests what verifies (internal/feeds); it records what it saw on the feed. A provider
// that cannot be read is a failed sync on the feed, not an error; only the store failing is.
func (a *Activities) SyncFeed(ctx context.Context, in FeedSyncInput) (FeedSyncResult, error) {
	f, err := a.Store.Feed(ctx, in.FeedID)
	if errors.Is(err, store.ErrNotFound) {
		return FeedSyncResult{FeedID: in.FeedID, Result: domain.FeedSyncFailed, Error: "the feed was deleted"}, nil
	}
	if err != nil {
		return FeedSyncResult{}, err
	}
	ev := system("feed.synced")
	if activity.IsActivity(ctx) {
		ev.WorkflowID = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	res := FeedSyncResult{FeedID: f.ID}
	h, err := feeds.NewHTTPS(f.CAPEM)
	if err != nil { // a stored CA was checked when the feed was created
		res.Result, res.Error = feeds.ResultFailed, err.Error()
		return res, nil
	}
	rep, err := (&feeds.Sync{Store: a.Store, Fetcher: h, Feed: f, Event: ev}).Run(ctx)
	if err != nil {
		return res, err
	}
	a.logger().Info("feed synced", "feed", f.ID, "result", rep.Result, "ingested", rep.Ingested, "refused", rep.Refused, "skipped", rep.Skipped)
	return ResultOf(rep), nil
}

// ResultOf is the summary of a sync report.
func ResultOf(rep feeds.Report) FeedSyncResult {
	return FeedSyncResult{FeedID: rep.FeedID, Result: rep.Result, Error: rep.Error, Considered: rep.Considered, Skipped: rep.Skipped,
		Ingested: rep.Ingested, Unchanged: rep.Unchanged, Refused: rep.Refused}
}
