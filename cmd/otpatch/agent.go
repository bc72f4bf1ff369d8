package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/agent"
	"github.com/otpatch/otpatch/internal/signing"
)

// runAgent is `otpatch agent`: the pull agent on a host inside the control zone. It only dials
// out to otpatch over HTTPS and never listens.
func runAgent(ctx context.Context, args []string) error {
	fs := newFlags("agent")
	server := fs.String("server", env("AGENT_SERVER", ""), "otpatch base URL, https:// only (OTPATCH_AGENT_SERVER)")
	asset := fs.String("asset", env("AGENT_ASSET", ""), "ID of the asset this agent acts for (OTPATCH_AGENT_ASSET)")
	tokenFile := fs.String("token-file", env("AGENT_TOKEN_FILE", ""), "file holding the agent token an admin issued for the asset (OTPATCH_AGENT_TOKEN_FILE)")
	keyFile := fs.String("signing-public-key", env("AGENT_SIGNING_PUBLIC_KEY", ""), "file with the server's pinned job-signing public key, PEM or base64 (GET /api/v1/agent/signing-key) (OTPATCH_AGENT_SIGNING_PUBLIC_KEY)")
	caFile := fs.String("ca-file", env("AGENT_CA_FILE", ""), "PEM CA certificates to trust for the server; the system's when empty (OTPATCH_AGENT_CA_FILE)")
	clientCert := fs.String("client-cert", env("AGENT_CLIENT_CERT", ""), "PEM client certificate for mutual TLS (OTPATCH_AGENT_CLIENT_CERT)")
	clientKey := fs.String("client-key", env("AGENT_CLIENT_KEY", ""), "PEM key of --client-cert (OTPATCH_AGENT_CLIENT_KEY)")
	stateDir := fs.String("state-dir", env("AGENT_STATE_DIR", "/var/lib/otpatch-agent"), "journal and work directory (OTPATCH_AGENT_STATE_DIR)")
	wait := fs.Duration("poll-wait", envDuration("AGENT_POLL_WAIT", 20*time.Second), "how long one long poll for a job waits, at most 60s (OTPATCH_AGENT_POLL_WAIT)")
	progress := fs.Duration("progress-every", envDuration("AGENT_PROGRESS_EVERY", 5*time.Second), "how often a running job reports progress (OTPATCH_AGENT_PROGRESS_EVERY)")
	stepTimeout := fs.Duration("step-timeout", envDuration("AGENT_STEP_TIMEOUT", 10*time.Minute), "longest one command on the host may run (OTPATCH_AGENT_STEP_TIMEOUT)")
	logJSON, _ := strconv.ParseBool(env("LOG_JSON", "false"))
	fs.BoolVar(&logJSON, "log-json", logJSON, "JSON logs (OTPATCH_LOG_JSON)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	for _, name := range []string{"AGENT_POLL_WAIT", "AGENT_PROGRESS_EVERY", "AGENT_STEP_TIMEOUT"} {
		if v := env(name, ""); v != "" {
			if _, err := time.ParseDuration(v); err != nil {
				return fs.usageError("OTPATCH_%s=%q is not a duration (examples: 20s, 10m)", name, v)
			}
		}
	}
	var missing []string
	need := func(v, what string) {
		if v == "" {
			missing = append(missing, what)
		}
	}
	need(*server, "--server (OTPATCH_AGENT_SERVER), otpatch's https:// URL")
	need(*asset, "--asset (OTPATCH_AGENT_ASSET), the asset's ID")
	need(*tokenFile, "--token-file (OTPATCH_AGENT_TOKEN_FILE), the agent token an admin issues with POST /api/v1/assets/{id}/agent-credentials")
	need(*keyFile, "--signing-public-key (OTPATCH_AGENT_SIGNING_PUBLIC_KEY), the job-signing public key from GET /api/v1/agent/signing-key")
	if len(missing) > 0 {
		return fs.usageError("the configuration is incomplete; set:\n  %s", strings.Join(missing, "\n  "))
	}
	if *wait <= 0 || *wait > time.Minute {
		return fs.usageError("--poll-wait %s: must be between 1s and 60s", *wait)
	}
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("agent token: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	if token == "" {
		return fmt.Errorf("agent token file %s is empty", *tokenFile)
	}
	pubText, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("job-signing public key: %w", err)
	}
	pub, err := signing.DecodePublic(string(pubText))
	if err != nil {
		return fmt.Errorf("job-signing public key %s: %w", *keyFile, err)
	}
	client, err := agent.NewHTTPClient(*caFile, *clientCert, *clientKey)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if logJSON {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	a, err := agent.New(agent.Config{Server: *server, AssetID: *asset, Token: token, SigningKey: pub, StateDir: *stateDir, Client: client,
		Wait: *wait, ProgressEvery: *progress, StepTimeout: *stepTimeout, Log: log})
	if err != nil {
		return err
	}
	log.Info("otpatch agent starting", "version", currentVersion().version, "signing_key", signing.Fingerprint(pub))
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// envDuration reads a duration from an OTPATCH_ variable, or def when unset (runAgent refuses
// an invalid value before).
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(env(name, "")); err == nil {
		return d
	}
	return def
}
