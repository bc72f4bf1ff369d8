package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	gossh "golang.org/x/crypto/ssh"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/adapters"
	sshadapter "github.com/otpatch/otpatch/internal/adapters/ssh"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/workflows"
)

// siteWorker starts a site worker for site in this process: it polls only the site's task
// queue and holds only the given key and pinned host keys.
func (e *env) siteWorker(site string, key gossh.Signer, knownHosts string) (identity string) {
	e.t.Helper()
	ssh, err := sshadapter.New(sshadapter.Config{Signer: key, KnownHostsFile: knownHosts}, activities.EndpointFromInput)
	if err != nil {
		e.t.Fatal(err)
	}
	identity = domain.SiteWorker{Site: site, Version: "test", Host: "site-" + site, PID: os.Getpid()}.Identity()
	w := worker.New(e.temporal.GetDefaultClient(), domain.SiteTaskQueue(site), workflows.WorkerOptions(worker.Options{Identity: identity}))
	w.RegisterActivity(&activities.Device{Objects: e.objects, Adapters: map[string]adapters.Target{adapters.SSH: ssh}, Worker: identity})
	if err := w.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
	return identity
}

// siteWithWorkers creates a site whose device work runs on its own site workers.
func (e *env) siteWithWorkers(name string) string {
	e.t.Helper()
	var site struct{ ID string }
	if code := e.call("POST", "/api/v1/sites", e.tokens.Admin, map[string]any{"name": name, "device_work": "site_worker"}, &site); code != http.StatusCreated {
		e.t.Fatalf("create site %s: %d", name, code)
	}
	return site.ID
}

// zoneIn creates a zone of site (a test bench when bench is set) whose window is always open.
func (e *env) zoneIn(siteID, name string, bench bool) string {
	e.t.Helper()
	var zone struct{ ID string }
	w := domain.Window{Cron: "* * * * *", Duration: domain.Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2}
	if code := e.call("POST", "/api/v1/zones", e.tokens.Engineer, map[string]any{"site_id": siteID, "name": name, "sl_t": 2, "test_bench": bench, "window": w}, &zone); code != http.StatusCreated {
		e.t.Fatalf("create zone %s: %d", name, code)
	}
	return zone.ID
}

