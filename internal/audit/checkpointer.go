package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/otpatch/otpatch/internal/signing"
)

// TreeHeadFunc reads the log's committed size and root hash (0 and the empty root for an
// empty log).
type TreeHeadFunc func(ctx context.Context) (size int64, root []byte, err error)

// CheckpointerOptions configure NewCheckpointer.
type CheckpointerOptions struct {
	// Key signs the checkpoints. `otpatch dev` keeps it in its data folder
	// (LoadOrCreateCheckpointKey); production reads it from a configured file or variable
	// (ParseCheckpointKey).
	Key ed25519.PrivateKey
	// Origin names the log in every checkpoint (DefaultOrigin of the key when empty).
	Origin string
	Store  CheckpointStore
	// Every is how many events may follow a checkpoint before the next (default 1000);
	// Interval is the longest time an event stays unsigned (default 60 s).
	Every    int64
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// DefaultCheckpointInterval is the longest an event waits for a signed checkpoint.
const DefaultCheckpointInterval = time.Minute

// Checkpointer signs the log's size and root hash as a checkpoint note and writes it to the
// checkpoint store every Every events or every Interval while there are unsigned events, and
// once more at clean shutdown (Close). The store tells it about each committed event
// (Appended); Run does the writing, off the request path. It also remembers the largest log
// this process has seen, so that a log that shrinks under it is noticed (Seen).
type Checkpointer struct {
	key      ed25519.PrivateKey
	pub      ed25519.PublicKey
	origin   string
	store    CheckpointStore
	every    int64
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
	kick     chan struct{}

	mu      sync.Mutex
	seen    int64 // largest committed size this process knows of
	last    int64 // size of the newest checkpoint written or found
	lastAt  time.Time
	loaded  bool
	newest  *TreeCheckpoint // the newest checkpoint written or found
	writeMu sync.Mutex      // one checkpoint write at a time
}

// NewCheckpointer builds a checkpointer from its key and store.
func NewCheckpointer(opt CheckpointerOptions) (*Checkpointer, error) {
	if len(opt.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("checkpointer: an ed25519 private key is required")
	}
	if opt.Store == nil {
		return nil, errors.New("checkpointer: a checkpoint store is required")
	}
	pub := opt.Key.Public().(ed25519.PublicKey)
	if opt.Origin == "" {
		opt.Origin = DefaultOrigin(pub)
	}
	if err := ValidOrigin(opt.Origin); err != nil {
		return nil, err
	}
	if opt.Every <= 0 {
		opt.Every = 1000
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultCheckpointInterval
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Checkpointer{key: opt.Key, pub: pub, origin: opt.Origin, store: opt.Store, every: opt.Every,
		interval: opt.Interval, now: opt.Now, log: opt.Logger, kick: make(chan struct{}, 1)}, nil
}

// PublicKey is the key that verifies the checkpoints; it is published at /api/v1/audit/key.
func (c *Checkpointer) PublicKey() ed25519.PublicKey { return c.pub }

// Fingerprint names the public key.
func (c *Checkpointer) Fingerprint() string { return signing.Fingerprint(c.pub) }

// Origin names the log.
func (c *Checkpointer) Origin() string { return c.origin }

// VerifierKey is the note verifier key of the checkpoints.
func (c *Checkpointer) VerifierKey() string { return VerifierKey(c.pub, c.origin) }

// Store is where the checkpoints are kept.
func (c *Checkpointer) Store() CheckpointStore { return c.store }

// Interval is the longest an event stays unsigned.
func (c *Checkpointer) Interval() time.Duration { return c.interval }

// Appended records that the log reached size; when Every events have passed since the last
// checkpoint it wakes Run. It never blocks.
func (c *Checkpointer) Appended(size int64) {
	c.mu.Lock()
	c.seen = max(c.seen, size)
	due := c.seen-c.last >= c.every
	c.mu.Unlock()
	if due {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// Seen is the largest log size this process has seen committed or signed: the log in the
// database must never be smaller.
func (c *Checkpointer) Seen() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.seen, c.last)
}

// Run writes checkpoints until ctx ends: when Appended says Every events have passed, and
// every Interval when the log grew since the last one. head reads the committed log from the
// database, so a process that appends nothing itself still checkpoints what others wrote.
func (c *Checkpointer) Run(ctx context.Context, head TreeHeadFunc) error {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		if _, err := c.checkpointIfDue(ctx, head, false); err != nil && ctx.Err() == nil {
			c.log.Error("audit checkpoint failed; retrying at the next event or interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-tick.C:
		}
	}
}

// Close signs the log as it is now, when any event is unsigned: a clean shutdown leaves no
// event outside a checkpoint.
func (c *Checkpointer) Close(ctx context.Context, head TreeHeadFunc) error {
	_, err := c.checkpointIfDue(ctx, head, true)
	return err
}

// checkpointIfDue writes a checkpoint of the database's log when Every events or Interval
// passed since the last one (or always, when it grew, with force).
func (c *Checkpointer) checkpointIfDue(ctx context.Context, head TreeHeadFunc, force bool) (bool, error) {
	if err := c.load(ctx); err != nil {
		return false, err
	}
	size, root, err := head(ctx)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	c.seen = max(c.seen, size)
	due := size > c.last && (force || size-c.last >= c.every || c.now().Sub(c.lastAt) >= c.interval)
	c.mu.Unlock()
	if !due {
		return false, nil
	}
	_, err = c.Checkpoint(ctx, size, root)
	return err == nil, err
}

// load finds the newest stored checkpoint once, so a restarted process carries on from it.
func (c *Checkpointer) load(ctx context.Context) error {
	c.mu.Lock()
	loaded := c.loaded
	c.mu.Unlock()
	if loaded {
		return nil
	}
	newest, err := c.Newest(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loaded = true
	if c.lastAt.IsZero() {
		c.lastAt = c.now() // with no checkpoint yet, the interval counts from the start
	}
	if newest != nil && newest.Size > c.last {
		c.last, c.newest = newest.Size, newest
	}
	return nil
}

// Latest is the newest checkpoint this process wrote or found in the store when it started
// (nil when there is none), without listing the store again.
func (c *Checkpointer) Latest(ctx context.Context) (*TreeCheckpoint, error) {
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.newest, nil
}

// Newest is the newest checkpoint in the store signed by this key, or nil. It lists the sizes
// and reads the notes of the largest first, not every note.
func (c *Checkpointer) Newest(ctx context.Context) (*TreeCheckpoint, error) {
	sizes, err := c.store.NoteSizes(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(sizes) - 1; i >= 0; i-- {
		if i < len(sizes)-1 && sizes[i] == sizes[i+1] {
			continue
		}
		notes, err := c.store.Notes(ctx, sizes[i])
		if err != nil {
			return nil, err
		}
		for _, n := range notes {
			if cp, err := OpenTreeWithKey(n, c.pub); err == nil && cp.Size == sizes[i] {
				return &cp, nil
			}
		}
	}
	return nil, nil
}

// Checkpoint signs (size, root) and writes it. size must be committed.
func (c *Checkpointer) Checkpoint(ctx context.Context, size int64, root []byte) (TreeCheckpoint, error) {
	if size <= 0 {
		return TreeCheckpoint{}, errors.New("checkpoint: the log is empty")
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	cp, err := SignTree(c.key, c.origin, size, root)
	if err != nil {
		return TreeCheckpoint{}, err
	}
	if err := c.store.PutNote(ctx, cp); err != nil {
		return TreeCheckpoint{}, err
	}
	c.mu.Lock()
	if size > c.last {
		c.last, c.lastAt, c.newest = size, c.now(), &cp
	}
	c.mu.Unlock()
	c.log.Debug("audit checkpoint written", "size", size)
	return cp, nil
}

// CheckpointHead returns a checkpoint of the log as it is now, writing one unless the newest
// stored checkpoint already has its size: evidence exports call it so that every event they
// contain is covered by one checkpoint.
func (c *Checkpointer) CheckpointHead(ctx context.Context, head TreeHeadFunc) (TreeCheckpoint, error) {
	size, root, err := head(ctx)
	if err != nil {
		return TreeCheckpoint{}, err
	}
	if size == 0 {
		return TreeCheckpoint{}, fmt.Errorf("checkpoint: the log is empty")
	}
	newest, err := c.Newest(ctx)
	if err != nil {
		return TreeCheckpoint{}, err
	}
	if newest != nil && newest.Size == size && RootEqual(newest.Root, root) {
		return *newest, nil
	}
	return c.Checkpoint(ctx, size, root)
}

// SignEvidence signs an evidence bundle's SHA256SUMS with the checkpoint key: the raw ed25519
// signature of exactly those bytes, which `openssl pkeyutl -verify -rawin` checks. It cannot be
// mistaken for a checkpoint signature: a checkpoint's signed text starts with the origin, a
// SHA256SUMS file with 64 hex digits.
func (c *Checkpointer) SignEvidence(sums []byte) []byte { return ed25519.Sign(c.key, sums) }

// VerifyEvidence checks a SHA256SUMS signature made by SignEvidence.
func VerifyEvidence(pub ed25519.PublicKey, sums, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, sums, sig)
}
