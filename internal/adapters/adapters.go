// Package adapters defines how a change reaches a device: the Target interface every adapter
// (simulator, ssh, agent) implements, and the messages it takes and returns.
package adapters

import (
	"context"
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
	Verify(ctx context.Context, assetID string) (VerifyResult, error)
	// Restore puts a backup back. A request whose key was applied before does nothing.
	Restore(ctx context.Context, assetID string, backup io.Reader, idempotencyKey string) error
	// ExpectedDuration is how long backup, deploy and verify of the asset take.
	ExpectedDuration(assetID string) time.Duration
}

// DeployRequest is one installation.
type DeployRequest struct {
	IdempotencyKey string `json:"idempotency_key"`
	PatchID        string `json:"patch_id"`
	ToVersion      string `json:"to_version"`
	ArtifactSHA256 string `json:"artifact_sha256"`
	Install        string `json:"install,omitempty"`
}

// VerifyResult is what a device reports after a change.
type VerifyResult struct {
	Version string `json:"version"`
	Healthy bool   `json:"healthy"`
	Detail  string `json:"detail,omitempty"`
}
