// Package jobs is the wire protocol between otpatch and its pull agents: the job the server
// signs with its ed25519 job-signing key (backup, deploy, verify or restore of the agent's
// asset), how an agent checks that signature against the key it pinned, and the progress and
// results an agent reports.
package jobs

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/signing"
)

// Operations.
const (
	OpBackup  = "backup"
	OpDeploy  = "deploy"
	OpVerify  = "verify"
	OpRestore = "restore"
)

// Job is what the server asks an agent to do. It is signed as JSON bytes (Envelope.Payload).
type Job struct {
	ID      string `json:"id"`
	AssetID string `json:"asset_id"`
	Op      string `json:"op"`
	// IdempotencyKey is the operation's key; deploy and restore pass it to the device so that a
	// repeated job does nothing (hostops markers).
	IdempotencyKey string `json:"idempotency_key"`
	// Attempt counts the times the server queued this job; a result names the attempt it is of.
	Attempt  int       `json:"attempt"`
	IssuedAt time.Time `json:"issued_at"`
	// NotAfter is when the job expires: an agent that comes back later (a campaign aborted
	// meanwhile, a window long closed) refuses it instead of changing the device then.
	NotAfter time.Time `json:"not_after"`
	// Endpoint gives BackupPaths and WorkDir on the agent's host.
	Endpoint adapters.Endpoint `json:"endpoint"`

	Deploy *adapters.DeployRequest `json:"deploy,omitempty"`
	// Verify is a verify job's request. A deploy job carries it too (the patch's verify step,
	// expecting the version it installs): when a restart cut the install short, the agent asks
	// the device with it what it runs instead of installing again.
	Verify  *adapters.VerifyRequest  `json:"verify,omitempty"`
	Restore *adapters.RestoreRequest `json:"restore,omitempty"`
}

