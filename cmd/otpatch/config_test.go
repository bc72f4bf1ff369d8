package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/testenv"
)

// clearConfigEnv unsets, for the test, every OTPATCH_* variable the production
// configuration reads (not the test-service ones such as OTPATCH_TEST_POSTGRES).
func clearConfigEnv(t *testing.T) {
	for _, name := range []string{"LISTEN", "DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "S3_ENDPOINT", "S3_ACCESS_KEY",
		"S3_SECRET_KEY", "S3_BUCKET", "S3_SECURE", "SIM_STEP", "MAX_ARTIFACT_BYTES", "LOG_JSON", "METRICS_LISTEN", "TLS_CERT", "TLS_KEY",
		"SSH_KEY_FILE", "SSH_KNOWN_HOSTS", "SSH_COMMAND_TIMEOUT", "SSH_EXPECTED_DURATION", "AGENT_EXPECTED_DURATION",
		"TOKEN_EXPIRY_DAYS", "TOKEN_MAX_EXPIRY_DAYS", "AUTH_FAILURES_PER_MINUTE", "WRITES_PER_MINUTE",
		"SESSION_MAX_HOURS", "SESSION_IDLE_MINUTES", "PASSWORD_MIN_LENGTH", "PASSWORD_MIN_CLASSES", "PASSWORD_MAX_AGE_DAYS",
		"PASSWORD_HISTORY", "LOCKOUT_FAILURES", "LOCKOUT_MINUTES", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET",
		"OIDC_CLIENT_SECRET_FILE", "OIDC_REDIRECT_URL", "OIDC_SCOPES", "OIDC_USERNAME_CLAIM", "OIDC_ROLES_CLAIM", "OIDC_ROLE_MAP",
		"OIDC_AUDIENCE", "OIDC_CA_FILE", "OIDC_NAME", "SITE"} {
		t.Setenv("OTPATCH_"+name, "")
		os.Unsetenv("OTPATCH_" + name)
	}
}

