package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/demo/sshdevice"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/internal/teststack"
)

// testCA is a self-signed server certificate made by a test (selfSignedCertificate), which
// clients trust as their CA.
type testCA struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

// newTestCA makes the certificate for ips in dir.
func newTestCA(t *testing.T, dir string, ips ...net.IP) testCA {
	t.Helper()
	certFile, keyFile, err := selfSignedCertificate(dir, "server", ips...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	ca := testCA{caFile: certFile, certFile: certFile, keyFile: keyFile, pool: x509.NewCertPool()}
	if !ca.pool.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in " + certFile)
	}
	return ca
}

// httpsAPI calls the API over HTTPS, trusting the test CA.
type httpsAPI struct {
	t      *testing.T
	base   string
	client *http.Client
}

func (c httpsAPI) json(method, path, token string, body, out any) int {
	c.t.Helper()
	return teststack.Call(c.t, c.client, method, c.base+path, token, body, out)
}

// startDevHTTPS starts `otpatch dev --demo` serving HTTPS on addr with the test CA's
// certificate, and waits until /readyz answers over HTTPS.
func startDevHTTPS(t *testing.T, dir, addr string, ca testCA) (*devProcess, httpsAPI) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("build otpatch: %v", err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "dev", "--demo", "--data", dir, "--listen", addr, "--tls-cert", ca.certFile, "--tls-key", ca.keyFile)
	cmd.Stdout, cmd.Stderr = &out, &out
	// Simulated steps are quick; an agent asset's backup, deploy and verify fit the test's
	// every-minute window.
	cmd.Env = append(environWithout("OTPATCH_"), "OTPATCH_SIM_STEP=200ms", "OTPATCH_AGENT_EXPECTED_DURATION=5s")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("otpatch dev output:\n%s", tail(out.String(), 6000))
		}
	})
	api := httpsAPI{t: t, base: "https://" + addr, client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := api.client.Get(api.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return &devProcess{cmd: cmd}, api
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("otpatch dev did not become ready over HTTPS:\n%s", tail(out.String(), 4000))
	return nil, api
}

// agentSite is an otpatch dev over HTTPS with a gateway product, a simulated test-bench
// gateway and one gateway reached by a pull agent, whose credential and pinned key are in files.
type agentSite struct {
	api      httpsAPI
	dir      string
	ca       testCA
	tokens   map[string]string
	assetID  string
	device   string // the gateway's folder: the agent's state directory and HOME
	token    string // file
	key      string // file: the pinned job-signing public key
	serverIP string
}

func newAgentSite(t *testing.T, ip net.IP) *agentSite {
	t.Helper()
	s := &agentSite{dir: t.TempDir(), device: t.TempDir(), serverIP: ip.String()}
	s.ca = newTestCA(t, s.dir, ip)
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, s.api = startDevHTTPS(t, s.dir, addr, s.ca)
	s.tokens = readTokens(t, s.dir)

	// A product of its own, so the demo plant's gateways stay out of the campaign.
	var prod struct{ ID string }
	if code := s.api.json("POST", "/api/v1/products", s.tokens["admin"], map[string]any{"vendor_id": "vnd_northwind", "name": "FieldGateway", "kind": "gateway"}, &prod); code != http.StatusCreated {
		t.Fatalf("create product: %d", code)
	}
	if code := s.api.json("POST", "/api/v1/assets", s.tokens["engineer"], map[string]any{"zone_id": "zone_bench", "product_id": prod.ID, "name": "bench-field-gw",
		"installed_version": "1.0.0", "criticality": 1, "adapter": "simulator"}, nil); code != http.StatusCreated {
		t.Fatalf("create bench gateway: %d", code)
	}
	if err := sshdevice.Provision(s.device, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	var as struct{ ID string }
	ep := map[string]any{"backup_paths": []string{filepath.Join(s.device, "etc"), filepath.Join(s.device, "firmware")}}
	if code := s.api.json("POST", "/api/v1/assets", s.tokens["engineer"], map[string]any{"zone_id": "zone_packaging", "product_id": prod.ID, "name": "pkg-field-gw",
		"installed_version": "1.0.0", "criticality": 2, "adapter": "agent", "endpoint": ep}, &as); code != http.StatusCreated {
		t.Fatalf("create agent gateway: %d", code)
	}
	s.assetID = as.ID
	var cred struct{ Token string }
	if code := s.api.json("POST", "/api/v1/assets/"+as.ID+"/agent-credentials", s.tokens["admin"], nil, &cred); code != http.StatusCreated {
		t.Fatalf("issue agent credential: %d", code)
	}
	var key struct{ PEM string }
	if code := s.api.json("GET", "/api/v1/agent/signing-key", s.tokens["admin"], nil, &key); code != http.StatusOK {
		t.Fatalf("signing key: %d", code)
	}
	s.token, s.key = filepath.Join(s.dir, "agent.token"), filepath.Join(s.dir, "job-signing.pub")
	if err := os.WriteFile(s.token, []byte(cred.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.key, []byte(key.PEM), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// agentArgs is the agent's command line.
func (s *agentSite) agentArgs(bin string) []string {
	return []string{bin, "agent", "--server", s.api.base, "--asset", s.assetID,
		"--token-file", s.token, "--signing-public-key", s.key, "--ca-file", s.ca.caFile, "--state-dir", s.device,
		"--poll-wait", "5s", "--progress-every", "1s"}
}

// startAgent starts the agent process; wrap prefixes its command line (ip netns exec NS).
func (s *agentSite) startAgent(t *testing.T, wrap ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string{}, wrap...), s.agentArgs(bin)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	// The demo gateway's installer works in HOME.
	cmd.Env = append(environWithout("OTPATCH_"), "HOME="+s.device)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("otpatch agent output:\n%s", tail(out.String(), 6000))
		}
	})
	waitFor(t, "the agent to poll", func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("the agent exited: %s\n%s", cmd.ProcessState, out.String())
		default:
		}
		return strings.Contains(out.String(), "otpatch agent polling"), ""
	})
	return cmd, out
}

