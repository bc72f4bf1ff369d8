package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestPatchAndCampaignLists: patches, campaigns and alarms are answered a page at a time,
// newest first, and filtered; a filter naming something that does not exist is refused with
// 422 naming the parameter, never answered with an empty page.
func TestPatchAndCampaignLists(t *testing.T) {
	e := newEnv(t, envOptions{})
	first := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 64))
	var second, third patchDoc
	for _, p := range []struct {
		version string
		out     *patchDoc
	}{{"V16.0.3", &second}, {"V16.0.4", &third}} {
		if code := e.submit(e.tokens.Vendor, e.signed(newTestPatch(t, p.version, 64), "acme"), p.out); code != http.StatusCreated {
			t.Fatalf("submit %s: %d", p.version, code)
		}
	}
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "lists", "patch_id": first.ID, "asset_ids": []string{"ast_pkg-hmi-01"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}

	ids := func(ps []patchDoc) []string {
		out := []string{}
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}

	t.Run("patches newest first, one page at a time", func(t *testing.T) {
		var whole, onePerPage []patchDoc
		if code := e.list("/api/v1/patches", e.tokens.Engineer, &whole); code != http.StatusOK {
			t.Fatalf("list: %d", code)
		}
		if got, want := ids(whole), []string{third.ID, second.ID, first.ID}; !slices.Equal(got, want) {
			t.Errorf("patches %v, want newest first %v", got, want)
		}
		if code := e.list("/api/v1/patches?limit=1", e.tokens.Engineer, &onePerPage); code != http.StatusOK || !slices.Equal(ids(onePerPage), ids(whole)) {
			t.Errorf("one per page: %d %v, want %v", code, ids(onePerPage), ids(whole))
		}
		var pg struct {
			Items []patchDoc `json:"items"`
			Next  string     `json:"next"`
		}
		if code := e.call("GET", "/api/v1/patches?limit=2", e.tokens.Engineer, nil, &pg); code != http.StatusOK || len(pg.Items) != 2 || pg.Next == "" {
			t.Fatalf("first page of 2: %d, %d items, next %q", code, len(pg.Items), pg.Next)
		}
		last := pg.Next
		pg.Items, pg.Next = nil, ""
		if code := e.call("GET", "/api/v1/patches?limit=2&after="+url.QueryEscape(last), e.tokens.Engineer, nil, &pg); code != http.StatusOK || len(pg.Items) != 1 || pg.Items[0].ID != first.ID || pg.Next != "" {
			t.Errorf("last page: %d %+v, want %s alone and no next", code, pg, first.ID)
		}
	})

	t.Run("patch filters", func(t *testing.T) {
		var qualified, ofProduct, ofAcme, ownByVendor []patchDoc
		e.list("/api/v1/patches?status=qualified", e.tokens.Engineer, &qualified)
		if !slices.Contains(ids(qualified), first.ID) || slices.ContainsFunc(qualified, func(p patchDoc) bool { return p.Status != "qualified" }) {
			t.Errorf("?status=qualified: %+v", qualified)
		}
		e.list("/api/v1/patches?product_id=prd_acme_hmi&vendor_id=vnd_acme", e.tokens.Auditor, &ofProduct)
		if len(ofProduct) != 3 {
			t.Errorf("?product_id=prd_acme_hmi&vendor_id=vnd_acme: %v, want the 3 patches", ids(ofProduct))
		}
		e.list("/api/v1/patches?product_id=prd_acme_plc", e.tokens.Auditor, &ofAcme)
		if len(ofAcme) != 0 {
			t.Errorf("?product_id=prd_acme_plc: %v, want none", ids(ofAcme))
		}
		e.list("/api/v1/patches?vendor_id=vnd_acme", e.tokens.Vendor, &ownByVendor)
		if len(ownByVendor) != 3 {
			t.Errorf("acme naming itself: %v, want its 3 patches", ids(ownByVendor))
		}
	})

	t.Run("unknown names are refused", func(t *testing.T) {
		for _, tt := range []struct {
			path, token, field string
		}{
			{"/api/v1/patches?vendor_id=vnd_typo", e.tokens.Engineer, "vendor_id"},
			{"/api/v1/patches?product_id=prd_typo", e.tokens.Engineer, "product_id"},
			{"/api/v1/patches?status=qualifed", e.tokens.Engineer, "status"},
			{"/api/v1/patches?vendor_id=vnd_northwind", e.tokens.Vendor, "vendor_id"},
			{"/api/v1/patches?product_id=prd_nw_historian", e.tokens.Vendor, "product_id"},
			{"/api/v1/patches?after=bm90LWEtY3Vyc29y", e.tokens.Engineer, "after"},
			{"/api/v1/campaigns?patch_id=pat_typo", e.tokens.Engineer, "patch_id"},
			{"/api/v1/campaigns?status=done", e.tokens.Engineer, "status"},
			{"/api/v1/campaigns?limit=0", e.tokens.Engineer, "limit"},
			{"/api/v1/alarms?campaign_id=cmp_typo", e.tokens.Auditor, "campaign_id"},
		} {
			var p problemDoc
			if code := e.call("GET", tt.path, tt.token, nil, &p); code != http.StatusUnprocessableEntity || !fieldNamed(p, tt.field) {
				t.Errorf("GET %s: %d %q %v, want 422 naming %s", tt.path, code, p.Detail, p.Errors, tt.field)
			}
		}
	})

	t.Run("a created campaign says where it is; its windows last ISO 8601 durations", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"name": "lists 2", "patch_id": first.ID, "asset_ids": []string{"ast_pkg-hmi-02"}})
		req, _ := http.NewRequest(http.MethodPost, e.url+"/api/v1/campaigns", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.tokens.Engineer)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var made campaignDoc
		json.NewDecoder(res.Body).Decode(&made)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated || res.Header.Get("Location") != "/api/v1/campaigns/"+made.ID {
			t.Errorf("create: %d, Location %q; want 201 at /api/v1/campaigns/%s", res.StatusCode, res.Header.Get("Location"), made.ID)
		}
		var doc struct {
			Plan struct {
				Targets []struct {
					Window struct {
						Duration string `json:"duration"`
					} `json:"window"`
				} `json:"targets"`
			} `json:"plan"`
			Review struct {
				Waves []struct {
					Window struct {
						Duration string `json:"duration"`
					} `json:"window"`
				} `json:"waves"`
			} `json:"review"`
		}
		if code := e.call("GET", "/api/v1/campaigns/"+c.ID, e.tokens.Approver, nil, &doc); code != http.StatusOK || len(doc.Plan.Targets) == 0 || len(doc.Review.Waves) == 0 {
			t.Fatalf("campaign %s: %d, %d targets, %d waves", c.ID, code, len(doc.Plan.Targets), len(doc.Review.Waves))
		}
		durations := []string{doc.Review.Waves[0].Window.Duration}
		for _, tg := range doc.Plan.Targets {
			durations = append(durations, tg.Window.Duration)
		}
		for _, d := range durations {
			if _, err := domain.ParseDuration(d); err != nil || !strings.HasPrefix(d, "P") {
				t.Errorf("window duration %q, want ISO 8601 (PT4H)", d)
			}
		}
	})

	t.Run("campaign filters", func(t *testing.T) {
		var ofPatch, ofOther, all []campaignDoc
		e.list("/api/v1/campaigns?patch_id="+first.ID, e.tokens.Auditor, &ofPatch)
		if len(ofPatch) != 2 || !slices.ContainsFunc(ofPatch, func(x campaignDoc) bool { return x.ID == c.ID }) {
			t.Errorf("campaigns of %s: %+v, want its two, %s among them", first.ID, ofPatch, c.ID)
		}
		e.list("/api/v1/campaigns?patch_id="+second.ID, e.tokens.Auditor, &ofOther)
		if len(ofOther) != 0 {
			t.Errorf("campaigns of %s: %+v, want none", second.ID, ofOther)
		}
		e.list("/api/v1/campaigns?status=completed&limit=1", e.tokens.Auditor, &all)
		if slices.ContainsFunc(all, func(x campaignDoc) bool { return x.ID == c.ID }) {
			t.Errorf("?status=completed lists campaign %s, which has not ended", c.ID)
		}
		var alarms []struct{}
		if code := e.list("/api/v1/alarms?campaign_id="+c.ID, e.tokens.Auditor, &alarms); code != http.StatusOK || len(alarms) != 0 {
			t.Errorf("alarms of %s: %d %d, want none", c.ID, code, len(alarms))
		}
	})
}
