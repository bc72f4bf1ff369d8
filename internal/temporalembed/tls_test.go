package temporalembed_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/otpatch/otpatch/internal/temporalembed"
	"github.com/otpatch/otpatch/internal/testenv"
)

// dialTLS connects to srv with tlsCfg and describes the namespace, within 10 s.
func dialTLS(t *testing.T, srv *temporalembed.Server, tlsCfg *tls.Config) (client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(testLogger(t)), ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg}})
	if err != nil {
		return nil, err
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, describeRequest(srv.Namespace())); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// TestMutualTLS starts the frontend on all addresses with mutual TLS: a client with a
// certificate of the plant's CA runs a workflow and a schedule (which the server's own
// worker service starts, so its internal client gets through too); clients without a
// certificate, with one of another CA, or not trusting the frontend's CA are refused.
func TestMutualTLS(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	ca := testenv.NewCA(t, "plant CA")
	srvCert := ca.Server("temporal.plant.example", "127.0.0.1")
	srv := startConfig(t, ctx, temporalembed.Config{DBPath: filepath.Join(t.TempDir(), "temporal.db"), FrontendAddr: "0.0.0.0:0",
		TLS: &temporalembed.ServerTLS{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: ca.CertFile}})
	defer stop(t, srv)
	if !strings.HasPrefix(srv.HostPort(), "127.0.0.1:") {
		t.Fatalf("HostPort() = %q, want 127.0.0.1 and the port for a frontend on all addresses", srv.HostPort())
	}

	site := ca.Client("site-a")
	good := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool(), Certificates: []tls.Certificate{site.TLS}}
	c, err := dialTLS(t, srv, good)
	if err != nil {
		t.Fatalf("client with a certificate of the plant CA: %v", err)
	}
	defer c.Close()
	named := good.Clone()
	named.ServerName = "temporal.plant.example"
	if c, err := dialTLS(t, srv, named); err != nil {
		t.Errorf("client verifying the frontend's DNS name: %v", err)
	} else {
		c.Close()
	}

	defer startGreetWorker(t, c).Stop()
	greet(t, ctx, c, "greet-tls", "site a")

	// Schedules run in the server's worker service, which reaches the frontend as a client.
	sched, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: "greet-schedule", Spec: client.ScheduleSpec{},
		Action:             &client.ScheduleWorkflowAction{ID: "greet-scheduled", Workflow: Greet, Args: []any{"schedule"}, TaskQueue: greetQueue},
		TriggerImmediately: true})
	if err != nil {
		t.Fatalf("create schedule: %v", err)
	}
	for {
		desc, err := sched.Describe(ctx)
		if err == nil && len(desc.Info.RecentActions) > 0 {
			started := desc.Info.RecentActions[0].StartWorkflowResult
			var got string
			if err := c.GetWorkflow(ctx, started.WorkflowID, started.FirstExecutionRunID).Get(ctx, &got); err != nil || got != "hello schedule" {
				t.Fatalf("scheduled workflow result %q, %v", got, err)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the schedule never started its workflow (the worker service cannot reach the frontend?): %v, last error %v", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}

	other := testenv.NewCA(t, "other CA")
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{
		{"plain text", nil},
		{"no client certificate", &tls.Config{RootCAs: ca.Pool()}},
		{"certificate of another CA", &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{other.Client("site-a").TLS}}},
		{"not trusting the frontend's CA", &tls.Config{RootCAs: other.Pool(), Certificates: []tls.Certificate{site.TLS}}},
		{"wrong server name", &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{site.TLS}, ServerName: "temporal.elsewhere.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialTLS(t, srv, tc.tls)
			if err == nil {
				c.Close()
				t.Fatal("the frontend answered")
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestTLSConfigErrors: a frontend beyond loopback needs mutual TLS, and unusable files are
// named.
func TestTLSConfigErrors(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	ca := testenv.NewCA(t, "plant CA")
	cert, other := ca.Server("127.0.0.1"), ca.Server("127.0.0.1")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := func() string { return filepath.Join(t.TempDir(), "t.db") }
	for _, tc := range []struct {
		name string
		cfg  temporalembed.Config
		want string
	}{
		{"all addresses without TLS", temporalembed.Config{DBPath: db(), FrontendAddr: "0.0.0.0:0"}, "without mutual TLS"},
		{"host name", temporalembed.Config{DBPath: db(), FrontendAddr: "temporal.plant.example:7233",
			TLS: &temporalembed.ServerTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: ca.CertFile}}, "give an IP address"},
		{"missing key file", temporalembed.Config{DBPath: db(), FrontendAddr: "127.0.0.1:0",
			TLS: &temporalembed.ServerTLS{CertFile: cert.CertFile, KeyFile: "/nonexistent/frontend.key", ClientCAFile: ca.CertFile}}, "TLS.KeyFile: open /nonexistent/frontend.key"},
		{"key of another certificate", temporalembed.Config{DBPath: db(), FrontendAddr: "127.0.0.1:0",
			TLS: &temporalembed.ServerTLS{CertFile: cert.CertFile, KeyFile: other.KeyFile, ClientCAFile: ca.CertFile}}, "not a certificate and its private key"},
		{"client CA not PEM", temporalembed.Config{DBPath: db(), FrontendAddr: "127.0.0.1:0",
			TLS: &temporalembed.ServerTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: garbage}}, "holds no PEM certificate"},
		{"no client CA", temporalembed.Config{DBPath: db(), FrontendAddr: "127.0.0.1:0",
			TLS: &temporalembed.ServerTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}}, "TLS.ClientCAFile is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := temporalembed.Start(ctx, tc.cfg)
			if err == nil {
				_ = srv.Stop()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
