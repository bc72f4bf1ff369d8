package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/otpatch/otpatch/internal/domain"
)

// Pull agents (migration 0012): credentials bound to one asset, the jobs the agent adapter
// queues for them, and the public keys jobs are signed with.

// RoleAgent is the role of an agent credential's token. No user route allows it, and the agent
// routes allow nothing else.
const RoleAgent domain.Role = "agent"

// AgentCredential lets one pull agent act for one asset. Its token is a row of tokens with
// role agent; only the token's SHA-256 is stored.
type AgentCredential struct {
	ID         string     `json:"id"`
	AssetID    string     `json:"asset_id"`
	TokenID    string     `json:"-"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
}

// TableName maps AgentCredential to its table.
func (AgentCredential) TableName() string { return "agent_credentials" }

// Agent job operations and states.
const (
	AgentOpBackup  = "backup"
	AgentOpDeploy  = "deploy"
	AgentOpVerify  = "verify"
	AgentOpRestore = "restore"

	AgentJobQueued  = "queued"
	AgentJobRunning = "running"
	AgentJobDone    = "done"
	AgentJobFailed  = "failed"
)

// AgentJob is one operation a pull agent performs on its asset.
type AgentJob struct {
	ID             string     `json:"id"`
	AssetID        string     `json:"asset_id"`
	Op             string     `json:"op"`
	IdempotencyKey string     `json:"idempotency_key"`
	Attempt        int        `json:"attempt"`
	Payload        string     `json:"payload"`
	Signature      string     `json:"signature"`
	State          string     `json:"state"`
	Result         string     `json:"result,omitempty"`
	Error          string     `json:"error,omitempty"`
	ArtifactKey    string     `json:"-"`
	UploadKey      string     `json:"-"`
	UploadSHA256   string     `json:"upload_sha256,omitempty" gorm:"column:upload_sha256"`
	UploadSize     int64      `json:"upload_size,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	ProgressAt     *time.Time `json:"progress_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
}

// TableName maps AgentJob to its table.
func (AgentJob) TableName() string { return "agent_jobs" }

// Finished reports whether the job is done or failed.
func (j AgentJob) Finished() bool { return j.State == AgentJobDone || j.State == AgentJobFailed }

// AgentSigningKey is a public key jobs are signed with.
type AgentSigningKey struct {
	Fingerprint string    `json:"fingerprint"`
	PublicKey   string    `json:"public_key"`
	CreatedAt   time.Time `json:"created_at"`
}

// TableName maps AgentSigningKey to its table.
func (AgentSigningKey) TableName() string { return "agent_signing_keys" }

// IssueAgentCredential binds a new agent token (secret) to an asset. ev is completed and
// appended in the same transaction (agent.credential_issued). An unknown asset is ErrNotFound.
func (s *Store) IssueAgentCredential(ctx context.Context, assetID, createdBy, secret string, ev Event) (AgentCredential, error) {
	now := s.Now()
	c := AgentCredential{ID: NewID("agc"), AssetID: assetID, CreatedBy: createdBy, CreatedAt: now}
	t := Token{ID: NewID("tok"), Name: "agent:" + c.ID, Role: string(RoleAgent), TokenHash: HashToken(secret), CreatedAt: now}
	c.TokenID = t.ID
	ev.SubjectType, ev.SubjectID, ev.AssetID = "agent_credential", c.ID, assetID
	ev.Details = map[string]any{"asset_id": assetID, "token_id": t.ID}
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Asset{}).Where("id = ?", assetID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("asset %s: %w", assetID, ErrNotFound)
		}
		if err := tx.Create(&t).Error; err != nil {
			return err
		}
		return tx.Create(&c).Error
	})
	return c, err
}

