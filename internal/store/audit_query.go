package store

import (
	"context"

	"github.com/otpatch/otpatch/internal/audit"
)

// EachAuditEvent calls fn for every event f selects, in sequence order, reading the trail a
// page at a time so that an export of any size holds one page in memory. f.Limit is the page
// size (default 1000). fn's error stops the walk and is returned.
func (s *Store) EachAuditEvent(ctx context.Context, f AuditFilter, fn func(audit.Event) error) error {
	for {
		page, err := s.AuditEvents(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) == 0 || (f.Limit > 0 && len(page) < f.Limit) || (f.Limit <= 0 && len(page) < 1000) {
			return nil
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}
