package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// advance moves the test clock on.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func siteEvents(t *testing.T, st *Store, siteID string) []string {
	t.Helper()
	var out []string
	evs, err := st.AuditEvents(context.Background(), AuditFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.SubjectType == "site" && e.SubjectID == siteID && e.Action != "" { // the fixture's events have none
			out = append(out, e.Action+" "+e.Details)
		}
	}
	return out
}

// TestSiteSettings: a site starts with central device work and an hour's wait; a change is
// audited with what it changed from and to, a change to the same values writes nothing, and
// values out of bounds are refused in the API's words.
func TestSiteSettings(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		site := Site{Name: "Plant B"}
		check(t, "CreateSite", st.CreateSite(ctx, &site, admin))
		got, err := st.Site(ctx, site.ID)
		check(t, "Site", err)
		if got.DeviceWork != domain.DeviceWorkCentral || got.UnreachableAfter != DefaultUnreachableAfter {
			t.Fatalf("a new site has device_work %q and unreachable_after %d, want central and %d", got.DeviceWork, got.UnreachableAfter, DefaultUnreachableAfter)
		}

		sw, wait := domain.DeviceWorkSiteWorker, 900
		got, err = st.UpdateSite(ctx, site.ID, SiteChange{DeviceWork: &sw, UnreachableAfter: &wait}, admin)
		check(t, "UpdateSite", err)
		if got.DeviceWork != sw || got.UnreachableAfter != 900 || got.Name != "Plant B" {
			t.Fatalf("UpdateSite answered %+v", got)
		}
		if again, _ := st.Site(ctx, site.ID); again != got {
			t.Fatalf("stored %+v, answered %+v", again, got)
		}
		if _, err := st.UpdateSite(ctx, site.ID, SiteChange{DeviceWork: &sw}, admin); err != nil {
			t.Fatal(err)
		}
		want := []string{`site.changed {"from":{"device_work":"central","unreachable_after_seconds":3600},"to":{"device_work":"site_worker","unreachable_after_seconds":900}}`}
		if evs := siteEvents(t, st, site.ID); !slices.Equal(evs, want) {
			t.Fatalf("events %q, want %q (a change to the same value writes none)", evs, want)
		}
		if ss, err := st.SitesWithSiteWorkers(ctx); err != nil || len(ss) != 1 || ss[0].ID != site.ID {
			t.Fatalf("SitesWithSiteWorkers = %+v, %v", ss, err)
		}

		bad, short := domain.DeviceWork("remote"), 59
		_, err = st.UpdateSite(ctx, site.ID, SiteChange{DeviceWork: &bad, UnreachableAfter: &short}, admin)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 2 || ve.Fields[0].Field != "device_work" || ve.Fields[1].Field != "unreachable_after_seconds" ||
			!strings.Contains(err.Error(), "must be central, site_worker or air_gapped") || !strings.Contains(err.Error(), "from 60 (a minute) to 2592000 (30 days)") {
			t.Fatalf("a bad change: %v, want both fields refused in words", err)
		}
		if _, err := st.UpdateSite(ctx, "site_none", SiteChange{DeviceWork: &sw}, admin); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown site: %v, want ErrNotFound", err)
		}
	})
}

