// Package deploy_test checks the production deployment files: that
// docker-compose.yml loads with the example settings (alone and with
// deploy/compose.ssh.yml) and wires the services together as deploy/README.md
// describes, that deploy/Dockerfile builds the image the way the compose file
// expects, and the Kubernetes manifests and systemd units.
package deploy_test

import (
	"bufio"
	"context"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile = "../docker-compose.yml"
	sshOverlay  = "compose.ssh.yml"
	envExample  = "compose.env.example"
	dockerfile  = "Dockerfile"

	temporalFrontendPort = "7233"
	minioS3Port          = "9000"
	postgresPort         = "5432"
	artifactBucket       = "otpatch-artifacts"
)

var (
	allServices = []string{
		"postgres", "temporal", "temporal-ui", "minio", "minio-init",
		"otpatch-server", "otpatch-worker",
	}
	otpatchServices = []string{"otpatch-server", "otpatch-worker"}
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadProject loads docker-compose.yml as `docker compose --env-file` would,
// with only the given env files (never the process environment) so the
// result does not depend on the machine running the test.
func loadProject(t *testing.T, envFiles ...string) (*types.Project, error) {
	t.Helper()
	return loadFiles(t, []string{composeFile}, envFiles...)
}

// loadFiles is loadProject for `docker compose -f FILE…`: later files extend earlier ones.
func loadFiles(t *testing.T, files []string, envFiles ...string) (*types.Project, error) {
	t.Helper()
	return loadCompose(t, repoRoot(t), "otpatch", files, envFiles...)
}

// loadCompose loads the compose files as `docker compose -p name -f FILE…` run in dir would,
// with only the given env files.
func loadCompose(t *testing.T, dir, name string, files []string, envFiles ...string) (*types.Project, error) {
	t.Helper()
	fns := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(dir), cli.WithName(name)}
	if len(envFiles) > 0 {
		// Without explicit files WithEnvFiles would pick up a developer's .env.
		fns = append(fns, cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	}
	opts, err := cli.NewProjectOptions(files, fns...)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func mustLoad(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadProject(t, envExample)
	if err != nil {
		t.Fatalf("load %s with %s: %v", composeFile, envExample, err)
	}
	return p
}

func readEnvExample(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(envExample)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: malformed line %q", envExample, line)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %q missing", name)
	}
	return s
}

func env(t *testing.T, s types.ServiceConfig, key string) string {
	t.Helper()
	v, ok := s.Environment[key]
	if !ok || v == nil {
		t.Errorf("service %s: environment %s not set", s.Name, key)
		return ""
	}
	return *v
}

// serviceByImage returns the name of the only service whose image is repo.
func serviceByImage(t *testing.T, p *types.Project, repo string) string {
	t.Helper()
	var names []string
	for name, s := range p.Services {
		if r, _ := splitImage(s.Image); r == repo {
			names = append(names, name)
		}
	}
	if len(names) != 1 {
		t.Fatalf("services running %s: %v, want exactly one", repo, names)
	}
	return names[0]
}