// Envelope is a job as the API hands it out: the exact signed JSON text (a string, so that no
// re-encoding changes a byte) and its signature.
type Envelope struct {
	ID        string `json:"id"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// Lifetime is how long a job may wait for its agent; a retry signs a new attempt.
const Lifetime = time.Hour

// signedPrefix separates job signatures from every other use of an ed25519 key: a signature
// made over anything else never verifies as a job.
const signedPrefix = "otpatch-agent-job-v1\n"

func signedBytes(payload []byte) []byte { return append([]byte(signedPrefix), payload...) }

// Sign marshals job and signs it with key.
func Sign(key ed25519.PrivateKey, job Job) (payload []byte, signature string, err error) {
	if err := job.Check(); err != nil {
		return nil, "", err
	}
	payload, err = json.Marshal(job)
	if err != nil {
		return nil, "", err
	}
	return payload, signing.Sign(key, signedBytes(payload)), nil
}

// Open checks env's signature with the pinned key, that the job is for assetID and that it has
// not expired at now, and returns the job. Any failure means the job must not run.
func Open(pub ed25519.PublicKey, assetID string, env Envelope, now time.Time) (Job, error) {
	sig, err := signing.ParseSignature(env.Signature)
	if err != nil {
		return Job{}, fmt.Errorf("job %s: %w", env.ID, err)
	}
	if !signing.Verify(pub, signedBytes([]byte(env.Payload)), sig) {
		return Job{}, fmt.Errorf("job %s: the signature does not verify with the pinned job-signing key %s; the job was changed after signing or signed with another key, and was refused", env.ID, signing.Fingerprint(pub))
	}
	var j Job
	if err := json.Unmarshal([]byte(env.Payload), &j); err != nil {
		return Job{}, fmt.Errorf("job %s: signed payload is not a job: %w", env.ID, err)
	}
	if j.ID != env.ID {
		return Job{}, fmt.Errorf("job %s: the signed payload is of job %s; refused", env.ID, j.ID)
	}
	if j.AssetID != assetID {
		return Job{}, fmt.Errorf("job %s is for asset %s, this agent acts for %s; refused", j.ID, j.AssetID, assetID)
	}
	if err := j.Check(); err != nil {
		return Job{}, err
	}
	if now.After(j.NotAfter) {
		return Job{}, fmt.Errorf("job %s (attempt %d) expired at %s; refused, the device was not changed", j.ID, j.Attempt, j.NotAfter.UTC().Format(time.RFC3339))
	}
	return j, nil
}

// Check validates a job's shape.
func (j Job) Check() error {
	if j.ID == "" || j.AssetID == "" || j.IdempotencyKey == "" || j.Attempt < 1 {
		return errors.New("job needs an id, an asset, an idempotency key and an attempt")
	}
	if !j.NotAfter.After(j.IssuedAt) {
		return fmt.Errorf("job %s expires (%s) before it was issued (%s)", j.ID, j.NotAfter.UTC().Format(time.RFC3339), j.IssuedAt.UTC().Format(time.RFC3339))
	}
	want := map[string]bool{OpDeploy: j.Deploy != nil, OpVerify: j.Verify != nil, OpRestore: j.Restore != nil}
	if j.Deploy != nil && (j.Deploy.ArtifactSize <= 0 || j.Deploy.ArtifactSHA256 == "") {
		return fmt.Errorf("deploy job %s does not give the artifact's size and SHA-256", j.ID)
	}
	if j.Restore != nil && (j.Restore.BackupSize <= 0 || j.Restore.BackupSHA256 == "") {
		return fmt.Errorf("restore job %s does not give the backup's size and SHA-256", j.ID)
	}
	switch j.Op {
	case OpBackup:
	case OpDeploy, OpVerify, OpRestore:
		if !want[j.Op] {
			return fmt.Errorf("%s job %s has no %s request", j.Op, j.ID, j.Op)
		}
	default:
		return fmt.Errorf("job %s: unknown operation %q", j.ID, j.Op)
	}
	return nil
}

// Output is a piece of what the device printed (adapters.Output).
type Output struct {
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// MaxOutput bounds the output text a result carries.
const MaxOutput = 256 << 10

// Result is what an agent reports when a job ends.
type Result struct {
	Attempt int `json:"attempt" api:"required" doc:"The attempt of the job this result is of"`
	// OK is false when the operation failed; Error then says why.
	OK    bool   `json:"ok" api:"required"`
	Error string `json:"error,omitempty" doc:"Why the job failed; required when ok is false"`
	// Permanent marks a failure no retry can fix (adapters.PermanentError: the device lock of a
	// change that did not finish): otpatch fails the operation at once, as it does over SSH.
	Permanent bool `json:"permanent,omitempty"`
	// Backup: the SHA-256 the agent's host computed for the uploaded archive, and its size.
	BackupSHA256 string `json:"backup_sha256,omitempty"`
	BackupSize   int64  `json:"backup_size,omitempty"`
	// Verify: what the device reports.
	Verify *adapters.VerifyResult `json:"verify,omitempty"`
	Output []Output               `json:"output,omitempty"`
}

// Progress is an agent's sign of life while a job runs.
type Progress struct {
	Attempt int    `json:"attempt" api:"required" doc:"The attempt of the job the agent works on"`
	Message string `json:"message,omitempty"`
}

// Me is what the server tells an agent about its credential.
type Me struct {
	CredentialID string `json:"credential_id"`
	AssetID      string `json:"asset_id"`
	AssetName    string `json:"asset_name"`
}

// SigningKey is the server's job-signing public key.
type SigningKey struct {
	Fingerprint string `json:"fingerprint"`
	// PublicKey is base64 of the raw 32-byte key; PEM is the same key as a PEM PUBLIC KEY.
	PublicKey string    `json:"public_key"`
	PEM       string    `json:"pem"`
	CreatedAt time.Time `json:"created_at"`
}

// BackupSHA256Header carries, on a backup upload, the SHA-256 the agent's host computed.
const BackupSHA256Header = "X-Otpatch-Backup-SHA256"
