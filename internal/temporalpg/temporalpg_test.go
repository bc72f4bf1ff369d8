package temporalpg_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/internal/temporalpg"
	"github.com/otpatch/otpatch/internal/testenv"
)

func greet(ctx workflow.Context, name string) (string, error) {
	return "hello " + name, nil
}

// databases skips a short test run, since the test starts a Temporal server, and returns two
// fresh PostgreSQL databases (state and visibility) and a context bounding the test.
func databases(t *testing.T) (ctx context.Context, dsn, vis string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx, testenv.PostgresDSN(t), testenv.PostgresDSN(t)
}

// runGreet runs greet for name as workflow id on c, with a worker for the time of the run.
func runGreet(t *testing.T, ctx context.Context, c client.Client, id, name string) {
	t.Helper()
	w := worker.New(c, "tq", worker.Options{})
	w.RegisterWorkflow(greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "tq"}, greet, name)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello "+name {
		t.Fatalf("workflow %s: result %q, %v; want %q", id, got, err, "hello "+name)
	}
}

// TestServerOnPostgres creates Temporal's schemas in two fresh PostgreSQL databases with the
// server's schema tooling, runs a workflow, stops the server, and starts it again on the
// same databases: the schema setup is idempotent and the finished workflow is still there.
func TestServerOnPostgres(t *testing.T) {
	ctx, dsn, vis := databases(t)
	cfg := temporalpg.Config{DSN: dsn, VisibilityDSN: vis}

	srv, err := temporalpg.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dsn, vis} {
		v, err := temporalpg.SchemaVersion(ctx, d)
		if err != nil || v == "" || v == "0.0" {
			t.Fatalf("schema version in %s: %q, %v; want the latest versioned schema applied", d, v, err)
		}
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	runGreet(t, ctx, c, "greet-1", "plant")
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	srv, err = temporalpg.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("second start on the same databases: %v", err)
	}
	defer srv.Stop()
	c, err = client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got string
	if err := c.GetWorkflow(ctx, "greet-1", "").Get(ctx, &got); err != nil || got != "hello plant" {
		t.Fatalf("after restart, workflow greet-1: %q, %v", got, err)
	}
}

// TestMutualTLSOnAllAddresses starts the frontend on 0.0.0.0 with mutual TLS: a client with
// a certificate of the CA runs a workflow; one without a certificate is refused.
func TestMutualTLSOnAllAddresses(t *testing.T) {
	ctx, dsn, vis := databases(t)
	ca := testenv.NewCA(t, "plant CA")
	cert := ca.Server("127.0.0.1")
	srv, err := temporalpg.Start(ctx, temporalpg.Config{DSN: dsn, VisibilityDSN: vis, FrontendAddr: "0.0.0.0:0",
		TLS: &temporalpg.ServerTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: ca.CertFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if !strings.HasPrefix(srv.HostPort(), "127.0.0.1:") {
		t.Fatalf("HostPort() = %q, want 127.0.0.1 and the port", srv.HostPort())
	}
	dial := func(tlsCfg *tls.Config) (client.Client, error) {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := client.DialContext(dctx, client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace(), ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg}})
		if err != nil {
			return nil, err
		}
		if _, err := c.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace()}); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	if c, err := dial(&tls.Config{RootCAs: ca.Pool()}); err == nil {
		c.Close()
		t.Fatal("a client without a certificate was answered")
	}
	c, err := dial(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.Client("site-a").TLS}})
	if err != nil {
		t.Fatalf("client with a certificate of the CA: %v", err)
	}
	defer c.Close()
	runGreet(t, ctx, c, "greet-tls", "site a")
}

// TestFrontendBeyondLoopbackNeedsTLS: a frontend on all addresses without mutual TLS is
// refused before the databases are touched (these do not exist).
func TestFrontendBeyondLoopbackNeedsTLS(t *testing.T) {
	_, err := temporalpg.Start(context.Background(), temporalpg.Config{DSN: "postgres://nobody@127.0.0.1:1/none",
		VisibilityDSN: "postgres://nobody@127.0.0.1:1/none", FrontendAddr: "0.0.0.0:7233"})
	if err == nil || !strings.Contains(err.Error(), "without mutual TLS") {
		t.Fatalf("err = %v, want it to say mutual TLS is needed", err)
	}
}
