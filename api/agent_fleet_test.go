package api_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/refusals"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

// TestAgentIdlePollsWriteNoLiveness polls as a fleet of idle agents does — requests that find
// no job, and long polls that wait — and checks that no request writes the agent's last
// contact on its own: it is written for all agents together, in one statement, and then shows
// for every agent. On PostgreSQL, where the API process relays notifications, the polls after
// the first read neither the agent's credential nor its jobs either.
func TestAgentIdlePollsWriteNoLiveness(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn string) {
		f := newAgentFleet(t, dsn, 12)
		ctx := context.Background()
		poll := func(a fleetAgent, wait string) {
			t.Helper()
			res, err := f.poll(ctx, f.client, a.token, wait)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("idle poll (wait %s): %d, want 204", wait, res.StatusCode)
			}
		}
		for _, a := range f.agents {
			poll(a, "PT0S")
		}
		first := f.log.Len()
		for range 3 {
			for _, a := range f.agents {
				poll(a, "PT0S")
			}
		}
		// Long polls that end at their deadline, side by side.
		var wg sync.WaitGroup
		for _, a := range f.agents[:4] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				poll(a, "PT1S")
			}()
		}
		wg.Wait()

		if n := f.log.Count(isLivenessWrite); n != 0 {
			t.Errorf("%d polls of %d idle agents wrote their last contact %d times; want it kept in memory until written for all", 4*len(f.agents)+4, len(f.agents), n)
		}
		if f.st.Dialect() == "postgres" {
			if again := f.log.Since(first, func(sql string) bool {
				return strings.Contains(sql, "agent_jobs") || strings.Contains(sql, "agent_credentials")
			}); len(again) > 0 {
				t.Errorf("idle polls after the first read the database again: %q", again)
			}
		}
		var never []string
		f.st.DB().Table("agent_credentials").Where("last_seen_at IS NOT NULL").Pluck("id", &never)
		if len(never) != 0 {
			t.Fatalf("last contact written before the flush for %v", never)
		}
		// This process's readers see the contacts not yet written.
		for _, a := range f.agents {
			if last, err := f.st.AgentLastSeen(ctx, a.assetID); err != nil || last.IsZero() {
				t.Fatalf("last contact of %s before the flush: %v, %v", a.assetID, last, err)
			}
		}

		before := f.log.Len()
		if err := f.st.FlushAgentLiveness(ctx); err != nil {
			t.Fatal(err)
		}
		if writes := f.log.Since(before, isLivenessWrite); len(writes) != 1 {
			t.Errorf("the flush wrote the last contact of %d agents in %d statements, want 1", len(f.agents), len(writes))
		}
		var seen []string
		f.st.DB().Table("agent_credentials").Where("last_seen_at IS NOT NULL").Pluck("id", &seen)
		if len(seen) != len(f.agents) {
			t.Errorf("after the flush %d of %d agents have a last contact", len(seen), len(f.agents))
		}
		before = f.log.Len()
		if err := f.st.FlushAgentLiveness(ctx); err != nil {
			t.Fatal(err)
		}
		if n := f.log.Since(before, isLivenessWrite); len(n) != 0 {
			t.Errorf("a flush with no agent heard from since the last wrote %q", n)
		}
	})
}

// isLivenessWrite tells a statement that writes agents' last contact (with the last use of the
// agent tokens that authenticated from memory, on PostgreSQL).
func isLivenessWrite(sql string) bool {
	sql = strings.ToUpper(strings.TrimSpace(sql))
	return (strings.HasPrefix(sql, "UPDATE") || strings.HasPrefix(sql, "WITH")) && strings.Contains(sql, "AGENT_CREDENTIALS")
}

