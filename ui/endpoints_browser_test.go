package ui_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/sdk/worker"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/workflows"
)

// TestBrowserEndpointsAndLogs: a network scan names two devices no asset knows; an engineer
// opens the Endpoints & agents page, sees every asset's endpoint and the two unknown devices,
// claims one for an asset and rejects the other with a reason, and both leave the open state.
// After a campaign completed, the Deployment logs page shows what each device printed, per
// campaign and asset. An auditor sees the devices without the claim and reject controls.
func TestBrowserEndpointsAndLogs(t *testing.T) {
	chromium(t)
	s := newStack(t)
	sh := newShots(t)

	scan := "hostname,ip,mac,vendor,model,seen_at\n" +
		"plc-x,10.20.0.5,00:1b:1b:aa:00:05,Siemens,S7-1500,2026-01-05T10:00:00Z\n" +
		"rogue-laptop,10.20.0.9,,,,2026-01-05T10:00:00Z\n"
	req, _ := http.NewRequest("POST", s.url+"/api/v1/discoveries/import", strings.NewReader(scan))
	req.Header.Set("Authorization", "Bearer "+s.tokens.Engineer)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("import the scan: %d %s", res.StatusCode, b)
	}

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/endpoints", `#discovery-list tbody tr`)
	engineer.run("the endpoints", 20*time.Second, chromedp.WaitVisible(css(`#endpoint-list tr[data-asset="ast_pkg-hmi-01"]`)))
	if got := engineer.text(`#endpoint-list tr[data-asset="ast_pkg-hmi-01"]`); !strings.Contains(got, "simulat") {
		t.Errorf("pkg-hmi-01's endpoint row: %q", got)
	}
	if got := engineer.text(`#discovery-list`); !strings.Contains(got, "plc-x") || !strings.Contains(got, "rogue-laptop") || !strings.Contains(got, "open") {
		t.Errorf("the unknown devices: %q", got)
	}
	engineer.shot("endpoints")
	engineer.checkAccessible("endpoints")

	engineer.run("claim plc-x for pkg-plc-01", 30*time.Second,
		chromedp.SetValue(css(`#discovery-list tbody tr:nth-child(1) select.claim-asset`), "ast_pkg-plc-01"),
		chromedp.Click(css(`#discovery-list tbody tr:nth-child(1) button.claim`)))
	s.waitFor("the claim drawn", func() (bool, string) {
		got := engineer.text(`#discovery-list`)
		return strings.Contains(got, "claimed"), got
	})
	engineer.run("reject the other with a reason", 30*time.Second,
		chromedp.WaitVisible(css(`#discovery-list input.reject-reason`)),
		chromedp.SendKeys(css(`#discovery-list input.reject-reason`), "a visitor's laptop on the guest port"),
		chromedp.Click(css(`#discovery-list button.reject`)))
	s.waitFor("the rejection drawn", func() (bool, string) {
		got := engineer.text(`#discovery-list`)
		return strings.Contains(got, "rejected") && strings.Contains(got, "a visitor's laptop") && !engineer.exists(`#discovery-list button.claim`), got
	})
	engineer.shot("endpoints-decided")
	var alarms struct {
		Items []struct {
			Kind      string `json:"kind"`
			ClearedAt string `json:"cleared_at"`
		} `json:"items"`
	}
	s.call("GET", "/api/v1/alarms", s.tokens.Engineer, nil, &alarms)
	for _, a := range alarms.Items {
		if a.Kind == "unknown_device" && a.ClearedAt == "" {
			t.Errorf("an unknown-device alarm is still open after both devices were decided: %+v", alarms.Items)
		}
	}

	// A scan from nmap, through the page: a report with a bad host is refused with the host
	// named, and the good one lists the workstation it found.
	report := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -sn -oX scan.xml 10.20.0.0/24" start="1767607200" version="7.93" xmloutputversion="1.05">
