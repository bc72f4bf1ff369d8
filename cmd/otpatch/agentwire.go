package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	agentadapter "github.com/otpatch/otpatch/internal/adapters/agent"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// The server side of the pull agent in this process: the job-signing key and the agent adapter.
//
//	OTPATCH_AGENT_SIGNING_KEY   ed25519 job-signing key (PEM file, created when missing). Unset:
//	                            with a SQLite database, agent-signing.key next to it (otpatch
//	                            dev keeps it in its data folder); with PostgreSQL the agent
//	                            adapter is off. Every worker must use the same key: agents pin it.
//	OTPATCH_AGENT_STALL_AFTER   how long an agent may stay silent during a job before the
//	                            attempt stops heartbeating and Temporal retries it (default 30s).
//	OTPATCH_AGENT_EXPECTED_DURATION  how long backup, deploy and verify of an agent asset take,
//	                            to fit assets into maintenance windows (default 5m).

// agentSigningKeyFile is the job-signing key file of this process, or "" for none.
func agentSigningKeyFile(c *config) string {
	if p := env("AGENT_SIGNING_KEY", ""); p != "" {
		return p
	}
	if c.database != "" && !strings.Contains(c.database, "://") && !strings.HasPrefix(c.database, "file:") {
		return filepath.Join(filepath.Dir(c.database), "agent-signing.key")
	}
	return ""
}

// loadOrCreateJobKey reads the PEM ed25519 key at path, or creates one there (mode 0600).
func loadOrCreateJobKey(path string) (ed25519.PrivateKey, error) {
	return signing.LoadOrCreateKey(path, "agent job-signing key")
}

// agentAdapter builds the agent adapter signing with the key in keyFile (created when missing)
// and records the key's public half in the store for GET /api/v1/agent/signing-key.
func agentAdapter(ctx context.Context, keyFile string, expected time.Duration, st *store.Store, objs *artifacts.Store) (*agentadapter.Adapter, error) {
	key, err := loadOrCreateJobKey(keyFile)
	if err != nil {
		return nil, err
	}
	stall, err := time.ParseDuration(env("AGENT_STALL_AFTER", "30s"))
	if err != nil || stall <= 0 {
		return nil, fmt.Errorf("OTPATCH_AGENT_STALL_AFTER %q is not a positive duration (example: 30s)", env("AGENT_STALL_AFTER", ""))
	}
	if expected <= 0 {
		return nil, fmt.Errorf("OTPATCH_AGENT_EXPECTED_DURATION %s is not a positive duration (example: 5m)", expected)
	}
	return agentadapter.New(ctx, agentadapter.Options{Store: st, Objects: objs, Key: key, StallAfter: stall, Expected: expected})
}

// addAgentAdapter adds the agent adapter to d.adapters when a job-signing key is configured.
func (d *deps) addAgentAdapter(ctx context.Context, c *config) error {
	path := agentSigningKeyFile(c)
	if path == "" {
		d.log.Info("the agent adapter is off: set OTPATCH_AGENT_SIGNING_KEY to the job-signing key file (shared by every worker)")
		return nil
	}
	a, err := agentAdapter(ctx, path, c.devices.agentExpected, d.store, d.objects)
	if err != nil {
		return err
	}
	d.adapters[adapters.Agent] = a
	return nil
}