// TestRecordSiteWorkers: a worker's appearance and its going away are one audit event each,
// however often it polls in between; a worker Temporal still lists after it stopped is lost
// once its last poll is older than PollingWithin, and polls again as a new appearance.
func TestRecordSiteWorkers(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		c := &clock{t: time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)}
		st, err := Open(dsn, Options{Now: c.Now})
		check(t, "Open", err)
		t.Cleanup(func() { st.Close() })
		_, err = st.Migrate(ctx)
		check(t, "Migrate", err)
		f := seed(t, st)
		sw := domain.DeviceWorkSiteWorker
		_, err = st.UpdateSite(ctx, f.site.ID, SiteChange{DeviceWork: &sw}, admin)
		check(t, "UpdateSite", err)

		a := domain.SiteWorker{Site: f.site.ID, Version: "1.4.0", Host: "plant-b-gw", PID: 4711}.Identity()
		record := func(want SiteWorkerChanges, seen ...SiteWorkerSeen) {
			t.Helper()
			got, err := st.RecordSiteWorkers(ctx, f.site.ID, seen)
			check(t, "RecordSiteWorkers", err)
			if !slices.Equal(got.Seen, want.Seen) || !slices.Equal(got.Lost, want.Lost) {
				t.Fatalf("RecordSiteWorkers wrote seen %q lost %q, want seen %q lost %q", got.Seen, got.Lost, want.Seen, want.Lost)
			}
		}
		poll := func(id string, ago time.Duration) SiteWorkerSeen {
			return SiteWorkerSeen{Identity: id, Version: "1.4.0", Host: "plant-b-gw", LastPollAt: c.peek().Add(-ago)}
		}

		record(SiteWorkerChanges{Seen: []string{a}}, poll(a, 10*time.Second))
		var p SiteWorkerSeen
		for range 5 { // polls on: telemetry only
			c.advance(15 * time.Second)
			p = poll(a, 5*time.Second)
			record(SiteWorkerChanges{}, p)
		}
		ws, err := st.SiteWorkers(ctx, f.site.ID)
		check(t, "SiteWorkers", err)
		if len(ws) != 1 || ws[0].Identity != a || ws[0].Version != "1.4.0" || ws[0].Host != "plant-b-gw" || !ws[0].Polling(c.peek()) ||
			!ws[0].LastPollAt.Equal(p.LastPollAt) {
			t.Fatalf("SiteWorkers = %+v at %s", ws, c.peek())
		}
		last := ws[0].LastPollAt

		// It stops; Temporal lists its last poll for minutes more.
		c.advance(time.Minute)
		record(SiteWorkerChanges{}, SiteWorkerSeen{Identity: a, LastPollAt: last})
		c.advance(90 * time.Second)
		record(SiteWorkerChanges{Lost: []string{a}}, SiteWorkerSeen{Identity: a, LastPollAt: last})
		record(SiteWorkerChanges{})
		ws, _ = st.SiteWorkers(ctx, f.site.ID)
		if len(ws) != 1 || ws[0].LostAt == nil || ws[0].Polling(c.peek()) || !ws[0].LastPollAt.Equal(last) {
			t.Fatalf("a lost worker: %+v", ws)
		}

		// A stale poller never seen polling is kept, without an event; the lost one comes back.
		b := domain.SiteWorker{Site: f.site.ID, Version: "1.3.9", Host: "old-gw", PID: 12}.Identity()
		c.advance(time.Hour)
		record(SiteWorkerChanges{Seen: []string{a}}, poll(a, time.Second), poll(b, 4*time.Minute))
		ws, _ = st.SiteWorkers(ctx, f.site.ID)
		if len(ws) != 2 || ws[0].Identity != a || !ws[0].Polling(c.peek()) || ws[1].Identity != b || ws[1].Polling(c.peek()) || ws[1].LostAt == nil {
			t.Fatalf("after the return: %+v", ws)
		}

		evs := siteEvents(t, st, f.site.ID)
		var actions []string
		for _, e := range evs {
			actions = append(actions, strings.Fields(e)[0])
		}
		if want := []string{"site.changed", "site.worker_seen", "site.worker_lost", "site.worker_seen"}; !slices.Equal(actions, want) {
			t.Fatalf("site events %q, want %q", evs, want)
		}
		if !strings.Contains(evs[1], `"host":"plant-b-gw"`) || !strings.Contains(evs[1], `"task_queue":"otpatch-site-`+f.site.ID) || !strings.Contains(evs[1], `"version":"1.4.0"`) {
			t.Fatalf("the worker_seen event says %s", evs[1])
		}

		// The campaign's assets are all at this site.
		cs, err := st.CampaignSiteWorkers(ctx, f.campaign.ID)
		check(t, "CampaignSiteWorkers", err)
		if len(cs) != 1 || cs[0].ID != f.site.ID || cs[0].DeviceWork != sw || len(cs[0].Workers) != 2 || cs[0].Workers[0].Identity != a || cs[0].Workers[1].LostAt == nil {
			t.Fatalf("CampaignSiteWorkers = %+v", cs)
		}
		central := domain.DeviceWorkCentral
		_, err = st.UpdateSite(ctx, f.site.ID, SiteChange{DeviceWork: &central}, admin)
		check(t, "UpdateSite", err)
		if cs, err := st.CampaignSiteWorkers(ctx, f.campaign.ID); err != nil || len(cs) != 0 {
			t.Fatalf("with central device work, CampaignSiteWorkers = %+v, %v; want none", cs, err)
		}

		// Lost workers are forgotten after a week.
		c.advance(8 * 24 * time.Hour)
		record(SiteWorkerChanges{Lost: []string{a}})
		c.advance(8 * 24 * time.Hour)
		record(SiteWorkerChanges{})
		if ws, _ := st.SiteWorkers(ctx, f.site.ID); len(ws) != 0 {
			t.Fatalf("after two weeks: %+v, want none kept", ws)
		}
	})
}

