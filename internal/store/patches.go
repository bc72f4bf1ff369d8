package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// PatchFilter selects a page of patches. Every field left empty selects all.
type PatchFilter struct {
	Status    string
	VendorID  string
	ProductID string
	// AfterCreated and AfterID are the creation time and id of the last patch of the previous
	// page; zero for the first page.
	AfterCreated time.Time
	AfterID      string
	// Limit is how many patches to read at most.
	Limit int
}

// PatchesPage reads the patches f selects, newest first (ties by id, descending), after f's
// last one: one keyset page, so a page costs the same however many patches there are.
func (s *Store) PatchesPage(ctx context.Context, f PatchFilter) ([]Patch, error) {
	q := s.db.WithContext(ctx).Model(&Patch{})
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.VendorID != "" {
		q = q.Where("vendor_id = ?", f.VendorID)
	}
	if f.ProductID != "" {
		q = q.Where("product_id = ?", f.ProductID)
	}
	q = newestFirst(q, "created_at", f.AfterCreated, f.AfterID, f.Limit)
	out := []Patch{}
	return out, q.Find(&out).Error
}

// newestFirst orders q newest first by the time column (ties by id, descending) and keeps the
// keyset page after the row at afterAt with afterID ("": the first page), at most limit rows
// (0: no limit). The lists of patches, campaigns, alarms and advisories page this way, so a
// page costs the same however many rows there are.
func newestFirst(q *gorm.DB, column string, afterAt time.Time, afterID string, limit int) *gorm.DB {
	if afterID != "" {
		q = q.Where("("+column+" < ? OR ("+column+" = ? AND id < ?))", afterAt, afterAt, afterID)
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	return q.Order(column + " DESC, id DESC")
}
