package temporalembed_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/temporalembed"
)

// testLogger returns a logger writing to the test log at warn and above. It
// goes quiet once the test has finished, so late server goroutines cannot
// write to a completed test.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

func start(t *testing.T, ctx context.Context, dbPath string) *temporalembed.Server {
	t.Helper()
	return startConfig(t, ctx, temporalembed.Config{DBPath: dbPath, FrontendAddr: "127.0.0.1:0"})
}

func startConfig(t *testing.T, ctx context.Context, cfg temporalembed.Config) *temporalembed.Server {
	t.Helper()
	cfg.Logger = testLogger(t)
	began := time.Now()
	srv, err := temporalembed.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("server on %s started in %v", srv.HostPort(), time.Since(began).Round(time.Millisecond))
	return srv
}

func stop(t *testing.T, srv *temporalembed.Server) {
	t.Helper()
	began := time.Now()
	if err := srv.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	t.Logf("server stopped in %v", time.Since(began).Round(time.Millisecond))
}

func dial(t *testing.T, srv *temporalembed.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  srv.HostPort(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(testLogger(t)),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", srv.HostPort(), err)
	}
	return c
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Greet is a workflow that calls one activity.
func Greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, Hello, name).Get(ctx, &out)
	return out, err
}

func Hello(_ context.Context, name string) (string, error) {
	return "hello " + name, nil
}

const greetQueue = "greet"

// startGreetWorker starts a worker for Greet and Hello on c; the caller stops it.
func startGreetWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, greetQueue, worker.Options{})
	w.RegisterWorkflow(Greet)
	w.RegisterActivity(Hello)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	return w
}

// greet runs Greet for name as workflow id and checks its result.
func greet(t *testing.T, ctx context.Context, c client.Client, id, name string) {
	t.Helper()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: greetQueue}, Greet, name)
	if err != nil {
		t.Fatalf("start workflow %s: %v", id, err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello "+name {
		t.Fatalf("workflow %s: result %q, %v; want %q", id, got, err, "hello "+name)
	}
}

func TestWorkflowWithActivity(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	dir := t.TempDir()

	// otpatch's own database uses the libtnb gorm dialector over the same
	// modernc driver the Temporal SQLite plugin registers; both must work in
	// one process.
	db, err := gorm.Open(sqlite.Open(filepath.Join(dir, "otpatch.db")), &gorm.Config{})
	if err != nil {
		t.Fatalf("open gorm sqlite: %v", err)
	}
	type note struct {
		ID   uint
		Text string
	}
	if err := db.AutoMigrate(&note{}); err != nil {
		t.Fatalf("migrate: %v", err)
	}

	srv := start(t, ctx, filepath.Join(dir, "temporal.db"))
	defer stop(t, srv)
	if srv.Namespace() != temporalembed.DefaultNamespace {
		t.Errorf("Namespace() = %q, want %q", srv.Namespace(), temporalembed.DefaultNamespace)
	}

	c := dial(t, srv)
	defer c.Close()
	defer startGreetWorker(t, c).Stop()
	greet(t, ctx, c, "greet-1", "plant")

	// The gorm database still works with the server running.
	if err := db.Create(&note{Text: "hello plant"}).Error; err != nil {
		t.Fatalf("gorm insert: %v", err)
	}
	var n int64
	if err := db.Model(&note{}).Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("gorm count = %d, %v; want 1", n, err)
	}

	// Retention of the registered namespace.
	desc, err := c.WorkflowService().DescribeNamespace(ctx, describeRequest(srv.Namespace()))
	if err != nil {
		t.Fatalf("describe namespace: %v", err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 7*24*time.Hour {
		t.Errorf("namespace retention = %v, want 168h", got)
	}
}

// prepareCalls counts runs of Prepare in this process, so a test can tell a
// replayed activity result from a second run.
var prepareCalls atomic.Int32

// Prepare is the activity that runs before the restart.
func Prepare(_ context.Context, site string) (string, error) {
	prepareCalls.Add(1)
	return fmt.Sprintf("prepared %s (pid %d)", site, os.Getpid()), nil
}

// AwaitApproval records the result of Prepare, then waits for the "approve"
// signal and returns both. The "state" query reports progress.
func AwaitApproval(ctx workflow.Context, site string) (string, error) {
	state := "starting"
	if err := workflow.SetQueryHandler(ctx, "state", func() (string, error) { return state, nil }); err != nil {
		return "", err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var prepared string
	if err := workflow.ExecuteActivity(actx, Prepare, site).Get(ctx, &prepared); err != nil {
		return "", err
	}
	state = "waiting: " + prepared
	var approver string
	workflow.GetSignalChannel(ctx, "approve").Receive(ctx, &approver)
	state = "done"
	return prepared + ", approved by " + approver, nil
}

const approvalQueue = "approval"

func startApprovalWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, approvalQueue, worker.Options{})
	w.RegisterWorkflow(AwaitApproval)
	w.RegisterActivity(Prepare)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	return w
}

