package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
)

// Tail protection: at start and periodically the server checks the log against the newest
// signed checkpoint and against the largest log it has seen; what does not hold raises a
// critical alarm, turns /readyz unready (AuditHealth) and is logged.

// AuditHealth is what the last check of the audit log found.
type AuditHealth struct {
	OK      bool      `json:"ok"`
	Checked time.Time `json:"checked"`
	// Full says the check recomputed every event (VerifyAudit), not only the tail.
	Full    bool   `json:"full"`
	Events  int64  `json:"events"`
	Problem string `json:"problem,omitempty"`
}

// AuditHealth is the result of the last check, or nil before the first.
func (s *Store) AuditHealth() *AuditHealth { return s.auditHealth.Load() }

// CheckAuditTail is the quick check: the log is no smaller than any log this process has seen
// committed or signed, nor than the newest checkpoint, and its stored tree has that
// checkpoint's root at that checkpoint's size. It reads a few rows, not the events.
func (s *Store) CheckAuditTail(ctx context.Context) (AuditHealth, error) {
	// What this process saw and signed is read before the log: the log can only have grown
	// since, so a smaller log is a cut one, never a race with an append.
	c := s.checkpointer.Load()
	var seen int64
	var newest *audit.TreeCheckpoint
	if c != nil {
		var err error
		seen = c.Seen()
		if newest, err = c.Latest(ctx); err != nil {
			return AuditHealth{}, err
		}
	}
	size, _, err := s.AuditTreeHead(ctx)
	if err != nil {
		return AuditHealth{}, err
	}
	h := AuditHealth{OK: true, Checked: s.Now(), Events: size}
	if c == nil {
		return h, nil
	}
	if size < seen {
		h.OK, h.Problem = false, fmt.Sprintf("the audit log holds %d events, but this server saw it hold %d: events %d to %d were removed from the tail", size, seen, size+1, seen)
		return h, nil
	}
	if newest == nil {
		return h, nil
	}
	if newest.Size > size {
		h.OK, h.Problem = false, fmt.Sprintf("the newest signed checkpoint says the audit log held %d events, but it holds %d: events %d to %d were removed from the tail", newest.Size, size, size+1, newest.Size)
		return h, nil
	}
	root, err := s.TreeRootAt(ctx, newest.Size)
	if errors.Is(err, audit.ErrMissingNode) {
		h.OK, h.Problem = false, fmt.Sprintf("the stored audit tree of %d events is incomplete (%v): it was tampered with", newest.Size, err)
		return h, nil
	}
	if err != nil {
		return AuditHealth{}, err // the check could not run; that says nothing about the log
	}
	if !bytes.Equal(root, newest.Root) {
		h.OK, h.Problem = false, fmt.Sprintf("the audit tree of %d events does not have the root its signed checkpoint says: the log was rewritten", newest.Size)
	}
	return h, nil
}

// checkAuditFull recomputes every event against the newest checkpoint, and checks the tail.
func (s *Store) checkAuditFull(ctx context.Context) (AuditHealth, error) {
	res, err := s.verifyAgainstNewest(ctx)
	if err != nil {
		return AuditHealth{}, err
	}
	if !res.OK {
		return AuditHealth{OK: false, Checked: s.Now(), Full: true, Events: res.Events, Problem: fmt.Sprintf("event %d: %s", res.BrokenAt, res.Problem)}, nil
	}
	h, err := s.CheckAuditTail(ctx)
	h.Full = true
	return h, err
}

// WatchOptions configure WatchAudit.
type WatchOptions struct {
	// Tail is how often the quick check runs (default 1 min); Full how often every event is
	// recomputed (default 1 h).
	Tail, Full time.Duration
}

// WatchAudit checks the log now — the quick check before it returns, every event right after
// — and then every Tail and Full until ctx ends. A log found broken is logged and raises one
// critical alarm, and stays reported by AuditHealth until a later full check passes. The
// channel it returns closes when the watch has stopped.
func (s *Store) WatchAudit(ctx context.Context, opt WatchOptions) <-chan struct{} {
	if opt.Tail <= 0 {
		opt.Tail = time.Minute
	}
	if opt.Full <= 0 {
		opt.Full = time.Hour
	}
	s.auditCheck(ctx, s.CheckAuditTail)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.auditCheck(ctx, s.checkAuditFull)
		tail, full := time.NewTicker(opt.Tail), time.NewTicker(opt.Full)
		defer tail.Stop()
		defer full.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tail.C:
				s.auditCheck(ctx, s.CheckAuditTail)
			case <-full.C:
				s.auditCheck(ctx, s.checkAuditFull)
			}
		}
	}()
	return done
}

func (s *Store) auditCheck(ctx context.Context, check func(context.Context) (AuditHealth, error)) {
	h, err := check(ctx)
	if ctx.Err() != nil {
		return // shutting down: what a check cut short found says nothing
	}
	if err != nil {
		s.log.Error("audit log check could not run; it runs again at the next interval", "err", err)
		return
	}
	prev := s.auditHealth.Load()
	wasBroken := prev != nil && !prev.OK
	if h.OK && !h.Full && wasBroken {
		return // a quick check does not clear what a full one found
	}
	s.auditHealth.Store(&h)
	if h.OK || wasBroken {
		return // one alarm when the log is found broken, not one per check while it stays so
	}
	s.log.Error("AUDIT LOG BROKEN", "problem", h.Problem)
	sum := sha256.Sum256([]byte(h.Problem))
	al := Alarm{ID: "alm_audit_" + hex.EncodeToString(sum[:8]), Kind: "audit_log_broken", Severity: "critical",
		Message:  "The audit log does not verify: " + h.Problem + ". Preserve the database and the object store as they are and investigate; the evidence the log gives is in doubt.",
		RaisedAt: s.Now()}
	if err := s.RaiseAlarm(ctx, &al, Event{Actor: "otpatch", Role: "system", Action: "audit.broken", Details: map[string]any{"problem": h.Problem}}); err != nil && ctx.Err() == nil {
		s.log.Error("raise the audit alarm", "err", err)
	}
}
