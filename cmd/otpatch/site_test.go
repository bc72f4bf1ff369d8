package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/demo/sshdevice"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/temporalpg"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/workflows"
)

// TestSiteWorkersBehindConduits runs two sites as a plant runs them behind their conduits: each
// site is a network namespace the test made, with its gateways (real OpenSSH servers) and its
// own `otpatch worker --site`, which reaches Temporal (mutual TLS) and the object store only
// through its conduit to the central network, and holds only its site's device key. The central
// server and worker hold no device key. Site A's worker cannot reach site B's gateway. A campaign
// over both sites patches each gateway once, by its own site's worker; site B's worker is killed
// with SIGKILL while it reads its gateway, site B waits while site A completes, and a restarted
// worker finishes site B.
func TestSiteWorkersBehindConduits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal on PostgreSQL, MinIO, sshd in two network namespaces and five otpatch processes")
	}
	nsA, nsB := testenv.NewNetns(t), testenv.NewNetns(t)
	benchA, gwA, gwB := testenv.SSHDIn(t, nsA), testenv.SSHDIn(t, nsA), testenv.SSHDIn(t, nsB)
	for _, d := range []*testenv.SSHServer{benchA, gwA, gwB} {
		if err := sshdevice.Provision(d.Home, "1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	// Site B's gateway answers its first version read only when the test lets it: its version
	// file is a pipe, so site B's worker is busy reading it when the test kills the worker.
	gate := filepath.Join(gwB.Home, "firmware", "version")
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(gate, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*testenv.SSHServer{benchA, gwA, gwB} {
		d.Chown(t)
	}
	// Site A's worker logs in to both of its devices with one key.
	benchA.Authorize(t, gwA.Signer.PublicKey())
	knownA := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownA, []byte(benchA.KnownHostsLine+"\n"+gwA.KnownHostsLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The conduits: each site reaches its own devices and nothing of the other site.
	if !nsA.CanDial(gwA.Addr, 5*time.Second) || !nsB.CanDial(gwB.Addr, 5*time.Second) {
		t.Fatal("a site cannot reach its own gateway")
	}
	for _, c := range []struct {
		from *testenv.Netns
		to   string
	}{{nsA, gwB.Addr}, {nsB, gwA.Addr}, {nsB, benchA.Addr}} {
		if c.from.CanDial(c.to, 3*time.Second) {
			t.Fatalf("from %s, %s can be reached: the sites are not separated", c.from.Name, c.to)
		}
	}

	// Temporal's frontend requires a client certificate from the plant's CA.
	ca := testenv.NewCA(t, "plant otpatch CA")
	const temporalName = "temporal.plant.test"
	srvCert := ca.Server(temporalName, "127.0.0.1")
	s := startProductionStack(t, func(c *temporalpg.Config) {
		c.TLS = &temporalpg.ServerTLS{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.CertFile}
	})
	s.seed(t)
	tlsEnv := func(cert testenv.Certificate) []string {
		return []string{"OTPATCH_TEMPORAL_TLS_CERT=" + cert.CertFile, "OTPATCH_TEMPORAL_TLS_KEY=" + cert.KeyFile,
			"OTPATCH_TEMPORAL_TLS_CA=" + ca.CertFile, "OTPATCH_TEMPORAL_TLS_SERVER_NAME=" + temporalName}
	}
	central := ca.Client("otpatch-central")
	addr := freePort(t)
	base := "http://" + addr
	startOtpatch(t, "otpatch server", s.env(append(tlsEnv(central), "OTPATCH_LISTEN="+addr)...), answersReady(base), "server")
	startOtpatch(t, "central worker", s.env(tlsEnv(central)...), logsPolling, "worker")

	// The inventory: two sites whose device work runs at the site.
	c := apiClient{t: t, base: base}
	tok := s.tokens
	site := func(name string) string {
		var st struct{ ID string }
		if code := c.json("POST", "/api/v1/sites", tok["admin"], map[string]any{"name": name, "device_work": "site_worker"}, &st); code != http.StatusCreated {
			t.Fatalf("create site %s: %d", name, code)
		}
		return st.ID
	}
	siteA, siteB := site("Plant A"), site("Plant B")
	window := map[string]any{"cron": "* * * * *", "duration": "1h", "time_zone": "Europe/Zurich", "max_parallel": 2}
	zone := func(siteID, name string, slt int, bench bool) string {
		var z struct{ ID string }
		if code := c.json("POST", "/api/v1/zones", tok["engineer"], map[string]any{"site_id": siteID, "name": name, "sl_t": slt, "test_bench": bench, "window": window}, &z); code != http.StatusCreated {
			t.Fatalf("create zone %s: %d", name, code)
		}
		return z.ID
	}
	benchZone, zoneA, zoneB := zone(siteA, "A bench", 1, true), zone(siteA, "A packaging", 2, false), zone(siteB, "B filling", 3, false)
	var prod struct{ ID string }
	if code := c.json("POST", "/api/v1/products", tok["admin"], map[string]any{"vendor_id": "vnd_northwind", "name": "EdgeGateway", "kind": "gateway"}, &prod); code != http.StatusCreated {
		t.Fatalf("create product: %d", code)
	}
	asset := func(zoneID, name string, d *testenv.SSHServer) string {
		var as struct{ ID string }
		ep := map[string]any{"address": d.Addr, "user": d.User, "backup_paths": []string{d.Home + "/etc", d.Home + "/firmware"}}
		if code := c.json("POST", "/api/v1/assets", tok["engineer"], map[string]any{"zone_id": zoneID, "product_id": prod.ID, "name": name,
			"installed_version": "1.0.0", "criticality": 2, "adapter": "ssh", "endpoint": ep}, &as); code != http.StatusCreated {
			t.Fatalf("create asset %s: %d", name, code)
		}
		return as.ID
	}
	asset(benchZone, "a-bench-gw", benchA)
	assetA, assetB := asset(zoneA, "a-pkg-gw", gwA), asset(zoneB, "b-fill-gw", gwB)

	// Each site's worker runs inside its site and reaches the central network only through the
	// conduit: Temporal and the object store, forwarded on the site's side of the link.
	siteEnv := func(ns *testenv.Netns, siteID string, dev *testenv.SSHServer, known string) []string {
		return append([]string{
			"OTPATCH_TEMPORAL_ADDRESS=" + newCutProxyOn(t, ns.HostIP, s.temporal.HostPort()).Addr(),
			"OTPATCH_TEMPORAL_NAMESPACE=" + s.temporal.Namespace(),
			"OTPATCH_S3_ENDPOINT=" + newCutProxyOn(t, ns.HostIP, s.minio.Endpoint).Addr(),
			"OTPATCH_S3_ACCESS_KEY=" + s.minio.AccessKey, "OTPATCH_S3_SECRET_KEY=" + s.minio.SecretKey, "OTPATCH_S3_BUCKET=otpatch-artifacts",
			"OTPATCH_SSH_KEY_FILE=" + dev.KeyFile, "OTPATCH_SSH_KNOWN_HOSTS=" + known, "OTPATCH_LOG_JSON=true",
		}, tlsEnv(ca.Client("site-"+siteID))...)
	}
	envA, envB := siteEnv(nsA, siteA, gwA, knownA), siteEnv(nsB, siteB, gwB, gwB.KnownHostsFile)
	bin := lean(t)
	siteWorker := func(name string, ns *testenv.Netns, env []string, siteID string) *otpatchProcess {
		return startOtpatchCmd(t, name, ns.Command(bin, "worker", "--site", siteID), env, func(p *otpatchProcess) bool {
			return strings.Contains(p.out.String(), "otpatch site worker polling")
		})
	}
	// Without a client certificate, Temporal refuses a site worker.
	var noCert []string
	for _, kv := range envB {
		if !strings.HasPrefix(kv, "OTPATCH_TEMPORAL_TLS_CERT=") && !strings.HasPrefix(kv, "OTPATCH_TEMPORAL_TLS_KEY=") {
			noCert = append(noCert, kv)
		}
	}
	refused := nsB.Command(bin, "worker", "--site", siteB)
	refused.Env = append(environWithout("OTPATCH_"), noCert...)
	if out, err := refused.CombinedOutput(); err == nil || !strings.Contains(string(out), "Temporal") {
		t.Fatalf("a site worker without a client certificate: %v\n%s", err, tail(string(out), 2000))
	}
	siteWorker("site A worker", nsA, envA, siteA)
	workerB := siteWorker("site B worker", nsB, envB, siteB)

	// Northwind's signed gateway firmware, submitted and qualified.
	dir := t.TempDir()
	manifest, artifact := filepath.Join(dir, "gateway.json"), filepath.Join(dir, "gw-update-2.0.0.sh")
	m := demo.GatewayManifest()
	raw, _ := json.Marshal(m)
	if err := os.WriteFile(manifest, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(artifact, sshdevice.Installer, 0o644); err != nil {
		t.Fatal(err)
	}
	runCLI(t, bin, "vendor", "sign", "--key", filepath.Join(s.dir, "demo-keys", "northwind.key"), "--manifest", manifest, "--artifact", artifact)
	patchID := strings.TrimSpace(runCLI(t, bin, "vendor", "submit", "--url", base, "--token", tok["vendor2"], "--manifest", signedManifest(manifest), artifact))
	waitFor(t, "qualification", func() (bool, string) {
		var p struct{ Status string }
		c.json("GET", "/api/v1/patches/"+patchID, tok["engineer"], nil, &p)
		return p.Status == "qualified", p.Status
	})
	var camp struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
	}
	targets := []string{assetA, assetB}
	if code := c.json("POST", "/api/v1/campaigns", tok["engineer"], map[string]any{"name": "gateway firmware, both plants", "patch_id": patchID, "asset_ids": targets}, &camp); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	status := func() campaignState {
		var st campaignState
		c.json("GET", "/api/v1/campaigns/"+camp.ID, tok["engineer"], nil, &st)
		return st
	}
	waitFor(t, "the bench at site A, then awaiting approval", func() (bool, string) {
		st := status()
		return st.Status == "awaiting_approval", st.Status + " " + st.Detail
	})
	// Plant B's zone is SL-T 3: its plan needs the safety officer's approval too.
	for _, role := range []string{"approver", "safety"} {
		if code := c.json("POST", "/api/v1/campaigns/"+camp.ID+"/decisions", tok[role], map[string]any{"decision": "approve", "plan_digest": camp.PlanDigest}, nil); code != http.StatusOK {
			t.Fatalf("approve as %s: %d", role, code)
		}
	}

	// Site B's worker is reading its gateway's version (held by the pipe): kill it.
	tc, err := client.Dial(client.Options{HostPort: s.temporal.HostPort(), Namespace: s.temporal.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)), ConnectionOptions: client.ConnectionOptions{TLS: &tls.Config{MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{ca.Client("otpatch-test").TLS}, RootCAs: ca.Pool(), ServerName: temporalName}}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	pending := func(state enumspb.PendingActivityState) func() (bool, string) {
		return func() (bool, string) {
			d, err := tc.DescribeWorkflowExecution(context.Background(), workflows.AssetWorkflowID(camp.ID, assetB), "")
			if err != nil {
				st := status()
				return false, fmt.Sprintf("%s (%s) %+v", st.Status, st.Detail, st.Assets)
			}
			for _, a := range d.GetPendingActivities() {
				if a.GetActivityType().GetName() == "DeviceCheck" && a.GetState() == state {
					return true, ""
				}
			}
			return false, status().Status
		}
	}
	waitFor(t, "site B's worker reading its gateway", pending(enumspb.PENDING_ACTIVITY_STATE_STARTED))
	if err := workerB.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-workerB.done
	// Site A completed; site B's device work waits in its site's queue for a worker.
	waitFor(t, "site B's version read waiting for a worker", pending(enumspb.PENDING_ACTIVITY_STATE_SCHEDULED))
	st := status()
	if st.Status != "deploying" || assetState(st, assetA) != "done" || domain.AssetState(assetState(st, assetB)).Final() {
		t.Fatalf("after site B's worker died: campaign %s, A %s, B %s (%s)", st.Status, assetState(st, assetA), assetState(st, assetB), st.Detail)
	}
	var siteDoc struct {
		WorkerStatus string `json:"worker_status"`
	}
	c.json("GET", "/api/v1/sites/"+siteB, tok["engineer"], nil, &siteDoc)
	t.Logf("site B while its worker is down: %q", siteDoc.WorkerStatus)

	// The gateway answers again, and a new worker at site B finishes the site.
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gate, []byte("1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gwB.Chown(t)
	siteWorker("site B worker, restarted", nsB, envB, siteB)
	waitFor(t, "completion", func() (bool, string) {
		st := status()
		return domain.CampaignStatus(st.Status).Terminal(), st.Status + " " + st.Detail
	})
	if final := status(); final.Status != "completed" {
		t.Fatalf("campaign ended %s: %s", final.Status, final.Detail)
	}
	// Each gateway's installer ran once (its output is in the deployment log), by the worker of
	// its own site (the audit trail names it).
	for _, id := range targets {
		var lines struct{ Items []struct{ Text string } }
		c.json("GET", "/api/v1/campaigns/"+camp.ID+"/assets/"+id+"/log", tok["auditor"], nil, &lines)
		var all strings.Builder
		for _, l := range lines.Items {
			all.WriteString(l.Text)
		}
		if n := strings.Count(all.String(), "gw-update: running firmware"); n != 1 {
			t.Errorf("%s: the installer ran %d times, want once:\n%s", id, n, all.String())
		}
		var events struct {
			Items []struct {
				Action  string          `json:"action"`
				Details json.RawMessage `json:"details"`
			} `json:"items"`
		}
		c.json("GET", "/api/v1/audit/events?campaign_id="+camp.ID+"&asset_id="+id+"&action=asset.backed_up", tok["auditor"], nil, &events)
		want := map[string]string{assetA: "site=" + siteA, assetB: "site=" + siteB}[id]
		if len(events.Items) != 1 || !strings.Contains(string(events.Items[0].Details), want) {
			t.Errorf("%s: backed_up events %+v, want one by a worker of %s", id, events, want)
		}
	}
	for _, d := range []*testenv.SSHServer{gwA, gwB} {
		if v, _ := os.ReadFile(filepath.Join(d.Home, "firmware", "version")); strings.TrimSpace(string(v)) != "2.0.0" {
			t.Errorf("%s runs %q, want 2.0.0", d.Addr, v)
		}
	}
}

func assetState(st campaignState, id string) string {
	for _, a := range st.Assets {
		if a.AssetID == id {
			return a.State
		}
	}
	return ""
}
