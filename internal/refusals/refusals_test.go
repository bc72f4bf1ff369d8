package refusals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/store"
)

// clockAt is a clock that reads t0 until the test sets it.
func clockAt(t0 time.Time) (now func() time.Time, set func(time.Time)) {
	var ns atomic.Int64
	ns.Store(t0.UnixNano())
	return func() time.Time { return time.Unix(0, ns.Load()).UTC() }, func(t time.Time) { ns.Store(t.UnixNano()) }
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "otpatch.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// tallyEvent is the part of an auth.refused event's details the tests read.
type tallyEvent struct {
	Source     string
	Count      int            `json:"count"`
	Minute     string         `json:"minute"`
	Statuses   map[string]int `json:"statuses"`
	Reasons    map[string]int `json:"reasons"`
	Paths      map[string]int `json:"paths"`
	OtherPaths int            `json:"other_paths"`
}

func refusedEvents(t *testing.T, st *store.Store) []tallyEvent {
	t.Helper()
	evs, err := st.AuditEvents(context.Background(), store.AuditFilter{Action: Action})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]tallyEvent, len(evs))
	for i, ev := range evs {
		if err := json.Unmarshal([]byte(ev.Details), &out[i]); err != nil {
			t.Fatal(err)
		}
		out[i].Source = ev.SubjectID
		if ev.SubjectType != "source" || ev.Actor != "anonymous" {
			t.Errorf("event subject %s/%s by %s: want a source by anonymous", ev.SubjectType, ev.SubjectID, ev.Actor)
		}
	}
	return out
}

// unavailable is a database that refuses every write.
type unavailable struct{}

func (unavailable) Append(context.Context, store.Event) (audit.Event, error) {
	return audit.Event{}, errors.New("database unavailable")
}

func bad(source, path string) Refusal {
	return Refusal{Source: source, Reason: "bad_token", Status: 401, Method: "GET", Path: path, RequestID: "req-" + source}
}

func TestTally(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 11, 20, 9, 0, 15, 0, time.UTC)

	t.Run("one event per source and minute, written when the minute closes", func(t *testing.T) {
		st := openStore(t)
		now, set := clockAt(start)
		ta := New(st, Options{Now: now})
		for i := range 5000 {
			r := bad("192.0.2.7", "/api/v1/me")
			if i%2 == 1 {
				r.Status, r.Reason = 429, "missing_token"
			}
			ta.Add(r)
		}
		ta.Add(bad("198.51.100.1", "/api/v1/patches"))
		if n, err := ta.Flush(ctx); n != 0 || err != nil || len(refusedEvents(t, st)) != 0 {
			t.Fatalf("flush of an open minute wrote %d (%v); want nothing yet", n, err)
		}
		set(start.Add(time.Minute))
		if n, err := ta.Flush(ctx); n != 2 || err != nil {
			t.Fatalf("flush after the minute: %d events (%v), want 2", n, err)
		}
		evs := refusedEvents(t, st)
		if len(evs) != 2 {
			t.Fatalf("%d events, want 2", len(evs))
		}
		got := evs[0]
		if got.Source != "192.0.2.7" || got.Count != 5000 || got.Minute != "2026-11-20T09:00:00Z" ||
			got.Statuses["401"] != 2500 || got.Statuses["429"] != 2500 || got.Reasons["bad_token"] != 2500 ||
			got.Reasons["missing_token"] != 2500 || got.Paths["GET /api/v1/me"] != 5000 {
			t.Errorf("tally event: %+v", got)
		}
		if evs[1].Source != "198.51.100.1" || evs[1].Count != 1 {
			t.Errorf("second source: %+v", evs[1])
		}
		if n, _ := ta.FlushAll(ctx); n != 0 {
			t.Errorf("a written tally was written again (%d)", n)
		}
	})

	t.Run("sources beyond the cap share one event", func(t *testing.T) {
		st := openStore(t)
		now, _ := clockAt(start)
		ta := New(st, Options{Now: now, MaxSources: 3})
		for i := range 10 {
			for range 2 {
				ta.Add(bad(fmt.Sprintf("203.0.113.%d", i), "/api/v1/me"))
			}
		}
		if n, err := ta.FlushAll(ctx); n != 4 || err != nil {
			t.Fatalf("wrote %d events (%v), want 3 sources and the other sources", n, err)
		}
		evs := refusedEvents(t, st)
		last := evs[len(evs)-1]
		if last.Source != OtherSources || last.Count != 14 {
			t.Errorf("bucket of the other sources: %+v; want 7 sources' 14 refusals", last)
		}
	})

	t.Run("an event's details are bounded", func(t *testing.T) {
		st := openStore(t)
		now, _ := clockAt(start)
		ta := New(st, Options{Now: now})
		for i := range 500 {
			r := bad("192.0.2.9", fmt.Sprintf("/api/v1/%d/%0300d", i, i))
			r.Reason = fmt.Sprintf("reason-%d", i)
			ta.Add(r)
		}
		if _, err := ta.FlushAll(ctx); err != nil {
			t.Fatal(err)
		}
		evs, err := st.AuditEvents(ctx, store.AuditFilter{Action: Action})
		if err != nil || len(evs) != 1 {
			t.Fatalf("%d events (%v)", len(evs), err)
		}
		if len(evs[0].Details) > 8<<10 {
			t.Errorf("details are %d bytes for 500 distinct paths and reasons; want a bounded size", len(evs[0].Details))
		}
		got := refusedEvents(t, st)[0]
		if got.Count != 500 || len(got.Paths) != maxPaths || got.OtherPaths != 500-maxPaths || len(got.Reasons) != maxReasons+1 {
			t.Errorf("count %d, %d paths (+%d other), %d reasons; want 500, %d (+%d), %d and other",
				got.Count, len(got.Paths), got.OtherPaths, len(got.Reasons), maxPaths, 500-maxPaths, maxReasons)
		}
	})

	t.Run("a new minute writes the closed one without waiting for a tick", func(t *testing.T) {
		st := openStore(t)
		now, set := clockAt(start)
		ta := New(st, Options{Now: now})
		ta.Add(bad("192.0.2.1", "/api/v1/me"))
		set(start.Add(2 * time.Minute))
		ta.Add(bad("192.0.2.1", "/api/v1/me"))   // starts writing the first minute in the background,
		if _, err := ta.Flush(ctx); err != nil { // which this waits for (or does itself)
			t.Fatal(err)
		}
		evs := refusedEvents(t, st)
		if len(evs) != 1 || evs[0].Minute != "2026-11-20T09:00:00Z" {
			t.Fatalf("events %+v; want the first minute's only", evs)
		}
		if n, _ := ta.FlushAll(ctx); n != 1 {
			t.Errorf("shutdown flush wrote %d events, want the open minute's 1", n)
		}
	})

	t.Run("a tally that cannot be written is dropped", func(t *testing.T) {
		now, _ := clockAt(start)
		ta := New(unavailable{}, Options{Now: now})
		ta.Add(bad("192.0.2.1", "/api/v1/me"))
		if n, err := ta.FlushAll(ctx); n != 0 || err == nil {
			t.Fatalf("flush while the database is away: %d, %v; want an error", n, err)
		}
		if len(ta.minutes) != 0 {
			t.Errorf("%d minutes kept after a failed write", len(ta.minutes))
		}
	})
}
