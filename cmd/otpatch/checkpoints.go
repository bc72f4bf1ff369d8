package main

import (
	"context"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/store"
)

// startCheckpoints signs the audit log's size and root into the object store as checkpoint
// notes — every 1,000 events, at least every audit checkpoint interval while events are
// unsigned, and at clean shutdown — under object-lock retention when the bucket has it, and
// starts the watch that checks the log against them (at start, every checkpoint interval for
// the tail, every verify interval for every event). The key file names the ed25519 signing
// key, created on first use; without one checkpoints are off and said so.
func (d *deps) startCheckpoints(ctx context.Context, c *config) error {
	if c.checkpointKey == "" {
		d.log.Warn("audit checkpoints are off: set OTPATCH_CHECKPOINT_KEY_FILE to a signing key file")
		d.auditWatch = d.store.WatchAudit(ctx, store.WatchOptions{Tail: c.auditCheckpointEvery, Full: c.auditVerifyEvery})
		return nil
	}
	key, err := audit.LoadOrCreateCheckpointKey(c.checkpointKey)
	if err != nil {
		return err
	}
	cps, err := audit.NewObjectCheckpoints(ctx, d.objects, 0, nil)
	if err != nil {
		return err
	}
	cp, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: key, Origin: c.auditOrigin, Store: cps, Every: 1000, Interval: c.auditCheckpointEvery, Logger: d.log})
	if err != nil {
		return err
	}
	d.store.SetCheckpointer(cp)
	d.auditWatch = d.store.WatchAudit(ctx, store.WatchOptions{Tail: c.auditCheckpointEvery, Full: c.auditVerifyEvery})
	go func() {
		if err := cp.Run(ctx, d.store.AuditTreeHead); err != nil && ctx.Err() == nil {
			d.log.Error("audit checkpoints stopped", "err", err)
		}
	}()
	d.finalCheckpoint = func() {
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cp.Close(fctx, d.store.AuditTreeHead); err != nil {
			d.log.Error("the final audit checkpoint was not written; the newest events are unsigned until the next start", "err", err)
		}
	}
	if !cps.Locked() {
		d.log.Warn("the bucket has no object lock: audit checkpoints are signed but not retention-protected; create it with object lock in production")
	}
	return nil
}
