package store

import (
	"context"
	"testing"
)

// TestMatchState: the state a KEV match reads changes when an asset is added or changed, and
// stays the same when nothing changed, on both databases.
func TestMatchState(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := newStore(t, dsn)
		ev := Event{Actor: "test", Role: "system", Action: "seed"}
		first, err := st.MatchState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := st.MatchState(ctx); err != nil || again != first {
			t.Fatalf("unchanged: %q then %q, %v", first, again, err)
		}
		if err := st.CreateVendor(ctx, &Vendor{ID: "vnd_x", Name: "x", DisplayName: "X"}, ev); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateProduct(ctx, &Product{ID: "prd_x", VendorID: "vnd_x", Name: "X-1", Kind: "plc"}, ev); err != nil {
			t.Fatal(err)
		}
		second, err := st.MatchState(ctx)
		if err != nil || second == first {
			t.Fatalf("after a vendor and a product: %q, %v; want it changed from %q", second, err, first)
		}
		inv, err := st.AdvisoryInventory(ctx)
		if err != nil || len(inv.Products) != 1 || inv.Products[0].VendorName != "x" || inv.Products[0].VendorAliases[0] != "X" {
			t.Fatalf("the inventory for matching: %+v, %v", inv, err)
		}
	})
}
