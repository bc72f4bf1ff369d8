package store

import (
	"context"
	"fmt"
	"time"

	"github.com/otpatch/otpatch/internal/csaf"
)

// CSAFInventory is the inventory as advisories are matched against it: each product of a
// known vendor under the vendor's names, and each asset with its installed version.
type CSAFInventory struct {
	Products []csaf.Product
	Assets   []csaf.Asset
	ByID     map[string]Asset
}

// AdvisoryInventory answers today's inventory for matching advisories (csaf.Match).
func (s *Store) AdvisoryInventory(ctx context.Context) (*CSAFInventory, error) {
	vendors, err := s.Vendors(ctx)
	if err != nil {
		return nil, err
	}
	vendorNames := map[string][]string{}
	for _, v := range vendors {
		vendorNames[v.ID] = []string{v.Name, v.DisplayName}
	}
	products, err := s.Products(ctx, "")
	if err != nil {
		return nil, err
	}
	assets, err := s.Assets(ctx, AssetFilter{})
	if err != nil {
		return nil, err
	}
	inv := &CSAFInventory{ByID: map[string]Asset{}}
	for _, p := range products {
		names := vendorNames[p.VendorID]
		if len(names) == 0 {
			continue
		}
		inv.Products = append(inv.Products, csaf.Product{ProductID: p.ID, VendorName: names[0], VendorAliases: names[1:], ProductName: p.Name})
	}
	for _, a := range assets {
		inv.Assets = append(inv.Assets, csaf.Asset{ID: a.ID, ProductID: a.ProductID, InstalledVersion: a.InstalledVersion})
		inv.ByID[a.ID] = a
	}
	return inv, nil
}

// MatchState says, in one line, whether anything that matching advisories against the
// inventory reads has changed: the advisories, the current KEV catalog, the assets and the
// products. Two equal answers mean a match would find what it found before.
func (s *Store) MatchState(ctx context.Context) (string, error) {
	type agg struct {
		N    int64
		Last string
	}
	var out []any
	for _, q := range []struct{ table, col string }{
		{"advisories", "current_release"}, {"advisories", "created_at"}, {"assets", "updated_at"}, {"products", "id"}, {"vendors", "created_at"},
	} {
		var r agg
		if err := s.db.WithContext(ctx).Table(q.table).Select("COUNT(*) AS n, COALESCE(CAST(MAX(" + q.col + ") AS TEXT), '') AS last").Scan(&r).Error; err != nil {
			return "", err
		}
		out = append(out, q.table, r.N, r.Last)
	}
	imps, err := s.CurrentImports(ctx)
	if err != nil {
		return "", err
	}
	for _, imp := range imps {
		out = append(out, imp.ID, imp.ReleasedAt.Format(time.RFC3339Nano))
	}
	return fmt.Sprint(out...), nil
}