func TestConfigCheckNamesWhatIsMissing(t *testing.T) {
	clearConfigEnv(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string // every one must appear among the problems
		ok   bool
	}{
		{name: "nothing set", args: nil,
			want: []string{"OTPATCH_DATABASE_URL: missing", "OTPATCH_S3_ENDPOINT: missing", "OTPATCH_S3_ACCESS_KEY: missing", "OTPATCH_S3_SECRET_KEY: missing"}},
		{name: "wrong shapes",
			env: map[string]string{"OTPATCH_DATABASE_URL": "mysql://x/y", "OTPATCH_S3_ENDPOINT": "http://minio:9000", "OTPATCH_S3_ACCESS_KEY": "a",
				"OTPATCH_S3_SECRET_KEY": "b", "OTPATCH_S3_BUCKET": "Bad_Bucket", "OTPATCH_TEMPORAL_ADDRESS": "temporal", "OTPATCH_TLS_CERT": "/x.pem"},
			want: []string{"OTPATCH_DATABASE_URL: unsupported scheme", "OTPATCH_S3_ENDPOINT: \"http://minio:9000\" has a scheme",
				"OTPATCH_S3_BUCKET: \"Bad_Bucket\"", "OTPATCH_TEMPORAL_ADDRESS: \"temporal\" is not host:port", "set both or neither"}},
		{name: "token lifetime beyond the maximum",
			env: map[string]string{"OTPATCH_DATABASE_URL": "postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT": "minio:9000",
				"OTPATCH_S3_ACCESS_KEY": "a", "OTPATCH_S3_SECRET_KEY": "b", "OTPATCH_TOKEN_EXPIRY_DAYS": "400"},
			want: []string{"OTPATCH_TOKEN_EXPIRY_DAYS: must be a number of days from 1 to OTPATCH_TOKEN_MAX_EXPIRY_DAYS (365)"}},
		{name: "rate limits must be positive",
			env: map[string]string{"OTPATCH_DATABASE_URL": "postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT": "minio:9000",
				"OTPATCH_S3_ACCESS_KEY": "a", "OTPATCH_S3_SECRET_KEY": "b", "OTPATCH_AUTH_FAILURES_PER_MINUTE": "0", "OTPATCH_WRITES_PER_MINUTE": "-1"},
			want: []string{"OTPATCH_AUTH_FAILURES_PER_MINUTE: must be a positive number", "OTPATCH_WRITES_PER_MINUTE: must be a positive number"}},
		{name: "sign-in settings out of range",
			env: map[string]string{"OTPATCH_DATABASE_URL": "postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT": "minio:9000",
				"OTPATCH_S3_ACCESS_KEY": "a", "OTPATCH_S3_SECRET_KEY": "b", "OTPATCH_PASSWORD_MIN_LENGTH": "6", "OTPATCH_PASSWORD_MIN_CLASSES": "five",
				"OTPATCH_SESSION_IDLE_MINUTES": "0", "OTPATCH_LOCKOUT_FAILURES": "0"},
			want: []string{"OTPATCH_PASSWORD_MIN_LENGTH: must be 8 to", "OTPATCH_PASSWORD_MIN_CLASSES: must be 1 to 4", "OTPATCH_SESSION_IDLE_MINUTES: must be",
				"OTPATCH_LOCKOUT_FAILURES: must be 1 to 100"}},
		{name: "single sign-on half configured",
			env: map[string]string{"OTPATCH_DATABASE_URL": "postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT": "minio:9000",
				"OTPATCH_S3_ACCESS_KEY": "a", "OTPATCH_S3_SECRET_KEY": "b", "OTPATCH_OIDC_ISSUER": "http://idp.example.com/realms/plant",
				"OTPATCH_OIDC_ROLE_MAP": "ot-engineers=engineer,ot-boss=king"},
			want: []string{"OTPATCH_OIDC_ISSUER: \"http://idp.example.com/realms/plant\" is not an https:// URL", "OTPATCH_OIDC_CLIENT_ID: missing",
				"OTPATCH_OIDC_CLIENT_SECRET_FILE: missing", "OTPATCH_OIDC_REDIRECT_URL:", "OTPATCH_OIDC_ROLE_MAP: \"ot-boss=king\" is not group=role"}},
		{name: "single sign-on settings without an issuer",
			env: map[string]string{"OTPATCH_DATABASE_URL": "postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT": "minio:9000",
				"OTPATCH_S3_ACCESS_KEY": "a", "OTPATCH_S3_SECRET_KEY": "b", "OTPATCH_OIDC_CLIENT_ID": "otpatch"},
			want: []string{"OTPATCH_OIDC_CLIENT_ID: is set but OTPATCH_OIDC_ISSUER is not"}},
		{name: "worker ignores the API's TLS",
			env: map[string]string{"OTPATCH_DATABASE_URL": "postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT": "minio:9000",
				"OTPATCH_S3_ACCESS_KEY": "a", "OTPATCH_S3_SECRET_KEY": "b", "OTPATCH_TLS_CERT": "/x.pem"},
			args: []string{"--role", "worker"}, ok: true},
		{name: "worker with an ssh key but no pinned host keys",
			env: map[string]string{"OTPATCH_DATABASE_URL": "postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT": "minio:9000",
				"OTPATCH_S3_ACCESS_KEY": "a", "OTPATCH_S3_SECRET_KEY": "b", "OTPATCH_SSH_KEY_FILE": "/nonexistent/otpatch-ssh.key"},
			args: []string{"--role", "worker"},
			want: []string{"OTPATCH_SSH_KEY_FILE/OTPATCH_SSH_KNOWN_HOSTS: ssh adapter: read client key"}},
		{name: "site worker with a database, no site, no ssh, no mutual TLS",
			env: map[string]string{"OTPATCH_DATABASE_URL": "postgres://u:p@db:5432/otpatch", "OTPATCH_S3_ENDPOINT": "minio:9000",
				"OTPATCH_S3_ACCESS_KEY": "a", "OTPATCH_S3_SECRET_KEY": "b"},
			args: []string{"--role", "site-worker", "--site", "plant b"},
			want: []string{"OTPATCH_SITE: \"plant b\" is not a site id", "OTPATCH_DATABASE_URL: a site worker has no database",
				"OTPATCH_SSH_KEY_FILE/OTPATCH_SSH_KNOWN_HOSTS: a site worker reaches its site's devices over ssh",
				"OTPATCH_TEMPORAL_TLS_CERT/OTPATCH_TEMPORAL_TLS_KEY: a site worker dials Temporal across its site's conduit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			err := configCheck(context.Background(), &out, tc.args)
			if tc.ok {
				if err != nil {
					t.Fatalf("config check: %v\n%s", err, out.String())
				}
				return
			}
			if exitCode(err) != exitVerification {
				t.Fatalf("config check of a bad configuration: %v (exit %d), want exit %d:\n%s", err, exitCode(err), exitVerification, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output does not say %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "u:p@") {
				t.Errorf("output shows the database password:\n%s", out.String())
			}
		})
	}
}

// TestConfigCheckConnect reaches a real PostgreSQL and MinIO and an address where no
// Temporal listens: only Temporal is reported, as unreachable.
func TestConfigCheckConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	clearConfigEnv(t)
	dsn := testenv.PostgresDSN(t)
	mc := testenv.MinIO(t)
	for k, v := range map[string]string{"OTPATCH_DATABASE_URL": dsn, "OTPATCH_S3_ENDPOINT": mc.Endpoint, "OTPATCH_S3_ACCESS_KEY": mc.AccessKey,
		"OTPATCH_S3_SECRET_KEY": mc.SecretKey, "OTPATCH_TEMPORAL_ADDRESS": testenv.FreeAddr(t)} {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	err := configCheck(context.Background(), &out, []string{"--role", "worker", "--connect"})
	if exitCode(err) != exitVerification || !strings.Contains(out.String(), "OTPATCH_TEMPORAL_ADDRESS: unreachable") {
		t.Fatalf("want Temporal reported unreachable, got %v:\n%s", err, out.String())
	}
	for _, s := range []string{"OTPATCH_DATABASE_URL:", "OTPATCH_S3_ENDPOINT:"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("a reachable dependency was reported (%s):\n%s", s, out.String())
		}
	}
}

