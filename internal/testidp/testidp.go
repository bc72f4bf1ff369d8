// Package testidp gives tests a real OpenID Connect provider: Ory Hydra, pinned in
// internal/tools/idp and run as its own process on loopback ports with an in-memory
// store, together with what Hydra by design leaves to its operator, served from the test
// process: a user directory and the login, consent and logout app.
//
// Access tokens are JWTs carrying the user's groups and preferred_username at the top
// level; ID tokens carry preferred_username, name (the username) and groups. Hydra
// requires PKCE of every client. Both are signed with RSA keys that Start makes and
// stores in Hydra, so that Hydra never makes one while a request waits. Only tests import
// it.
//
// When no Hydra binary is found the test is skipped, or fails when
// OTPATCH_REQUIRE_SERVICES=1 (CI sets it; .ci/run builds the binary).
package testidp

import (
	"context"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/testenv"
)

const (
	// EnvHydraBin names the environment variable that points at the Hydra binary. It
	// takes precedence over the cache directory.
	EnvHydraBin = "OTPATCH_HYDRA_BIN"

	// HydraModule, HydraVersion and HydraBuildTags pin the Hydra the tests run against,
	// built from internal/tools/idp. Keep in sync with .ci/run.
	HydraModule    = "github.com/ory/hydra/v2"
	HydraVersion   = "v2.3.0"
	HydraBuildTags = "sqlite,sqlite_omit_load_extension"

	// topLevelClaims are the consent session's access-token claims that Hydra puts at
	// the top level of the JWT rather than only under "ext".
	topLevelClaims = "groups,preferred_username"

	startTimeout = 90 * time.Second
	stopTimeout  = 15 * time.Second
	startTries   = 3
	// adminTimeout bounds one call to Hydra's admin or public API, generously: on a
	// loaded machine a request may wait long for the CPU. (Hydra itself gives up on a
	// request after 10 s; see signingKeySets.)
	adminTimeout = 60 * time.Second
)

// IdP is a running OpenID Connect provider that belongs to one test.
type IdP struct {
	issuer    string
	authURL   string
	tokenURL  string
	publicURL string // Hydra's public API, "http://127.0.0.1:port"
	adminURL  string // Hydra's admin API
	appURL    string // the login-and-consent app
	http      *http.Client
	appLog    *syncBuffer

	mu    sync.Mutex
	users map[string]*user // by username
}

// Tokens are what a sign-in yields.
type Tokens struct {
	AccessToken  string // a JWT signed by the provider
	IDToken      string
	RefreshToken string
}

// Start starts Hydra (`hydra serve all --dev`) and the login-and-consent app for this
// test, waits until Hydra is ready and stops both when the test ends. Hydra's log and the
// app's are printed when the test fails. The directory starts empty: add users with
// SetUser.
func Start(t testing.TB) *IdP {
	t.Helper()
	bin, err := hydraBinary()
	if err != nil {
		unavailable(t, "testidp: "+err.Error()+"; "+hydraHint())
		return nil
	}
	p := &IdP{
		http:   &http.Client{Timeout: adminTimeout},
		appLog: &syncBuffer{},
		users:  map[string]*user{},
	}
	app := httptest.NewServer(p.loginApp())
	t.Cleanup(app.Close)
	p.appURL = app.URL
	secret := rand.Text() + rand.Text() // 52 base32 characters, 260 bits

	for try := 1; ; try++ {
		err := p.startHydra(t, bin, secret)
		if err == nil {
			break
		}
		// Hydra that exited at once most likely lost a port to another process between
		// FreeAddr and its bind: try again on new ports.
		if !errors.Is(err, errExitedEarly) || try == startTries {
			t.Fatalf("testidp: start Hydra (%s): %v", bin, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testidp: login app log:\n%s", p.appLog)
		}
	})
	return p
}

// Issuer returns the provider's issuer URL exactly as it appears in the iss claim of its
// tokens and in its discovery document ("http://127.0.0.1:port/", with the slash).
func (p *IdP) Issuer() string { return p.issuer }

var errExitedEarly = errors.New("hydra exited before it was ready")

