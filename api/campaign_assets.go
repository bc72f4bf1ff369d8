package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// A campaign of any size is read the same way: its answer counts the assets by wave and state
// and holds the first page of them; GET /api/v1/campaigns/{campaignID}/assets pages through the
// rest in the order the campaign runs them (wave, then asset id; the test-bench runs are wave 0).

// campaignFirstItems is how many entries of each of a campaign's long lists (its assets, the
// plan's targets, the review's targets and wave members) the campaign's own answer holds.
const campaignFirstItems = defaultPageLimit

// campaignAssetView is one of a campaign's assets with its name in the inventory.
type campaignAssetView struct {
	store.CampaignAsset
	Name string `json:"name"`
}

// campaignAssetCounts counts a campaign's assets by state, in all and wave by wave.
type campaignAssetCounts struct {
	Total   int                 `json:"total" doc:"How many assets the campaign has, its test-bench runs included"`
	ByState map[string]int      `json:"by_state" doc:"How many are in each asset state (the states of GET /api/v1/states); a state none is in is left out"`
	Waves   []campaignWaveCount `json:"waves" doc:"The same for each wave, in the order they run"`
}

// campaignWaveCount counts one wave's assets.
type campaignWaveCount struct {
	Wave    int            `json:"wave" doc:"0: the test-bench runs; 1 and on: the production waves in the order they run"`
	Total   int            `json:"total"`
	ByState map[string]int `json:"by_state"`
}

// campaignReads are what the requests for campaigns share: the summaries of the plans, and
// the reading of a campaign's answer, done once for the requests that wait for it. A nil
// *campaignReads shares nothing.
type campaignReads struct {
	plans *planSummaries
	views *sharedReads[campaignView]
}

func newCampaignReads() *campaignReads {
	return &campaignReads{plans: newPlanSummaries(planSummaryBudget), views: newSharedReads[campaignView]()}
}

// summaries are the plans' summaries kept (nil: none).
func (cr *campaignReads) summaries() *planSummaries {
	if cr == nil {
		return nil
	}
	return cr.plans
}

// countAssets counts a campaign's assets by wave and state in one grouped query.
func (s *server) countAssets(ctx context.Context, campaignID string) (campaignAssetCounts, error) {
	rows, err := s.Store.CampaignAssetCounts(ctx, campaignID)
	out := campaignAssetCounts{ByState: map[string]int{}, Waves: []campaignWaveCount{}}
	for _, row := range rows {
		out.Total += row.N
		out.ByState[row.State] += row.N
		if n := len(out.Waves); n == 0 || out.Waves[n-1].Wave != row.Wave {
			out.Waves = append(out.Waves, campaignWaveCount{Wave: row.Wave, ByState: map[string]int{}})
		}
		w := &out.Waves[len(out.Waves)-1]
		w.Total += row.N
		w.ByState[row.State] += row.N
	}
	return out, err
}

// sharedReads runs one read for all the requests that want the same key at about the same
// time, and stays as fresh as a read of each request's own: a request that arrives while its
// key is read waits for the next read, which starts when that one ends and answers every
// request that arrived meanwhile. A campaign watched from many screens is read once per round,
// not once per screen, and no screen gets an answer read before it asked. A read is given at
// most sharedReadTimeout, so a round always ends.
type sharedReads[T any] struct {
	mu   sync.Mutex
	keys map[string]*readKey[T]
}

// readKey is the read of one key that runs, and the round that waits for it to end.
type readKey[T any] struct {
	next *readRound[T]
}

// readRound is one read and the requests it answers (members); its first request runs it once
// start is closed.
type readRound[T any] struct {
	start, done chan struct{}
	members     int
	val         T
	err         error
}

// sharedReadTimeout bounds one shared read: it runs on after the request that runs it is gone,
// for the others that wait.
const sharedReadTimeout = 30 * time.Second

func newSharedReads[T any]() *sharedReads[T] {
	return &sharedReads[T]{keys: map[string]*readKey[T]{}}
}

// do answers with a read of key by read that began after this call.
func (sr *sharedReads[T]) do(ctx context.Context, key string, read func(context.Context) (T, error)) (T, error) {
	sr.mu.Lock()
	k, running := sr.keys[key]
	if !running {
		k = &readKey[T]{}
		sr.keys[key] = k
		r := &readRound[T]{done: make(chan struct{})}
		sr.mu.Unlock()
		sr.run(ctx, key, k, r, read)
		return r.val, r.err
	}
	if k.next == nil {
		// This request leads the next round: it runs the read once the current one ends, for
		// itself and for those that join the round until then, even if it is cancelled.
		r := &readRound[T]{start: make(chan struct{}), done: make(chan struct{}), members: 1}
		k.next = r
		sr.mu.Unlock()
		<-r.start
		sr.run(ctx, key, k, r, read)
		return r.val, r.err
	}
	r := k.next
	r.members++
	sr.mu.Unlock()
	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// run reads for round r, then starts the round that waits, if any.
func (sr *sharedReads[T]) run(ctx context.Context, key string, k *readKey[T], r *readRound[T], read func(context.Context) (T, error)) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedReadTimeout)
	r.val, r.err = read(rctx)
	cancel()
	sr.mu.Lock()
	if next := k.next; next != nil {
		k.next = nil
		close(next.start)
	} else {
		delete(sr.keys, key)
	}
	sr.mu.Unlock()
	close(r.done)
}

