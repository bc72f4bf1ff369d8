package testidp

import (
	"os/exec"
	"syscall"
	"time"
)

// process is Hydra, started by a test as its own process.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// startProcess starts cmd (so that it dies with the test binary, setChildAttrs) and
// watches its exit.
func startProcess(cmd *exec.Cmd) (*process, error) {
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process to end (SIGTERM) and kills it after stopTimeout.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
