package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func validWindow() Window {
	return Window{Cron: "0 2 * * 6", Duration: Duration(4 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2}
}

func mustUTC(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v (is tzdata installed?)", name, err)
	}
	return loc
}

// fieldErrors returns the failing fields of a *ValidationError, or fails the test.
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	out := map[string]string{}
	for _, f := range ve.Fields {
		if _, dup := out[f.Field]; dup {
			out[f.Field] += "; " + f.Message
			continue
		}
		out[f.Field] = f.Message
	}
	return out
}

func TestWindowValidate(t *testing.T) {
	from := mustUTC(t, "2025-12-20T00:00:00Z")
	tests := []struct {
		name   string
		change func(w *Window)
		// want maps each failing field to a fragment its message must contain.
		want map[string]string
	}{
		{name: "valid", change: func(w *Window) {}},
		{name: "valid with blackout", change: func(w *Window) {
			w.Blackouts = []Blackout{{From: from, To: from.Add(48 * time.Hour), Reason: "year-end shutdown"}}
		}},
		{name: "cron with a typo in day of week", change: func(w *Window) { w.Cron = "0 2 * * 7x" },
			want: map[string]string{"cron": `cron "0 2 * * 7x": `}},
		{name: "cron with six fields", change: func(w *Window) { w.Cron = "0 0 2 * * 6" },
			want: map[string]string{"cron": "five fields: minute hour day-of-month month day-of-week"}},
		{name: "cron hour out of range", change: func(w *Window) { w.Cron = "0 24 * * *" },
			want: map[string]string{"cron": "five fields"}},
		{name: "cron descriptor", change: func(w *Window) { w.Cron = "@daily" },
			want: map[string]string{"cron": `cron "@daily"`}},
		{name: "empty cron", change: func(w *Window) { w.Cron = "" },
			want: map[string]string{"cron": "five fields"}},
		{name: "zone inside the cron expression", change: func(w *Window) { w.Cron = "CRON_TZ=Europe/Zurich 0 2 * * 6" },
			want: map[string]string{"cron": "give the zone in time_zone"}},
		{name: "unknown time zone", change: func(w *Window) { w.TimeZone = "Europe/Zurch" },
			want: map[string]string{"time_zone": `time_zone "Europe/Zurch" is not an IANA time zone such as Europe/Zurich`}},
		{name: "missing time zone", change: func(w *Window) { w.TimeZone = "" },
			want: map[string]string{"time_zone": `time_zone "" is not an IANA time zone`}},
		{name: "server-local time zone", change: func(w *Window) { w.TimeZone = "Local" },
			want: map[string]string{"time_zone": `time_zone "Local" is not an IANA time zone`}},
		{name: "duration under a minute", change: func(w *Window) { w.Duration = Duration(30 * time.Second) },
			want: map[string]string{"duration": "must be between PT1M (a minute) and P7D (a week), got PT30S"}},
		{name: "zero duration", change: func(w *Window) { w.Duration = 0 },
			want: map[string]string{"duration": "got PT0S"}},
		{name: "negative duration", change: func(w *Window) { w.Duration = Duration(-time.Hour) },
			want: map[string]string{"duration": "got -PT1H"}},
		{name: "duration over a week", change: func(w *Window) { w.Duration = Duration(169 * time.Hour) },
			want: map[string]string{"duration": "got P7DT1H"}},
		{name: "exactly a week is allowed", change: func(w *Window) { w.Duration = Duration(168 * time.Hour) }},
		{name: "exactly a minute is allowed", change: func(w *Window) { w.Duration = Duration(time.Minute) }},
		{name: "no parallelism", change: func(w *Window) { w.MaxParallel = 0 },
			want: map[string]string{"max_parallel": "must be between 1 and 100, got 0"}},
		{name: "too much parallelism", change: func(w *Window) { w.MaxParallel = 101 },
			want: map[string]string{"max_parallel": "got 101"}},
		{name: "blackout ends before it starts", change: func(w *Window) {
			w.Blackouts = []Blackout{{From: from, To: from.Add(time.Hour)}, {From: from, To: from}}
		}, want: map[string]string{"blackouts[1]": "to must be after from"}},
		{name: "every field wrong at once", change: func(w *Window) {
			*w = Window{Cron: "0 2 * * 7x", TimeZone: "Mars/Olympus_Mons", Duration: Duration(time.Second), MaxParallel: -1,
				Blackouts: []Blackout{{From: from.Add(time.Hour), To: from}}}
		}, want: map[string]string{
			"cron":         `"0 2 * * 7x"`,
			"time_zone":    `"Mars/Olympus_Mons"`,
			"duration":     "got PT1S",
			"max_parallel": "got -1",
			"blackouts[0]": "to must be after from",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := validWindow()
			tt.change(&w)
			err := w.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() accepted %+v; want errors on %v", w, tt.want)
			}
			got := fieldErrors(t, err)
			for field, frag := range tt.want {
				msg, ok := got[field]
				if !ok {
					t.Errorf("no error for field %s; got %v", field, got)
					continue
				}
				if !strings.Contains(msg, frag) {
					t.Errorf("%s: message %q does not mention %q", field, msg, frag)
				}
			}
			for field := range got {
				if _, ok := tt.want[field]; !ok {
					t.Errorf("unexpected error on field %s: %s", field, got[field])
				}
			}
			if !strings.HasPrefix(err.Error(), "window is invalid:") {
				t.Errorf("Error() = %q, want it to start with \"window is invalid:\"", err)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: `"90m"`, want: 90 * time.Minute},
		{in: `"2h30m"`, want: 150 * time.Minute},
		{in: `"4h"`, want: 4 * time.Hour},
		{in: `"PT4H"`, want: 4 * time.Hour},
		{in: `"PT1H30M"`, want: 90 * time.Minute},
		{in: `"P7D"`, want: 7 * 24 * time.Hour},
		{in: `"P1DT2H"`, want: 26 * time.Hour},
		{in: `"PT0.5S"`, want: 500 * time.Millisecond},
		{in: `604800000000000`, want: 7 * 24 * time.Hour},
		{in: `"ninety minutes"`, wantErr: `duration "ninety minutes": write it in ISO 8601 as PT1H30M (or as 90m, 2h30m)`},
		{in: `"90"`, wantErr: "write it in ISO 8601 as PT1H30M"},
		{in: `"P1Y"`, wantErr: "write it in ISO 8601 as PT1H30M"},
		{in: `"PT"`, wantErr: "write it in ISO 8601 as PT1H30M"},
		{in: `"P4H"`, wantErr: "write it in ISO 8601 as PT1H30M"},
		{in: `"1.5"`, wantErr: "write it in ISO 8601 as PT1H30M"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal(%s) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.in, err)
			}
			if time.Duration(d) != tt.want {
				t.Fatalf("Unmarshal(%s) = %s, want %s", tt.in, time.Duration(d), tt.want)
			}
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(b), `"P`) {
				t.Fatalf("Marshal(%s) = %s, want ISO 8601", tt.in, b)
			}
			var back Duration
			if err := json.Unmarshal(b, &back); err != nil || back != d {
				t.Fatalf("round trip through %s gave %s, %v", b, time.Duration(back), err)
			}
		})
	}

	t.Run("window document", func(t *testing.T) {
		var w Window
		doc := `{"cron":"0 2 * * 6","duration":"4h","time_zone":"Europe/Zurich","max_parallel":2}`
		if err := json.Unmarshal([]byte(doc), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(w, validWindow()) {
			t.Fatalf("decoded %+v", w)
		}
	})
}