// splitImage splits an image reference into repository and tag; a digest is
// ignored and the tag is "" when there is none.
func splitImage(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

func TestComposeLoads(t *testing.T) {
	p := mustLoad(t)
	var got []string
	for name := range p.Services {
		got = append(got, name)
	}
	sort.Strings(got)
	want := slices.Clone(allServices)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
}

func TestComposeSecretsComeFromEnvFile(t *testing.T) {
	_, bare := loadProject(t)
	checkSettingsRequired(t, bare, composeFile, envExample, readEnvExample(t))
}

// checkSettingsRequired checks a compose file against the example settings it is run with:
// loaded without them (bare is that load's error) it stops, telling to set them in .env;
// it uses every setting of the example and requires each (${KEY:?message}); and the example
// holds no usable secret.
func checkSettingsRequired(t *testing.T, bare error, composePath, examplePath string, example map[string]string) {
	t.Helper()
	if bare == nil {
		t.Errorf("%s loaded without any settings: they must be required, not defaulted", composePath)
	} else if !strings.Contains(bare.Error(), "in .env") {
		t.Errorf("loading %s without settings failed with %q, want a message that tells to set the value in .env", composePath, bare)
	}

	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(b)
	for key, value := range example {
		// ${KEY...} is interpolated by compose; $${KEY} is left to the container's shell.
		uses := regexp.MustCompile(`(?:^|[^$])\$\{`+regexp.QuoteMeta(key)+`([^A-Za-z0-9_}][^}]*)?\}`).FindAllStringSubmatch(raw, -1)
		if len(uses) == 0 {
			t.Errorf("%s sets %s, which %s never uses", examplePath, key, composePath)
		}
		for _, u := range uses {
			if !strings.HasPrefix(u[1], ":?") {
				t.Errorf("%s uses ${%s%s}: a setting from %s must be required with ${%s:?message}", composePath, key, u[1], examplePath, key)
			}
		}
		if strings.Contains(key, "PASSWORD") || strings.Contains(key, "SECRET") {
			if !strings.HasPrefix(value, "change-me") {
				t.Errorf("%s: %s=%q; the example must hold a placeholder, not a usable secret", examplePath, key, value)
			}
		}
	}
}

func TestComposeImagesPinned(t *testing.T) {
	p := mustLoad(t)
	for name, s := range p.Services {
		repo, tag := splitImage(s.Image)
		if s.Image == "" || tag == "" || tag == "latest" {
			t.Errorf("service %s: image %q is not pinned to a tag", name, s.Image)
			continue
		}
		if s.Build == nil && !strings.ContainsAny(tag, "0123456789") {
			t.Errorf("service %s: image %s:%s is not pinned to a version", name, repo, tag)
		}
	}
}

func TestComposeHealthChecks(t *testing.T) {
	p := mustLoad(t)
	for _, name := range []string{"postgres", "temporal", "minio", "otpatch-server"} {
		hc := service(t, p, name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("service %s has no health check: %+v", name, hc)
		}
	}

	hc := service(t, p, "otpatch-server").HealthCheck
	if hc != nil {
		// The runtime image is distroless: no shell, no curl, only /otpatch.
		want := types.HealthCheckTest{"CMD", "/otpatch", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"}
		if !slices.Equal(hc.Test, want) {
			t.Errorf("otpatch-server health check = %q, want %q", hc.Test, want)
		}
	}
	if hc := service(t, p, "temporal").HealthCheck; hc != nil {
		if !slices.Contains(hc.Test, "temporal:"+temporalFrontendPort) {
			t.Errorf("temporal health check %q does not probe temporal:%s", hc.Test, temporalFrontendPort)
		}
	}
}

func TestComposeDependencies(t *testing.T) {
	p := mustLoad(t)
	want := map[string]string{
		"postgres":   types.ServiceConditionHealthy,
		"temporal":   types.ServiceConditionHealthy,
		"minio":      types.ServiceConditionHealthy,
		"minio-init": types.ServiceConditionCompletedSuccessfully,
	}
	for _, name := range otpatchServices {
		deps := service(t, p, name).DependsOn
		for dep, cond := range want {
			d, ok := deps[dep]
			if !ok {
				t.Errorf("service %s does not depend on %s", name, dep)
				continue
			}
			if d.Condition != cond {
				t.Errorf("service %s depends on %s with condition %q, want %q", name, dep, d.Condition, cond)
			}
		}
	}
	for dep, name := range map[string]string{"temporal": "postgres", "temporal-ui": "temporal", "minio-init": "minio"} {
		if d, ok := service(t, p, dep).DependsOn[name]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("service %s does not wait for %s to be healthy", dep, name)
		}
	}
}

func TestComposeWiring(t *testing.T) {
	p := mustLoad(t)
	example := readEnvExample(t)
	temporal := serviceByImage(t, p, "temporalio/auto-setup")
	minio := serviceByImage(t, p, "minio/minio")
	postgres := serviceByImage(t, p, "postgres")
	minioInit := service(t, p, "minio-init")

	for _, name := range otpatchServices {
		s := service(t, p, name)

		if got, want := env(t, s, "OTPATCH_TEMPORAL_ADDRESS"), net.JoinHostPort(temporal, temporalFrontendPort); got != want {
			t.Errorf("%s: OTPATCH_TEMPORAL_ADDRESS = %q, want %q", name, got, want)
		}
		if got, want := env(t, s, "OTPATCH_S3_ENDPOINT"), net.JoinHostPort(minio, minioS3Port); got != want {
			t.Errorf("%s: OTPATCH_S3_ENDPOINT = %q, want %q", name, got, want)
		}
		if got := env(t, s, "OTPATCH_S3_BUCKET"); got != artifactBucket || got != env(t, minioInit, "BUCKET") {
			t.Errorf("%s: OTPATCH_S3_BUCKET = %q, want %q, the bucket minio-init creates", name, got, artifactBucket)
		}
		for _, key := range []string{"OTPATCH_S3_ACCESS_KEY", "OTPATCH_S3_SECRET_KEY"} {
			if got := env(t, s, key); got == "" || got != example[key] || got != env(t, minioInit, key) {
				t.Errorf("%s: %s = %q, want the value from %s that minio-init provisions", name, key, got, envExample)
			}
		}

		dsn := env(t, s, "OTPATCH_DATABASE_URL")
		u, err := url.Parse(dsn)
		if err != nil {
			t.Errorf("%s: OTPATCH_DATABASE_URL %q: %v", name, dsn, err)
			continue
		}
		pw, _ := u.User.Password()
		if u.Scheme != "postgres" || u.Hostname() != postgres || u.Port() != postgresPort ||
			u.Path != "/otpatch" || u.User.Username() != example["POSTGRES_USER"] || pw != example["POSTGRES_PASSWORD"] {
			t.Errorf("%s: OTPATCH_DATABASE_URL = %q, want postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@%s:%s/otpatch", name, dsn, postgres, postgresPort)
		}
	}

	pg := service(t, p, postgres)
	if env(t, pg, "POSTGRES_DB") != "otpatch" {
		t.Errorf("postgres: POSTGRES_DB = %q, want otpatch", env(t, pg, "POSTGRES_DB"))
	}
	tp := service(t, p, temporal)
	if env(t, tp, "DB") != "postgres12" || env(t, tp, "POSTGRES_SEEDS") != postgres ||
		env(t, tp, "POSTGRES_USER") != example["POSTGRES_USER"] || env(t, tp, "POSTGRES_PWD") != example["POSTGRES_PASSWORD"] {
		t.Errorf("temporal is not wired to the postgres service: %v", tp.Environment)
	}
	if got, want := env(t, service(t, p, "temporal-ui"), "TEMPORAL_ADDRESS"), net.JoinHostPort(temporal, temporalFrontendPort); got != want {
		t.Errorf("temporal-ui: TEMPORAL_ADDRESS = %q, want %q", got, want)
	}

	script := strings.Join(minioInit.Command, " ")
	for _, want := range []string{"http://" + net.JoinHostPort(minio, minioS3Port), "mc mb", "--with-lock", "mc admin policy attach"} {
		if !strings.Contains(script, want) {
			t.Errorf("minio-init command does not contain %q:\n%s", want, script)
		}
	}
	mc := strings.Join(service(t, p, minio).Command, " ")
	if !strings.Contains(mc, "server /data") || strings.Contains(mc, "--address") {
		t.Errorf("minio command %q: want `server /data` on the default S3 port %s", mc, minioS3Port)
	}

	srv := service(t, p, "otpatch-server")
	if got := env(t, srv, "OTPATCH_LISTEN"); got != ":8080" {
		t.Errorf("otpatch-server: OTPATCH_LISTEN = %q, want :8080", got)
	}
	if got := []string(srv.Command); !slices.Equal(got, []string{"server"}) {
		t.Errorf("otpatch-server command = %q, want [server]", got)
	}
	wk := service(t, p, "otpatch-worker")
	if got := []string(wk.Command); !slices.Equal(got, []string{"worker"}) {
		t.Errorf("otpatch-worker command = %q, want [worker]", got)
	}
	if wk.Deploy == nil || wk.Deploy.Replicas == nil {
		t.Error("otpatch-worker: deploy.replicas not set, want at least 2")
	} else if n := *wk.Deploy.Replicas; n < 2 {
		t.Errorf("otpatch-worker: deploy.replicas = %d, want at least 2", n)
	}
	if wk.ContainerName != "" {
		t.Errorf("otpatch-worker has container_name %q, which stops it from scaling", wk.ContainerName)
	}
}

func TestComposeOtpatchImageFromDockerfile(t *testing.T) {
	p := mustLoad(t)
	root := repoRoot(t)
	var images []string
	for _, name := range otpatchServices {
		s := service(t, p, name)
		images = append(images, s.Image)
		if s.Build == nil {
			t.Errorf("%s has no build section", name)
			continue
		}
		ctx := s.Build.Context
		if !filepath.IsAbs(ctx) {
			ctx = filepath.Join(root, ctx)
		}
		if filepath.Clean(ctx) != root {
			t.Errorf("%s: build context %q, want the repository root %q", name, s.Build.Context, root)
		}
		df := s.Build.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(ctx, df)
		}
		if rel, _ := filepath.Rel(root, df); filepath.ToSlash(rel) != "deploy/Dockerfile" {
			t.Errorf("%s: dockerfile %q, want deploy/Dockerfile", name, s.Build.Dockerfile)
		}
	}
	if len(images) == 2 && images[0] != images[1] {
		t.Errorf("otpatch-server and otpatch-worker run different images: %v", images)
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "Dockerfile")); err != nil {
		t.Error(err)
	}
}

