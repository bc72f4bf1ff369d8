package deploy_test

import (
	"bufio"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// k8sObject is the part of a Kubernetes object these tests read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Type       string            `yaml:"type"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"`
	Spec       struct {
		Replicas int `yaml:"replicas"`
		// Selector is a Deployment's label selector or a Service's selector map.
		Selector yaml.Node `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
		RunAsUser    *int `yaml:"runAsUser"`
		RunAsGroup   *int `yaml:"runAsGroup"`
		FSGroup      *int `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name   string `yaml:"name"`
		Secret struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode *int   `yaml:"defaultMode"`
			Items       []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
}

type probe struct {
	HTTPGet *struct {
		Path   string `yaml:"path"`
		Port   any    `yaml:"port"`
		Scheme string `yaml:"scheme"`
	} `yaml:"httpGet"`
	TimeoutSeconds int `yaml:"timeoutSeconds"`
}

// loadManifests parses every document of every YAML file under deploy/kubernetes.
func loadManifests(t *testing.T) (map[string]k8sObject, k8sObject) {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	objs := map[string]k8sObject{}
	var kust k8sObject
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(fh)
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" {
				t.Errorf("%s: a document without kind or apiVersion", f)
				continue
			}
			if o.Kind == "Kustomization" {
				kust = o
				continue
			}
			key := o.Kind + "/" + o.Metadata.Name
			if _, dup := objs[key]; dup {
				t.Errorf("%s: %s defined twice", f, key)
			}
			objs[key] = o
		}
		fh.Close()
	}
	return objs, kust
}

