package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/testenv"
)

// Agents heard from — by a request, or waiting in a long poll — cost no write each: their last
// contact is kept in memory, where this process's readers see it, and written for all of them
// in one statement, never moving back.
func TestAgentLivenessWrittenTogether(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := newStore(t, dsn)
		f := seed(t, st)
		log := testenv.LogStatements(t, st.DB())
		var creds []AgentCredential
		for i := range 40 {
			asset := []string{f.plc1.ID, f.plc2.ID, f.sisPLC.ID}[i%3]
			c, err := st.IssueAgentCredential(ctx, asset, "ada.admin", fmt.Sprintf("otp_agent_%d", i), admin)
			check(t, "IssueAgentCredential", err)
			creds = append(creds, c)
		}
		before := log.Len()
		for range 3 {
			for _, c := range creds[1:] {
				check(t, "TouchAgent", st.TouchAgent(ctx, c.ID))
			}
		}
		waiting := st.AgentWaiting(creds[0].ID)
		if w := log.Since(before, isLivenessWrite); len(w) != 0 {
			t.Fatalf("contacts were written one by one: %d statements such as %q", len(w), w[0])
		}
		ended, cancel := context.WithCancel(ctx)
		cancel()
		if err := st.TouchAgent(ended, creds[1].ID); !errors.Is(err, context.Canceled) {
			t.Errorf("TouchAgent for an ended request = %v, want its context's error", err)
		}

		// Before the write, this process's readers see the contacts; the table has none.
		listed, err := st.AgentCredentials(ctx, f.plc2.ID)
		check(t, "AgentCredentials", err)
		for _, c := range listed {
			if c.LastSeenAt == nil {
				t.Fatalf("credential %s listed without its agent's contact", c.ID)
			}
		}
		if n := written(t, st); len(n) != 0 {
			t.Fatalf("last_seen_at written before the flush: %v", n)
		}
		want := map[string]time.Time{}
		for _, c := range listed {
			want[c.ID] = *c.LastSeenAt
		}

		before = log.Len()
		check(t, "FlushAgentLiveness", st.FlushAgentLiveness(ctx))
		if w := log.Since(before, isLivenessWrite); len(w) != 1 {
			t.Errorf("%d agents' contacts written in %d statements, want 1", len(creds), len(w))
		}
		got := written(t, st)
		if len(got) != len(creds) {
			t.Errorf("%d of %d agents have a last contact after the flush", len(got), len(creds))
		}
		for id, at := range want {
			if id != creds[0].ID && !got[id].Equal(at) {
				t.Errorf("credential %s: written %v, listed before %v", id, got[id], at)
			}
		}

		// An agent still waiting is written again; nothing else is, and once nobody was heard
		// from nothing is written at all.
		before = log.Len()
		check(t, "FlushAgentLiveness while one agent waits", st.FlushAgentLiveness(ctx))
		if after := written(t, st); !after[creds[0].ID].After(got[creds[0].ID]) || !after[creds[1].ID].Equal(got[creds[1].ID]) {
			t.Errorf("second flush: waiting agent %v → %v, idle agent %v → %v", got[creds[0].ID], after[creds[0].ID], got[creds[1].ID], after[creds[1].ID])
		}
		waiting()
		check(t, "FlushAgentLiveness after the long poll", st.FlushAgentLiveness(ctx))
		check(t, "FlushAgentLiveness with nobody heard from", st.FlushAgentLiveness(ctx))
		if w := log.Since(before, isLivenessWrite); len(w) != 2 {
			t.Errorf("three flushes, the last with nobody heard from, wrote %d statements, want 2", len(w))
		}

		if st.Dialect() == "postgres" {
			// Another API process heard from the agent later: an older contact does not move
			// the time back.
			later := st.Now().Add(time.Hour)
			other, err := Open(dsn, Options{Now: func() time.Time { return later }})
			check(t, "Open", err)
			defer other.Close()
			check(t, "TouchAgent in another process", other.TouchAgent(ctx, creds[1].ID))
			check(t, "FlushAgentLiveness in another process", other.FlushAgentLiveness(ctx))
			check(t, "TouchAgent", st.TouchAgent(ctx, creds[1].ID))
			check(t, "FlushAgentLiveness", st.FlushAgentLiveness(ctx))
			if at := written(t, st)[creds[1].ID]; !at.Equal(later) {
				t.Errorf("last contact %v after an older one was written; want the later %v", at, later)
			}
		}
	})
}

