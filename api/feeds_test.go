package api_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/otpatch/otpatch/internal/feeds/feedstest"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

type feedDoc struct {
	ID              string   `json:"id"`
	URL             string   `json:"url"`
	Publisher       string   `json:"publisher"`
	IntervalMinutes int      `json:"interval_minutes"`
	ExtraCA         bool     `json:"extra_ca"`
	TrustedKeys     []string `json:"trusted_keys"`
	LastResult      string   `json:"last_result"`
	LastError       string   `json:"last_error"`
	Ingested        int      `json:"ingested"`
	Refused         int      `json:"refused"`
	ScheduleMinutes *int     `json:"schedule_minutes"`
	Documents       []struct {
		URL        string `json:"url"`
		TrackingID string `json:"tracking_id"`
		Outcome    string `json:"outcome"`
		AdvisoryID string `json:"advisory_id"`
	} `json:"documents"`
	Refusals []struct {
		URL    string `json:"url"`
		Reason string `json:"reason"`
	} `json:"refusals"`
}

type feedSyncDoc struct {
	Sync struct {
		Result   string `json:"result"`
		Error    string `json:"error"`
		Ingested int    `json:"ingested"`
		Refused  int    `json:"refused"`
		Skipped  int    `json:"skipped"`
	} `json:"sync"`
	Feed feedDoc `json:"feed"`
}

// tarOf is a provider tree as otpatch csaf sync --dir sends it.
func tarOf(t *testing.T, fsys fstest.MapFS) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, f := range fsys {
		if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(f.Data)), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.Data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (e *env) postTree(token string, tree []byte, fingerprint string, out any) int {
	e.t.Helper()
	u := e.url + "/api/v1/feeds/offline"
	if fingerprint != "" {
		u += "?fingerprint=" + url.QueryEscape(fingerprint)
	}
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(tree))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-tar")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("decode %q: %v", raw, err)
		}
	} else if res.StatusCode >= 300 {
		e.t.Logf("POST offline: %d %s", res.StatusCode, raw)
	}
	return res.StatusCode
}

