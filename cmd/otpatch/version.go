package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the fallback for builds that carry no module version (go run, a build without
// the VCS): set it with -ldflags "-X main.version=…".
var version = "dev"

// buildVersion is what a binary knows about where it came from.
type buildVersion struct {
	version  string // module version (v1.2.0, or a pseudo-version), or main.version
	commit   string // VCS revision, "" when the build did not record one
	modified bool   // the working tree had changes the commit does not hold
	goVer    string
}

// currentVersion reads the binary's build information.
func currentVersion() buildVersion {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionFrom(bi, version)
}

// versionFrom takes the module version and VCS settings from bi, and fallback when the build
// recorded no module version.
func versionFrom(bi *debug.BuildInfo, fallback string) buildVersion {
	v := buildVersion{version: fallback, goVer: runtime.Version()}
	if bi == nil {
		return v
	}
	if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
		v.version = mv
	}
	if bi.GoVersion != "" {
		v.goVer = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.commit = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}

// String is the line `otpatch version` and `otpatch --version` print.
func (v buildVersion) String() string {
	commit := v.commit
	if commit == "" {
		commit = "unknown"
	}
	if v.modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("otpatch %s commit %s %s %s/%s", v.version, commit, v.goVer, runtime.GOOS, runtime.GOARCH)
}

func runVersion(_ context.Context, args []string) error {
	fs := newFlags("version")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	fmt.Println(currentVersion())
	return nil
}