// runCampaign has Northwind sign and submit the gateway patch with the CLI, and an engineer
// and an approver run a campaign for the agent's gateway; it returns the campaign's status.
func (s *agentSite) runCampaign(t *testing.T, during func()) string {
	t.Helper()
	bin, _ := binary()
	artifact := filepath.Join(s.dir, "gw-update-2.0.0.sh")
	if err := os.WriteFile(artifact, sshdevice.Installer, 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(s.dir, "gateway.json")
	m := map[string]any{"schema": "otpatch.manifest/v1", "vendor": "northwind", "product": "FieldGateway", "patch_id": "NW-SA-2026-077",
		"version": "2.0.0", "title": "FieldGateway firmware: OPC UA server hardening", "release_date": "2026-11-24",
		"affected_versions": []string{"< 2.0.0"}, "fixed_version": "2.0.0", "restart_required": "service",
		"compatibility": []map[string]string{{"product_version": "1.0.0", "status": "qualified"}},
		"install":       sshdevice.InstallStep, "verify": sshdevice.VerifyStep, "rollback": sshdevice.RollbackStep, "artifacts": []any{}}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runCLI(t, bin, "vendor", "sign", "--key", filepath.Join(s.dir, "demo-keys", "northwind.key"), "--manifest", manifest, "--artifact", artifact)
	patchID := strings.TrimSpace(runEnv(t, bin, []string{"SSL_CERT_FILE=" + s.ca.caFile}, "vendor", "submit", "--url", s.api.base,
		"--token", s.tokens["vendor2"], "--manifest", signedManifest(manifest), artifact))
	waitFor(t, "qualification", func() (bool, string) {
		var p struct{ Status string }
		s.api.json("GET", "/api/v1/patches/"+patchID, s.tokens["engineer"], nil, &p)
		return p.Status == "qualified", p.Status
	})
	s.api.json("PUT", "/api/v1/zones/zone_packaging/window", s.tokens["engineer"], map[string]any{"cron": "* * * * *", "duration": "1h", "time_zone": "Europe/Zurich", "max_parallel": 2}, nil)
	var camp struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
	}
	if code := s.api.json("POST", "/api/v1/campaigns", s.tokens["engineer"], map[string]any{"name": "gateway fix", "patch_id": patchID, "asset_ids": []string{s.assetID}}, &camp); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	status := func() campaignState {
		var st campaignState
		s.api.json("GET", "/api/v1/campaigns/"+camp.ID, s.tokens["engineer"], nil, &st)
		return st
	}
	waitFor(t, "awaiting approval", func() (bool, string) {
		st := status()
		return st.Status == "awaiting_approval", st.Status + " " + st.Detail
	})
	if code := s.api.json("POST", "/api/v1/campaigns/"+camp.ID+"/decisions", s.tokens["approver"], map[string]any{"decision": "approve", "plan_digest": camp.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	waitFor(t, "the agent's gateway to be worked on", func() (bool, string) {
		st := status()
		for _, a := range st.Assets {
			if a.AssetID == s.assetID && a.State != "pending" {
				return true, a.State
			}
		}
		return false, st.Status
	})
	if during != nil {
		during()
	}
	var final campaignState
	waitFor(t, "the campaign to end", func() (bool, string) {
		final = status()
		return final.Status == "completed" || final.Status == "halted" || final.Status == "rolled_back" || final.Status == "failed", final.Status + " " + final.Detail
	})
	if v := readTrimmed(t, filepath.Join(s.device, "firmware", "version")); final.Status == "completed" && v != "2.0.0" {
		t.Errorf("the gateway runs %q after a completed campaign, want 2.0.0", v)
	}
	return final.Status + " " + final.Detail
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestAgentProcess runs `otpatch agent` as its own process against `otpatch dev` serving HTTPS
// with a certificate from the test's CA: the agent pins the server's job-signing key, and a
// campaign on its gateway completes. A missing setting is named, and plain HTTP is refused.
func TestAgentProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev and an agent")
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--server", "http://127.0.0.1:1", "--asset", "ast_x")
	cmd.Env = environWithout("OTPATCH_")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--token-file (OTPATCH_AGENT_TOKEN_FILE)") || !strings.Contains(string(out), "--signing-public-key") {
		t.Errorf("agent without token and key: %v\n%s", err, out)
	}

	s := newAgentSite(t, net.IPv4(127, 0, 0, 1))
	httpArgs := s.agentArgs(bin)
	httpArgs[3] = strings.Replace(httpArgs[3], "https://", "http://", 1)
	cmd = exec.Command(httpArgs[0], httpArgs[1:]...)
	cmd.Env = environWithout("OTPATCH_")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "only over HTTPS") {
		t.Errorf("agent with an http:// server: %v\n%s", err, out)
	}

	s.startAgent(t)
	if got := s.runCampaign(t, nil); !strings.HasPrefix(got, "completed") {
		t.Fatalf("campaign: %s", got)
	}
}

