//go:build noembedded

package main

import (
	"context"
	"crypto/ed25519"
	"errors"

	"github.com/otpatch/otpatch/internal/audit"
)

// runDev is absent from builds with the noembedded tag (the production image): they carry
// no Temporal server and no S3 endpoint of their own.
func runDev(context.Context, []string) error {
	return errors.New("this build has no embedded default (built with -tags noembedded); run otpatch server and otpatch worker against Temporal, PostgreSQL and S3, or use a default build for otpatch dev")
}

// devObjects and devCheckpoints read an otpatch dev data folder's object store, which this
// build cannot serve.
type devObjects struct {
	cps   *audit.ObjectCheckpoints
	close func()
}

func devCheckpoints(context.Context, string) (devObjects, ed25519.PublicKey, error) {
	return devObjects{}, nil, &usageError{msg: "this build has no embedded object store (built with -tags noembedded): give the S3 settings and --checkpoint-key, or --no-checkpoints"}
}