func TestComposePorts(t *testing.T) {
	p := mustLoad(t)
	type binding struct {
		hostIP, published string
		target            uint32
	}
	want := map[string][]binding{
		"otpatch-server": {{"", "8080", 8080}},
		"temporal-ui":    {{"127.0.0.1", "8233", 8080}},
		"minio":          {{"127.0.0.1", "9001", 9001}},
	}
	for name, s := range p.Services {
		var got []binding
		for _, port := range s.Ports {
			got = append(got, binding{port.HostIP, port.Published, port.Target})
		}
		if !slices.Equal(got, want[name]) {
			t.Errorf("service %s publishes %+v, want %+v", name, got, want[name])
		}
		for _, b := range got {
			if (b.hostIP == "" || b.hostIP == "0.0.0.0" || b.hostIP == "::") && name != "otpatch-server" {
				t.Errorf("service %s publishes port %s on all interfaces", name, b.published)
			}
		}
	}
}

func TestComposeVolumes(t *testing.T) {
	p := mustLoad(t)
	for name, target := range map[string]string{"postgres": "/var/lib/postgresql/data", "minio": "/data"} {
		s := service(t, p, name)
		found := false
		for _, v := range s.Volumes {
			if v.Target == target && v.Type == types.VolumeTypeVolume {
				if _, ok := p.Volumes[v.Source]; ok {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("service %s: no named volume mounted at %s", name, target)
		}
	}
}

// TestComposeAgentSigningKey checks that every worker replica signs agent jobs with the same
// key: OTPATCH_AGENT_SIGNING_KEY is set on the service (so on every replica) and lies on a named
// volume, which all replicas share and which outlives the containers (an anonymous volume
// would give each replica its own key). The image makes the mount point the runtime user's, so
// the first worker can create the key there; the server, which never signs, gets neither.
func TestComposeAgentSigningKey(t *testing.T) {
	p := mustLoad(t)
	wk := service(t, p, "otpatch-worker")
	key := env(t, wk, "OTPATCH_AGENT_SIGNING_KEY")
	if !path.IsAbs(key) {
		t.Fatalf("otpatch-worker: OTPATCH_AGENT_SIGNING_KEY = %q, want an absolute path in the container", key)
	}
	var mount *types.ServiceVolumeConfig
	for i, v := range wk.Volumes {
		if v.Target == path.Dir(key) {
			mount = &wk.Volumes[i]
		}
	}
	switch {
	case mount == nil:
		t.Fatalf("otpatch-worker: nothing is mounted at %s, the directory of OTPATCH_AGENT_SIGNING_KEY; each replica would make its own key", path.Dir(key))
	case mount.Type != types.VolumeTypeVolume || p.Volumes[mount.Source].Name == "":
		t.Errorf("otpatch-worker: %s is a %s mount of %q, want a named volume declared under volumes: (shared by every replica)", mount.Target, mount.Type, mount.Source)
	case mount.ReadOnly:
		t.Errorf("otpatch-worker: %s is mounted read-only; the first worker creates the key there", mount.Target)
	}

	srv := service(t, p, "otpatch-server")
	if _, ok := srv.Environment["OTPATCH_AGENT_SIGNING_KEY"]; ok {
		t.Error("otpatch-server has OTPATCH_AGENT_SIGNING_KEY: only workers sign agent jobs")
	}
	for _, v := range srv.Volumes {
		if mount != nil && v.Source == mount.Source {
			t.Errorf("otpatch-server mounts the workers' key volume %s", v.Source)
		}
	}

	// The named volume starts as a copy of the image's directory, owner included.
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	owned := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.EqualFold(f[0], "COPY") || !slices.Contains(f, "--chown=65532:65532") {
			continue
		}
		dest := strings.TrimSuffix(f[len(f)-1], "/")
		owned = owned || path.Dir(key) == dest || strings.HasPrefix(path.Dir(key), dest+"/")
	}
	if !owned {
		t.Errorf("Dockerfile does not make %s the runtime user's (COPY --chown=65532:65532 … %s): a new volume there is root's and the worker cannot create its key", path.Dir(key), path.Dir(key))
	}
}

// TestComposeSSHOverlay checks deploy/compose.ssh.yml: docker-compose.yml alone leaves the ssh
// adapter off (it needs no extra files); with the overlay the workers get the key and
// known_hosts named in .env as compose secrets, and the settings point at them.
func TestComposeSSHOverlay(t *testing.T) {
	base := mustLoad(t)
	for _, name := range otpatchServices {
		for _, k := range []string{"OTPATCH_SSH_KEY_FILE", "OTPATCH_SSH_KNOWN_HOSTS"} {
			if _, ok := service(t, base, name).Environment[k]; ok {
				t.Errorf("docker-compose.yml sets %s on %s; the ssh adapter must stay off without deploy/%s", k, name, sshOverlay)
			}
		}
	}

	files := []string{composeFile, sshOverlay}
	if _, err := loadFiles(t, files, envExample); err == nil {
		t.Error("the ssh overlay loaded without WORKER_SSH_KEY and WORKER_SSH_KNOWN_HOSTS: it must require them")
	} else if !strings.Contains(err.Error(), "in .env") {
		t.Errorf("loading the ssh overlay without its settings failed with %q, want a message that tells to set them in .env", err)
	}

	sshEnv, hostFiles := writeHostFiles(t, "WORKER_SSH_KEY", "WORKER_SSH_KNOWN_HOSTS")
	p, err := loadFiles(t, files, envExample, sshEnv)
	if err != nil {
		t.Fatalf("load %s with %s: %v", strings.Join(files, " + "), sshOverlay, err)
	}
	wk := service(t, p, "otpatch-worker")
	for setting, hostVar := range map[string]string{"OTPATCH_SSH_KEY_FILE": "WORKER_SSH_KEY", "OTPATCH_SSH_KNOWN_HOSTS": "WORKER_SSH_KNOWN_HOSTS"} {
		got := env(t, wk, setting)
		secret := secretAt(wk, got)
		if secret == "" {
			t.Errorf("otpatch-worker: %s = %q, which is not one of its secrets %+v", setting, got, wk.Secrets)
			continue
		}
		if file := p.Secrets[secret].File; file != hostFiles[hostVar] {
			t.Errorf("secret %s comes from %q, want $%s (%s)", secret, file, hostVar, hostFiles[hostVar])
		}
	}
	for _, k := range []string{"OTPATCH_SSH_COMMAND_TIMEOUT", "OTPATCH_SSH_EXPECTED_DURATION"} {
		if v, ok := wk.Environment[k]; ok && v != nil {
			if d, err := time.ParseDuration(*v); err != nil || d <= 0 {
				t.Errorf("otpatch-worker: %s = %q is not a positive duration", k, *v)
			}
		}
	}
	if got := env(t, wk, "OTPATCH_AGENT_SIGNING_KEY"); got != env(t, service(t, base, "otpatch-worker"), "OTPATCH_AGENT_SIGNING_KEY") {
		t.Errorf("with the ssh overlay the workers' OTPATCH_AGENT_SIGNING_KEY changed to %q", got)
	}
	if srv := service(t, p, "otpatch-server"); len(srv.Secrets) > 0 || srv.Environment["OTPATCH_SSH_KEY_FILE"] != nil {
		t.Errorf("otpatch-server gets the ssh key (%+v); only workers reach devices", srv.Secrets)
	}
}

// writeHostFiles makes a file for each of the settings names, in a folder of the test's,
// and an env file that sets each name to its file. It returns the env file, and the files
// by setting name.
func writeHostFiles(t *testing.T, names ...string) (envFile string, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	files = map[string]string{}
	var dotenv strings.Builder
	for _, name := range names {
		files[name] = filepath.Join(dir, strings.ToLower(name))
		if err := os.WriteFile(files[name], []byte("test\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dotenv.WriteString(name + "=" + files[name] + "\n")
	}
	envFile = filepath.Join(dir, "host.env")
	if err := os.WriteFile(envFile, []byte(dotenv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return envFile, files
}

// secretAt is the compose secret that s mounts at path, or "" when none is.
func secretAt(s types.ServiceConfig, path string) string {
	for _, sec := range s.Secrets {
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		if target == path {
			return sec.Source
		}
	}
	return ""
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var goVersion string
	for _, line := range strings.Split(string(goMod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = strings.TrimSpace(v)
		}
	}

	var froms []string
	var instructions []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instructions = append(instructions, line)
		if f := strings.Fields(line); strings.EqualFold(f[0], "FROM") && len(f) > 1 {
			froms = append(froms, f[1])
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(froms))
	}
	for _, image := range froms {
		if _, tag := splitImage(image); tag == "" || tag == "latest" {
			t.Errorf("Dockerfile: FROM %s is not pinned", image)
		}
	}
	if repo, tag := splitImage(froms[0]); repo != "golang" || !strings.HasPrefix(tag, goVersion) {
		t.Errorf("Dockerfile: build stage FROM %s, want golang:%s (the go directive of go.mod)", froms[0], goVersion)
	}
	if got, want := froms[len(froms)-1], "gcr.io/distroless/static-debian12:nonroot"; got != want && !strings.HasPrefix(got, want+"@") {
		t.Errorf("Dockerfile: runtime stage FROM %s, want %s", got, want)
	}
	all := strings.Join(instructions, "\n")
	for _, want := range []string{
		"CGO_ENABLED=0",
		`go build -trimpath -tags noembedded -ldflags "-s -w" -o /out/otpatch ./cmd/otpatch`,
		"COPY --from=build /out/otpatch /otpatch",
		"USER nonroot",
		"EXPOSE 8080",
		`ENTRYPOINT ["/otpatch"]`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Dockerfile does not contain %q", want)
		}
	}
}