// RevokeAgentCredential revokes an asset's credential and its token (agent.credential_revoked).
// A credential that is not the asset's is ErrNotFound; revoking twice changes nothing.
func (s *Store) RevokeAgentCredential(ctx context.Context, assetID, credID string, ev Event) error {
	ev.SubjectType, ev.SubjectID, ev.AssetID = "agent_credential", credID, assetID
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		var c AgentCredential
		if err := tx.Take(&c, "id = ? AND asset_id = ?", credID, assetID).Error; err != nil {
			return notFound(err, "agent credential "+credID+" of asset "+assetID)
		}
		if c.RevokedAt != nil {
			return ErrUnchanged
		}
		now := s.Now()
		if err := tx.Model(&AgentCredential{}).Where("id = ?", c.ID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		if err := tx.Model(&Token{}).Where("id = ?", c.TokenID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		return s.notify(tx, agentRevokedChannel, c.ID)
	})
	if err == nil {
		s.forgetAgentCredential(credID)
	}
	return err
}

// AgentCredentials lists an asset's credentials, newest first, each with when its agent was
// last heard from (agent_liveness.go).
func (s *Store) AgentCredentials(ctx context.Context, assetID string) ([]AgentCredential, error) {
	out := []AgentCredential{}
	if err := s.db.WithContext(ctx).Where("asset_id = ?", assetID).Order("created_at DESC").Find(&out).Error; err != nil {
		return out, err
	}
	for i := range out {
		out[i] = s.withLiveness(out[i])
	}
	return out, nil
}

// AgentBySecret resolves an agent token to its valid credential; anything else is ErrNotFound.
// Its LastSeenAt is left empty: AgentCredentials and AgentLastSeen tell when its agent was last
// heard from. While notifications are relayed (agent_notify.go) a token resolved before is
// answered from memory until its credential is revoked.
func (s *Store) AgentBySecret(ctx context.Context, secret string) (AgentCredential, error) {
	hash := HashToken(secret)
	c, look, ok := s.jobWaiters.cachedAgent(hash)
	if ok {
		return c, nil
	}
	err := s.db.WithContext(ctx).Table("agent_credentials").Select("agent_credentials.*").
		Joins("JOIN tokens ON tokens.id = agent_credentials.token_id").
		Where("tokens.token_hash = ? AND tokens.revoked_at IS NULL AND agent_credentials.revoked_at IS NULL AND tokens.role = ?", hash, string(RoleAgent)).
		Take(&c).Error
	if err != nil {
		return AgentCredential{}, notFound(err, "agent credential")
	}
	c.LastSeenAt = nil
	s.jobWaiters.keepAgent(hash, c, look)
	return c, nil
}

// AgentLastSeen is when an agent of the asset was last heard from (zero: never).
func (s *Store) AgentLastSeen(ctx context.Context, assetID string) (time.Time, error) {
	var cs []AgentCredential
	if err := s.db.WithContext(ctx).Where("asset_id = ? AND revoked_at IS NULL", assetID).Find(&cs).Error; err != nil {
		return time.Time{}, err
	}
	var last time.Time
	for _, c := range cs {
		if c = s.withLiveness(c); c.LastSeenAt != nil && c.LastSeenAt.After(last) {
			last = *c.LastSeenAt
		}
	}
	return last, nil
}

// AgentJobByKey finds the job of an operation by its idempotency key.
func (s *Store) AgentJobByKey(ctx context.Context, assetID, op, key string) (AgentJob, error) {
	var j AgentJob
	err := s.db.WithContext(ctx).Take(&j, "asset_id = ? AND op = ? AND idempotency_key = ?", assetID, op, key).Error
	return j, notFound(err, "agent job "+key)
}

// AgentJob loads a job.
func (s *Store) AgentJob(ctx context.Context, id string) (AgentJob, error) {
	var j AgentJob
	return j, notFound(s.db.WithContext(ctx).Take(&j, "id = ?", id).Error, "agent job "+id)
}

func jobEvent(ev Event, j AgentJob, details map[string]any) Event {
	ev.SubjectType, ev.SubjectID, ev.AssetID = "agent_job", j.ID, j.AssetID
	d := map[string]any{"op": j.Op, "idempotency_key": j.IdempotencyKey, "attempt": j.Attempt}
	for k, v := range details {
		d[k] = v
	}
	ev.Details = d
	return ev
}

