package engine_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/teststack"
)

// TestReconcileFeedsSchedulesWhatACrashLeftBehind: a feed stored whose schedule was never
// created (the process stopped in between) gets its schedule, at its interval, when the
// server starts; a feed that has its schedule keeps it as it is, and reconciling again
// schedules nothing.
func TestReconcileFeedsSchedulesWhatACrashLeftBehind(t *testing.T) {
	s := teststack.New(t, teststack.Options{ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)}})
	ctx := context.Background()
	g := &engine.Gateway{Temporal: s.Temporal.GetDefaultClient()}
	ev := store.Event{Actor: "erin-engineer", Role: "engineer"}

	left := store.Feed{URL: "https://left.example/.well-known/csaf/provider-metadata.json", IntervalMinutes: 90}
	if err := s.Store.CreateFeed(ctx, &left, ev); err != nil {
		t.Fatal(err)
	}
	kept := store.Feed{URL: "https://kept.example/.well-known/csaf/provider-metadata.json", IntervalMinutes: 60}
	if err := s.Store.CreateFeed(ctx, &kept, ev); err != nil {
		t.Fatal(err)
	}
	if err := g.ScheduleFeed(ctx, kept.ID, 30*time.Minute); err != nil { // changed since: the schedule is what counts
		t.Fatal(err)
	}

	got, err := g.ReconcileFeeds(ctx, s.Store)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{left.ID}) {
		t.Fatalf("reconcile scheduled %v, want only %s", got, left.ID)
	}
	for _, want := range []struct {
		id    string
		every time.Duration
	}{{left.ID, 90 * time.Minute}, {kept.ID, 30 * time.Minute}} {
		every, ok, err := g.FeedSchedule(ctx, want.id)
		if err != nil || !ok || every != want.every {
			t.Errorf("schedule of %s: every %v, exists %v, %v; want every %v", want.id, every, ok, err, want.every)
		}
	}
	if got, err := g.ReconcileFeeds(ctx, s.Store); err != nil || len(got) != 0 {
		t.Errorf("reconciling again scheduled %v, %v; want nothing", got, err)
	}
	for _, id := range []string{left.ID, kept.ID} {
		if err := g.UnscheduleFeed(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}
