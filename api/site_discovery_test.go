package api_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// arpTable is the kernel's neighbour table of a site worker's host (/proc/net/arp): a PLC and
// an HMI on the control network answered, one address never did (incomplete, flags 0x0).
const arpTable = `IP address       HW type     Flags       HW address            Mask     Device
10.30.0.11       0x1         0x2         00:1b:1b:30:00:11     *        eth1
10.30.0.12       0x1         0x2         00:0e:8c:30:00:12     *        eth1
10.30.0.99       0x1         0x0         00:00:00:00:00:00     *        eth1
`

// TestSiteWorkersReportTheirNeighbours: the worker of a site with site workers reads its
// host's neighbour table when the central side asks, on the site's own task queue; each
// device in it that no asset knows becomes a discovery with an unknown-device alarm, reported
// by the site's worker, and a second run raises nothing new. A site whose worker is not
// running is skipped with the reason, without holding the others up.
func TestSiteWorkersReportTheirNeighbours(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	east, west := e.siteWithWorkers("Plant East"), e.siteWithWorkers("Plant West")
	table := filepath.Join(t.TempDir(), "arp")
	if err := os.WriteFile(table, []byte(arpTable), 0o644); err != nil {
		t.Fatal(err)
	}
	identity := domain.SiteWorker{Site: east, Version: "test", Host: "east-gw", PID: os.Getpid()}.Identity()
	w := worker.New(e.temporal.GetDefaultClient(), domain.SiteTaskQueue(east), workflows.WorkerOptions(worker.Options{Identity: identity}))
	w.RegisterActivity(&activities.Device{Objects: e.objects, Worker: identity, NeighborsFile: table})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	g := &engine.Gateway{Temporal: e.temporal.GetDefaultClient()}
	res, err := g.DiscoverSites(ctx, workflows.SiteDiscoveryInput{WaitSeconds: 3})
	if err != nil {
		t.Fatal(err)
	}
	bySite := map[string]workflows.SiteReport{}
	for _, r := range res.Sites {
		bySite[r.SiteID] = r
	}
	if r := bySite[east]; r.SiteName != "Plant East" || r.Worker != identity || r.Neighbors != 2 || r.New != 2 || r.Alarms != 2 || r.Skipped != "" {
		t.Errorf("east's report: %+v, want its worker's 2 neighbours, both new with an alarm", r)
	}
	if r := bySite[west]; !strings.Contains(r.Skipped, "no worker of the site") {
		t.Errorf("west's report: %+v, want it skipped for want of a worker", r)
	}
	ds := e.discoveries(store.DiscoveryOpen)
	var macs []string
	for _, d := range ds {
		if d.Source != store.SourceSite || d.ReportedBy != "site worker of Plant East" {
			t.Errorf("discovery %+v, want one reported by east's site worker", d)
		}
		macs = append(macs, d.MACs...)
	}
	slices.Sort(macs)
	if want := []string{"00:0e:8c:30:00:12", "00:1b:1b:30:00:11"}; !slices.Equal(macs, want) {
		t.Errorf("discovered MACs %v, want %v (the incomplete entry left out)", macs, want)
	}
	if open, _ := e.unknownDeviceAlarms(); open != 2 {
		t.Errorf("%d unknown-device alarms, want 2", open)
	}

	res, err = g.DiscoverSites(ctx, workflows.SiteDiscoveryInput{WaitSeconds: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Sites {
		if r.SiteID == east && (r.Neighbors != 2 || r.New != 0 || r.Alarms != 0) {
			t.Errorf("east's second report: %+v, want the same 2 neighbours, nothing new", r)
		}
	}
	if open, _ := e.unknownDeviceAlarms(); open != 2 {
		t.Errorf("%d unknown-device alarms after the second run, want still 2", open)
	}
	if n := e.auditCount("discovery.site_reported"); n != 2 {
		t.Errorf("%d discovery.site_reported events, want 2", n)
	}

	// An engineer asks now, through the API: each site's report; an auditor may not ask.
	var now workflows.SiteDiscoveryResult
	if code := e.call("POST", "/api/v1/discoveries/sites", e.tokens.Engineer, nil, &now); code != http.StatusOK || len(now.Sites) != 2 {
		t.Fatalf("ask the site workers now: %d %+v", code, now)
	}
	for _, r := range now.Sites {
		if r.SiteID == east && (r.Worker != identity || r.Neighbors != 2 || r.New != 0) {
			t.Errorf("east's report asked for now: %+v", r)
		}
	}
	if code := e.call("POST", "/api/v1/discoveries/sites", e.tokens.Auditor, nil, nil); code != http.StatusForbidden {
		t.Errorf("an auditor asking: %d, want 403", code)
	}
}
