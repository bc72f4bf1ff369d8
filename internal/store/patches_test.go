package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// walk reads every page of limit rows through read, each page after the last row of the one
// before, and returns the ids in the order read; it fails when a page repeats a row.
func walk[T any](t *testing.T, limit int, read func(afterAt time.Time, afterID string, n int) ([]T, error), key func(T) (time.Time, string)) []string {
	t.Helper()
	var ids []string
	var at time.Time
	after := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("the pages do not end")
		}
		rows, err := read(at, after, limit)
		if err != nil {
			t.Fatalf("page after %q: %v", after, err)
		}
		for _, r := range rows {
			_, id := key(r)
			if slices.Contains(ids, id) {
				t.Fatalf("%s is on two pages", id)
			}
			ids = append(ids, id)
		}
		if len(rows) < limit {
			return ids
		}
		at, after = key(rows[len(rows)-1])
	}
}

// TestKeysetPages walks patches, campaigns, alarms and advisories a few rows at a time, with
// rows that share their time (whole seconds and fractions of one alike): every row comes once,
// newest first and by id among equals, whatever the database.
func TestKeysetPages(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := &setClock{t: time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)} // rows written between two Sets share their time
		st, err := Open(dsn, Options{Now: clock.Now})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		f := seed(t, st)
		// The seeded campaign ends, so its targets may be targets of the campaigns below.
		check(t, "SetCampaignStatus", st.SetCampaignStatus(ctx, f.campaign.ID, domain.CampaignCompleted, "", Event{Actor: "otpatch", Role: "system"}))
		// Three instants, each shared by several rows: a whole second, a fraction of one, and the
		// whole second after, so a text comparison of times would misplace them.
		instants := []time.Time{
			time.Date(2025, 6, 11, 8, 0, 0, 0, time.UTC),
			time.Date(2025, 6, 11, 8, 0, 0, 500_000_000, time.UTC),
			time.Date(2025, 6, 11, 8, 0, 1, 0, time.UTC),
		}
		var campaigns []Campaign
		for i, at := range instants {
			clock.Set(at)
			for j := range 3 {
				n := fmt.Sprintf("%d-%d", i, j)
				p := f.patch
				p.ID, p.Version, p.Status = NewID("pat"), "V9."+n, string(domain.PatchQualified)
				if j == 0 {
					p.Status = string(domain.PatchRejected)
				}
				check(t, "CreatePatch "+n, st.CreatePatch(ctx, &p, nil, Event{Actor: "siemens-ci", Role: "vendor"}))
				c := Campaign{ID: NewID("cmp"), Name: "campaign " + n, PatchID: p.ID, Status: string(domain.CampaignCompleted), CreatedBy: "ed.eng",
					Plan: "{}", PlanDigest: strings.Repeat("d", 64), WorkflowID: "campaign-" + n}
				check(t, "CreateCampaign "+n, st.CreateCampaign(ctx, &c, []CampaignAsset{{AssetID: f.plc1.ID, Wave: 1, State: "done"}}, Event{Actor: "ed.eng", Role: "engineer"}))
				check(t, "SetCampaignStatus "+n, st.SetCampaignStatus(ctx, c.ID, domain.CampaignCompleted, "", Event{Actor: "otpatch", Role: "system"}))
				campaigns = append(campaigns, c)
				al := Alarm{ID: NewID("alm"), Kind: "rollback_failed", Severity: "critical", CampaignID: c.ID, Message: "restore failed", RaisedAt: at}
				check(t, "RaiseAlarm "+n, st.RaiseAlarm(ctx, &al, Event{Actor: "otpatch", Role: "system"}))
				adv := Advisory{TrackingID: "ADV-" + n, Title: "advisory " + n, Publisher: "CISA", ReleasedAt: at, CurrentRelease: at, Document: "{}", Summary: "{}"}
				if _, err := st.CreateAdvisory(ctx, &adv, Event{Actor: "ed.eng", Role: "engineer"}); err != nil {
					t.Fatalf("CreateAdvisory %s: %v", n, err)
				}
			}
		}

		// Every list in the order one query reads it whole: the walk must give the same.
		all := func(what string, got, want []string) {
			t.Helper()
			if !slices.Equal(got, want) {
				t.Errorf("%s, two at a time:\n%v\nwant the order of one read:\n%v", what, got, want)
			}
		}
		ids := func(n int, id func(int) string) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = id(i)
			}
			return out
		}

		ps, err := st.PatchesPage(ctx, PatchFilter{})
		check(t, "PatchesPage", err)
		if len(ps) != 10 {
			t.Fatalf("%d patches, want 10", len(ps))
		}
		for i := 1; i < len(ps); i++ {
			a, b := ps[i-1], ps[i]
			if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID) {
				t.Errorf("patch %s (%s) before %s (%s): not newest first, then by id", a.ID, a.CreatedAt, b.ID, b.CreatedAt)
			}
		}
		patchKey := func(p Patch) (time.Time, string) { return p.CreatedAt, p.ID }
		all("patches", walk(t, 2, func(at time.Time, id string, n int) ([]Patch, error) {
			return st.PatchesPage(ctx, PatchFilter{AfterCreated: at, AfterID: id, Limit: n})
		}, patchKey), ids(len(ps), func(i int) string { return ps[i].ID }))
		qualified, err := st.PatchesPage(ctx, PatchFilter{Status: string(domain.PatchQualified), ProductID: f.product.ID, VendorID: f.vendor.ID})
		check(t, "PatchesPage qualified", err)
		var wantQualified []string
		for _, p := range ps {
			if p.Status == string(domain.PatchQualified) {
				wantQualified = append(wantQualified, p.ID)
			}
		}
		all("qualified patches, two at a time", walk(t, 2, func(at time.Time, id string, n int) ([]Patch, error) {
			return st.PatchesPage(ctx, PatchFilter{Status: string(domain.PatchQualified), AfterCreated: at, AfterID: id, Limit: n})
		}, patchKey), wantQualified)
		all("qualified patches of the product", ids(len(qualified), func(i int) string { return qualified[i].ID }), wantQualified)
		if none, err := st.PatchesPage(ctx, PatchFilter{VendorID: "vnd_other"}); err != nil || len(none) != 0 {
			t.Errorf("patches of another vendor: %d, %v", len(none), err)
		}

		cs, err := st.CampaignsPage(ctx, CampaignFilter{})
		check(t, "CampaignsPage", err)
		if len(cs) != len(campaigns)+1 {
			t.Fatalf("%d campaigns, want %d", len(cs), len(campaigns)+1)
		}
		all("campaigns", walk(t, 2, func(at time.Time, id string, n int) ([]Campaign, error) {
			return st.CampaignsPage(ctx, CampaignFilter{AfterCreated: at, AfterID: id, Limit: n})
		}, func(c Campaign) (time.Time, string) { return c.CreatedAt, c.ID }), ids(len(cs), func(i int) string { return cs[i].ID }))
		one, err := st.CampaignsPage(ctx, CampaignFilter{PatchID: campaigns[4].PatchID, Status: string(domain.CampaignCompleted)})
		if err != nil || len(one) != 1 || one[0].ID != campaigns[4].ID {
			t.Errorf("campaigns of patch %s: %+v, %v; want %s", campaigns[4].PatchID, one, err, campaigns[4].ID)
		}

		as, err := st.AlarmsPage(ctx, AlarmFilter{})
		check(t, "AlarmsPage", err)
		if len(as) != 9 {
			t.Fatalf("%d alarms, want 9", len(as))
		}
		all("alarms", walk(t, 2, func(at time.Time, id string, n int) ([]Alarm, error) {
			return st.AlarmsPage(ctx, AlarmFilter{AfterRaised: at, AfterID: id, Limit: n})
		}, func(a Alarm) (time.Time, string) { return a.RaisedAt, a.ID }), ids(len(as), func(i int) string { return as[i].ID }))
		if mine, err := st.AlarmsPage(ctx, AlarmFilter{CampaignID: campaigns[0].ID}); err != nil || len(mine) != 1 {
			t.Errorf("alarms of campaign %s: %d, %v; want 1", campaigns[0].ID, len(mine), err)
		}

		advs, err := st.AdvisoriesPage(ctx, AdvisoryFilter{})
		check(t, "AdvisoriesPage", err)
		if len(advs) != 9 || advs[0].Document != "" {
			t.Fatalf("%d advisories (the first with a %d-byte document), want 9 without documents", len(advs), len(advs[0].Document))
		}
		all("advisories", walk(t, 2, func(at time.Time, id string, n int) ([]Advisory, error) {
			return st.AdvisoriesPage(ctx, AdvisoryFilter{AfterRelease: at, AfterID: id, Limit: n})
		}, func(a Advisory) (time.Time, string) { return a.CurrentRelease, a.ID }), ids(len(advs), func(i int) string { return advs[i].ID }))
		if got, err := st.AdvisoriesPage(ctx, AdvisoryFilter{TrackingID: "ADV-1-2", Publisher: "CISA"}); err != nil || len(got) != 1 || got[0].TrackingID != "ADV-1-2" {
			t.Errorf("advisory ADV-1-2: %+v, %v", got, err)
		}
	})
}
