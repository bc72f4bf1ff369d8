package deploy_test

import (
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// The site worker's deployment files (deploy/README.md, "Sites behind conduits").
const (
	siteDir      = "site"
	siteCompose  = "site/compose.yml"
	siteEnv      = "site/site.env.example"
	siteFirewall = "site/nftables.conf"
	siteUnit     = "systemd/otpatch-site-worker.service"
	siteUnitEnv  = "systemd/site-worker.env.example"
	workerUnit   = "systemd/otpatch-worker@.service"

	siteService = "otpatch-site-worker"
)

// siteFiles are the settings of site.env.example that name files on the site's host, each the
// source of one compose secret, and the setting through which the worker reads that secret.
var siteFiles = map[string]string{
	"SITE_SSH_KEY":         "OTPATCH_SSH_KEY_FILE",
	"SITE_SSH_KNOWN_HOSTS": "OTPATCH_SSH_KNOWN_HOSTS",
	"SITE_TEMPORAL_CERT":   "OTPATCH_TEMPORAL_TLS_CERT",
	"SITE_TEMPORAL_KEY":    "OTPATCH_TEMPORAL_TLS_KEY",
	"SITE_TEMPORAL_CA":     "OTPATCH_TEMPORAL_TLS_CA",
}

// siteSettings are what a site worker needs besides its id: Temporal over mutual TLS, the object
// store and the site's device key (cmd/otpatch/site.go refuses to start without the latter two).
var siteSettings = []string{
	"OTPATCH_TEMPORAL_ADDRESS", "OTPATCH_TEMPORAL_NAMESPACE",
	"OTPATCH_TEMPORAL_TLS_CERT", "OTPATCH_TEMPORAL_TLS_KEY", "OTPATCH_TEMPORAL_TLS_CA", "OTPATCH_TEMPORAL_TLS_SERVER_NAME",
	"OTPATCH_S3_ENDPOINT", "OTPATCH_S3_SECURE", "OTPATCH_S3_ACCESS_KEY", "OTPATCH_S3_SECRET_KEY", "OTPATCH_S3_BUCKET",
	"OTPATCH_SSH_KEY_FILE", "OTPATCH_SSH_KNOWN_HOSTS",
}

// notAtSite are settings a site worker must not be given: it has no database and no listener,
// signs no agent job and no audit checkpoint.
var notAtSite = []string{
	"OTPATCH_DATABASE_URL", "OTPATCH_LISTEN", "OTPATCH_METRICS_LISTEN", "OTPATCH_AGENT_SIGNING_KEY",
	"OTPATCH_CHECKPOINT_KEY_FILE", "OTPATCH_TLS_CERT", "OTPATCH_TLS_KEY",
}

// loadSite loads deploy/site/compose.yml as `docker compose` run in deploy/site would, with only
// the given env files.
func loadSite(t *testing.T, envFiles ...string) (*types.Project, error) {
	t.Helper()
	dir, err := filepath.Abs(siteDir)
	if err != nil {
		t.Fatal(err)
	}
	return loadCompose(t, dir, "otpatch-site", []string{siteCompose}, envFiles...)
}

// mustLoadSite loads the site compose file with site.env.example, its host files replaced by
// files of the test's; it returns those files by setting name.
func mustLoadSite(t *testing.T) (*types.Project, map[string]string) {
	t.Helper()
	hostEnv, files := writeHostFiles(t, slices.Collect(maps.Keys(siteFiles))...)
	example, err := filepath.Abs(siteEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadSite(t, example, hostEnv)
	if err != nil {
		t.Fatalf("load %s with %s: %v", siteCompose, siteEnv, err)
	}
	return p, files
}

// TestSiteComposeSettings checks that every value of site.env.example is used by the compose
// file and required there (a missing one stops `docker compose` with its name), and that the
// example holds no usable secret.
func TestSiteComposeSettings(t *testing.T) {
	_, bare := loadSite(t)
	checkSettingsRequired(t, bare, siteCompose, siteEnv, readKeys(t, siteEnv))
}

// TestSiteCompose checks the site's compose file: one service, the worker of the central
// image with --site, nothing published and nothing persistent, a read-only root file system,
// no database, Temporal over mutual TLS, and the device key and certificates as secrets.
func TestSiteCompose(t *testing.T) {
	p, files := mustLoadSite(t)
	example := readKeys(t, siteEnv)

	if names := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(names, []string{siteService}) {
		t.Fatalf("services = %v, want only %s (a site runs no database, Temporal or object store)", names, siteService)
	}
	s := service(t, p, siteService)

	// The central image, brought to the site: no build there, a pinned tag.
	centralRepo, _ := splitImage(service(t, mustLoad(t), "otpatch-worker").Image)
	if repo, tag := splitImage(s.Image); repo != centralRepo || tag != example["OTPATCH_IMAGE_TAG"] {
		t.Errorf("%s: image %q, want %s:$OTPATCH_IMAGE_TAG, the image of docker-compose.yml's otpatch services", siteService, s.Image, centralRepo)
	}
	if s.Build != nil {
		t.Errorf("%s builds its image at the site; it must run the central build", siteService)
	}
	if got, want := []string(s.Command), []string{"worker", "--site", example["OTPATCH_SITE"]}; !slices.Equal(got, want) {
		t.Errorf("%s: command %q, want %q", siteService, got, want)
	}

	// Nothing listens at the site.
	if len(s.Ports) > 0 || len(s.Expose) > 0 {
		t.Errorf("%s publishes or exposes ports %+v %v; a site worker only dials out", siteService, s.Ports, s.Expose)
	}
	for _, k := range notAtSite {
		if _, ok := s.Environment[k]; ok {
			t.Errorf("%s sets %s: a site worker has no database and no listener, and signs nothing", siteService, k)
		}
	}
	for _, k := range siteSettings {
		env(t, s, k)
	}
	known := binarySettings(t)
	for k := range s.Environment {
		if _, ok := known[k]; strings.HasPrefix(k, "OTPATCH_") && !ok {
			t.Errorf("%s sets %s, which otpatch does not read (cmd/otpatch)", siteService, k)
		}
	}
	if _, port, err := net.SplitHostPort(env(t, s, "OTPATCH_TEMPORAL_ADDRESS")); err != nil || port != temporalFrontendPort {
		t.Errorf("%s: OTPATCH_TEMPORAL_ADDRESS = %q, want the frontend's host:%s", siteService, env(t, s, "OTPATCH_TEMPORAL_ADDRESS"), temporalFrontendPort)
	}
	if got := env(t, s, "OTPATCH_TEMPORAL_TLS_SERVER_NAME"); got == "" || got != example["OTPATCH_TEMPORAL_TLS_SERVER_NAME"] {
		t.Errorf("%s: OTPATCH_TEMPORAL_TLS_SERVER_NAME = %q, want the value of %s", siteService, got, siteEnv)
	}

	// Each file the worker reads is a compose secret from the host file named in .env.
	for hostVar, setting := range siteFiles {
		got := env(t, s, setting)
		secret := secretAt(s, got)
		if secret == "" {
			t.Errorf("%s: %s = %q, which is not one of its secrets %+v", siteService, setting, got, s.Secrets)
			continue
		}
		if file := p.Secrets[secret].File; file != files[hostVar] {
			t.Errorf("secret %s comes from %q, want $%s (%s)", secret, file, hostVar, files[hostVar])
		}
	}

	// Hardened: read-only root, no capabilities, a bounded scratch /tmp (a restore stages the
	// backup there), nothing kept, restarted when it stops, bounded logs.
	if !s.ReadOnly {
		t.Errorf("%s: read_only is not set; the root file system must be read-only", siteService)
	}
	if !slices.Contains(s.CapDrop, "ALL") || len(s.CapAdd) > 0 {
		t.Errorf("%s: cap_drop %v, cap_add %v; want every capability dropped", siteService, s.CapDrop, s.CapAdd)
	}
	if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("%s: security_opt %v lacks no-new-privileges:true", siteService, s.SecurityOpt)
	}
	if s.Privileged || s.NetworkMode == "host" || s.User == "root" || s.User == "0" {
		t.Errorf("%s: privileged %v, network_mode %q, user %q", siteService, s.Privileged, s.NetworkMode, s.User)
	}
	tmp := false
	for _, v := range s.Volumes {
		switch {
		case v.Type == types.VolumeTypeTmpfs && v.Target == "/tmp":
			tmp = v.Tmpfs != nil && v.Tmpfs.Size > 0
		case v.Type == types.VolumeTypeTmpfs:
		default:
			t.Errorf("%s mounts %s %s at %s; a site worker keeps nothing at the site", siteService, v.Type, v.Source, v.Target)
		}
	}
	if !tmp {
		t.Errorf("%s: /tmp is not a tmpfs of bounded size; with a read-only root a restore has nowhere to stage its backup", siteService)
	}
	if len(p.Volumes) > 0 {
		t.Errorf("volumes %v: a site worker keeps nothing at the site", p.Volumes)
	}
	if s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways {
		t.Errorf("%s: restart %q, want unless-stopped", siteService, s.Restart)
	}
	if hc := s.HealthCheck; hc != nil && !hc.Disable && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
		// The image is distroless and the worker listens on nothing.
		if hc.Test[0] != "CMD" || len(hc.Test) < 2 || hc.Test[1] != "/otpatch" || slices.ContainsFunc(hc.Test, func(a string) bool { return strings.Contains(a, "http://") }) {
			t.Errorf("%s: health check %q needs a shell or a listener the worker does not have", siteService, hc.Test)
		}
	}
	if s.Logging == nil || s.Logging.Options["max-size"] == "" {
		t.Errorf("%s: logging %+v has no max-size; logs would fill the site's disk", siteService, s.Logging)
	}

	// The firewall names the compose network's bridge.
	var bridges []string
	for name := range s.Networks {
		if b := p.Networks[name].DriverOpts["com.docker.network.bridge.name"]; b != "" {
			bridges = append(bridges, b)
		}
	}
	fw := readFirewall(t)
	if want := strings.Trim(fw.defines["container_bridge"], `"`); len(bridges) != 1 || bridges[0] != want {
		t.Errorf("%s: network bridges %v, want the one %s names as container_bridge (%s)", siteService, bridges, siteFirewall, want)
	}
}

