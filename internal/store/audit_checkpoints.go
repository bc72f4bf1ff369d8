package store

import (
	"context"
	"crypto/ed25519"
	"errors"

	"github.com/otpatch/otpatch/internal/audit"
)

// SetCheckpointer attaches the audit checkpointer: from now on every committed event is
// reported to it, and VerifyAudit compares the chain with its signed checkpoints. The caller
// runs it (go c.Run(ctx, st.AuditHead)).
func (s *Store) SetCheckpointer(c *audit.Checkpointer) { s.checkpointer.Store(c) }

// Checkpointer is the attached checkpointer, or nil.
func (s *Store) Checkpointer() *audit.Checkpointer { return s.checkpointer.Load() }

func (s *Store) appended(e audit.Event) {
	if c := s.checkpointer.Load(); c != nil {
		c.Appended(e.Seq)
	}
}

// AuditHead reads the committed head of the chain (0, "" when it is empty).
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var head auditHead
	if err := s.db.WithContext(ctx).Take(&head, "id = 1").Error; err != nil {
		return 0, "", err
	}
	return head.Seq, head.Hash, nil
}

// VerifyAudit recomputes the whole log in pages — every event's chain hash and its leaf in
// the Merkle tree — and compares its end with the recorded head; with a checkpointer attached
// it also compares the log with every signed checkpoint, which detects a log rewritten with
// recomputed hashes or cut short with the head moved back.
func (s *Store) VerifyAudit(ctx context.Context) (audit.Result, error) {
	c := s.checkpointer.Load()
	if c == nil {
		return s.verifyChain(ctx, audit.NewVerifier())
	}
	return s.VerifyAuditWith(ctx, c.PublicKey(), c.Store())
}

// VerifyAuditWith verifies the log against the checkpoints in cps, which must be signed by
// pub (`otpatch audit verify` with the published key and the object store): every tree
// checkpoint note, each with the origin its first line names and its signature covers (a log whose origin was renamed keeps its older checkpoints), and the older chain
// checkpoints.
func (s *Store) VerifyAuditWith(ctx context.Context, pub ed25519.PublicKey, cps audit.CheckpointStore) (audit.Result, error) {
	v := audit.NewVerifier()
	list, err := cps.Checkpoints(ctx, 0)
	if errors.Is(err, audit.ErrBadCheckpoint) {
		return audit.Result{OK: false, Problem: err.Error() + ": the checkpoint store was tampered with"}, nil
	}
	if err != nil {
		return audit.Result{}, err
	}
	v.UseCheckpoints(pub, list)
	notes, err := cps.Notes(ctx, 0)
	if errors.Is(err, audit.ErrBadCheckpoint) {
		return audit.Result{OK: false, Problem: err.Error() + ": the checkpoint store was tampered with"}, nil
	}
	if err != nil {
		return audit.Result{}, err
	}
	v.UseNotes(pub, notes)
	return s.verifyChain(ctx, v)
}

// verifyAgainstNewest recomputes every event and compares the log with the newest checkpoint
// only: every root commits to all the events before it, so an event rewritten or removed under
// any checkpoint changes the newest one's root too, and the periodic check reads one note
// instead of every note ever written.
func (s *Store) verifyAgainstNewest(ctx context.Context) (audit.Result, error) {
	v := audit.NewVerifier()
	if c := s.checkpointer.Load(); c != nil {
		newest, err := c.Newest(ctx)
		if errors.Is(err, audit.ErrBadCheckpoint) {
			return audit.Result{OK: false, Problem: err.Error() + ": the checkpoint store was tampered with"}, nil
		}
		if err != nil {
			return audit.Result{}, err
		}
		if newest != nil {
			v.UseNotes(c.PublicKey(), [][]byte{newest.Note})
		}
	}
	return s.verifyChain(ctx, v)
}
