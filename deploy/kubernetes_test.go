package deploy_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
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
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name   string `yaml:"name"`
		Secret struct {
			SecretName string `yaml:"secretName"`
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
