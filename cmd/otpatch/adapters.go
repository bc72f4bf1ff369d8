package main

import (
	"context"
	"flag"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	sshadapter "github.com/otpatch/otpatch/internal/adapters/ssh"
)

// deviceConfig is how the worker reaches real devices.
type deviceConfig struct {
	sshKey            string
	sshKnownHosts     string
	sshCommandTimeout time.Duration
	sshExpected       time.Duration
	agentExpected     time.Duration
}

func (c *deviceConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.sshKey, "ssh-key", env("SSH_KEY_FILE", ""), "private key (OpenSSH or PEM file) the ssh adapter logs in with (OTPATCH_SSH_KEY_FILE)")
	fs.StringVar(&c.sshKnownHosts, "ssh-known-hosts", env("SSH_KNOWN_HOSTS", ""), "known_hosts file with the pinned host key of every ssh asset (OTPATCH_SSH_KNOWN_HOSTS)")
	timeout, _ := time.ParseDuration(env("SSH_COMMAND_TIMEOUT", "10m"))
	fs.DurationVar(&c.sshCommandTimeout, "ssh-command-timeout", timeout, "longest a command on an ssh asset may run (OTPATCH_SSH_COMMAND_TIMEOUT)")
	expected, _ := time.ParseDuration(env("SSH_EXPECTED_DURATION", "15m"))
	agentExpected, _ := time.ParseDuration(env("AGENT_EXPECTED_DURATION", "5m"))
	fs.DurationVar(&c.agentExpected, "agent-expected-duration", agentExpected, "how long backup, deploy and verify of an agent asset are expected to take, to fit assets into windows (OTPATCH_AGENT_EXPECTED_DURATION)")
	fs.DurationVar(&c.sshExpected, "ssh-expected-duration", expected, "how long backup, deploy and verify of an ssh asset are expected to take; an asset starts only when this fits in what is left of its window (OTPATCH_SSH_EXPECTED_DURATION)")
}

// buildAdapters returns the adapters of this process: the simulator always, ssh when a client
// key and a known_hosts file are configured, and the agent adapter. An asset whose adapter is
// not configured fails its campaign's first step with a clear error (UnknownAdapter).
func (d *deps) buildAdapters(ctx context.Context, c *config) error {
	d.adapters = map[string]adapters.Target{adapters.Simulator: d.sim}
	// A worker without the ssh key still plans ssh assets that site workers reach.
	d.expected = map[string]time.Duration{adapters.SSH: c.devices.sshExpected, adapters.Agent: c.devices.agentExpected}
	if c.devices.sshKey != "" || c.devices.sshKnownHosts != "" {
		a, err := sshadapter.New(sshadapter.Config{KeyFile: c.devices.sshKey, KnownHostsFile: c.devices.sshKnownHosts, CommandTimeout: c.devices.sshCommandTimeout,
			ExpectedDuration: c.devices.sshExpected}, d.store.AssetEndpoint)
		if err != nil {
			return err
		}
		d.adapters[adapters.SSH] = a
	}
	if err := d.addAgentAdapter(ctx, c); err != nil { // agent adapter and job-signing key (agentwire.go)
		return err
	}
	return nil
}

// problems reports what is wrong with the worker's device settings (otpatch config check).
func (c *deviceConfig) problems(add func(setting, format string, a ...any)) {
	if c.sshCommandTimeout <= 0 {
		add("OTPATCH_SSH_COMMAND_TIMEOUT", "must be positive, got %s", c.sshCommandTimeout)
	}
	if c.agentExpected <= 0 {
		add("OTPATCH_AGENT_EXPECTED_DURATION", "must be positive, got %s", c.agentExpected)
	}
	if c.sshExpected <= 0 {
		add("OTPATCH_SSH_EXPECTED_DURATION", "must be positive, got %s", c.sshExpected)
	}
	if c.sshKey == "" && c.sshKnownHosts == "" {
		return // no ssh assets are reached from this worker
	}
	lookup := func(context.Context, string) (adapters.Endpoint, error) { return adapters.Endpoint{}, nil }
	if _, err := sshadapter.New(sshadapter.Config{KeyFile: c.sshKey, KnownHostsFile: c.sshKnownHosts}, lookup); err != nil {
		add("OTPATCH_SSH_KEY_FILE/OTPATCH_SSH_KNOWN_HOSTS", "%v", err)
	}
}
