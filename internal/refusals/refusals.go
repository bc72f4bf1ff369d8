// Package refusals tallies refused authentications per source address and minute and writes
// each tally to the audit trail as one auth.refused event with the count, so a flood of bad
// credentials grows the hash-chained trail by a fixed bound instead of one event per request.
//
// The bound: at most one event per source address and minute, for at most MaxSources source
// addresses a minute; refusals from further sources that minute share one event whose subject
// is OtherSources. Memory is bounded the same way, and each event's details are bounded too
// (distinct paths and reasons are capped, paths truncated).
package refusals

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/store"
)

// Appender writes one event into the audit trail.
type Appender interface {
	Append(ctx context.Context, ev store.Event) (audit.Event, error)
}

var _ Appender = (*store.Store)(nil)

// Action is the audit action of a tally event.
const Action = "auth.refused"

// OtherSources is the subject of the event that tallies the refusals from sources beyond
// MaxSources in one minute.
const OtherSources = "other sources"

// DefaultMaxSources is how many source addresses a minute get an event of their own.
const DefaultMaxSources = 1000

// Bounds on one event's details.
const (
	maxPaths   = 10
	maxReasons = 16
	maxPathLen = 200
	maxIDLen   = 100
)

// Refusal is one refused authentication.
type Refusal struct {
	// Source is the client's address, without the port.
	Source string
	// Reason says why, as a short code (bad_token, missing_token, …).
	Reason string
	// Status is the answer given: 401, 403, or 429 once the source is throttled.
	Status    int
	Method    string
	Path      string
	RequestID string
}

// Options configure a Tally.
type Options struct {
	// Now is the clock that assigns refusals to minutes (default time.Now).
	Now func() time.Time
	// MaxSources is how many source addresses a minute are tallied apart (default
	// DefaultMaxSources).
	MaxSources int
	Logger     *slog.Logger
}

// Tally counts refusals per source and minute until they are written.
type Tally struct {
	st         Appender
	now        func() time.Time
	maxSources int
	log        *slog.Logger

	// flushMu serialises writing, so a Flush returns only after every earlier one.
	flushMu sync.Mutex

	mu       sync.Mutex
	minutes  map[time.Time]map[string]*bucket
	latest   time.Time // the newest minute a refusal was added in
	flushing bool      // a flush started by Add is under way
}

// New makes a Tally that writes into st.
func New(st Appender, opt Options) *Tally {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxSources <= 0 {
		opt.MaxSources = DefaultMaxSources
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Tally{st: st, now: opt.Now, maxSources: opt.MaxSources, log: opt.Logger, minutes: map[time.Time]map[string]*bucket{}}
}

// bucket is one source's refusals in one minute.
type bucket struct {
	count                     int
	first, last               time.Time
	statuses                  map[int]int
	reasons                   map[string]int
	paths                     map[string]int
	otherPaths                int
	firstRequest, lastRequest string
}

func (b *bucket) add(r Refusal, now time.Time) {
	if b.count == 0 {
		b.first, b.firstRequest = now, truncate(r.RequestID, maxIDLen)
	}
	b.count++
	b.last, b.lastRequest = now, truncate(r.RequestID, maxIDLen)
	b.statuses[r.Status]++
	reason := truncate(r.Reason, 64)
	if _, seen := b.reasons[reason]; !seen && len(b.reasons) >= maxReasons {
		reason = "other"
	}
	b.reasons[reason]++
	path := truncate(r.Method+" "+r.Path, maxPathLen)
	if _, seen := b.paths[path]; !seen && len(b.paths) >= maxPaths {
		b.otherPaths++
		return
	}
	b.paths[path]++
}

// Add counts one refusal in the current minute. It does no I/O: a minute's tally is written
// by Flush, which Add also starts in the background when it sees that a minute has closed.
func (t *Tally) Add(r Refusal) {
	now := t.now()
	minute := now.UTC().Truncate(time.Minute)
	t.mu.Lock()
	defer t.mu.Unlock()
	sources := t.minutes[minute]
	if sources == nil {
		sources = map[string]*bucket{}
		t.minutes[minute] = sources
	}
	key := r.Source
	b := sources[key]
	if b == nil {
		tracked := len(sources)
		if _, ok := sources[OtherSources]; ok {
			tracked--
		}
		if tracked >= t.maxSources {
			key = OtherSources
			b = sources[key]
		}
	}
	if b == nil {
		b = &bucket{statuses: map[int]int{}, reasons: map[string]int{}, paths: map[string]int{}}
		sources[key] = b
	}
	b.add(r, now)
	if minute.After(t.latest) {
		if !t.latest.IsZero() && !t.flushing {
			t.flushing = true
			go func() {
				_, _ = t.Flush(context.Background())
				t.mu.Lock()
				t.flushing = false
				t.mu.Unlock()
			}()
		}
		t.latest = minute
	}
}

// Flush writes the tallies of every minute that has closed and returns how many events it
// wrote. A tally that cannot be written is logged and dropped, so memory stays bounded
// while the database is away.
func (t *Tally) Flush(ctx context.Context) (int, error) {
	return t.flush(ctx, t.now().UTC().Truncate(time.Minute))
}

// FlushAll writes every tally, the current minute's too: call it at shutdown, after the
// server has stopped taking requests.
func (t *Tally) FlushAll(ctx context.Context) (int, error) {
	return t.flush(ctx, time.Time{})
}

// flush writes the minutes before open (all of them when open is zero).
func (t *Tally) flush(ctx context.Context, open time.Time) (int, error) {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	type due struct {
		minute time.Time
		source string
		b      *bucket
	}
	var out []due
	t.mu.Lock()
	for minute, sources := range t.minutes {
		if !open.IsZero() && !minute.Before(open) {
			continue
		}
		for source, b := range sources {
			out = append(out, due{minute, source, b})
		}
		delete(t.minutes, minute)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b due) int {
		if c := a.minute.Compare(b.minute); c != 0 {
			return c
		}
		return cmp.Compare(a.source, b.source)
	})
	var errs []error
	written := 0
	for _, d := range out {
		if _, err := t.st.Append(ctx, event(d.minute, d.source, d.b)); err != nil {
			t.log.Error("audit append of refused authentications failed; the tally is dropped", "err", err, "source", d.source, "minute", d.minute, "count", d.b.count)
			errs = append(errs, err)
			continue
		}
		written++
	}
	return written, errors.Join(errs...)
}

// Run flushes closed minutes every interval (default 10 s) until ctx ends. It does not
// flush at the end: call FlushAll once the server has stopped.
func (t *Tally) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, _ = t.Flush(ctx)
		}
	}
}

// event is the audit event of one source's minute.
func event(minute time.Time, source string, b *bucket) store.Event {
	details := map[string]any{
		"count":           b.count,
		"minute":          minute.UTC().Format(time.RFC3339),
		"first":           b.first.UTC(),
		"last":            b.last.UTC(),
		"statuses":        b.statuses,
		"reasons":         b.reasons,
		"paths":           b.paths,
		"last_request_id": b.lastRequest,
	}
	if b.otherPaths > 0 {
		details["other_paths"] = b.otherPaths
	}
	return store.Event{Actor: "anonymous", Role: "none", Action: Action, SubjectType: "source", SubjectID: source,
		RequestID: b.firstRequest, Details: details}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
