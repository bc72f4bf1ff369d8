package hostops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// Runner runs one program on a host: argv as is (never a shell string), stdin from stdin when
// it is not nil, stdout to stdout (discarded when nil). It returns what the program wrote to
// stderr, bounded by the runner (see Capture). A program that ran and exited non-zero or was
// killed by a signal is reported as an *ExitError; any other error means the program could not
// be run or its host stopped answering. Cancelling ctx stops the program.
type Runner interface {
	Run(ctx context.Context, argv []string, stdin io.Reader, stdout io.Writer) (stderr []byte, err error)
}

// ExitError reports a program that ran and did not exit 0.
type ExitError struct {
	// Status is the exit status, or -1 when the program was killed by a signal.
	Status int
	// Signal names the signal that killed the program ("KILL", "TERM"), if one did.
	Signal string
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "killed by signal " + e.Signal
	}
	return "exit status " + strconv.Itoa(e.Status)
}

// DefaultCaptureLimit bounds what a runner keeps of a program's stderr, and what Host keeps of
// a step's output.
const DefaultCaptureLimit = 64 << 10

// Capture is an io.Writer that keeps at most a limit of bytes: the first and the last half of
// what was written, with a note of how much was left out in between. Writes never fail, so a
// chatty program is never blocked or broken by it.
type Capture struct {
	limit   int
	head    []byte
	tail    []byte // ring buffer of the last limit/2 bytes once head is full
	tailPos int
	dropped int64
}

// NewCapture returns a Capture that keeps at most limit bytes (DefaultCaptureLimit if limit <= 0).
func NewCapture(limit int) *Capture {
	if limit <= 0 {
		limit = DefaultCaptureLimit
	}
	return &Capture{limit: limit}
}

func (c *Capture) Write(p []byte) (int, error) {
	n := len(p)
	headCap := c.limit - c.limit/2
	if room := headCap - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	tailCap := c.limit / 2
	for len(p) > 0 && tailCap > 0 {
		if len(c.tail) < tailCap {
			k := min(tailCap-len(c.tail), len(p))
			c.tail = append(c.tail, p[:k]...)
			p = p[k:]
			continue
		}
		// Full: overwrite the oldest byte of the ring.
		k := copy(c.tail[c.tailPos:], p)
		c.tailPos = (c.tailPos + k) % tailCap
		c.dropped += int64(k)
		p = p[k:]
	}
	c.dropped += int64(len(p)) // only when tailCap == 0
	return n, nil
}

// Bytes returns what was kept, with a note where bytes were left out.
func (c *Capture) Bytes() []byte {
	out := append([]byte(nil), c.head...)
	if c.dropped > 0 {
		out = append(out, fmt.Sprintf("\n[… %d bytes left out …]\n", c.dropped)...)
	}
	out = append(out, c.tail[c.tailPos:]...)
	out = append(out, c.tail[:c.tailPos]...)
	return out
}

func (c *Capture) String() string { return string(c.Bytes()) }

// Truncated reports whether bytes were left out.
func (c *Capture) Truncated() bool { return c.dropped > 0 }

// Local runs programs on the machine otpatch itself runs on, with os/exec: the pull agent's
// runner. Each program gets its own process group, which is terminated as a whole (SIGTERM,
// then SIGKILL after KillGrace) when ctx is cancelled, so an installer's children do not
// outlive it.
type Local struct {
	// Dir is the working directory of every program; relative paths (a relative WorkDir) are
	// relative to it. Empty: the current directory.
	Dir string
	// Env is the environment of every program. Nil: this process's environment.
	Env []string
	// KillGrace is how long a cancelled program has between SIGTERM and SIGKILL (default 5s).
	KillGrace time.Duration
	// StderrLimit bounds the stderr kept (default DefaultCaptureLimit).
	StderrLimit int
}

var _ Runner = Local{}

// Run implements Runner.
func (l Local) Run(ctx context.Context, argv []string, stdin io.Reader, stdout io.Writer) ([]byte, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("no program to run")
	}
	grace := l.KillGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = l.Dir
	cmd.Env = l.Env
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout == nil {
		stdout = io.Discard
	}
	cmd.Stdout = stdout
	stderr := NewCapture(l.StderrLimit)
	cmd.Stderr = stderr
	setProcessGroup(cmd, grace)
	// After the program exits or is cancelled, give its pipes this long to drain before they
	// are closed: a background child that keeps stdout open must not hang the caller.
	cmd.WaitDelay = grace + 2*time.Second

	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stderr.Bytes(), nil
	case errors.As(err, &ee):
		return stderr.Bytes(), exitError(ee)
	case errors.Is(err, exec.ErrWaitDelay):
		// The program exited 0 but a child kept its output open; what it printed is in.
		if cmd.ProcessState != nil && cmd.ProcessState.Success() {
			return stderr.Bytes(), nil
		}
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound):
		return stderr.Bytes(), fmt.Errorf("run %s: program not found: %w", argv[0], err)
	}
	return stderr.Bytes(), fmt.Errorf("run %s: %w", argv[0], err)
}
