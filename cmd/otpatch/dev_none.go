//go:build noembedded

package main

import (
	"context"
	"errors"
)

// runDev is absent from builds with the noembedded tag (the production image): they carry
// no Temporal server and no S3 endpoint of their own.
func runDev(context.Context, []string) error {
	return errors.New("this build has no embedded default (built with -tags noembedded); run otpatch server and otpatch worker against Temporal, PostgreSQL and S3, or use a default build for otpatch dev")
}