// TestFeedsThroughTheAPI follows a provider served over HTTPS through the API: the feed gets
// its Temporal Schedule, a sync asked for now ingests its advisories, a tampered hash shows as
// a refusal on the feed; deleted, the schedule goes; a copy of the tree uploaded offline is
// checked the same way, trusting only the fingerprint given.
func TestFeedsThroughTheAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	p := feedstest.NewProvider(t)
	jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	a := &feedstest.Advisory{Name: "icsa-21-131-09.json", Raw: feedstest.RealAdvisory(t, sharedCSAF, "icsa-21-131-09.json"), Updated: jan, InFeed: true}
	b := &feedstest.Advisory{Name: "icsa-21-145-02.json", Raw: feedstest.RealAdvisory(t, sharedCSAF, "icsa-21-145-02.json"), Updated: jan, InDir: true}
	p.Docs = []*feedstest.Advisory{a, b}
	p.Publish()

	// Bad input changes nothing and names every fault.
	var prob problemDoc
	if st := e.call("POST", "/api/v1/feeds", e.tokens.Engineer, map[string]any{"url": "http://psirt.example.com/provider-metadata.json", "interval_minutes": 5,
		"ca_pem": "not a certificate", "fingerprints": []string{"zz"}}, &prob); st != http.StatusUnprocessableEntity {
		t.Fatalf("bad feed: %d", st)
	}
	var fields []string
	for _, f := range prob.Errors {
		fields = append(fields, f.Field)
	}
	if slices.Sort(fields); !slices.Equal(fields, []string{"ca_pem", "fingerprints[0]", "interval_minutes", "url"}) {
		t.Fatalf("bad feed named %v: %+v", fields, prob)
	}

	var feed feedDoc
	if st := e.call("POST", "/api/v1/feeds", e.tokens.Engineer, map[string]any{"url": p.MetadataURL(), "interval_minutes": 60, "ca_pem": p.CAPEM()}, &feed); st != http.StatusCreated {
		t.Fatalf("create feed: %d", st)
	}
	if st := e.call("POST", "/api/v1/feeds", e.tokens.Engineer, map[string]any{"url": p.MetadataURL()}, nil); st != http.StatusConflict {
		t.Fatalf("the same provider again: %d, want 409", st)
	}
	sc := e.temporal.GetDefaultClient().ScheduleClient()
	desc, err := sc.GetHandle(ctx, workflows.FeedScheduleID(feed.ID)).Describe(ctx)
	if err != nil || len(desc.Schedule.Spec.Intervals) != 1 || desc.Schedule.Spec.Intervals[0].Every != time.Hour {
		t.Fatalf("schedule of the new feed: %+v, %v; want every hour", desc, err)
	}
	var got feedDoc
	if st := e.call("GET", "/api/v1/feeds/"+feed.ID, e.tokens.Auditor, nil, &got); st != http.StatusOK || got.ScheduleMinutes == nil || *got.ScheduleMinutes != 60 || !got.ExtraCA {
		t.Fatalf("GET feed: %d %+v", st, got)
	}

	// A new interval changes the schedule.
	if st := e.call("PATCH", "/api/v1/feeds/"+feed.ID, e.tokens.Engineer, map[string]any{"interval_minutes": 5}, nil); st != http.StatusUnprocessableEntity {
		t.Fatalf("interval of 5 minutes: %d, want 422", st)
	}
	got = feedDoc{}
	if st := e.call("PATCH", "/api/v1/feeds/"+feed.ID, e.tokens.Engineer, map[string]any{"interval_minutes": 120}, &got); st != http.StatusOK || got.IntervalMinutes != 120 || got.ScheduleMinutes == nil || *got.ScheduleMinutes != 120 {
		t.Fatalf("PATCH interval: %d %+v", st, got)
	}
	if desc, err := sc.GetHandle(ctx, workflows.FeedScheduleID(feed.ID)).Describe(ctx); err != nil || desc.Schedule.Spec.Intervals[0].Every != 2*time.Hour {
		t.Fatalf("schedule after the change: %+v, %v; want every 2 hours", desc, err)
	}

	var res feedSyncDoc
	if st := e.call("POST", "/api/v1/feeds/"+feed.ID+"/sync", e.tokens.Engineer, nil, &res); st != http.StatusOK || res.Sync.Result != "ok" || res.Sync.Ingested != 2 {
		t.Fatalf("sync: %d %+v", st, res)
	}
	if res.Feed.Publisher != "Test Provider" || res.Feed.Ingested != 2 || len(res.Feed.Documents) != 2 || len(res.Feed.TrustedKeys) != 1 {
		t.Fatalf("feed after the sync: %+v", res.Feed)
	}
	var advs []advisoryDoc
	if st := e.list("/api/v1/advisories", e.tokens.Auditor, &advs); st != http.StatusOK {
		t.Fatalf("advisories: %d", st)
	}
	var ids []string
	for _, adv := range advs {
		ids = append(ids, adv.TrackingID)
	}
	if slices.Sort(ids); !slices.Equal(ids, []string{"ICSA-21-131-09", "ICSA-21-145-02"}) {
		t.Fatalf("advisories after the sync: %v", ids)
	}

	// A tampered hash is refused, with its reason shown on the feed.
	b.Updated = jan.Add(24 * time.Hour)
	p.Publish()
	p.Overwrite(b, ".sha512", []byte(strings.Repeat("00", 64)+"\n"))
	res = feedSyncDoc{}
	if st := e.call("POST", "/api/v1/feeds/"+feed.ID+"/sync", e.tokens.Engineer, nil, &res); st != http.StatusOK || res.Sync.Result != "refusals" || res.Sync.Refused != 1 || res.Sync.Skipped != 1 {
		t.Fatalf("sync of the tampered tree: %d %+v", st, res.Sync)
	}
	if len(res.Feed.Refusals) != 1 || res.Feed.Refusals[0].URL != p.DocURL(b) || !strings.HasPrefix(res.Feed.Refusals[0].Reason, "hash mismatch") {
		t.Fatalf("refusals on the feed: %+v", res.Feed.Refusals)
	}
	var list []feedDoc
	if st := e.list("/api/v1/feeds", e.tokens.Approver, &list); st != http.StatusOK || len(list) != 1 || list[0].LastResult != "refusals" || list[0].Refused != 1 {
		t.Fatalf("feeds: %d %+v", st, list)
	}

	// Deleted, the feed loses its schedule.
	if st := e.call("DELETE", "/api/v1/feeds/"+feed.ID, e.tokens.Engineer, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	var nf *serviceerror.NotFound
	if _, err := sc.GetHandle(ctx, workflows.FeedScheduleID(feed.ID)).Describe(ctx); !errors.As(err, &nf) {
		t.Fatalf("schedule after the delete: %v, want not found", err)
	}
	if st := e.call("GET", "/api/v1/feeds/"+feed.ID, e.tokens.Engineer, nil, nil); st != http.StatusNotFound {
		t.Fatalf("deleted feed: %d", st)
	}

	// Offline: the same tree uploaded, trusting no key without a fingerprint, then the
	// provider's; the same refusal, the other advisory already stored.
	tree := tarOf(t, p.Snapshot())
	if st := e.postTree(e.tokens.Engineer, tree, "", &res); st != http.StatusOK || res.Sync.Result != "failed" || !strings.Contains(res.Sync.Error, "fingerprint") {
		t.Fatalf("offline without fingerprint: %d %+v", st, res.Sync)
	}
	res = feedSyncDoc{}
	if st := e.postTree(e.tokens.Engineer, tree, feedstest.Fingerprint(p.Key), &res); st != http.StatusOK || res.Sync.Result != "refusals" {
		t.Fatalf("offline: %d %+v", st, res.Sync)
	}
	outcomes := map[string]string{}
	for _, d := range res.Feed.Documents {
		outcomes[d.URL] = d.Outcome
	}
	if outcomes[p.DocURL(a)] != "unchanged" || outcomes[p.DocURL(b)] != "refused" || res.Feed.IntervalMinutes != 0 || res.Feed.ScheduleMinutes != nil || res.Feed.LastError != "" {
		t.Fatalf("offline feed: %+v", res.Feed)
	}
	if st := e.postTree(e.tokens.Engineer, []byte("not a tar archive"), "", nil); st != http.StatusUnprocessableEntity {
		t.Fatalf("offline with a broken archive: %d", st)
	}
}