// required are the settings without which otpatch server and worker do not start
// (cmd/otpatch config.connect), and which of them are secrets.
var required = map[string]bool{
	"OTPATCH_DATABASE_URL":     true,
	"OTPATCH_S3_ACCESS_KEY":    true,
	"OTPATCH_S3_SECRET_KEY":    true,
	"OTPATCH_TEMPORAL_ADDRESS": false,
	"OTPATCH_S3_ENDPOINT":      false,
	"OTPATCH_S3_BUCKET":        false,
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9./_-]+:[0-9]+\.[0-9]+\.[0-9]+$|@sha256:[0-9a-f]{64}$`)

func TestKubernetesManifests(t *testing.T) {
	objs, kust := loadManifests(t)
	files, _ := filepath.Glob("kubernetes/*.yaml")
	for _, f := range files {
		base := filepath.Base(f)
		if base == "kustomization.yaml" {
			continue
		}
		found := false
		for _, r := range kust.Resources {
			found = found || r == base
		}
		if !found {
			t.Errorf("kustomization.yaml does not list %s", base)
		}
	}

	images := map[string]bool{}
	for _, name := range []string{"otpatch-server", "otpatch-worker"} {
		d, ok := objs["Deployment/"+name]
		if !ok {
			t.Fatalf("no Deployment %s", name)
		}
		if d.Spec.Replicas < 2 {
			t.Errorf("%s: %d replicas; run at least 2 so one can die mid-deploy", name, d.Spec.Replicas)
		}
		var sel struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		}
		if err := d.Spec.Selector.Decode(&sel); err != nil || len(sel.MatchLabels) == 0 {
			t.Errorf("%s: no selector.matchLabels (%v)", name, err)
		}
		for k, v := range sel.MatchLabels {
			if d.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod labels", name, k, v)
			}
		}
		pod := d.Spec.Template.Spec
		if !pod.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: runAsNonRoot is not set", name)
		}
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", name, len(pod.Containers))
		}
		c := pod.Containers[0]
		images[c.Image] = true
		if !pinnedImage.MatchString(c.Image) {
			t.Errorf("%s: image %q is not pinned to a version (name:X.Y.Z or @sha256:…)", name, c.Image)
		}
		role := strings.TrimPrefix(name, "otpatch-")
		if len(c.Args) != 1 || c.Args[0] != role {
			t.Errorf("%s: args %v, want [%s]", name, c.Args, role)
		}
		if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation || !c.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("%s: want allowPrivilegeEscalation false and a read-only root file system", name)
		}

		// Every required setting reaches the container, secrets only from a Secret.
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = "env"
		}
		for _, ef := range c.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				cm, ok := objs["ConfigMap/"+ef.ConfigMapRef.Name]
				if !ok {
					t.Errorf("%s: envFrom ConfigMap %s is not in the manifests", name, ef.ConfigMapRef.Name)
				}
				for k := range cm.Data {
					env[k] = "configmap"
				}
			case ef.SecretRef != nil:
				s, ok := objs["Secret/"+ef.SecretRef.Name]
				if !ok {
					t.Errorf("%s: envFrom Secret %s is not in the manifests", name, ef.SecretRef.Name)
				}
				for k := range s.StringData {
					env[k] = "secret"
				}
				for k := range s.Data {
					env[k] = "secret"
				}
			}
		}
		for k, secret := range required {
			switch {
			case env[k] == "":
				t.Errorf("%s: %s is not set (env, ConfigMap or Secret)", name, k)
			case secret && env[k] != "secret":
				t.Errorf("%s: %s is a secret but comes from %s", name, k, env[k])
			}
		}

		ports := map[string]int{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		checkProbe := func(kind string, p *probe, path string) {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", name, kind)
				return
			}
			if p.HTTPGet.Path != path {
				t.Errorf("%s: %s probe on %s, want %s", name, kind, p.HTTPGet.Path, path)
			}
			if port, ok := p.HTTPGet.Port.(string); !ok || ports[port] == 0 {
				t.Errorf("%s: %s probe port %v is not a named container port", name, kind, p.HTTPGet.Port)
			}
		}
		checkProbe("liveness", c.LivenessProbe, "/healthz")
		if role == "server" {
			checkProbe("readiness", c.ReadinessProbe, "/readyz")
			// /readyz bounds each check to 2 s; a shorter probe timeout would flap.
			if c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds < 3 {
				t.Errorf("%s: readiness timeout %d s is below the 2 s per check /readyz may take", name, c.ReadinessProbe.TimeoutSeconds)
			}
			// The API listens where the probes and the Service point, with TLS from a mounted Secret.
			listen := ""
			certPath := ""
			for _, e := range c.Env {
				switch e.Name {
				case "OTPATCH_LISTEN":
					listen = e.Value
				case "OTPATCH_TLS_CERT":
					certPath = e.Value
				}
			}
			if want := ":" + strconv.Itoa(ports["https"]); listen != want {
				t.Errorf("%s: OTPATCH_LISTEN %q, but the https port is %d", name, listen, ports["https"])
			}
			if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Scheme != "HTTPS" {
				t.Errorf("%s: the API serves HTTPS but the readiness probe uses %q", name, c.ReadinessProbe.HTTPGet.Scheme)
			}
			mounted := false
			for _, m := range c.VolumeMounts {
				for _, v := range pod.Volumes {
					if v.Name == m.Name && v.Secret.SecretName != "" && strings.HasPrefix(certPath, m.MountPath+"/") {
						if s, ok := objs["Secret/"+v.Secret.SecretName]; !ok || s.Type != "kubernetes.io/tls" {
							t.Errorf("%s: TLS volume's Secret %s is not a kubernetes.io/tls Secret in the manifests", name, v.Secret.SecretName)
						}
						mounted = true
					}
				}
			}
			if !mounted {
				t.Errorf("%s: OTPATCH_TLS_CERT %q is not on a mounted Secret volume", name, certPath)
			}
			svc, ok := objs["Service/otpatch-server"]
			var svcSel map[string]string
			if !ok || svc.Spec.Selector.Decode(&svcSel) != nil || len(svcSel) == 0 {
				t.Errorf("no Service otpatch-server with a selector")
			}
			for k, v := range svcSel {
				if d.Spec.Template.Metadata.Labels[k] != v {
					t.Errorf("Service otpatch-server selects %s=%s, which the server pods do not carry", k, v)
				}
			}
		}
	}
	if len(images) != 1 {
		t.Errorf("server and worker run different images %v; they must be the same build", images)
	}
}

// TestSystemdUnits checks that the units run the server and the worker from the same
// environment file, check the configuration first, and drop privileges.
func TestSystemdUnits(t *testing.T) {
	example := readKeys(t, "systemd/otpatch.env.example")
	for k := range required {
		if example[k] == "" {
			t.Errorf("systemd/otpatch.env.example does not set %s", k)
		}
	}
	for unit, role := range map[string]string{"systemd/otpatch-server.service": "server", "systemd/otpatch-worker@.service": "worker"} {
		keys := readKeys(t, unit)
		if keys["ExecStart"] != "/usr/local/bin/otpatch "+role {
			t.Errorf("%s: ExecStart=%q", unit, keys["ExecStart"])
		}
		if keys["ExecStartPre"] != "/usr/local/bin/otpatch config check --role "+role {
			t.Errorf("%s: ExecStartPre=%q, want the configuration checked first", unit, keys["ExecStartPre"])
		}
		if keys["EnvironmentFile"] != "/etc/otpatch/otpatch.env" {
			t.Errorf("%s: EnvironmentFile=%q", unit, keys["EnvironmentFile"])
		}
		for k, v := range map[string]string{"User": "otpatch", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "Restart": "on-failure"} {
			if keys[k] != v {
				t.Errorf("%s: %s=%q, want %q", unit, k, keys[k], v)
			}
		}
	}
}

// readKeys reads KEY=VALUE lines (systemd units, env files); the last one wins.
func readKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// deviceKeys are the worker's files for reaching devices: the agent job-signing key and the ssh
// adapter's client key and known_hosts.
var deviceKeys = []string{"OTPATCH_AGENT_SIGNING_KEY", "OTPATCH_SSH_KEY_FILE", "OTPATCH_SSH_KNOWN_HOSTS"}

// TestKubernetesWorkerKeys checks that the workers read their device keys from a Secret: every
// replica the same job-signing key (agents pin it), read-only so that a missing key stops the
// pod instead of each pod making its own, readable by the pod's non-root user; the ssh key and
// known_hosts both or neither; and that the server, which reaches no device, gets none of them.
func TestKubernetesWorkerKeys(t *testing.T) {
	objs, _ := loadManifests(t)
	for _, name := range []string{"otpatch-server", "otpatch-worker"} {
		d := objs["Deployment/"+name]
		pod := d.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", name, len(pod.Containers))
		}
		c := pod.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if name == "otpatch-server" {
			for _, k := range deviceKeys {
				if _, ok := env[k]; ok {
					t.Errorf("%s: %s is set; only workers reach devices", name, k)
				}
			}
			for _, v := range pod.Volumes {
				if s := objs["Secret/"+v.Secret.SecretName]; v.Secret.SecretName != "" && (s.Data["agent-signing.key"] != "" || s.StringData["agent-signing.key"] != "") {
					t.Errorf("%s mounts the workers' key Secret %s", name, v.Secret.SecretName)
				}
			}
			continue
		}

		if env["OTPATCH_AGENT_SIGNING_KEY"] == "" {
			t.Errorf("%s: OTPATCH_AGENT_SIGNING_KEY is not set; with PostgreSQL the agent adapter is off without it", name)
		}
		if (env["OTPATCH_SSH_KEY_FILE"] == "") != (env["OTPATCH_SSH_KNOWN_HOSTS"] == "") {
			t.Errorf("%s: set OTPATCH_SSH_KEY_FILE and OTPATCH_SSH_KNOWN_HOSTS both or neither (key %q, known_hosts %q)", name, env["OTPATCH_SSH_KEY_FILE"], env["OTPATCH_SSH_KNOWN_HOSTS"])
		}
		checkedVolume := map[string]bool{}
		for _, k := range deviceKeys {
			file := env[k]
			if file == "" {
				continue
			}
			found := false
			for _, m := range c.VolumeMounts {
				if filepath.Dir(file) != m.MountPath {
					continue
				}
				for _, v := range pod.Volumes {
					if v.Name != m.Name {
						continue
					}
					found = true
					sec, ok := objs["Secret/"+v.Secret.SecretName]
					if v.Secret.SecretName == "" || !ok {
						t.Errorf("%s: %s %s is on volume %s, which is not a Secret in the manifests", name, k, file, v.Name)
						break
					}
					key := filepath.Base(file)
					for _, it := range v.Secret.Items {
						if it.Path == key {
							key = it.Key
						}
					}
					if _, ok := sec.StringData[key]; !ok {
						if _, ok := sec.Data[key]; !ok {
							t.Errorf("%s: %s %s: Secret %s has no key %q", name, k, file, sec.Metadata.Name, key)
						}
					}
					if checkedVolume[v.Name] {
						continue
					}
					checkedVolume[v.Name] = true
					if !m.ReadOnly {
						t.Errorf("%s: the key volume %s is not mounted readOnly", name, m.Name)
					}
					// Secret files are root's; mode and fsGroup decide whether the pod's user reads them.
					mode := 0o644
					if v.Secret.DefaultMode != nil {
						mode = *v.Secret.DefaultMode
					}
					if mode&0o004 != 0 {
						t.Errorf("%s: key volume %s has mode %#o; keep the keys from other users (0440 with fsGroup)", name, v.Name, mode)
					}
					if fs := pod.SecurityContext.FSGroup; mode&0o040 == 0 || fs == nil || pod.SecurityContext.RunAsGroup == nil || *fs != *pod.SecurityContext.RunAsGroup {
						t.Errorf("%s: the pod's user cannot read key volume %s: want defaultMode 0440 and fsGroup equal to runAsGroup", name, v.Name)
					}
				}
			}
			if !found {
				t.Errorf("%s: %s %s is not on a mounted Secret volume", name, k, file)
			}
		}
	}
}

// TestSystemdDeviceKeys checks that every worker host reads the one job-signing key from the
// environment file's path, read-only, so a host without the copied key fails to start instead
// of making its own, and that the server unit neither sees the device keys nor their settings.
func TestSystemdDeviceKeys(t *testing.T) {
	example := readKeys(t, "systemd/otpatch.env.example")
	key := example["OTPATCH_AGENT_SIGNING_KEY"]
	if !filepath.IsAbs(key) {
		t.Fatalf("systemd/otpatch.env.example: OTPATCH_AGENT_SIGNING_KEY=%q, want an absolute path", key)
	}
	worker := readUnit(t, "systemd/otpatch-worker@.service")
	for _, p := range worker["ReadWritePaths"] {
		for _, dir := range strings.Fields(p) {
			dir = strings.TrimLeft(dir, "-+")
			if key == dir || strings.HasPrefix(key, strings.TrimSuffix(dir, "/")+"/") {
				t.Errorf("otpatch-worker@.service: %s is writable (ReadWritePaths=%s); each worker host would make its own job-signing key", key, dir)
			}
		}
	}

	server := readUnit(t, "systemd/otpatch-server.service")
	hidden := strings.Fields(strings.Join(server["InaccessiblePaths"], " "))
	unset := strings.Fields(strings.Join(server["UnsetEnvironment"], " "))
	for _, k := range deviceKeys {
		file := example[k]
		if file == "" {
			continue
		}
		covered := false
		for _, h := range hidden {
			h = strings.TrimLeft(h, "-+")
			covered = covered || file == h || strings.HasPrefix(file, h+"/")
		}
		if !covered {
			t.Errorf("otpatch-server.service: %s (%s) is not in InaccessiblePaths; the API needs no device key", file, k)
		}
		if !slices.Contains(unset, k) {
			t.Errorf("otpatch-server.service: UnsetEnvironment does not drop %s", k)
		}
	}
}

// TestSystemdAgentUnit checks otpatch-agent.service and agent.env.example: the agent starts with
// what it requires, talks HTTPS, keeps its state where the unit lets it write, never listens,
// may reach only the addresses it is given, and its host holds none of otpatch's own secrets.
func TestSystemdAgentUnit(t *testing.T) {
	const unitFile, envFile = "systemd/otpatch-agent.service", "systemd/agent.env.example"
	unit := readUnit(t, unitFile)
	one := func(k string) string {
		if v := unit[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	if got := one("ExecStart"); got != "/usr/local/bin/otpatch agent" {
		t.Errorf("%s: ExecStart=%q, want /usr/local/bin/otpatch agent", unitFile, got)
	}
	if got := one("EnvironmentFile"); got != "/etc/otpatch-agent/agent.env" {
		t.Errorf("%s: EnvironmentFile=%q, want /etc/otpatch-agent/agent.env", unitFile, got)
	}
	if u := one("User"); (u == "" || u == "root" || u == "0") && one("DynamicUser") != "yes" {
		t.Errorf("%s: runs as %q; want a dedicated user or DynamicUser=yes", unitFile, u)
	}
	for k, v := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "IPAddressDeny": "any", "SocketBindDeny": "any", "CapabilityBoundingSet": "", "Restart": "on-failure"} {
		if _, ok := unit[k]; !ok || one(k) != v {
			t.Errorf("%s: %s=%q, want %q", unitFile, k, one(k), v)
		}
	}
	if len(unit["IPAddressAllow"]) == 0 {
		t.Errorf("%s: IPAddressDeny=any without IPAddressAllow: the agent could not reach otpatch", unitFile)
	}
	for _, f := range strings.Fields(one("RestrictAddressFamilies")) {
		if !slices.Contains([]string{"AF_INET", "AF_INET6", "AF_UNIX"}, f) {
			t.Errorf("%s: RestrictAddressFamilies allows %s", unitFile, f)
		}
	}
	if one("RestrictAddressFamilies") == "" {
		t.Errorf("%s: RestrictAddressFamilies is not set", unitFile)
	}

	env := readKeys(t, envFile)
	// runAgent refuses to start without these (cmd/otpatch/agent.go).
	for _, k := range []string{"OTPATCH_AGENT_SERVER", "OTPATCH_AGENT_ASSET", "OTPATCH_AGENT_TOKEN_FILE", "OTPATCH_AGENT_SIGNING_PUBLIC_KEY"} {
		if env[k] == "" {
			t.Errorf("%s does not set %s, which the agent requires", envFile, k)
		}
	}
	if !strings.HasPrefix(env["OTPATCH_AGENT_SERVER"], "https://") {
		t.Errorf("%s: OTPATCH_AGENT_SERVER=%q; the agent talks to otpatch over HTTPS only", envFile, env["OTPATCH_AGENT_SERVER"])
	}
	for _, k := range []string{"OTPATCH_AGENT_TOKEN_FILE", "OTPATCH_AGENT_SIGNING_PUBLIC_KEY", "OTPATCH_AGENT_CA_FILE"} {
		if v := env[k]; v != "" && !strings.HasPrefix(v, "/etc/otpatch-agent/") {
			t.Errorf("%s: %s=%q, want it under /etc/otpatch-agent/ next to agent.env", envFile, k, v)
		}
	}
	for _, k := range []string{"OTPATCH_DATABASE_URL", "OTPATCH_S3_ACCESS_KEY", "OTPATCH_S3_SECRET_KEY", "OTPATCH_AGENT_SIGNING_KEY", "OTPATCH_SSH_KEY_FILE", "OTPATCH_CHECKPOINT_KEY_FILE"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s sets %s: a host in the control zone must not hold otpatch's own secrets", envFile, k)
		}
	}

	// The journal and work directory: where the agent keeps them is where the unit lets it write.
	stateDir := env["OTPATCH_AGENT_STATE_DIR"]
	if stateDir == "" {
		stateDir = binarySettings(t)["OTPATCH_AGENT_STATE_DIR"]
	}
	if want := "/var/lib/" + one("StateDirectory"); one("StateDirectory") == "" || stateDir != want {
		t.Errorf("%s: StateDirectory=%q, but the agent keeps its state in %q", unitFile, one("StateDirectory"), stateDir)
	}
	writable := false
	for _, p := range unit["ReadWritePaths"] {
		writable = writable || slices.Contains(strings.Fields(p), stateDir)
	}
	if !writable {
		t.Errorf("%s: the state directory %s is not in ReadWritePaths", unitFile, stateDir)
	}
}

// TestDeploySettingsAreRead checks that every OTPATCH_ setting the deployment files give (the
// systemd environment files, also their commented examples, and the units' Environment=, the
// Kubernetes ConfigMap, Secrets and container env, the compose services) is one the binary
// reads: a misspelt setting would otherwise be ignored without a word.
func TestDeploySettingsAreRead(t *testing.T) {
	known := binarySettings(t)
	check := func(where, k string) {
		if !strings.HasPrefix(k, "OTPATCH_") {
			return
		}
		if _, ok := known[k]; !ok {
			t.Errorf("%s sets %s, which otpatch does not read (cmd/otpatch)", where, k)
		}
	}
	envFiles, _ := filepath.Glob("systemd/*.env.example")
	if len(envFiles) < 2 {
		t.Fatalf("systemd environment files: %v, want otpatch.env.example and agent.env.example", envFiles)
	}
	for _, f := range envFiles {
		for _, k := range readSettingNames(t, f) {
			if !strings.HasPrefix(k, "OTPATCH_") && !slices.Contains([]string{"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}, k) {
				t.Errorf("%s sets %s, which neither otpatch nor Go's HTTP proxy support reads", f, k)
			}
			check(f, k)
		}
	}
	units, _ := filepath.Glob("systemd/*.service")
	for _, f := range units {
		u := readUnit(t, f)
		for _, line := range u["Environment"] {
			for _, kv := range strings.Fields(line) {
				k, _, _ := strings.Cut(strings.Trim(kv, `"`), "=")
				check(f+" Environment=", k)
			}
		}
		for _, line := range u["UnsetEnvironment"] {
			for _, k := range strings.Fields(line) {
				check(f+" UnsetEnvironment=", k)
			}
		}
	}

	objs, _ := loadManifests(t)
	for key, o := range objs {
		switch o.Kind {
		case "ConfigMap", "Secret":
			for k := range o.Data {
				check("kubernetes "+key, k)
			}
			for k := range o.StringData {
				check("kubernetes "+key, k)
			}
		case "Deployment":
			for _, c := range o.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					check("kubernetes "+key, e.Name)
				}
			}
		}
	}

	p := mustLoad(t)
	for _, name := range otpatchServices {
		for k := range service(t, p, name).Environment {
			check("docker-compose.yml "+name, k)
		}
	}
	b, err := os.ReadFile(sshOverlay)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range regexp.MustCompile(`(?m)^\s+(OTPATCH_[A-Z0-9_]+):`).FindAllStringSubmatch(string(b), -1) {
		check(sshOverlay, k[1])
	}
}