// occurrence is an expected window opening: its start as an instant, and its end as the wall
// clock the plant sees in the window's zone.
type occurrence struct {
	start   string // RFC 3339, UTC
	endWall string // local wall clock "2006-01-02 15:04 MST"
}

func checkOccurrences(t *testing.T, w Window, got []Occurrence, want []occurrence) {
	t.Helper()
	loc := mustLocation(t, w.TimeZone)
	if len(got) != len(want) {
		t.Fatalf("got %d occurrences %v, want %d", len(got), got, len(want))
	}
	for i, o := range got {
		if s := o.Start.UTC().Format(time.RFC3339); s != want[i].start {
			t.Errorf("occurrence %d starts %s (%s local), want %s", i, s, o.Start.In(loc).Format("2006-01-02 15:04 MST"), want[i].start)
		}
		if e := o.End.In(loc).Format("2006-01-02 15:04 MST"); e != want[i].endWall {
			t.Errorf("occurrence %d ends %s local, want %s", i, e, want[i].endWall)
		}
		if d := o.End.Sub(o.Start); d != time.Duration(w.Duration) {
			t.Errorf("occurrence %d lasts %s of real time, want %s", i, d, time.Duration(w.Duration))
		}
	}
}

// The window's duration is real elapsed time: on the night the clocks go forward a 3-hour
// window reads 4 hours on the wall clock, on the night they go back it reads 2.
func TestWindowAcrossDaylightSaving(t *testing.T) {
	tests := []struct {
		name string
		w    Window
		now  string
		want []occurrence
	}{
		{
			// 2025-03-30 02:00 CET → 03:00 CEST.
			name: "Zurich spring forward",
			w:    Window{Cron: "0 1 * * 0", Duration: Duration(3 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
			now:  "2025-03-24T12:00:00Z",
			want: []occurrence{
				{"2025-03-30T00:00:00Z", "2025-03-30 05:00 CEST"}, // opens 01:00 CET
				{"2025-04-05T23:00:00Z", "2025-04-06 04:00 CEST"}, // opens 01:00 CEST
			},
		},
		{
			// 2025-10-26 03:00 CEST → 02:00 CET.
			name: "Zurich fall back",
			w:    Window{Cron: "0 1 * * 0", Duration: Duration(3 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
			now:  "2025-10-20T12:00:00Z",
			want: []occurrence{
				{"2025-10-25T23:00:00Z", "2025-10-26 03:00 CET"}, // opens 01:00 CEST
				{"2025-11-02T00:00:00Z", "2025-11-02 04:00 CET"},
			},
		},
		{
			// 2025-03-09 02:00 CST → 03:00 CDT.
			name: "Chicago spring forward",
			w:    Window{Cron: "0 1 * * 0", Duration: Duration(3 * time.Hour), TimeZone: "America/Chicago", MaxParallel: 1},
			now:  "2025-03-03T12:00:00Z",
			want: []occurrence{
				{"2025-03-09T07:00:00Z", "2025-03-09 05:00 CDT"}, // opens 01:00 CST
				{"2025-03-16T06:00:00Z", "2025-03-16 04:00 CDT"},
			},
		},
		{
			// 2025-11-02 02:00 CDT → 01:00 CST.
			name: "Chicago fall back",
			w:    Window{Cron: "30 0 * * 0", Duration: Duration(3 * time.Hour), TimeZone: "America/Chicago", MaxParallel: 1},
			now:  "2025-10-27T12:00:00Z",
			want: []occurrence{
				{"2025-11-02T05:30:00Z", "2025-11-02 02:30 CST"}, // opens 00:30 CDT
				{"2025-11-09T06:30:00Z", "2025-11-09 03:30 CST"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkOccurrences(t, tt.w, tt.w.Next(mustUTC(t, tt.now), len(tt.want)), tt.want)
		})
	}
}

// robfig/cron (v3) skips a start time that does not exist on the wall clock: on the night the
// clocks go forward, 02:30 never happens, so a window set for 02:30 does not open that night at
// all and opens next at its following scheduled time. It is not moved to 03:30.
func TestWindowAtNonexistentLocalTime(t *testing.T) {
	tests := []struct {
		name string
		w    Window
		now  string
		want []occurrence
	}{
		{
			name: "Zurich daily 02:30",
			w:    Window{Cron: "30 2 * * *", Duration: Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
			now:  "2025-03-29T12:00:00Z",
			want: []occurrence{
				{"2025-03-31T00:30:00Z", "2025-03-31 03:30 CEST"}, // 2025-03-30 is skipped
				{"2025-04-01T00:30:00Z", "2025-04-01 03:30 CEST"},
			},
		},
		{
			name: "Zurich Sundays 02:30 loses a whole week",
			w:    Window{Cron: "30 2 * * 0", Duration: Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
			now:  "2025-03-24T12:00:00Z",
			want: []occurrence{
				{"2025-04-06T00:30:00Z", "2025-04-06 03:30 CEST"}, // not 2025-03-30
			},
		},
		{
			name: "Chicago daily 02:30",
			w:    Window{Cron: "30 2 * * *", Duration: Duration(time.Hour), TimeZone: "America/Chicago", MaxParallel: 1},
			now:  "2025-03-08T12:00:00Z",
			want: []occurrence{
				{"2025-03-10T07:30:00Z", "2025-03-10 03:30 CDT"}, // 2025-03-09 is skipped
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkOccurrences(t, tt.w, tt.w.Next(mustUTC(t, tt.now), len(tt.want)), tt.want)
		})
	}
}

// On the night the clocks go back, a start time in the repeated hour happens twice on the wall
// clock. The window opens once, at the first, so it is not open for an extra hour and two
// occurrences never overlap.
func TestWindowAtRepeatedLocalTime(t *testing.T) {
	tests := []struct {
		name  string
		w     Window
		now   string
		want  []occurrence
		after string // a time after the first occurrence closed, when the second would still be open
		next  string // the start Current must give at after
	}{
		{
			name: "Zurich daily 02:30",
			w:    Window{Cron: "30 2 * * *", Duration: Duration(3 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
			now:  "2025-10-25T12:00:00Z",
			want: []occurrence{
				{"2025-10-26T00:30:00Z", "2025-10-26 04:30 CET"}, // opens 02:30 CEST, not again at 02:30 CET
				{"2025-10-27T01:30:00Z", "2025-10-27 05:30 CET"},
			},
			after: "2025-10-26T03:45:00Z",
			next:  "2025-10-27T01:30:00Z",
		},
		{
			name: "Chicago daily 01:30",
			w:    Window{Cron: "30 1 * * *", Duration: Duration(2 * time.Hour), TimeZone: "America/Chicago", MaxParallel: 1},
			now:  "2025-11-01T12:00:00Z",
			want: []occurrence{
				{"2025-11-02T06:30:00Z", "2025-11-02 02:30 CST"}, // opens 01:30 CDT, not again at 01:30 CST
				{"2025-11-03T07:30:00Z", "2025-11-03 03:30 CST"},
			},
			after: "2025-11-02T08:45:00Z",
			next:  "2025-11-03T07:30:00Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.w.Next(mustUTC(t, tt.now), len(tt.want))
			checkOccurrences(t, tt.w, got, tt.want)
			for i := 1; i < len(got); i++ {
				if got[i].Start.Before(got[i-1].End) {
					t.Errorf("occurrence %d (%s) opens before occurrence %d closes (%s)", i, got[i].Start, i-1, got[i-1].End)
				}
			}
			o, ok := tt.w.Current(mustUTC(t, tt.after))
			if !ok || o.Start.UTC().Format(time.RFC3339) != tt.next {
				t.Errorf("Current(%s) = %v, %v; want the occurrence at %s (the window already closed for the night)", tt.after, o, ok, tt.next)
			}
		})
	}
}

// A window that opens every hour (hour field "*") is not a fixed-time window: through the
// repeated hour it keeps opening in real time, like Vixie cron's wildcard jobs.
func TestWindowEveryHourThroughRepeatedHour(t *testing.T) {
	w := Window{Cron: "*/30 * * * *", Duration: Duration(20 * time.Minute), TimeZone: "Europe/Zurich", MaxParallel: 1}
	got := w.Next(mustUTC(t, "2025-10-25T23:50:00Z"), 5)
	checkOccurrences(t, w, got, []occurrence{
		{"2025-10-26T00:00:00Z", "2025-10-26 02:20 CEST"},
		{"2025-10-26T00:30:00Z", "2025-10-26 02:50 CEST"},
		{"2025-10-26T01:00:00Z", "2025-10-26 02:20 CET"}, // 02:00 again, an hour later
		{"2025-10-26T01:30:00Z", "2025-10-26 02:50 CET"},
		{"2025-10-26T02:00:00Z", "2025-10-26 03:20 CET"},
	})
}

func TestWindowCurrent(t *testing.T) {
	// Daily 02:00–04:00 Zurich time (CEST in June: 00:00–02:00 UTC).
	daily := Window{Cron: "0 2 * * *", Duration: Duration(2 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1}
	blackout := func(w Window, from, to string, reason string) Window {
		w.Blackouts = append(slices.Clone(w.Blackouts), Blackout{From: mustUTC(t, from), To: mustUTC(t, to), Reason: reason})
		return w
	}
	tests := []struct {
		name      string
		w         Window
		now       string
		wantStart string // "" when no occurrence is expected
	}{
		{"before it opens: the next one", daily, "2025-06-09T22:00:00Z", "2025-06-10T00:00:00Z"},
		{"exactly when it opens", daily, "2025-06-10T00:00:00Z", "2025-06-10T00:00:00Z"},
		{"already open: returned with its real start", daily, "2025-06-10T01:15:00Z", "2025-06-10T00:00:00Z"},
		{"one second before it closes", daily, "2025-06-10T01:59:59Z", "2025-06-10T00:00:00Z"},
		{"exactly when it closes: the next one", daily, "2025-06-10T02:00:00Z", "2025-06-11T00:00:00Z"},
		{"blackout covering two nights skips both",
			blackout(daily, "2025-06-09T22:00:00Z", "2025-06-11T22:00:00Z", "turnaround"),
			"2025-06-09T12:00:00Z", "2025-06-12T00:00:00Z"},
		{"blackout starting inside an occurrence skips all of it",
			blackout(daily, "2025-06-10T01:00:00Z", "2025-06-10T03:00:00Z", "peak load"),
			"2025-06-09T12:00:00Z", "2025-06-11T00:00:00Z"},
		{"blackout skips the occurrence open at now",
			blackout(daily, "2025-06-10T01:30:00Z", "2025-06-10T01:45:00Z", "inspection"),
			"2025-06-10T01:00:00Z", "2025-06-11T00:00:00Z"},
		{"blackout ending when it opens does not block it",
			blackout(daily, "2025-06-09T12:00:00Z", "2025-06-10T00:00:00Z", ""),
			"2025-06-09T12:00:00Z", "2025-06-10T00:00:00Z"},
		{"blackout starting when it closes does not block it",
			blackout(daily, "2025-06-10T02:00:00Z", "2025-06-10T12:00:00Z", ""),
			"2025-06-09T12:00:00Z", "2025-06-10T00:00:00Z"},
		{"blackout for more than a year: none",
			blackout(daily, "2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "decommissioning"),
			"2025-06-09T12:00:00Z", ""},
		{"30 February never comes",
			Window{Cron: "0 2 30 2 *", Duration: Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
			"2025-06-09T12:00:00Z", ""},
		{"invalid window: none",
			Window{Cron: "0 2 * * 7x", Duration: Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1},
			"2025-06-09T12:00:00Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, ok := tt.w.Current(mustUTC(t, tt.now))
			if tt.wantStart == "" {
				if ok {
					t.Fatalf("Current(%s) = %v, want no occurrence", tt.now, o)
				}
				if n := tt.w.Next(mustUTC(t, tt.now), 3); len(n) != 0 {
					t.Fatalf("Next(%s) = %v, want none", tt.now, n)
				}
				return
			}
			if !ok {
				t.Fatalf("Current(%s) found no occurrence, want one at %s", tt.now, tt.wantStart)
			}
			if s := o.Start.UTC().Format(time.RFC3339); s != tt.wantStart {
				t.Fatalf("Current(%s) starts %s, want %s", tt.now, s, tt.wantStart)
			}
			if o.End.Sub(o.Start) != time.Duration(tt.w.Duration) {
				t.Fatalf("Current(%s) lasts %s, want %s", tt.now, o.End.Sub(o.Start), time.Duration(tt.w.Duration))
			}
			// Next starts with the same occurrence and continues without overlap.
			n := tt.w.Next(mustUTC(t, tt.now), 3)
			if len(n) != 3 || !n[0].Start.Equal(o.Start) {
				t.Fatalf("Next(%s, 3) = %v; want 3 occurrences starting with %v", tt.now, n, o)
			}
			for i := 1; i < len(n); i++ {
				if !n[i].Start.After(n[i-1].Start) || n[i].Start.Before(n[i-1].End) {
					t.Fatalf("Next(%s, 3) = %v: occurrences out of order or overlapping", tt.now, n)
				}
			}
		})
	}
}

func TestFormatISODuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "PT0S", 4 * time.Hour: "PT4H", 90 * time.Minute: "PT1H30M", 7 * 24 * time.Hour: "P7D",
		26*time.Hour + 30*time.Second: "P1DT2H30S", 1500 * time.Millisecond: "PT1.5S", -time.Hour: "-PT1H",
	} {
		if got := FormatISODuration(d); got != want {
			t.Errorf("FormatISODuration(%s) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(want); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %s, %v, want %s", want, back, err, d)
		}
	}
}