// TestVEXThroughTheAPI ingests a CSAF VEX document stating the demo plant's ViewPanel HMI
// version is not affected: the advisory hits no asset and lists every HMI asset as not
// affected, with the flag that justifies it.
func TestVEXThroughTheAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	vex := map[string]any{
		"document": map[string]any{
			"category": "csaf_vex", "csaf_version": "2.0", "title": "Acme ViewPanel web server",
			"publisher": map[string]any{"name": "Acme PSIRT", "category": "vendor", "namespace": "https://acme.example"},
			"tracking": map[string]any{"id": "ACME-VEX-1", "status": "final", "version": "1",
				"initial_release_date": "2026-01-01T00:00:00Z", "current_release_date": "2026-01-02T00:00:00Z",
				"revision_history": []any{map[string]any{"date": "2026-01-02T00:00:00Z", "number": "1", "summary": "Initial"}}},
		},
		"product_tree": map[string]any{"branches": []any{map[string]any{"category": "vendor", "name": "Acme Automation AG", "branches": []any{
			map[string]any{"category": "product_name", "name": "ViewPanel-HMI", "branches": []any{
				map[string]any{"category": "product_version_range", "name": "vers:generic/<16.0.2", "product": map[string]any{"name": "ViewPanel-HMI < V16.0.2", "product_id": "P1"}},
			}},
		}}}},
		"vulnerabilities": []any{map[string]any{
			"cve": "CVE-2026-40001", "product_status": map[string]any{"known_not_affected": []any{"P1"}},
			"flags": []any{map[string]any{"label": "component_not_present", "product_ids": []any{"P1"}}},
		}},
	}
	raw, _ := json.Marshal(vex)
	var adv struct {
		ID          string `json:"id"`
		Affected    int    `json:"affected_asset_count"`
		NotAffected []struct {
			AssetID        string   `json:"asset_id"`
			CVEs           []string `json:"cves"`
			Justifications []string `json:"justifications"`
		} `json:"not_affected_assets"`
		NotAffectedCount int `json:"not_affected_asset_count"`
	}
	if st := e.postAdvisory(e.tokens.Engineer, raw, &adv); st != http.StatusCreated {
		t.Fatalf("ingest VEX: %d", st)
	}
	var hmis []string
	assets, err := e.store.Assets(context.Background(), store.AssetFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range assets {
		if a.ProductID == "prd_acme_hmi" {
			hmis = append(hmis, a.ID)
		}
	}
	var got []string
	for _, na := range adv.NotAffected {
		if !slices.Equal(na.Justifications, []string{"component_not_present"}) || !slices.Equal(na.CVEs, []string{"CVE-2026-40001"}) {
			t.Errorf("not affected %+v", na)
		}
		got = append(got, na.AssetID)
	}
	slices.Sort(got)
	slices.Sort(hmis)
	if len(hmis) == 0 || !slices.Equal(got, hmis) || adv.Affected != 0 || adv.NotAffectedCount != len(hmis) {
		t.Fatalf("VEX advisory: affected %d, not affected %v (count %d); want the HMI assets %v", adv.Affected, got, adv.NotAffectedCount, hmis)
	}
}
