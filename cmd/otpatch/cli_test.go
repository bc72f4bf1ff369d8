package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// exitOf is the exit status of a finished otpatch process.
func exitOf(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// runOtpatch runs the built binary with args, without the caller's OTPATCH_* settings and
// with env added, and returns what it printed and its exit status.
func runOtpatch(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("build otpatch: %v", err)
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTPATCH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if code = exitOf(err); code < 0 {
		t.Fatalf("otpatch %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// TestHelpEveryCommand: -h, --help and help on every command, every group and otpatch itself
// print the help to stdout and exit 0.
func TestHelpEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errOut, code := runOtpatch(t, nil, args...)
		if code != exitOK || !strings.Contains(out, "Commands:") || !strings.Contains(out, "Exit status:") || errOut != "" {
			t.Errorf("otpatch %s: exit %d, stdout %q, stderr %q", args[0], code, out, errOut)
		}
	}
	groups := map[string]bool{}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(words) == 2 {
			groups[words[0]] = true
		}
		for _, args := range [][]string{append(words, "-h"), append(words, "--help"), append([]string{"help"}, words...)} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				out, errOut, code := runOtpatch(t, nil, args...)
				if code != exitOK || !strings.HasPrefix(out, "usage: otpatch "+c.name) || errOut != "" {
					t.Errorf("exit %d, stdout %q, stderr %q; want its usage on stdout and exit 0", code, out, errOut)
				}
			})
		}
	}
	if len(groups) < 6 {
		t.Fatalf("groups %v: want vendor, audit, csaf, evidence, config, users", groups)
	}
	for g := range groups {
		for _, args := range [][]string{{g, "--help"}, {g, "-h"}, {g, "help"}, {"help", g}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				out, errOut, code := runOtpatch(t, nil, args...)
				if code != exitOK || !strings.HasPrefix(out, "usage: otpatch "+g+" COMMAND") || errOut != "" {
					t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
				}
				for _, c := range group(g) {
					if !strings.Contains(out, "otpatch "+c.name+" ") {
						t.Errorf("does not list %s:\n%s", c.name, out)
					}
				}
			})
		}
	}
	// Help shows where a secret comes from, never the secret.
	out, _, _ := runOtpatch(t, []string{"OTPATCH_TOKEN=tok-sekrit", "OTPATCH_S3_SECRET_KEY=s3-sekrit"}, "vendor", "submit", "-h")
	out2, _, _ := runOtpatch(t, []string{"OTPATCH_TOKEN=tok-sekrit", "OTPATCH_S3_SECRET_KEY=s3-sekrit"}, "worker", "-h")
	if strings.Contains(out+out2, "sekrit") {
		t.Errorf("help shows a secret from the environment:\n%s%s", out, out2)
	}
}

// TestVersion: otpatch --version and otpatch version print the same line, with the version
// and commit the build recorded (go version -m reads them independently).
func TestVersion(t *testing.T) {
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	check := func(bin string, wantVersion string) {
		t.Helper()
		var lines []string
		for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
			out, err := exec.Command(bin, args...).Output()
			if err != nil {
				t.Fatalf("otpatch %s: %v", args[0], err)
			}
			lines = append(lines, string(out))
		}
		if lines[0] != lines[1] || lines[1] != lines[2] {
			t.Errorf("--version, version and -version differ: %q", lines)
		}
		info, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		commit, modified := "unknown", false
		if m := regexp.MustCompile(`(?m)^\s+build\s+vcs\.revision=(\S+)$`).FindSubmatch(info); m != nil {
			commit = string(m[1])
		}
		modified = regexp.MustCompile(`(?m)^\s+build\s+vcs\.modified=true$`).Match(info)
		want := "otpatch " + wantVersion + " commit " + commit
		if modified {
			want += " (modified)"
		}
		if !strings.HasPrefix(lines[0], want+" go1.") {
			t.Errorf("version line %q, want it to start with %q (from go version -m)", lines[0], want+" go1.")
		}
	}
	// The shared test binary is built as the environment says (GOFLAGS may turn VCS stamping
	// off): its module version is the fallback unless the build recorded one.
	fallback := "dev"
	if m := regexp.MustCompile(`(?m)^\s+mod\s+github.com/otpatch/otpatch\s+(\S+)`).FindSubmatch(mustOutput(t, "go", "version", "-m", bin)); m != nil && string(m[1]) != "(devel)" {
		fallback = string(m[1])
	}
	check(bin, fallback)

	// A build from the repository with VCS stamping records the commit and a pseudo-version;
	// the -X value is only the fallback.
	if err := exec.Command("git", "rev-parse", "HEAD").Run(); err != nil {
		t.Skipf("no git checkout to stamp a build from: %v", err)
	}
	stamped := filepath.Join(t.TempDir(), "otpatch")
	build := exec.Command("go", "build", "-buildvcs=true", "-ldflags", "-X main.version=7.7.7-fallback", "-o", stamped, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	info := mustOutput(t, "go", "version", "-m", stamped)
	m := regexp.MustCompile(`(?m)^\s+mod\s+github.com/otpatch/otpatch\s+(v\S+)`).FindSubmatch(info)
	if m == nil || !bytes.Contains(info, []byte("vcs.revision=")) {
		t.Fatalf("the stamped build recorded no module version or commit:\n%s", info)
	}
	check(stamped, string(m[1]))
}

