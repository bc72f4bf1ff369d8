package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// AssetPage reads an inventory page by page: the pages, joined, are the whole filtered
// inventory in the database's name order, each asset once, whatever the case and punctuation
// of the names; the filters by site and adapter select what they name.
func TestAssetPages(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := newStore(t, dsn)
		v := Vendor{Name: "siemens", DisplayName: "Siemens AG"}
		check(t, "CreateVendor", st.CreateVendor(ctx, &v, admin))
		p := Product{VendorID: v.ID, Name: "simatic-s7-1500", Kind: "plc"}
		check(t, "CreateProduct", st.CreateProduct(ctx, &p, admin))
		w := domain.Window{Cron: "0 2 * * 6", Duration: domain.Duration(4 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1}
		basel, lyon := Site{Name: "Basel Works"}, Site{Name: "Lyon Plant"}
		check(t, "CreateSite", st.CreateSite(ctx, &basel, admin))
		check(t, "CreateSite", st.CreateSite(ctx, &lyon, admin))
		cell, line := Zone{SiteID: basel.ID, Name: "Cell 3", SLT: 2, Window: w}, Zone{SiteID: lyon.ID, Name: "Line 1", SLT: 2, Window: w}
		check(t, "CreateZone", st.CreateZone(ctx, &cell, admin))
		check(t, "CreateZone", st.CreateZone(ctx, &line, admin))
		var as []Asset
		for i, name := range []string{"PLC-301", "plc-302", "a-1", "B_2", "b.3", "gw+1", "Z9", "hmi-07"} {
			zone, adapter := cell.ID, "simulator"
			if i%2 == 1 {
				zone = line.ID
			}
			if i%3 == 2 {
				adapter = "ssh"
			}
			as = append(as, Asset{ZoneID: zone, ProductID: p.ID, Name: name, InstalledVersion: "V1", Criticality: 2, Adapter: adapter})
		}
		check(t, "CreateAssets", st.CreateAssets(ctx, as, admin))

		names := func(as []Asset) []string {
			out := []string{}
			for _, a := range as {
				out = append(out, a.Name)
			}
			return out
		}
		for _, tt := range []struct {
			name string
			f    AssetFilter
			want int
		}{
			{"all", AssetFilter{}, 8},
			{"a site", AssetFilter{SiteID: lyon.ID}, 4},
			{"an adapter", AssetFilter{Adapter: "ssh"}, 2},
			{"a site and an adapter", AssetFilter{SiteID: basel.ID, Adapter: "simulator"}, 3},
			{"an unknown site", AssetFilter{SiteID: "site_missing"}, 0},
		} {
			t.Run(tt.name, func(t *testing.T) {
				all, err := st.Assets(ctx, tt.f)
				if err != nil || len(all) != tt.want {
					t.Fatalf("Assets(%+v) = %v, %v; want %d assets", tt.f, names(all), err, tt.want)
				}
				var walked []Asset
				after := ""
				for range 10 {
					page, err := st.AssetPage(ctx, tt.f, after, 3)
					if err != nil {
						t.Fatal(err)
					}
					walked = append(walked, page...)
					if len(page) < 3 {
						break
					}
					after = page[len(page)-1].Name
				}
				if !slices.Equal(names(walked), names(all)) {
					t.Errorf("pages of 3 read %v, want %v", names(walked), names(all))
				}
			})
		}
		taken, err := st.AssetNamesTaken(ctx, []string{"PLC-301", "plc-301", "hmi-07", "new"})
		if err != nil || len(taken) != 2 || !taken["PLC-301"] || !taken["hmi-07"] {
			t.Errorf("AssetNamesTaken = %v, %v; want PLC-301 and hmi-07", taken, err)
		}
	})
}
