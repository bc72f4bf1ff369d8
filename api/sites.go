package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/sitewatch"
	"github.com/otpatch/otpatch/internal/store"
)

// Sites: where their device work runs and, for sites with a site worker, the workers polling
// the site's task queue (internal/sitewatch). Lists read the recorded presence; showing one
// site asks Temporal first.

// siteView is a site as the API answers it.
type siteView struct {
	store.Site
	TaskQueue string `json:"task_queue,omitempty" doc:"With device_work site_worker: the Temporal task queue the site's workers poll (otpatch worker --site ID)"`
	// Workers is a list for every site, empty for central ones.
	Workers      []siteWorkerView `json:"workers" doc:"With device_work site_worker: the processes known to have polled the site's task queue in the last week, most recent poll first (at most 100); empty for central device work"`
	WorkerStatus string           `json:"worker_status,omitempty" doc:"With device_work site_worker, in one line: \"2 workers polling\", \"no worker polling since 2026-12-06 15:40 UTC\" or \"no worker has polled yet\"; \" (1 misconfigured)\" is added when a polling worker's identity is not a site worker's of this site"`
}

// siteWorkerView is a poller of a site's task queue.
type siteWorkerView struct {
	Identity    string    `json:"identity" doc:"Its Temporal identity: otpatch-site-worker site=SITE version=V host=H pid=P for otpatch worker --site"`
	Version     string    `json:"version" doc:"The otpatch version its identity names; empty when it names none"`
	Host        string    `json:"host" doc:"The host its identity names; empty when it names none"`
	FirstSeenAt time.Time `json:"first_seen_at" doc:"When otpatch first saw it poll"`
	LastPollAt  time.Time `json:"last_poll_at" doc:"Its last poll of the site's task queue, as Temporal reports it"`
	Polling     bool      `json:"polling" doc:"Its last poll is at most 2 minutes old. Temporal goes on listing a poller for minutes after it stopped; a worker that polls renews its poll at least every minute"`
	Problem     string    `json:"problem,omitempty" doc:"What is wrong with its identity: not a site worker's, or naming another site. It takes this site's device work all the same"`
}

// campaignSiteView is a site of a campaign's assets whose device work runs on a site worker.
type campaignSiteView struct {
	SiteID           string            `json:"site_id"`
	Name             string            `json:"name"`
	DeviceWork       domain.DeviceWork `json:"device_work"`
	UnreachableAfter int               `json:"unreachable_after_seconds" doc:"How long the site's device work waits for a worker before the asset ends site_unreachable"`
	TaskQueue        string            `json:"task_queue"`
	WorkerStatus     string            `json:"worker_status" doc:"As GET /api/v1/sites/{siteID} says it, from the presence last recorded"`
	WorkersPolling   int               `json:"workers_polling" doc:"How many of its workers polled in the last 2 minutes"`
	LastPollAt       *time.Time        `json:"last_poll_at" doc:"The last poll of any of its workers; null when none has polled"`
}

// siteOf shapes a site with its workers' presence.
func siteOf(site store.Site, p sitewatch.Status) siteView {
	v := siteView{Site: site, Workers: []siteWorkerView{}}
	if site.DeviceWork != domain.DeviceWorkSiteWorker {
		return v
	}
	v.TaskQueue, v.WorkerStatus = p.TaskQueue, p.Line
	for _, w := range p.Workers {
		v.Workers = append(v.Workers, siteWorkerView{Identity: w.Identity, Version: w.Version, Host: w.Host,
			FirstSeenAt: w.FirstSeenAt, LastPollAt: w.LastPollAt, Polling: w.Polling, Problem: w.Problem})
	}
	return v
}

// writeLiveSite answers a site with its workers' presence as Temporal describes it now
// (recorded as the watcher does), or as last recorded when Temporal does not answer.
func (s *server) writeLiveSite(w http.ResponseWriter, r *http.Request, site store.Site) {
	var tc sitewatch.Describer
	if s.Temporal != nil {
		tc = s.Temporal
	}
	p, err := sitewatch.Presence(r.Context(), s.Store, tc, s.Logger, site)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, siteOf(site, p))
}

