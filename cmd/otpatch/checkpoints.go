package main

import (
	"context"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
)

// startCheckpoints signs audit checkpoints into the object store every 1,000 events or 10
// minutes, under object-lock retention when the bucket has it. keyPath names the ed25519
// signing key, created on first use; without one checkpoints are off and said so.
func (d *deps) startCheckpoints(ctx context.Context, keyPath string) error {
	if keyPath == "" {
		d.log.Warn("audit checkpoints are off: set OTPATCH_CHECKPOINT_KEY_FILE to a signing key file")
		return nil
	}
	key, err := audit.LoadOrCreateCheckpointKey(keyPath)
	if err != nil {
		return err
	}
	cps, err := audit.NewObjectCheckpoints(ctx, d.objects, 0, nil)
	if err != nil {
		return err
	}
	cp, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: key, Store: cps, Every: 1000, Interval: 10 * time.Minute, Logger: d.log})
	if err != nil {
		return err
	}
	d.store.SetCheckpointer(cp)
	go func() {
		if err := cp.Run(ctx, d.store.AuditHead); err != nil && ctx.Err() == nil {
			d.log.Error("audit checkpoints stopped", "err", err)
		}
	}()
	if !cps.Locked() {
		d.log.Warn("the bucket has no object lock: audit checkpoints are signed but not retention-protected; create it with object lock in production")
	}
	return nil
}
