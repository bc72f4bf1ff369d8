//go:build unix

package sshdevice

import (
	"os/exec"
	"strings"
	"syscall"
)

func supported() error { return nil }

func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

// killGroup sends the SSH-named signal to the command's process group, as OpenSSH does.
func killGroup(cmd *exec.Cmd, name string) {
	if sig, ok := signals[strings.ToUpper(name)]; ok {
		_ = syscall.Kill(-cmd.Process.Pid, sig)
	}
}

// signaled returns the SSH name of the signal that killed the command, if one did.
func signaled(cmd *exec.Cmd) (string, bool) {
	if cmd.ProcessState == nil {
		return "", false
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return "", false
	}
	for name, sig := range signals {
		if sig == ws.Signal() {
			return name, true
		}
	}
	return strings.ToUpper(ws.Signal().String()), true
}