// binarySettings returns the OTPATCH_ variables cmd/otpatch reads, with their defaults where a
// literal gives one: the first argument of every env(NAME, DEF) and envDuration(NAME, DEF) call
// (both read OTPATCH_+NAME) and of os.Getenv / os.LookupEnv.
func binarySettings(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "cmd", "otpatch", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources in cmd/otpatch: %v", err)
	}
	fset := token.NewFileSet()
	out := map[string]string{}
	literal := func(e ast.Expr) (string, bool) {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(lit.Value)
		return s, err == nil
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			name, ok := literal(call.Args[0])
			if !ok {
				return true
			}
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				if fn.Name == "env" || fn.Name == "envDuration" || fn.Name == "envInt" {
					def := ""
					if len(call.Args) > 1 {
						def, _ = literal(call.Args[1])
					}
					out["OTPATCH_"+name] = def
				}
			case *ast.SelectorExpr:
				if pkg, ok := fn.X.(*ast.Ident); ok && pkg.Name == "os" && (fn.Sel.Name == "Getenv" || fn.Sel.Name == "LookupEnv") && strings.HasPrefix(name, "OTPATCH_") {
					out[name] = ""
				}
			}
			return true
		})
	}
	for _, k := range []string{"OTPATCH_DATABASE_URL", "OTPATCH_AGENT_SERVER", "OTPATCH_SSH_KEY_FILE"} {
		if _, ok := out[k]; !ok {
			t.Fatalf("found no read of %s in cmd/otpatch: has env() changed? (found %d settings)", k, len(out))
		}
	}
	return out
}

// readSettingNames returns the names an environment file sets, including those of commented
// examples ("#OTPATCH_X=…").
func readSettingNames(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^#?\s*([A-Za-z_][A-Za-z0-9_]*)=`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// readUnit reads a systemd unit's KEY=VALUE lines, every value of a key in order.
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}
