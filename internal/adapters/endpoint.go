package adapters

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Names of the adapters this build has.
const (
	Simulator = "simulator"
	SSH       = "ssh"
	Agent     = "agent"
)

// Known reports whether name is an adapter this build has.
func Known(name string) bool { return name == Simulator || name == SSH || name == Agent }

// NeedsEndpoint reports whether assets of the adapter must have an endpoint before a campaign
// can reach them.
func NeedsEndpoint(adapter string) bool { return adapter == SSH || adapter == Agent }

// NeedsSteps reports whether the adapter runs the manifest's install, verify and rollback steps
// (the simulator plays a device and needs none).
func NeedsSteps(adapter string) bool { return adapter == SSH || adapter == Agent }

// Limits of an endpoint.
const (
	MaxBackupPaths = 32
	MaxPathLen     = 1024
)

var userPattern = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// CheckEndpoint reports what is wrong with e for an asset of the adapter through add (field,
// message). A nil endpoint is allowed at this point for every adapter; NeedsEndpoint says when
// one is required.
func CheckEndpoint(adapter string, e *Endpoint, add func(field, format string, args ...any)) {
	if !Known(adapter) {
		add("adapter", "must be simulator, ssh or agent, got %q", adapter)
		return
	}
	if e == nil {
		return
	}
	if adapter == Simulator {
		add("endpoint", "a simulated asset has no endpoint; leave it out")
		return
	}
	if adapter == SSH {
		host, port, err := net.SplitHostPort(e.Address)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || len(host) > 253 || perr != nil || n < 1 || n > 65535 {
			add("endpoint.address", "must be host:port of the device's SSH server (e.g. 10.20.0.15:22), got %q", e.Address)
		}
		if !userPattern.MatchString(e.User) {
			add("endpoint.user", "must be the login account otpatch uses (lower-case letters, digits, '_', '.', '-'; at most 32), got %q", e.User)
		}
	} else if e.Address != "" || e.User != "" {
		add("endpoint", "an agent asset is reached by its agent, which dials out; leave address and user out")
	}
	if len(e.BackupPaths) == 0 || len(e.BackupPaths) > MaxBackupPaths {
		add("endpoint.backup_paths", "must list 1 to %d absolute paths whose archive is the asset's backup", MaxBackupPaths)
	}
	for i, p := range e.BackupPaths {
		if msg := checkPath(p, true); msg != "" {
			add(fmt.Sprintf("endpoint.backup_paths[%d]", i), "%s, got %q", msg, p)
		}
	}
	if e.WorkDir != "" {
		if msg := checkPath(e.WorkDir, false); msg != "" {
			add("endpoint.work_dir", "%s, got %q", msg, e.WorkDir)
		}
	}
}

func checkPath(p string, absolute bool) string {
	switch {
	case len(p) == 0 || len(p) > MaxPathLen:
		return fmt.Sprintf("must be 1 to %d characters", MaxPathLen)
	case absolute && !strings.HasPrefix(p, "/"):
		return "must be an absolute path"
	case strings.ContainsAny(p, "\x00\n\r"):
		return "must not contain NUL or line breaks"
	case path.Clean(p) != p || strings.Contains(p, ".."):
		return "must be a clean path without '..'"
	case p == "/":
		return "must not be the whole file system"
	}
	return ""
}
