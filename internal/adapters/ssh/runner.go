package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/hostops"
)

// conn is one SSH connection to a device, used for one operation. It is a hostops.Runner.
type conn struct {
	client *gossh.Client
	where  string
	cfg    Config

	lastAlive atomic.Int64 // UnixNano of the last sign of life
	stopOnce  sync.Once
	stop      chan struct{}
}

var _ hostops.Runner = (*conn)(nil)

func (c *conn) alive() { c.lastAlive.Store(time.Now().UnixNano()) }

func (c *conn) close() {
	c.stopOnce.Do(func() {
		close(c.stop)
		_ = c.client.Close()
	})
}

// wrap names the connection in an error from an operation on it.
func (c *conn) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", c.where, err)
}

// watch sends keepalives and reports the connection stalled while it has been silent for
// StallAfter, and progressing again when it answers.
func (c *conn) watch(ctx context.Context) {
	check := min(time.Second, c.cfg.StallAfter/4, c.cfg.KeepAlive)
	tick := time.NewTicker(check)
	defer tick.Stop()
	var pending atomic.Bool
	nextKeepAlive := time.Now().Add(c.cfg.KeepAlive)
	stalled := false
	for {
		select {
		case <-c.stop:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.After(nextKeepAlive) && pending.CompareAndSwap(false, true) {
				nextKeepAlive = now.Add(c.cfg.KeepAlive)
				go func() {
					defer pending.Store(false)
					// OpenSSH answers an unknown global request with a failure: an answer all the same.
					if _, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil); err == nil {
						c.alive()
					}
				}()
			}
			silent := now.Sub(time.Unix(0, c.lastAlive.Load()))
			switch {
			case silent > c.cfg.StallAfter && !stalled:
				stalled = true
				adapters.Stalled(ctx)
			case silent <= c.cfg.StallAfter && stalled:
				stalled = false
				adapters.Progressed(ctx)
			}
		}
	}
}

// Quote returns argv as one POSIX shell command line: each element in single quotes, a single
// quote inside written as quote, backslash, quote, quote (close, escaped quote, reopen). The
// shell gives nothing inside single quotes a meaning.
func Quote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

// killGrace is how long a cancelled command has after SIGTERM, and after SIGKILL, to end.
const killGrace = 3 * time.Second

// Run implements hostops.Runner over one SSH session.
func (c *conn) Run(ctx context.Context, argv []string, stdin io.Reader, stdout io.Writer) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("no program to run")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sess, err := c.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open a session (did the device restart?): %w", err)
	}
	defer sess.Close()
	if stdout == nil {
		stdout = io.Discard
	}
	stderr := hostops.NewCapture(0)
	if stdin != nil {
		sess.Stdin = &aliveReader{r: stdin, c: c}
	}
	sess.Stdout = &aliveWriter{w: stdout, c: c}
	sess.Stderr = &aliveWriter{w: stderr, c: c}
	if err := sess.Start(Quote(argv)); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	select {
	case err = <-done:
	case <-ctx.Done():
		// OpenSSH delivers a signal to the command's whole process group. Without a signal a
		// command without a terminal would outlive its closed session.
		ended := false
		for _, sig := range []gossh.Signal{gossh.SIGTERM, gossh.SIGKILL} {
			_ = sess.Signal(sig)
			select {
			case <-done:
				ended = true
			case <-time.After(killGrace):
			}
			if ended {
				break
			}
		}
		if !ended {
			// The device does not answer: give up on the connection.
			_ = sess.Close()
			c.close()
		}
		return stderr.Bytes(), fmt.Errorf("%s stopped: %w", argv[0], context.Cause(ctx))
	}

	var ee *gossh.ExitError
	var missing *gossh.ExitMissingError
	switch {
	case err == nil:
		return stderr.Bytes(), nil
	case errors.As(err, &ee):
		if ee.Signal() != "" {
			return stderr.Bytes(), &hostops.ExitError{Status: -1, Signal: ee.Signal()}
		}
		return stderr.Bytes(), &hostops.ExitError{Status: ee.ExitStatus()}
	case errors.As(err, &missing):
		return stderr.Bytes(), fmt.Errorf("%s: the device closed the session without an exit status (did it restart?)", argv[0])
	}
	return stderr.Bytes(), fmt.Errorf("%s: %w", argv[0], err)
}

// aliveReader and aliveWriter count data flowing to and from the device as a sign of life.
type aliveReader struct {
	r io.Reader
	c *conn
}

func (a *aliveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.c.alive()
	}
	return n, err
}

type aliveWriter struct {
	w io.Writer
	c *conn
}

func (a *aliveWriter) Write(p []byte) (int, error) {
	a.c.alive()
	return a.w.Write(p)
}
