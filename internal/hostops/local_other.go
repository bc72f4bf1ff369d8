//go:build !unix

package hostops

import (
	"os/exec"
	"time"
)

func setProcessGroup(*exec.Cmd, time.Duration) {}

func exitError(ee *exec.ExitError) *ExitError { return &ExitError{Status: ee.ExitCode()} }
