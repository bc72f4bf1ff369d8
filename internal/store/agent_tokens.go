package store

import (
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// An agent's bearer token authenticates every request of its agent, and an idle fleet would
// read its tokens row for each long poll. While the notifications of other processes are
// relayed (agent_notify.go), an agent token that authenticated once authenticates from memory
// until an agent credential is revoked — here or in another process — or the relay is
// interrupted: then every kept agent token is forgotten and read again. Revocations are rare,
// and forgetting them all needs no knowledge of which token a credential holds.
//
// Only agent tokens are kept. Personal tokens and browser sessions end in ways no notification
// tells (a user disabled, a role taken away, an expiry), so they are read for every request.
//
// When a kept token was last used is noted in memory, as the table has it — at most once a
// minute per token — and written with the agents' last contact, for all tokens in the same
// statement (agent_liveness.go). Agent tokens are never listed with the personal tokens; their
// last_used_at in the table is at most AgentLivenessEvery behind.

// agentTokens are the agent tokens that authenticated, by their hash. jobWaiters.mu guards it.
type agentTokens struct {
	byHash map[string]Token
}

// forget forgets every agent token. w.mu is held.
func (a *agentTokens) forget() { clear(a.byHash) }

// agentToken is the agent token of hash when it is kept and notifications are relayed, with
// its last use noted; otherwise ok is false and l is the lookup to begin.
func (s *Store) agentToken(hash string) (t Token, l credentialLook, ok bool) {
	w := &s.jobWaiters
	now := s.Now()
	used := false
	w.mu.Lock()
	l = credentialLook{gaps: w.gaps, revocations: w.creds.revocations}
	t, ok = w.tokens.byHash[hash]
	switch {
	case !ok || w.relays == 0:
		ok = false
	case domain.TokenStateAt(t.RevokedAt, t.ExpiresAt, now) != domain.TokenActive:
		delete(w.tokens.byHash, hash) // read again: the table says why it no longer works
		ok = false
	case t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute:
		t.LastUsedAt, used = &now, true
		w.tokens.byHash[hash] = t
	}
	w.mu.Unlock()
	if used {
		s.jobWaiters.live.use(t.ID, now)
	}
	if !ok {
		return Token{}, l, false
	}
	return t, l, true
}

// keepAgentToken keeps t, read by the lookup l, when it is an agent token and no revocation or
// gap happened since the lookup began.
func (s *Store) keepAgentToken(hash string, t Token, l credentialLook) {
	if t.UserID != nil || t.Role != string(RoleAgent) {
		return
	}
	w := &s.jobWaiters
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.relays == 0 || l != (credentialLook{gaps: w.gaps, revocations: w.creds.revocations}) {
		return
	}
	if w.tokens.byHash == nil {
		w.tokens.byHash = map[string]Token{}
	}
	w.tokens.byHash[hash] = t
}