// TestEngineSiteWorkers runs one campaign over three sites whose device work runs on their own
// site workers: site A (test bench and a gateway) and site B each have a worker that holds only
// its own device's key; site C has none. The central worker holds no ssh key at all. A's and B's
// gateways are patched by their own site's worker, each once; C's gateway waits its site's limit,
// ends site_unreachable with an alarm and is left untouched.
func TestEngineSiteWorkers(t *testing.T) {
	benchDev, devA, devB, devC := testenv.SSHD(t), testenv.SSHD(t), testenv.SSHD(t), testenv.SSHD(t)
	for _, d := range []*testenv.SSHServer{benchDev, devA, devB, devC} {
		sshGateway(t, d, false)
	}
	// Site A's worker reaches A's bench and gateway with one key; B's worker only B's gateway.
	benchDev.Authorize(t, devA.Signer.PublicKey())
	knownA := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownA, []byte(benchDev.KnownHostsLine+"\n"+devA.KnownHostsLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, envOptions{expected: map[string]time.Duration{adapters.SSH: time.Minute}})
	siteA, siteB, siteC := e.siteWithWorkers("Plant A"), e.siteWithWorkers("Plant B"), e.siteWithWorkers("Plant C")
	benchZone, zoneA := e.zoneIn(siteA, "Plant A bench", true), e.zoneIn(siteA, "Plant A packaging", false)
	zoneB, zoneC := e.zoneIn(siteB, "Plant B line", false), e.zoneIn(siteC, "Plant C line", false)
	// Site C's device work waits two seconds for a worker (the API's least is a minute).
	if err := e.store.DB().Exec("UPDATE sites SET unreachable_after_seconds = 2 WHERE id = ?", siteC).Error; err != nil {
		t.Fatal(err)
	}
	idA := e.siteWorker(siteA, devA.Signer, knownA)
	idB := e.siteWorker(siteB, devB.Signer, devB.KnownHostsFile)

	product := e.gatewayProduct()
	asset := func(zone, name string, srv *testenv.SSHServer) string {
		var as store.Asset
		ep := adapters.Endpoint{Address: srv.Addr, User: srv.User, BackupPaths: []string{srv.Home + "/etc", srv.Home + "/firmware"}}
		if code := e.call("POST", "/api/v1/assets", e.tokens.Engineer, map[string]any{"zone_id": zone, "product_id": product, "name": name,
			"installed_version": "1.0.0", "criticality": 2, "adapter": "ssh", "endpoint": ep}, &as); code != http.StatusCreated {
			t.Fatalf("create %s: %d", name, code)
		}
		return as.ID
	}
	asset(benchZone, "a-bench-gw", benchDev)
	gwA := asset(zoneA, "a-pkg-gw", devA)
	gwB := asset(zoneB, "b-gw", devB)
	gwC := asset(zoneC, "c-gw", devC)
	pt := e.qualifiedGatewayPatch()
	c := e.approvedCampaign(pt.ID, []string{gwA, gwB, gwC}, map[string]any{"error_threshold": 1})
	c = e.waitCampaignWithin(3*time.Minute, c.ID, "completed", "halted", "rolled_back", "failed")
	for id, want := range map[string]string{gwA: "done", gwB: "done", gwC: "site_unreachable"} {
		if s := e.assetState(c, id); s != want {
			t.Errorf("%s: %s, want %s (%+v)", id, s, want, c.Assets)
		}
	}
	for _, d := range []*testenv.SSHServer{devA, devB} {
		if v := readTrim(t, filepath.Join(d.Home, "firmware/version")); v != "2.0.0" {
			t.Errorf("%s runs %q, want 2.0.0", d.Addr, v)
		}
	}
	if v := readTrim(t, filepath.Join(devC.Home, "firmware/version")); v != "1.0.0" {
		t.Errorf("site C's gateway runs %q, want it untouched on 1.0.0", v)
	}
	if _, err := os.Stat(filepath.Join(devC.Home, ".otpatch")); err == nil {
		t.Error("site C's gateway holds otpatch's work directory: something reached it")
	}

	// The audit trail names the site worker that did each step; each gateway was deployed once.
	events, err := e.store.AuditEvents(context.Background(), store.AuditFilter{CampaignID: c.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	deploys := map[string]int{}
	for _, ev := range events {
		switch ev.Action {
		case "asset.deploying":
			deploys[ev.AssetID]++
		case "asset.backed_up":
			want := map[string]string{gwA: idA, gwB: idB}[ev.AssetID]
			var d struct{ Worker string }
			_ = json.Unmarshal([]byte(ev.Details), &d)
			if got := d.Worker; want != "" && got != want {
				t.Errorf("%s backed up by %q, want its site's worker %q", ev.AssetID, got, want)
			}
		}
	}
	if deploys[gwA] != 1 || deploys[gwB] != 1 || deploys[gwC] != 0 {
		t.Errorf("deploys per asset: %v, want one each for A and B, none for C", deploys)
	}
	// What the device printed came back from the site and is in the deployment log.
	var log []store.DeploymentLogLine
	if code := e.list("/api/v1/campaigns/"+c.ID+"/assets/"+gwB+"/log", e.tokens.Auditor, &log); code != http.StatusOK {
		t.Fatalf("log: %d", code)
	}
	var text strings.Builder
	for _, l := range log {
		text.WriteString(l.Text)
	}
	if !strings.Contains(text.String(), "gw-update: done") {
		t.Errorf("site B's gateway's log lacks the installer's output:\n%s", text.String())
	}
	// Site C's asset raised an alarm saying what to do.
	var alarms []struct {
		Kind    string `json:"kind"`
		AssetID string `json:"asset_id"`
		Message string `json:"message"`
	}
	if code := e.list("/api/v1/alarms", e.tokens.Engineer, &alarms); code != http.StatusOK {
		t.Fatalf("alarms: %d", code)
	}
	found := false
	for _, al := range alarms {
		if al.AssetID == gwC && strings.Contains(al.Message, "otpatch worker --site "+siteC) {
			found = true
		}
	}
	if !found {
		t.Errorf("no site-unreachable alarm for %s naming the fix: %+v", gwC, alarms)
	}
}