func (p *IdP) startHydra(t testing.TB, bin, secret string) error {
	t.Helper()
	public, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
	_, publicPort, _ := net.SplitHostPort(public)
	_, adminPort, _ := net.SplitHostPort(admin)
	p.publicURL, p.adminURL = "http://"+public, "http://"+admin

	out := &syncBuffer{}
	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	// Hydra reads every environment variable that names one of its settings, so it
	// gets only these and never the test's own environment.
	cmd.Env = append(baseEnv(),
		"DSN=memory",
		"SECRETS_SYSTEM="+secret,
		"URLS_SELF_ISSUER="+p.publicURL+"/",
		"URLS_LOGIN="+p.appURL+"/login",
		"URLS_CONSENT="+p.appURL+"/consent",
		"URLS_LOGOUT="+p.appURL+"/logout",
		"SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_PUBLIC_PORT="+publicPort,
		"SERVE_ADMIN_HOST=127.0.0.1",
		"SERVE_ADMIN_PORT="+adminPort,
		"STRATEGIES_ACCESS_TOKEN=jwt",
		// The consent session's access-token claims go under "ext" unless listed here;
		// with mirroring off they appear only at the top level, as other providers
		// put them.
		"OAUTH2_ALLOWED_TOP_LEVEL_CLAIMS="+topLevelClaims,
		"OAUTH2_MIRROR_TOP_LEVEL_CLAIMS=false",
		// Every client must use PKCE, as OAuth 2.0 security best practice asks.
		"OAUTH2_PKCE_ENFORCED=true",
		// A refused request says why in the log.
		"LOG_LEAK_SENSITIVE_VALUES=true",
	)
	cmd.Stdout = out
	cmd.Stderr = out
	proc, err := startProcess(cmd)
	if err != nil {
		return err
	}
	// Made while Hydra starts.
	var keys []privateJWK
	for range signingKeySets {
		k, err := newSigningKey()
		if err != nil {
			proc.stop()
			return err
		}
		keys = append(keys, k)
	}
	if err := p.waitReady(proc, keys); err != nil {
		proc.stop()
		if errors.Is(err, errExitedEarly) {
			return fmt.Errorf("%w (%v); log:\n%s", err, proc.err, hydraLog(out))
		}
		return fmt.Errorf("%w; log:\n%s", err, hydraLog(out))
	}
	t.Cleanup(func() {
		proc.stop()
		if t.Failed() {
			t.Logf("testidp: Hydra at %s (admin %s) log:\n%s", p.publicURL, p.adminURL, hydraLog(out))
		}
	})
	return nil
}

// waitReady polls Hydra's readiness endpoints until both APIs answer, then readies it
// for sign-ins with keys (see prepare).
func (p *IdP) waitReady(proc *process, keys []privateJWK) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	ready := func(url string) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for _, url := range []string{p.adminURL + "/health/ready", p.publicURL + "/health/ready"} {
		for !ready(url) {
			select {
			case <-proc.done:
				return errExitedEarly
			case <-ctx.Done():
				return fmt.Errorf("hydra not ready after %s (waiting for %s)", startTimeout, url)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return p.prepare(ctx, proc, keys)
}

// call sends a JSON request to Hydra and decodes its JSON answer into out (when not nil).
// A status other than 200 or 201 is an error that quotes Hydra's answer.
func (p *IdP) call(ctx context.Context, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return unanswered(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode %q: %w", method, url, b, err)
	}
	return nil
}

// hydraBinary finds the Hydra binary, $OTPATCH_HYDRA_BIN then DefaultBinDir()/hydra, and
// checks it is the pinned build. PATH is not searched: Debian's `hydra` is THC-Hydra, a
// password cracker.
func hydraBinary() (string, error) {
	bin := os.Getenv(EnvHydraBin)
	if bin == "" {
		dir, err := testenv.DefaultBinDir()
		if err != nil {
			return "", fmt.Errorf("Hydra binary not found ($%s unset, no cache directory: %v)", EnvHydraBin, err)
		}
		bin = filepath.Join(dir, "hydra")
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("Hydra binary not found (looked at $%s (unset), %s)", EnvHydraBin, bin)
		}
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("%s is not a Go binary: %v", bin, err)
	}
	var tags string
	for _, s := range info.Settings {
		if s.Key == "-tags" {
			tags = s.Value
		}
	}
	if info.Main.Path != HydraModule || info.Main.Version != HydraVersion || tags != HydraBuildTags {
		return "", fmt.Errorf("%s is %s@%s built with -tags %q, not %s@%s with -tags %q",
			bin, info.Main.Path, info.Main.Version, tags, HydraModule, HydraVersion, HydraBuildTags)
	}
	return bin, nil
}

func hydraHint() string {
	out := `"${XDG_CACHE_HOME:-$HOME/.cache}/otpatch/bin/hydra"`
	if dir, err := testenv.DefaultBinDir(); err == nil {
		out = filepath.Join(dir, "hydra")
	}
	return "build it from the repository root with `cd internal/tools/idp && go build -tags " + HydraBuildTags +
		" -o " + out + " " + HydraModule + "` (a few minutes; bash .ci/run does it), or set " + EnvHydraBin + " to its path"
}

// unavailable ends the test because Hydra is missing: t.Fatal when services are
// required, t.Skip otherwise.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	if testenv.RequireServices() {
		t.Fatal(msg + " (" + testenv.EnvRequireServices + "=1, so this is a failure)")
		return
	}
	t.Skip(msg)
}

// baseEnv is the little of the test's environment Hydra needs.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// hydraLog is Hydra's output without the hundred lines of its start-up migrations.
func hydraLog(out *syncBuffer) string {
	lines := strings.Split(out.String(), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool {
		return strings.Contains(l, "msg=Migration has not yet been applied") || strings.Contains(l, "applied successfully")
	})
	return strings.Join(lines, "\n")
}

// syncBuffer collects output written from several goroutines (testenv's), and the login
// app's log lines.
type syncBuffer struct{ testenv.SyncBuffer }

func (b *syncBuffer) logf(format string, args ...any) {
	line := time.Now().Format("15:04:05.000 ") + fmt.Sprintf(format, args...) + "\n"
	_, _ = b.Write([]byte(line))
}
