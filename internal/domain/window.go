package domain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is a zone's maintenance window: when it opens (a five-field cron expression read in an
// IANA time zone), how long it stays open, the blackout periods it never opens in, and how many
// assets may be changed at once.
type Window struct {
	Cron        string     `json:"cron"`
	Duration    Duration   `json:"duration"`
	TimeZone    string     `json:"time_zone"`
	MaxParallel int        `json:"max_parallel"`
	Blackouts   []Blackout `json:"blackouts,omitempty"`
}

// Equal reports whether two windows are the same (their JSON is).
func (w Window) Equal(o Window) bool {
	a, _ := json.Marshal(w)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// Blackout is a period in which no occurrence opens (a shutdown, peak season).
type Blackout struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Occurrence is one opening of a window.
type Occurrence struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Duration is a time.Duration written as "90m" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as Go duration text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads "90m", "2h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: write it as 90m or 2h30m", s)
	}
	*d = Duration(v)
	return nil
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Schedule parses the window's cron expression in its time zone.
func (w Window) Schedule() (cron.Schedule, error) {
	loc, err := w.location()
	if err != nil {
		return nil, err
	}
	s, err := w.parseCron()
	if err != nil {
		return nil, err
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	return s, nil
}

// location loads the window's time zone. "Local" is refused: it would mean the zone of
// whichever server happens to read the window.
func (w Window) location() (*time.Location, error) {
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil || w.TimeZone == "" || w.TimeZone == "Local" {
		return nil, fmt.Errorf("time_zone %q is not an IANA time zone such as Europe/Zurich", w.TimeZone)
	}
	return loc, nil
}

func (w Window) parseCron() (cron.Schedule, error) {
	expr := strings.TrimSpace(w.Cron)
	if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
		return nil, fmt.Errorf("cron %q: give the zone in time_zone, not in the expression", w.Cron)
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v (five fields: minute hour day-of-month month day-of-week)", w.Cron, err)
	}
	return s, nil
}

// Validate lists every problem with the window.
func (w Window) Validate() error {
	v := &ValidationError{What: "window"}
	if _, err := w.parseCron(); err != nil {
		v.Add("cron", "%v", err)
	}
	if _, err := w.location(); err != nil {
		v.Add("time_zone", "%v", err)
	}
	if d := time.Duration(w.Duration); d < time.Minute || d > 7*24*time.Hour {
		v.Add("duration", "must be between 1m and 168h, got %s", d)
	}
	if w.MaxParallel < 1 || w.MaxParallel > 100 {
		v.Add("max_parallel", "must be between 1 and 100, got %d", w.MaxParallel)
	}
	for i, b := range w.Blackouts {
		if !b.To.After(b.From) {
			v.Add(fmt.Sprintf("blackouts[%d]", i), "to must be after from")
		}
	}
	return v.Err()
}

// maxMerged bounds how many overlapping occurrences Current joins into one span (a day of
// occurrences that open every minute).
const maxMerged = 1440

// Current returns the occurrence that contains now, or the next one to open. Occurrences that
// overlap or touch (a window opening every minute for an hour) are one span: the engine may
// use all of it. It looks at most a year ahead; ok is false when no occurrence opens in that
// time.
func (w Window) Current(now time.Time) (occ Occurrence, ok bool) {
	occ, ok = w.CurrentUnmerged(now)
	if !ok {
		return occ, ok
	}
	s, loc, fixedHours, err := w.schedule()
	if err != nil {
		return occ, ok
	}
	d := time.Duration(w.Duration)
	for i, t := 0, s.Next(occ.Start); i < maxMerged && !t.IsZero() && !t.After(occ.End); i, t = i+1, s.Next(t) {
		next := Occurrence{Start: t, End: t.Add(d)}
		if w.blackedOut(next) || (fixedHours && repeatedWallClock(t, loc)) {
			break
		}
		if next.End.After(occ.End) {
			occ.End = next.End
		}
	}
	return occ, true
}

func (w Window) schedule() (s cron.Schedule, loc *time.Location, fixedHours bool, err error) {
	s, err = w.Schedule()
	if err != nil {
		return nil, nil, false, err
	}
	// A window with fixed hours opens once at a wall-clock time the clocks pass twice; one
	// that opens every hour follows real time through the repeated hour, as Vixie cron does.
	loc = time.UTC
	if spec, ok := s.(*cron.SpecSchedule); ok {
		const allHours = 1<<24 - 1
		loc, fixedHours = spec.Location, spec.Hour&allHours != allHours
	}
	return s, loc, fixedHours, nil
}

// CurrentUnmerged is Current without joining overlapping occurrences: the earliest occurrence
// still open at now, or the next to open. Campaigns started before overlapping occurrences were
// joined keep using it, so that their histories replay.
func (w Window) CurrentUnmerged(now time.Time) (occ Occurrence, ok bool) {
	s, loc, fixedHours, err := w.schedule()
	if err != nil {
		return Occurrence{}, false
	}
	d := time.Duration(w.Duration)
	limit := now.AddDate(1, 0, 0)
	// The first start after now-d is the earliest occurrence still open at now, if any.
	for t := s.Next(now.Add(-d)); !t.IsZero() && t.Before(limit); t = s.Next(t) {
		o := Occurrence{Start: t, End: t.Add(d)}
		if !o.End.After(now) || w.blackedOut(o) || (fixedHours && repeatedWallClock(t, loc)) {
			continue
		}
		return o, true
	}
	return Occurrence{}, false
}

// Next returns up to n occurrences from now on, the open one first.
func (w Window) Next(now time.Time, n int) []Occurrence {
	var out []Occurrence
	for len(out) < n {
		o, ok := w.Current(now)
		if !ok {
			break
		}
		out = append(out, o)
		now = o.End
	}
	return out
}

func (w Window) blackedOut(o Occurrence) bool {
	for _, b := range w.Blackouts {
		if o.Start.Before(b.To) && o.End.After(b.From) {
			return true
		}
	}
	return false
}

// repeatedWallClock reports whether t is the second time its local wall-clock time occurs, on a
// night the clocks go back (02:30 on the last Sunday of October in Europe/Zurich happens at
// 00:30 and at 01:30 UTC). robfig/cron fires at both; a window with fixed hours opens only at
// the first, so it is not open for an extra hour.
func repeatedWallClock(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	_, off := lt.Zone()
	// Clock changes are at most 2 hours, and never two within 3 hours.
	_, before := lt.Add(-3 * time.Hour).Zone()
	if before <= off {
		return false
	}
	earlier := lt.Add(-time.Duration(before-off) * time.Second)
	const wall = "2006-01-02 15:04:05"
	return earlier.Format(wall) == lt.Format(wall)
}
