//go:build !unix

package sshdevice

import (
	"errors"
	"os/exec"
)

func supported() error {
	return errors.New("sshdevice: the demo SSH device needs a POSIX system with /bin/sh")
}

func setProcessGroup(*exec.Cmd) {}

func killGroup(cmd *exec.Cmd, _ string) { _ = cmd.Process.Kill() }

func signaled(*exec.Cmd) (string, bool) { return "", false }
