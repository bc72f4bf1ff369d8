package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/otpatch/otpatch/internal/signing"
)

// HeadFunc reads the chain's committed head (sequence 0 for an empty chain).
type HeadFunc func(ctx context.Context) (seq int64, hash string, err error)

// CheckpointerOptions configure NewCheckpointer.
type CheckpointerOptions struct {
	// Key signs the checkpoints. `otpatch dev` keeps it in its data folder
	// (LoadOrCreateCheckpointKey); production reads it from a configured file or variable
	// (ParseCheckpointKey).
	Key   ed25519.PrivateKey
	Store CheckpointStore
	// Every is how many events may follow a checkpoint before the next (default 1000);
	// Interval is the longest time between checkpoints while events arrive (default 10 min).
	Every    int64
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Checkpointer signs the chain's head and writes it to the checkpoint store every Every
// events or every Interval, whichever comes first. The store tells it about each committed
// event (Appended); Run does the writing, off the request path.
type Checkpointer struct {
	key      ed25519.PrivateKey
	pub      ed25519.PublicKey
	store    CheckpointStore
	every    int64
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
	kick     chan struct{}

	mu       sync.Mutex
	headSeq  int64  // newest committed event this process knows of
	headHash string //
	lastSeq  int64  // newest checkpoint written or found
	lastAt   time.Time
	loaded   bool
	writeMu  sync.Mutex // one checkpoint write at a time
}

// NewCheckpointer builds a checkpointer from its key and store.
func NewCheckpointer(opt CheckpointerOptions) (*Checkpointer, error) {
	if len(opt.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("checkpointer: an ed25519 private key is required")
	}
	if opt.Store == nil {
		return nil, errors.New("checkpointer: a checkpoint store is required")
	}
	if opt.Every <= 0 {
		opt.Every = 1000
	}
	if opt.Interval <= 0 {
		opt.Interval = 10 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Checkpointer{key: opt.Key, pub: opt.Key.Public().(ed25519.PublicKey), store: opt.Store, every: opt.Every,
		interval: opt.Interval, now: opt.Now, log: opt.Logger, kick: make(chan struct{}, 1)}, nil
}

// PublicKey is the key that verifies the checkpoints; it is published at /api/v1/audit/key.
func (c *Checkpointer) PublicKey() ed25519.PublicKey { return c.pub }

// Fingerprint names the public key.
func (c *Checkpointer) Fingerprint() string { return signing.Fingerprint(c.pub) }

// Store is where the checkpoints are kept.
func (c *Checkpointer) Store() CheckpointStore { return c.store }

// Appended records that event seq with hash was committed; when Every events have passed
// since the last checkpoint it wakes Run. It never blocks.
func (c *Checkpointer) Appended(seq int64, hash string) {
	c.mu.Lock()
	if seq > c.headSeq {
		c.headSeq, c.headHash = seq, hash
	}
	due := c.headSeq-c.lastSeq >= c.every
	c.mu.Unlock()
	if due {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// Run writes checkpoints until ctx ends: when Appended says Every events have passed, and
// every Interval when the head moved since the last one. head reads the committed head from
// the database, so a process that appends nothing itself still checkpoints what others wrote.
func (c *Checkpointer) Run(ctx context.Context, head HeadFunc) error {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		if _, err := c.checkpointIfDue(ctx, head); err != nil && ctx.Err() == nil {
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

// checkpointIfDue writes a checkpoint of the database's head when Every events or Interval
// passed since the last one.
func (c *Checkpointer) checkpointIfDue(ctx context.Context, head HeadFunc) (bool, error) {
	if err := c.load(ctx); err != nil {
		return false, err
	}
	seq, hash, err := head(ctx)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	due := seq > c.lastSeq && (seq-c.lastSeq >= c.every || c.now().Sub(c.lastAt) >= c.interval)
	c.mu.Unlock()
	if !due {
		return false, nil
	}
	_, err = c.Checkpoint(ctx, seq, hash)
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
	cps, err := c.store.Checkpoints(ctx, 0)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loaded = true
	if c.lastAt.IsZero() {
		c.lastAt = c.now() // with no checkpoint yet, the interval counts from the start
	}
	if n := len(cps); n > 0 && cps[n-1].Seq > c.lastSeq {
		c.lastSeq = cps[n-1].Seq
		if t, err := time.Parse(TimeLayout, cps[n-1].At); err == nil {
			c.lastAt = t
		}
	}
	return nil
}

// Checkpoint signs (seq, hash) now and writes it. seq must be a committed event.
func (c *Checkpointer) Checkpoint(ctx context.Context, seq int64, hash string) (Checkpoint, error) {
	if seq <= 0 {
		return Checkpoint{}, errors.New("checkpoint: the chain is empty")
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	now := c.now()
	cp := SignCheckpoint(c.key, seq, hash, FormatTime(now))
	if err := c.store.PutCheckpoint(ctx, cp); err != nil {
		return Checkpoint{}, err
	}
	c.mu.Lock()
	if seq > c.lastSeq {
		c.lastSeq, c.lastAt = seq, now
	}
	c.mu.Unlock()
	c.log.Debug("audit checkpoint written", "seq", seq, "head", hash)
	return cp, nil
}

// CheckpointHead writes a checkpoint of the current head unless one exists for it already,
// and returns the checkpoint that covers the head: evidence exports call it so that the
// events they contain are covered.
func (c *Checkpointer) CheckpointHead(ctx context.Context, head HeadFunc) (Checkpoint, error) {
	seq, hash, err := head(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	cps, err := c.store.Checkpoints(ctx, seq)
	if err != nil {
		return Checkpoint{}, err
	}
	for _, cp := range cps {
		if cp.Seq == seq && cp.HeadHash == hash && cp.Verify(c.pub) == nil {
			return cp, nil
		}
	}
	if seq == 0 {
		return Checkpoint{}, fmt.Errorf("checkpoint: the chain is empty")
	}
	return c.Checkpoint(ctx, seq, hash)
}

// evidenceDomain separates evidence-bundle signatures from checkpoint signatures made with the
// same key.
const evidenceDomain = "otpatch-evidence-sha256sums-v1\n"

// SignEvidence signs an evidence bundle's SHA256SUMS with the checkpoint key, so that an
// auditor holding only the published key can check that no file of the bundle was altered.
func (c *Checkpointer) SignEvidence(sums []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(c.key, append([]byte(evidenceDomain), sums...)))
}

// VerifyEvidence checks a SHA256SUMS signature made by SignEvidence.
func VerifyEvidence(pub ed25519.PublicKey, sums []byte, sig string) bool {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	return err == nil && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, append([]byte(evidenceDomain), sums...), raw)
}
