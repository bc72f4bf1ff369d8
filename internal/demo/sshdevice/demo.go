package sshdevice

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otpatch/otpatch/internal/adapters"
)

// The demo gateway keeps its firmware version in firmware/version and its configuration in
// etc/gateway.conf, under the device folder. The steps below are what a vendor's manifest for it
// says; they work the same against a real OpenSSH server, whose commands also start in the
// account's home.
const (
	// InstallStep runs the installer artifact with the version it installs.
	InstallStep = `["/bin/sh","{artifact}","{version}"]`
	// VerifyStep fails while the gateway reports a fault, and prints the installed firmware
	// version otherwise.
	VerifyStep = `["/bin/sh","-c","if [ -e firmware/fault ]; then cat firmware/fault >&2; exit 1; fi; cat firmware/version"]`
	// RollbackStep "restarts" the gateway service once its backup is back, which clears a fault.
	RollbackStep = `["/bin/sh","-c","rm -f firmware/fault; echo gateway service restarted on firmware $(cat firmware/version)"]`
	// FailMarker is a file in the device folder that makes the next install fail (and removes
	// itself), to show a failed deploy and its rollback.
	FailMarker = "FAIL_NEXT_INSTALL"
	// FaultMarker is a file in the device folder that makes every install leave the gateway
	// faulted (its watchdog trips after the restart), so verify fails and otpatch rolls back.
	FaultMarker = "FAULT_AFTER_INSTALL"
)

// Installer is the demo patch artifact: a shell script that writes the new firmware version and
// configuration in its working directory (the login home over SSH, the device folder under
// an agent). Run as InstallStep says.
var Installer = []byte(`#!/bin/sh
# gw-update: demo gateway firmware installer (otpatch demo device).
set -eu
version="$1"
echo "gw-update: running firmware $(cat firmware/version), installing $version"
if [ -e ` + FailMarker + ` ]; then
	rm -f ` + FailMarker + `
	echo "gw-update: flash write failed at block 0x2f00" >&2
	exit 3
fi
printf '%s\n' "$version" > firmware/version.new
mv firmware/version.new firmware/version
printf 'firmware=%s\nhardening=on\n' "$version" > etc/gateway.conf
if [ -e ` + FaultMarker + ` ]; then
	echo "gateway watchdog tripped after restart on $version" > firmware/fault
fi
echo "gw-update: gateway service restarted"
echo "gw-update: done"
`)

// Provision lays out a fresh gateway in dir running version, unless dir already holds one.
func Provision(dir, version string) error {
	ver := filepath.Join(dir, "firmware", "version")
	if _, err := os.Stat(ver); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, sub := range []string{"firmware", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("sshdevice: provision %s: %w", dir, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "gateway.conf"), []byte("firmware="+version+"\nhardening=off\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(ver, []byte(version+"\n"), 0o644)
}

// Endpoint returns the endpoint of the device for an asset: its address, the given user name
// (the device accepts any), and its firmware and configuration as backup paths.
func (d *Device) Endpoint(user string) adapters.Endpoint {
	return adapters.Endpoint{
		Address:     d.Addr(),
		User:        user,
		BackupPaths: []string{filepath.Join(d.root, "etc"), filepath.Join(d.root, "firmware")},
	}
}
