// Command otpatch is the patch orchestrator: `otpatch dev` runs everything in one process on
// the embedded default; `server`, `worker` and `migrate` are the production pieces; `audit
// verify` checks the audit chain; `vendor` signs and submits patches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `otpatch — patch orchestration for industrial automation and control systems

Usage:
  otpatch dev [--data DIR] [--listen ADDR] [--demo]   everything in one process (embedded Temporal, SQLite, S3)
  otpatch server                                     API and UI (production)
  otpatch worker                                     Temporal worker (production)
  otpatch agent --server URL --asset ID --token-file F --signing-public-key F  pull agent on a host in the control zone (dials out only)
  otpatch migrate                                    apply database migrations
  otpatch users bootstrap --username NAME            the first admins of a new installation (at most two)
  otpatch audit verify [--data DIR | --database DSN] recompute the audit chain
  otpatch vendor keygen --out NAME                   make an ed25519 vendor key pair
  otpatch vendor sign --key KEY [--artifact FILE]... MANIFEST
  otpatch vendor submit --url URL --token TOKEN [--presigned] [--wait] MANIFEST ARTIFACT...
  otpatch csaf ingest --url URL --token TOKEN FILE... load CSAF 2.0 advisories
  otpatch evidence verify [--checkpoint-key KEY] BUNDLE  check a campaign's evidence bundle offline
  otpatch config check [--role server|worker] [--connect]  validate the configuration; say what is missing
  otpatch healthcheck [--url URL] [--ca FILE]        exit 0 when the server answers /healthz
  otpatch version

Configuration comes from flags and OTPATCH_* environment variables; "otpatch CMD -h" lists them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "otpatch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest)
	case "server":
		return runServer(ctx, rest)
	case "worker":
		return runWorker(ctx, rest)
	case "agent":
		return runAgent(ctx, rest) // pull agent (agent.go)
	case "migrate":
		return runMigrate(ctx, rest)
	case "audit":
		if len(rest) == 0 || rest[0] != "verify" {
			return errors.New("usage: otpatch audit verify [--data DIR | --database DSN]")
		}
		return runAuditVerify(ctx, rest[1:])
	case "vendor":
		return runVendor(ctx, rest)
	case "csaf":
		return runCSAF(ctx, rest)
	case "evidence":
		return runEvidence(ctx, rest)
	case "config":
		return runConfig(ctx, rest)
	case "users":
		return runUsers(ctx, rest)
	case "healthcheck":
		return runHealthcheck(ctx, rest)
	case "version":
		fmt.Println("otpatch", version)
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// env returns the OTPATCH_ environment variable name, or def when unset.
func env(name, def string) string {
	if v, ok := os.LookupEnv("OTPATCH_" + name); ok {
		return v
	}
	return def
}
