package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/agent"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	staffRoles := []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/discoveries"] = staffRoles
	allowed["GET /api/v1/discoveries/{discoveryID}"] = staffRoles
	allowed["GET /api/v1/endpoints"] = staffRoles
	allowed["POST /api/v1/discoveries/import"] = []string{"engineer", "admin"}
	allowed["POST /api/v1/discoveries/sites"] = []string{"engineer", "admin"}
	allowed["POST /api/v1/discoveries/{discoveryID}/claim"] = []string{"engineer", "admin"}
	allowed["POST /api/v1/discoveries/{discoveryID}/reject"] = []string{"engineer", "admin"}
}

type discoveryPage struct {
	Items []store.Discovery `json:"items"`
}

type alarmPage struct {
	Items []store.Alarm `json:"items"`
}

// waitFor polls cond until it holds or a minute passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) discoveries(state string) []store.Discovery {
	e.t.Helper()
	var p discoveryPage
	path := "/api/v1/discoveries"
	if state != "" {
		path += "?state=" + state
	}
	if code := e.call("GET", path, e.tokens.Engineer, nil, &p); code != http.StatusOK {
		e.t.Fatalf("GET %s: %d", path, code)
	}
	return p.Items
}

func (e *env) unknownDeviceAlarms() (open, cleared int) {
	e.t.Helper()
	var p alarmPage
	if code := e.call("GET", "/api/v1/alarms?limit=200", e.tokens.Engineer, nil, &p); code != http.StatusOK {
		e.t.Fatalf("GET /api/v1/alarms: %d", code)
	}
	for _, a := range p.Items {
		if a.Kind != store.AlarmUnknownDevice {
			continue
		}
		if a.ClearedAt == nil {
			open++
		} else {
			cleared++
		}
	}
	return open, cleared
}

// importSightings posts a sighting CSV as the engineer and answers the status and the body.
func (e *env) importSightings(body string) (int, map[string]any) {
	e.t.Helper()
	return e.importSightingsAs("text/csv", body)
}

