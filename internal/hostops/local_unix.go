//go:build unix

package hostops

import (
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// setProcessGroup starts the program in its own process group and makes cancellation signal
// the whole group: SIGTERM, then SIGKILL after grace.
func setProcessGroup(cmd *exec.Cmd, grace time.Duration) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		err := syscall.Kill(-pgid, syscall.SIGTERM)
		time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		return err
	}
}

func exitError(ee *exec.ExitError) *ExitError {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &ExitError{Status: -1, Signal: signalName(ws.Signal())}
	}
	return &ExitError{Status: ee.ExitCode()}
}

// signalName returns the name SSH uses for a signal ("TERM", "KILL"), as RFC 4254 does.
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGABRT:
		return "ABRT"
	case syscall.SIGALRM:
		return "ALRM"
	case syscall.SIGFPE:
		return "FPE"
	case syscall.SIGHUP:
		return "HUP"
	case syscall.SIGILL:
		return "ILL"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGKILL:
		return "KILL"
	case syscall.SIGPIPE:
		return "PIPE"
	case syscall.SIGQUIT:
		return "QUIT"
	case syscall.SIGSEGV:
		return "SEGV"
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGUSR1:
		return "USR1"
	case syscall.SIGUSR2:
		return "USR2"
	}
	return strings.ToUpper(s.String())
}
