package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/otpatch/otpatch/internal/audit"
)

// Every change and its audit event go through one committer goroutine that groups the
// changes waiting at that moment into one transaction: each change runs in its own savepoint
// (a failing one is rolled back alone), the events are chained in order and inserted
// together, the chain head moves once, and one commit makes them all durable. The audit
// chain needs its head locked from read to commit; grouping shares that lock and the commit
// among concurrent writers instead of queuing them one commit at a time.

// maxGroup bounds how many changes one transaction carries.
const maxGroup = 64

// errClosed answers writes after Close.
var errClosed = errors.New("store: closed")

type writeReq struct {
	ctx  context.Context
	fn   func(tx *gorm.DB) (Event, error)
	done chan writeRes
}

type writeRes struct {
	ev  audit.Event
	err error
}

func (s *Store) startCommitter() {
	s.reqs = make(chan *writeReq, 256)
	s.stop = make(chan struct{})
	s.stopped = make(chan struct{})
	go s.committer()
}

func (s *Store) stopCommitter() {
	if s.stop == nil {
		return
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.stopped
}

// commit runs fn and appends the event it returns, in one transaction with whatever other
// changes are waiting; it returns the sealed event. fn must use only the tx it is given.
func (s *Store) commit(ctx context.Context, fn func(tx *gorm.DB) (Event, error)) (audit.Event, error) {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan writeRes, 1)}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return audit.Event{}, ctx.Err()
	case <-s.stop:
		return audit.Event{}, errClosed
	}
	// Once queued the change may commit, so the answer is awaited whatever ctx does.
	res := <-req.done
	return res.ev, res.err
}

func (s *Store) committer() {
	defer close(s.stopped)
	for {
		var group []*writeReq
		select {
		case r := <-s.reqs:
			group = append(group, r)
		case <-s.stop:
			for {
				select {
				case r := <-s.reqs:
					r.done <- writeRes{err: errClosed}
				default:
					return
				}
			}
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		s.commitGroup(group)
	}
}

func (s *Store) commitGroup(group []*writeReq) {
	results := make([]writeRes, len(group))
	var events []audit.Event
	var owners []int
	savepoints := len(group) > 1
	var tree *treeState
	err := s.db.Transaction(func(tx *gorm.DB) error {
		head, err := s.lockHead(tx)
		if err != nil {
			return err
		}
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			if savepoints {
				if err := tx.SavePoint("change").Error; err != nil {
					return err
				}
			}
			// The change runs whatever its caller's context does from here: on PostgreSQL a query
			// cancelled mid-way closes the connection, which would lose the whole group's
			// transaction for every other caller in it.
			ev, err := r.fn(tx.WithContext(context.WithoutCancel(r.ctx)))
			var e audit.Event
			if err == nil {
				e, err = s.seal(ev, head.Seq, head.Hash)
			}
			if err != nil {
				if !savepoints {
					return err
				}
				if rerr := tx.RollbackTo("change").Error; rerr != nil {
					return rerr
				}
				results[i].err = err
				continue
			}
			head.Seq, head.Hash = e.Seq, e.Hash
			events = append(events, e)
			owners = append(owners, i)
		}
		if len(events) == 0 {
			return nil
		}
		treeSize, treeRoot := head.TreeSize, head.TreeRoot
		if before := head.Seq - int64(len(events)); treeSize < before {
			// Events appended without the tree (an older process during a rolling upgrade):
			// they become leaves first, in order.
			prior := head
			prior.Seq = before
			t, err := s.catchUpTree(tx, prior, before)
			if err != nil {
				return err
			}
			treeSize, treeRoot = before, t.root
		}
		rng, root, err := s.appendLeaves(tx, treeSize, treeRoot, events)
		if err != nil {
			return err
		}
		tree = &treeState{rng: rng, root: root}
		rows := make([]auditRow, len(events))
		for i, e := range events {
			rows[i] = auditRow(e)
		}
		if err := tx.Create(&rows).Error; err != nil {
			return fmt.Errorf("append audit events: %w", err)
		}
		if err := tx.Model(&auditHead{}).Where("id = 1").Updates(map[string]any{"seq": head.Seq, "hash": head.Hash, "tree_size": int64(rng.End()), "tree_root": root}).Error; err != nil {
			return fmt.Errorf("move audit head: %w", err)
		}
		return nil
	})
	if err != nil {
		for i := range results {
			if results[i].err == nil {
				results[i].err = err
			}
		}
		s.tree = nil
	} else {
		if tree != nil {
			s.tree = tree
		}
		for k, i := range owners {
			results[i].ev = events[k]
			s.appended(events[k])
		}
	}
	for i, r := range group {
		r.done <- results[i]
	}
}

// seal canonicalises ev's details and links it after the head (seq, hash).
func (s *Store) seal(ev Event, headSeq int64, headHash string) (audit.Event, error) {
	details, err := audit.CanonicalDetails(ev.Details)
	if err != nil {
		return audit.Event{}, err
	}
	e := audit.Event{At: audit.FormatTime(s.now()), Actor: ev.Actor, Role: ev.Role, Action: ev.Action,
		SubjectType: ev.SubjectType, SubjectID: ev.SubjectID, CampaignID: ev.CampaignID, PatchID: ev.PatchID,
		AssetID: ev.AssetID, RequestID: ev.RequestID, WorkflowID: ev.WorkflowID, Details: details}
	e.Seal(headSeq, headHash)
	return e, nil
}

// lockHead reads the audit head in tx and holds it until tx ends (PostgreSQL row lock; SQLite
// transactions take the write lock when they begin).
func (s *Store) lockHead(tx *gorm.DB) (auditHead, error) {
	var head auditHead
	q := tx.Model(&auditHead{}).Where("id = 1")
	if s.dialect == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Take(&head).Error; err != nil {
		return head, fmt.Errorf("read audit head: %w", err)
	}
	return head, nil
}
