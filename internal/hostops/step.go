package hostops

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds of a step, before and after its placeholders are substituted.
const (
	MaxStepArgs  = 64
	MaxStepBytes = 16 << 10
)

// Placeholders a step may use. Each is substituted inside argv elements only, never re-split.
const (
	// VarArtifact is the absolute path of the uploaded artifact on the host.
	VarArtifact = "artifact"
	// VarVersion is the version the patch installs (the version a verify step expects).
	VarVersion = "version"
	// VarWorkDir is the absolute path of otpatch's working directory on the host.
	VarWorkDir = "workdir"
)

var knownVars = []string{VarArtifact, VarVersion, VarWorkDir}

// shellMeta are the characters a plain step may not contain: a shell would give them a meaning
// otpatch does not, so a step that needs them must say exactly which argv it means.
const shellMeta = "|;&$<>`()\\\"'\n\r"

// ParseStep turns a manifest's install, verify or rollback step into an argv, which is run as
// is and never handed to a shell.
//
// A step is either a JSON array of strings (`["/bin/sh","{artifact}","--quiet"]`) or a plain
// whitespace-separated command line (`/usr/bin/gw-install --quiet {artifact}`). The plain form
// refuses shell metacharacters (| ; & $ < > ` ( ) \ " ' and line breaks) so that nobody reads a
// shell meaning into a step that has none. The placeholders {artifact}, {version} and {workdir}
// are replaced by vars[name] inside each argv element, as a whole or a part of it; a
// substituted value is never split or substituted again. A step that uses a placeholder missing
// from vars is refused. At most MaxStepArgs elements and MaxStepBytes bytes are accepted.
func ParseStep(step string, vars map[string]string) ([]string, error) {
	if len(step) > MaxStepBytes {
		return nil, fmt.Errorf("step is %d bytes long, more than the %d bytes allowed", len(step), MaxStepBytes)
	}
	if !utf8.ValidString(step) {
		return nil, errors.New("step is not valid UTF-8")
	}
	trimmed := strings.TrimSpace(step)
	if trimmed == "" {
		return nil, errors.New("step is empty")
	}
	var argv []string
	if strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal([]byte(trimmed), &argv); err != nil {
			return nil, fmt.Errorf("step starts with '[' but is not a JSON array of strings: %v", err)
		}
		if len(argv) == 0 {
			return nil, errors.New("step is an empty JSON array; it needs at least the program to run")
		}
	} else {
		if i := strings.IndexAny(trimmed, shellMeta); i >= 0 {
			r, _ := utf8.DecodeRuneInString(trimmed[i:])
			return nil, fmt.Errorf("step contains the shell metacharacter %s at character %d; steps never run in a shell, "+
				`so write the step as a JSON array of strings, one per argument, e.g. ["/usr/bin/installer","--quiet","{artifact}"]`,
				describeRune(r), utf8.RuneCountInString(trimmed[:i])+1)
		}
		argv = strings.Fields(trimmed)
	}
	if len(argv) > MaxStepArgs {
		return nil, fmt.Errorf("step has %d arguments, more than the %d allowed", len(argv), MaxStepArgs)
	}
	if argv[0] == "" {
		return nil, errors.New("step's program (first element) is empty")
	}

	pairs := make([]string, 0, 2*len(knownVars))
	for _, name := range knownVars {
		if v, ok := vars[name]; ok {
			pairs = append(pairs, "{"+name+"}", v)
		}
	}
	replace := strings.NewReplacer(pairs...)
	total := 0
	out := make([]string, len(argv))
	for i, arg := range argv {
		for _, name := range knownVars {
			if _, ok := vars[name]; !ok && strings.Contains(arg, "{"+name+"}") {
				return nil, fmt.Errorf("step uses {%s}, which this step cannot use (available: %s)", name, available(vars))
			}
		}
		out[i] = replace.Replace(arg)
		if strings.IndexByte(out[i], 0) >= 0 {
			return nil, fmt.Errorf("step argument %d contains a NUL byte, which no program can receive", i)
		}
		total += len(out[i]) + 1
	}
	if total > MaxStepBytes {
		return nil, fmt.Errorf("step is %d bytes long once its placeholders are substituted, more than the %d bytes allowed", total, MaxStepBytes)
	}
	return out, nil
}

func available(vars map[string]string) string {
	var names []string
	for _, name := range knownVars {
		if _, ok := vars[name]; ok {
			names = append(names, "{"+name+"}")
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func describeRune(r rune) string {
	switch r {
	case '\n':
		return `'\n' (line break)`
	case '\r':
		return `'\r' (carriage return)`
	}
	return fmt.Sprintf("%q", r)
}
