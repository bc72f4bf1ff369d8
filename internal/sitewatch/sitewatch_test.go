package sitewatch_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/sitewatch"
	"github.com/otpatch/otpatch/internal/store"
)

// logBuffer collects log lines written from the watcher's goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds or a minute has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func siteWorkerActions(t *testing.T, st *store.Store, siteID string) []string {
	t.Helper()
	evs, err := st.AuditEvents(context.Background(), store.AuditFilter{Action: "", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.SubjectID == siteID && strings.HasPrefix(e.Action, "site.worker_") {
			out = append(out, e.Action)
		}
	}
	slices.Sort(out)
	return out
}

// TestWatchRealWorkers: two workers poll a site's task queue on a real Temporal server, one
// with a site worker's identity and one whose identity names another site. The watcher
// records both, warns of the misconfigured one, and Presence says "2 workers polling (1
// misconfigured)". Once both stop, and their last polls are older than PollingWithin, both
// are lost, and the line says since when no worker polls.
func TestWatchRealWorkers(t *testing.T) {
	ctx := context.Background()
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	tc := srv.GetDefaultClient()

	// The store's clock is the real one, moved on by skew when the test says so (Temporal's
	// poll times are real).
	var skew atomic.Int64
	st, err := store.Open(filepath.Join(t.TempDir(), "otpatch.db"), store.Options{Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ev := store.Event{Actor: "erin", Role: "engineer", Action: "site.created"}
	site := store.Site{Name: "Plant B", DeviceWork: domain.DeviceWorkSiteWorker}
	if err := st.CreateSite(ctx, &site, ev); err != nil {
		t.Fatal(err)
	}
	central := store.Site{Name: "Plant A"}
	if err := st.CreateSite(ctx, &central, ev); err != nil {
		t.Fatal(err)
	}
	queue := domain.SiteTaskQueue(site.ID)

	good := domain.SiteWorker{Site: site.ID, Version: "1.4.0", Host: "plant-b-gw", PID: 4711}.Identity()
	wrong := domain.SiteWorker{Site: central.ID, Version: "1.3.9", Host: "plant-a-gw", PID: 12}.Identity()
	var workers []worker.Worker
	for _, id := range []string{good, wrong} {
		w := worker.New(tc, queue, worker.Options{Identity: id})
		w.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: "ReadInstalledVersion"})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			stopped = true
			for _, w := range workers {
				w.Stop()
			}
		}
	}
	t.Cleanup(stopWorkers)

	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	wctx, cancel := context.WithCancel(ctx)
	done := sitewatch.Watch(wctx, st, tc, log, 100*time.Millisecond)
	waitFor(t, "the watcher to record both workers polling", func() bool {
		ws, err := st.SiteWorkers(ctx, site.ID)
		return err == nil && len(ws) == 2 && ws[0].Polling(st.Now()) && ws[1].Polling(st.Now())
	})
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the watcher did not stop within a minute of its context ending")
	}
	if got := logs.String(); !strings.Contains(got, "misconfigured") || !strings.Contains(got, "it says it is a worker of site "+central.ID) {
		t.Errorf("the watcher logged no warning of the worker naming another site:\n%s", got)
	}

	p, err := sitewatch.Presence(ctx, st, tc, log, site)
	if err != nil {
		t.Fatal(err)
	}
	if p.Line != "2 workers polling (1 misconfigured)" || p.Polling != 2 || p.TaskQueue != queue || len(p.Workers) != 2 {
		t.Fatalf("Presence = %+v", p)
	}
	for _, w := range p.Workers {
		switch w.Identity {
		case good:
			if w.Problem != "" || w.Version != "1.4.0" || w.Host != "plant-b-gw" || !w.Polling {
				t.Errorf("the site's worker: %+v", w)
			}
		case wrong:
			if !strings.Contains(w.Problem, "it says it is a worker of site "+central.ID) || w.Version != "1.3.9" {
				t.Errorf("the misconfigured worker: %+v", w)
			}
		default:
			t.Errorf("an unknown worker %+v", w)
		}
	}
	if p, err := sitewatch.Presence(ctx, st, tc, log, central); err != nil || p.Line != "no worker has polled yet" || len(p.Workers) != 0 {
		t.Fatalf("a central site's presence: %+v, %v", p, err)
	}

	// Both stop; Temporal lists them for minutes more, with their last polls.
	stopWorkers()
	stoppedAt := time.Now()
	skew.Store(int64(store.PollingWithin + 10*time.Second))
	p, err = sitewatch.Presence(ctx, st, tc, log, site)
	if err != nil {
		t.Fatal(err)
	}
	if p.Polling != 0 || !strings.HasPrefix(p.Line, "no worker polling since ") || strings.Contains(p.Line, "misconfigured") {
		t.Fatalf("after both stopped: %+v", p)
	}
	since, err := time.Parse("2006-01-02 15:04 UTC", strings.TrimPrefix(p.Line, "no worker polling since "))
	if err != nil || since.After(stoppedAt) || stoppedAt.Sub(since) > 2*time.Minute {
		t.Fatalf("the line %q names no time just before the workers stopped (%s): %v", p.Line, stoppedAt.UTC(), err)
	}
	if got, want := siteWorkerActions(t, st, site.ID), []string{"site.worker_lost", "site.worker_lost", "site.worker_seen", "site.worker_seen"}; !slices.Equal(got, want) {
		t.Fatalf("audit events %q, want %q: one per appearance and one per loss", got, want)
	}
	if got := logs.String(); !strings.Contains(got, "a worker stopped polling") {
		t.Errorf("the loss was not logged:\n%s", got)
	}
}

// unanswering is a Temporal that does not answer.
type unanswering struct{}

func (unanswering) DescribeTaskQueue(context.Context, string, enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	return nil, errors.New("connection refused")
}

// TestPresenceWithoutTemporal: when Temporal does not answer, Presence answers what was
// recorded and says so.
func TestPresenceWithoutTemporal(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "otpatch.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	site := store.Site{Name: "Plant B", DeviceWork: domain.DeviceWorkSiteWorker}
	if err := st.CreateSite(ctx, &site, store.Event{Actor: "erin", Role: "engineer", Action: "site.created"}); err != nil {
		t.Fatal(err)
	}
	id := domain.SiteWorker{Site: site.ID, Version: "1.4.0", Host: "gw", PID: 1}.Identity()
	if _, err := st.RecordSiteWorkers(ctx, site.ID, []store.SiteWorkerSeen{{Identity: id, LastPollAt: st.Now()}}); err != nil {
		t.Fatal(err)
	}
	p, err := sitewatch.Presence(ctx, st, unanswering{}, slog.New(slog.DiscardHandler), site)
	if err != nil {
		t.Fatal(err)
	}
	if p.Line != "1 worker polling (as last recorded: Temporal did not answer just now)" {
		t.Fatalf("Presence line %q", p.Line)
	}
}
