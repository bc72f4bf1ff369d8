package domain

import (
	"math/rand"
	"strings"
	"testing"
	"time"
)

// TestWindowValidateAtRefusesWindowsThatNeverOpen: a window with no occurrence in the coming year
// (at most 366 days), blackouts counted, is refused with the field to change and why; one that
// opens, even on the last of those days, is accepted. What it accepts is what the engine finds an
// occurrence of.
func TestWindowValidateAtRefusesWindowsThatNeverOpen(t *testing.T) {
	now := mustUTC(t, "2026-03-01T12:00:00Z")
	daily := Window{Cron: "0 2 * * *", Duration: Duration(4 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2}
	everyMinute := Window{Cron: "* * * * *", Duration: Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 8}
	with := func(w Window, cron string, blackouts ...Blackout) Window {
		if cron != "" {
			w.Cron = cron
		}
		w.Blackouts = blackouts
		return w
	}
	days := func(n int) time.Time { return now.AddDate(0, 0, n) }
	tests := []struct {
		name string
		w    Window
		// want maps each failing field to a fragment its message must contain.
		want map[string]string
	}{
		{name: "daily", w: daily},
		{name: "always open", w: everyMinute},
		{name: "30 February", w: with(daily, "0 0 30 2 *"),
			want: map[string]string{"cron": `cron "0 0 30 2 *" never opens in the next 366 days (February has no 30th); pick a day that exists`}},
		{name: "31 April and June", w: with(daily, "0 0 31 4,6 *"),
			want: map[string]string{"cron": "(April and June have no 31st)"}},
		{name: "30 and 31 February", w: with(daily, "0 0 30,31 2 *"),
			want: map[string]string{"cron": "(February has no 30th or 31st)"}},
		{name: "29 February, next in 2028", w: with(daily, "0 2 29 2 *"),
			want: map[string]string{"cron": "does not open in the coming year (next on Tue 2028-02-29 02:00, Europe/Zurich)"}},
		{name: "blackout over the whole year", w: with(daily, "", Blackout{From: days(-1), To: days(367), Reason: "decommissioning"}),
			want: map[string]string{"blackouts": `cover every opening of cron "0 2 * * *" in the coming year`}},
		{name: "two blackouts that together cover the year", w: with(daily, "",
			Blackout{From: days(-1), To: days(200)}, Blackout{From: days(199), To: days(400)}),
			want: map[string]string{"blackouts": "end a blackout sooner or remove it"}},
		{name: "every minute, blackout over the whole year", w: with(everyMinute, "", Blackout{From: days(-1), To: days(367)}),
			want: map[string]string{"blackouts": "would never open"}},
		{name: "blackout that ends on the last day", w: with(daily, "", Blackout{From: days(-1), To: days(364)})},
		{name: "blackout that ends after the last opening of the year", w: with(daily, "", Blackout{From: days(-1), To: days(365)}),
			want: map[string]string{"blackouts": "would never open"}},
		{name: "blackout with a gap", w: with(daily, "", Blackout{From: days(-1), To: days(100)}, Blackout{From: days(102), To: days(400)})},
		{name: "every problem at once", w: func() Window { w := with(daily, "0 0 30 2 *"); w.MaxParallel = 0; return w }(),
			want: map[string]string{"cron": "February has no 30th", "max_parallel": "must be between 1 and 100"}},
		{name: "a cron that does not parse is not also said to never open", w: with(daily, "0 2 * * 7x"),
			want: map[string]string{"cron": "five fields"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.w.ValidateAt(now)
			if took := time.Since(start); took > time.Second {
				t.Errorf("ValidateAt took %s", took)
			}
			if _, opens := tt.w.Current(now); opens != (tt.want["cron"] == "" && tt.want["blackouts"] == "") && tt.w.Validate() == nil {
				t.Errorf("ValidateAt = %v, but the engine finds an occurrence: %v", err, opens)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateAt = %v, want valid", err)
				}
				return
			}
			got := fieldErrors(t, err)
			if len(got) != len(tt.want) {
				t.Errorf("failing fields %v, want %v", got, tt.want)
			}
			for f, frag := range tt.want {
				if !strings.Contains(got[f], frag) {
					t.Errorf("%s: %q, want it to contain %q", f, got[f], frag)
				}
			}
		})
	}

	// The date-free check stays as it was: a workflow validates with it.
	if err := with(daily, "0 0 30 2 *").Validate(); err != nil {
		t.Errorf("Validate refuses 30 February (%v); only ValidateAt depends on the date", err)
	}
	// 29 February opens within 366 days of June 2027.
	if err := with(daily, "0 2 29 2 *").ValidateAt(mustUTC(t, "2027-06-01T00:00:00Z")); err != nil {
		t.Errorf("29 February seen from June 2027: %v", err)
	}
}

