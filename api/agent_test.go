package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/adapters"
	agentadapter "github.com/otpatch/otpatch/internal/adapters/agent"
	"github.com/otpatch/otpatch/internal/agent"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/demo/sshdevice"
	"github.com/otpatch/otpatch/internal/hostops"
	"github.com/otpatch/otpatch/internal/store"
)

// agentRoutes are the routes only an agent token may call.
var agentRoutes = []string{
	"GET /api/v1/agent/me",
	"GET /api/v1/agent/jobs/next",
	"POST /api/v1/agent/jobs/{jobID}/progress",
	"POST /api/v1/agent/jobs/{jobID}/result",
	"GET /api/v1/agent/jobs/{jobID}/artifact",
	"GET /api/v1/agent/jobs/{jobID}/backup",
	"PUT /api/v1/agent/jobs/{jobID}/backup",
	"POST /api/v1/agent/host",
}

func init() {
	allowed["GET /api/v1/assets/{assetID}/agent-credentials"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["POST /api/v1/assets/{assetID}/agent-credentials"] = []string{"admin"}
	allowed["DELETE /api/v1/assets/{assetID}/agent-credentials/{credentialID}"] = []string{"admin"}
	allowed["GET /api/v1/assets/{assetID}/agent-credentials/{credentialID}"] = []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/agent/signing-key"] = []string{"admin"}
	for _, r := range agentRoutes {
		allowed[r] = []string{} // no user role: agent tokens only
	}
}

// agentRig is the test stack with the agent adapter in its worker, behind an HTTPS front (the
// agent speaks only HTTPS), and Northwind's EdgeGateway in the catalogue.
type agentRig struct {
	*env
	key     ed25519.PrivateKey
	adapter *agentadapter.Adapter
	https   *httptest.Server
	product string
}

func newAgentRig(t *testing.T) *agentRig {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rig := &agentRig{key: key}
	rig.env = newEnv(t, envOptions{adapters: func(st *store.Store, objs *artifacts.Store) map[string]adapters.Target {
		a, err := agentadapter.New(context.Background(), agentadapter.Options{Store: st, Objects: objs, Key: key, Poll: 50 * time.Millisecond, StallAfter: 3 * time.Second,
			// Fits the test's every-minute window.
			Expected: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		rig.adapter = a
		return map[string]adapters.Target{adapters.Agent: a}
	}})
	target, _ := url.Parse(rig.url)
	rig.https = httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(rig.https.Close)
	rig.product = rig.gatewayProduct()
	return rig
}

// gateway is a demo gateway on the agent's own host: its folder is the agent's state directory.
type gateway struct {
	id, dir, token string
}

// agentGateway provisions a gateway running 1.0.0, creates its asset (adapter agent) and issues
// its agent credential.
func (r *agentRig) agentGateway(name string, faulty bool) gateway {
	t := r.t.(*testing.T)
	t.Helper()
	g := gateway{dir: t.TempDir()}
	if err := sshdevice.Provision(g.dir, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if faulty {
		if err := os.WriteFile(filepath.Join(g.dir, sshdevice.FaultMarker), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ep := adapters.Endpoint{BackupPaths: []string{filepath.Join(g.dir, "etc"), filepath.Join(g.dir, "firmware")}}
	var as store.Asset
	if code := r.call("POST", "/api/v1/assets", r.tokens.Engineer, map[string]any{"zone_id": "zone_packaging", "product_id": r.product, "name": name,
		"installed_version": "1.0.0", "criticality": 2, "adapter": "agent", "endpoint": ep}, &as); code != http.StatusCreated {
		t.Fatalf("create %s: %d", name, code)
	}
	g.id = as.ID
	var cred struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if code := r.call("POST", "/api/v1/assets/"+g.id+"/agent-credentials", r.tokens.Admin, nil, &cred); code != http.StatusCreated || cred.Token == "" {
		t.Fatalf("issue agent credential: %d %+v", code, cred)
	}
	g.token = cred.Token
	return g
}

// benchGateway adds a simulated test-bench gateway, so campaigns of the gateway patch validate.
func (r *agentRig) benchGateway() {
	if code := r.call("POST", "/api/v1/assets", r.tokens.Engineer, map[string]any{"zone_id": "zone_bench", "product_id": r.product, "name": "bench-gateway",
		"installed_version": "1.0.0", "criticality": 1, "adapter": "simulator"}, nil); code != http.StatusCreated {
		r.t.Fatalf("create bench gateway: %d", code)
	}
}

// hostDevice is the real device of a gateway: hostops over os/exec in its folder, which is
// also HOME for the installer.
func hostDevice(dir string) func(adapters.Endpoint) agent.Device {
	return func(ep adapters.Endpoint) agent.Device {
		return &hostops.Host{Run: hostops.Local{Dir: dir, Env: append(os.Environ(), "HOME="+dir)}, Endpoint: ep, Timeout: time.Minute}
	}
}

// runAgent runs an in-process agent for g until the returned stop is called (or the test ends).
func (r *agentRig) runAgent(g gateway, dev func(adapters.Endpoint) agent.Device) (stop func() error) {
	t := r.t.(*testing.T)
	t.Helper()
	if dev == nil {
		dev = hostDevice(g.dir)
	}
	a, err := agent.New(agent.Config{Server: r.https.URL, AssetID: g.id, Token: g.token, SigningKey: r.key.Public().(ed25519.PublicKey),
		StateDir: g.dir, Client: r.https.Client(), Wait: time.Second, ProgressEvery: 200 * time.Millisecond, Device: dev,
		Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// testLog logs to the test's output when -v is given.
func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestAgentCampaign runs a campaign over two gateways reached only through their pull agents:
// one installs and verifies; the other's watchdog trips, its verify step fails, and otpatch puts
// its backup back through the agent.
func TestAgentCampaign(t *testing.T) {
	r := newAgentRig(t)
	r.benchGateway()
	good, bad := r.agentGateway("pkg-gw-01", false), r.agentGateway("pkg-gw-02", true)
	r.runAgent(good, nil)
	r.runAgent(bad, nil)
	pt := r.qualifiedGatewayPatch()
	r.openWindowNow("zone_packaging")
	c := r.approvedCampaign(pt.ID, []string{good.id, bad.id}, map[string]any{"error_threshold": 1})
	c = r.waitCampaign(c.ID, "completed", "halted", "rolled_back", "failed")
	if s := r.assetState(c, good.id); s != "done" {
		t.Errorf("good gateway: %s, want done (%+v)", s, c.Assets)
	}
	if s := r.assetState(c, bad.id); s != "rolled_back" {
		t.Errorf("faulted gateway: %s, want rolled_back (%+v)", s, c.Assets)
	}
	if v := readFile(t, filepath.Join(good.dir, "firmware/version")); v != "2.0.0" {
		t.Errorf("good gateway runs %q, want 2.0.0", v)
	}
	if v := readFile(t, filepath.Join(bad.dir, "firmware/version")); v != "1.0.0" {
		t.Errorf("faulted gateway runs %q after rollback, want 1.0.0", v)
	}
	if conf := readFile(t, filepath.Join(bad.dir, "etc/gateway.conf")); !strings.Contains(conf, "hardening=off") {
		t.Errorf("faulted gateway's configuration after rollback: %q", conf)
	}
	// The backup otpatch keeps is the archive the agent's host made and summed.
	for _, a := range c.Assets {
		if a.AssetID == good.id && (a.BackupKey == "" || len(a.BackupSHA256) != 64) {
			t.Errorf("good gateway has no verified backup: %+v", a)
		}
	}
	// The installer's own words reached the deployment log.
	var log []store.DeploymentLogLine
	r.list("/api/v1/campaigns/"+c.ID+"/assets/"+good.id+"/log", r.tokens.Auditor, &log)
	if !slices.ContainsFunc(log, func(l store.DeploymentLogLine) bool { return strings.Contains(l.Text, "gw-update: done") }) {
		t.Errorf("the deployment log lacks the installer's output: %+v", log)
	}
	// Every job result is in the audit trail, and the chain holds.
	evs, _ := r.store.AuditEvents(context.Background(), store.AuditFilter{Action: "agent.job_done", AssetID: good.id})
	if len(evs) < 3 {
		t.Errorf("%d agent.job_done events for the good gateway, want backup, deploy and verify", len(evs))
	}
	if res, err := r.store.VerifyAudit(context.Background()); err != nil || !res.OK {
		t.Errorf("audit chain: %+v, %v", res, err)
	}
}

// countingDevice wraps a device and counts what it is asked to do. With cut set, a deploy
// (on the device, unless skipInstall) is followed by sending its outcome to cut and waiting
// for the agent to stop: the stop lands after the device's work and before the agent
// journaled how it ended, and the deploy returns the stop's error, as a deploy cut off by it.
type countingDevice struct {
	agent.Device
	deploys, verifies *atomic.Int32
	cut               chan<- error
	skipInstall       bool
}

func (d countingDevice) Deploy(ctx context.Context, req adapters.DeployRequest, artifact io.Reader) error {
	d.deploys.Add(1)
	var err error
	if !d.skipInstall {
		err = d.Device.Deploy(ctx, req, artifact)
	}
	if d.cut == nil {
		return err
	}
	d.cut <- err
	<-ctx.Done()
	return context.Cause(ctx)
}

func (d countingDevice) Verify(ctx context.Context, req adapters.VerifyRequest) (adapters.VerifyResult, error) {
	d.verifies.Add(1)
	return d.Device.Verify(ctx, req)
}

// restart is what restartAfterCut saw.
type restart struct {
	req adapters.DeployRequest
	// err is the deploy's outcome, as the restarted agent reported it.
	err error
	// Deploy calls of the first agent's device; deploy and verify calls of the restarted one's.
	firstDeploys, deploys, verifies *atomic.Int32
}

// restartAfterCut queues a deploy of the gateway patch to g and runs a first agent whose
// deploy is cut short by stopping the agent once the device's part is over (installed or, with
// skipInstall, not), before the agent journaled the result. Then it starts the agent again on
// the same state directory and waits for the deploy's outcome.
func (r *agentRig) restartAfterCut(g gateway, skipInstall bool) restart {
	t := r.t.(*testing.T)
	t.Helper()
	pt := r.qualifiedGatewayPatch()
	var stalls, progress atomic.Int32
	ctx := adapters.WithProgress(context.Background(), func(stalled bool) {
		if stalled {
			stalls.Add(1)
		} else {
			progress.Add(1)
		}
	})
	art := gatewayPatch().manifest.Artifacts[0]
	rs := restart{req: adapters.DeployRequest{IdempotencyKey: "cmp_restart/" + g.id + "/deploy", PatchID: pt.ID, ToVersion: "2.0.0",
		ArtifactName: art.Name, ArtifactSize: art.Size, ArtifactSHA256: art.SHA256, Install: sshdevice.InstallStep},
		firstDeploys: &atomic.Int32{}, deploys: &atomic.Int32{}, verifies: &atomic.Int32{}}
	deployed := make(chan error, 1)
	go func() { deployed <- r.adapter.Deploy(ctx, g.id, rs.req) }()
	// While no agent is heard from, the adapter reports a stall (so the activity stops
	// heartbeating); once an agent polls, progress.
	r.waitFor("a stall while no agent polls", func() (bool, string) { return stalls.Load() > 0, "" })

	cut := make(chan error, 1)
	stop := r.runAgent(g, func(ep adapters.Endpoint) agent.Device {
		return countingDevice{Device: hostDevice(g.dir)(ep), deploys: rs.firstDeploys, verifies: &atomic.Int32{}, cut: cut, skipInstall: skipInstall}
	})
	select {
	case err := <-cut:
		if err != nil {
			t.Fatalf("the first agent's deploy: %v", err)
		}
	case err := <-deployed:
		t.Fatalf("the deploy ended before the first agent's device finished: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the first agent's device never finished the deploy")
	}
	r.waitFor("progress while the agent works", func() (bool, string) { return progress.Load() > 0, "" })
	if err := stop(); err != nil {
		t.Fatalf("first agent: %v", err)
	}
	select {
	case err := <-deployed:
		t.Fatalf("the deploy ended before any agent reported it: %v", err)
	default:
	}
	j, err := r.store.AgentJobByKey(context.Background(), g.id, store.AgentOpDeploy, rs.req.IdempotencyKey)
	if err != nil || j.State != store.AgentJobRunning {
		t.Fatalf("job after the first agent stopped: %+v, %v", j, err)
	}

	r.runAgent(g, func(ep adapters.Endpoint) agent.Device {
		return countingDevice{Device: hostDevice(g.dir)(ep), deploys: rs.deploys, verifies: rs.verifies}
	})
	select {
	case rs.err = <-deployed:
	case <-time.After(30 * time.Second):
		t.Fatal("the restarted agent did not report the deploy")
	}
	if rs.deploys.Load() != 0 || rs.verifies.Load() != 1 {
		t.Errorf("the restarted agent deployed %d times and asked the device %d times; it should have asked once what the device runs and deployed never",
			rs.deploys.Load(), rs.verifies.Load())
	}
	return rs
}

// TestAgentRestartDoesNotRepeatDeploy stops an agent after its device installed, before the
// agent journaled the result; the agent started again on the same state directory asks the
// device what it runs, reports the install done, and does not install again.
func TestAgentRestartDoesNotRepeatDeploy(t *testing.T) {
	r := newAgentRig(t)
	g := r.agentGateway("pkg-gw-01", false)
	rs := r.restartAfterCut(g, false)
	if rs.err != nil {
		t.Fatalf("deploy: %v", rs.err)
	}
	if v := readFile(t, filepath.Join(g.dir, "firmware/version")); v != "2.0.0" {
		t.Errorf("gateway runs %q, want 2.0.0", v)
	}
	// An activity retry of the same deploy finds the finished job: no second job, no install.
	if err := r.adapter.Deploy(context.Background(), g.id, rs.req); err != nil {
		t.Fatalf("retried deploy: %v", err)
	}
	var n int64
	r.store.DB().Table("agent_jobs").Where("asset_id = ? AND op = ?", g.id, "deploy").Count(&n)
	if installs := rs.firstDeploys.Load() + rs.deploys.Load(); n != 1 || installs != 1 {
		t.Errorf("%d deploy jobs and %d installs, want 1 and 1", n, installs)
	}
}

// TestAgentCutShortDeployNeedsAPerson stops an agent while its deploy changed the device and
// before the device runs the new version. The restarted agent does not install again: it
// holds the device lock and reports the deploy failed for good, as an interrupted change over
// SSH fails. Nothing installs while the lock is there; once a person removed it, a retry does.
func TestAgentCutShortDeployNeedsAPerson(t *testing.T) {
	r := newAgentRig(t)
	g := r.agentGateway("pkg-gw-01", false)
	rs := r.restartAfterCut(g, true)
	lock := filepath.Join(g.dir, hostops.DefaultWorkDir, "changing")
	var p adapters.PermanentError
	if err := rs.err; !errors.As(err, &p) || !p.Permanent() || !strings.Contains(err.Error(), "did not finish") || !strings.Contains(err.Error(), "remove "+lock) {
		t.Fatalf("cut-short deploy: %v; want a permanent failure naming the device lock %s", err, lock)
	}
	if owner := readFile(t, filepath.Join(lock, "owner")); !strings.HasPrefix(owner, rs.req.IdempotencyKey+" since ") {
		t.Errorf("device lock owner %q, want the cut-short deploy", owner)
	}
	// A retry is refused by the lock and installs nothing.
	if err := r.adapter.Deploy(context.Background(), g.id, rs.req); !errors.As(err, &p) || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("retry over the device lock: %v", err)
	}
	if v := readFile(t, filepath.Join(g.dir, "firmware/version")); v != "1.0.0" {
		t.Fatalf("gateway runs %q while the change is locked, want 1.0.0", v)
	}
	// A person checked the device and removed the lock: the next retry installs.
	if err := os.RemoveAll(lock); err != nil {
		t.Fatal(err)
	}
	if err := r.adapter.Deploy(context.Background(), g.id, rs.req); err != nil {
		t.Fatalf("retry after the lock was removed: %v", err)
	}
	if v := readFile(t, filepath.Join(g.dir, "firmware/version")); v != "2.0.0" {
		t.Errorf("gateway runs %q after the retry, want 2.0.0", v)
	}
}

// TestAgentRefusesTamperedJob changes a queued job's payload in the database — as someone
// with write access to it but not to the signing key could — and checks the agent refuses it
// without running anything, and the operation fails saying why. The retried operation is
// signed from its request again, not from the changed payload, and installs what was asked.
func TestAgentRefusesTamperedJob(t *testing.T) {
	r := newAgentRig(t)
	g := r.agentGateway("pkg-gw-01", false)
	pt := r.qualifiedGatewayPatch()
	art := gatewayPatch().manifest.Artifacts[0]
	req := adapters.DeployRequest{IdempotencyKey: "cmp_tamper/" + g.id + "/deploy", PatchID: pt.ID, ToVersion: "2.0.0",
		ArtifactName: art.Name, ArtifactSize: art.Size, ArtifactSHA256: art.SHA256, Install: sshdevice.InstallStep}
	done := make(chan error, 1)
	go func() { done <- r.adapter.Deploy(context.Background(), g.id, req) }()
	var j store.AgentJob
	r.waitFor("the deploy job", func() (bool, string) {
		err := r.store.DB().Where("asset_id = ? AND op = ?", g.id, "deploy").Take(&j).Error
		return err == nil, ""
	})
	tampered := strings.Replace(j.Payload, `{version}`, `6.6.6`, 1)
	if tampered == j.Payload {
		t.Fatalf("nothing to tamper with in %s", j.Payload)
	}
	if err := r.store.DB().Table("agent_jobs").Where("id = ?", j.ID).Update("payload", tampered).Error; err != nil {
		t.Fatal(err)
	}
	var deploys, verifies atomic.Int32
	r.runAgent(g, func(ep adapters.Endpoint) agent.Device {
		return countingDevice{Device: hostDevice(g.dir)(ep), deploys: &deploys, verifies: &verifies}
	})
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "signature does not verify") {
			t.Errorf("tampered deploy: %v; want a refusal naming the signature", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the tampered job never ended")
	}
	if deploys.Load() != 0 || readFile(t, filepath.Join(g.dir, "firmware/version")) != "1.0.0" {
		t.Fatalf("the agent ran %d deploys of a tampered job", deploys.Load())
	}
	// The activity's retry: the same job, attempt 2, signed from the request.
	if err := r.adapter.Deploy(context.Background(), g.id, req); err != nil {
		t.Fatalf("retried deploy: %v", err)
	}
	if v := readFile(t, filepath.Join(g.dir, "firmware/version")); v != "2.0.0" || deploys.Load() != 1 {
		t.Errorf("after the retry the gateway runs %q after %d deploys, want 2.0.0 after 1", v, deploys.Load())
	}
	if again, _ := r.store.AgentJob(context.Background(), j.ID); again.Attempt != 2 || again.State != store.AgentJobDone {
		t.Errorf("retried job: attempt %d, %s; want attempt 2, done", again.Attempt, again.State)
	}
}

// TestAgentTokens checks that an agent token is bound to its asset and to the agent routes: it
// cannot fetch or touch another asset's jobs, cannot call any user route, and stops working when
// revoked; a user token never works on the agent routes.
func TestAgentTokens(t *testing.T) {
	r := newAgentRig(t)
	a, b := r.agentGateway("pkg-gw-a", false), r.agentGateway("pkg-gw-b", false)
	pt := r.qualifiedGatewayPatch()
	art := gatewayPatch().manifest.Artifacts[0]
	go func() {
		_ = r.adapter.Deploy(context.Background(), b.id, adapters.DeployRequest{IdempotencyKey: "cmp_tok/" + b.id + "/deploy", PatchID: pt.ID,
			ToVersion: "2.0.0", ArtifactName: art.Name, ArtifactSize: art.Size, ArtifactSHA256: art.SHA256, Install: sshdevice.InstallStep})
	}()
	var jb store.AgentJob
	r.waitFor("B's deploy job", func() (bool, string) {
		return r.store.DB().Where("asset_id = ?", b.id).Take(&jb).Error == nil, ""
	})

	var me jobs.Me
	if code := r.call("GET", "/api/v1/agent/me", a.token, nil, &me); code != http.StatusOK || me.AssetID != a.id {
		t.Fatalf("A's /agent/me: %d %+v", code, me)
	}
	if code := r.call("GET", "/api/v1/agent/jobs/next?wait=0s", a.token, nil, nil); code != http.StatusNoContent {
		t.Errorf("A polling while only B has a job: %d, want 204", code)
	}
	// An agent's token opens no browser session.
	if code := r.call("POST", "/api/v1/session", "", map[string]string{"token": a.token}, nil); code != http.StatusForbidden {
		t.Errorf("session with an agent token: %d, want 403", code)
	}
	var p problemDoc
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/agent/jobs/" + jb.ID + "/artifact"},
		{"POST", "/api/v1/agent/jobs/" + jb.ID + "/progress"},
		{"POST", "/api/v1/agent/jobs/" + jb.ID + "/result"},
		{"PUT", "/api/v1/agent/jobs/" + jb.ID + "/backup"},
	} {
		if code := r.call(c.method, c.path, a.token, jobs.Result{Attempt: 1, OK: true}, &p); code != http.StatusNotFound {
			t.Errorf("A: %s %s: %d, want 404", c.method, c.path, code)
		}
	}
	var missing problemDoc
	r.call("GET", "/api/v1/agent/jobs/job_doesnotexist/artifact", a.token, nil, &missing)
	if strings.Replace(p.Detail, jb.ID, "X", 1) != strings.Replace(missing.Detail, "job_doesnotexist", "X", 1) {
		t.Errorf("another asset's job (%q) is told apart from a missing one (%q)", p.Detail, missing.Detail)
	}
	var env jobs.Envelope
	if code := r.call("GET", "/api/v1/agent/jobs/next?wait=0s", b.token, nil, &env); code != http.StatusOK || env.ID != jb.ID {
		t.Errorf("B polling: %d %+v, want its job", code, env)
	}
	// Bad input is refused saying what to do.
	if code := r.call("GET", "/api/v1/agent/jobs/next?wait=5m", b.token, nil, &p); code != http.StatusUnprocessableEntity || !fieldNamed(p, "wait") {
		t.Errorf("wait=5m: %d %+v", code, p)
	}
	if code := r.call("POST", "/api/v1/agent/jobs/"+jb.ID+"/result", b.token, map[string]any{"attempt": 1, "ok": false}, &p); code != http.StatusUnprocessableEntity || !fieldNamed(p, "error") {
		t.Errorf("failure without error: %d %+v", code, p)
	}

	// The agent token works on no user route.
	h := api.New(api.Deps{Store: r.store, Objects: r.objects})
	params := strings.NewReplacer("{vendorID}", "vnd_acme", "{zoneID}", "zone_packaging", "{assetID}", a.id, "{patchID}", pt.ID,
		"{campaignID}", "cmp_unknown", "{keyID}", "key_unknown", "{credentialID}", "agc_unknown")
	for _, route := range routesOf(t, h) {
		if slices.Contains(public, route) || slices.Contains(agentRoutes, route) || route == "GET /api/v1/agent/signing-key" {
			continue
		}
		method, path, _ := strings.Cut(route, " ")
		if code := r.call(method, params.Replace(path), a.token, nil, nil); code != http.StatusForbidden {
			t.Errorf("agent token on %s: %d, want 403", route, code)
		}
	}
	// The signing key is for agents and admins.
	var key jobs.SigningKey
	if code := r.call("GET", "/api/v1/agent/signing-key", a.token, nil, &key); code != http.StatusOK || key.PublicKey == "" || !strings.Contains(key.PEM, "PUBLIC KEY") {
		t.Errorf("signing key: %d %+v", code, key)
	}

	// A backup is uploaded as application/octet-stream; what was stored is answered with its
	// Location.
	bctx, bcancel := context.WithCancel(context.Background())
	defer bcancel()
	go func() { _, _, _ = r.adapter.Backup(bctx, a.id) }()
	var bj store.AgentJob
	r.waitFor("A's backup job", func() (bool, string) {
		return r.store.DB().Where("asset_id = ? AND op = ?", a.id, store.AgentOpBackup).Take(&bj).Error == nil, ""
	})
	if code := r.call("GET", "/api/v1/agent/jobs/next?wait=PT0S", a.token, nil, &env); code != http.StatusOK || env.ID != bj.ID {
		t.Fatalf("A polling for its backup job: %d %+v", code, env)
	}
	archive := []byte("the archive of a backup")
	sum := sha256.Sum256(archive)
	for _, c := range []struct {
		contentType string
		want        int
	}{{"text/plain", http.StatusUnsupportedMediaType}, {"", http.StatusUnsupportedMediaType}, {"application/gzip", http.StatusUnsupportedMediaType}, {"application/octet-stream", http.StatusCreated}} {
		req, _ := http.NewRequest("PUT", r.url+"/api/v1/agent/jobs/"+bj.ID+"/backup", bytes.NewReader(archive))
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set(jobs.BackupSHA256Header, hex.EncodeToString(sum[:]))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.want || (c.want == http.StatusCreated && (res.Header.Get("Location") == "" || !strings.Contains(string(body), hex.EncodeToString(sum[:])))) {
			t.Errorf("backup upload as %q: %d %s, want %d", c.contentType, res.StatusCode, body, c.want)
		}
	}
	bcancel()

	// Revoked: refused at once, and the agent process stops with a clear error.
	var creds []store.AgentCredential
	r.list("/api/v1/assets/"+a.id+"/agent-credentials", r.tokens.Auditor, &creds)
	if len(creds) != 1 || creds[0].LastSeenAt == nil {
		t.Fatalf("A's credentials: %+v", creds)
	}
	// Issued credentials are where Location says, never with their token; an unknown asset
	// has no list of credentials, rather than an empty one.
	code, hdr, body := r.raw("POST", "/api/v1/assets/"+a.id+"/agent-credentials", nil, nil, map[string]string{"Authorization": "Bearer " + r.tokens.Admin})
	if code != http.StatusCreated || !strings.Contains(string(body), `"token"`) {
		t.Fatalf("issue a second credential: %d %s", code, body)
	}
	var second map[string]any
	if code := r.call("GET", hdr.Get("Location"), r.tokens.Auditor, nil, &second); code != http.StatusOK || second["asset_id"] != a.id || second["token"] != nil {
		t.Errorf("GET %s: %d %+v", hdr.Get("Location"), code, second)
	}
	var twoPages []store.AgentCredential
	if r.list("/api/v1/assets/"+a.id+"/agent-credentials?limit=1", r.tokens.Auditor, &twoPages); len(twoPages) != 2 || twoPages[0].ID != creds[0].ID {
		t.Errorf("A's credentials in pages of one: %+v", twoPages)
	}
	if code := r.call("GET", "/api/v1/assets/ast_typo/agent-credentials", r.tokens.Auditor, nil, &p); code != http.StatusNotFound {
		t.Errorf("credentials of an unknown asset: %d, want 404", code)
	}
	if code := r.call("DELETE", hdr.Get("Location"), r.tokens.Admin, nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke the second credential: %d", code)
	}
	if code := r.call("DELETE", "/api/v1/assets/"+b.id+"/agent-credentials/"+creds[0].ID, r.tokens.Admin, nil, nil); code != http.StatusNotFound {
		t.Errorf("revoking A's credential through B: %d, want 404", code)
	}
	if code := r.call("DELETE", "/api/v1/assets/"+a.id+"/agent-credentials/"+creds[0].ID, r.tokens.Admin, nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	if code := r.call("GET", "/api/v1/agent/me", a.token, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", code)
	}
	ag, err := agent.New(agent.Config{Server: r.https.URL, AssetID: a.id, Token: a.token, SigningKey: r.key.Public().(ed25519.PublicKey),
		StateDir: a.dir, Client: r.https.Client(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ag.Run(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("agent with a revoked token: %v, want an error saying so", err)
	}
	// An agent configured for another asset than its token's refuses to start.
	ag, _ = agent.New(agent.Config{Server: r.https.URL, AssetID: a.id, Token: b.token, SigningKey: r.key.Public().(ed25519.PublicKey),
		StateDir: t.TempDir(), Client: r.https.Client(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := ag.Run(ctx); err == nil || !strings.Contains(err.Error(), "bound to asset "+b.id) {
		t.Errorf("agent with another asset's token: %v", err)
	}
}
