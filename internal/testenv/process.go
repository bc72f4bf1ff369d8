package testenv

import (
	"os/exec"
	"syscall"
	"time"
)

// process is a service a test started as its own process.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, once done is closed
	// stopTimeout is how long stop waits after SIGTERM before it kills.
	stopTimeout time.Duration
}

// startProcess starts cmd in its own process group (setChildAttrs) and watches its exit.
func startProcess(cmd *exec.Cmd, stopTimeout time.Duration) (*process, error) {
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{}), stopTimeout: stopTimeout}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end (SIGTERM) and kills it after stopTimeout.
func (p *process) stop() {
	if p.exited() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(p.stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
