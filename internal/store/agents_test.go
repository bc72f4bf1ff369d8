package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

func TestAgentCredentials(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := newStore(t, dsn)
		f := seed(t, st)

		if _, err := st.IssueAgentCredential(ctx, "ast_missing", "ada.admin", "otp_x", admin); !errors.Is(err, ErrNotFound) {
			t.Fatalf("credential for a missing asset: %v, want ErrNotFound", err)
		}
		c, err := st.IssueAgentCredential(ctx, f.plc1.ID, "ada.admin", "otp_agent-secret", Event{Actor: "ada.admin", Role: "admin", Action: "agent.credential_issued"})
		check(t, "IssueAgentCredential", err)
		if ev := lastEvent(t, st); ev.Action != "agent.credential_issued" || ev.SubjectID != c.ID || ev.AssetID != f.plc1.ID {
			t.Errorf("issue event = %+v", ev)
		}
		var hashes []string
		st.DB().Table("tokens").Where("id = ?", c.TokenID).Pluck("token_hash", &hashes)
		if len(hashes) != 1 || hashes[0] != HashToken("otp_agent-secret") {
			t.Errorf("the token row keeps %v, want only the token's hash", hashes)
		}

		// The token is an agent's: it resolves to its credential, and as a bearer token to role agent.
		got, err := st.AgentBySecret(ctx, "otp_agent-secret")
		if err != nil || got.ID != c.ID || got.AssetID != f.plc1.ID {
			t.Fatalf("AgentBySecret = %+v, %v", got, err)
		}
		if a, err := st.Authenticate(ctx, "otp_agent-secret"); err != nil || a.Role != RoleAgent {
			t.Errorf("Authenticate(agent token) = %+v, %v; want role agent", a, err)
		}
		if _, err := st.AgentBySecret(ctx, "otp_other"); !errors.Is(err, ErrNotFound) {
			t.Errorf("AgentBySecret(unknown) = %v", err)
		}
		eve := person(t, st, "eve", domain.RoleEngineer, "")
		_, err = st.CreateToken(ctx, TokenSpec{UserID: eve, Name: "laptop", Role: domain.RoleEngineer, Secret: "otp_user-secret"}, admin)
		check(t, "CreateToken", err)
		if _, err := st.AgentBySecret(ctx, "otp_user-secret"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a user token resolves to an agent credential: %v", err)
		}

		if last, _ := st.AgentLastSeen(ctx, f.plc1.ID); !last.IsZero() {
			t.Errorf("last seen before any poll: %v", last)
		}
		check(t, "TouchAgent", st.TouchAgent(ctx, c.ID))
		if last, _ := st.AgentLastSeen(ctx, f.plc1.ID); last.IsZero() {
			t.Error("last seen not recorded")
		}

		if err := st.RevokeAgentCredential(ctx, f.plc2.ID, c.ID, admin); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoking through another asset: %v, want ErrNotFound", err)
		}
		check(t, "RevokeAgentCredential", st.RevokeAgentCredential(ctx, f.plc1.ID, c.ID, Event{Actor: "ada.admin", Role: "admin", Action: "agent.credential_revoked"}))
		n := auditCount(t, st)
		check(t, "revoke again", st.RevokeAgentCredential(ctx, f.plc1.ID, c.ID, admin))
		if auditCount(t, st) != n {
			t.Error("revoking twice wrote another event")
		}
		if _, err := st.AgentBySecret(ctx, "otp_agent-secret"); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoked credential still resolves: %v", err)
		}
		if _, err := st.Authenticate(ctx, "otp_agent-secret"); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoked agent token still authenticates: %v", err)
		}
		cs, err := st.AgentCredentials(ctx, f.plc1.ID)
		if err != nil || len(cs) != 1 || cs[0].RevokedAt == nil || cs[0].LastSeenAt == nil {
			t.Errorf("AgentCredentials = %+v, %v", cs, err)
		}
	})
}