// campaignAssetKey is the cursor key of a campaign's asset: its wave and asset id.
func campaignAssetKey(a campaignAssetView) string {
	return cursorKey(strconv.Itoa(a.Wave), a.AssetID)
}

// campaignAssetAfter reads a key made by campaignAssetKey back from the page request; a cursor
// of another list is a fault of ?after.
func campaignAssetAfter(pr pageRequest, v *domain.ValidationError) (int, string) {
	if pr.After == "" {
		return 0, ""
	}
	if parts, ok := splitCursor(pr.After, 2); ok {
		if wave, err := strconv.Atoi(parts[0]); err == nil && wave >= 0 && parts[1] != "" {
			return wave, parts[1]
		}
	}
	v.Add("after", "is not a cursor of a campaign's assets; pass the next of the previous page (or the campaign's assets_next) as it was, or leave after out for the first page")
	return 0, ""
}

// campaignAssetsPage reads one page of a campaign's assets with their names.
func (s *server) campaignAssetsPage(ctx context.Context, f store.CampaignAssetFilter, limit int) (page[campaignAssetView], error) {
	f.Limit = limit + 1
	rows, err := s.Store.CampaignAssetsPage(ctx, f)
	if err != nil {
		return page[campaignAssetView]{}, err
	}
	views := make([]campaignAssetView, len(rows))
	for i, row := range rows {
		views[i] = campaignAssetView{CampaignAsset: row.CampaignAsset, Name: row.Name}
	}
	return pageFrom(views, campaignAssetKey, limit), nil
}

// listCampaignAssets answers a page of a campaign's assets, in the order the campaign runs them.
func (s *server) listCampaignAssets(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.CampaignHead(r.Context(), chi.URLParam(r, "campaignID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	f := store.CampaignAssetFilter{CampaignID: c.ID, State: r.URL.Query().Get("state")}
	oneOfStates(v, "state", f.State, domain.AssetStateInfo())
	f.AfterWave, f.AfterAssetID = campaignAssetAfter(pr, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	pg, err := s.campaignAssetsPage(r.Context(), f, pr.Limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pg)
}

// campaignAssetOperations are the routes of campaign_assets.go and of the plan's pages
// (review.go), sharing reads with the campaign's answer.
func (s *server) campaignAssetOperations(reads *campaignReads) []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/campaigns/{campaignID}/assets", ID: "listCampaignAssets", Tag: "Campaigns", Allow: staff,
			Summary: "List a campaign's assets with their progress, in the order the campaign runs them",
			Description: "Wave by wave, then by asset id; the test-bench runs are wave 0. The campaign's own answer holds the first page (assets) and the cursor of the next (assets_next), " +
				"and counts the assets by state and wave (asset_counts). An unknown state or a cursor of another list is refused (422).",
			Query:   paged(qEnum("state", "Only the assets in this state", stateNames(domain.AssetStateInfo())...)),
			Answers: []answer{ok(page[campaignAssetView]{})}, Handle: s.listCampaignAssets},
		{Method: "GET", Path: "/api/v1/campaigns/{campaignID}/plan", ID: "getCampaignPlan", Tag: "Campaigns", Allow: staff,
			Summary: "Read a campaign's whole plan, as approvers approve it",
			Description: "Every target with its zone, window and from-version, the bench runs, the waves, acceptances and waivers: the plan whose digest is the campaign's plan_digest. " +
				"The campaign's own answer holds the plan with its long lists cut to their first 100 entries when they are longer (plan_counts says so); this is the whole of it.",
			Answers: []answer{ok(domain.Plan{})}, Handle: s.getCampaignPlan},
		{Method: "GET", Path: "/api/v1/campaigns/{campaignID}/review/targets", ID: "listReviewTargets", Tag: "Campaigns", Allow: staff,
			Summary: "List the targets of a campaign's plan as approvers read them, in wave order",
			Description: "The review's targets (name, zone, SL-T, from-version, the vendor's compatibility, the bench run that covers it, wave) a page at a time; " +
				"the campaign's review holds the first page and targets_next. A cursor belongs to one plan: after the plan changed it is refused (422), and approvals of the earlier plan no longer count. " +
				"A campaign whose plan was made before plans carried a review has none (404); its plan is read whole.",
			Query:   pageQuery,
			Answers: []answer{ok(page[reviewTarget]{})}, Handle: s.listReviewTargets(reads.summaries())},
	}
}
