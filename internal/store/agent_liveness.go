package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// When an agent was last heard from is kept in memory and written for all agents together:
// every request of an agent, and every moment it waits in a long poll, counts as contact, but an
// idle fleet costs one UPDATE per AgentLivenessEvery, not one per agent. Readers in this process
// (AgentCredentials, AgentLastSeen) see the contacts not yet written, so they are exact here;
// readers in another process — the agent adapter in a worker — see last_seen_at at most
// AgentLivenessEvery (plus the time one write takes) older than the last contact, provided
// RunAgentLiveness runs in the process that serves the agents. Contacts of the last interval
// before the process stops are not written. When agent tokens authenticated from memory were
// last used (agent_tokens.go) is written by the same statement.

// AgentLivenessEvery is how often RunAgentLiveness writes when agents were last heard from.
const AgentLivenessEvery = 5 * time.Second

// agentLiveness is what was heard from agents and is not written yet.
type agentLiveness struct {
	mu sync.Mutex
	// heard is when each credential's agent was last heard from; waiting counts the long
	// polls each credential has open now, which are contact until they end.
	heard   map[string]time.Time
	waiting map[string]int
	// used is when each agent token (by id) authenticating from memory was last used.
	used map[string]time.Time
}

// use records that agent token tokenID authenticated a request at t.
func (l *agentLiveness) use(tokenID string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used == nil {
		l.used = map[string]time.Time{}
	}
	if t.After(l.used[tokenID]) {
		l.used[tokenID] = t
	}
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

// pending is what is to be written: each contact heard, and now for each agent waiting, by
// credential; each token's last use, by token.
func (l *agentLiveness) pending(now time.Time) (seen, used map[string]time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen = make(map[string]time.Time, len(l.heard)+len(l.waiting))
	for id, t := range l.heard {
		seen[id] = t
	}
	for id := range l.waiting {
		seen[id] = now
	}
	return seen, maps.Clone(l.used)
}

// written forgets the contacts seen and the uses used, now written, unless a later one came
// since.
func (l *agentLiveness) written(seen, used map[string]time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, t := range seen {
		if !l.heard[id].After(t) {
			delete(l.heard, id)
		}
	}
	for id, t := range used {
		if !l.used[id].After(t) {
			delete(l.used, id)
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
// the last write and every agent waiting in a long poll, and when the agent tokens that
// authenticated from memory were last used: one statement on PostgreSQL, one per
// sqliteLivenessBatch agents (or tokens) on SQLite. What it could not write is kept for the
// next time.
func (s *Store) FlushAgentLiveness(ctx context.Context) error {
	seen, used := s.jobWaiters.live.pending(s.Now())
	if len(seen) == 0 && len(used) == 0 {
		return nil
	}
	if err := s.writeLiveness(ctx, seen, used); err != nil {
		return fmt.Errorf("record when %d agents were last heard from and %d agent tokens last used: %w", len(seen), len(used), err)
	}
	s.jobWaiters.live.written(seen, used)
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

// sqliteLivenessBatch bounds the rows of one statement on SQLite (three parameters each).
const sqliteLivenessBatch = 300

// writeLiveness writes each credential's last contact (seen) and each token's last use (used),
// never moving either back: another API process may have heard from the agent later.
func (s *Store) writeLiveness(ctx context.Context, seen, used map[string]time.Time) error {
	db := s.db.WithContext(ctx)
	if s.dialect == "postgres" {
		heard, err := timesJSON(seen)
		if err != nil {
			return err
		}
		tokens, err := timesJSON(used)
		if err != nil {
			return err
		}
		// One statement: PostgreSQL runs the UPDATE in WITH to completion whether or not the
		// outer one reads it.
		return db.Exec(`WITH heard AS (
				UPDATE agent_credentials AS c SET last_seen_at = v.at
				FROM json_to_recordset(CAST(? AS json)) AS v(id text, at timestamptz)
				WHERE c.id = v.id AND (c.last_seen_at IS NULL OR c.last_seen_at < v.at)
				RETURNING c.id)
			UPDATE tokens AS t SET last_used_at = v.at
			FROM json_to_recordset(CAST(? AS json)) AS v(id text, at timestamptz)
			WHERE t.id = v.id AND (t.last_used_at IS NULL OR t.last_used_at < v.at)`, heard, tokens).Error
	}
	if err := sqliteStamp(db, "agent_credentials", "last_seen_at", seen); err != nil {
		return err
	}
	return sqliteStamp(db, "tokens", "last_used_at", used)
}

// timesJSON is times as the JSON array of {id, at} that json_to_recordset reads, by id.
func timesJSON(times map[string]time.Time) (string, error) {
	type row struct {
		ID string    `json:"id"`
		At time.Time `json:"at"`
	}
	rows := make([]row, 0, len(times))
	for _, id := range slices.Sorted(maps.Keys(times)) {
		rows = append(rows, row{ID: id, At: times[id]})
	}
	b, err := json.Marshal(rows)
	return string(b), err
}

// sqliteStamp sets column of table's rows to times, by id, sqliteLivenessBatch rows a
// statement. table and column are constants of this file.
func sqliteStamp(db *gorm.DB, table, column string, times map[string]time.Time) error {
	for batch := range slices.Chunk(slices.Sorted(maps.Keys(times)), sqliteLivenessBatch) {
		var q strings.Builder
		args := make([]any, 0, 2*len(batch)+1)
		fmt.Fprintf(&q, "UPDATE %s SET %s = CASE id", table, column)
		for _, id := range batch {
			q.WriteString(" WHEN ? THEN ?")
			args = append(args, id, times[id])
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
