// Package teststack starts a whole otpatch on real components for tests in any package: a
// Temporal server (temporaltest) with the worker, the store (SQLite, or PostgreSQL when a DSN
// is given), the embedded S3 endpoint, the simulator with zero latency, and the API over
// httptest, seeded with the demo plant. Only tests import it.
package teststack

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/refusals"
	"github.com/otpatch/otpatch/internal/s3embed"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// Options shape a stack; the zero value is SQLite, no UI, no checkpoints.
type Options struct {
	// DSN selects the database (a postgres:// URL); empty means a SQLite file.
	DSN string
	// Now is the store's clock (nil: the wall clock).
	Now func() time.Time
	// MaxArtifactBytes and PresignExpiry are passed to the API (0: its defaults).
	MaxArtifactBytes int64
	// MaxCampaignAssets bounds a campaign's targets (0: the API's default).
	MaxCampaignAssets int
	PresignExpiry     time.Duration
	// UI serves this handler at / (nil: none).
	UI http.Handler
	// Checkpoints signs audit checkpoints into the object store, as a server does.
	Checkpoints bool
	// ServerOptions go to temporaltest; without any the server is stopped in tb's cleanup.
	ServerOptions []temporaltest.TestServerOption
	// SimStep is how long each simulated device operation takes (0: no delay).
	SimStep time.Duration
	// ApprovalTTL is how long an approval counts (0: 7 days).
	ApprovalTTL time.Duration
	// Expected is how long device work takes for adapters the central worker does not hold
	// (their devices are reached by site workers), by adapter name.
	Expected map[string]time.Duration
	// Adapters are the worker's adapters besides the simulator (ssh, agent), by name. A
	// function is called once the store and object store exist, so an adapter can use them.
	Adapters func(st *store.Store, objs *artifacts.Store) map[string]adapters.Target
	// Limits are the API's rate limits (zero: so high that tests never meet them).
	Limits api.Limits
	// Passwords, SessionLifetime, SessionIdle and OIDC go to the API (zero: its defaults).
	Passwords                    domain.PasswordPolicy
	SessionLifetime, SessionIdle time.Duration
	OIDC                         *api.OIDC
	// Notify is how the worker delivers notifications (zero: no SMTP server, default retries).
	Notify notify.Settings
}

// Stack is a running otpatch.
type Stack struct {
	URL      string
	Dir      string
	Store    *store.Store
	Objects  *artifacts.Store
	Sim      *simulator.Simulator
	Tokens   demo.Tokens
	Keys     map[string]ed25519.PrivateKey // the demo vendors' signing keys
	Temporal *temporaltest.TestServer
	// Refusals tallies the API's refused authentications; FlushAll writes them to the audit trail.
	Refusals *refusals.Tally
}

// New starts a stack that stops when tb ends.
func New(tb testing.TB, opt Options) *Stack {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	dsn := opt.DSN
	if dsn == "" {
		dsn = filepath.Join(dir, "otpatch.db")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	st, err := store.Open(dsn, store.Options{Logger: log, Now: opt.Now})
	must(err)
	tb.Cleanup(func() { st.Close() })
	_, err = st.Migrate(ctx)
	must(err)

	s3, err := s3embed.New(s3embed.Config{Dir: filepath.Join(dir, "objects"), AccessKey: "test-access", SecretKey: "test-secret-key"})
	must(err)
	sctx, cancel := context.WithCancel(ctx)
	tb.Cleanup(func() { cancel(); s3.Close() })
	endpoint, err := s3.Listen(sctx, "127.0.0.1:0")
	must(err)
	objs, err := artifacts.New(artifacts.Config{Endpoint: endpoint, AccessKey: "test-access", SecretKey: "test-secret-key", Bucket: "otpatch"})
	must(err)
	must(objs.EnsureBucket(ctx))

	sim := simulator.New(st.DB(), opt.SimStep, nil)
	tokens, err := demo.Seed(ctx, st, sim, dir)
	must(err)
	keys := map[string]ed25519.PrivateKey{}
	for _, v := range []string{"acme", "northwind"} {
		b, err := os.ReadFile(filepath.Join(dir, "demo-keys", v+".key"))
		must(err)
		keys[v], err = signing.ParsePrivate(b)
		must(err)
	}
	if opt.Checkpoints {
		_, cpKey, err := ed25519.GenerateKey(rand.Reader)
		must(err)
		cps, err := audit.NewObjectCheckpoints(ctx, objs, 0, nil)
		must(err)
		cp, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: cpKey, Store: cps})
		must(err)
		st.SetCheckpointer(cp)
		tb.Cleanup(func() { st.SetCheckpointer(nil) })
	}

	ts := temporaltest.NewServer(opt.ServerOptions...)
	if len(opt.ServerOptions) == 0 {
		tb.Cleanup(ts.Stop)
	}
	ads := map[string]adapters.Target{adapters.Simulator: sim}
	if opt.Adapters != nil {
		for name, a := range opt.Adapters(st, objs) {
			ads[name] = a
		}
	}
	acts := &activities.Activities{Store: st, Objects: objs, Adapters: ads, Expected: opt.Expected, Log: log, Now: time.Now, ApprovalTTL: opt.ApprovalTTL, Notify: opt.Notify}
	ts.NewWorkerWithOptions(workflows.TaskQueue, func(r worker.Registry) { workflows.Register(r, acts) }, workflows.WorkerOptions(worker.Options{}))
	// Refused authentications reach the audit trail when a minute closes or a test calls
	// Refusals.FlushAll. Tests send many bad tokens and changes from one loopback address, so
	// the limits are lifted here; the throttling tests build an API with the default limits.
	tally := refusals.New(st, refusals.Options{Now: st.Now, Logger: log})
	limits := opt.Limits
	if limits == (api.Limits{}) {
		limits = api.Limits{AuthFailures: 1 << 20, Writes: 1 << 20}
	}
	h := api.New(api.Deps{Store: st, Objects: objs, Temporal: ts.GetDefaultClient(), Simulator: sim, Logger: log,
		MaxArtifactBytes: opt.MaxArtifactBytes, MaxCampaignAssets: opt.MaxCampaignAssets, PresignExpiry: opt.PresignExpiry, UI: opt.UI,
		Limits: limits, Refusals: tally, Passwords: opt.Passwords, SessionLifetime: opt.SessionLifetime, SessionIdle: opt.SessionIdle, OIDC: opt.OIDC})
	// Every request and answer is checked against the OpenAPI document (contract.go).
	srv := httptest.NewServer(NewContract(tb).Wrap(h))
	tb.Cleanup(srv.Close)
	return &Stack{URL: srv.URL, Dir: dir, Store: st, Objects: objs, Sim: sim, Tokens: tokens, Keys: keys, Temporal: ts, Refusals: tally}
}
