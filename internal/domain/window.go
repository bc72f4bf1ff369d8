package domain

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is a zone's maintenance window: when it opens (a five-field cron expression read in an
// IANA time zone), how long it stays open, the blackout periods it never opens in, and how many
// assets may be changed at once.
type Window struct {
	Cron        string     `json:"cron" api:"required" doc:"When the window opens: a five-field cron expression (minute hour day-of-month month day-of-week) read in time_zone"`
	Duration    Duration   `json:"duration" api:"required" doc:"How long it stays open, from PT1M to P7D"`
	TimeZone    string     `json:"time_zone" api:"required" doc:"An IANA time zone such as Europe/Zurich"`
	MaxParallel int        `json:"max_parallel" api:"required" doc:"How many assets may be changed at once, 1 to 100"`
	Blackouts   []Blackout `json:"blackouts,omitempty" doc:"Periods in which the window never opens"`
}

// Equal reports whether two windows are the same (their JSON is).
func (w Window) Equal(o Window) bool {
	a, _ := json.Marshal(w)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// Blackout is a period in which no occurrence opens (a shutdown, peak season).
type Blackout struct {
	From   time.Time `json:"from" api:"required"`
	To     time.Time `json:"to" api:"required" doc:"After from"`
	Reason string    `json:"reason,omitempty"`
}

// Occurrence is one opening of a window.
type Occurrence struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Duration is a time.Duration written in JSON as an ISO 8601 duration ("PT4H", "PT1H30M",
// "P7D"). It also reads Go's duration text ("90m", "2h30m"), which earlier versions wrote and
// recorded workflow histories still hold, and a bare number of nanoseconds, as time.Duration
// fields were once written.
type Duration time.Duration

// MarshalJSON writes the duration as ISO 8601 text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + FormatISODuration(time.Duration(d)) + `"`), nil
}

// UnmarshalJSON reads "PT1H30M", "P7D", "90m", "2h30m" or nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*d = Duration(n)
		return nil
	}
	s := strings.Trim(string(b), `"`)
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads an ISO 8601 duration in days, hours, minutes and seconds ("P7D",
// "PT4H", "PT1H30M", "PT0.5S") or Go's duration text ("90m", "2h30m"). Years, months and
// weeks are refused: their length depends on the calendar.
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("duration %q: write it in ISO 8601 as PT1H30M (or as 90m, 2h30m)", s)
	if strings.HasPrefix(s, "P") || strings.HasPrefix(s, "-P") {
		v, ok := parseISODuration(s)
		if !ok {
			return 0, bad
		}
		return v, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || s == "" || strings.Trim(s, "0123456789.") == "" {
		return 0, bad
	}
	return v, nil
}

func parseISODuration(s string) (time.Duration, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "P")
	if s == "" || s == "T" {
		return 0, false
	}
	var total float64
	inTime, any := false, false
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return 0, false
			}
			inTime, s = true, s[1:]
			if s == "" {
				return 0, false
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, false
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, false
		}
		var unit time.Duration
		switch {
		case !inTime && s[i] == 'D':
			unit = 24 * time.Hour
		case inTime && s[i] == 'H':
			unit = time.Hour
		case inTime && s[i] == 'M':
			unit = time.Minute
		case inTime && s[i] == 'S':
			unit = time.Second
		default:
			return 0, false
		}
		total += n * float64(unit)
		any, s = true, s[i+1:]
	}
	if !any || total > float64(1<<63-1) {
		return 0, false
	}
	if neg {
		total = -total
	}
	return time.Duration(total), true
}

