package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/adapters"
	sshadapter "github.com/otpatch/otpatch/internal/adapters/ssh"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/demo/sshdevice"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

func init() {
	allowed["PUT /api/v1/assets/{assetID}/endpoint"] = []string{"engineer", "admin"}
	allowed["GET /api/v1/campaigns/{campaignID}/assets/{assetID}/log"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
}

// gatewayPatch is Northwind's firmware update for its Linux edge gateway, with the install,
// verify and rollback steps the ssh and agent adapters run.
func gatewayPatch() testPatch {
	sum := sha256.Sum256(sshdevice.Installer)
	return testPatch{artifact: sshdevice.Installer, manifest: domain.Manifest{
		Schema: domain.ManifestSchemaVersion, Vendor: "northwind", Product: "EdgeGateway", PatchID: "NW-SA-2026-031", Version: "2.0.0",
		Title: "EdgeGateway firmware: OPC UA server hardening", ReleaseDate: "2026-11-24", AffectedVersions: []string{"< 2.0.0"},
		FixedVersion: "2.0.0", CVEs: []domain.CVE{{ID: "CVE-2026-40112", CVSS: 7.5}}, RestartRequired: "service",
		Install: sshdevice.InstallStep, Verify: sshdevice.VerifyStep, Rollback: sshdevice.RollbackStep,
		Compatibility: []domain.CompatibilityRow{{ProductVersion: "1.0.0", Status: "qualified"}},
		Artifacts:     []domain.ArtifactRef{{Name: "gw-update-2.0.0.sh", Size: int64(len(sshdevice.Installer)), SHA256: hex.EncodeToString(sum[:])}},
	}}
}

// gatewayProduct adds Northwind's EdgeGateway to the catalogue.
func (e *env) gatewayProduct() string {
	e.t.Helper()
	var prod struct{ ID string }
	if code := e.call("POST", "/api/v1/products", e.tokens.Admin, map[string]any{"vendor_id": "vnd_northwind", "name": "EdgeGateway", "kind": "gateway"}, &prod); code != http.StatusCreated {
		e.t.Fatalf("create product: %d", code)
	}
	return prod.ID
}

// qualifiedGatewayPatch submits gatewayPatch as Northwind and waits until it is qualified.
func (e *env) qualifiedGatewayPatch() patchDoc {
	e.t.Helper()
	raw, _ := json.Marshal(gatewayPatch().manifest)
	sub := submission{manifest: raw, signature: signing.Sign(e.keys["northwind"], raw), artifacts: map[string][]byte{"gw-update-2.0.0.sh": sshdevice.Installer}}
	var doc patchDoc
	if code := e.submit(e.tokens.Vendor2, sub, &doc); code != http.StatusCreated {
		e.t.Fatalf("submit gateway patch: %d", code)
	}
	e.waitFor("qualification", func() (bool, string) {
		e.call("GET", "/api/v1/patches/"+doc.ID, e.tokens.Engineer, nil, &doc)
		return doc.Status == "qualified" || doc.Status == "rejected", doc.Status
	})
	if doc.Status != "qualified" {
		e.t.Fatalf("gateway patch %s: %v", doc.Status, doc.Reasons)
	}
	return doc
}

// sshGateway lays a demo gateway running 1.0.0 out in a real OpenSSH server's account.
func sshGateway(t *testing.T, srv *testenv.SSHServer, faulty bool) {
	t.Helper()
	if err := sshdevice.Provision(srv.Home, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if faulty {
		if err := os.WriteFile(filepath.Join(srv.Home, sshdevice.FaultMarker), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv.Chown(t)
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestEngineSSHAssets runs a campaign over two Linux gateways reached through the ssh adapter,
// each a real OpenSSH server with its own host key: one installs and verifies, the other's
// watchdog trips after the install, so its verify fails and otpatch puts its backup back.
func TestEngineSSHAssets(t *testing.T) {
	bench, good, bad := testenv.SSHD(t), testenv.SSHD(t), testenv.SSHD(t)
	sshGateway(t, bench, false)
	sshGateway(t, good, false)
	sshGateway(t, bad, true)
	// One client key reaches every device; every host key is pinned.
	var known strings.Builder
	for _, srv := range []*testenv.SSHServer{bench, good, bad} {
		known.WriteString(srv.KnownHostsLine + "\n")
		if srv == good {
			continue
		}
		srv.Authorize(t, good.Signer.PublicKey())
	}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{adapters: func(st *store.Store, _ *artifacts.Store) map[string]adapters.Target {
		a, err := sshadapter.New(sshadapter.Config{Signer: good.Signer, KnownHostsFile: knownHosts}, st.AssetEndpoint)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]adapters.Target{adapters.SSH: a}
	}})
	product := e.gatewayProduct()
	endpoint := func(srv *testenv.SSHServer) adapters.Endpoint {
		return adapters.Endpoint{Address: srv.Addr, User: srv.User, BackupPaths: []string{srv.Home + "/etc", srv.Home + "/firmware"}}
	}
	asset := func(zone, name string, ep *adapters.Endpoint) string {
		var as store.Asset
		if code := e.call("POST", "/api/v1/assets", e.tokens.Engineer, map[string]any{"zone_id": zone, "product_id": product, "name": name,
			"installed_version": "1.0.0", "criticality": 2, "adapter": "ssh", "endpoint": ep}, &as); code != http.StatusCreated {
			t.Fatalf("create %s: %d", name, code)
		}
		return as.ID
	}
	benchEP, goodEP := endpoint(bench), endpoint(good)
	asset("zone_bench", "bench-gateway", &benchEP)
	gw1 := asset("zone_packaging", "pkg-gw-01", &goodEP)
	gw2 := asset("zone_packaging", "pkg-gw-02", nil)

	// Bad endpoints are refused, naming the field; nothing changes.
	for _, tc := range []struct {
		ep    adapters.Endpoint
		field string
	}{
		{adapters.Endpoint{Address: "10.0.0.5", User: bad.User, BackupPaths: []string{"/etc"}}, "endpoint.address"},
		{adapters.Endpoint{Address: bad.Addr, User: "root; reboot", BackupPaths: []string{"/etc"}}, "endpoint.user"},
		{adapters.Endpoint{Address: bad.Addr, User: bad.User, BackupPaths: []string{"etc/../../"}}, "endpoint.backup_paths[0]"},
		{adapters.Endpoint{Address: bad.Addr, User: bad.User}, "endpoint.backup_paths"},
	} {
		var p problemDoc
		if code := e.call("PUT", "/api/v1/assets/"+gw2+"/endpoint", e.tokens.Engineer, tc.ep, &p); code != http.StatusUnprocessableEntity || !fieldNamed(p, tc.field) {
			t.Errorf("endpoint %+v: %d %+v, want 422 naming %s", tc.ep, code, p, tc.field)
		}
	}
	pt := e.qualifiedGatewayPatch()
	// An ssh asset without an endpoint cannot be planned.
	var p problemDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "gw", "patch_id": pt.ID, "asset_ids": []string{gw1, gw2}}, &p); code != http.StatusUnprocessableEntity ||
		!strings.Contains(p.Errors[0].Message, "no endpoint") {
		t.Fatalf("campaign over an asset without endpoint: %d %+v", code, p)
	}
	if code := e.call("PUT", "/api/v1/assets/"+gw2+"/endpoint", e.tokens.Engineer, endpoint(bad), nil); code != http.StatusOK {
		t.Fatalf("set endpoint: %d", code)
	}

	e.openWindowNow("zone_packaging")
	c := e.approvedCampaign(pt.ID, []string{gw1, gw2}, map[string]any{"error_threshold": 1})
	// While the campaign runs, the endpoint its backups came from stays put.
	if code := e.call("PUT", "/api/v1/assets/"+gw1+"/endpoint", e.tokens.Engineer, endpoint(bad), &p); code != http.StatusConflict || !strings.Contains(p.Detail, c.ID) {
		t.Errorf("endpoint change during the campaign: %d %+v, want 409 naming %s", code, p, c.ID)
	}
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back", "failed")
	if s := e.assetState(c, gw1); s != "done" {
		t.Errorf("%s: %s, want done (%+v)", gw1, s, c.Assets)
	}
	if s := e.assetState(c, gw2); s != "rolled_back" {
		t.Errorf("%s: %s, want rolled_back (%+v)", gw2, s, c.Assets)
	}
	// The devices themselves: the good gateway runs 2.0.0, the faulted one is back on 1.0.0 with
	// its old configuration and no fault.
	if v := readTrim(t, filepath.Join(good.Home, "firmware/version")); v != "2.0.0" {
		t.Errorf("good gateway runs %q, want 2.0.0", v)
	}
	if v := readTrim(t, filepath.Join(bad.Home, "firmware/version")); v != "1.0.0" {
		t.Errorf("faulted gateway runs %q after rollback, want 1.0.0", v)
	}
	if conf := readTrim(t, filepath.Join(bad.Home, "etc/gateway.conf")); !strings.Contains(conf, "hardening=off") {
		t.Errorf("faulted gateway's configuration after rollback: %q", conf)
	}
	if _, err := os.Stat(filepath.Join(bad.Home, "firmware/fault")); err == nil {
		t.Error("faulted gateway still reports a fault after rollback")
	}
	// What the devices printed is in each asset's deployment log.
	logText := func(assetID string) string {
		var log []store.DeploymentLogLine
		if code := e.list("/api/v1/campaigns/"+c.ID+"/assets/"+assetID+"/log", e.tokens.Auditor, &log); code != http.StatusOK {
			t.Fatalf("log: %d", code)
		}
		var b strings.Builder
		for _, l := range log {
			b.WriteString(l.Stream + ": " + l.Text + "\n")
		}
		return b.String()
	}
	if l := logText(gw1); !strings.Contains(l, "gw-update: done") {
		t.Errorf("%s log lacks the installer's output:\n%s", gw1, l)
	}
	if l := logText(gw2); !strings.Contains(l, "watchdog tripped") || !strings.Contains(l, "gateway service restarted on firmware 1.0.0") {
		t.Errorf("%s log lacks the failed verify and the rollback step:\n%s", gw2, l)
	}
	var inv store.Asset
	e.call("GET", "/api/v1/assets/"+gw1, e.tokens.Engineer, nil, &inv)
	if inv.InstalledVersion != "2.0.0" {
		t.Errorf("inventory: %s runs %s, want 2.0.0", gw1, inv.InstalledVersion)
	}
}
