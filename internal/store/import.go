package store

import (
	"context"

	"gorm.io/gorm"
)

// CreateAssets adds assets all or nothing: every row and the one audit event ev (which should
// name them all) are written in one transaction. Assets without an id get one; the times are
// the store clock's. A name already in the inventory fails the whole import with ErrConflict.
func (s *Store) CreateAssets(ctx context.Context, as []Asset, ev Event) error {
	now := s.Now()
	for i := range as {
		as[i].CreatedAt, as[i].UpdatedAt = now, now
		if as[i].ID == "" {
			as[i].ID = NewID("ast")
		}
	}
	if ev.SubjectType == "" {
		ev.SubjectType = "asset_import"
	}
	return notFound(s.Write(ctx, ev, func(tx *gorm.DB) error {
		for i := range as {
			if err := tx.Create(&as[i]).Error; err != nil {
				return notFound(err, "asset "+as[i].Name)
			}
		}
		return nil
	}), "asset import")
}