// FormatISODuration writes d as an ISO 8601 duration: whole days as "P7D", the rest in
// hours, minutes and seconds ("PT1H30M", "P1DT2H", "PT0.5S"); zero is "PT0S". It writes with
// strconv only, so workflow code may call it (workflowcheck).
func FormatISODuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	b.WriteByte('P')
	unit := func(n time.Duration, suffix byte) {
		b.WriteString(strconv.FormatInt(int64(n), 10))
		b.WriteByte(suffix)
	}
	if days := d / (24 * time.Hour); days > 0 {
		unit(days, 'D')
		d -= days * 24 * time.Hour
	}
	if d == 0 {
		return b.String()
	}
	b.WriteByte('T')
	if h := d / time.Hour; h > 0 {
		unit(h, 'H')
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		unit(m, 'M')
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
		b.WriteByte('S')
	}
	return b.String()
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

// Validate lists every problem with the window that does not depend on the date: it is what a
// workflow may check. ValidateAt also refuses a window that never opens.
func (w Window) Validate() error {
	return w.validate().Err()
}

func (w Window) validate() *ValidationError {
	v := &ValidationError{What: "window"}
	if _, err := w.parseCron(); err != nil {
		v.Add("cron", "%v", err)
	}
	if _, err := w.location(); err != nil {
		v.Add("time_zone", "%v", err)
	}
	if d := time.Duration(w.Duration); d < time.Minute || d > 7*24*time.Hour {
		v.Add("duration", "must be between PT1M (a minute) and P7D (a week), got %s", FormatISODuration(d))
	}
	if w.MaxParallel < 1 || w.MaxParallel > 100 {
		v.Add("max_parallel", "must be between 1 and 100, got %d", w.MaxParallel)
	}
	for i, b := range w.Blackouts {
		if !b.To.After(b.From) {
			v.Add(fmt.Sprintf("blackouts[%d]", i), "to must be after from")
		}
	}
	return v
}

// ValidateAt is Validate and, when the cron expression and time zone are valid, also refuses a
// window with no occurrence (blackouts counted) in the year from now, saying why: the engine
// looks that far ahead (see Current), and a campaign in the zone would halt.
func (w Window) ValidateAt(now time.Time) error {
	v := w.validate()
	if field, msg := w.neverOpens(now); msg != "" {
		v.Add(field, "%s", msg)
	}
	return v.Err()
}

// neverOpens says which field to change, and why, when the window has no occurrence in the year
// from now; it returns "" for a window that opens, or whose cron expression or time zone is
// invalid (Validate reports those).
func (w Window) neverOpens(now time.Time) (field, msg string) {
	s, loc, _, err := w.schedule()
	if err != nil {
		return "", ""
	}
	if _, ok := w.CurrentUnmerged(now); ok {
		return "", ""
	}
	open := w
	open.Blackouts = nil
	if _, ok := open.CurrentUnmerged(now); ok {
		return "blackouts", fmt.Sprintf("cover every opening of cron %q in the coming year, so the window would never open; end a blackout sooner or remove it", w.Cron)
	}
	if next := s.Next(lookAhead(now)); !next.IsZero() {
		return "cron", fmt.Sprintf("cron %q does not open in the coming year (next on %s, %s); a window must open at least once a year", w.Cron, next.In(loc).Format("Mon 2006-01-02 15:04"), w.TimeZone)
	}
	why := ""
	if spec, ok := s.(*cron.SpecSchedule); ok {
		why = " (" + missingDays(spec) + ")"
	}
	return "cron", fmt.Sprintf("cron %q never opens in the next 366 days%s; pick a day that exists", w.Cron, why)
}

// missingDays explains why a cron expression's days of the month never come in its months:
// "February has no 30th", "April and June have no 31st".
func missingDays(spec *cron.SpecSchedule) string {
	const star = 1 << 63 // robfig/cron marks a field given as * with this bit
	if spec.Dow&star == 0 {
		return "no day matches its day-of-month, month and day-of-week fields"
	}
	var days, months []string
	for d := 1; d <= 31; d++ {
		if spec.Dom&(1<<d) != 0 {
			days = append(days, ordinal(d))
		}
	}
	for m := time.January; m <= time.December; m++ {
		if spec.Month&(1<<m) != 0 {
			months = append(months, m.String())
		}
	}
	verb := "has"
	if len(months) > 1 {
		verb = "have"
	}
	return fmt.Sprintf("%s %s no %s", joinWords(months, "and"), verb, joinWords(days, "or"))
}

