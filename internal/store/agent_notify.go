package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Pull agents at fleet size cost the database nothing while they wait. An agent's long poll
// waits for a signal that a job may have been queued for its asset, and the agent adapter waits
// for a signal that its job finished, instead of reading the database every few hundred
// milliseconds. A change signals the waiters of this process after its commit; on PostgreSQL it
// also sends NOTIFY in the same transaction, and ListenAgentJobs relays those to this process's
// waiters, so a job a worker process queues wakes the API process's poll, and a result the API
// process records wakes the worker's adapter.
//
// While the notifications of other processes are relayed, the store also skips reads whose
// answer a notification would have changed: an asset found without an unfinished job has none
// until a job is queued for it (agent_idle.go), and an agent token resolves to the same
// credential, and authenticates as the same token (agent_tokens.go), until a credential is
// revoked. Whenever the relay is down or was interrupted those answers are forgotten and read
// again.

// The PostgreSQL notification channels.
const (
	agentJobChannel      = "otpatch_agent_jobs"         // a job was queued for an asset (payload: the asset id)
	agentFinishedChannel = "otpatch_agent_job_finished" // a job finished (payload: the job id)
	agentRevokedChannel  = "otpatch_agent_revoked"      // an agent credential was revoked (payload: its id)
)

// jobWaiters is what the store keeps in memory for pull agents: who waits for what, the answers
// it may reuse while notifications are relayed, and when agents were heard from until that is
// written (agent_liveness.go).
type jobWaiters struct {
	mu sync.Mutex
	// queued are the long polls waiting for a job, by asset; finished the adapters waiting for
	// a job's result, by job.
	queued, finished signals
	// relays counts the connected listeners (ListenAgentJobs): the answers below are kept and
	// used only while one is connected.
	relays int
	// gaps counts the times notifications may have been missed; a read that began before one
	// is not kept.
	gaps   uint64
	idle   idleAssets
	creds  credentialCache
	tokens agentTokens
	live   agentLiveness
}

// signals are channels, by key, that receive (at most one pending value) when the key's thing
// may have changed.
type signals map[string]map[chan struct{}]struct{}

func (s *signals) add(key string, ch chan struct{}) {
	if *s == nil {
		*s = signals{}
	}
	if (*s)[key] == nil {
		(*s)[key] = map[chan struct{}]struct{}{}
	}
	(*s)[key][ch] = struct{}{}
}

func (s signals) remove(key string, ch chan struct{}) {
	delete(s[key], ch)
	if len(s[key]) == 0 {
		delete(s, key)
	}
}

// wake signals the channels of key; "" signals every channel.
func (s signals) wake(key string) {
	for k, chans := range s {
		if key != "" && k != key {
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

// subscribe adds a channel to one of w's signals under key.
func (w *jobWaiters) subscribe(which *signals, key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	which.add(key, ch)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		which.remove(key, ch)
		w.mu.Unlock()
	}
}

// AgentJobSignal subscribes to the jobs of assetID: the channel receives (at most one pending
// value) whenever a job may have been queued for it. Subscribe before looking for a job, so
// that one queued in between is not missed; call cancel when done.
func (s *Store) AgentJobSignal(assetID string) (<-chan struct{}, func()) {
	return s.jobWaiters.subscribe(&s.jobWaiters.queued, assetID)
}

// AgentJobFinishedSignal subscribes to the end of job id: the channel receives (at most one
// pending value) when the job may have finished. Subscribe before reading the job, so that a
// result recorded in between is not missed; call cancel when done.
func (s *Store) AgentJobFinishedSignal(id string) (<-chan struct{}, func()) {
	return s.jobWaiters.subscribe(&s.jobWaiters.finished, id)
}

// signalAgentJob wakes the waiters of assetID, after the asset is no longer known to be idle;
// "" is a gap: every waiter wakes to look again, and every kept answer is forgotten.
func (s *Store) signalAgentJob(assetID string) {
	w := &s.jobWaiters
	w.mu.Lock()
	defer w.mu.Unlock()
	if assetID == "" {
		w.gap()
		return
	}
	w.idle.queued(assetID)
	w.queued.wake(assetID)
}

// signalAgentJobFinished wakes the adapters waiting for job id.
func (s *Store) signalAgentJobFinished(id string) {
	w := &s.jobWaiters
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished.wake(id)
}

// gap forgets what notifications would have corrected and wakes every waiter. w.mu is held.
func (w *jobWaiters) gap() {
	w.gaps++
	w.idle.forget()
	w.creds.forget()
	w.tokens.forget()
	w.queued.wake("")
	w.finished.wake("")
}

// relaying records that a listener connected (on) or lost its connection (off).
func (s *Store) relaying(on bool) {
	w := &s.jobWaiters
	w.mu.Lock()
	defer w.mu.Unlock()
	if on {
		w.relays++
	} else {
		w.relays--
	}
	w.gap()
}

// notify sends a notification on channel at the commit of tx (PostgreSQL; nothing to do on
// SQLite, where one process holds the database).
func (s *Store) notify(tx *gorm.DB, channel, payload string) error {
	if s.dialect != "postgres" {
		return nil
	}
	return tx.Exec(`SELECT pg_notify(?, ?)`, channel, payload).Error
}

// ListenAgentJobs relays the agent notifications of other processes — jobs queued, jobs
// finished, credentials revoked — to this one (PostgreSQL; nothing to do on SQLite, where one
// process holds the database). It returns once it listens, and keeps listening — reconnecting,
// and waking every waiter to look again after a gap — until ctx ends. The API process needs it
// for its agents' long polls, a worker process for its agent adapter's results.
func (s *Store) ListenAgentJobs(ctx context.Context) error {
	if s.dialect != "postgres" {
		return nil
	}
	conn, err := s.listen(ctx)
	if err != nil {
		return err
	}
	s.relaying(true)
	go func() {
		backoff := time.Second
		for {
			for {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					break
				}
				s.relay(n.Channel, n.Payload)
				backoff = time.Second
			}
			s.relaying(false)
			_ = conn.Close(context.Background())
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("agent notifications interrupted; agents' long polls wait until their deadline and job results are read every few seconds until they resume", "retry_in", backoff)
			for conn = nil; conn == nil; {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
				if conn, err = s.listen(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("agent notifications: reconnecting failed", "err", err, "retry_in", backoff)
				}
			}
			s.relaying(true) // a gap: whatever changed meanwhile is looked at again
		}
	}()
	return nil
}

// relay hands one notification of another process to this one's waiters.
func (s *Store) relay(channel, payload string) {
	switch channel {
	case agentJobChannel:
		s.signalAgentJob(payload)
	case agentFinishedChannel:
		s.signalAgentJobFinished(payload)
	case agentRevokedChannel:
		s.forgetAgentCredential(payload)
	}
}

func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	if s.dsn == "" {
		return nil, errors.New("agent notifications: no database URL")
	}
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return nil, fmt.Errorf("agent notifications: connect: %w", err)
	}
	for _, ch := range []string{agentJobChannel, agentFinishedChannel, agentRevokedChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			_ = conn.Close(context.Background())
			return nil, fmt.Errorf("agent notifications: listen on %s: %w", ch, err)
		}
	}
	return conn, nil
}
