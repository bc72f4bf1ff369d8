package testidp

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill Hydra when the test binary dies without running
// its cleanups (a -timeout panic, say), so no server is left behind.
func setChildAttrs(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