// ordinal writes 1st, 2nd, 3rd, 30th.
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// joinWords joins words as a sentence does: "a", "a and b", "a, b and c".
func joinWords(words []string, and string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + and + " " + words[len(words)-1]
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
	return w.first(now, lookAhead(now))
}

// lookAhead is how far ahead of now the engine looks for an occurrence: a year (365 or 366
// days).
func lookAhead(now time.Time) time.Time { return now.AddDate(1, 0, 0) }

// first returns the earliest occurrence still open at now, or the next to open before limit.
func (w Window) first(now, limit time.Time) (Occurrence, bool) {
	s, loc, fixedHours, err := w.schedule()
	if err != nil {
		return Occurrence{}, false
	}
	d := time.Duration(w.Duration)
	// The first start after now-d is the earliest occurrence still open at now, if any.
	for t := s.Next(now.Add(-d)); !t.IsZero() && t.Before(limit); {
		o := Occurrence{Start: t, End: t.Add(d)}
		if until, blocked := w.blackoutEnd(o); blocked {
			// Every start after t and before the blackout ends falls in it too: skip them all
			// (a blackout over a year would otherwise cost a step per minute).
			if next := s.Next(until.Add(-time.Second)); next.After(t) {
				t = next
				continue
			}
		} else if o.End.After(now) && !(fixedHours && repeatedWallClock(t, loc)) {
			return o, true
		}
		t = s.Next(t)
	}
	return Occurrence{}, false
}

// Span is an opening of a window as the engine uses it: overlapping and touching occurrences
// joined (see Current).
type Span struct {
	Occurrence
	// OpenNow is set on a span open at the time asked about; its start is then at or before it.
	OpenNow bool `json:"open_now"`
	// Continues is set when the window is still open at End: Spans stopped following it there
	// (a window that opens every minute for an hour never closes).
	Continues bool `json:"continues,omitempty"`
}

// spanReach is how far Spans follows a window that stays open: a span is joined until it has
// been open this long after now (or after its start, when it opens later).
const spanReach = 7 * 24 * time.Hour

// Spans returns up to n openings from now on, the open one first, as the engine will use them:
// each starts after the one before has closed, and only the first may have started before now.
func (w Window) Spans(now time.Time, n int) []Span {
	var out []Span
	for at := now; ; {
		o, ok := w.Current(at)
		if !ok {
			return out
		}
		k := len(out) - 1
		switch {
		case k >= 0 && !o.Start.After(out[k].End):
			// Still open where the last span stopped: the same span goes on.
			if out[k].End.Sub(later(now, out[k].Start)) >= spanReach {
				out[k].Continues = true
				return out
			}
			out[k].End = later(out[k].End, o.End)
		case len(out) == n:
			return out
		default:
			out = append(out, Span{Occurrence: o, OpenNow: !o.Start.After(now)})
		}
		at = out[len(out)-1].End
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Next returns up to n openings from now on, the open one first (Spans without its flags).
func (w Window) Next(now time.Time, n int) []Occurrence {
	var out []Occurrence
	for _, s := range w.Spans(now, n) {
		out = append(out, s.Occurrence)
	}
	return out
}

func (w Window) blackedOut(o Occurrence) bool {
	_, blocked := w.blackoutEnd(o)
	return blocked
}

// blackoutEnd reports whether o overlaps a blackout, and when the last blackout it overlaps ends.
func (w Window) blackoutEnd(o Occurrence) (until time.Time, blocked bool) {
	for _, b := range w.Blackouts {
		if o.Start.Before(b.To) && o.End.After(b.From) {
			until, blocked = later(until, b.To), true
		}
	}
	return until, blocked
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

// String is Go's duration text ("168h0m0s"), as logs and messages print it.
func (d Duration) String() string { return time.Duration(d).String() }