// TestWindowSpans: the openings shown are the spans the engine uses. Only the first may have
// started before now, and then it is open now; each starts after the one before has closed; a
// window that never closes is one span open now that continues.
func TestWindowSpans(t *testing.T) {
	now := mustUTC(t, "2026-11-29T01:18:30Z") // Sun 02:18 in Zurich
	t.Run("always open", func(t *testing.T) {
		w := Window{Cron: "* * * * *", Duration: Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 8}
		got := w.Spans(now, 5)
		if len(got) != 1 {
			t.Fatalf("Spans = %d spans %v, want one span that does not close", len(got), got)
		}
		s := got[0]
		engine, _ := w.Current(now)
		if !s.OpenNow || !s.Continues || !s.Start.Equal(engine.Start) || s.End.Before(now.Add(spanReach)) {
			t.Fatalf("span %+v, want open now from %s (as the engine sees it), continuing at least %s", s, engine.Start, spanReach)
		}
	})
	t.Run("weekly for a whole week", func(t *testing.T) {
		w := Window{Cron: "0 0 * * 1", Duration: Duration(7 * 24 * time.Hour), TimeZone: "UTC", MaxParallel: 1}
		if got := w.Spans(now, 3); len(got) != 1 || !got[0].OpenNow || !got[0].Continues {
			t.Fatalf("Spans = %+v, want one span, open now, continuing", got)
		}
	})
	t.Run("daily, open now", func(t *testing.T) {
		w := Window{Cron: "0 1 * * *", Duration: Duration(2 * time.Hour), TimeZone: "UTC", MaxParallel: 1}
		got := w.Spans(now, 3)
		want := []string{"2026-11-29T01:00:00Z", "2026-11-30T01:00:00Z", "2026-12-01T01:00:00Z"}
		if len(got) != 3 || !got[0].OpenNow || got[1].OpenNow || got[0].Continues {
			t.Fatalf("Spans = %+v, want 3 spans, the first open now", got)
		}
		for i, s := range got {
			if s.Start.UTC().Format(time.RFC3339) != want[i] || s.End.Sub(s.Start) != 2*time.Hour {
				t.Errorf("span %d = %+v, want 2h from %s", i, s, want[i])
			}
		}
	})
	t.Run("hourly for 90 minutes, broken by a blackout", func(t *testing.T) {
		w := Window{Cron: "0 * * * *", Duration: Duration(90 * time.Minute), TimeZone: "UTC", MaxParallel: 1,
			Blackouts: []Blackout{{From: mustUTC(t, "2026-11-29T12:00:00Z"), To: mustUTC(t, "2026-11-29T14:00:00Z")}}}
		got := w.Spans(now, 2)
		if len(got) != 2 || !got[0].OpenNow || got[1].OpenNow {
			t.Fatalf("Spans = %+v, want the open span and the one after the blackout", got)
		}
		if end := mustUTC(t, "2026-11-29T11:30:00Z"); !got[0].End.Equal(end) {
			t.Errorf("first span ends %s, want %s (the last occurrence that ends before the blackout)", got[0].End, end)
		}
		if start := mustUTC(t, "2026-11-29T14:00:00Z"); !got[1].Start.Equal(start) || !got[1].Continues {
			t.Errorf("second span %+v, want from %s on, continuing", got[1], start)
		}
	})
	windows := []Window{
		{Cron: "* * * * *", Duration: Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
		{Cron: "*/2 * * * *", Duration: Duration(time.Minute), TimeZone: "UTC", MaxParallel: 1},
		{Cron: "0 */6 * * *", Duration: Duration(7 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
		{Cron: "30 2 * * 0", Duration: Duration(4 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
		{Cron: "0 2 * * *", Duration: Duration(24 * time.Hour), TimeZone: "America/New_York", MaxParallel: 1},
	}
	for _, w := range windows {
		for _, at := range []time.Time{now, mustUTC(t, "2026-03-29T00:59:00Z"), mustUTC(t, "2026-10-25T00:30:00Z")} {
			got := w.Spans(at, 10)
			if len(got) == 0 {
				t.Errorf("%s %s at %s: no span", w.Cron, time.Duration(w.Duration), at)
			}
			for i, s := range got {
				if !s.Start.After(at) && (i > 0 || !s.OpenNow || !s.End.After(at)) {
					t.Errorf("%s %s at %s: span %d %+v opens in the past without being open now", w.Cron, time.Duration(w.Duration), at, i, s)
				}
				if i > 0 && !s.Start.After(got[i-1].End) {
					t.Errorf("%s %s at %s: span %d %+v does not start after span %d closes (%s)", w.Cron, time.Duration(w.Duration), at, i, s, i-1, got[i-1].End)
				}
			}
		}
	}
}

// TestWindowFirstSkipsBlackoutsLikeStepping: CurrentUnmerged skips over a blackout at once; it
// must find the occurrence that stepping through every start finds, so that campaign histories
// replay.
func TestWindowFirstSkipsBlackoutsLikeStepping(t *testing.T) {
	stepping := func(w Window, now time.Time) (Occurrence, bool) {
		s, loc, fixedHours, err := w.schedule()
		if err != nil {
			return Occurrence{}, false
		}
		d := time.Duration(w.Duration)
		for t := s.Next(now.Add(-d)); !t.IsZero() && t.Before(now.AddDate(1, 0, 0)); t = s.Next(t) {
			o := Occurrence{Start: t, End: t.Add(d)}
			if !o.End.After(now) || w.blackedOut(o) || (fixedHours && repeatedWallClock(t, loc)) {
				continue
			}
			return o, true
		}
		return Occurrence{}, false
	}
	rnd := rand.New(rand.NewSource(7))
	crons := []string{"* * * * *", "*/7 * * * *", "0 2 * * *", "30 2 * * 0", "15 */3 * * *", "0 0 1 * *"}
	base := mustUTC(t, "2026-01-01T00:00:00Z")
	for i := 0; i < 300; i++ {
		w := Window{Cron: crons[rnd.Intn(len(crons))], Duration: Duration(time.Duration(1+rnd.Intn(600)) * time.Minute), TimeZone: "Europe/Zurich", MaxParallel: 1}
		now := base.Add(time.Duration(rnd.Int63n(int64(300 * 24 * time.Hour))))
		for k := rnd.Intn(4); k > 0; k-- {
			from := now.Add(time.Duration(rnd.Int63n(int64(20*24*time.Hour))) - 2*24*time.Hour)
			to := from.Add(time.Duration(1 + rnd.Int63n(int64(10*24*time.Hour))))
			// Some blackouts end between whole seconds, others on the minute or the hour a start
			// falls on, where skipping one start too many goes unseen otherwise.
			if r := []time.Duration{0, time.Minute, time.Hour}[rnd.Intn(3)]; r > 0 && to.Truncate(r).After(from) {
				to = to.Truncate(r)
			}
			w.Blackouts = append(w.Blackouts, Blackout{From: from, To: to})
		}
		got, gotOK := w.CurrentUnmerged(now)
		want, wantOK := stepping(w, now)
		if gotOK != wantOK || !got.Start.Equal(want.Start) || !got.End.Equal(want.End) {
			t.Fatalf("%+v at %s: CurrentUnmerged = %v %v, stepping finds %v %v", w, now, got, gotOK, want, wantOK)
		}
	}
}
