package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/temporalpg"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/workflows"
)

// productionStack is what the production processes run against: a Temporal server on
// PostgreSQL (in this test process), a MinIO process, and otpatch's own PostgreSQL database
// with the demo plant in it.
type productionStack struct {
	temporal *temporalpg.Server
	minio    testenv.MinIOServer
	dsn      string
	// temporalDSNs are the Temporal server's persistence and visibility databases.
	temporalDSNs []string
	dir          string
	tokens       map[string]string
}

func startProductionStack(t testing.TB, opts ...func(*temporalpg.Config)) *productionStack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := &productionStack{dir: t.TempDir()}
	temporalDSN, visibilityDSN := testenv.PostgresDSN(t), testenv.PostgresDSN(t)
	s.temporalDSNs = []string{temporalDSN, visibilityDSN}
	s.dsn = testenv.PostgresDSN(t)
	s.minio = testenv.MinIO(t)
	var logs syncBuffer
	tcfg := temporalpg.Config{DSN: temporalDSN, VisibilityDSN: visibilityDSN,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))}
	for _, o := range opts {
		o(&tcfg)
	}
	ts, err := temporalpg.Start(ctx, tcfg)
	if err != nil {
		t.Fatalf("Temporal on PostgreSQL: %v", err)
	}
	s.temporal = ts
	t.Cleanup(func() {
		_ = ts.Stop()
		if t.Failed() {
			t.Logf("Temporal server errors:\n%s", tail(logs.String(), 4000))
		}
	})
	return s
}

// seed migrates otpatch's database with `otpatch migrate` and seeds the demo plant into it.
func (s *productionStack) seed(t testing.TB) {
	t.Helper()
	bin := lean(t)
	out := runEnv(t, bin, []string{"OTPATCH_DATABASE_URL=" + s.dsn}, "migrate")
	if !strings.Contains(out, "schema at version") {
		t.Fatalf("otpatch migrate: %s", out)
	}
	st, err := store.Open(s.dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := demo.Seed(context.Background(), st, simulator.New(st.DB(), 0, nil), s.dir); err != nil {
		t.Fatalf("seed the demo plant: %v", err)
	}
	s.tokens = readTokens(t, s.dir)
}

// env is the production configuration, OTPATCH_* variables only, as deploy/ sets it.
func (s *productionStack) env(extra ...string) []string {
	return append([]string{
		"OTPATCH_DATABASE_URL=" + s.dsn,
		"OTPATCH_TEMPORAL_ADDRESS=" + s.temporal.HostPort(),
		"OTPATCH_TEMPORAL_NAMESPACE=" + s.temporal.Namespace(),
		"OTPATCH_S3_ENDPOINT=" + s.minio.Endpoint,
		"OTPATCH_S3_ACCESS_KEY=" + s.minio.AccessKey,
		"OTPATCH_S3_SECRET_KEY=" + s.minio.SecretKey,
		"OTPATCH_S3_BUCKET=otpatch-artifacts",
		"OTPATCH_LOG_JSON=true",
	}, extra...)
}

func lean(t testing.TB) string {
	t.Helper()
	bin, err := leanBinary()
	if err != nil {
		t.Fatalf("build otpatch -tags noembedded: %v", err)
	}
	return bin
}

// otpatchProcess is a running production otpatch process.
type otpatchProcess struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startOtpatch starts the lean build with only env (no inherited OTPATCH_* variables) and
// waits until ready reports true.
func startOtpatch(t testing.TB, name string, env []string, ready func(p *otpatchProcess) bool, args ...string) *otpatchProcess {
	t.Helper()
	return startOtpatchCmd(t, name, exec.Command(lean(t), args...), env, ready)
}

// startOtpatchCmd is startOtpatch for a command that runs the lean build another way (inside a
// network namespace).
func startOtpatchCmd(t testing.TB, name string, cmd *exec.Cmd, env []string, ready func(p *otpatchProcess) bool) *otpatchProcess {
	t.Helper()
	cmd.Env = append(environWithout("OTPATCH_"), env...)
	p := &otpatchProcess{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.out.String(), 6000))
		}
	})
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %s\n%s", name, cmd.ProcessState, tail(p.out.String(), 4000))
		default:
		}
		if ready(p) {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready within a minute:\n%s", name, tail(p.out.String(), 4000))
	return nil
}

func answersReady(base string) func(*otpatchProcess) bool {
	return func(*otpatchProcess) bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
}

func logsPolling(p *otpatchProcess) bool {
	return strings.Contains(p.out.String(), "otpatch worker polling")
}

