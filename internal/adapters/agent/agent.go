// Package agent is the server side of the pull-agent adapter: each backup, deploy, verify or
// restore becomes a job in the database, signed with the server's ed25519 job-signing key,
// that the asset's agent fetches over HTTPS (api/agent.go), performs on its host and reports
// back. The adapter waits for the result — woken when the job finishes, and looking at the job
// and the agent's last contact every few seconds besides — telling the activity the device
// makes progress while the agent shows life and that it stalled when the agent has been silent
// too long, so that Temporal times the attempt out; the retried attempt finds the same job by
// its idempotency key and never queues a second one. A failure the agent reports as permanent (a change that
// did not finish holds the device lock) fails the operation at once, as over SSH.
package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// ObjectStore is what the adapter needs of the object store.
type ObjectStore interface {
	Put(ctx context.Context, key string, r io.Reader, expect artifacts.Expect, contentType string) (artifacts.Info, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

var _ ObjectStore = (*artifacts.Store)(nil)

// Options configure the adapter.
type Options struct {
	Store   *store.Store
	Objects ObjectStore
	// Key is the server's job-signing key.
	Key ed25519.PrivateKey
	// Poll is how often the adapter reads the job and the agent's last contact while it waits
	// (default 2 s). A result is seen at once: the store signals the job's end
	// (store.AgentJobFinishedSignal; from another process when it relays notifications).
	Poll time.Duration
	// StallAfter is how long an agent may stay silent — no poll, no progress report — before
	// the adapter reports a stall (default 30 s).
	StallAfter time.Duration
	// Expected is ExpectedDuration for every asset (default 5 minutes).
	Expected time.Duration
}

// Adapter queues jobs for pull agents and waits for their results.
type Adapter struct {
	opt Options
}

var _ adapters.Target = (*Adapter)(nil)

// New builds the adapter and records its public key in the store, where GET
// /api/v1/agent/signing-key finds it for agents' operators to pin.
func New(ctx context.Context, opt Options) (*Adapter, error) {
	if opt.Store == nil || opt.Objects == nil || len(opt.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("agent adapter: needs the store, the object store and an ed25519 job-signing key")
	}
	if opt.Poll <= 0 {
		opt.Poll = 2 * time.Second
	}
	if opt.StallAfter <= 0 {
		opt.StallAfter = 30 * time.Second
	}
	if opt.Expected <= 0 {
		opt.Expected = 5 * time.Minute
	}
	pub := opt.Key.Public().(ed25519.PublicKey)
	// Agents pin one key: a worker with another (a missed shared-key mount) would sign jobs
	// that every agent refuses, so it does not start.
	known, err := opt.Store.AgentSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent adapter: read the job-signing keys: %w", err)
	}
	for _, k := range known {
		if k.Fingerprint != signing.Fingerprint(pub) {
			return nil, fmt.Errorf("agent adapter: this worker's job-signing key %s is not the key %s that the other workers use and the agents pin; "+
				"give every worker the same key file (OTPATCH_AGENT_SIGNING_KEY)", signing.Fingerprint(pub), k.Fingerprint)
		}
	}
	ev := store.Event{Actor: "otpatch", Role: "system", Action: "agent.signing_key_registered", Details: map[string]any{"fingerprint": signing.Fingerprint(pub)}}
	if err := opt.Store.RegisterAgentSigningKey(ctx, signing.Fingerprint(pub), signing.EncodePublic(pub), ev); err != nil {
		return nil, fmt.Errorf("agent adapter: record the job-signing key: %w", err)
	}
	return &Adapter{opt: opt}, nil
}

// ExpectedDuration implements adapters.Target.
func (a *Adapter) ExpectedDuration(string) time.Duration { return a.opt.Expected }

// Backup has the agent archive the asset's backup paths and upload the archive; it returns the
// staged upload and the SHA-256 the agent's host computed.
func (a *Adapter) Backup(ctx context.Context, assetID string) (io.ReadCloser, string, error) {
	j, res, err := a.run(ctx, assetID, jobs.OpBackup, activityKey(ctx, "backup"), nil)
	if err != nil {
		return nil, "", err
	}
	if j.UploadKey == "" || j.UploadSHA256 != res.BackupSHA256 {
		return nil, "", fmt.Errorf("agent of %s reported backup %s but uploaded %q (SHA-256 %s)", assetID, res.BackupSHA256, j.UploadKey, j.UploadSHA256)
	}
	rc, err := a.opt.Objects.Open(ctx, j.UploadKey)
	if err != nil {
		return nil, "", err
	}
	return rc, res.BackupSHA256, nil
}

// Deploy has the agent download the patch artifact, check its SHA-256 on the host and install
// it, at most once per idempotency key.
func (a *Adapter) Deploy(ctx context.Context, assetID string, req adapters.DeployRequest) error {
	if req.IdempotencyKey == "" {
		return errors.New("agent adapter: deploy request has no idempotency key")
	}
	_, _, err := a.run(ctx, assetID, jobs.OpDeploy, req.IdempotencyKey, func(j *jobs.Job, row *store.AgentJob) error {
		key, err := a.artifactKey(ctx, req, row.ID)
		if err != nil {
			return err
		}
		verify, err := a.verifyStep(ctx, req)
		if err != nil {
			return err
		}
		r := req
		r.Artifact = nil
		j.Deploy, j.Verify, row.ArtifactKey = &r, verify, key
		return nil
	})
	return err
}

// verifyStep is the patch's verify step expecting the version req installs, or nil when the
// patch has none: with it, an agent whose restart cut the install short asks the device what
// it runs instead of installing again.
func (a *Adapter) verifyStep(ctx context.Context, req adapters.DeployRequest) (*adapters.VerifyRequest, error) {
	p, err := a.opt.Store.Patch(ctx, req.PatchID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := store.ManifestOf(p)
	if err != nil || m.Verify == "" {
		return nil, err
	}
	return &adapters.VerifyRequest{Expect: req.ToVersion, Step: m.Verify}, nil
}

// Verify has the agent run the verify step.
func (a *Adapter) Verify(ctx context.Context, assetID string, req adapters.VerifyRequest) (adapters.VerifyResult, error) {
	_, res, err := a.run(ctx, assetID, jobs.OpVerify, activityKey(ctx, "verify"), func(j *jobs.Job, _ *store.AgentJob) error {
		j.Verify = &req
		return nil
	})
	if err != nil {
		return adapters.VerifyResult{}, err
	}
	if res.Verify == nil {
		return adapters.VerifyResult{}, fmt.Errorf("agent of %s reported no verify result", assetID)
	}
	return *res.Verify, nil
}

// Restore stages the backup in the object store for the agent to download, and has the agent
// put it back, at most once per idempotency key.
func (a *Adapter) Restore(ctx context.Context, assetID string, req adapters.RestoreRequest) error {
	if req.IdempotencyKey == "" {
		return errors.New("agent adapter: restore request has no idempotency key")
	}
	_, _, err := a.run(ctx, assetID, jobs.OpRestore, req.IdempotencyKey, func(j *jobs.Job, row *store.AgentJob) error {
		if req.Backup == nil {
			return errors.New("agent adapter: restore request has no backup")
		}
		key := "agent-staging/" + row.ID + "/restore.tar.gz"
		info, err := a.opt.Objects.Put(ctx, key, req.Backup, artifacts.Expect{Size: req.BackupSize, SHA256: req.BackupSHA256}, "application/octet-stream")
		if err != nil {
			return fmt.Errorf("stage the backup for the agent: %w", err)
		}
		r := req
		r.Backup, r.BackupSize = nil, info.Size
		j.Restore, row.ArtifactKey = &r, key
		return nil
	})
	return err
}

// artifactKey is the object the agent downloads for a deploy: the patch's stored artifact,
// or — for a request naming none the patch has — a copy staged from req.Artifact.
func (a *Adapter) artifactKey(ctx context.Context, req adapters.DeployRequest, jobID string) (string, error) {
	arts, err := a.opt.Store.PatchArtifacts(ctx, req.PatchID)
	if err != nil {
		return "", err
	}
	for _, art := range arts {
		if (req.ArtifactName == "" || art.Name == req.ArtifactName) && art.SHA256 == req.ArtifactSHA256 {
			return art.ObjectKey, nil
		}
	}
	if req.Artifact == nil {
		return "", fmt.Errorf("patch %s has no artifact %q with SHA-256 %s for the agent to download", req.PatchID, req.ArtifactName, req.ArtifactSHA256)
	}
	rc, err := req.Artifact(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	key := "agent-staging/" + jobID + "/artifact"
	if _, err := a.opt.Objects.Put(ctx, key, rc, artifacts.Expect{Size: req.ArtifactSize, SHA256: req.ArtifactSHA256}, "application/octet-stream"); err != nil {
		return "", fmt.Errorf("stage the artifact for the agent: %w", err)
	}
	return key, nil
}

// activityKey names a backup or verify by the activity that asks for it, so that the
// activity's retries find their job; outside an activity every call is its own job.
func activityKey(ctx context.Context, op string) string {
	if !activity.IsActivity(ctx) {
		return op + "/" + store.NewID("call")
	}
	info := activity.GetInfo(ctx)
	return fmt.Sprintf("%s/%s/%s/%s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID, op)
}

// run finds the job of (asset, op, key) or queues it — fill completes the job from the
// caller's request — and waits for its result. A job that failed before is queued again as a
// new attempt: this call is a retry of the operation.
func (a *Adapter) run(ctx context.Context, assetID, op, key string, fill func(*jobs.Job, *store.AgentJob) error) (store.AgentJob, jobs.Result, error) {
	st := a.opt.Store
	row, err := st.AgentJobByKey(ctx, assetID, op, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if row, err = a.build(ctx, assetID, op, key, store.NewID("job"), 1, fill); err == nil {
			err = st.CreateAgentJob(ctx, &row, system("agent.job_queued"))
			if errors.Is(err, store.ErrConflict) { // a concurrent attempt queued it first
				row, err = st.AgentJobByKey(ctx, assetID, op, key)
			}
		}
	case err == nil && row.State == store.AgentJobFailed:
		// The new attempt is signed from this call's request, never from the stored payload, so
		// a payload changed in the database is not signed on retry.
		var next store.AgentJob
		if next, err = a.build(ctx, assetID, op, key, row.ID, row.Attempt+1, fill); err == nil {
			next.Error = row.Error
			if err = st.RequeueAgentJob(ctx, next, system("agent.job_requeued")); err == nil || errors.Is(err, store.ErrConflict) {
				row, err = st.AgentJob(ctx, row.ID)
			}
		}
	}
	if err != nil {
		return row, jobs.Result{}, err
	}
	return a.wait(ctx, row)
}

// build makes attempt of job id and signs it.
func (a *Adapter) build(ctx context.Context, assetID, op, key, id string, attempt int, fill func(*jobs.Job, *store.AgentJob) error) (store.AgentJob, error) {
	as, err := a.opt.Store.Asset(ctx, assetID)
	if err != nil {
		return store.AgentJob{}, err
	}
	row := store.AgentJob{ID: id, AssetID: assetID, Op: op, IdempotencyKey: key, Attempt: attempt}
	now := a.opt.Store.Now()
	j := jobs.Job{ID: id, AssetID: assetID, Op: op, IdempotencyKey: key, Attempt: attempt, IssuedAt: now, NotAfter: now.Add(jobs.Lifetime)}
	if as.Endpoint != nil {
		j.Endpoint = *as.Endpoint
	}
	if op == jobs.OpBackup && len(j.Endpoint.BackupPaths) == 0 {
		return row, fmt.Errorf("asset %s (%s) has no backup paths: set them in its endpoint so that its agent knows what to back up", as.Name, as.ID)
	}
	if fill != nil {
		if err := fill(&j, &row); err != nil {
			return row, err
		}
	}
	payload, sig, err := jobs.Sign(a.opt.Key, j)
	if err != nil {
		return row, err
	}
	row.Payload, row.Signature = string(payload), sig
	return row, nil
}

// wait waits for the job to end. While the agent is heard from — it polled or reported
// progress within StallAfter — the activity heartbeats; after that it stops, so Temporal
// times the attempt out and retries it.
func (a *Adapter) wait(ctx context.Context, row store.AgentJob) (store.AgentJob, jobs.Result, error) {
	st := a.opt.Store
	// Subscribed before the job is read again, so that a result recorded in between wakes it.
	finished, unsubscribe := st.AgentJobFinishedSignal(row.ID)
	defer unsubscribe()
	row, err := st.AgentJob(ctx, row.ID)
	if err != nil {
		return row, jobs.Result{}, err
	}
	t := time.NewTicker(a.opt.Poll)
	defer t.Stop()
	for {
		switch row.State {
		case store.AgentJobDone, store.AgentJobFailed:
			var res jobs.Result
			if row.Result != "" {
				if err := json.Unmarshal([]byte(row.Result), &res); err != nil {
					return row, res, fmt.Errorf("agent job %s: result: %w", row.ID, err)
				}
			}
			for _, o := range res.Output {
				adapters.Output(ctx, o.Stream, o.Text)
			}
			if row.State == store.AgentJobFailed {
				err := fmt.Errorf("agent of %s: %s failed: %s", row.AssetID, row.Op, row.Error)
				if res.Permanent {
					err = permanentError{err}
				}
				return row, res, err
			}
			return row, res, nil
		}
		last, err := st.AgentLastSeen(ctx, row.AssetID)
		if err != nil {
			return row, jobs.Result{}, err
		}
		if row.ProgressAt != nil && row.ProgressAt.After(last) {
			last = *row.ProgressAt
		}
		if last.IsZero() || st.Now().Sub(last) > a.opt.StallAfter {
			adapters.Stalled(ctx)
		} else {
			adapters.Progressed(ctx)
		}
		select {
		case <-ctx.Done():
			return row, jobs.Result{}, fmt.Errorf("waiting for the agent of %s to %s (job %s, %s): %w", row.AssetID, row.Op, row.ID, row.State, context.Cause(ctx))
		case <-finished:
		case <-t.C:
		}
		if row, err = st.AgentJob(ctx, row.ID); err != nil {
			return row, jobs.Result{}, err
		}
	}
}

// permanentError is a failure the agent reported as one no retry can fix (adapters.PermanentError).
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Permanent implements adapters.PermanentError.
func (e permanentError) Permanent() bool { return true }

var _ adapters.PermanentError = permanentError{}

func system(action string) store.Event {
	return store.Event{Actor: "otpatch", Role: "system", Action: action}
}