// netns is a network namespace joined to the host by a veth pair.
type netns struct {
	name, hostIf     string
	hostIP, insideIP net.IP
}

// newNetns creates a namespace and a veth pair with unique names, removed when the test ends
// (also when it fails). Without root or `ip` it skips, or fails when OTPATCH_REQUIRE_SERVICES=1.
func newNetns(t *testing.T) *netns {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		if os.Getenv(testenv.EnvRequireServices) == "1" {
			t.Fatalf("%s; %s=1 requires the network-namespace test", why, testenv.EnvRequireServices)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		unavailable("the network-namespace test needs root (ip netns, veth, nft)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable("the network-namespace test needs the ip command (iproute2)")
	}
	if _, err := exec.LookPath("ss"); err != nil {
		unavailable("the network-namespace test needs the ss command (iproute2)")
	}
	fw := ""
	for _, tool := range []string{"nft", "iptables"} {
		if _, err := exec.LookPath(tool); err == nil {
			fw = tool
			break
		}
	}
	if fw == "" {
		unavailable("the network-namespace test needs nft or iptables")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	n := &netns{name: "otpatch-agent-" + id, hostIf: "otp" + id + "h",
		hostIP: net.IPv4(10, 213, b[0], 1), insideIP: net.IPv4(10, 213, b[0], 2)}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", n.name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", n.name).Run()
		_ = exec.Command("ip", "link", "del", n.hostIf).Run() // gone with the namespace, normally
	})
	inside := "otp" + id + "n"
	run("ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", inside)
	run("ip", "link", "set", inside, "netns", n.name)
	run("ip", "addr", "add", n.hostIP.String()+"/30", "dev", n.hostIf)
	run("ip", "link", "set", n.hostIf, "up")
	run("ip", "netns", "exec", n.name, "ip", "addr", "add", n.insideIP.String()+"/30", "dev", inside)
	run("ip", "netns", "exec", n.name, "ip", "link", "set", inside, "up")
	run("ip", "netns", "exec", n.name, "ip", "link", "set", "lo", "up")
	// The control zone's host accepts no new inbound connection: only replies to what it opened.
	if fw == "nft" {
		cmd := exec.Command("ip", "netns", "exec", n.name, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(`table inet otpatch_agent_test {
	chain input {
		type filter hook input priority 0; policy drop;
		iif "lo" accept
		ct state established,related accept
	}
}
`)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v\n%s", err, out)
		}
	} else {
		run("ip", "netns", "exec", n.name, "iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
		run("ip", "netns", "exec", n.name, "iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		run("ip", "netns", "exec", n.name, "iptables", "-P", "INPUT", "DROP")
	}
	return n
}

// TestAgentInNetworkNamespace puts the agent in a network namespace, as on a host inside the
// control zone behind a conduit that admits no inbound connection: every new inbound
// connection is dropped there and nothing listens, yet the campaign on the agent's gateway
// completes, because the agent only dials out to otpatch.
func TestAgentInNetworkNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev and an agent in a network namespace")
	}
	ns := newNetns(t)
	s := newAgentSite(t, ns.hostIP)

	// The firewall works: from the host, nothing inside the namespace can be reached.
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(ns.insideIP.String(), "22"), 2*time.Second); err == nil {
		c.Close()
		t.Fatal("a connection into the namespace succeeded")
	}
	agent, _ := s.startAgent(t, "ip", "netns", "exec", ns.name)
	if out, err := exec.Command("ip", "netns", "identify", fmt.Sprint(agent.Process.Pid)).Output(); err != nil || strings.TrimSpace(string(out)) != ns.name {
		t.Fatalf("the agent (pid %d) runs in namespace %q (%v), want %s", agent.Process.Pid, strings.TrimSpace(string(out)), err, ns.name)
	}
	listening := func() string {
		out, err := exec.Command("ip", "netns", "exec", ns.name, "ss", "-H", "-l", "-t", "-u", "-n", "-p").CombinedOutput()
		if err != nil {
			t.Fatalf("ss in the namespace: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	got := s.runCampaign(t, func() {
		// While the agent works on the gateway, nothing in its namespace listens.
		if l := listening(); l != "" {
			t.Errorf("sockets listen in the agent's namespace:\n%s", l)
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ns.insideIP.String(), "443"), 2*time.Second); err == nil {
			c.Close()
			t.Error("a connection into the agent's namespace succeeded")
		}
	})
	if !strings.HasPrefix(got, "completed") {
		t.Fatalf("campaign: %s", got)
	}
	if l := listening(); l != "" {
		t.Errorf("sockets listen in the agent's namespace:\n%s", l)
	}
}