<host endtime="1767607230"><status state="up" reason="arp-response"/>
<address addr="10.20.0.77" addrtype="ipv4"/><address addr="00:0C:29:77:00:77" addrtype="mac" vendor="VMware"/>
<hostnames><hostname name="scada-ws-7" type="PTR"/></hostnames>
</host>
</nmaprun>
`
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "scan.xml"), filepath.Join(dir, "bad-scan.xml")
	if err := os.WriteFile(good, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(report, "10.20.0.77", "10.20.0.777", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	engineer.run("import a scan with a bad host", 30*time.Second,
		chromedp.SetUploadFiles(css(`#scan-file`), []string{bad}),
		chromedp.Click(css(`#import-scan`)),
		chromedp.WaitVisible(css(`#scan-errors`)))
	if got := engineer.text(`#scan-errors`); !strings.Contains(got, "host 1: address") || !strings.Contains(got, "10.20.0.777") {
		t.Errorf("the refused scan lists %q", got)
	}
	engineer.shot("endpoints-scan-refused")
	engineer.run("import the scan", 30*time.Second,
		chromedp.SetUploadFiles(css(`#scan-file`), []string{good}),
		chromedp.Click(css(`#import-scan`)),
		chromedp.WaitVisible(css(`#scan-ok`)))
	if got := engineer.text(`#scan-ok`); !strings.Contains(got, "1 new unknown") {
		t.Errorf("the imported scan says %q", got)
	}
	s.waitFor("the scanned workstation listed", func() (bool, string) {
		got := engineer.text(`#discovery-list`)
		return strings.Contains(got, "scada-ws-7") && strings.Contains(got, "00:0c:29:77:00:77"), got
	})
	engineer.shot("endpoints-scan-imported")

	// A site whose device work runs on its own worker: asked now, the worker reads its host's
	// neighbour table and the device in it no asset knows is listed.
	var site struct{ ID string }
	if code := s.call("POST", "/api/v1/sites", s.tokens.Admin, map[string]any{"name": "Plant East", "device_work": "site_worker"}, &site); code != http.StatusCreated {
		t.Fatalf("create the site: %d", code)
	}
	table := filepath.Join(dir, "arp")
	if err := os.WriteFile(table, []byte("IP address       HW type     Flags       HW address            Mask     Device\n"+
		"10.30.0.11       0x1         0x2         00:1b:1b:30:00:11     *        eth1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	identity := domain.SiteWorker{Site: site.ID, Version: "test", Host: "east-gw", PID: os.Getpid()}.Identity()
	w := worker.New(s.temporal.GetDefaultClient(), domain.SiteTaskQueue(site.ID), workflows.WorkerOptions(worker.Options{Identity: identity}))
	w.RegisterActivity(&activities.Device{Worker: identity, NeighborsFile: table})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	engineer.run("ask the site workers now", 60*time.Second,
		chromedp.Click(css(`#ask-sites`)),
		chromedp.WaitVisible(css(`#sites-reports li[data-site="`+site.ID+`"]`)))
	if got := engineer.text(`#sites-reports li[data-site="` + site.ID + `"]`); !strings.Contains(got, "Plant East") || !strings.Contains(got, "saw 1 neighbour;") || !strings.Contains(got, "1 new unknown") {
		t.Errorf("the site's report: %q", got)
	}
	s.waitFor("the site's unknown device listed", func() (bool, string) {
		got := engineer.text(`#discovery-list`)
		return strings.Contains(got, "00:1b:1b:30:00:11") && strings.Contains(got, "site worker of Plant East (neighbour table)"), got
	})
	engineer.shot("endpoints-site-workers")

	// The deployment logs of a completed campaign.
	patchID := s.submitByAPI(s.signedPatch("V16.0.2", 1<<20))
	s.openWindowNow("zone_packaging")
	id := s.approvedCampaign("Logs shown", patchID, []string{"ast_pkg-hmi-01"})
	s.waitFor("the campaign to complete", func() (bool, string) {
		var c struct{ Status, Detail string }
		s.call("GET", "/api/v1/campaigns/"+id, s.tokens.Engineer, nil, &c)
		return c.Status == "completed", c.Status + " " + c.Detail
	})
	engineer.open("/logs?campaign="+id+"&asset=ast_pkg-hmi-01", `.asset-log`)
	if got := engineer.text(`.asset-log[data-asset="ast_pkg-hmi-01"]`); !strings.Contains(got, "pkg-hmi-01") || !strings.Contains(got, "V16.0.2") {
		t.Errorf("the deployment log of pkg-hmi-01: %q", got)
	}
	engineer.shot("deployment-logs")
	engineer.checkAccessible("deployment-logs")

	auditor := s.browser(t, "auditor", sh)
	auditor.signIn(s.tokens.Auditor)
	auditor.open("/endpoints", `#discovery-list tbody tr`)
	if auditor.exists(`#discovery-list button.claim`) || auditor.exists(`#discovery-list button.reject`) {
		t.Error("the auditor is offered to claim or reject a device")
	}
}
