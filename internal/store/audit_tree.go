package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/audit"
)

// The audit trail is also a Merkle tree log: every committed event is a leaf (audit.Event.Leaf)
// and the hash of every complete subtree is kept in audit_nodes in the same transaction as the
// events, so that proofs are served from a few rows. audit_head carries the tree's size and
// root beside the chain head.

// auditNode is one stored subtree hash.
type auditNode struct {
	Level int    `gorm:"primaryKey;autoIncrement:false"`
	Idx   int64  `gorm:"primaryKey;autoIncrement:false"`
	Hash  string // hex
}

func (auditNode) TableName() string { return "audit_nodes" }

// treeMigration is the migration that adds the tree; Migrate builds it from the chain after.
const treeMigration = 16

// treeState is the committer's compact range of the whole tree, kept between transactions so
// that appending needs no read; it is rebuilt from audit_nodes when another process moved the
// head (PostgreSQL) or a transaction failed.
type treeState struct {
	rng  *compact.Range
	root string
}

// appendLeaves adds events to the tree of head in tx: their nodes are inserted and the new
// size and root are returned with the range to keep once the transaction commits.
func (s *Store) appendLeaves(tx *gorm.DB, size int64, root string, events []audit.Event) (*compact.Range, string, error) {
	rng, err := s.rangeAt(tx, size, root)
	if err != nil {
		return nil, "", err
	}
	nodes := make([]auditNode, 0, 2*len(events))
	visit := func(id compact.NodeID, h []byte) {
		nodes = append(nodes, auditNode{Level: int(id.Level), Idx: int64(id.Index), Hash: hex.EncodeToString(h)})
	}
	for _, e := range events {
		if uint64(e.Seq) != rng.End()+1 {
			return nil, "", fmt.Errorf("audit tree: event %d cannot follow a tree of %d leaves", e.Seq, rng.End())
		}
		if err := rng.Append(e.LeafHash(), visit); err != nil {
			return nil, "", err
		}
	}
	for i := 0; i < len(nodes); i += 500 {
		if err := tx.Create(nodes[i:min(i+500, len(nodes))]).Error; err != nil {
			return nil, "", fmt.Errorf("audit tree: store nodes: %w", err)
		}
	}
	return rng, hex.EncodeToString(audit.Root(rng)), nil
}

// rangeAt is a private copy of the compact range of the tree of size with root: the cached one
// when it matches, or one read from audit_nodes.
func (s *Store) rangeAt(tx *gorm.DB, size int64, root string) (*compact.Range, error) {
	if t := s.tree; t != nil && t.rng.End() == uint64(size) && t.root == root {
		return audit.Ranges.NewRange(0, uint64(size), slices.Clone(t.rng.Hashes()))
	}
	rng, err := audit.RangeAt(uint64(size), nodeReader(tx))
	if err != nil {
		return nil, fmt.Errorf("audit tree: read the tree of %d events: %w", size, err)
	}
	if got := hex.EncodeToString(audit.Root(rng)); size > 0 && got != root {
		return nil, fmt.Errorf("audit tree: the stored nodes of the tree of %d events hash to %s, but the head says %s", size, got, root)
	}
	return rng, nil
}

// nodeReader reads stored subtree hashes with tx.
func nodeReader(tx *gorm.DB) audit.NodeReader {
	return func(ids []compact.NodeID) ([][]byte, error) {
		out := make([][]byte, len(ids))
		if len(ids) == 0 {
			return out, nil
		}
		var where []string
		var args []any
		for _, id := range ids {
			where = append(where, "(level = ? AND idx = ?)")
			args = append(args, int(id.Level), int64(id.Index))
		}
		var rows []auditNode
		if err := tx.Where(strings.Join(where, " OR "), args...).Find(&rows).Error; err != nil {
			return nil, err
		}
		byID := map[compact.NodeID][]byte{}
		for _, r := range rows {
			h, err := hex.DecodeString(r.Hash)
			if err != nil || len(h) != 32 {
				return nil, fmt.Errorf("stored node %d/%d is not a SHA-256 hash", r.Level, r.Idx)
			}
			byID[compact.NewNodeID(uint(r.Level), uint64(r.Idx))] = h
		}
		for i, id := range ids {
			h, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("%w: level %d, index %d", audit.ErrMissingNode, id.Level, id.Index)
			}
			out[i] = h
		}
		return out, nil
	}
}

// buildTree adds the events that are not leaves yet (a trail kept before the tree, on the
// first start after the upgrade) to the tree, in order, in one transaction with the head
// locked: nothing is appended meanwhile, and a crash leaves the tree as it was.
func (s *Store) buildTree(ctx context.Context) error {
	var built *treeState
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		head, err := s.lockHead(tx)
		if err != nil {
			return err
		}
		if head.TreeSize >= head.Seq {
			return nil
		}
		built, err = s.catchUpTree(tx, head, head.Seq)
		if err != nil {
			return err
		}
		s.log.Info("audit events added to the Merkle tree log", "events", head.Seq-head.TreeSize, "size", head.Seq)
		return tx.Model(&auditHead{}).Where("id = 1").Updates(map[string]any{"tree_size": head.Seq, "tree_root": built.root}).Error
	})
	if err == nil && built != nil {
		s.tree = built
	}
	return err
}