// CreateAgentJob queues a job (agent.job_queued). A job with the same asset, op and
// idempotency key is ErrConflict: load it with AgentJobByKey.
func (s *Store) CreateAgentJob(ctx context.Context, j *AgentJob, ev Event) error {
	now := s.Now()
	j.CreatedAt, j.UpdatedAt, j.State = now, now, AgentJobQueued
	if j.Attempt == 0 {
		j.Attempt = 1
	}
	err := s.Write(ctx, jobEvent(ev, *j, nil), func(tx *gorm.DB) error {
		if err := tx.Create(j).Error; err != nil {
			return err
		}
		return s.notify(tx, agentJobChannel, j.AssetID)
	})
	if err == nil {
		s.signalAgentJob(j.AssetID)
	}
	return notFound(err, "agent job "+j.IdempotencyKey)
}

// RequeueAgentJob queues a failed job again as attempt j.Attempt with its new signed payload
// (agent.job_requeued). A job that is not failed (another caller requeued it) is ErrConflict.
func (s *Store) RequeueAgentJob(ctx context.Context, j AgentJob, ev Event) error {
	err := s.Write(ctx, jobEvent(ev, j, map[string]any{"previous_error": j.Error}), func(tx *gorm.DB) error {
		res := tx.Model(&AgentJob{}).Where("id = ? AND state = ?", j.ID, AgentJobFailed).Updates(map[string]any{
			"state": AgentJobQueued, "attempt": j.Attempt, "payload": j.Payload, "signature": j.Signature, "artifact_key": j.ArtifactKey,
			"upload_key": "", "upload_sha256": "", "upload_size": 0,
			"result": "", "error": "", "started_at": nil, "progress_at": nil, "finished_at": nil, "updated_at": s.Now()})
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("agent job %s is not failed: %w", j.ID, ErrConflict)
		}
		if res.Error != nil {
			return res.Error
		}
		return s.notify(tx, agentJobChannel, j.AssetID)
	})
	if err == nil {
		s.signalAgentJob(j.AssetID)
	}
	return err
}

// NextAgentJob hands the asset's oldest unfinished job to its agent: a queued job becomes
// running (agent.job_started); a running job is handed out again, because the agent that
// took it may have restarted. ok is false when there is none; while notifications are relayed
// (agent_notify.go), an asset found without one is not read again until a job is queued for it.
func (s *Store) NextAgentJob(ctx context.Context, assetID string, ev Event) (j AgentJob, ok bool, err error) {
	look, idle := s.jobWaiters.lookForJob(assetID)
	if idle {
		return j, false, nil
	}
	err = s.db.WithContext(ctx).Where("asset_id = ? AND state IN ?", assetID, []string{AgentJobQueued, AgentJobRunning}).
		Order("created_at, id").Take(&j).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		s.jobWaiters.noJob(assetID, look)
		return j, false, nil
	}
	if err != nil || j.State == AgentJobRunning {
		return j, err == nil, err
	}
	now := s.Now()
	err = s.Write(ctx, jobEvent(ev, j, nil), func(tx *gorm.DB) error {
		res := tx.Model(&AgentJob{}).Where("id = ? AND state = ?", j.ID, AgentJobQueued).
			Updates(map[string]any{"state": AgentJobRunning, "started_at": now, "progress_at": now, "updated_at": now})
		if res.Error == nil && res.RowsAffected == 0 {
			return ErrUnchanged // handed out by a concurrent request
		}
		return res.Error
	})
	if err != nil {
		return j, false, err
	}
	j, err = s.AgentJob(ctx, j.ID)
	return j, err == nil, err
}

