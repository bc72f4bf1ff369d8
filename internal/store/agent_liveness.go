package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// When an agent was last heard from is kept in memory and written for all agents together:
// every request of an agent, and every moment it waits in a long poll, counts as contact, but an
// idle fleet costs one UPDATE per AgentLivenessEvery, not one per agent. Readers in this process
// (AgentCredentials, AgentLastSeen) see the contacts not yet written, so they are exact here;
// readers in another process — the agent adapter in a worker — see last_seen_at at most
// AgentLivenessEvery (plus the time one write takes) older than the last contact, provided
// RunAgentLiveness runs in the process that serves the agents. Contacts of the last interval
// before the process stops are not written.

// AgentLivenessEvery is how often RunAgentLiveness writes when agents were last heard from.
const AgentLivenessEvery = 5 * time.Second

// agentLiveness is what was heard from agents and is not written yet.
type agentLiveness struct {
	mu sync.Mutex
	// heard is when each credential's agent was last heard from; waiting counts the long
	// polls each credential has open now, which are contact until they end.
	heard   map[string]time.Time
	waiting map[string]int
}

// hear records contact with credID's agent at t.
func (l *agentLiveness) hear(credID string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.heard == nil {
		l.heard = map[string]time.Time{}
	}
	if t.After(l.heard[credID]) {
		l.heard[credID] = t
	}
}

// at is when credID's agent was last heard from as far as memory knows (zero: not since the
// last write).
func (l *agentLiveness) at(credID string, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting[credID] > 0 {
		return now
	}
	return l.heard[credID]
}

// pending is what is to be written: each contact heard, and now for each agent waiting.
func (l *agentLiveness) pending(now time.Time) map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]time.Time, len(l.heard)+len(l.waiting))
	for id, t := range l.heard {
		out[id] = t
	}
	for id := range l.waiting {
		out[id] = now
	}
	return out
}

// written forgets the contacts seen, now written, unless one was heard since.
func (l *agentLiveness) written(seen map[string]time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, t := range seen {
		if !l.heard[id].After(t) {
			delete(l.heard, id)
		}
	}
}

// TouchAgent records that a credential's agent was heard from now. It is bookkeeping, not a
// change of state, so it is not in the audit trail, and it is kept in memory until
// RunAgentLiveness (or FlushAgentLiveness) writes it. A request whose ctx ended is no contact:
// its error is returned.
func (s *Store) TouchAgent(ctx context.Context, credID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.jobWaiters.live.hear(credID, s.Now())
	return nil
}

// AgentWaiting records that a credential's agent waits in a long poll from now until done is
// called: all that time it counts as heard from.
func (s *Store) AgentWaiting(credID string) (done func()) {
	l := &s.jobWaiters.live
	l.mu.Lock()
	if l.waiting == nil {
		l.waiting = map[string]int{}
	}
	l.waiting[credID]++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			now := s.Now()
			l.mu.Lock()
			if l.waiting[credID]--; l.waiting[credID] <= 0 {
				delete(l.waiting, credID)
			}
			l.mu.Unlock()
			l.hear(credID, now)
		})
	}
}

// FlushAgentLiveness writes when agents were last heard from, for every agent heard from since
// the last write and every agent waiting in a long poll: one statement on PostgreSQL, one per
// sqliteLivenessBatch agents on SQLite. What it could not write is kept for the next time.
func (s *Store) FlushAgentLiveness(ctx context.Context) error {
	seen := s.jobWaiters.live.pending(s.Now())
	if len(seen) == 0 {
		return nil
	}
	if err := s.writeLiveness(ctx, seen); err != nil {
		return fmt.Errorf("record when %d agents were last heard from: %w", len(seen), err)
	}
	s.jobWaiters.live.written(seen)
	return nil
}

// RunAgentLiveness writes when agents were last heard from every AgentLivenessEvery until ctx
// ends. The process that serves the agents runs it.
func (s *Store) RunAgentLiveness(ctx context.Context) {
	t := time.NewTicker(AgentLivenessEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.FlushAgentLiveness(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("agents' last contact is not written; it is kept and written again in a few seconds", "err", err)
			}
		}
	}
}

// sqliteLivenessBatch bounds the agents of one statement on SQLite (three parameters each).
const sqliteLivenessBatch = 300

func (s *Store) writeLiveness(ctx context.Context, seen map[string]time.Time) error {
	db := s.db.WithContext(ctx)
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if s.dialect == "postgres" {
		type contact struct {
			ID string    `json:"id"`
			At time.Time `json:"at"`
		}
		rows := make([]contact, len(ids))
		for i, id := range ids {
			rows[i] = contact{ID: id, At: seen[id]}
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		// Never backwards: another API process may have heard from the agent later.
		return db.Exec(`UPDATE agent_credentials AS c SET last_seen_at = v.at
			FROM json_to_recordset(CAST(? AS json)) AS v(id text, at timestamptz)
			WHERE c.id = v.id AND (c.last_seen_at IS NULL OR c.last_seen_at < v.at)`, string(b)).Error
	}
	for batch := range slices.Chunk(ids, sqliteLivenessBatch) {
		var q strings.Builder
		args := make([]any, 0, 2*len(batch)+1)
		q.WriteString("UPDATE agent_credentials SET last_seen_at = CASE id")
		for _, id := range batch {
			q.WriteString(" WHEN ? THEN ?")
			args = append(args, id, seen[id])
		}
		q.WriteString(" END WHERE id IN ?")
		if err := db.Exec(q.String(), append(args, batch)...).Error; err != nil {
			return err
		}
	}
	return nil
}

// withLiveness is c with the contacts of its agent not yet written.
func (s *Store) withLiveness(c AgentCredential) AgentCredential {
	if t := s.jobWaiters.live.at(c.ID, s.Now()); !t.IsZero() && (c.LastSeenAt == nil || t.After(*c.LastSeenAt)) {
		c.LastSeenAt = &t
	}
	return c
}