// catchUpTree adds the committed events after head's tree, up to event upTo, to the tree in
// tx, and returns the tree they make. A process that does not know the tree (one of an older
// version, during a rolling upgrade) may have appended them.
func (s *Store) catchUpTree(tx *gorm.DB, head auditHead, upTo int64) (*treeState, error) {
	size, root := head.TreeSize, head.TreeRoot
	t := &treeState{root: root}
	for size < upTo {
		page, err := s.auditPageTx(tx, size, int(min(verifyPage, upTo-size)))
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return nil, fmt.Errorf("audit tree: the chain head is event %d but the events end at %d", upTo, size)
		}
		rng, r, err := s.appendLeaves(tx, size, root, page)
		if err != nil {
			return nil, err
		}
		t = &treeState{rng: rng, root: r}
		size, root = int64(rng.End()), r
	}
	return t, nil
}

// AuditTreeHead reads the committed log's size and root hash.
func (s *Store) AuditTreeHead(ctx context.Context) (int64, []byte, error) {
	var head auditHead
	if err := s.db.WithContext(ctx).Take(&head, "id = 1").Error; err != nil {
		return 0, nil, err
	}
	if head.TreeSize == 0 {
		return 0, audit.EmptyRoot(), nil
	}
	root, err := hex.DecodeString(head.TreeRoot)
	if err != nil {
		return 0, nil, fmt.Errorf("audit head: tree root %q is not hex", head.TreeRoot)
	}
	return head.TreeSize, root, nil
}

// BeyondLogError refuses a proof about events the log does not hold: Param names the request
// parameter at fault and Problem says why, in the reader's terms.
type BeyondLogError struct{ Param, Problem string }

func (e *BeyondLogError) Error() string { return e.Param + ": " + e.Problem }

// InclusionProof proves that event seq is in the log of size events: the event, its leaf and
// the audit path. size 0 means the log as it is now.
func (s *Store) InclusionProof(ctx context.Context, seq, size int64) (audit.Event, [][]byte, int64, error) {
	cur, _, err := s.AuditTreeHead(ctx)
	if err != nil {
		return audit.Event{}, nil, 0, err
	}
	if size == 0 {
		size = cur
	}
	switch {
	case size > cur:
		return audit.Event{}, nil, 0, &BeyondLogError{"tree_size", fmt.Sprintf("%d is larger than the log, which holds %d events", size, cur)}
	case seq < 1 || seq > size:
		return audit.Event{}, nil, 0, &BeyondLogError{"seq", fmt.Sprintf("event %d is not in a log of %d events", seq, size)}
	}
	evs, err := s.auditPage(ctx, seq-1, 1)
	if err != nil {
		return audit.Event{}, nil, 0, err
	}
	if len(evs) != 1 || evs[0].Seq != seq {
		return audit.Event{}, nil, 0, fmt.Errorf("audit tree: event %d is missing from the trail", seq)
	}
	path, err := audit.InclusionProof(uint64(seq-1), uint64(size), nodeReader(s.db.WithContext(ctx)))
	if err != nil {
		return audit.Event{}, nil, 0, err
	}
	return evs[0], path, size, nil
}

// InclusionPath is the audit path of event seq in the log of size events, from stored nodes
// alone; the caller knows both are in the log.
func (s *Store) InclusionPath(ctx context.Context, seq, size int64) ([][]byte, error) {
	return audit.InclusionProof(uint64(seq-1), uint64(size), nodeReader(s.db.WithContext(ctx)))
}

// ConsistencyProof proves that the log of size to extends the log of size from; to 0 means
// the log as it is now.
func (s *Store) ConsistencyProof(ctx context.Context, from, to int64) ([][]byte, int64, error) {
	cur, _, err := s.AuditTreeHead(ctx)
	if err != nil {
		return nil, 0, err
	}
	if to == 0 {
		to = cur
	}
	switch {
	case to > cur:
		return nil, 0, &BeyondLogError{"to", fmt.Sprintf("%d is larger than the log, which holds %d events", to, cur)}
	case from < 0 || from > to:
		return nil, 0, &BeyondLogError{"from", fmt.Sprintf("%d is larger than to (%d): a log cannot extend a larger one", from, to)}
	}
	if from == 0 {
		return [][]byte{}, to, nil
	}
	path, err := audit.ConsistencyProof(uint64(from), uint64(to), nodeReader(s.db.WithContext(ctx)))
	return path, to, err
}

// TreeRootAt is the root of the log's first size events, from the stored nodes.
func (s *Store) TreeRootAt(ctx context.Context, size int64) ([]byte, error) {
	rng, err := audit.RangeAt(uint64(size), nodeReader(s.db.WithContext(ctx)))
	if err != nil {
		return nil, err
	}
	return audit.Root(rng), nil
}