// TestProductionShape runs otpatch as production does, as separate processes of the lean
// build configured only by OTPATCH_* variables: `otpatch migrate`, one `otpatch server` and
// two `otpatch worker`s against a Temporal server persisting to PostgreSQL (schema made by
// the server's own SQL schema tooling), a real MinIO and otpatch's PostgreSQL database. A
// campaign is driven through the API; while a deploy runs, the worker executing it is killed
// with SIGKILL. The campaign still completes on the other worker, every asset is deployed
// exactly once, and `otpatch audit verify --database` finds the chain intact.
func TestProductionShape(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal on PostgreSQL, MinIO and four otpatch processes")
	}
	started := time.Now()
	s := startProductionStack(t)
	s.seed(t)
	t.Logf("stack up and seeded in %s", time.Since(started).Round(time.Millisecond))

	addr := freePort(t)
	base := "http://" + addr
	startOtpatch(t, "otpatch server", s.env("OTPATCH_LISTEN="+addr), answersReady(base), "server")
	// A deploy takes one simulator step: long enough for the test to see it running on a
	// worker and kill that worker before it finishes.
	workers := map[int]*otpatchProcess{}
	workerMetrics := map[*otpatchProcess]string{}
	for _, name := range []string{"worker-1", "worker-2"} {
		maddr := freePort(t)
		p := startOtpatch(t, name, s.env("OTPATCH_SIM_STEP=5s", "OTPATCH_METRICS_LISTEN="+maddr), logsPolling, "worker")
		workers[p.cmd.Process.Pid] = p
		workerMetrics[p] = "http://" + maddr
	}
	before := scrape(t, base)
	if v := metricValue(before, `otpatch_campaigns{status="completed"}`); v != 0 {
		t.Fatalf("otpatch_campaigns{status=\"completed\"} = %v before any campaign", v)
	}
	if v := metricValue(before, "otpatch_upload_bytes_total"); v != 0 {
		t.Fatalf("otpatch_upload_bytes_total = %v before any upload", v)
	}

	c := apiClient{t: t, base: base}
	bin := lean(t)
	manifest := filepath.Join(s.dir, "manifest.json")
	artifact := filepath.Join(s.dir, "plc-2.9.4.fw")
	if err := os.WriteFile(artifact, bytes.Repeat([]byte("firmware"), 200000), 0o644); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, manifest, "ControlStation-PLC", "V2.9.4", "< V2.9.4")
	runCLI(t, bin, "vendor", "sign", "--key", filepath.Join(s.dir, "demo-keys", "acme.key"), "--manifest", manifest, "--artifact", artifact)
	patchID := strings.TrimSpace(runCLI(t, bin, "vendor", "submit", "--url", base, "--token", s.tokens["vendor"], "--manifest", signedManifest(manifest), artifact))
	waitFor(t, "qualification", func() (bool, string) {
		var p struct{ Status string }
		c.json("GET", "/api/v1/patches/"+patchID, s.tokens["engineer"], nil, &p)
		return p.Status == "qualified", p.Status
	})
	if code := c.json("PUT", "/api/v1/zones/zone_packaging/window", s.tokens["engineer"],
		map[string]any{"cron": "* * * * *", "duration": "1h", "time_zone": "Europe/Zurich", "max_parallel": 4}, nil); code != http.StatusOK {
		t.Fatalf("open the packaging window: %d", code)
	}
	targets := []string{"ast_pkg-plc-01", "ast_pkg-plc-02", "ast_pkg-plc-03", "ast_pkg-plc-04"}
	var camp struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
	}
	if code := c.json("POST", "/api/v1/campaigns", s.tokens["engineer"], map[string]any{"name": "PLC fix", "patch_id": patchID, "asset_ids": targets}, &camp); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	status := func() campaignState {
		var st campaignState
		c.json("GET", "/api/v1/campaigns/"+camp.ID, s.tokens["engineer"], nil, &st)
		return st
	}
	waitFor(t, "awaiting approval", func() (bool, string) {
		st := status()
		return st.Status == "awaiting_approval", st.Status + " " + st.Detail
	})
	if code := c.json("POST", "/api/v1/campaigns/"+camp.ID+"/decisions", s.tokens["approver"], map[string]any{"decision": "approve", "plan_digest": camp.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}

	// Find the worker running a production asset's deploy right now, from Temporal's own
	// record of the pending activity, and kill it.
	tc, err := client.Dial(client.Options{HostPort: s.temporal.HostPort(), Namespace: s.temporal.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	var victim *otpatchProcess
	var victimAsset string
	waitFor(t, "a deploy running on a worker", func() (bool, string) {
		for _, id := range targets {
			d, err := tc.DescribeWorkflowExecution(context.Background(), workflows.AssetWorkflowID(camp.ID, id), "")
			if err != nil {
				continue
			}
			for _, a := range d.GetPendingActivities() {
				if a.GetActivityType().GetName() != "DeployAsset" || a.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
					continue
				}
				pid, _ := strconv.Atoi(strings.SplitN(a.GetLastWorkerIdentity(), "@", 2)[0])
				if p := workers[pid]; p != nil {
					victim, victimAsset = p, id
					return true, ""
				}
				t.Fatalf("deploy of %s runs on worker %q, which is not one of this test's workers", id, a.GetLastWorkerIdentity())
			}
		}
		st := status()
		return false, st.Status + " " + st.Detail
	})
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	t.Logf("killed %s (pid %d) while it deployed %s: %s", victim.name, victim.cmd.Process.Pid, victimAsset, victim.cmd.ProcessState)
	for _, p := range workers {
		if p != victim {
			select {
			case <-p.done:
				t.Fatalf("the other worker, %s, is not running either", p.name)
			default:
			}
		}
	}

	waitFor(t, "completion on the remaining worker", func() (bool, string) {
		st := status()
		return st.Status == "completed" || st.Status == "halted" || st.Status == "rolled_back" || st.Status == "aborted", st.Status + " " + st.Detail
	})
	if final := status(); final.Status != "completed" {
		t.Fatalf("campaign ended %s: %s", final.Status, final.Detail)
	}
	checkOneDeployEach(t, c, s.tokens["engineer"], camp.ID, targets)
	// The server's metrics moved with what happened; the surviving worker timed the stages.
	after := scrape(t, base)
	for series, want := range map[string]float64{
		`otpatch_campaigns{status="completed"}`: 1,
		`otpatch_campaign_assets{state="done"}`: float64(len(targets)),
		`otpatch_campaigns_waiting_for_window`:  0,
		`otpatch_database_scrape_ok`:            1,
	} {
		if got := metricValue(after, series); got != want {
			t.Errorf("server /metrics: %s = %v, want %v", series, got, want)
		}
	}
	if got := metricValue(after, "otpatch_upload_bytes_total"); got < 1600000 {
		t.Errorf("server /metrics: otpatch_upload_bytes_total = %v after a 1.6 MB submission", got)
	}
	if got := metricValue(after, "otpatch_audit_append_seconds_count"); got < 1 {
		t.Errorf("server /metrics: otpatch_audit_append_seconds_count = %v after audited requests", got)
	}
	if !strings.Contains(after, "temporal_request_total{") {
		t.Errorf("server /metrics has no Temporal SDK metrics (temporal_request_total)")
	}
	for p, maddr := range workerMetrics {
		if p == victim {
			continue
		}
		wm := scrape(t, maddr)
		if got := metricValue(wm, `otpatch_stage_duration_seconds_count{outcome="ok",stage="deploy"}`); got < 1 {
			t.Errorf("%s /metrics: no successful deploy stage timed (otpatch_stage_duration_seconds_count = %v)", p.name, got)
		}
		if !strings.Contains(wm, "temporal_activity_execution_latency_seconds_count{") {
			t.Errorf("%s /metrics has no Temporal SDK activity metrics", p.name)
		}
		if got := metricValue(wm, "otpatch_audit_append_seconds_count"); got < 1 {
			t.Errorf("%s /metrics: otpatch_audit_append_seconds_count = %v after the activities' audit events", p.name, got)
		}
	}

	out := runEnv(t, bin, nil, "audit", "verify", "--database", s.dsn, "--no-checkpoints")
	if !strings.Contains(out, "audit log intact") {
		t.Errorf("audit verify: %s", out)
	}
	t.Logf("production shape: campaign completed after a worker kill; %s in all", time.Since(started).Round(time.Second))
}

// runEnv runs the otpatch binary with only env for configuration and returns its stdout.
func runEnv(t testing.TB, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(environWithout("OTPATCH_"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("otpatch %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func environWithout(prefix string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cutProxy forwards TCP connections to a backend until Cut, which closes every open
// connection and turns new ones away (accepted and closed at once) — to the process behind
// it, the backend has stopped — until Restore.
type cutProxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	cut     bool
	conns   map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	t.Helper()
	return newCutProxyOn(t, "127.0.0.1", backend)
}

// newCutProxyOn is newCutProxy listening on host (an address of this test's side of a site's
// link: the site's conduit to one central service).
func newCutProxyOn(t *testing.T, host, backend string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.Cut() })
	go p.serve()
	return p
}

// Addr is the proxy's host:port.
func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.forward(c)
	}
}