func mustOutput(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func TestVersionFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "otpatch 1.4.0 commit unknown go1."},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "otpatch 1.4.0 commit unknown go1.26.8 "},
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.5.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "false"}}}, "otpatch v1.5.0 commit 0123abcd go1.26.8 "},
		{"modified tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261206064325-118bd38530eb+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "118bd38530eb"}, {Key: "vcs.modified", Value: "true"}}}, "otpatch v0.0.0-20261206064325-118bd38530eb+dirty commit 118bd38530eb (modified) go1.26.8 "},
	} {
		if got := versionFrom(tc.bi, "1.4.0").String(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want it to start with %q", tc.name, got, tc.want)
		}
	}
}

// TestFlagsAnywhere: flags may follow the arguments; "--" ends the flags, also when a flag
// before it had "--" as its value.
func TestFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		key       string
		artifacts []string
		pos       []string
	}{
		{[]string{"--key", "k", "--artifact", "a", "m.json"}, "k", []string{"a"}, []string{"m.json"}},
		{[]string{"m.json", "--key", "k", "--artifact", "a", "--artifact=b"}, "k", []string{"a", "b"}, []string{"m.json"}},
		{[]string{"m.json", "--key", "k", "--", "--artifact", "-"}, "k", nil, []string{"m.json", "--artifact", "-"}},
		{[]string{"--key", "--", "m.json", "--artifact", "a"}, "--", []string{"a"}, []string{"m.json"}},
		{[]string{"-", "x", "-key=k", "y"}, "k", nil, []string{"-", "x", "y"}},
	} {
		fs := newFlags("vendor sign")
		key := fs.String("key", "", "")
		var arts stringList
		fs.Var(&arts, "artifact", "")
		pos, err := fs.parse(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if *key != tc.key || strings.Join(arts, "|") != strings.Join(tc.artifacts, "|") || strings.Join(pos, "|") != strings.Join(tc.pos, "|") {
			t.Errorf("%q: key %q, artifacts %q, arguments %q; want %q, %q, %q", tc.args, *key, arts, pos, tc.key, tc.artifacts, tc.pos)
		}
	}
	fs := newFlags("vendor submit")
	wait := fs.Bool("wait", false, "")
	if pos, err := fs.parse([]string{"m", "a", "--wait"}); err != nil || !*wait || len(pos) != 2 {
		t.Errorf("a bool flag after the arguments: %v, wait %v, arguments %q", err, *wait, pos)
	}
	fs = newFlags("vendor submit")
	fs.String("url", "", "")
	if _, err := fs.parse([]string{"m", "a", "--url"}); exitCode(err) != exitUsage {
		t.Errorf("a flag without its value after the arguments: %v (exit %d), want a usage error", err, exitCode(err))
	}
}