func TestAgentJobs(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := newStore(t, dsn)
		f := seed(t, st)
		sys := Event{Actor: "otpatch", Role: "system", Action: "agent.job_queued"}

		j := AgentJob{ID: NewID("job"), AssetID: f.plc1.ID, Op: AgentOpDeploy, IdempotencyKey: "cmp_1/" + f.plc1.ID + "/deploy", Payload: `{}`, Signature: "sig"}
		check(t, "CreateAgentJob", st.CreateAgentJob(ctx, &j, sys))
		dup := AgentJob{ID: NewID("job"), AssetID: f.plc1.ID, Op: AgentOpDeploy, IdempotencyKey: j.IdempotencyKey, Payload: `{}`, Signature: "sig"}
		if err := st.CreateAgentJob(ctx, &dup, sys); !errors.Is(err, ErrConflict) {
			t.Fatalf("a second job with the same key: %v, want ErrConflict", err)
		}
		if got, err := st.AgentJobByKey(ctx, f.plc1.ID, AgentOpDeploy, j.IdempotencyKey); err != nil || got.ID != j.ID {
			t.Fatalf("AgentJobByKey = %+v, %v", got, err)
		}
		// The same key for another operation or asset is another job.
		other := AgentJob{ID: NewID("job"), AssetID: f.plc2.ID, Op: AgentOpDeploy, IdempotencyKey: j.IdempotencyKey, Payload: `{}`, Signature: "sig"}
		check(t, "CreateAgentJob other asset", st.CreateAgentJob(ctx, &other, sys))

		if _, ok, err := st.NextAgentJob(ctx, f.sisPLC.ID, sys); ok || err != nil {
			t.Fatalf("NextAgentJob for an asset without jobs = %v, %v", ok, err)
		}
		// Concurrent polls hand the job out, and it starts once.
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, ok, err := st.NextAgentJob(ctx, f.plc1.ID, Event{Actor: "agent:x", Role: "agent", Action: "agent.job_started"})
				if err != nil || !ok || got.ID != j.ID || got.State != AgentJobRunning {
					t.Errorf("NextAgentJob = %+v, %v, %v", got, ok, err)
				}
			}()
		}
		wg.Wait()
		evs, _ := st.AuditEvents(ctx, AuditFilter{Action: "agent.job_started"})
		if len(evs) != 1 {
			t.Errorf("%d agent.job_started events, want 1", len(evs))
		}
		check(t, "AgentJobProgress", st.AgentJobProgress(ctx, j.ID))

		if err := st.FinishAgentJob(ctx, j.ID, 2, AgentJobDone, `{"ok":true}`, "", Event{Actor: "agent:x", Role: "agent"}); !errors.Is(err, ErrConflict) {
			t.Errorf("result of another attempt: %v, want ErrConflict", err)
		}
		check(t, "FinishAgentJob", st.FinishAgentJob(ctx, j.ID, 1, AgentJobFailed, `{"ok":false}`, "install step failed", Event{Actor: "agent:x", Role: "agent"}))
		n := auditCount(t, st)
		check(t, "FinishAgentJob again", st.FinishAgentJob(ctx, j.ID, 1, AgentJobFailed, `{"ok":false}`, "install step failed", Event{Actor: "agent:x", Role: "agent"}))
		if auditCount(t, st) != n {
			t.Error("reporting the same result again wrote another event")
		}
		if err := st.FinishAgentJob(ctx, j.ID, 1, AgentJobDone, `{"ok":true}`, "", Event{Actor: "agent:x", Role: "agent"}); !errors.Is(err, ErrConflict) {
			t.Errorf("a different result for a finished job: %v, want ErrConflict", err)
		}
		if ev := lastEvent(t, st); ev.Action != "agent.job_failed" || ev.AssetID != f.plc1.ID {
			t.Errorf("result event = %+v", ev)
		}
		if _, ok, _ := st.NextAgentJob(ctx, f.plc1.ID, sys); ok {
			t.Error("a failed job is handed out again before it is requeued")
		}

		j.Attempt, j.Payload, j.Signature = 2, `{"attempt":2}`, "sig2"
		check(t, "RequeueAgentJob", st.RequeueAgentJob(ctx, j, Event{Actor: "otpatch", Role: "system", Action: "agent.job_requeued"}))
		if err := st.RequeueAgentJob(ctx, j, sys); !errors.Is(err, ErrConflict) {
			t.Errorf("requeueing a queued job: %v, want ErrConflict", err)
		}
		got, ok, err := st.NextAgentJob(ctx, f.plc1.ID, sys)
		if err != nil || !ok || got.Attempt != 2 || got.Payload != `{"attempt":2}` || got.Error != "" {
			t.Fatalf("requeued job = %+v, %v, %v", got, ok, err)
		}
		check(t, "SetAgentJobUpload", st.SetAgentJobUpload(ctx, got, "agent-staging/x", "ab", 10, Event{Actor: "agent:x", Role: "agent", Action: "agent.backup_uploaded"}))
		check(t, "FinishAgentJob attempt 2", st.FinishAgentJob(ctx, j.ID, 2, AgentJobDone, `{"ok":true}`, "", Event{Actor: "agent:x", Role: "agent"}))
		if err := st.SetAgentJobUpload(ctx, got, "agent-staging/y", "cd", 10, admin); !errors.Is(err, ErrConflict) {
			t.Errorf("upload to a finished job: %v, want ErrConflict", err)
		}
		done, _ := st.AgentJob(ctx, j.ID)
		if done.State != AgentJobDone || done.UploadSHA256 != "ab" || done.FinishedAt == nil {
			t.Errorf("finished job = %+v", done)
		}

		check(t, "RegisterAgentSigningKey", st.RegisterAgentSigningKey(ctx, "SHA256:aa", "cHVi", sys))
		n = auditCount(t, st)
		check(t, "RegisterAgentSigningKey again", st.RegisterAgentSigningKey(ctx, "SHA256:aa", "cHVi", sys))
		if keys, err := st.AgentSigningKeys(ctx); err != nil || len(keys) != 1 || auditCount(t, st) != n {
			t.Errorf("AgentSigningKeys = %+v, %v", keys, err)
		}
		res, err := st.VerifyAudit(ctx)
		if err != nil || !res.OK {
			t.Errorf("audit chain after agent jobs: %+v, %v", res, err)
		}
	})
}

