package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/otpatch/otpatch/internal/temporalembed"
	"github.com/otpatch/otpatch/internal/testenv"
)

// clearTemporalTLSEnv unsets, for the test, the OTPATCH_TEMPORAL_TLS_* variables.
func clearTemporalTLSEnv(t *testing.T) {
	for _, name := range []string{"CERT", "KEY", "CA", "SERVER_NAME"} {
		t.Setenv("OTPATCH_TEMPORAL_TLS_"+name, "")
		os.Unsetenv("OTPATCH_TEMPORAL_TLS_" + name)
	}
}

// temporalTLSFrom reads the settings from command-line flags, as every role does.
func temporalTLSFrom(t *testing.T, args ...string) (*tls.Config, error) {
	t.Helper()
	var c config
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	c.flags(fs, roleWorker)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c.temporalTLS()
}

// TestTemporalTLSSettings: the settings turn TLS on only when given, and every unusable
// combination or file is named with the setting and the file.
func TestTemporalTLSSettings(t *testing.T) {
	clearTemporalTLSEnv(t)
	ca := testenv.NewCA(t, "plant CA")
	siteA, siteB := ca.Client("site-a"), ca.Client("site-b")
	server := ca.Server("temporal.plant.example")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("this is not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, role := range []string{roleServer, roleWorker, roleDev} {
		fs := flag.NewFlagSet(role, flag.ContinueOnError)
		new(config).flags(fs, role)
		for _, name := range []string{"temporal-tls-cert", "temporal-tls-key", "temporal-tls-ca", "temporal-tls-server-name"} {
			if fs.Lookup(name) == nil {
				t.Errorf("otpatch %s has no --%s", role, name)
			}
		}
	}

	if cfg, err := temporalTLSFrom(t); cfg != nil || err != nil {
		t.Errorf("no settings: %v, %v; want TLS off", cfg, err)
	}
	cfg, err := temporalTLSFrom(t, "--temporal-tls-cert", siteA.CertFile, "--temporal-tls-key", siteA.KeyFile, "--temporal-tls-ca", ca.CertFile,
		"--temporal-tls-server-name", "temporal.plant.example")
	if err != nil {
		t.Fatalf("complete settings: %v", err)
	}
	if len(cfg.Certificates) != 1 || cfg.RootCAs == nil || cfg.ServerName != "temporal.plant.example" || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("complete settings gave %+v", cfg)
	}
	if cfg, err := temporalTLSFrom(t, "--temporal-tls-ca", ca.CertFile); err != nil || cfg == nil || cfg.Certificates != nil {
		t.Errorf("CA only: %+v, %v; want TLS without a client certificate", cfg, err)
	}
	t.Setenv("OTPATCH_TEMPORAL_TLS_CERT", siteA.CertFile)
	t.Setenv("OTPATCH_TEMPORAL_TLS_KEY", siteA.KeyFile)
	if cfg, err := temporalTLSFrom(t); err != nil || cfg == nil || len(cfg.Certificates) != 1 || cfg.RootCAs != nil {
		t.Errorf("client certificate from the environment, system roots: %+v, %v", cfg, err)
	}
	clearTemporalTLSEnv(t)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"certificate without key", []string{"--temporal-tls-cert", siteA.CertFile},
			"OTPATCH_TEMPORAL_TLS_KEY: missing: OTPATCH_TEMPORAL_TLS_CERT is set"},
		{"key without certificate", []string{"--temporal-tls-key", siteA.KeyFile, "--temporal-tls-ca", ca.CertFile},
			"OTPATCH_TEMPORAL_TLS_CERT: missing: OTPATCH_TEMPORAL_TLS_KEY is set"},
		{"unreadable certificate", []string{"--temporal-tls-cert", "/nonexistent/site-a.crt", "--temporal-tls-key", siteA.KeyFile},
			"OTPATCH_TEMPORAL_TLS_CERT: cannot read /nonexistent/site-a.crt: no such file or directory"},
		{"certificate not PEM", []string{"--temporal-tls-cert", garbage, "--temporal-tls-key", siteA.KeyFile},
			"OTPATCH_TEMPORAL_TLS_CERT: " + garbage + " holds no PEM certificate"},
		{"key not PEM", []string{"--temporal-tls-cert", siteA.CertFile, "--temporal-tls-key", garbage},
			"OTPATCH_TEMPORAL_TLS_KEY: " + garbage + " holds no PEM private key"},
		{"certificate given as key", []string{"--temporal-tls-cert", siteA.CertFile, "--temporal-tls-key", siteA.CertFile},
			"OTPATCH_TEMPORAL_TLS_KEY: " + siteA.CertFile + " holds a certificate, not a private key"},
		{"key of another certificate", []string{"--temporal-tls-cert", siteA.CertFile, "--temporal-tls-key", siteB.KeyFile},
			"OTPATCH_TEMPORAL_TLS_KEY: cannot use " + siteB.KeyFile + " as the key of " + siteA.CertFile + ": it is not the private key of that certificate"},
		{"server certificate as client certificate", []string{"--temporal-tls-cert", server.CertFile, "--temporal-tls-key", server.KeyFile},
			"OTPATCH_TEMPORAL_TLS_CERT: the certificate in " + server.CertFile + " is not for client authentication"},
		{"CA not PEM", []string{"--temporal-tls-ca", garbage},
			"OTPATCH_TEMPORAL_TLS_CA: " + garbage + " holds no PEM certificate"},
		{"unreadable CA", []string{"--temporal-tls-ca", dir},
			"OTPATCH_TEMPORAL_TLS_CA: cannot read " + dir + ": is a directory"},
		{"server name without TLS", []string{"--temporal-tls-server-name", "temporal.plant.example"},
			"OTPATCH_TEMPORAL_TLS_SERVER_NAME: is set but TLS to Temporal is off"},
		{"server name with a port", []string{"--temporal-tls-ca", ca.CertFile, "--temporal-tls-server-name", "temporal.plant.example:7233"},
			`OTPATCH_TEMPORAL_TLS_SERVER_NAME: "temporal.plant.example:7233" is not a host name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := temporalTLSFrom(t, tc.args...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, %v; want an error starting %q", cfg, err, tc.want)
			}
		})
	}

	s := temporalTLSSettings{cert: siteA.CertFile, key: siteA.KeyFile}
	if _, err := s.config(siteA.TLS.Leaf.NotAfter.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "expired on") {
		t.Errorf("expired certificate: %v", err)
	}
}

// TestTemporalOverMutualTLS runs config check --connect against a Temporal frontend that
// requires mutual TLS: with the settings it connects, with the CA alone it is refused.
func TestTemporalOverMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal and MinIO")
	}
	clearConfigEnv(t)
	clearTemporalTLSEnv(t)
	dsn := testenv.PostgresDSN(t)
	mc := testenv.MinIO(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ca := testenv.NewCA(t, "plant CA")
	// The certificate names the frontend by DNS name only: clients dial 127.0.0.1 and check
	// the name given in OTPATCH_TEMPORAL_TLS_SERVER_NAME.
	srvCert := ca.Server("temporal.plant.example")
	ts, err := temporalembed.Start(ctx, temporalembed.Config{DBPath: filepath.Join(t.TempDir(), "temporal.db"), FrontendAddr: "127.0.0.1:0",
		TLS: &temporalembed.ServerTLS{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.CertFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Stop()
	site := ca.Client("site-a")
	for k, v := range map[string]string{"OTPATCH_DATABASE_URL": dsn, "OTPATCH_S3_ENDPOINT": mc.Endpoint, "OTPATCH_S3_ACCESS_KEY": mc.AccessKey,
		"OTPATCH_S3_SECRET_KEY": mc.SecretKey, "OTPATCH_TEMPORAL_ADDRESS": ts.HostPort(), "OTPATCH_TEMPORAL_NAMESPACE": ts.Namespace(),
		"OTPATCH_TEMPORAL_TLS_CERT": site.CertFile, "OTPATCH_TEMPORAL_TLS_KEY": site.KeyFile, "OTPATCH_TEMPORAL_TLS_CA": ca.CertFile,
		"OTPATCH_TEMPORAL_TLS_SERVER_NAME": "temporal.plant.example"} {
		t.Setenv(k, v)
	}

	// The configuration's own client, as otpatch server and worker dial it.
	cfg, err := temporalTLSFrom(t)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: ts.HostPort(), Namespace: ts.Namespace(), ConnectionOptions: client.ConnectionOptions{TLS: cfg},
		Logger: tlog.NewStructuredLogger(new(config).quietLogger())})
	if err != nil {
		t.Fatalf("dial with the settings: %v", err)
	}
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ts.Namespace()})
	c.Close()
	if err != nil {
		t.Fatalf("describe the namespace over mutual TLS: %v", err)
	}

	var out bytes.Buffer
	if err := configCheck(ctx, &out, []string{"--role", "worker", "--connect"}); err != nil {
		t.Fatalf("config check --connect over mutual TLS: %v\n%s", err, out.String())
	}
	for _, want := range []string{"temporal tls", "mutual TLS, client certificate " + site.CertFile, "Temporal answered"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check does not say %q:\n%s", want, out.String())
		}
	}

	// Without the client certificate the frontend refuses the connection.
	t.Setenv("OTPATCH_TEMPORAL_TLS_CERT", "")
	t.Setenv("OTPATCH_TEMPORAL_TLS_KEY", "")
	out.Reset()
	err = configCheck(ctx, &out, []string{"--role", "worker", "--connect"})
	// The frontend's refusal reads "certificate required" or, when TLS 1.3 lets the client write
	// before the refusal arrives, a closed connection; either way the check names the cause.
	if exitCode(err) != exitVerification || !strings.Contains(out.String(), "OTPATCH_TEMPORAL_ADDRESS: unreachable") ||
		!strings.Contains(out.String(), "no client certificate is set") {
		t.Fatalf("config check without a client certificate: %v\n%s", err, out.String())
	}

	// Half a pair is a configuration problem, found without connecting.
	t.Setenv("OTPATCH_TEMPORAL_TLS_CERT", site.CertFile)
	out.Reset()
	err = configCheck(ctx, &out, []string{"--role", "server"})
	if exitCode(err) != exitVerification || !strings.Contains(out.String(), "OTPATCH_TEMPORAL_TLS_KEY: missing") {
		t.Fatalf("config check with a certificate but no key: %v\n%s", err, out.String())
	}
}
