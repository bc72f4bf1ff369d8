package store

// The reads an idle fleet would repeat for every long poll, and that the store skips while the
// notifications of other processes are relayed (agent_notify.go): whether an asset has an
// unfinished job, and which credential an agent token is. Each answer is kept only if nothing
// that could change it was signalled while it was read, and is forgotten at every gap.

// idleAssets are the assets found without an unfinished job, with no job queued for them since.
type idleAssets struct {
	none map[string]struct{}
	// changes counts, by asset, the jobs queued for it that were signalled; a look that began
	// before one is not kept.
	changes map[string]uint64
}

// queued forgets that assetID is idle. w.mu is held.
func (a *idleAssets) queued(assetID string) {
	if a.changes == nil {
		a.changes = map[string]uint64{}
	}
	a.changes[assetID]++
	delete(a.none, assetID)
}

// forget forgets every idle asset. w.mu is held.
func (a *idleAssets) forget() { clear(a.none) }

// jobLook is a look for an asset's next job as it began: the store's gaps and the asset's
// changes then.
type jobLook struct{ gaps, changes uint64 }

// lookForJob begins a look for assetID's next job; idle is true when the asset is known to
// have none, and then there is nothing to read.
func (w *jobWaiters) lookForJob(assetID string) (l jobLook, idle bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, idle = w.idle.none[assetID]
	return jobLook{gaps: w.gaps, changes: w.idle.changes[assetID]}, idle && w.relays > 0
}

// noJob records that the look l found no unfinished job of assetID, unless a job was signalled
// or a gap happened since it began.
func (w *jobWaiters) noJob(assetID string, l jobLook) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.relays == 0 || l != (jobLook{gaps: w.gaps, changes: w.idle.changes[assetID]}) {
		return
	}
	if w.idle.none == nil {
		w.idle.none = map[string]struct{}{}
	}
	w.idle.none[assetID] = struct{}{}
}

// credentialCache is the valid agent credentials by their token's hash.
type credentialCache struct {
	byHash map[string]AgentCredential
	// revocations counts the revocations signalled; a lookup that began before one is not kept.
	revocations uint64
}

// forget forgets every credential. w.mu is held.
func (c *credentialCache) forget() {
	clear(c.byHash)
	c.revocations++
}

// credentialLook is a lookup of a token as it began.
type credentialLook struct{ gaps, revocations uint64 }

// cachedAgent is the credential of the token hash, when it is known.
func (w *jobWaiters) cachedAgent(hash string) (AgentCredential, credentialLook, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.creds.byHash[hash]
	return c, credentialLook{gaps: w.gaps, revocations: w.creds.revocations}, ok && w.relays > 0
}

// keepAgent keeps the credential the lookup l found, unless a revocation or a gap happened
// since it began.
func (w *jobWaiters) keepAgent(hash string, c AgentCredential, l credentialLook) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.relays == 0 || l != (credentialLook{gaps: w.gaps, revocations: w.creds.revocations}) {
		return
	}
	if w.creds.byHash == nil {
		w.creds.byHash = map[string]AgentCredential{}
	}
	c.LastSeenAt = nil // read from the liveness when it is handed out
	w.creds.byHash[hash] = c
}

// forgetAgentCredential forgets the credential id, and every kept agent token: it was revoked.
func (s *Store) forgetAgentCredential(id string) {
	w := &s.jobWaiters
	w.mu.Lock()
	defer w.mu.Unlock()
	w.creds.revocations++
	w.tokens.forget()
	for h, c := range w.creds.byHash {
		if c.ID == id {
			delete(w.creds.byHash, h)
		}
	}
}