// agentFleet is the API over TLS on its own store, with agents that each have an asset and a
// credential: the API process as otpatch server runs it, without Temporal.
type agentFleet struct {
	st     *store.Store
	srv    *httptest.Server
	client *http.Client
	agents []fleetAgent
	log    *testenv.StatementLog
	// polling counts the long polls in the server now.
	polling atomic.Int64
	// ahead moves the store's clock on from the real time.
	ahead atomic.Int64
	// refusals tallies the API's refused authentications.
	refusals *refusals.Tally
}

// newAgentFleet starts the API on dsn with n agents; on PostgreSQL it relays notifications as
// otpatch server does. The agents' last contact is written only when the test flushes it.
func newAgentFleet(tb testing.TB, dsn string, n int) *agentFleet {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &agentFleet{}
	st, err := store.Open(dsn, store.Options{Logger: logger, Now: func() time.Time {
		return time.Now().Add(time.Duration(f.ahead.Load()))
	}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	agents := seedFleet(tb, st, n)
	if err := st.ListenAgentJobs(ctx); err != nil {
		tb.Fatal(err)
	}
	f.st, f.agents, f.log = st, agents, testenv.LogStatements(tb, st.DB())
	f.refusals = refusals.New(st, refusals.Options{Now: st.Now, Logger: logger})
	h := api.New(api.Deps{Store: st, Logger: logger, Refusals: f.refusals})
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/agent/jobs/next" {
			f.polling.Add(1)
			defer f.polling.Add(-1)
		}
		h.ServeHTTP(w, r)
	}))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // agents' connections cut when a test ends
	f.srv.StartTLS()
	tb.Cleanup(f.srv.Close)
	f.client = f.srv.Client()
	return f
}

// poll asks for the next job with the agent's token.
func (f *agentFleet) poll(ctx context.Context, hc *http.Client, token, wait string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/agent/jobs/next?wait="+wait, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return hc.Do(req)
}

// fleetAgent is one agent's asset and token.
type fleetAgent struct{ assetID, token string }

// seedFleet makes n assets, each with an agent credential.
func seedFleet(tb testing.TB, st *store.Store, n int) []fleetAgent {
	tb.Helper()
	ctx := context.Background()
	sys := store.Event{Actor: "otpatch", Role: "system", Action: "fleet.seeded"}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	v := store.Vendor{Name: "northwind", DisplayName: "Northwind"}
	must(st.CreateVendor(ctx, &v, sys))
	site := store.Site{Name: "Fleet Works"}
	must(st.CreateSite(ctx, &site, sys))
	z := store.Zone{SiteID: site.ID, Name: "Packaging", SLT: 2, Window: domain.Window{Cron: "* * * * *", Duration: domain.Duration(time.Hour), TimeZone: "UTC", MaxParallel: 50}}
	must(st.CreateZone(ctx, &z, sys))
	p := store.Product{VendorID: v.ID, Name: "edge-gateway", Kind: "gateway"}
	must(st.CreateProduct(ctx, &p, sys))
	as := make([]store.Asset, n)
	for i := range as {
		as[i] = store.Asset{ZoneID: z.ID, ProductID: p.ID, Name: fmt.Sprintf("gw-%05d", i), InstalledVersion: "1.0.0", Criticality: 1, Adapter: "agent"}
	}
	must(st.CreateAssets(ctx, as, sys))
	agents := make([]fleetAgent, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range as {
		agents[i] = fleetAgent{assetID: as[i].ID, token: fmt.Sprintf("otp_fleet_%05d_%d", i, rand.Int64())}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ev := store.Event{Actor: "ada.admin", Role: "admin", Action: "agent.credential_issued"}
			if _, err := st.IssueAgentCredential(ctx, agents[i].assetID, "ada.admin", agents[i].token, ev); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	must(<-errs)
	return agents
}

// eachDatabase runs test on SQLite (a temporary file) and on PostgreSQL (a fresh database), in
// parallel.
func eachDatabase(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, filepath.Join(t.TempDir(), "otpatch.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, testenv.PostgresDSN(t))
	})
}