// AgentJobProgress records that the agent works on a running job now (not audited: the
// result is).
func (s *Store) AgentJobProgress(ctx context.Context, id string) error {
	now := s.Now()
	return s.db.WithContext(ctx).Model(&AgentJob{}).Where("id = ? AND state = ?", id, AgentJobRunning).
		Updates(map[string]any{"progress_at": now, "updated_at": now}).Error
}

// SetAgentJobUpload records the staged backup an agent uploaded for a job
// (agent.backup_uploaded).
func (s *Store) SetAgentJobUpload(ctx context.Context, j AgentJob, key, sha string, size int64, ev Event) error {
	return s.Write(ctx, jobEvent(ev, j, map[string]any{"key": key, "sha256": sha, "size": size}), func(tx *gorm.DB) error {
		res := tx.Model(&AgentJob{}).Where("id = ? AND state IN ?", j.ID, []string{AgentJobQueued, AgentJobRunning}).
			Updates(map[string]any{"upload_key": key, "upload_sha256": sha, "upload_size": size, "progress_at": s.Now(), "updated_at": s.Now()})
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("agent job %s is finished: %w", j.ID, ErrConflict)
		}
		return res.Error
	})
}

// FinishAgentJob records an agent's result of attempt: state done or failed, the result JSON
// and the error text (agent.job_done / agent.job_failed). Reporting the same outcome again
// changes nothing; a different outcome for a finished job, or a result of an attempt that is
// not the current one, is ErrConflict.
func (s *Store) FinishAgentJob(ctx context.Context, id string, attempt int, state, result, errText string, ev Event) error {
	if state != AgentJobDone && state != AgentJobFailed {
		return fmt.Errorf("agent job state %q is not done or failed", state)
	}
	var j AgentJob
	if err := s.db.WithContext(ctx).Take(&j, "id = ?", id).Error; err != nil {
		return notFound(err, "agent job "+id)
	}
	ev.Action = "agent.job_" + state
	ev = jobEvent(ev, j, map[string]any{"attempt": attempt, "error": errText, "result": result})
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		var cur AgentJob
		if err := tx.Clauses(lockingClause(s.dialect)...).Take(&cur, "id = ?", id).Error; err != nil {
			return notFound(err, "agent job "+id)
		}
		if cur.Attempt != attempt {
			return fmt.Errorf("agent job %s is at attempt %d, the result is of attempt %d: %w", id, cur.Attempt, attempt, ErrConflict)
		}
		if cur.Finished() {
			if cur.State == state && cur.Result == result && cur.Error == errText {
				return ErrUnchanged
			}
			return fmt.Errorf("agent job %s already finished %s: %w", id, cur.State, ErrConflict)
		}
		now := s.Now()
		if err := tx.Model(&AgentJob{}).Where("id = ?", id).Updates(map[string]any{
			"state": state, "result": result, "error": errText, "finished_at": now, "progress_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		return s.notify(tx, agentFinishedChannel, id)
	})
	if err == nil {
		s.signalAgentJobFinished(id)
	}
	return err
}

func lockingClause(dialect string) []clause.Expression {
	if dialect == "postgres" {
		return []clause.Expression{clause.Locking{Strength: "UPDATE"}}
	}
	return nil
}

// RegisterAgentSigningKey records a job-signing public key (agent.signing_key_registered), once.
func (s *Store) RegisterAgentSigningKey(ctx context.Context, fingerprint, public string, ev Event) error {
	ev.SubjectType, ev.SubjectID = "agent_signing_key", fingerprint
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&AgentSigningKey{}).Where("fingerprint = ?", fingerprint).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrUnchanged
		}
		return tx.Create(&AgentSigningKey{Fingerprint: fingerprint, PublicKey: public, CreatedAt: s.Now()}).Error
	})
}

// AgentSigningKeys lists the job-signing public keys, newest first.
func (s *Store) AgentSigningKeys(ctx context.Context) ([]AgentSigningKey, error) {
	out := []AgentSigningKey{}
	return out, s.db.WithContext(ctx).Order("created_at DESC").Find(&out).Error
}
