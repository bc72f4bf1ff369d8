package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/feeds"
	"github.com/otpatch/otpatch/internal/store"
)

// CSAF feeds (CSAF 2.0 §7): engineers name a provider (its domain or provider-metadata.json
// URL); a Temporal Schedule syncs it every interval (internal/engine, workflows.FeedSync);
// staff see what each sync ingested and refused, and why. An air-gapped site uploads a copy
// of the provider's tree instead.

// Bounds of a feed request.
const (
	maxFeedURL          = 2000
	maxFeedCA           = 64 << 10
	maxFeedFingerprints = 16
	// feedDocumentsShown bounds the documents and the refusals one feed shows.
	feedDocumentsShown = 50
)

// feedRequest names a provider to follow.
type feedRequest struct {
	URL             string   `json:"url" doc:"The provider's domain (its provider-metadata.json is then read from https://DOMAIN/.well-known/csaf/provider-metadata.json) or the HTTPS URL of its provider-metadata.json"`
	IntervalMinutes *int     `json:"interval_minutes,omitempty" doc:"How often the feed is synced, 15 to 10080 minutes (7 days); default 1440 (daily)"`
	CAPEM           string   `json:"ca_pem,omitempty" doc:"An extra CA certificate (PEM) that may sign the provider's HTTPS certificate besides the system's trust roots: a plant's own provider mirror"`
	Fingerprints    []string `json:"fingerprints,omitempty" doc:"The OpenPGP key fingerprints to trust (40 to 64 hex digits, at most 16); left out, every key the provider metadata lists is trusted once it matches the fingerprint listed with it"`
}

// feedView is a feed as the API shows it.
type feedView struct {
	ID              string            `json:"id"`
	URL             string            `json:"url" doc:"The provider-metadata.json URL"`
	Publisher       string            `json:"publisher" doc:"The publisher the provider metadata names (after the first sync)"`
	IntervalMinutes int               `json:"interval_minutes" doc:"How often the schedule syncs it; 0 for a feed only synced offline"`
	ExtraCA         bool              `json:"extra_ca" doc:"Whether an extra CA may sign the provider's certificate"`
	Fingerprints    []string          `json:"fingerprints" doc:"The key fingerprints pinned when the feed was created; empty: the provider metadata's keys"`
	TrustedKeys     []string          `json:"trusted_keys" doc:"The fingerprints of the provider keys the last sync verified and trusted"`
	LastSyncAt      *time.Time        `json:"last_sync_at"`
	LastResult      domain.FeedResult `json:"last_result,omitempty" doc:"How the last sync ended; absent before the first"`
	LastError       string            `json:"last_error,omitempty" doc:"Why the last sync failed"`
	Ingested        int               `json:"ingested" doc:"Documents of the feed whose last fetch was ingested"`
	Unchanged       int               `json:"unchanged" doc:"Documents whose last fetch was a revision already stored"`
	Refused         int               `json:"refused" doc:"Documents whose last fetch was refused"`
	CreatedBy       string            `json:"created_by"`
	CreatedAt       time.Time         `json:"created_at"`
	// Shown for one feed, not in the list.
	ScheduleMinutes *int                 `json:"schedule_minutes,omitempty" doc:"The interval of the feed's Temporal Schedule as Temporal has it; absent when it has none (an offline feed)"`
	Documents       []store.FeedDocument `json:"documents,omitempty" doc:"The documents most recently fetched (at most 50), newest first"`
	Refusals        []store.FeedDocument `json:"refusals,omitempty" doc:"The documents refused (at most 50), newest first, each with its reason"`
}

func feedOf(f store.Feed) feedView {
	return feedView{ID: f.ID, URL: f.URL, Publisher: f.Publisher, IntervalMinutes: f.IntervalMinutes, ExtraCA: f.CAPEM != "",
		Fingerprints: splitList(f.Fingerprints), TrustedKeys: splitList(f.Trusted), LastSyncAt: f.LastSyncAt, LastResult: f.LastResult,
		LastError: f.LastError, Ingested: f.Ingested, Unchanged: f.Unchanged, Refused: f.Refused, CreatedBy: f.CreatedBy, CreatedAt: f.CreatedAt}
}