// TestRecordSiteWorkersOddIdentity: any process may poll a site's task queue under any
// identity; one with a NUL byte or invalid UTF-8 (which PostgreSQL's TEXT refuses) is
// recorded all the same, so it cannot stop the site's presence from being kept.
func TestRecordSiteWorkersOddIdentity(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		site := Site{Name: "Plant B", DeviceWork: domain.DeviceWorkSiteWorker}
		check(t, "CreateSite", st.CreateSite(ctx, &site, admin))
		now := st.Now()
		ch, err := st.RecordSiteWorkers(ctx, site.ID, []SiteWorkerSeen{
			{Identity: "4242@gw\x00x", Host: "gw\xff", LastPollAt: now},
			{Identity: "4243@gw", LastPollAt: now},
		})
		check(t, "RecordSiteWorkers", err)
		if want := []string{"4242@gwx", "4243@gw"}; !slices.Equal(ch.Seen, want) {
			t.Fatalf("seen %q, want %q", ch.Seen, want)
		}
		ws, err := st.SiteWorkers(ctx, site.ID)
		check(t, "SiteWorkers", err)
		if len(ws) != 2 || ws[0].Identity != "4242@gwx" || ws[0].Host != "gw\uFFFD" {
			t.Fatalf("SiteWorkers = %+v", ws)
		}
	})
}

// TestSiteWorkersKeptBounded: of the workers lost, only the most recent hundred are kept.
func TestSiteWorkersKeptBounded(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		site := Site{Name: "Plant B", DeviceWork: domain.DeviceWorkSiteWorker}
		check(t, "CreateSite", st.CreateSite(ctx, &site, admin))
		old := st.Now().Add(-time.Hour)
		for batch := range 2 { // pollers listed already stale: recorded lost
			var seen []SiteWorkerSeen
			for i := range 60 {
				seen = append(seen, SiteWorkerSeen{Identity: fmt.Sprintf("gone-%d-%02d", batch, i), LastPollAt: old.Add(time.Duration(batch*60+i) * time.Second)})
			}
			_, err := st.RecordSiteWorkers(ctx, site.ID, seen)
			check(t, "RecordSiteWorkers", err)
		}
		var kept []string
		check(t, "count", st.db.Model(&SiteWorker{}).Where("site_id = ?", site.ID).Order("identity").Pluck("identity", &kept).Error)
		if len(kept) != maxSiteWorkers || kept[0] != "gone-0-20" || kept[len(kept)-1] != "gone-1-59" {
			t.Fatalf("kept %d workers from %q to %q, want the %d most recent: gone-0-20 to gone-1-59", len(kept), kept[0], kept[len(kept)-1], maxSiteWorkers)
		}
	})
}
