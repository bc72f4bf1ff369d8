package store

import (
	"context"
	"time"
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
	if f.AfterID != "" {
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", f.AfterCreated, f.AfterCreated, f.AfterID)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	out := []Patch{}
	return out, q.Order("created_at DESC, id DESC").Find(&out).Error
}
