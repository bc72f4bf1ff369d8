package temporalpg_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/internal/temporalpg"
	"github.com/otpatch/otpatch/internal/testenv"
)

func greet(ctx workflow.Context, name string) (string, error) {
	return "hello " + name, nil
}

// TestServerOnPostgres creates Temporal's schemas in two fresh PostgreSQL databases with the
// server's schema tooling, runs a workflow, stops the server, and starts it again on the
// same databases: the schema setup is idempotent and the finished workflow is still there.
func TestServerOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server twice")
	}
	dsn, vis := testenv.PostgresDSN(t), testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
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
	w := worker.New(c, "tq", worker.Options{})
	w.RegisterWorkflow(greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "greet-1", TaskQueue: "tq"}, greet, "plant")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello plant" {
		t.Fatalf("workflow result %q, %v", got, err)
	}
	w.Stop()
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
	if err := c.GetWorkflow(ctx, "greet-1", "").Get(ctx, &got); err != nil || got != "hello plant" {
		t.Fatalf("after restart, workflow greet-1: %q, %v", got, err)
	}
}