// listSites answers a page of sites with their workers' presence as last recorded (no
// question to Temporal), the workers of the page's sites read in one query.
func (s *server) listSites(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	sites, err := s.Store.Sites(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := inventoryPage(sites, sitePageKey, pr)
	var ids []string
	for _, site := range p.Items {
		if site.DeviceWork == domain.DeviceWorkSiteWorker {
			ids = append(ids, site.ID)
		}
	}
	workers, err := s.Store.WorkersOfSites(r.Context(), ids...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.Store.Now()
	out := page[siteView]{Items: make([]siteView, 0, len(p.Items)), Next: p.Next}
	for _, site := range p.Items {
		out.Items = append(out.Items, siteOf(site, sitewatch.Summarize(site.ID, workers[site.ID], now)))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getSite(w http.ResponseWriter, r *http.Request) {
	site, err := s.Store.Site(r.Context(), chi.URLParam(r, "siteID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeLiveSite(w, r, site)
}

type siteRequest struct {
	Name                    string             `json:"name" api:"required" doc:"Unique, at most 200 characters"`
	DeviceWork              *domain.DeviceWork `json:"device_work,omitempty" doc:"central (the default), site_worker or air_gapped"`
	UnreachableAfterSeconds *int               `json:"unreachable_after_seconds,omitempty" doc:"60 to 2592000 (30 days); 3600 when left out"`
}

func (s *server) createSite(w http.ResponseWriter, r *http.Request) {
	var in siteRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	sv := &domain.ValidationError{What: "site"}
	sv.Text("name", in.Name, 200)
	store.SiteChange{DeviceWork: in.DeviceWork, UnreachableAfter: in.UnreachableAfterSeconds}.Check(sv)
	if err := sv.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	site := store.Site{Name: in.Name, DeviceWork: domain.DeviceWorkCentral, UnreachableAfter: store.DefaultUnreachableAfter}
	if in.DeviceWork != nil {
		site.DeviceWork = *in.DeviceWork
	}
	if in.UnreachableAfterSeconds != nil {
		site.UnreachableAfter = *in.UnreachableAfterSeconds
	}
	ev := event(r, "site.created")
	ev.Details = in
	if err := s.Store.CreateSite(r.Context(), &site, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "sites", site.ID)
	writeJSON(w, http.StatusCreated, siteOf(site, sitewatch.Summarize(site.ID, nil, s.Store.Now()))) // no worker has polled a new site
}

// siteChangeRequest changes a site's settings; a field left out stays as it is.
type siteChangeRequest struct {
	DeviceWork              *domain.DeviceWork `json:"device_work,omitempty" doc:"central, site_worker or air_gapped"`
	UnreachableAfterSeconds *int               `json:"unreachable_after_seconds,omitempty" doc:"60 to 2592000 (30 days)"`
	TransferKey             *string            `json:"transfer_key,omitempty" doc:"An air-gapped site instance's transfer public key, as its GET /api/v1/transfers/key shows it (public_key or pem), pinned for the bundles it sends; \"\" unpins it"`
}

func (s *server) changeSite(w http.ResponseWriter, r *http.Request) {
	var in siteChangeRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.DeviceWork == nil && in.UnreachableAfterSeconds == nil && in.TransferKey == nil {
		s.fail(w, r, invalidBody("body", "changes nothing; give device_work, unreachable_after_seconds or transfer_key"))
		return
	}
	site, err := s.Store.UpdateSite(r.Context(), chi.URLParam(r, "siteID"),
		store.SiteChange{DeviceWork: in.DeviceWork, UnreachableAfter: in.UnreachableAfterSeconds, TransferKey: in.TransferKey}, event(r, "site.changed"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeLiveSite(w, r, site)
}

// campaignSites are the sites of a campaign's assets whose device work runs on a site worker,
// by name, with their workers' presence as last recorded.
func (s *server) campaignSites(ctx context.Context, campaignID string) ([]campaignSiteView, error) {
	sites, err := s.Store.CampaignSiteWorkers(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	now := s.Store.Now()
	out := make([]campaignSiteView, 0, len(sites))
	for _, site := range sites {
		p := sitewatch.Summarize(site.ID, site.Workers, now)
		v := campaignSiteView{SiteID: site.ID, Name: site.Name, DeviceWork: site.DeviceWork, UnreachableAfter: site.UnreachableAfter,
			TaskQueue: p.TaskQueue, WorkerStatus: p.Line, WorkersPolling: p.Polling}
		if !p.LastPollAt.IsZero() {
			v.LastPollAt = &p.LastPollAt
		}
		out = append(out, v)
	}
	return out, nil
}
