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
}

func (c *deviceConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.sshKey, "ssh-key", env("SSH_KEY_FILE", ""), "private key (OpenSSH or PEM file) the ssh adapter logs in with (OTPATCH_SSH_KEY_FILE)")
	fs.StringVar(&c.sshKnownHosts, "ssh-known-hosts", env("SSH_KNOWN_HOSTS", ""), "known_hosts file with the pinned host key of every ssh asset (OTPATCH_SSH_KNOWN_HOSTS)")
	timeout, _ := time.ParseDuration(env("SSH_COMMAND_TIMEOUT", "10m"))
	fs.DurationVar(&c.sshCommandTimeout, "ssh-command-timeout", timeout, "longest a command on an ssh asset may run (OTPATCH_SSH_COMMAND_TIMEOUT)")
}

// buildAdapters returns the adapters of this process: the simulator always, ssh when a client
// key and a known_hosts file are configured, and the agent adapter. An asset whose adapter is
// not configured fails its campaign's first step with a clear error (UnknownAdapter).
func (d *deps) buildAdapters(ctx context.Context, c *config) error {
	d.adapters = map[string]adapters.Target{adapters.Simulator: d.sim}
	if c.devices.sshKey != "" || c.devices.sshKnownHosts != "" {
		a, err := sshadapter.New(sshadapter.Config{KeyFile: c.devices.sshKey, KnownHostsFile: c.devices.sshKnownHosts, CommandTimeout: c.devices.sshCommandTimeout}, d.store.AssetEndpoint)
		if err != nil {
			return err
		}
		d.adapters[adapters.SSH] = a
	}
	return nil
}
