// Package sitewatch keeps track of site workers: which processes poll each site's Temporal
// task queue (domain.SiteTaskQueue), from what the Temporal frontend says of the queue's
// pollers, recorded in the store (a worker's appearance and its going away are audit events),
// and says in one line whether a site's device work has a worker to run it.
package sitewatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Describer is what the watcher asks Temporal: the pollers of a task queue.
type Describer interface {
	DescribeTaskQueue(ctx context.Context, taskQueue string, taskQueueType enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error)
}

var _ Describer = client.Client(nil)

// DefaultEvery is how often Watch looks at the sites' task queues.
const DefaultEvery = 15 * time.Second

// describeTimeout bounds one question to Temporal.
const describeTimeout = 5 * time.Second

// Watch records, every `every` (DefaultEvery when zero or less), the pollers of the task queue
// of each site whose device work runs on a site worker, until ctx ends; the channel it
// returns is closed then. A poller whose identity is not a site worker's, or names another
// site, is logged as a misconfiguration when it appears.
func Watch(ctx context.Context, st *store.Store, tc Describer, log *slog.Logger, every time.Duration) <-chan struct{} {
	if every <= 0 {
		every = DefaultEvery
	}
	if log == nil {
		log = slog.Default()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			watchOnce(ctx, st, tc, log)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return done
}

func watchOnce(ctx context.Context, st *store.Store, tc Describer, log *slog.Logger) {
	sites, err := st.SitesWithSiteWorkers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("site workers: listing the sites with site workers failed", "err", err)
		}
		return
	}
	for _, s := range sites {
		if ctx.Err() != nil {
			return
		}
		if _, err := Refresh(ctx, st, tc, log, s); err != nil && ctx.Err() == nil {
			log.Warn("site workers: the presence of the site's workers was not brought up to date", "site", s.ID, "site_name", s.Name, "err", err)
		}
	}
}

// Refresh asks Temporal for the pollers of the site's task queue and records them (see
// store.RecordSiteWorkers). Misconfigured pollers that appear are logged as warnings.
func Refresh(ctx context.Context, st *store.Store, tc Describer, log *slog.Logger, site store.Site) (store.SiteWorkerChanges, error) {
	if log == nil {
		log = slog.Default()
	}
	queue := domain.SiteTaskQueue(site.ID)
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	resp, err := tc.DescribeTaskQueue(dctx, queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
	if err != nil {
		return store.SiteWorkerChanges{}, &describeError{queue: queue, err: err}
	}
	var seen []store.SiteWorkerSeen
	for _, p := range resp.GetPollers() {
		if p.GetIdentity() == "" || p.GetLastAccessTime() == nil {
			continue
		}
		w, _ := domain.ParseSiteWorker(p.GetIdentity())
		seen = append(seen, store.SiteWorkerSeen{Identity: p.GetIdentity(), Version: w.Version, Host: w.Host, LastPollAt: p.GetLastAccessTime().AsTime()})
	}
	// What was written is logged even when recording stopped half-way.
	ch, err := st.RecordSiteWorkers(ctx, site.ID, seen)
	for _, id := range ch.Seen {
		if problem := identityProblem(site.ID, id); problem != "" {
			log.Warn("site workers: a poller of the site's task queue is misconfigured; it takes the site's device work", "site", site.ID,
				"site_name", site.Name, "task_queue", queue, "identity", id, "problem", problem)
		} else {
			log.Info("site workers: a worker polls the site's task queue", "site", site.ID, "site_name", site.Name, "identity", id)
		}
	}
	for _, id := range ch.Lost {
		log.Warn("site workers: a worker stopped polling the site's task queue", "site", site.ID, "site_name", site.Name, "identity", id)
	}
	return ch, err
}

// describeError is Temporal not answering what polls a queue.
type describeError struct {
	queue string
	err   error
}

func (e *describeError) Error() string {
	return fmt.Sprintf("Temporal did not describe task queue %s: %v", e.queue, e.err)
}
func (e *describeError) Unwrap() error { return e.err }

// identityProblem says what is wrong with the identity of a poller of site siteID's queue, or
// "" when it is a site worker of that site.
func identityProblem(siteID, identity string) string {
	w, ok := domain.ParseSiteWorker(identity)
	switch {
	case !ok:
		return "its identity is not an otpatch site worker's (otpatch worker --site " + siteID + " names itself)"
	case w.Site != siteID:
		return fmt.Sprintf("it says it is a worker of site %s, yet polls the task queue of site %s", w.Site, siteID)
	}
	return ""
}

// Worker is a site worker as people read it.
type Worker struct {
	store.SiteWorker
	// Polling: its last poll is at most store.PollingWithin old.
	Polling bool
	// Problem says what is wrong with its identity; "" when nothing is.
	Problem string
}

// Status is what is known of a site's workers at a moment.
type Status struct {
	TaskQueue string
	// Workers, most recent poll first.
	Workers []Worker
	// Polling counts the workers polling now.
	Polling int
	// LastPollAt is the last poll of any of its workers; zero when none has polled.
	LastPollAt time.Time
	// Line says it in one line: "2 workers polling", "no worker polling since 2026-12-06 15:40
	// UTC", "no worker has polled yet".
	Line string
}

// Summarize says what the recorded workers of a site mean at now.
func Summarize(siteID string, ws []store.SiteWorker, now time.Time) Status {
	s := Status{TaskQueue: domain.SiteTaskQueue(siteID), Workers: make([]Worker, 0, len(ws))}
	misconfigured := 0
	for _, w := range ws {
		v := Worker{SiteWorker: w, Polling: w.Polling(now), Problem: identityProblem(siteID, w.Identity)}
		if v.Polling {
			s.Polling++
			if v.Problem != "" {
				misconfigured++
			}
		}
		if w.LastPollAt.After(s.LastPollAt) {
			s.LastPollAt = w.LastPollAt
		}
		s.Workers = append(s.Workers, v)
	}
	switch {
	case s.Polling == 1:
		s.Line = "1 worker polling"
	case s.Polling > 1:
		s.Line = fmt.Sprintf("%d workers polling", s.Polling)
	case len(ws) > 0:
		s.Line = "no worker polling since " + s.LastPollAt.UTC().Format("2006-01-02 15:04") + " UTC"
	default:
		s.Line = "no worker has polled yet"
	}
	if misconfigured > 0 {
		s.Line += fmt.Sprintf(" (%d misconfigured)", misconfigured)
	}
	return s
}

// Presence answers what is known of a site's workers now: with tc, Temporal is asked first
// (and what it says recorded, as Watch does); when it does not answer, the recorded presence
// is answered and its line says so. Without tc, or for a site whose device work is central,
// only the records are read.
func Presence(ctx context.Context, st *store.Store, tc Describer, log *slog.Logger, site store.Site) (Status, error) {
	if log == nil {
		log = slog.Default()
	}
	var stale *describeError
	if tc != nil && site.DeviceWork == domain.DeviceWorkSiteWorker {
		if _, err := Refresh(ctx, st, tc, log, site); err != nil && !errors.As(err, &stale) {
			return Status{}, err
		}
	}
	ws, err := st.SiteWorkers(ctx, site.ID)
	if err != nil {
		return Status{}, err
	}
	s := Summarize(site.ID, ws, st.Now())
	if stale != nil {
		if ctx.Err() != nil {
			return Status{}, ctx.Err()
		}
		log.Warn("site workers: answering the recorded presence; Temporal did not answer", "site", site.ID, "err", stale)
		s.Line += " (as last recorded: Temporal did not answer just now)"
	}
	return s, nil
}