// TestSiteWorkerUnit checks otpatch-site-worker.service and site-worker.env.example: the worker
// of one site, sandboxed at least as the central worker unit is, outbound only, with the settings
// a site worker needs and none that it refuses or must not hold.
func TestSiteWorkerUnit(t *testing.T) {
	unit, central := readUnit(t, siteUnit), readUnit(t, workerUnit)
	one := func(k string) string {
		if v := unit[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	if got, want := one("ExecStart"), "/usr/local/bin/otpatch worker --site ${OTPATCH_SITE}"; got != want {
		t.Errorf("%s: ExecStart=%q, want %q", siteUnit, got, want)
	}
	// config check --role worker validates a central worker: it insists on a database, which a
	// site worker refuses.
	for _, pre := range unit["ExecStartPre"] {
		if strings.Contains(pre, "config check") {
			t.Errorf("%s: ExecStartPre=%s would stop every start: it requires OTPATCH_DATABASE_URL, which a site worker refuses", siteUnit, pre)
		}
	}
	if got := one("EnvironmentFile"); got != "/etc/otpatch/site-worker.env" {
		t.Errorf("%s: EnvironmentFile=%q, want /etc/otpatch/site-worker.env", siteUnit, got)
	}
	if u := one("User"); u == "" || u == "root" || u == "0" {
		t.Errorf("%s: runs as %q; want a dedicated user", siteUnit, u)
	}
	if one("Restart") != "on-failure" {
		t.Errorf("%s: Restart=%q, want on-failure", siteUnit, one("Restart"))
	}

	// Every sandboxing option of the central worker unit, with the same value.
	notHardening := []string{"Description", "Wants", "After", "Type", "User", "Group", "EnvironmentFile", "Environment",
		"ExecStartPre", "ExecStart", "Restart", "RestartSec", "TimeoutStopSec", "WantedBy"}
	for k, v := range central {
		if slices.Contains(notHardening, k) {
			continue
		}
		if got := unit[k]; !slices.Equal(got, v) {
			t.Errorf("%s: %s=%q, want %q as in %s", siteUnit, k, got, v, workerUnit)
		}
	}

	// No listener, and outbound only to the given addresses.
	for k, v := range map[string]string{"SocketBindDeny": "any", "IPAddressDeny": "any", "CapabilityBoundingSet": ""} {
		if _, ok := unit[k]; !ok || one(k) != v {
			t.Errorf("%s: %s=%q, want %q", siteUnit, k, one(k), v)
		}
	}
	if len(unit["SocketBindAllow"]) > 0 {
		t.Errorf("%s: SocketBindAllow=%v; a site worker listens on nothing", siteUnit, unit["SocketBindAllow"])
	}
	if len(unit["IPAddressAllow"]) == 0 {
		t.Errorf("%s: IPAddressDeny=any without IPAddressAllow: the worker could reach neither Temporal nor its devices", siteUnit)
	}
	for _, line := range unit["Environment"] {
		for _, k := range notAtSite {
			if strings.Contains(line, k+"=") {
				t.Errorf("%s: Environment=%s: a site worker has no database and no listener", siteUnit, line)
			}
		}
	}

	envFile := readKeys(t, siteUnitEnv)
	for _, k := range append([]string{"OTPATCH_SITE"}, siteSettings...) {
		if envFile[k] == "" {
			t.Errorf("%s does not set %s, which a site worker needs", siteUnitEnv, k)
		}
	}
	for _, k := range readSettingNames(t, siteUnitEnv) {
		if slices.Contains(notAtSite, k) {
			t.Errorf("%s sets %s: a site worker has no database and no listener, and signs nothing", siteUnitEnv, k)
		}
	}
	if !strings.HasPrefix(envFile["OTPATCH_S3_SECRET_KEY"], "change-me") {
		t.Errorf("%s: OTPATCH_S3_SECRET_KEY=%q; the example must hold a placeholder", siteUnitEnv, envFile["OTPATCH_S3_SECRET_KEY"])
	}
	for _, k := range []string{"OTPATCH_TEMPORAL_TLS_CERT", "OTPATCH_TEMPORAL_TLS_KEY", "OTPATCH_TEMPORAL_TLS_CA", "OTPATCH_SSH_KEY_FILE", "OTPATCH_SSH_KNOWN_HOSTS"} {
		if v := envFile[k]; !strings.HasPrefix(v, "/etc/otpatch/") {
			t.Errorf("%s: %s=%q, want a file under /etc/otpatch/, which the unit keeps read-only", siteUnitEnv, k, v)
		}
	}

	// The compose file and the unit give a site worker the same settings.
	p, _ := mustLoadSite(t)
	composeKeys := slices.Sorted(maps.Keys(service(t, p, siteService).Environment))
	unitKeys := slices.DeleteFunc(slices.Sorted(maps.Keys(envFile)), func(k string) bool {
		return k == "OTPATCH_SITE" // compose passes it as --site
	})
	if !slices.Equal(composeKeys, unitKeys) {
		t.Errorf("%s sets %v, %s sets %v; a site worker needs the same settings either way", siteCompose, composeKeys, siteUnitEnv, unitKeys)
	}
}

// firewall is what the site firewall's text says, comments dropped: its lines, its defines and
// the rules of each chain.
type firewall struct {
	lines   []string
	defines map[string]string
	chains  map[string][]string
}

// readFirewall reads deploy/site/nftables.conf line by line: comments dropped, "define NAME =
// VALUE" lines, and each "chain NAME {" up to a line holding only "}" (sets stay on one line).
func readFirewall(t *testing.T) firewall {
	t.Helper()
	b, err := os.ReadFile(siteFirewall)
	if err != nil {
		t.Fatal(err)
	}
	fw := firewall{defines: map[string]string{}, chains: map[string][]string{}}
	chainStart := regexp.MustCompile(`^chain ([a-z_]+) \{$`)
	define := regexp.MustCompile(`^define ([a-z_]+) = (.+)$`)
	var chain string
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line != "" {
			fw.lines = append(fw.lines, line)
		}
		switch m, d := chainStart.FindStringSubmatch(line), define.FindStringSubmatch(line); {
		case line == "":
		case m != nil:
			chain = m[1]
			fw.chains[chain] = []string{}
		case chain != "" && line == "}":
			chain = ""
		case chain != "":
			fw.chains[chain] = append(fw.chains[chain], line)
		case d != nil:
			fw.defines[d[1]] = d[2]
		}
	}
	return fw
}

// TestSiteFirewall checks deploy/site/nftables.conf: inbound, only answers to the host's own
// connections (and loopback, IPv6 neighbour discovery); outbound and forwarded from the worker's
// container, only to Temporal's frontend, the object store, ssh of the site's devices, DNS and
// NTP; the rules in a table of their own, leaving Docker's alone.
func TestSiteFirewall(t *testing.T) {
	fw := readFirewall(t)
	for _, name := range []string{"input", "output", "forward", "outbound_allowed"} {
		if _, ok := fw.chains[name]; !ok {
			t.Fatalf("%s: no chain %s (chains %v)", siteFirewall, name, fw.chains)
		}
	}
	if slices.ContainsFunc(fw.lines, func(l string) bool { return strings.HasPrefix(l, "flush ruleset") }) {
		t.Errorf("%s flushes the whole ruleset, Docker's rules with it", siteFirewall)
	}
	for _, hook := range []string{"input", "output", "forward"} {
		rules := fw.chains[hook]
		if len(rules) == 0 || !strings.Contains(rules[0], "hook "+hook+" ") || !strings.HasSuffix(rules[0], "policy drop;") {
			t.Errorf("%s: chain %s does not start with `type filter hook %s … policy drop;`: %q", siteFirewall, hook, hook, rules)
		}
	}

	// Inbound: nothing new is accepted.
	ndp := regexp.MustCompile(`^icmpv6 type \{ (nd-[a-z-]+)(, nd-[a-z-]+)* \} ip6 hoplimit 255 accept$`)
	for _, rule := range fw.chains["input"][1:] {
		if !strings.Contains(rule, "accept") {
			continue
		}
		switch {
		case rule == "ct state established,related accept", rule == `iif "lo" accept`, ndp.MatchString(rule):
		default:
			t.Errorf("%s: input accepts %q; nothing may connect to a site worker's host", siteFirewall, rule)
		}
	}

	// Outbound: each rule to one of the named destinations and its port.
	resolve := func(v string) string {
		if strings.HasPrefix(v, "$") {
			return fw.defines[v[1:]]
		}
		return v
	}
	if got := resolve("$temporal_port"); got != temporalFrontendPort {
		t.Errorf("%s: temporal_port = %q, want %s", siteFirewall, got, temporalFrontendPort)
	}
	if got := resolve("$object_store_port"); got != minioS3Port && got != "443" {
		t.Errorf("%s: object_store_port = %q, want %s or 443", siteFirewall, got, minioS3Port)
	}
	allowed := map[string][]string{
		"$temporal_frontend": {"$temporal_port"},
		"$object_store":      {"$object_store_port"},
		"$site_devices":      {"$device_ssh_ports"},
		"$dns_servers":       {"53"},
		"$ntp_servers":       {"123"},
	}
	outRule := regexp.MustCompile(`^ip6? daddr (\$[a-z_]+) (?:tcp|udp|meta l4proto \{ tcp, udp \} th) dport (\S+) accept$`)
	seen := map[string]bool{}
	for _, rule := range fw.chains["outbound_allowed"] {
		m := outRule.FindStringSubmatch(rule)
		if m == nil {
			t.Errorf("%s: outbound_allowed has %q; want only `ip daddr $DEST tcp dport PORT accept` rules", siteFirewall, rule)
			continue
		}
		if !slices.Contains(allowed[m[1]], m[2]) {
			t.Errorf("%s: outbound_allowed lets the worker reach %s port %s; want only %v", siteFirewall, m[1], m[2], allowed)
		}
		seen[m[1]] = true
	}
	for _, dest := range []string{"$temporal_frontend", "$object_store", "$site_devices"} {
		if !seen[dest] {
			t.Errorf("%s: outbound_allowed does not let the worker reach %s", siteFirewall, dest)
		}
	}
	if !slices.Contains(fw.chains["output"], "jump outbound_allowed") {
		t.Errorf("%s: output does not jump to outbound_allowed: %q", siteFirewall, fw.chains["output"])
	}
	if !slices.Contains(fw.chains["forward"], "iifname $container_bridge jump outbound_allowed") {
		t.Errorf("%s: forward does not send the worker container's traffic to outbound_allowed: %q", siteFirewall, fw.chains["forward"])
	}
	for _, hook := range []string{"output", "forward"} {
		for _, rule := range fw.chains[hook][1:] {
			if strings.HasSuffix(rule, "accept") && !strings.HasPrefix(rule, "ct state established,related") &&
				rule != `oif "lo" accept` && !ndp.MatchString(rule) {
				t.Errorf("%s: %s accepts %q outside outbound_allowed", siteFirewall, hook, rule)
			}
		}
	}

	// The syntax, where nft is installed and may check it.
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Log("nft is not installed: syntax not checked")
		return
	}
	out, err := exec.Command(nft, "-c", "-f", siteFirewall).CombinedOutput()
	switch {
	case err == nil:
	case strings.Contains(string(out), "Operation not permitted"):
		t.Logf("nft -c needs privileges this test lacks: syntax not checked (%s)", strings.TrimSpace(string(out)))
	default:
		t.Errorf("nft -c -f %s: %v\n%s", siteFirewall, err, out)
	}
}

// TestSiteReadme checks that deploy/README.md explains sites and points at the three files.
func TestSiteReadme(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Sites behind conduits\n")
	if start < 0 {
		t.Fatal(`README.md has no section "## Sites behind conduits"`)
	}
	section := readme[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	for _, want := range []string{"site/compose.yml", "site/nftables.conf", "otpatch-site-worker.service", "site_unreachable", "/api/v1/sites/", `"device_work"`} {
		if !strings.Contains(section, want) {
			t.Errorf(`README.md, "Sites behind conduits", does not mention %s`, want)
		}
	}
}