func (p *cutProxy) forward(c net.Conn) {
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		p.drop(c)
		return
	}
	if !p.track(b) {
		_ = b.Close()
		p.drop(c)
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	go pipe(b, c)
	go pipe(c, b)
	wg.Wait()
	p.drop(c)
	p.drop(b)
}

func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) drop(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Cut closes every forwarded connection and refuses new ones until Restore.
func (p *cutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore forwards new connections again.
func (p *cutProxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// readiness fetches /readyz and returns its status code and its checks.
func readiness(base string) (int, map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var checks map[string]string
	if err := json.NewDecoder(res.Body).Decode(&checks); err != nil {
		return res.StatusCode, nil, err
	}
	return res.StatusCode, checks, nil
}

// TestReadyzFollowsDependencies runs `otpatch server` (production build) with PostgreSQL,
// Temporal and MinIO each behind a TCP proxy the test can cut. Cutting one makes /readyz
// answer 503 naming that dependency within 5 seconds (the bound the issue sets), while
// /healthz stays 200; restoring it makes /readyz answer 200 again.
func TestReadyzFollowsDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal on PostgreSQL, MinIO and otpatch server")
	}
	s := startProductionStack(t)
	s.seed(t)
	pgURL, err := urlHostPort(s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxies := map[string]*cutProxy{
		"database":     newCutProxy(t, pgURL),
		"temporal":     newCutProxy(t, s.temporal.HostPort()),
		"object_store": newCutProxy(t, s.minio.Endpoint),
	}
	addr := freePort(t)
	base := "http://" + addr
	env := s.env("OTPATCH_LISTEN="+addr,
		"OTPATCH_DATABASE_URL="+strings.Replace(s.dsn, pgURL, proxies["database"].Addr(), 1),
		"OTPATCH_TEMPORAL_ADDRESS="+proxies["temporal"].Addr(),
		"OTPATCH_S3_ENDPOINT="+proxies["object_store"].Addr())
	startOtpatch(t, "otpatch server", env, answersReady(base), "server")

	for _, dep := range []string{"database", "temporal", "object_store"} {
		t.Run(dep, func(t *testing.T) {
			p := proxies[dep]
			p.Cut()
			cut := time.Now()
			var last string
			for {
				code, checks, err := readiness(base)
				if code == http.StatusServiceUnavailable && checks[dep] != "" && checks[dep] != "ok" {
					if took := time.Since(cut); took > 5*time.Second {
						t.Fatalf("/readyz said %s is down only %s after it stopped; the bound is 5 s", dep, took.Round(time.Millisecond))
					}
					t.Logf("%s cut: /readyz answered 503 after %s: %s", dep, time.Since(cut).Round(time.Millisecond), checks[dep])
					for other, v := range checks {
						if other != dep && v != "ok" {
							t.Errorf("/readyz blames %s too (%s) though only %s was cut", other, v, dep)
						}
					}
					break
				}
				last = fmtReadiness(code, checks, err)
				if time.Since(cut) > 5*time.Second {
					t.Fatalf("%s stopped 5 s ago and /readyz still does not say so (last answer: %s)", dep, last)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if res, err := http.Get(base + "/healthz"); err != nil || res.StatusCode != http.StatusOK {
				t.Errorf("/healthz while %s is down: %v %v; want 200 (the process is up)", dep, res, err)
			} else {
				res.Body.Close()
			}

			p.Restore()
			back := time.Now()
			for {
				code, checks, err := readiness(base)
				if code == http.StatusOK {
					t.Logf("%s back: /readyz answered 200 after %s", dep, time.Since(back).Round(time.Millisecond))
					break
				}
				last = fmtReadiness(code, checks, err)
				if time.Since(back) > 30*time.Second {
					t.Fatalf("%s returned 30 s ago and /readyz is still not ready (last answer: %s)", dep, last)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func fmtReadiness(code int, checks map[string]string, err error) string {
	if err != nil {
		return err.Error()
	}
	b, _ := json.Marshal(checks)
	return strconv.Itoa(code) + " " + string(b)
}

// urlHostPort returns the host:port of a postgres:// URL.
func urlHostPort(dsn string) (string, error) {
	i := strings.Index(dsn, "@")
	if i < 0 {
		i = strings.Index(dsn, "//") + 1
	}
	rest := dsn[i+1:]
	j := strings.IndexAny(rest, "/?")
	if j < 0 {
		return "", errors.New("no host in " + dsn)
	}
	return rest[:j], nil
}

// scrape fetches a Prometheus text exposition.
func scrape(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s\n%s", base, res.Status, b)
	}
	return string(b)
}

// metricValue returns the value of one series ("name" or "name{labels}" exactly as
// exposed), or 0 when it is absent.
func metricValue(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
