package domain

import (
	"testing"
	"time"
)

// TestWindowOverlappingOccurrencesJoin: a window that opens every minute for an hour is open
// continuously, so the span that contains now lasts well beyond the oldest open occurrence,
// and an asset that needs 15 minutes fits. Occurrences that do not overlap stay apart, and a
// blackout ends the joined span.
func TestWindowOverlappingOccurrencesJoin(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 30, 0, time.UTC)
	w := Window{Cron: "* * * * *", Duration: Duration(time.Hour), TimeZone: "UTC", MaxParallel: 1}
	old, _ := w.CurrentUnmerged(now)
	if left := old.End.Sub(now); left > time.Minute {
		t.Fatalf("unmerged: %s left, want the oldest open occurrence (under a minute)", left)
	}
	occ, ok := w.Current(now)
	if !ok || !occ.Start.Equal(old.Start) || occ.End.Sub(now) < 24*time.Hour {
		t.Fatalf("merged: %+v (ok %v), want the span from %s lasting at least a day", occ, ok, old.Start)
	}

	daily := Window{Cron: "0 2 * * *", Duration: Duration(4 * time.Hour), TimeZone: "UTC", MaxParallel: 1}
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	got, _ := daily.Current(at)
	if want := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC); !got.End.Equal(want) {
		t.Fatalf("daily window ends %s, want %s", got.End, want)
	}

	blk := w
	blk.Blackouts = []Blackout{{From: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), Reason: "shutdown"}}
	occ, _ = blk.Current(now)
	if limit := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC); occ.End.After(limit) {
		t.Fatalf("span ends %s, into the blackout from %s", occ.End, limit)
	}
}