func (e *env) importSightingsAs(contentType, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/api/v1/discoveries/import", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.tokens.Engineer)
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

// TestDiscoveryAgentReportsUnknownHost runs a real agent against the server: its host, which no
// asset knows, raises an unknown-device alarm and one discovery however often it reports; a
// vendor sees none of it; the engineer claims it for the agent's asset, which clears the alarm
// and makes the host known from then on.
func TestDiscoveryAgentReportsUnknownHost(t *testing.T) {
	r := newAgentRig(t)
	g := r.agentGateway("gw-discovery", false)
	rogue := jobs.Host{Hostname: "rogue-ws-7", MachineID: "4f1c9e0b7d2a4e55a1b2c3d4e5f60718", OS: "linux Debian GNU/Linux 13",
		Addresses: []string{"10.9.9.9"}, MACs: []string{"00:1B:1B:00:00:01"}}
	runHost := func(host jobs.Host) {
		a, err := agent.New(agent.Config{Server: r.https.URL, AssetID: g.id, Token: g.token, SigningKey: r.key.Public().(ed25519.PublicKey),
			StateDir: g.dir, Client: r.https.Client(), Wait: time.Second, Device: hostDevice(g.dir), Log: testLog(t),
			Host: func() (jobs.Host, error) { return host, nil }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}

	runHost(rogue)
	waitFor(t, "the discovery of the agent's unknown host", func() bool { return len(r.discoveries("")) == 1 })
	d := r.discoveries("")[0]
	if d.State != store.DiscoveryOpen || d.Source != store.SourceAgent || d.ReportedBy != g.id || d.Hostname != "rogue-ws-7" ||
		strings.Join(d.MACs, ",") != "00:1b:1b:00:00:01" || strings.Join(d.Addresses, ",") != "10.9.9.9" {
		t.Fatalf("discovery = %+v", d)
	}
	if open, _ := r.unknownDeviceAlarms(); open != 1 {
		t.Fatalf("%d open unknown-device alarms, want 1", open)
	}
	if code := r.call("GET", "/api/v1/discoveries", r.tokens.Vendor, nil, nil); code != http.StatusForbidden {
		t.Fatalf("a vendor reads the discoveries: %d", code)
	}

	// The agent starts again on the same host: the same discovery is seen again.
	runHost(rogue)
	waitFor(t, "the second sighting", func() bool { ds := r.discoveries(""); return len(ds) == 1 && ds[0].Sightings == 2 })
	if open, _ := r.unknownDeviceAlarms(); open != 1 {
		t.Fatalf("%d open unknown-device alarms after a second sighting, want 1", open)
	}

	var claimed store.Discovery
	if code := r.call("POST", "/api/v1/discoveries/"+d.ID+"/claim", r.tokens.Auditor, map[string]any{"asset_id": g.id}, nil); code != http.StatusForbidden {
		t.Fatalf("an auditor claims: %d", code)
	}
	if code := r.call("POST", "/api/v1/discoveries/"+d.ID+"/claim", r.tokens.Engineer, map[string]any{"asset_id": "ast_nope"}, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("claim for an unknown asset: %d", code)
	}
	if code := r.call("POST", "/api/v1/discoveries/"+d.ID+"/claim", r.tokens.Engineer, map[string]any{"asset_id": g.id}, &claimed); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	if claimed.State != store.DiscoveryClaimed || claimed.AssetID != g.id {
		t.Fatalf("claimed = %+v", claimed)
	}
	if code := r.call("POST", "/api/v1/discoveries/"+d.ID+"/reject", r.tokens.Engineer, map[string]any{"reason": "late"}, nil); code != http.StatusConflict {
		t.Fatalf("reject after claim: %d", code)
	}
	if open, cleared := r.unknownDeviceAlarms(); open != 0 || cleared != 1 {
		t.Fatalf("after the claim: %d open, %d cleared unknown-device alarms; want 0 and 1", open, cleared)
	}
	events, err := r.store.AuditEvents(context.Background(), store.AuditFilter{Action: "discovery.claimed"})
	if err != nil || len(events) != 1 {
		t.Fatalf("discovery.claimed events: %d, %v", len(events), err)
	}

	// From now on the host is the asset's: another start raises nothing, and the endpoints
	// overview shows the agent's host as known.
	runHost(rogue)
	waitFor(t, "the endpoints overview to show the known host", func() bool {
		var p struct {
			Items []struct {
				AssetID       string           `json:"asset_id"`
				LastContactAt *time.Time       `json:"last_contact_at"`
				Host          *store.AgentHost `json:"host"`
			} `json:"items"`
		}
		r.call("GET", "/api/v1/endpoints?adapter=agent", r.tokens.Auditor, nil, &p)
		for _, e := range p.Items {
			if e.AssetID == g.id && e.Host != nil && e.Host.Known && e.LastContactAt != nil {
				return true
			}
		}
		return false
	})
	if ds := r.discoveries(""); len(ds) != 1 || ds[0].State != store.DiscoveryClaimed {
		t.Fatalf("discoveries after the claim: %+v", ds)
	}
	if open, _ := r.unknownDeviceAlarms(); open != 0 {
		t.Fatalf("%d open unknown-device alarms after the host became known", open)
	}
}

// TestDiscoveryImport imports switch tables: a file with a bad row changes nothing; a device no
// asset knows is a discovery with an alarm, one the inventory names is not; a second import moves
// last seen and duplicates nothing; a rejected device is not alarmed again unless told.
func TestDiscoveryImport(t *testing.T) {
	e := newEnv(t, envOptions{})
	var assets struct {
		Items []store.Asset `json:"items"`
	}
	if code := e.call("GET", "/api/v1/assets", e.tokens.Engineer, nil, &assets); code != http.StatusOK || len(assets.Items) == 0 {
		t.Fatalf("assets: %d", code)
	}
	known := assets.Items[0]

	bad := "ip,mac,hostname,vendor,seen_at\n" +
		"10.20.0.5,00:1b:1b:aa:00:05,plc-x,Siemens,2026-01-05T10:00:00Z\n" +
		"10.20.0.300,00:1b:1b:aa:00:06,,,\n" +
		",zz:zz,,,\n" +
		",,,Acme,\n"
	code, prob := e.importSightings(bad)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("bad import: %d %v", code, prob)
	}
	b, _ := json.Marshal(prob["errors"])
	for _, want := range []string{`row 3: ip`, `row 4: mac`, `row 5: ip`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("refusal does not name %q: %s", want, b)
		}
	}
	if ds := e.discoveries(""); len(ds) != 0 {
		t.Fatalf("a refused import made %d discoveries", len(ds))
	}
	if open, _ := e.unknownDeviceAlarms(); open != 0 {
		t.Fatalf("a refused import raised %d alarms", open)
	}
	if code, _ := e.importSightings("ip,colour\n10.0.0.1,red\n"); code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown column: %d", code)
	}

	good := "hostname,ip,mac,vendor,model,seen_at\n" +
		"plc-x,10.20.0.5,00:1b:1b:aa:00:05,Siemens,S7-1500,2026-01-05T10:00:00Z\n" +
		strings.ToUpper(known.Name) + ",,,,,\n" +
		",10.20.0.9,,,,2026-01-05T10:00:00Z\n"
	code, res := e.importSightings(good)
	if code != http.StatusOK || res["new"] != 2.0 || res["known"] != 1.0 || res["alarms"] != 2.0 {
		t.Fatalf("import: %d %v", code, res)
	}
	code, res = e.importSightings(strings.Replace(good, "2026-01-05T10:00:00Z", "2026-01-06T10:00:00Z", -1))
	if code != http.StatusOK || res["new"] != 0.0 || res["seen"] != 2.0 || res["alarms"] != 0.0 {
		t.Fatalf("second import: %d %v", code, res)
	}
	ds := e.discoveries(store.DiscoveryOpen)
	if len(ds) != 2 {
		t.Fatalf("%d open discoveries, want 2: %+v", len(ds), ds)
	}
	byHost := map[string]store.Discovery{}
	for _, d := range ds {
		byHost[d.Hostname] = d
	}
	plc, bare := byHost["plc-x"], byHost[""]
	if plc.Sightings != 2 || !plc.LastSeenAt.Equal(time.Date(2026, 1, 6, 10, 0, 0, 0, time.UTC)) || plc.Vendor != "Siemens" || plc.Model != "S7-1500" {
		t.Fatalf("plc-x = %+v", plc)
	}
	if open, _ := e.unknownDeviceAlarms(); open != 2 {
		t.Fatalf("%d open alarms, want 2", open)
	}

	if code := e.call("POST", "/api/v1/discoveries/"+plc.ID+"/reject", e.tokens.Engineer, map[string]any{"reason": "  "}, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("reject without a reason: %d", code)
	}
	if code := e.call("POST", "/api/v1/discoveries/"+plc.ID+"/reject", e.tokens.Engineer, map[string]any{"reason": "the integrator's test PLC, leaves on Friday"}, nil); code != http.StatusOK {
		t.Fatalf("reject: %d", code)
	}
	if code := e.call("POST", "/api/v1/discoveries/"+bare.ID+"/reject", e.tokens.Engineer, map[string]any{"reason": "DHCP lease of a visitor", "realarm": true}, nil); code != http.StatusOK {
		t.Fatalf("reject with realarm: %d", code)
	}
	if open, cleared := e.unknownDeviceAlarms(); open != 0 || cleared != 2 {
		t.Fatalf("after the rejections: %d open, %d cleared", open, cleared)
	}
	code, res = e.importSightings(good)
	if code != http.StatusOK || res["alarms"] != 1.0 || res["new"] != 0.0 {
		t.Fatalf("import after the rejections: %d %v", code, res)
	}
	var got store.Discovery
	e.call("GET", "/api/v1/discoveries/"+plc.ID, e.tokens.Auditor, nil, &got)
	if got.State != store.DiscoveryRejected || got.Sightings != 3 {
		t.Fatalf("the rejected plc-x after a sighting: %+v", got)
	}
	e.call("GET", "/api/v1/discoveries/"+bare.ID, e.tokens.Auditor, nil, &got)
	if got.State != store.DiscoveryOpen || got.Realarm {
		t.Fatalf("the device rejected with realarm after a sighting: %+v", got)
	}
	if open, _ := e.unknownDeviceAlarms(); open != 1 {
		t.Fatalf("%d open alarms, want 1 (the device rejected with realarm)", open)
	}

	// Claim by creating an asset for the device.
	var claimed store.Discovery
	if code := e.call("POST", "/api/v1/discoveries/"+bare.ID+"/claim", e.tokens.Engineer, map[string]any{"asset": map[string]any{
		"zone_id": known.ZoneID, "product_id": known.ProductID, "name": "found-10-20-0-9", "installed_version": "1.0.0", "criticality": 2, "adapter": "simulator"}}, &claimed); code != http.StatusOK {
		t.Fatalf("claim with a new asset: %d", code)
	}
	var created store.Asset
	if code := e.call("GET", "/api/v1/assets/"+claimed.AssetID, e.tokens.Engineer, nil, &created); code != http.StatusOK || created.Name != "found-10-20-0-9" {
		t.Fatalf("the created asset: %d %+v", code, created)
	}
	code, res = e.importSightings(good)
	if code != http.StatusOK || res["known"] != 2.0 || res["alarms"] != 0.0 {
		t.Fatalf("import after the claim: %d %v", code, res)
	}
}
