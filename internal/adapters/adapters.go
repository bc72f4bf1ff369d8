// Package adapters defines how a change reaches a device: the Target interface every adapter
// (simulator, ssh, agent) implements, the messages it takes and returns, and the endpoint an
// asset is reached at.
package adapters

import (
	"context"
	"errors"
	"io"
	"time"
)

// Target performs the device side of a patch: backup, deploy, verify, restore.
type Target interface {
	// Backup streams the device's restorable state. checksum is the SHA-256 the device itself
	// reports for that state, so the caller can tell a corrupted transfer.
	Backup(ctx context.Context, assetID string) (r io.ReadCloser, checksum string, err error)
	// Deploy installs a patch. A request whose IdempotencyKey was applied before does nothing.
	Deploy(ctx context.Context, assetID string, req DeployRequest) error
	// Verify reads the installed version and health.
	Verify(ctx context.Context, assetID string, req VerifyRequest) (VerifyResult, error)
	// Restore puts a backup back. A request whose key was applied before does nothing.
	Restore(ctx context.Context, assetID string, req RestoreRequest) error
	// ExpectedDuration is how long backup, deploy and verify of the asset take.
	ExpectedDuration(assetID string) time.Duration
}

// DeployRequest is one installation.
type DeployRequest struct {
	IdempotencyKey string `json:"idempotency_key"`
	PatchID        string `json:"patch_id"`
	ToVersion      string `json:"to_version"`
	ArtifactName   string `json:"artifact_name,omitempty"`
	ArtifactSize   int64  `json:"artifact_size,omitempty"`
	ArtifactSHA256 string `json:"artifact_sha256"`
	// Install is the manifest's install step (see ParseStep).
	Install string `json:"install,omitempty"`
	// Artifact opens the patch artifact from the object store. Adapters that copy the artifact
	// to the device check its SHA-256 against ArtifactSHA256 before they install anything.
	Artifact func(ctx context.Context) (io.ReadCloser, error) `json:"-"`
}

// VerifyRequest asks a device for its version and health after a change.
type VerifyRequest struct {
	// Expect is the version the device should now report.
	Expect string `json:"expect"`
	// Step is the manifest's verify step (see ParseStep); it prints the installed version.
	Step string `json:"step,omitempty"`
}

// RestoreRequest puts a verified backup back.
type RestoreRequest struct {
	IdempotencyKey string `json:"idempotency_key"`
	BackupSHA256   string `json:"backup_sha256"`
	BackupSize     int64  `json:"backup_size"`
	// Step is the manifest's rollback step (see ParseStep), run after the backup is back.
	Step string `json:"step,omitempty"`
	// Backup is the backup's content, already checked against BackupSHA256 by the caller.
	Backup io.Reader `json:"-"`
	// Source names the asset the backup was taken of when that is not the asset restored: a
	// restore drill puts a production asset's backup onto a test-bench asset of its product.
	// Empty: the backup is the asset's own.
	Source string `json:"source,omitempty"`
}

// VerifyResult is what a device reports after a change.
type VerifyResult struct {
	Version string `json:"version"`
	Healthy bool   `json:"healthy"`
	Detail  string `json:"detail,omitempty"`
}

// Endpoint is how an asset is reached, stored with the asset (column assets.endpoint, JSON).
// The simulator needs none of it.
type Endpoint struct {
	// Address is host:port of the device's SSH server (adapter ssh).
	Address string `json:"address,omitempty"`
	// User is the account otpatch logs in as (adapter ssh).
	User string `json:"user,omitempty"`
	// BackupPaths are the absolute paths whose archive is the asset's backup (ssh and agent).
	BackupPaths []string `json:"backup_paths,omitempty" api:"required"`
	// WorkDir is where otpatch puts artifacts and its own bookkeeping on the device
	// (ssh and agent); default ".otpatch" under the account's home (ssh) or the agent's state
	// directory (agent).
	WorkDir string `json:"work_dir,omitempty"`
}

// EndpointLookup returns the endpoint of an asset.
type EndpointLookup func(ctx context.Context, assetID string) (Endpoint, error)

// PermanentError is implemented by adapter errors that no retry can fix (a device presenting an
// unknown or changed host key, a refused login): the activity fails at once instead of retrying.
type PermanentError interface {
	error
	Permanent() bool
}

// IsPermanent reports whether err, or an error it wraps, is a PermanentError that says so.
func IsPermanent(err error) bool {
	var p PermanentError
	return errors.As(err, &p) && p.Permanent()
}