func splitList(s string) []string {
	out := []string{}
	for v := range strings.SplitSeq(s, ",") {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// feedSyncView is what one sync did, with the feed after it.
type feedSyncView struct {
	Sync activities.FeedSyncResult `json:"sync"`
	Feed feedView                  `json:"feed"`
}

func (s *server) createFeed(w http.ResponseWriter, r *http.Request) {
	var in feedRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "feed"}
	var metadataURL string
	if v.Text("url", in.URL, maxFeedURL); len(v.Fields) == 0 {
		var err error
		if metadataURL, err = feeds.MetadataURL(in.URL); err != nil {
			v.Add("url", "%s", err.Error())
		}
	}
	interval := domain.DefaultFeedInterval
	if in.IntervalMinutes != nil {
		interval = *in.IntervalMinutes
		if interval < domain.MinFeedInterval || interval > domain.MaxFeedInterval {
			v.Add("interval_minutes", "must be %d to %d minutes, got %d", domain.MinFeedInterval, domain.MaxFeedInterval, interval)
		}
	}
	switch {
	case len(in.CAPEM) > maxFeedCA:
		v.Add("ca_pem", "is longer than %d bytes", maxFeedCA)
	case in.CAPEM != "":
		if _, err := feeds.NewHTTPS(in.CAPEM); err != nil {
			v.Add("ca_pem", "is not a PEM certificate")
		}
	}
	pinned := checkFingerprints(v, "fingerprints", in.Fingerprints)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	f := store.Feed{URL: metadataURL, CAPEM: in.CAPEM, Fingerprints: strings.Join(pinned, ","), IntervalMinutes: interval, CreatedBy: actorOf(r).Name}
	ev := event(r, "feed.created")
	ev.Details = map[string]any{"url": f.URL, "given": in.URL, "interval_minutes": interval, "extra_ca": in.CAPEM != "", "fingerprints": pinned}
	if err := s.Store.CreateFeed(r.Context(), &f, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.engine.ScheduleFeed(r.Context(), f.ID, time.Duration(interval)*time.Minute); err != nil {
		// Without its schedule the feed would never sync: take it back.
		ev := event(r, "feed.deleted")
		ev.Details = map[string]any{"reason": "its schedule could not be created: " + err.Error()}
		if derr := s.Store.DeleteFeed(context.WithoutCancel(r.Context()), f.ID, ev); derr != nil {
			s.Logger.Error("feed left without schedule", "feed", f.ID, "err", derr)
		}
		s.internal(w, r, fmt.Errorf("schedule of feed %s: %w", f.ID, err))
		return
	}
	locateCreated(w, "feeds", f.ID)
	writeJSON(w, http.StatusCreated, feedOf(f))
}

// checkFingerprints normalizes a list of OpenPGP fingerprints, naming each that is not one.
func checkFingerprints(v *domain.ValidationError, field string, fps []string) []string {
	if len(fps) > maxFeedFingerprints {
		v.Add(field, "lists %d fingerprints, at most %d", len(fps), maxFeedFingerprints)
		return nil
	}
	var out []string
	for i, fp := range fps {
		n := feeds.NormalizeFingerprint(fp)
		if n == "" {
			v.Add(fmt.Sprintf("%s[%d]", field, i), "is not an OpenPGP fingerprint (40 to 64 hex digits)")
			continue
		}
		out = append(out, n)
	}
	return out
}

func (s *server) listFeeds(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	afterAt, afterID := newestFirstAfter(pr, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	fs, err := s.Store.FeedsPage(r.Context(), afterAt, afterID, pr.Limit+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := pageFrom(fs, func(f store.Feed) string { return newestFirstKey(f.CreatedAt, f.ID) }, pr.Limit)
	out := page[feedView]{Items: make([]feedView, 0, len(pg.Items)), Next: pg.Next}
	for _, f := range pg.Items {
		out.Items = append(out.Items, feedOf(f))
	}
	writeJSON(w, http.StatusOK, out)
}

// feedDetail is the feed with its schedule, last documents and refusals.
func (s *server) feedDetail(ctx context.Context, f store.Feed) (feedView, error) {
	view := feedOf(f)
	var err error
	if view.Documents, err = s.Store.RecentFeedDocuments(ctx, f.ID, "", feedDocumentsShown); err != nil {
		return view, err
	}
	if view.Refusals, err = s.Store.RecentFeedDocuments(ctx, f.ID, domain.FeedRefused, feedDocumentsShown); err != nil {
		return view, err
	}
	if f.IntervalMinutes > 0 {
		every, ok, err := s.engine.FeedSchedule(ctx, f.ID)
		if err != nil {
			return view, err
		}
		if ok {
			m := int(every / time.Minute)
			view.ScheduleMinutes = &m
		}
	}
	return view, nil
}

// loadFeed reads the feed of the route, answering 404 when there is none.
func (s *server) loadFeed(w http.ResponseWriter, r *http.Request) (store.Feed, bool) {
	id := chi.URLParam(r, "feedID")
	f, err := s.Store.Feed(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "feed "+id)
		return f, false
	}
	if err != nil {
		s.fail(w, r, err)
		return f, false
	}
	return f, true
}

func (s *server) getFeed(w http.ResponseWriter, r *http.Request) {
	f, ok := s.loadFeed(w, r)
	if !ok {
		return
	}
	view, err := s.feedDetail(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// syncFeed runs a sync now (the feed's FeedSync workflow) and answers what it did.
func (s *server) syncFeed(w http.ResponseWriter, r *http.Request) {
	f, ok := s.loadFeed(w, r)
	if !ok {
		return
	}
	if f.IntervalMinutes == 0 {
		s.fail(w, r, fmt.Errorf("feed %s is synced offline only (otpatch csaf sync --dir): %w", f.ID, store.ErrConflict))
		return
	}
	ev := event(r, "feed.sync_requested")
	ev.SubjectType, ev.SubjectID = "feed", f.ID
	if _, err := s.Store.Append(r.Context(), ev); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.engine.SyncFeed(r.Context(), f.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerSync(w, r, f.ID, res)
}

func (s *server) answerSync(w http.ResponseWriter, r *http.Request, feedID string, res activities.FeedSyncResult) {
	f, err := s.Store.Feed(r.Context(), feedID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view, err := s.feedDetail(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, feedSyncView{Sync: res, Feed: view})
}

// feedChange changes a feed's interval.
type feedChange struct {
	IntervalMinutes int `json:"interval_minutes" doc:"How often the feed is synced, 15 to 10080 minutes (7 days)"`
}

// changeFeed changes how often a feed is synced: its schedule first, then the feed.
func (s *server) changeFeed(w http.ResponseWriter, r *http.Request) {
	f, ok := s.loadFeed(w, r)
	if !ok {
		return
	}
	var in feedChange
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.IntervalMinutes < domain.MinFeedInterval || in.IntervalMinutes > domain.MaxFeedInterval {
		s.fail(w, r, invalidBody("interval_minutes", fmt.Sprintf("must be %d to %d minutes, got %d", domain.MinFeedInterval, domain.MaxFeedInterval, in.IntervalMinutes)))
		return
	}
	if f.IntervalMinutes == 0 {
		s.fail(w, r, fmt.Errorf("feed %s is synced offline only and has no schedule: %w", f.ID, store.ErrConflict))
		return
	}
	if err := s.engine.ScheduleFeed(r.Context(), f.ID, time.Duration(in.IntervalMinutes)*time.Minute); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "feed.changed")
	ev.Details = map[string]any{"interval_minutes": in.IntervalMinutes, "previous_interval_minutes": f.IntervalMinutes}
	f, err := s.Store.SetFeedInterval(r.Context(), f.ID, in.IntervalMinutes, ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view, err := s.feedDetail(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *server) deleteFeed(w http.ResponseWriter, r *http.Request) {
	f, ok := s.loadFeed(w, r)
	if !ok {
		return
	}
	if err := s.engine.UnscheduleFeed(r.Context(), f.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "feed.deleted")
	ev.Details = map[string]any{"url": f.URL}
	if err := s.Store.DeleteFeed(r.Context(), f.ID, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// syncOffline syncs a copy of a provider's tree carried to an air-gapped site, uploaded as a
// tar archive: the same checks as online, trusting only keys whose fingerprint the request
// gives or an earlier sync of the same provider verified. The feed of the tree's provider is
// the one synced; there is none yet, one is made without schedule.
func (s *server) syncOffline(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	var given []string
	for _, fp := range r.URL.Query()["fingerprint"] {
		given = append(given, strings.Split(fp, ",")...)
	}
	accept := checkFingerprints(v, "fingerprint", given)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	dir, err := os.MkdirTemp("", "otpatch-feed-tree-*")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer os.RemoveAll(dir)
	if err := feeds.ExtractTree(http.MaxBytesReader(w, r.Body, feeds.MaxTreeBytes+(64<<20)), dir); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, &tooLargeError{what: "provider tree", limit: mbe.Limit})
			return
		}
		s.fail(w, r, invalidBody("body", err.Error()+"; nothing was synced"))
		return
	}
	tree, err := feeds.OpenTree(os.DirFS(dir))
	if err != nil {
		s.fail(w, r, invalidBody("body", err.Error()+"; nothing was synced"))
		return
	}
	ctx := r.Context()
	f, err := s.Store.FeedByURL(ctx, tree.MetadataURL)
	if errors.Is(err, store.ErrNotFound) {
		f = store.Feed{URL: tree.MetadataURL, Fingerprints: strings.Join(accept, ","), CreatedBy: actorOf(r).Name}
		ev := event(r, "feed.created")
		ev.Details = map[string]any{"url": f.URL, "offline": true, "fingerprints": accept}
		err = s.Store.CreateFeed(ctx, &f, ev)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	accept = append(accept, splitList(f.Trusted)...)
	rep, err := (&feeds.Sync{Store: s.Store, Fetcher: tree, Feed: f, Accept: accept, Offline: true, Event: event(r, "feed.synced")}).Run(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerSync(w, r, f.ID, activities.ResultOf(rep))
}

// feedOperations are the routes of feeds.go.
func (s *server) feedOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/feeds", ID: "createFeed", Tag: "Advisories", Allow: engineers,
			Summary: "Follow a CSAF provider's feed",
			Description: "Names a CSAF 2.0 provider by its domain or its provider-metadata.json URL (HTTPS only). A Temporal Schedule then syncs it every interval: " +
				"what changed in its ROLIE feeds and directory distributions is fetched, each advisory's hash file and OpenPGP signature checked against the provider's keys, and what verifies is ingested as POST /api/v1/advisories does. " +
				"A feed of the same provider-metadata URL answers 409.",
			Body: feedRequest{}, Answers: []answer{created(feedView{})}, Handle: s.createFeed},
		{Method: "GET", Path: "/api/v1/feeds", ID: "listFeeds", Tag: "Advisories", Allow: staff,
			Summary:     "List the CSAF feeds with their last sync",
			Description: "Newest first, with how each one's last sync ended and how many of its documents were ingested, unchanged and refused.",
			Query:       paged(), Answers: []answer{ok(page[feedView]{})}, Handle: s.listFeeds},
		{Method: "POST", Path: "/api/v1/feeds/offline", ID: "syncFeedOffline", Tag: "Advisories", Allow: engineers,
			Summary: "Sync a copy of a provider's tree carried to an air-gapped site",
			Description: "The body is a tar archive of the provider's tree (provider-metadata.json at its root or under .well-known/csaf/, with the ROLIE feeds, directories, hashes and signatures below it), as otpatch csaf sync --dir writes it; " +
				"at most 2 GiB and 200,000 files. The same checks as an online sync run; the keys trusted are those the tree's provider metadata lists whose fingerprint the request gives, or an earlier sync of the same provider verified. " +
				"The documents are recorded on the feed of the tree's provider-metadata URL, made (without schedule) when there is none.",
			Query:    []param{qString("fingerprint", "The fingerprint of a provider key to trust (40 to 64 hex digits; several comma separated)")},
			BodyType: "application/x-tar", BodySchema: map[string]any{"type": "string", "format": "binary"},
			Answers: []answer{ok(feedSyncView{})}, Handle: s.syncOffline},
		{Method: "GET", Path: "/api/v1/feeds/{feedID}", ID: "getFeed", Tag: "Advisories", Allow: staff,
			Summary:     "Show a feed with its schedule, last documents and refusals",
			Description: "With the interval of its Temporal Schedule, the documents most recently fetched, and the refused ones with their reasons.",
			Answers:     []answer{ok(feedView{})}, Handle: s.getFeed},
		{Method: "POST", Path: "/api/v1/feeds/{feedID}/sync", ID: "syncFeed", Tag: "Advisories", Allow: engineers,
			Summary:     "Sync a feed now",
			Description: "Runs the feed's sync now and answers what it did; a sync of the feed already running is joined. A provider that cannot be read is a failed sync (result failed, error saying why), not an error of the request.",
			Answers:     []answer{ok(feedSyncView{})}, Handle: s.syncFeed},
		{Method: "PATCH", Path: "/api/v1/feeds/{feedID}", ID: "changeFeed", Tag: "Advisories", Allow: engineers,
			Summary:     "Change how often a feed is synced",
			Description: "Changes the interval of the feed's Temporal Schedule and of the feed. A feed synced offline only has no schedule (409).",
			Body:        feedChange{}, Answers: []answer{ok(feedView{})}, Handle: s.changeFeed},
		{Method: "DELETE", Path: "/api/v1/feeds/{feedID}", ID: "deleteFeed", Tag: "Advisories", Allow: engineers,
			Summary:     "Stop following a feed",
			Description: "Deletes the feed's schedule and what its syncs saw; the advisories it ingested stay.",
			Answers:     []answer{noContent}, Handle: s.deleteFeed},
	}
}