// startApproval starts AwaitApproval and waits until it is blocked on the
// signal, returning the state it reported.
func startApproval(t *testing.T, ctx context.Context, c client.Client, id string) string {
	t.Helper()
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: approvalQueue}, AwaitApproval, "substation-7"); err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	for {
		v, err := c.QueryWorkflow(ctx, id, "", "state")
		if err == nil {
			var state string
			if err := v.Get(&state); err != nil {
				t.Fatalf("decode query: %v", err)
			}
			if strings.HasPrefix(state, "waiting: ") {
				return strings.TrimPrefix(state, "waiting: ")
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("workflow %s never reached the signal wait (last query error: %v)", id, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// approve signals id after a restart and checks that it completes with the
// state it had before.
func approve(t *testing.T, ctx context.Context, srv *temporalembed.Server, id, prepared string) {
	t.Helper()
	c := dial(t, srv)
	defer c.Close()
	w := startApprovalWorker(t, c)
	defer w.Stop()

	if err := c.SignalWorkflow(ctx, id, "", "approve", "operator"); err != nil {
		t.Fatalf("signal after restart: %v", err)
	}
	var got string
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &got); err != nil {
		t.Fatalf("workflow result after restart: %v", err)
	}
	if want := prepared + ", approved by operator"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
}

func TestStopStartResumesWorkflow(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	dbPath := filepath.Join(t.TempDir(), "temporal.db")

	srv := start(t, ctx, dbPath)
	firstAddr := srv.HostPort()
	c := dial(t, srv)
	w := startApprovalWorker(t, c)
	before := prepareCalls.Load()
	prepared := startApproval(t, ctx, c, "approval-stop")
	w.Stop()
	c.Close()
	stop(t, srv)

	srv = start(t, ctx, dbPath)
	defer stop(t, srv)
	t.Logf("restarted: %s -> %s", firstAddr, srv.HostPort())
	approve(t, ctx, srv, "approval-stop", prepared)

	if n := prepareCalls.Load() - before; n != 1 {
		t.Errorf("Prepare ran %d times, want 1 (its result must come from history after the restart)", n)
	}

	// The file is in WAL mode (a persistent setting, so visible from here).
	db, err := gorm.Open(sqlite.Open(dbPath), &gorm.Config{})
	if err != nil {
		t.Fatalf("open %s: %v", dbPath, err)
	}
	if sqlDB, err := db.DB(); err == nil {
		defer func() { _ = sqlDB.Close() }()
	}
	var mode string
	if err := db.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

const (
	helperEnv   = "TEMPORALEMBED_HELPER_DB"
	readyPrefix = "READY "
)

// TestHelperServer is not a test: TestKilledProcessResumesWorkflow runs the
// test binary again with helperEnv set, and this function then plays the
// otpatch process that gets killed.
func TestHelperServer(t *testing.T) {
	dbPath := os.Getenv(helperEnv)
	if dbPath == "" {
		t.Skip("helper process for TestKilledProcessResumesWorkflow")
	}
	ctx := testContext(t, 60*time.Second)
	srv, err := temporalembed.Start(ctx, temporalembed.Config{
		DBPath:       dbPath,
		FrontendAddr: "127.0.0.1:0",
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	c := dial(t, srv)
	startApprovalWorker(t, c)
	prepared := startApproval(t, ctx, c, "approval-kill")
	fmt.Printf("%s%s\n", readyPrefix, prepared)
	select {} // wait for SIGKILL
}

func TestKilledProcessResumesWorkflow(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("running as helper")
	}
	ctx := testContext(t, 90*time.Second)
	dbPath := filepath.Join(t.TempDir(), "temporal.db")

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperServer$", "-test.v=false")
	cmd.Env = append(os.Environ(), helperEnv+"="+dbPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper process: %v", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, readyPrefix) {
				lines <- strings.TrimPrefix(line, readyPrefix)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	var prepared string
	select {
	case prepared = <-lines:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper process never got its workflow waiting; its stderr:\n%s", stderr.String())
	}
	t.Logf("helper process ready after %v: %s", time.Since(began).Round(time.Millisecond), prepared)

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no checkpoint
		t.Fatalf("kill helper: %v", err)
	}
	_ = cmd.Wait()

	srv := start(t, ctx, dbPath)
	defer stop(t, srv)
	approve(t, ctx, srv, "approval-kill", prepared)
	if strings.Contains(prepared, fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Errorf("Prepare ran in this process (%q), want it from the killed one", prepared)
	}
}

func TestTwoServersInOneProcess(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	dirA, dirB := t.TempDir(), t.TempDir()

	a := start(t, ctx, filepath.Join(dirA, "temporal.db"))
	defer stop(t, a)
	b := startConfig(t, ctx, temporalembed.Config{
		DBPath:       filepath.Join(dirB, "temporal.db"),
		FrontendAddr: "127.0.0.1:0",
		Namespace:    "otpatch",
	})
	defer stop(t, b)

	if a.HostPort() == b.HostPort() {
		t.Fatalf("both servers on %s", a.HostPort())
	}
	if b.Namespace() != "otpatch" {
		t.Errorf("Namespace() = %q, want %q", b.Namespace(), "otpatch")
	}
	for _, srv := range []*temporalembed.Server{a, b} {
		c := dial(t, srv)
		if _, err := c.WorkflowService().DescribeNamespace(ctx, describeRequest(srv.Namespace())); err != nil {
			t.Errorf("describe namespace on %s: %v", srv.HostPort(), err)
		}
		c.Close()
	}

	// The same database cannot be opened twice.
	if _, err := temporalembed.Start(ctx, temporalembed.Config{
		DBPath: filepath.Join(dirA, "temporal.db"), FrontendAddr: "127.0.0.1:0",
	}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Start on the same DBPath: err = %v, want an \"in use\" error", err)
	}
	// A fixed frontend address that is taken is reported, not fought over.
	if _, err := temporalembed.Start(ctx, temporalembed.Config{
		DBPath: filepath.Join(t.TempDir(), "temporal.db"), FrontendAddr: a.HostPort(),
	}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Start on taken address %s: err = %v, want an \"in use\" error", a.HostPort(), err)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	for _, tc := range []struct {
		name string
		cfg  temporalembed.Config
		want string
	}{
		{"no DBPath", temporalembed.Config{}, "DBPath is empty"},
		{"public address", temporalembed.Config{DBPath: filepath.Join(t.TempDir(), "t.db"), FrontendAddr: "0.0.0.0:7233"}, "must be on 127.0.0.1"},
		{"no port", temporalembed.Config{DBPath: filepath.Join(t.TempDir(), "t.db"), FrontendAddr: "127.0.0.1"}, "not host:port"},
		{"not sqlite", temporalembed.Config{DBPath: notSQLite(t), FrontendAddr: "127.0.0.1:0"}, "SQLite"},
		{"unfinished schema", temporalembed.Config{DBPath: foreignSQLite(t), FrontendAddr: "127.0.0.1:0"}, "unfinished Temporal schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := temporalembed.Start(ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func notSQLite(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "temporal.db")
	if err := os.WriteFile(p, []byte("this is not a database, just some text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// foreignSQLite returns an SQLite file with a table but no Temporal schema,
// which is what an interrupted first start leaves behind.
func foreignSQLite(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "temporal.db")
	db, err := gorm.Open(sqlite.Open(p), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("CREATE TABLE namespaces (id INTEGER)").Error; err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
	return p
}

func describeRequest(ns string) *workflowservice.DescribeNamespaceRequest {
	return &workflowservice.DescribeNamespaceRequest{Namespace: ns}
}
