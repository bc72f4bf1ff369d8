package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/store"
)

// assetPageDoc is one page of GET /api/v1/assets; Next is nil when the answer has no next.
type assetPageDoc struct {
	Items []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		ZoneID string `json:"zone_id"`
	} `json:"items"`
	Next *string `json:"next"`
}

// TestAssetPagination: an inventory of 10,000 assets more than the demo's is read page by page
// through GET /api/v1/assets, with limit=1000 and with the default limit, and through a filter:
// every asset comes exactly once, in name order, pages are full but the last, and the last has
// no next. A cursor the server did not give and a limit out of 1 to 1000 are refused with 422.
// The pages are read in the store with keyset queries, on SQLite and on PostgreSQL.
func TestAssetPagination(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testAssetPagination(t, backend == "postgres") })
	}
}

func testAssetPagination(t *testing.T, postgres bool) {
	e := newEnv(t, envOptions{postgres: postgres})
	ctx := context.Background()
	const added = 10000
	as := make([]store.Asset, added)
	for i := range as {
		zone := "zone_packaging"
		if i%2 == 1 {
			zone = "zone_dmz" // Rotterdam's
		}
		as[i] = store.Asset{Name: fmt.Sprintf("page-%05d", i), ZoneID: zone, ProductID: "prd_acme_plc", InstalledVersion: "V2.9.3", Criticality: 2, Adapter: "simulator"}
	}
	ev := store.Event{Actor: "test-setup", Role: "system", Action: "asset.imported", Details: map[string]any{"rows": added}}
	if err := e.store.CreateAssets(ctx, as, ev); err != nil {
		t.Fatal(err)
	}
	// The order the store keeps: the inventory's, by name.
	want := func(f store.AssetFilter) []string {
		all, err := e.store.Assets(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, len(all))
		for i, a := range all {
			names[i] = a.Name
		}
		return names
	}
	all := want(store.AssetFilter{})
	if len(all) < added {
		t.Fatalf("the inventory holds %d assets, want at least %d", len(all), added)
	}

	walk := func(t *testing.T, query string, limit int, want []string) {
		var got []string
		after := ""
		for pages := 1; ; pages++ {
			q, _ := url.ParseQuery(query)
			if after != "" {
				q.Set("after", after)
			}
			var p assetPageDoc
			if code := e.call("GET", "/api/v1/assets?"+q.Encode(), e.tokens.Engineer, nil, &p); code != http.StatusOK {
				t.Fatalf("page %d: %d", pages, code)
			}
			for _, it := range p.Items {
				got = append(got, it.Name)
			}
			if p.Next == nil {
				if len(p.Items) > limit || len(got) != len(want) {
					t.Errorf("the last page (%d) has %d items, %d in all; want at most %d, %d in all", pages, len(p.Items), len(got), limit, len(want))
				}
				break
			}
			if *p.Next == "" || len(p.Items) != limit {
				t.Fatalf("page %d has %d items and next %q; a page before the last is full and has a next", pages, len(p.Items), *p.Next)
			}
			if pages > len(want)/limit+1 {
				t.Fatalf("%d pages of %d for %d assets do not end", pages, limit, len(want))
			}
			after = *p.Next
		}
		seen := map[string]bool{}
		for i, name := range got {
			if seen[name] {
				t.Fatalf("%s comes twice", name)
			}
			seen[name] = true
			if i >= len(want) || name != want[i] {
				t.Fatalf("item %d is %s, want %s (every asset once, in name order)", i, name, want[min(i, len(want)-1)])
			}
		}
		for _, a := range as {
			if listed := !strings.Contains(query, "site_id") || a.ZoneID == "zone_dmz"; listed && !seen[a.Name] {
				t.Fatalf("%s is missing", a.Name)
			}
		}
	}
	t.Run("limit 1000", func(t *testing.T) { walk(t, "limit=1000", 1000, all) })
	t.Run("the default limit", func(t *testing.T) { walk(t, "", 100, all) })
	t.Run("a site's assets", func(t *testing.T) {
		walk(t, "site_id=site_rotterdam&limit=1000", 1000, want(store.AssetFilter{SiteID: "site_rotterdam"}))
	})

	t.Run("bad page parameters are refused", func(t *testing.T) {
		for _, tc := range []struct{ query, field string }{
			{"limit=0", "limit"},
			{"limit=1001", "limit"},
			{"limit=ten", "limit"},
			{"after=not-a-cursor", "after"},
			{"after=" + url.QueryEscape("k1:page-00001"), "after"}, // a key, not a cursor
		} {
			var p problemDoc
			if code := e.call("GET", "/api/v1/assets?"+tc.query, e.tokens.Engineer, nil, &p); code != http.StatusUnprocessableEntity ||
				len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Errorf("?%s: %d %+v, want 422 naming %s", tc.query, code, p, tc.field)
			}
		}
	})

	t.Run("the last page has no next", func(t *testing.T) {
		var p assetPageDoc
		if code := e.call("GET", "/api/v1/assets?limit=1000&zone_id=zone_bench", e.tokens.Engineer, nil, &p); code != http.StatusOK || len(p.Items) == 0 {
			t.Fatalf("the bench's assets: %d, %d items", code, len(p.Items))
		}
		var raw map[string]json.RawMessage
		e.call("GET", "/api/v1/assets?limit=1000&zone_id=zone_bench", e.tokens.Engineer, nil, &raw)
		if _, ok := raw["next"]; ok || p.Next != nil {
			t.Errorf("a page that holds the whole list has next %s", raw["next"])
		}
	})
}

// TestDeploymentLogPages: a deployment log is read page by page, oldest piece first, each once;
// a limit over 500 is refused with 422, and an asset that is not in the campaign is 404, not an
// empty log.
func TestDeploymentLogPages(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1000))
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "Log pages", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	const pieces = 7
	for i := range pieces {
		if err := e.store.AppendDeploymentLog(ctx, c.ID, "ast_pkg-hmi-01", "install stdout", fmt.Sprintf("step %d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	path := "/api/v1/campaigns/" + c.ID + "/assets/ast_pkg-hmi-01/log"
	var texts []string
	after := ""
	for pages := 1; pages <= 4; pages++ {
		q := url.Values{"limit": {"3"}}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Items []store.DeploymentLogLine `json:"items"`
			Next  string                    `json:"next"`
		}
		if code := e.call("GET", path+"?"+q.Encode(), e.tokens.Auditor, nil, &page); code != http.StatusOK {
			t.Fatalf("page %d: %d", pages, code)
		}
		for _, l := range page.Items {
			texts = append(texts, l.Text)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(texts) != pieces {
		t.Fatalf("the pages hold %d pieces, want %d: %q", len(texts), pieces, texts)
	}
	for i, text := range texts {
		if text != fmt.Sprintf("step %d\n", i) {
			t.Errorf("piece %d is %q, want step %d (oldest first, each once)", i, text, i)
		}
	}
	var prob problemDoc
	if code := e.call("GET", path+"?limit=501", e.tokens.Auditor, nil, &prob); code != http.StatusUnprocessableEntity || len(prob.Errors) != 1 || prob.Errors[0].Field != "limit" {
		t.Errorf("?limit=501: %d %+v, want 422 naming limit", code, prob)
	}
	if code := e.call("GET", "/api/v1/campaigns/"+c.ID+"/assets/ast_pkg-hmi-02/log", e.tokens.Auditor, nil, &prob); code != http.StatusNotFound {
		t.Errorf("the log of an asset not in the campaign: %d %+v, want 404", code, prob)
	}
}
