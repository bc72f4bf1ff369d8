package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otpatch/otpatch/internal/store"
)

// TestBrowserPriorities: an approver opens the priorities page of a small plant after the KEV
// catalog and EPSS scores were imported and two real CISA advisories ingested: the KEV CVE on
// the Honeywell Safety Manager in the exposed safety zone is first, decided act, with its
// reasons; the CVSS 9.8 CVE with a low EPSS on the switch in the isolated process zone is last.
// The decision filter narrows the list. A vendor has no priorities page.
func TestBrowserPriorities(t *testing.T) {
	chromium(t)
	shared := filepath.Join("..", "..", "shared", "testdata", "csaf")
	var advisories [][]byte
	for _, name := range []string{"icsa-22-207-02.json", "icsa-21-054-02.json"} {
		raw, err := os.ReadFile(filepath.Join(shared, name))
		if err != nil {
			t.Skipf("no CSAF advisory %s beside the repository; skipping", name)
		}
		advisories = append(advisories, raw)
	}
	fixtures := filepath.Join("..", "internal", "exploitation", "testdata")
	kev, err := os.ReadFile(filepath.Join(fixtures, "known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	epss, err := os.ReadFile(filepath.Join(fixtures, "epss_scores.csv"))
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t)
	sh := newShots(t)
	ctx := context.Background()

	for _, raw := range advisories {
		if code := s.call("POST", "/api/v1/advisories", s.tokens.Engineer, json.RawMessage(raw), nil); code != http.StatusCreated {
			t.Fatalf("ingest an advisory: %d", code)
		}
	}
	if code := s.call("POST", "/api/v1/exploitation/kev", s.tokens.Engineer, json.RawMessage(kev), nil); code != http.StatusCreated {
		t.Fatalf("import KEV: %d", code)
	}
	req, _ := http.NewRequest("POST", s.url+"/api/v1/exploitation/epss", bytes.NewReader(epss))
	req.Header.Set("Authorization", "Bearer "+s.tokens.Engineer)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("import EPSS: %v %v", res, err)
	}
	res.Body.Close()
	seed := store.Event{Actor: "test", Role: "system", Action: "seed"}
	for _, v := range []store.Vendor{{ID: "vnd_honeywell", Name: "honeywell", DisplayName: "Honeywell"}, {ID: "vnd_advantech", Name: "advantech", DisplayName: "Advantech"}} {
		if err := s.store.CreateVendor(ctx, &v, seed); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []store.Product{{ID: "prd_hw_sm", VendorID: "vnd_honeywell", Name: "Safety Manager", Kind: "plc"},
		{ID: "prd_adv_sw", VendorID: "vnd_advantech", Name: "BB-ESWGP506-2SFP-T", Kind: "network_device"}} {
		if err := s.store.CreateProduct(ctx, &p, seed); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []store.Asset{
		{ID: "ast_sis-sm-01", ZoneID: "zone_safety", ProductID: "prd_hw_sm", Name: "sis-sm-01", InstalledVersion: "R151.1", Criticality: 5, SafetyCritical: true, Adapter: "simulator"},
		{ID: "ast_proc-sw-09", ZoneID: "zone_process", ProductID: "prd_adv_sw", Name: "proc-sw-09", InstalledVersion: "1.01.09", Criticality: 2, Adapter: "simulator"},
	} {
		if err := s.store.CreateAsset(ctx, &a, seed); err != nil {
			t.Fatal(err)
		}
	}
	if code := s.call("PUT", "/api/v1/zones/zone_safety/conduits", s.tokens.Engineer,
		map[string]any{"conduits": []any{map[string]any{"kind": "remote_access", "description": "vendor support VPN"}}}, nil); code != http.StatusOK {
		t.Fatalf("set conduits: %d", code)
	}

	// The plant has put a compensating control on the safety manager: its rows say so.
	var advs struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if code := s.call("GET", "/api/v1/advisories?tracking_id=ICSA-22-207-02", s.tokens.Engineer, nil, &advs); code != http.StatusOK || len(advs.Items) != 1 {
		t.Fatalf("find ICSA-22-207-02: %d %+v", code, advs)
	}
	if code := s.call("POST", "/api/v1/advisories/"+advs.Items[0].ID+"/decisions", s.tokens.Engineer, map[string]any{"kind": "mitigate", "asset_ids": []string{"ast_sis-sm-01"},
		"control_kind": "network_isolation", "description": "vendor support VPN closed until the fix", "owner": "ot-network", "evidence": "CHG-77",
		"review_date": time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)}, nil); code != http.StatusCreated {
		t.Fatalf("mitigate: %d", code)
	}

	approver := s.browser(t, "approver", sh)
	approver.signIn(s.tokens.Approver)
	if !approver.exists(`#nav-list a[href="#/priorities"]`) {
		t.Fatal("the approver's navigation has no priorities page")
	}
	approver.run("open the priorities page", 30*time.Second, chromedp.Click(css(`#nav-list a[href="#/priorities"]`)),
		chromedp.WaitVisible(css(`#priority-table`)))
	approver.shot("priorities")
	if got := approver.text(`#exploitation-imports li[data-source="kev"]`); !strings.Contains(got, "2026.12.01") || !strings.Contains(got, "4 CVEs") {
		t.Errorf("the KEV import line: %q", got)
	}
	rows := eval[[]string](approver, `[...document.querySelectorAll("#priority-table tbody tr")].map((r) => r.dataset.cve + "@" + r.dataset.asset)`)
	if len(rows) != 5 || rows[0] != "CVE-2022-30315@ast_sis-sm-01" || rows[4] != "CVE-2021-22667@ast_proc-sw-09" {
		t.Fatalf("rows %q: want the KEV CVE on the safety manager first and the switch's CVSS 9.8 CVE last", rows)
	}
	first := approver.text(`#priority-table tbody tr:first-child`)
	for _, want := range []string{"act", "in KEV since 2026-02-01", "ransomware use known", "EPSS 0.91212 (97th percentile)",
		"zone Safety Systems (SL-T 4) has a conduit to remote access", "safety role", "ICSA-22-207-02", "mitigate", "in force"} {
		if !strings.Contains(first, want) {
			t.Errorf("the first row lacks %q: %q", want, first)
		}
	}
	last := approver.text(`#priority-table tbody tr:last-child`)
	for _, want := range []string{"track", "CVSS 9.8", "no conduit to a less trusted zone", "no vendor fix: mitigate", "ICSA-21-054-02"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last row lacks %q: %q", want, last)
		}
	}
	if href := approver.attr(`#priority-table tbody tr:first-child a[href^="#/advisories/"]`, "href"); href == "" {
		t.Error("the first row links no advisory")
	}
	eval[bool](approver, `(() => { const s = document.getElementById("priority-decision"); s.value = "act"; s.dispatchEvent(new Event("change")); return true; })()`)
	approver.run("show only act", 20*time.Second, chromedp.Poll[chromedp.Void](`document.querySelectorAll("#priority-table tbody tr").length === 1`))
	approver.checkAccessible("priorities")

	t.Run("a vendor has no priorities page", func(t *testing.T) {
		vendor := s.browser(t, "vendor", sh)
		vendor.signIn(s.tokens.Vendor)
		if vendor.exists(`#nav-list a[href="#/priorities"]`) {
			t.Error("a vendor's navigation shows the priorities page")
		}
		if code := s.call("GET", "/api/v1/priorities", s.tokens.Vendor, nil, nil); code != http.StatusForbidden {
			t.Errorf("a vendor reading the priorities: %d, want 403", code)
		}
	})
}
