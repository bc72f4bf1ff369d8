package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/testenv"
)

// While notifications are relayed (PostgreSQL), an agent's token authenticates from memory:
// its polls read no tokens row and write no last use of their own; the last use is written
// with the agents' last contact, one statement for all. A revocation — in this process, or in
// another once its notification arrives — and a cut relay end that: the token is read again.
// A personal token is read for every request everywhere, and without a relay (SQLite) so is
// every agent token.
func TestAgentTokensAuthenticateFromMemory(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		c := &clock{t: time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)}
		st, err := Open(dsn, Options{Now: c.Now})
		check(t, "Open", err)
		t.Cleanup(func() { st.Close() })
		_, err = st.Migrate(ctx)
		check(t, "Migrate", err)
		f := seed(t, st)
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		check(t, "ListenAgentJobs", st.ListenAgentJobs(lctx))
		relayed := st.Dialect() == "postgres"
		var creds []AgentCredential
		for _, secret := range []string{"otp_agent_here", "otp_agent_there", "otp_agent_cut"} {
			cred, err := st.IssueAgentCredential(ctx, f.plc1.ID, "ada.admin", secret, admin)
			check(t, "IssueAgentCredential", err)
			creds = append(creds, cred)
		}
		eve := person(t, st, "eve", domain.RoleEngineer, "")
		_, err = st.CreateToken(ctx, TokenSpec{UserID: eve, Name: "laptop", Role: domain.RoleEngineer, Secret: "otp_eve"}, admin)
		check(t, "CreateToken", err)
		log := testenv.LogStatements(t, st.DB())
		auth := func(secret string) Token {
			t.Helper()
			tok, a, err := st.AuthenticateToken(ctx, secret)
			if err != nil {
				t.Fatalf("AuthenticateToken(%s): %v", secret, err)
			}
			if secret != "otp_eve" && (a.Role != RoleAgent || tok.UserID != nil) {
				t.Fatalf("AuthenticateToken(%s) = %+v, %+v; want an agent", secret, tok, a)
			}
			return tok
		}
		// reads counts the tokens rows read and the last uses written one by one after mark.
		reads := func(mark int) (read, wrote int) {
			t.Helper()
			read = len(log.Since(mark, func(sql string) bool {
				return strings.Contains(sql, "token_hash") && !strings.Contains(sql, "agent_credentials")
			}))
			wrote = len(log.Since(mark, func(sql string) bool {
				return strings.HasPrefix(strings.TrimSpace(sql), "UPDATE") && strings.Contains(sql, "last_used_at")
			}))
			return read, wrote
		}
		const n = 5
		auth("otp_agent_here")
		auth("otp_eve")
		mark := log.Len()
		for range n {
			auth("otp_agent_here")
		}
		switch read, wrote := reads(mark); {
		case relayed && read+wrote > 0:
			t.Errorf("%d authentications of a known agent token read its row %d times and wrote its last use %d times while notifications are relayed; want none", n, read, wrote)
		case !relayed && read != n:
			t.Errorf("without a relay %d authentications of an agent token read it %d times, want %d", n, read, n)
		}
		mark = log.Len()
		for range n {
			auth("otp_eve")
		}
		if read, _ := reads(mark); read != n {
			t.Errorf("%d authentications of a personal token read it %d times, want %d: only agent tokens are kept", n, read, n)
		}

		// A minute on the token is used again: noted, as the table has it to the minute, and
		// written for every token by the liveness flush.
		c.mu.Lock()
		c.t = c.t.Add(2 * time.Minute)
		c.mu.Unlock()
		mark = log.Len()
		used := auth("otp_agent_here").LastUsedAt
		auth("otp_agent_here")
		_, wrote := reads(mark)
		switch {
		case used == nil:
			t.Fatal("an agent token authenticated without its last use")
		case relayed && wrote != 0:
			t.Errorf("a minute on, an agent token's use was written %d times by the requests; want it kept for the flush", wrote)
		case !relayed && wrote != 1:
			t.Errorf("without a relay a minute on, an agent token's use was written %d times, want 1", wrote)
		}
		mark = log.Len()
		check(t, "FlushAgentLiveness", st.FlushAgentLiveness(ctx))
		if relayed {
			if w := log.Since(mark, func(string) bool { return true }); len(w) != 1 {
				t.Errorf("the flush sent %d statements, want 1 for contacts and token uses: %q", len(w), w)
			}
		}
		var row Token
		check(t, "read the token", st.DB().Take(&row, "id = ?", creds[0].TokenID).Error)
		if row.LastUsedAt == nil || !row.LastUsedAt.Equal(*used) {
			t.Errorf("after the flush the table has last_used_at %v, want %v", row.LastUsedAt, *used)
		}

		// Revoked in this process: refused from the next request on.
		auth("otp_agent_there")
		auth("otp_agent_cut")
		check(t, "RevokeAgentCredential", st.RevokeAgentCredential(ctx, f.plc1.ID, creds[0].ID, admin))
		if _, _, err := st.AuthenticateToken(ctx, "otp_agent_here"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a token revoked in this process still authenticates: %v", err)
		}

		// Revoked in another process: refused once its notification is here. Notifications
		// arrive in commit order: once a job queued after the revocation is signalled, the
		// revocation is known. Without a relay every request reads, so it is refused at once.
		other := openStore(t, dsn)
		queued, unsubscribe := st.AgentJobSignal(f.plc2.ID)
		defer unsubscribe()
		check(t, "RevokeAgentCredential in another process", other.RevokeAgentCredential(ctx, f.plc1.ID, creds[1].ID, admin))
		if relayed {
			j := AgentJob{ID: NewID("job"), AssetID: f.plc2.ID, Op: AgentOpDeploy, IdempotencyKey: "after-revocation", Payload: "{}", Signature: "sig"}
			check(t, "CreateAgentJob in another process", other.CreateAgentJob(ctx, &j, Event{Actor: "otpatch", Role: "system", Action: "agent.job_queued"}))
			select {
			case <-queued:
			case <-time.After(30 * time.Second): // bounds a hang only
				t.Fatal("the job queued after the revocation was not signalled")
			}
		}
		if _, _, err := st.AuthenticateToken(ctx, "otp_agent_there"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a token revoked in another process still authenticates: %v", err)
		}
		if !relayed {
			return
		}

		// The relay is cut and comes back: the kept tokens are read again, once.
		var pids []int64
		check(t, "find the listener", st.DB().Raw(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&pids).Error)
		if len(pids) == 0 {
			t.Fatal("no listening connection to cut")
		}
		gaps := func() (uint64, bool) {
			st.jobWaiters.mu.Lock()
			defer st.jobWaiters.mu.Unlock()
			return st.jobWaiters.gaps, st.jobWaiters.relays > 0
		}
		cut, _ := gaps()
		check(t, "cut the listener", st.DB().Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ?`, pids).Error)
		// Two gaps: when the relay is cut, and when it is back; every waiter wakes at each.
		for g, relaying := gaps(); g < cut+2 || !relaying; g, relaying = gaps() {
			select {
			case <-queued:
			case <-time.After(30 * time.Second): // bounds a hang only
				t.Fatal("the relay was not cut, or did not come back")
			}
		}
		mark = log.Len()
		auth("otp_agent_cut")
		first, _ := reads(mark)
		mark = log.Len()
		auth("otp_agent_cut")
		if again, _ := reads(mark); first != 1 || again != 0 {
			t.Errorf("two authentications after the relay came back read the token %d and %d times, want 1 and 0", first, again)
		}
	})
}