// While notifications are relayed (PostgreSQL), an idle agent's polls read nothing: an asset
// found without a job is not looked at again until a job is queued for it, in this process or
// another, and a token resolves from memory until its credential is revoked. When the relay
// is cut, every waiter wakes and reads again. Without a relay (SQLite, where another process
// may share the file), every poll reads.
func TestAgentIdleReads(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := newStore(t, dsn)
		f := seed(t, st)
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		check(t, "ListenAgentJobs", st.ListenAgentJobs(lctx))
		relayed := st.Dialect() == "postgres"
		cred, err := st.IssueAgentCredential(ctx, f.plc1.ID, "ada.admin", "otp_idle", admin)
		check(t, "IssueAgentCredential", err)
		log := testenv.LogStatements(t, st.DB())
		agentReads := func(sql string) bool {
			return strings.Contains(sql, "agent_jobs") || strings.Contains(sql, "agent_credentials")
		}
		sys := Event{Actor: "otpatch", Role: "system", Action: "agent.job_queued"}
		poll := func() (AgentJob, bool) {
			t.Helper()
			c, err := st.AgentBySecret(ctx, "otp_idle")
			if err != nil || c.ID != cred.ID {
				t.Fatalf("AgentBySecret = %+v, %v", c, err)
			}
			j, ok, err := st.NextAgentJob(ctx, c.AssetID, Event{Actor: "agent:x", Role: "agent", Action: "agent.job_started"})
			check(t, "NextAgentJob", err)
			return j, ok
		}
		if _, ok := poll(); ok {
			t.Fatal("a job for an asset that has none")
		}
		first := log.Len()
		for range 5 {
			poll()
		}
		switch reads := log.Since(first, agentReads); {
		case relayed && len(reads) > 0:
			t.Errorf("idle polls read again while notifications are relayed: %q", reads)
		case !relayed && len(reads) != 10:
			t.Errorf("without a relay 5 idle polls made %d reads, want 10 (credential and jobs, each poll)", len(reads))
		}

		signal := func(assetID string) func(what string) {
			ch, unsubscribe := st.AgentJobSignal(assetID)
			t.Cleanup(unsubscribe)
			return func(what string) {
				t.Helper()
				select {
				case <-ch:
				case <-time.After(30 * time.Second): // bounds a hang only
					t.Fatalf("%s: the poll of %s was not woken", what, assetID)
				}
			}
		}
		queue := func(on *Store, assetID, key string) AgentJob {
			t.Helper()
			j := AgentJob{ID: NewID("job"), AssetID: assetID, Op: AgentOpDeploy, IdempotencyKey: key, Payload: "{}", Signature: "sig"}
			check(t, "CreateAgentJob", on.CreateAgentJob(ctx, &j, sys))
			return j
		}
		pickUp := func(what string, j AgentJob) {
			t.Helper()
			if got, ok := poll(); !ok || got.ID != j.ID {
				t.Fatalf("poll after %s = %+v, %v; want job %s", what, got, ok, j.ID)
			}
			check(t, "FinishAgentJob", st.FinishAgentJob(ctx, j.ID, 1, AgentJobDone, `{"ok":true}`, "", Event{Actor: "agent:x", Role: "agent"}))
			if _, ok := poll(); ok {
				t.Fatalf("after %s: a finished job is handed out again", what)
			}
		}
		waitPLC1 := signal(f.plc1.ID)
		var other *Store
		if relayed {
			// First, so that no signal of this process's own job can be the one that arrives.
			other = openStore(t, dsn) // another process, as far as notifications go
			j := queue(other, f.plc1.ID, "there")
			waitPLC1("a job queued by another process")
			pickUp("a job queued by another process", j)
		}
		j := queue(st, f.plc1.ID, "here")
		waitPLC1("a job queued in this process")
		pickUp("a job queued in this process", j)
		if !relayed {
			return
		}

		// Revoked in another process. Notifications arrive in commit order: once a job queued
		// after the revocation is signalled, the revocation is known.
		waitPLC2 := signal(f.plc2.ID)
		check(t, "RevokeAgentCredential", other.RevokeAgentCredential(ctx, f.plc1.ID, cred.ID, admin))
		queue(other, f.plc2.ID, "after-revocation")
		waitPLC2("a job queued after the revocation")
		if _, err := st.AgentBySecret(ctx, "otp_idle"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a credential revoked by another process still resolves: %v", err)
		}

		// The relay is cut and comes back: every waiter wakes, and what was known idle is read
		// again — a job queued meanwhile would have been missed.
		look := func() int {
			t.Helper()
			before := log.Len()
			if _, ok, err := st.NextAgentJob(ctx, f.sisPLC.ID, sys); ok || err != nil {
				t.Fatalf("NextAgentJob(%s) = %v, %v", f.sisPLC.ID, ok, err)
			}
			return len(log.Since(before, agentReads))
		}
		if first, again := look(), look(); first != 1 || again != 0 {
			t.Fatalf("two looks for an idle asset read %d and %d times, want 1 and 0", first, again)
		}
		waitSIS := signal(f.sisPLC.ID)
		var pids []int64
		check(t, "find the listener", st.DB().Raw(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&pids).Error)
		if len(pids) == 0 {
			t.Fatal("no listening connection to cut")
		}
		check(t, "cut the listener", st.DB().Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ?`, pids).Error)
		for relaying := false; !relaying; {
			waitSIS("the relay was cut or came back")
			st.jobWaiters.mu.Lock()
			relaying = st.jobWaiters.relays > 0
			st.jobWaiters.mu.Unlock()
		}
		if first, again := look(), look(); first != 1 || again != 0 {
			t.Errorf("two looks for the idle asset after the relay came back read %d and %d times, want 1 and 0", first, again)
		}
	})
}

// written is each credential's last_seen_at as the table has it.
func written(t *testing.T, st *Store) map[string]time.Time {
	t.Helper()
	var rows []AgentCredential
	check(t, "read last_seen_at", st.DB().Where("last_seen_at IS NOT NULL").Find(&rows).Error)
	out := map[string]time.Time{}
	for _, c := range rows {
		out[c.ID] = c.LastSeenAt.UTC()
	}
	return out
}

// isLivenessWrite tells a statement that writes agents' last contact (with the last use of the
// agent tokens that authenticated from memory, on PostgreSQL).
func isLivenessWrite(sql string) bool {
	sql = strings.ToUpper(strings.TrimSpace(sql))
	return (strings.HasPrefix(sql, "UPDATE") || strings.HasPrefix(sql, "WITH")) && strings.Contains(sql, "AGENT_CREDENTIALS")
}
