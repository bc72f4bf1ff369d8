package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/refusals"
	"github.com/otpatch/otpatch/internal/store"
)

// TestAgentPollsAuthenticateWithoutQueries polls as idle agents do and checks what their
// tokens cost: on PostgreSQL, where the API process relays notifications, the polls after the
// first neither read the agent's tokens row nor write its last use — that is written with the
// agents' last contact, one statement for all. On SQLite every poll reads the token, as every
// request does. Either way a token whose credential is revoked is refused at the next request,
// in this process and (once its notification is here) in another, each refusal counted in the
// audit trail's tally of refused authentications.
func TestAgentPollsAuthenticateWithoutQueries(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn string) {
		f := newAgentFleet(t, dsn, 3)
		relayed := f.st.Dialect() == "postgres"
		ctx := context.Background()
		get := func(a fleetAgent, path string) int {
			t.Helper()
			req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+a.token)
			res, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		poll := func(a fleetAgent) int { t.Helper(); return get(a, "/api/v1/agent/jobs/next?wait=PT0S") }
		pollAll := func(rounds int) {
			t.Helper()
			for range rounds {
				for _, a := range f.agents {
					if got := poll(a); got != http.StatusNoContent {
						t.Fatalf("idle poll: %d, want 204", got)
					}
				}
			}
		}
		tokenReads := func(mark int) int {
			return len(f.log.Since(mark, func(sql string) bool {
				return strings.Contains(sql, "token_hash") && !strings.Contains(sql, "agent_credentials")
			}))
		}
		tokenWrites := func(mark int) int {
			return len(f.log.Since(mark, func(sql string) bool {
				return strings.HasPrefix(strings.TrimSpace(sql), "UPDATE") && strings.Contains(sql, "last_used_at")
			}))
		}

		pollAll(1)
		const rounds = 4
		polls := rounds * len(f.agents)
		mark := f.log.Len()
		pollAll(rounds)
		switch read, wrote := tokenReads(mark), tokenWrites(mark); {
		case relayed && read+wrote > 0:
			t.Errorf("%d idle polls of known agents read their tokens %d times and wrote their last use %d times; want none while notifications are relayed", polls, read, wrote)
		case !relayed && read != polls:
			t.Errorf("without a relay %d polls read the agents' tokens %d times, want %d", polls, read, polls)
		}

		// A minute on, each token's use is due again: the requests write it without a
		// relay, as always; with one, the liveness flush writes all in its one statement.
		f.ahead.Store(int64(2 * time.Minute))
		due := f.st.Now()
		mark = f.log.Len()
		pollAll(2)
		switch wrote := tokenWrites(mark); {
		case relayed && wrote != 0:
			t.Errorf("a minute on, %d polls wrote the tokens' last use %d times; want it kept for the flush", 2*len(f.agents), wrote)
		case !relayed && wrote != len(f.agents):
			t.Errorf("without a relay, a minute on, %d polls wrote the tokens' last use %d times, want %d (once a token a minute)", 2*len(f.agents), wrote, len(f.agents))
		}
		mark = f.log.Len()
		if err := f.st.FlushAgentLiveness(ctx); err != nil {
			t.Fatal(err)
		}
		if w := f.log.Since(mark, func(string) bool { return true }); relayed && len(w) != 1 {
			t.Errorf("the flush sent %d statements, want 1 for the agents' contacts and their tokens' uses: %q", len(w), w)
		}
		var stale []string
		f.st.DB().Table("tokens").Where("role = ? AND (last_used_at IS NULL OR last_used_at < ?)", string(store.RoleAgent), due).Pluck("id", &stale)
		if len(stale) != 0 {
			t.Errorf("after the flush agent tokens %v show a last use before the polls of %v", stale, due)
		}

		// Revoked in this process: refused at the next request, on every agent route.
		cred := func(a fleetAgent) string {
			t.Helper()
			cs, err := f.st.AgentCredentials(ctx, a.assetID)
			if err != nil || len(cs) != 1 {
				t.Fatalf("credentials of %s: %v, %v", a.assetID, cs, err)
			}
			return cs[0].ID
		}
		admin := store.Event{Actor: "ada.admin", Role: "admin", Action: "agent.credential_revoked"}
		if err := f.st.RevokeAgentCredential(ctx, f.agents[0].assetID, cred(f.agents[0]), admin); err != nil {
			t.Fatal(err)
		}
		if poll, me := poll(f.agents[0]), get(f.agents[0], "/api/v1/agent/me"); poll != http.StatusUnauthorized || me != http.StatusUnauthorized {
			t.Errorf("revoked here: poll %d, me %d; want 401", poll, me)
		}

		// Revoked in another process. Notifications arrive in commit order: once a job
		// queued after the revocation is signalled, the revocation is known here.
		other, err := store.Open(dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		queued, unsubscribe := f.st.AgentJobSignal(f.agents[2].assetID)
		defer unsubscribe()
		if err := other.RevokeAgentCredential(ctx, f.agents[1].assetID, cred(f.agents[1]), admin); err != nil {
			t.Fatal(err)
		}
		if relayed {
			j := store.AgentJob{ID: store.NewID("job"), AssetID: f.agents[2].assetID, Op: store.AgentOpDeploy, IdempotencyKey: "after-revocation", Payload: "{}", Signature: "sig"}
			if err := other.CreateAgentJob(ctx, &j, store.Event{Actor: "otpatch", Role: "system", Action: "agent.job_queued"}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-queued:
			case <-time.After(30 * time.Second): // bounds a hang only
				t.Fatal("the job queued after the revocation was not signalled")
			}
		}
		if got := poll(f.agents[1]); got != http.StatusUnauthorized {
			t.Errorf("revoked in another process: poll %d, want 401", got)
		}
		if got := poll(f.agents[2]); relayed && got != http.StatusOK {
			t.Errorf("the agent whose credential stands: poll %d, want 200 with its job", got)
		}

		// Each refusal is in the tally of refused authentications.
		if _, err := f.refusals.FlushAll(ctx); err != nil {
			t.Fatal(err)
		}
		evs, err := f.st.AuditEvents(ctx, store.AuditFilter{Action: refusals.Action})
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]int{}
		for _, ev := range evs {
			var d struct {
				Reasons map[string]int `json:"reasons"`
			}
			if err := json.Unmarshal([]byte(ev.Details), &d); err != nil {
				t.Fatal(err)
			}
			for r, n := range d.Reasons {
				reasons[r] += n
			}
		}
		if len(reasons) != 1 || reasons["bad_token"] != 3 {
			t.Errorf("refused authentications tallied %v, want bad_token 3 (two polls and one identity request)", reasons)
		}
	})
}