// TestServeTLS serves the API over HTTPS with --tls-cert/--tls-key: a client trusting the
// certificate gets through, a plain-HTTP client does not, and half a pair is refused.
func TestServeTLS(t *testing.T) {
	ca := newTestCA(t, t.TempDir(), net.IPv4(127, 0, 0, 1))
	certFile, keyFile := ca.certFile, ca.keyFile

	log := slog.New(slog.DiscardHandler)
	if err := serveTLS(context.Background(), log, "127.0.0.1:0", http.NotFoundHandler(), certFile, "", nil); err == nil {
		t.Fatal("serveTLS accepted a certificate without a key")
	}
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	go func() { done <- serveTLS(ctx, log, "127.0.0.1:0", h, certFile, keyFile, func(u string) { urls <- u }) }()
	u := <-urls
	if !strings.HasPrefix(u, "https://") {
		t.Fatalf("serveTLS reported %s", u)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	res, err := c.Get(u + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS request: %v", err)
	}
	res.Body.Close()
	// otpatch healthcheck trusts the server's own certificate for an https:// URL.
	if err := runHealthcheck(context.Background(), []string{"--url", u + "/healthz", "--ca", certFile}); err != nil {
		t.Errorf("healthcheck over HTTPS with --ca: %v", err)
	}
	if err := runHealthcheck(context.Background(), []string{"--url", u + "/healthz", "--ca", ""}); err == nil {
		t.Error("healthcheck over HTTPS trusted a certificate nobody vouched for")
	}
	// Go's TLS server answers a plain-HTTP request with 400 and nothing else.
	if res, err := http.Get("http://" + strings.TrimPrefix(u, "https://") + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the HTTPS listener answered %s", res.Status)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// A site worker set up wrong lists every problem and starts nothing; an empty OTPATCH_SITE is
// such a site worker, not a central worker.
func TestSiteWorkerRefusesToStart(t *testing.T) {
	clearConfigEnv(t)
	t.Setenv("OTPATCH_DATABASE_URL", "postgres://u:p@db:5432/otpatch")
	for _, args := range [][]string{{"--site", "plant b"}, nil} {
		if args == nil {
			t.Setenv("OTPATCH_SITE", "")
		}
		err := runWorker(context.Background(), args)
		for _, want := range []string{"this site worker cannot start", "OTPATCH_SITE:", "OTPATCH_DATABASE_URL: a site worker has no database",
			"OTPATCH_SSH_KEY_FILE/OTPATCH_SSH_KNOWN_HOSTS", "OTPATCH_S3_ENDPOINT: missing"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("worker %v: %v, want it to say %q", args, err, want)
			}
		}
	}
}