// fakeServer answers /api/v1/patches as otpatch does, recording what it was sent.
type fakeServer struct {
	mu                                  sync.Mutex
	manifest, signature, artifact, auth string
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = r.Header.Get("Authorization")
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		switch p.FormName() {
		case "manifest":
			f.manifest = string(b)
		case "signature":
			f.signature = string(b)
		case "artifact":
			f.artifact = string(b)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{"id": "pat_fake", "status": "submitted", "key_fingerprint": "SHA256:x"}`))
}

// signedPatch makes a vendor key, a manifest (with "<" in it) and an artifact in dir, and
// signs with the CLI. It returns the paths and the public key.
func signedPatch(t *testing.T, dir string) (manifest, artifact, signed string, pub ed25519.PublicKey) {
	t.Helper()
	if _, errOut, code := runOtpatch(t, nil, "vendor", "keygen", "--out", filepath.Join(dir, "acme")); code != exitOK {
		t.Fatalf("keygen: exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(filepath.Join(dir, "acme.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if pub, err = signing.DecodePublic(string(b)); err != nil {
		t.Fatal(err)
	}
	manifest, artifact = filepath.Join(dir, "manifest.json"), filepath.Join(dir, "fw-2.9.4.bin")
	writeManifest(t, manifest, "ControlStation-PLC", "V2.9.4", "< V2.9.4")
	if err := os.WriteFile(artifact, bytes.Repeat([]byte("firmware"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	// Flags after the argument, as anywhere else.
	if _, errOut, code := runOtpatch(t, nil, "vendor", "sign", manifest, "--key", filepath.Join(dir, "acme.key"), "--artifact", artifact); code != exitOK {
		t.Fatalf("sign: exit %d: %s", code, errOut)
	}
	return manifest, artifact, signedManifest(manifest), pub
}

// TestVendorSignKeepsTheManifest: vendor sign --artifact writes a completed copy and its
// signature next to it; the vendor's file stays byte for byte as written, "<" is not escaped,
// and the signature verifies over the exact bytes of the copy.
func TestVendorSignKeepsTheManifest(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "manifest.json")
	writeManifest(t, manifest, "ControlStation-PLC", "V2.9.4", "< V2.9.4")
	original, _ := os.ReadFile(manifest)
	manifest, artifact, signed, pub := signedPatch(t, dir)

	if now, _ := os.ReadFile(manifest); !bytes.Equal(now, original) {
		t.Errorf("vendor sign rewrote the vendor's manifest:\n%s", now)
	}
	if _, err := os.Stat(manifest + ".sig"); err == nil {
		t.Error("vendor sign --artifact signed the incomplete manifest too")
	}
	raw, err := os.ReadFile(signed)
	if err != nil {
		t.Fatalf("no completed manifest: %v", err)
	}
	if !bytes.Contains(raw, []byte(`"< V2.9.4"`)) || bytes.Contains(raw, []byte(`\u003c`)) {
		t.Errorf("the completed manifest escapes <:\n%s", raw)
	}
	m, err := domain.ParseManifest(raw)
	if err != nil {
		t.Fatalf("the completed manifest: %v", err)
	}
	art, _ := os.ReadFile(artifact)
	sum := sha256.Sum256(art)
	if len(m.Artifacts) != 1 || m.Artifacts[0].Name != filepath.Base(artifact) || m.Artifacts[0].Size != int64(len(art)) || m.Artifacts[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("artifacts %+v, want %s with its size and SHA-256", m.Artifacts, filepath.Base(artifact))
	}
	sigText, err := os.ReadFile(signed + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signing.ParseSignature(strings.TrimSpace(string(sigText)))
	if err != nil || !signing.Verify(pub, raw, sig) {
		t.Errorf("the signature does not verify over %s: %v", signed, err)
	}

	// Signing the completed manifest again, without --artifact, signs it as it is.
	before, _ := os.ReadFile(signed)
	if _, errOut, code := runOtpatch(t, nil, "vendor", "sign", "--key", filepath.Join(dir, "acme.key"), signed); code != exitOK {
		t.Fatalf("sign without --artifact: exit %d: %s", code, errOut)
	}
	if after, _ := os.ReadFile(signed); !bytes.Equal(after, before) {
		t.Error("vendor sign without --artifact changed the file it signed")
	}

	// The completed copy may not land on the vendor's file, and an unknown field is refused,
	// not dropped.
	_, errOut, code := runOtpatch(t, nil, "vendor", "sign", "--key", filepath.Join(dir, "acme.key"), "--artifact", artifact, "--out", manifest, manifest)
	if now, _ := os.ReadFile(manifest); code != exitUsage || !bytes.Equal(now, original) || !strings.Contains(errOut, "never rewritten") {
		t.Errorf("--out MANIFEST: exit %d, %s", code, errOut)
	}
	odd := filepath.Join(dir, "odd.json")
	os.WriteFile(odd, bytes.Replace(original, []byte(`"artifacts"`), []byte(`"fixes": "x", "artifacts"`), 1), 0o644)
	_, errOut, code = runOtpatch(t, nil, "vendor", "sign", "--key", filepath.Join(dir, "acme.key"), "--artifact", artifact, odd)
	if _, err := os.Stat(signedManifest(odd)); code != exitFailure || !strings.Contains(errOut, `unknown field "fixes"`) || err == nil {
		t.Errorf("a manifest with an unknown field: exit %d, %s", code, errOut)
	}
}

// TestVendorSubmitFlagsAfterArguments submits to a server that records the request: flags
// after MANIFEST ARTIFACT are read, and the server gets the exact signed bytes.
func TestVendorSubmitFlagsAfterArguments(t *testing.T) {
	dir := t.TempDir()
	_, artifact, signed, _ := signedPatch(t, dir)
	fake := &fakeServer{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	out, errOut, code := runOtpatch(t, nil, "vendor", "submit", signed, artifact, "--url", srv.URL, "--token", "tok-vendor")
	if code != exitOK || strings.TrimSpace(out) != "pat_fake" {
		t.Fatalf("submit with flags after the arguments: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	raw, _ := os.ReadFile(signed)
	sig, _ := os.ReadFile(signed + ".sig")
	art, _ := os.ReadFile(artifact)
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.auth != "Bearer tok-vendor" || fake.manifest != string(raw) || fake.signature != strings.TrimSpace(string(sig)) || fake.artifact != string(art) {
		t.Errorf("the server got token %q, manifest %d bytes (want %d), signature %q, artifact %d bytes", fake.auth, len(fake.manifest), len(raw), fake.signature, len(fake.artifact))
	}
}

// TestServerErrors: a server that cannot be reached is named as such, not as a refusal; an
// error answer shows the server's problem detail.
func TestServerErrors(t *testing.T) {
	dir := t.TempDir()
	_, artifact, signed, _ := signedPatch(t, dir)
	advisory := filepath.Join(dir, "advisory.json")
	os.WriteFile(advisory, []byte(`{"document": {}}`), 0o644)

	closed := "http://" + freePort(t) // nothing listens there
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	problem := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": "Unprocessable Entity", "status": 422,
			"detail": "signature refused: signed by key SHA256:abc, which was revoked", "instance": "req_42"})
	}))
	defer problem.Close()
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html><body>upstream otpatch is down</body></html>\n"))
	}))
	defer gateway.Close()

	for _, tc := range []struct {
		name     string
		args     []string
		want     []string
		wantCode int
	}{
		{"refused connection", []string{"vendor", "submit", signed, artifact, "--url", closed, "--token", "t"},
			[]string{"cannot reach the otpatch server at " + closed + ": ", "connection refused"}, exitFailure},
		{"untrusted certificate", []string{"vendor", "submit", "--presigned", signed, artifact, "--url", tlsSrv.URL, "--token", "t"},
			[]string{"cannot reach the otpatch server at " + tlsSrv.URL + ": ", "certificate"}, exitFailure},
		{"plain HTTP behind https://", []string{"vendor", "submit", signed, artifact, "--url", strings.Replace(plain.URL, "http://", "https://", 1), "--token", "t"},
			[]string{"cannot reach the otpatch server at https://"}, exitFailure},
		{"csaf, refused connection", []string{"csaf", "ingest", advisory, advisory, "--url", closed, "--token", "t"},
			[]string{"cannot reach the otpatch server at " + closed + ": "}, exitFailure},
		{"problem detail", []string{"vendor", "submit", signed, artifact, "--url", problem.URL, "--token", "t"},
			[]string{"submission refused: 422 Unprocessable Entity: signature refused: signed by key SHA256:abc, which was revoked (request req_42)"}, exitFailure},
		{"an answer that is no problem", []string{"vendor", "submit", signed, artifact, "--url", gateway.URL, "--token", "t"},
			[]string{"submission refused: 502 Bad Gateway: <html><body>upstream otpatch is down</body></html>"}, exitFailure},
		{"csaf, problem detail", []string{"csaf", "ingest", advisory, "--url", problem.URL, "--token", "t"},
			[]string{"advisory.json: the advisory was refused: 422 Unprocessable Entity: signature refused"}, exitFailure},
		{"no scheme in --url", []string{"vendor", "submit", signed, artifact, "--url", "127.0.0.1:8080", "--token", "t"},
			[]string{`--url "127.0.0.1:8080" is not the otpatch server's http:// or https:// URL`}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runOtpatch(t, nil, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d: %s", code, tc.wantCode, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not say %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(tc.name, "connection") || strings.Contains(tc.name, "certificate") || strings.Contains(tc.name, "https") {
				if strings.Contains(errOut, "submission refused") || strings.Contains(errOut, "advisory was refused") {
					t.Errorf("a server that was never reached is reported as refusing:\n%s", errOut)
				}
			}
		})
	}
}

