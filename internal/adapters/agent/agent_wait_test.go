package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

// The adapter learns an agent's result when it is recorded, not at its next look: with looks
// an hour apart, a verify returns as soon as the result is in — recorded in the adapter's own
// process, or, on PostgreSQL, by another process (the API's), relayed by ListenAgentJobs.
func TestWaitWakesOnResult(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dsn := filepath.Join(t.TempDir(), "otpatch.db")
			if db == "postgres" {
				dsn = testenv.PostgresDSN(t)
			}
			worker := openStore(t, dsn)
			if _, err := worker.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := worker.ListenAgentJobs(ctx); err != nil {
				t.Fatal(err)
			}
			api := worker
			if db == "postgres" {
				api = openStore(t, dsn) // another process, as far as notifications go
			}
			assetID := seedAsset(t, worker)
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			a, err := New(ctx, Options{Store: worker, Objects: nopObjects{}, Key: key, Poll: time.Hour})
			if err != nil {
				t.Fatal(err)
			}

			queued, unsubscribe := worker.AgentJobSignal(assetID)
			defer unsubscribe()
			type verified struct {
				res adapters.VerifyResult
				err error
			}
			done := make(chan verified, 1)
			go func() {
				res, err := a.Verify(ctx, assetID, adapters.VerifyRequest{Expect: "2.0.0"})
				done <- verified{res, err}
			}()
			select {
			case <-queued:
			case <-time.After(30 * time.Second): // bounds a hang only
				t.Fatal("the verify job was never queued")
			}
			byAgent := store.Event{Actor: "agent:x", Role: "agent", Action: "agent.job_started"}
			j, ok, err := api.NextAgentJob(ctx, assetID, byAgent)
			if err != nil || !ok {
				t.Fatalf("the agent's poll = %v, %v", ok, err)
			}
			raw, _ := json.Marshal(jobs.Result{Attempt: 1, OK: true, Verify: &adapters.VerifyResult{Version: "2.0.0", Healthy: true}})
			if err := api.FinishAgentJob(ctx, j.ID, 1, store.AgentJobDone, string(raw), "", byAgent); err != nil {
				t.Fatal(err)
			}
			select {
			case v := <-done:
				if v.err != nil || v.res.Version != "2.0.0" || !v.res.Healthy {
					t.Errorf("Verify = %+v, %v", v.res, v.err)
				}
			case <-time.After(30 * time.Second): // bounds a hang only; the next look is an hour away
				t.Fatal("the adapter did not learn of the result when it was recorded")
			}
		})
	}
}

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seedAsset adds an asset reached through its agent and returns its id.
func seedAsset(t *testing.T, st *store.Store) string {
	t.Helper()
	ctx := context.Background()
	ev := store.Event{Actor: "otpatch", Role: "system", Action: "seeded"}
	v := store.Vendor{Name: "northwind", DisplayName: "Northwind"}
	site := store.Site{Name: "Works"}
	for _, err := range []error{st.CreateVendor(ctx, &v, ev), st.CreateSite(ctx, &site, ev)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	z := store.Zone{SiteID: site.ID, Name: "Packaging", SLT: 2, Window: domain.Window{Cron: "* * * * *", Duration: domain.Duration(time.Hour), TimeZone: "UTC", MaxParallel: 1}}
	if err := st.CreateZone(ctx, &z, ev); err != nil {
		t.Fatal(err)
	}
	p := store.Product{VendorID: v.ID, Name: "edge-gateway", Kind: "gateway"}
	if err := st.CreateProduct(ctx, &p, ev); err != nil {
		t.Fatal(err)
	}
	as := store.Asset{ZoneID: z.ID, ProductID: p.ID, Name: "gw-01", InstalledVersion: "1.0.0", Criticality: 1, Adapter: "agent"}
	if err := st.CreateAsset(ctx, &as, ev); err != nil {
		t.Fatal(err)
	}
	return as.ID
}
