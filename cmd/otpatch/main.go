// Command otpatch is the patch orchestrator: `otpatch dev` runs everything in one process on
// the embedded default; `server`, `worker` and `migrate` are the production pieces; `audit
// verify` checks the audit chain; `vendor` signs and submits patches. `otpatch help` lists
// every command; cli.go holds the conventions they share (help, flags, exit statuses).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	os.Exit(report(os.Stderr, err))
}

// env returns the OTPATCH_ environment variable name, or def when unset.
func env(name, def string) string {
	if v, ok := os.LookupEnv("OTPATCH_" + name); ok {
		return v
	}
	return def
}
