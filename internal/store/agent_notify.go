package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// An agent's long poll waits for a signal that a job may have been queued for its asset,
// instead of reading the database every few hundred milliseconds: idle agents cost no queries
// while they wait. Queuing a job signals the waiters of this process after the commit; on
// PostgreSQL it also sends NOTIFY in the same transaction, and ListenAgentJobs relays those to
// this process's waiters, so a job a worker process queues wakes the API process's poll.

// agentJobChannel is the PostgreSQL notification channel; the payload is the asset id.
const agentJobChannel = "otpatch_agent_jobs"

type jobWaiters struct {
	mu      sync.Mutex
	byAsset map[string]map[chan struct{}]struct{}
}

// AgentJobSignal subscribes to the jobs of assetID: the channel receives (at most one pending
// value) whenever a job may have been queued for it. Subscribe before looking for a job, so
// that one queued in between is not missed; call cancel when done.
func (s *Store) AgentJobSignal(assetID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w := &s.jobWaiters
	w.mu.Lock()
	if w.byAsset == nil {
		w.byAsset = map[string]map[chan struct{}]struct{}{}
	}
	if w.byAsset[assetID] == nil {
		w.byAsset[assetID] = map[chan struct{}]struct{}{}
	}
	w.byAsset[assetID][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.byAsset[assetID], ch)
		if len(w.byAsset[assetID]) == 0 {
			delete(w.byAsset, assetID)
		}
		w.mu.Unlock()
	}
}

// signalAgentJob wakes the waiters of assetID; "" wakes every waiter (after a lost
// connection, when notifications may have been missed).
func (s *Store) signalAgentJob(assetID string) {
	w := &s.jobWaiters
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, chans := range w.byAsset {
		if assetID != "" && id != assetID {
			continue
		}
		for ch := range chans {
			select {
			case ch <- struct{}{}:
			default: // one pending signal is enough
			}
		}
	}
}

// ListenAgentJobs relays the job notifications of other processes to this one's waiters
// (PostgreSQL; nothing to do on SQLite, where one process holds the database). It returns once
// it listens, and keeps listening — reconnecting, and waking every waiter to look again after a
// gap — until ctx ends.
func (s *Store) ListenAgentJobs(ctx context.Context) error {
	if s.dialect != "postgres" {
		return nil
	}
	conn, err := s.listen(ctx)
	if err != nil {
		return err
	}
	go func() {
		backoff := time.Second
		for {
			for {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					break
				}
				s.signalAgentJob(n.Payload)
				backoff = time.Second
			}
			_ = conn.Close(context.Background())
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("agent job notifications interrupted; agents' long polls wait until their deadline until they resume", "retry_in", backoff)
			for conn = nil; conn == nil; {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
				if conn, err = s.listen(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("agent job notifications: reconnecting failed", "err", err, "retry_in", backoff)
				}
			}
			s.signalAgentJob("") // whatever was queued during the gap
		}
	}()
	return nil
}

func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	if s.dsn == "" {
		return nil, errors.New("agent job notifications: no database URL")
	}
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return nil, fmt.Errorf("agent job notifications: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+agentJobChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("agent job notifications: listen: %w", err)
	}
	return conn, nil
}
