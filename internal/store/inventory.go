package store

import (
	"context"

	"gorm.io/gorm"
)

// where applies the filter to a query of assets.
func (f AssetFilter) where(q *gorm.DB) *gorm.DB {
	if f.ZoneID != "" {
		q = q.Where("zone_id = ?", f.ZoneID)
	}
	if f.SiteID != "" {
		q = q.Where("zone_id IN (SELECT id FROM zones WHERE site_id = ?)", f.SiteID)
	}
	if f.ProductID != "" {
		q = q.Where("product_id = ?", f.ProductID)
	}
	if f.Adapter != "" {
		q = q.Where("adapter = ?", f.Adapter)
	}
	if f.IDs != nil {
		q = q.Where("id IN ?", f.IDs)
	}
	return q
}

// AssetPage reads at most n assets of the filter in name order, those whose name sorts after
// after ("" reads from the first). Asset names are unique (the table says so), so the name
// alone is the page key: the query reads n rows of the name index, never the whole table.
func (s *Store) AssetPage(ctx context.Context, f AssetFilter, after string, n int) ([]Asset, error) {
	out := []Asset{}
	q := f.where(s.db.WithContext(ctx)).Order("name").Limit(n)
	if after != "" {
		q = q.Where("name > ?", after)
	}
	return out, q.Find(&out).Error
}

// AssetNamesTaken returns which of names are names of assets in the inventory.
func (s *Store) AssetNamesTaken(ctx context.Context, names []string) (map[string]bool, error) {
	taken := map[string]bool{}
	// Bounded batches keep each query under the databases' limits on bound parameters.
	const batch = 1000
	for start := 0; start < len(names); start += batch {
		var found []string
		err := s.db.WithContext(ctx).Model(&Asset{}).Where("name IN ?", names[start:min(start+batch, len(names))]).Pluck("name", &found).Error
		if err != nil {
			return nil, err
		}
		for _, n := range found {
			taken[n] = true
		}
	}
	return taken, nil
}

// VendorKey loads one of a vendor's keys.
func (s *Store) VendorKey(ctx context.Context, vendorID, keyID string) (VendorKey, error) {
	var k VendorKey
	return k, notFound(s.db.WithContext(ctx).Take(&k, "id = ? AND vendor_id = ?", keyID, vendorID).Error, "vendor key "+keyID)
}

// Site loads one site.
func (s *Store) Site(ctx context.Context, id string) (Site, error) {
	var site Site
	return site, notFound(s.db.WithContext(ctx).Take(&site, "id = ?", id).Error, "site "+id)
}