// Queuing a job wakes the long polls of its asset, and only those: in this process after the
// commit, and on PostgreSQL in another process (another Store on the same database) through
// NOTIFY, which ListenAgentJobs relays.
func TestAgentJobSignal(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		f := seed(t, st)
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if err := st.ListenAgentJobs(lctx); err != nil {
			t.Fatal(err)
		}
		mine, unsubscribe := st.AgentJobSignal(f.plc1.ID)
		defer unsubscribe()
		other, unsubscribeOther := st.AgentJobSignal(f.plc2.ID)
		defer unsubscribeOther()

		queue := func(on *Store, key string) {
			t.Helper()
			j := &AgentJob{ID: NewID("job"), AssetID: f.plc1.ID, Op: AgentOpDeploy, IdempotencyKey: key, Payload: "{}", Signature: "sig"}
			if err := on.CreateAgentJob(ctx, j, Event{Actor: "otpatch", Role: "system", Action: "agent.job_queued"}); err != nil {
				t.Fatal(err)
			}
		}
		waitSignal := func(what string) {
			t.Helper()
			select {
			case <-mine:
			case <-time.After(30 * time.Second): // bounds a hang only
				t.Fatalf("%s: the asset's poll was not woken", what)
			}
		}
		if st.Dialect() == "postgres" {
			// First, so that nothing this process queued can be the signal that arrives.
			worker := openStore(t, dsn) // another process, as far as signals go
			queue(worker, "k1")
			waitSignal("a job queued by another process")
		}
		queue(st, "k2")
		waitSignal("a job queued by this process")
		select {
		case <-other:
			t.Fatal("a job of one asset woke the poll of another")
		default:
		}
	})
}
