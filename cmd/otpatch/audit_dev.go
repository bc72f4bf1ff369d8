//go:build !noembedded

package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/s3embed"
)

// devObjects is otpatch dev's object store, served from its data folder for the time of a
// verification.
type devObjects struct {
	cps   *audit.ObjectCheckpoints
	close func()
}

// devCheckpoints reads the checkpoints of an otpatch dev data folder: its embedded object
// store and the public half of its checkpoint key.
func devCheckpoints(ctx context.Context, dir string) (devObjects, ed25519.PublicKey, error) {
	keyPath := filepath.Join(dir, "audit-checkpoint.key")
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		return devObjects{}, nil, &usageError{msg: fmt.Sprintf("%s has no checkpoint key (%s): give the S3 settings and --checkpoint-key, or --no-checkpoints", dir, keyPath)}
	}
	if err != nil {
		return devObjects{}, nil, err
	}
	priv, err := audit.ParseCheckpointKey(b)
	if err != nil {
		return devObjects{}, nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "s3-credentials.json")); err != nil {
		return devObjects{}, nil, &usageError{msg: fmt.Sprintf("%s has no object store credentials: give the S3 settings and --checkpoint-key, or --no-checkpoints", dir)}
	}
	creds, err := loadDevCredentials(dir)
	if err != nil {
		return devObjects{}, nil, err
	}
	// Read-only: otpatch dev may be serving the same folder right now.
	srv, err := s3embed.New(s3embed.Config{Dir: filepath.Join(dir, "objects"), AccessKey: creds.AccessKey, SecretKey: creds.SecretKey, ReadOnly: true})
	if err != nil {
		return devObjects{}, nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	endpoint, err := srv.Listen(lctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		_ = srv.Close()
		return devObjects{}, nil, err
	}
	stop := func() { cancel(); _ = srv.Close() }
	objs, err := artifacts.New(artifacts.Config{Endpoint: endpoint, AccessKey: creds.AccessKey, SecretKey: creds.SecretKey, Bucket: env("S3_BUCKET", "otpatch")})
	if err != nil {
		stop()
		return devObjects{}, nil, err
	}
	cps, err := audit.NewObjectCheckpoints(ctx, objs, 0, nil)
	if err != nil {
		stop()
		return devObjects{}, nil, err
	}
	return devObjects{cps: cps, close: stop}, priv.Public().(ed25519.PublicKey), nil
}
