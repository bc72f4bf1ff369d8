package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

type siteDoc struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	DeviceWork       string `json:"device_work"`
	UnreachableAfter int    `json:"unreachable_after_seconds"`
	TaskQueue        string `json:"task_queue"`
	WorkerStatus     string `json:"worker_status"`
	Workers          []struct {
		Identity    string    `json:"identity"`
		Version     string    `json:"version"`
		Host        string    `json:"host"`
		FirstSeenAt time.Time `json:"first_seen_at"`
		LastPollAt  time.Time `json:"last_poll_at"`
		Polling     bool      `json:"polling"`
		Problem     string    `json:"problem"`
	} `json:"workers"`
}

// siteChanges lists the details of the site.changed events of a site.
func (e *env) siteChanges(siteID string) []string {
	e.t.Helper()
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{Action: "site.changed", Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.SubjectID == siteID {
			out = append(out, ev.Actor+" "+ev.Details)
		}
	}
	return out
}

// TestSiteDeviceWork: an engineer moves a site's device work to a site worker; bad values are
// refused naming each field in words; the change is audited once with its from and to; the
// site then shows its task queue, its workers with version and last poll, and a status line;
// vendors see no site.
func TestSiteDeviceWork(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	const id = "site_rotterdam"

	var s siteDoc
	if code := e.call("GET", "/api/v1/sites/"+id, e.tokens.Auditor, nil, &s); code != http.StatusOK {
		t.Fatalf("GET site: %d", code)
	}
	if s.DeviceWork != "central" || s.UnreachableAfter != 3600 || s.TaskQueue != "" || s.WorkerStatus != "" || s.Workers == nil || len(s.Workers) != 0 {
		t.Fatalf("a demo site: %+v, want central device work, an hour's wait, no workers", s)
	}

	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/sites"}, {"GET", "/api/v1/sites/" + id}, {"PATCH", "/api/v1/sites/" + id}} {
		if code := e.call(c.method, c.path, e.tokens.Vendor, map[string]any{"device_work": "site_worker"}, nil); code != http.StatusForbidden {
			t.Errorf("a vendor: %s %s: %d, want 403", c.method, c.path, code)
		}
	}
	if code := e.call("PATCH", "/api/v1/sites/"+id, e.tokens.Auditor, map[string]any{"device_work": "site_worker"}, nil); code != http.StatusForbidden {
		t.Errorf("an auditor changing a site: %d, want 403", code)
	}

	for _, c := range []struct {
		name string
		body any
		want map[string]string // field → part of its message
	}{
		{"both bad", map[string]any{"device_work": "remote", "unreachable_after_seconds": 5},
			map[string]string{"device_work": `must be central, site_worker or air_gapped, got "remote"`, "unreachable_after_seconds": "must be from 60 (a minute) to 2592000 (30 days) seconds, got 5"}},
		{"too long", map[string]any{"unreachable_after_seconds": 2592001}, map[string]string{"unreachable_after_seconds": "got 2592001"}},
		{"not a number", map[string]any{"unreachable_after_seconds": "an hour"}, map[string]string{"unreachable_after_seconds": ""}},
		{"nothing", map[string]any{}, map[string]string{"body": "changes nothing; give device_work, unreachable_after_seconds or transfer_key"}},
		{"unknown field", map[string]any{"device_work": "site_worker", "queue": "x"}, map[string]string{"queue": ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p problemDoc
			if code := e.call("PATCH", "/api/v1/sites/"+id, e.tokens.Engineer, c.body, &p); code != http.StatusUnprocessableEntity {
				t.Fatalf("%d, want 422: %+v", code, p)
			}
			got := map[string]string{}
			for _, f := range p.Errors {
				got[f.Field] = f.Message
			}
			for field, part := range c.want {
				if msg, ok := got[field]; !ok || !strings.Contains(msg, part) {
					t.Errorf("field %s: %q, want it to say %q (all: %+v)", field, msg, part, p.Errors)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("faults %+v, want only %v", p.Errors, c.want)
			}
			for _, goWord := range []string{"domain.", "DeviceWork", "*int", "int64", "struct", "Go value"} {
				if strings.Contains(p.Detail, goWord) {
					t.Errorf("the refusal %q speaks of %q", p.Detail, goWord)
				}
			}
		})
	}
	if code := e.call("PATCH", "/api/v1/sites/site_none", e.tokens.Engineer, map[string]any{"device_work": "site_worker"}, nil); code != http.StatusNotFound {
		t.Errorf("an unknown site: %d, want 404", code)
	}
	if got := e.siteChanges(id); len(got) != 0 {
		t.Fatalf("refused changes were audited: %q", got)
	}

	for range 2 { // the second time changes nothing
		if code := e.call("PATCH", "/api/v1/sites/"+id, e.tokens.Engineer, map[string]any{"device_work": "site_worker", "unreachable_after_seconds": 900}, &s); code != http.StatusOK {
			t.Fatalf("PATCH site: %d", code)
		}
	}
	if s.DeviceWork != "site_worker" || s.UnreachableAfter != 900 || s.TaskQueue != domain.SiteTaskQueue(id) || s.WorkerStatus != "no worker has polled yet" || len(s.Workers) != 0 {
		t.Fatalf("after the change: %+v", s)
	}
	me := e.me(e.tokens.Engineer)
	want := me.Name + ` {"from":{"device_work":"central","unreachable_after_seconds":3600},"to":{"device_work":"site_worker","unreachable_after_seconds":900}}`
	if got := e.siteChanges(id); len(got) != 1 || got[0] != want {
		t.Fatalf("site.changed events %q, want one: %s", got, want)
	}

	// A worker polled ten seconds ago; a process that is no site worker polled five minutes ago.
	good := domain.SiteWorker{Site: id, Version: "1.4.0", Host: "rtm-gw-01", PID: 4711}.Identity()
	now := e.store.Now()
	if _, err := e.store.RecordSiteWorkers(ctx, id, []store.SiteWorkerSeen{
		{Identity: good, Version: "1.4.0", Host: "rtm-gw-01", LastPollAt: now.Add(-10 * time.Second)},
		{Identity: "4242@laptop@", LastPollAt: now.Add(-5 * time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	if code := e.call("GET", "/api/v1/sites/"+id, e.tokens.Approver, nil, &s); code != http.StatusOK {
		t.Fatalf("GET site: %d", code)
	}
	if s.WorkerStatus != "1 worker polling" || len(s.Workers) != 2 {
		t.Fatalf("with one worker polling: %+v", s)
	}
	w0, w1 := s.Workers[0], s.Workers[1]
	if w0.Identity != good || !w0.Polling || w0.Version != "1.4.0" || w0.Host != "rtm-gw-01" || w0.Problem != "" || now.Sub(w0.LastPollAt) > 11*time.Second {
		t.Errorf("the site worker: %+v", w0)
	}
	if w1.Identity != "4242@laptop@" || w1.Polling || !strings.Contains(w1.Problem, "not an otpatch site worker") {
		t.Errorf("the other poller: %+v", w1)
	}

	var all []siteDoc
	if code := e.list("/api/v1/sites", e.tokens.Safety, &all); code != http.StatusOK {
		t.Fatalf("list sites: %d", code)
	}
	byID := map[string]siteDoc{}
	for _, x := range all {
		byID[x.ID] = x
	}
	if r := byID[id]; r.WorkerStatus != "1 worker polling" || len(r.Workers) != 2 || r.TaskQueue != domain.SiteTaskQueue(id) {
		t.Errorf("the list's %s: %+v", id, r)
	}
	if b := byID["site_basel"]; b.DeviceWork != "central" || b.WorkerStatus != "" || len(b.Workers) != 0 {
		t.Errorf("the list's central site: %+v", b)
	}

	// A site made with a site worker from the start.
	if code := e.call("POST", "/api/v1/sites", e.tokens.Engineer, map[string]any{"name": "Plant B", "device_work": "site_worker", "unreachable_after_seconds": 120}, &s); code != http.StatusCreated {
		t.Fatalf("POST site: %d", code)
	}
	if s.DeviceWork != "site_worker" || s.UnreachableAfter != 120 || s.WorkerStatus != "no worker has polled yet" || s.TaskQueue != domain.SiteTaskQueue(s.ID) {
		t.Errorf("a new site_worker site: %+v", s)
	}
	var p problemDoc
	if code := e.call("POST", "/api/v1/sites", e.tokens.Engineer, map[string]any{"name": "Plant C", "device_work": "central", "unreachable_after_seconds": 59}, &p); code != http.StatusUnprocessableEntity ||
		len(p.Errors) != 1 || p.Errors[0].Field != "unreachable_after_seconds" {
		t.Errorf("a new site waiting 59 s: %d %+v, want 422 on unreachable_after_seconds", code, p)
	}
}

// TestCampaignSites: the campaign page names each site of its assets whose device work runs on
// a site worker, with its workers' presence; sites with central device work are not listed.
func TestCampaignSites(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	patch := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1000))
	c := store.Campaign{ID: store.NewID("cmp"), Name: "sites", PatchID: patch.ID, Status: string(domain.CampaignDraft), CreatedBy: "erin",
		Plan: `{"targets":[]}`, PlanDigest: strings.Repeat("d1", 32), WorkflowID: "campaign-sites-test"}
	targets := []store.CampaignAsset{
		{AssetID: "ast_pkg-hmi-01", Wave: 1, State: string(domain.AssetPending)},
		{AssetID: "ast_pkg-hmi-02", Wave: 1, State: string(domain.AssetPending)},
		{AssetID: "ast_dmz-historian-01", Wave: 2, State: string(domain.AssetSiteUnreachable)},
	}
	if err := e.store.CreateCampaign(ctx, &c, targets, store.Event{Actor: "erin", Role: "engineer", Action: "campaign.created"}); err != nil {
		t.Fatal(err)
	}
	type campaignSites struct {
		Sites []struct {
			SiteID           string     `json:"site_id"`
			Name             string     `json:"name"`
			DeviceWork       string     `json:"device_work"`
			UnreachableAfter int        `json:"unreachable_after_seconds"`
			TaskQueue        string     `json:"task_queue"`
			WorkerStatus     string     `json:"worker_status"`
			WorkersPolling   int        `json:"workers_polling"`
			LastPollAt       *time.Time `json:"last_poll_at"`
		} `json:"sites"`
	}
	var got campaignSites
	if code := e.call("GET", "/api/v1/campaigns/"+c.ID, e.tokens.Auditor, nil, &got); code != http.StatusOK || got.Sites == nil || len(got.Sites) != 0 {
		t.Fatalf("with central device work: %d %+v, want an empty sites list", code, got)
	}

	for _, id := range []string{"site_basel", "site_rotterdam"} {
		if code := e.call("PATCH", "/api/v1/sites/"+id, e.tokens.Admin, map[string]any{"device_work": "site_worker"}, nil); code != http.StatusOK {
			t.Fatalf("PATCH %s: %d", id, code)
		}
	}
	now := e.store.Now()
	basel := domain.SiteWorker{Site: "site_basel", Version: "1.4.0", Host: "bsl-gw", PID: 1}.Identity()
	if _, err := e.store.RecordSiteWorkers(ctx, "site_basel", []store.SiteWorkerSeen{{Identity: basel, LastPollAt: now.Add(-5 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	gone := time.Date(now.Year(), now.Month(), now.Day(), now.Hour(), now.Minute(), 0, 0, time.UTC).Add(-10 * time.Minute)
	rtm := domain.SiteWorker{Site: "site_rotterdam", Version: "1.4.0", Host: "rtm-gw", PID: 2}.Identity()
	if _, err := e.store.RecordSiteWorkers(ctx, "site_rotterdam", []store.SiteWorkerSeen{{Identity: rtm, LastPollAt: gone}}); err != nil {
		t.Fatal(err)
	}
	if code := e.call("GET", "/api/v1/campaigns/"+c.ID, e.tokens.Engineer, nil, &got); code != http.StatusOK || len(got.Sites) != 2 {
		t.Fatalf("GET campaign: %d %+v, want two sites", code, got)
	}
	b, r := got.Sites[0], got.Sites[1]
	if b.SiteID != "site_basel" || b.Name != "Basel Works" || b.DeviceWork != "site_worker" || b.WorkerStatus != "1 worker polling" || b.WorkersPolling != 1 ||
		b.TaskQueue != domain.SiteTaskQueue("site_basel") || b.UnreachableAfter != 3600 || b.LastPollAt == nil {
		t.Errorf("Basel: %+v", b)
	}
	if want := "no worker polling since " + gone.Format("2006-01-02 15:04") + " UTC"; r.SiteID != "site_rotterdam" || r.WorkerStatus != want || r.WorkersPolling != 0 || r.LastPollAt == nil || !r.LastPollAt.Equal(gone) {
		t.Errorf("Rotterdam: %+v, want %q", r, want)
	}
}