// TestExitStatuses: 2 for a command line otpatch cannot run, 3 for a check that found a
// problem, 1 for a command that failed, 0 for one that did its work.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := filepath.Join(dir, "otpatch.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := st.Append(ctx, store.Event{Actor: "erin", Role: "engineer", Action: "site.created", SubjectType: "site", SubjectID: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if _, errOut, code := runOtpatch(t, nil, "audit", "verify", "--database", db, "--no-checkpoints"); code != exitOK {
		t.Fatalf("an intact log: exit %d: %s", code, errOut)
	}
	broken := filepath.Join(dir, "broken.db")
	b, _ := os.ReadFile(db)
	os.WriteFile(broken, b, 0o600)
	st, err = store.Open(broken, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`).Error; err != nil {
		t.Fatal(err)
	}
	st.Close()
	garbage := filepath.Join(dir, "bundle.tar.gz")
	os.WriteFile(garbage, []byte("not a bundle"), 0o600)
	os.WriteFile(filepath.Join(dir, "taken.key"), []byte("x"), 0o600)
	complete := []string{"OTPATCH_DATABASE_URL=postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT=minio:9000", "OTPATCH_S3_ACCESS_KEY=a", "OTPATCH_S3_SECRET_KEY=b"}

	for _, tc := range []struct {
		args   []string
		env    []string
		code   int
		stderr string
	}{
		{nil, nil, exitUsage, "no command given"},
		{[]string{"nosuch"}, nil, exitUsage, `unknown command "nosuch"`},
		{[]string{"vendor"}, nil, exitUsage, `"vendor" needs a command`},
		{[]string{"audit", "nosuch"}, nil, exitUsage, `unknown command "audit nosuch"`},
		{[]string{"vendor", "submit", "--bogus"}, nil, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"vendor", "submit", "--url", "http://127.0.0.1:1", "--token", "t"}, nil, exitUsage, "no manifest"},
		{[]string{"vendor", "submit", "m.json", "--url", "http://127.0.0.1:1", "--token", "t"}, nil, exitUsage, "no artifact"},
		{[]string{"vendor", "submit", "m.json", "a.bin", "--url", "http://127.0.0.1:1"}, nil, exitUsage, "no token"},
		{[]string{"vendor", "sign", "m.json"}, nil, exitUsage, "no key"},
		{[]string{"evidence", "verify"}, nil, exitUsage, "give one BUNDLE"},
		{[]string{"dev", "--sim-step", "fast"}, nil, exitUsage, `invalid value "fast" for flag -sim-step`},
		{[]string{"worker", "extra"}, nil, exitUsage, `unexpected argument "extra"`},
		{[]string{"version", "extra"}, nil, exitUsage, `unexpected argument "extra"`},
		{[]string{"config", "check", "--role", "boss"}, nil, exitUsage, `--role "boss"`},
		{[]string{"users", "bootstrap", "--database", db, "--username", "bad name"}, nil, exitUsage, "--username"},
		{[]string{"audit", "verify", "--database", broken, "--no-checkpoints"}, nil, exitVerification, "audit log verification failed"},
		{[]string{"evidence", "verify", garbage}, nil, exitVerification, "evidence verification failed"},
		{[]string{"config", "check"}, nil, exitVerification, "configuration problem(s)"},
		{[]string{"config", "check", "--role", "worker"}, complete, exitOK, ""},
		{[]string{"vendor", "keygen", "--out", filepath.Join(dir, "taken")}, nil, exitFailure, "refusing to overwrite"},
		{[]string{"healthcheck", "--url", "http://" + freePort(t) + "/healthz"}, nil, exitFailure, "cannot reach the otpatch server"},
	} {
		_, errOut, code := runOtpatch(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("otpatch %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.stderr)
		}
	}
}

// TestOwnFlags: each production command lists only the settings its process reads, and
// config check --role refuses the other role's.
func TestOwnFlags(t *testing.T) {
	serverOnly := []string{"--listen", "--tls-cert", "--tls-key", "--max-artifact-bytes", "--auth-failures-per-minute", "--writes-per-minute",
		"--token-expiry-days", "--token-max-expiry-days", "--session-max-hours", "--password-min-length", "--lockout-failures", "--oidc-issuer", "--oidc-client-secret"}
	workerOnly := []string{"--ssh-key", "--ssh-known-hosts", "--ssh-command-timeout", "--ssh-expected-duration", "--agent-expected-duration"}
	shared := []string{"--database", "--temporal", "--namespace", "--s3-endpoint", "--s3-bucket", "--checkpoint-key", "--log-json", "--metrics-listen", "--sim-step"}
	listed := func(cmd string) string {
		out, errOut, code := runOtpatch(t, nil, cmd, "-h")
		if code != exitOK {
			t.Fatalf("%s -h: exit %d: %s", cmd, code, errOut)
		}
		return out
	}
	has := func(help, flag string) bool {
		return strings.Contains(help, "\n  "+flag+" ") || strings.Contains(help, "\n  "+flag+"\n")
	}
	worker, server, dev := listed("worker"), listed("server"), listed("dev")
	for _, f := range serverOnly {
		if has(worker, f) {
			t.Errorf("worker -h lists the server's %s", f)
		}
		if !has(server, f) || !has(dev, f) {
			t.Errorf("server -h or dev -h does not list %s", f)
		}
	}
	for _, f := range workerOnly {
		if has(server, f) {
			t.Errorf("server -h lists the worker's %s", f)
		}
		if !has(worker, f) || !has(dev, f) {
			t.Errorf("worker -h or dev -h does not list %s", f)
		}
	}
	for _, f := range shared {
		if !has(worker, f) || !has(server, f) {
			t.Errorf("%s is not listed by both worker -h and server -h", f)
		}
	}

	complete := []string{"OTPATCH_DATABASE_URL=postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT=minio:9000", "OTPATCH_S3_ACCESS_KEY=a", "OTPATCH_S3_SECRET_KEY=b"}
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"--role", "worker", "--listen", ":1"}, exitUsage, "--listen: not a setting of otpatch worker"},
		{[]string{"--role", "server", "--ssh-key", "/x"}, exitUsage, "--ssh-key: not a setting of otpatch server"},
		{[]string{"--role", "worker", "--ssh-key", "/nonexistent/key"}, exitVerification, "OTPATCH_SSH_KEY_FILE/OTPATCH_SSH_KNOWN_HOSTS"},
		{[]string{"--role", "server", "--password-min-length", "4"}, exitVerification, "OTPATCH_PASSWORD_MIN_LENGTH"},
		{[]string{"--role", "worker"}, exitOK, "configuration ok"},
	} {
		out, errOut, code := runOtpatch(t, complete, append([]string{"config", "check"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errOut, tc.say) {
			t.Errorf("config check %s: exit %d, want %d saying %q:\n%s%s", strings.Join(tc.args, " "), code, tc.code, tc.say, out, errOut)
		}
	}
}
