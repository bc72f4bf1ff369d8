package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The conventions every otpatch command follows, as Go's own tools do: help on -h, --help and
// "otpatch help" to stdout with exit status 0; flags before or after the arguments ("--" ends
// them); and exit statuses a script can tell apart.
const (
	exitOK           = 0 // done
	exitFailure      = 1 // the command ran and failed: a server refused, a file is missing, …
	exitUsage        = 2 // the command line is wrong: unknown command or flag, missing argument, bad value
	exitVerification = 3 // a check ran and what it checked is not good (audit verify, evidence verify, config check)
)

// usageError is a command line otpatch cannot run: an unknown command or flag, a missing or
// extra argument, a bad flag value. It exits 2, and hint (the command's synopsis) follows
// the message.
type usageError struct {
	msg  string
	hint string
}

func (e *usageError) Error() string { return e.msg }

// verificationFailed is a check that ran and found what it checks not good: a broken audit
// chain, an evidence bundle that does not verify, a configuration with problems. It exits 3,
// so a script tells it from a check that could not run (1) or was called wrongly (2).
type verificationFailed struct{ msg string }

func (e *verificationFailed) Error() string { return e.msg }

// exitCode is the exit status for run's error.
func exitCode(err error) int {
	var ue *usageError
	var vf *verificationFailed
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &vf):
		return exitVerification
	}
	return exitFailure
}

// report writes run's error for a person and returns the exit status.
func report(w io.Writer, err error) int {
	code := exitCode(err)
	if code == exitOK {
		return code
	}
	fmt.Fprintln(w, "otpatch:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprint(w, ue.hint)
	}
	return code
}

// command is one thing otpatch does, named by a word ("dev") or a group and a word
// ("vendor submit").
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	run     func(context.Context, []string) error
}

// commands is the whole command line, in the order help lists it.
func commands() []command {
	return append([]command{
		{"dev", "[--data DIR] [--listen ADDR] [--demo] [--no-worker]", "run everything in one process on embedded Temporal, SQLite and S3", runDev},
		{"server", "[flags]", "run the API and the UI (production)", runServer},
		{"worker", "[--site SITE] [flags]", "run a Temporal worker, the only process that reaches devices (production); with --site, a site's worker: only that site's device work, no database, dials out only", runWorker},
		{"agent", "--server URL --asset ID --token-file FILE --signing-public-key FILE", "run the pull agent on a host inside a control zone; it only dials out", runAgent},
		{"migrate", "[--database DSN]", "apply the database migrations", runMigrate},
		{"backup", "--out DIR [--database DSN --temporal-database DSN --temporal-visibility-database DSN --checkpoint-key FILE --s3-endpoint HOST:PORT …]", "copy otpatch's and Temporal's databases, the object store and the signing keys into a folder, with a manifest of hashes and the audit head", runBackup},
		{"restore", "--from DIR [--database DSN --temporal-database DSN --temporal-visibility-database DSN --checkpoint-key FILE --s3-endpoint HOST:PORT …]", "check a backup against its manifest and restore it into empty databases and an empty object store", runRestore},
		{"users bootstrap", "--username NAME [--display-name TEXT] [--database DSN]", "make one of the first two admins of a new installation", runUsersBootstrap},
		{"audit verify", "[--data DIR | --database DSN (--checkpoint-key KEY --s3-endpoint HOST:PORT … | --no-checkpoints)] [--json]", "recompute every audit event and check the log against the signed checkpoints", runAuditVerify},
		{"vendor keygen", "--out NAME", "make an ed25519 vendor key pair: NAME.key (secret) and NAME.pub", vendorKeygen},
		{"vendor sign", "--key KEY [--artifact FILE]... [--out FILE] MANIFEST", "sign a manifest; the signature goes next to it, the manifest is never rewritten", vendorSign},
		{"vendor submit", "--url URL --token TOKEN [--presigned] [--wait] MANIFEST ARTIFACT...", "submit a signed manifest and its artifacts, with progress", vendorSubmit},
		{"vendor scorecard", "--url URL --token TOKEN [--csv] [--from TIME] [--to TIME] VENDOR", "a vendor's supplier scorecard: lead time, refusals, rollbacks, key hygiene, certificate", runVendorScorecard},
		{"discovery import", "--url URL --token TOKEN FILE", "import a network scan (nmap XML or CSV) or switch table (CSV); devices no asset knows raise alarms", runDiscoveryImport},
		{"discovery sites", "--url URL --token TOKEN", "ask every site's worker for its neighbour table now; devices no asset knows raise alarms", runDiscoverySites},
		{"discovery list", "--url URL --token TOKEN [--state open|claimed|rejected]", "list the devices seen that no asset knows", runDiscoveryList},
		{"discovery claim", "--url URL --token TOKEN --asset ID DISCOVERY", "claim an unknown device for an asset; its alarm is cleared", runDiscoveryClaim},
		{"discovery reject", "--url URL --token TOKEN --reason TEXT [--realarm] DISCOVERY", "reject an unknown device, with the reason; its alarm is cleared", runDiscoveryReject},
		{"csaf ingest", "--url URL --token TOKEN FILE...", "load CSAF 2.0 advisories", runCSAFIngest},
		{"advisory decide", "--url URL --token TOKEN --patch|--mitigate|--accept|--not-affected [--assets IDS | --zone Z | --product P | --all] [fields] ADVISORY", "decide what to do about an advisory for a group of its assets; --patch plans the campaign", runAdvisoryDecide},
		{"advisory approve", "--url URL --token TOKEN DECISION", "approve a pending risk acceptance (an approver other than its requester)", runAdvisoryApprove},
		{"advisory reject", "--url URL --token TOKEN --reason TEXT DECISION", "reject a pending risk acceptance, with the reason (its approver, not its requester)", runAdvisoryReject},
		{"report program", "--url URL --token TOKEN [--site S] [--from DAY] [--to DAY] [--csv FILE | --pdf FILE]", "the patch program's figures (lead times, coverage, exposure, downtime, rollbacks), as text, CSV or PDF", runReportProgram},
		{"exploitation import", "--url URL --token TOKEN [--kev FILE|URL] [--epss FILE|URL]", "import CISA's KEV catalog and FIRST's EPSS scores, from files or URLs the server downloads", runExploitationImport},
		{"csaf sync", "--url URL --token TOKEN [--feed ID | --dir PATH [--fingerprint FP]]", "sync the CSAF feeds now, or a provider tree carried to an air-gapped site", runCSAFSync},
		{"drill add", "--url URL --token TOKEN --product ID|--zone ID [--every 90d] [--name TEXT]", "plan a restore drill of a product's or a zone's production backups on the test bench", runDrillAdd},
		{"drill list", "--url URL --token TOKEN [--overdue]", "list the restore drills with their last result, time to restore and next due time", runDrillList},
		{"drill run", "--url URL --token TOKEN DRILL", "run a restore drill now", runDrillRun},
		{"transfer export", "--url URL --token TOKEN --kind plan|results|inventory [--campaign ID] [--out FILE]", "write a signed transfer bundle for or from an air-gapped site, and print its size and SHA-256", runTransferExport},
		{"transfer import", "--url URL --token TOKEN [--accept-gap] FILE...", "verify and import transfer bundles: a plan at the site's instance, results or inventory at the central one", runTransferImport},
		{"transfer key", "--url URL --token TOKEN [--pem]", "print the instance's transfer public key, to pin at the other side", runTransferKey},
		{"evidence verify", "[--checkpoint-key KEY] [--json] BUNDLE", "check a campaign's evidence bundle offline", runEvidenceVerifyStdout},
		{"config check", "[--role server|worker|site-worker] [--site SITE] [--connect] [settings of that role]", "validate a production configuration and say what is missing", runConfigCheck},
		{"openapi", "[--out FILE]", "print the API's OpenAPI document, as the server serves it at /api/v1/openapi.json", runOpenAPI},
		{"healthcheck", "[--url URL] [--ca FILE]", "exit 0 when the server answers /healthz", runHealthcheck},
		{"version", "", "print the version, the commit it was built from and the Go version", runVersion},
	}, append(qualificationCommands(), notifyCommands()...)...)
}

// lookup finds the command called name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// group lists the commands of a group ("vendor"), none when it is not one.
func group(name string) []command {
	var out []command
	for _, c := range commands() {
		if g, _, ok := strings.Cut(c.name, " "); ok && g == name {
			out = append(out, c)
		}
	}
	return out
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// run runs the command line args (without the program name): a command of one word, or a
// group and a word.
func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return &usageError{msg: "no command given", hint: topUsage()}
	}
	word, rest := args[0], args[1:]
	switch {
	case isHelp(word):
		return help(ctx, os.Stdout, rest)
	case word == "-version" || word == "--version":
		return runVersion(ctx, rest)
	}
	if c, ok := lookup(word); ok {
		return c.run(ctx, rest)
	}
	subs := group(word)
	if len(subs) == 0 {
		return &usageError{msg: fmt.Sprintf("unknown command %q", word), hint: "Run 'otpatch help' for the commands.\n"}
	}
	if len(rest) == 0 {
		return &usageError{msg: fmt.Sprintf("%q needs a command", word), hint: groupUsage(word)}
	}
	if isHelp(rest[0]) {
		return help(ctx, os.Stdout, append([]string{word}, rest[1:]...))
	}
	if c, ok := lookup(word + " " + rest[0]); ok {
		return c.run(ctx, rest[1:])
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", word+" "+rest[0]), hint: groupUsage(word)}
}

// help prints the help of the command or group words name, or of otpatch without words.
func help(ctx context.Context, w io.Writer, words []string) error {
	name := strings.Join(words, " ")
	if name == "" {
		fmt.Fprint(w, topUsage())
		return nil
	}
	if c, ok := lookup(name); ok {
		return c.run(ctx, []string{"-h"}) // prints the command's flags to stdout
	}
	if len(words) == 1 && len(group(name)) > 0 {
		fmt.Fprint(w, groupUsage(name))
		return nil
	}
	return &usageError{msg: fmt.Sprintf("no help for %q: it is not a command", name), hint: "Run 'otpatch help' for the commands.\n"}
}

const exitStatuses = `Exit status: 0 done; 1 failed; 2 usage error (unknown command or flag, missing argument,
bad value); 3 verification failed (audit verify, evidence verify, config check).
`

func topUsage() string {
	var b strings.Builder
	b.WriteString("otpatch — patch orchestration for industrial automation and control systems\n\n")
	b.WriteString("Usage:\n  otpatch COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-16s %s\n", c.name, c.summary)
	}
	b.WriteString(`
"otpatch help COMMAND" or "otpatch COMMAND -h" shows a command's synopsis and flags.
Flags may come before or after the arguments; "--" ends them. Settings come from flags and
OTPATCH_* environment variables (each flag's help names its variable).
"otpatch --version" prints the version.

`)
	b.WriteString(exitStatuses)
	return b.String()
}

func groupUsage(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: otpatch %s COMMAND [flags] [arguments]\n\nCommands:\n", name)
	for _, c := range group(name) {
		fmt.Fprintf(&b, "  otpatch %s %s\n        %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(&b, "\nRun 'otpatch %s COMMAND -h' for a command's flags.\n", name)
	return b.String()
}

// flags is a command's flag set. Its parse reads flags anywhere on the line and reports help
// and mistakes in the command's own words.
type flags struct {
	*flag.FlagSet
	cmd command
}

// newFlags is the flag set of the command called name (a name from commands).
func newFlags(name string) *flags {
	c, ok := lookup(name)
	if !ok {
		panic("otpatch: no command " + name) // a name in this package, caught by TestHelpEveryCommand
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports help and errors itself
	fs.Usage = func() {}
	return &flags{FlagSet: fs, cmd: c}
}

// parse reads the flags wherever they are among args and returns the other arguments in
// order: `submit MANIFEST ARTIFACT --url U` is `submit --url U MANIFEST ARTIFACT`. Everything
// after "--" is an argument. -h prints the help to stdout and returns flag.ErrHelp; a bad
// flag returns a usageError.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.help(os.Stdout)
				return nil, flag.ErrHelp
			}
			return nil, f.usageError("%v", err)
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if endedFlags(f.FlagSet, args[:len(args)-len(rest)]) {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// noArgs is parse for a command that takes flags only.
func (f *flags) noArgs(args []string) error {
	pos, err := f.parse(args)
	if err == nil && len(pos) > 0 {
		err = f.usageError("unexpected argument %q", pos[0])
	}
	return err
}

// endedFlags reports whether FlagSet.Parse, having read the arguments in read, stopped at
// "--" (and not at an argument that merely follows a flag whose value was "--").
func endedFlags(fs *flag.FlagSet, read []string) bool {
	for i := 0; i < len(read); i++ {
		if read[i] == "--" {
			return true
		}
		name := strings.TrimLeft(read[i], "-")
		if strings.Contains(name, "=") {
			continue
		}
		if fl := fs.Lookup(name); fl != nil {
			if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				i++ // its value
			}
		}
	}
	return false
}

// usageError says what is wrong with the command line, followed by the command's synopsis.
func (f *flags) usageError(format string, a ...any) error {
	return &usageError{msg: f.Name() + ": " + fmt.Sprintf(format, a...),
		hint: fmt.Sprintf("usage: otpatch %s %s\nRun 'otpatch %s -h' for its flags.\n", f.cmd.name, f.cmd.args, f.cmd.name)}
}

// secretFlag reports whether a flag's value is a credential, never shown in help even when
// it comes from the environment.
func secretFlag(name string) bool {
	switch name {
	case "token", "s3-access-key", "s3-secret-key", "oidc-client-secret":
		return true
	}
	return false
}

// help prints the command's synopsis, summary and flags.
func (f *flags) help(w io.Writer) {
	fmt.Fprintf(w, "usage: otpatch %s %s\n\n%s.\n", f.cmd.name, f.cmd.args, upperFirst(f.cmd.summary))
	first := true
	f.VisitAll(func(fl *flag.Flag) {
		if first {
			fmt.Fprintln(w, "\nFlags:")
			first = false
		}
		typ, text := flag.UnquoteUsage(fl)
		fmt.Fprintf(w, "  --%s", fl.Name)
		if typ != "" {
			fmt.Fprintf(w, " %s", typ)
		}
		fmt.Fprintf(w, "\n        %s", text)
		switch def := fl.DefValue; {
		case def == "" || def == "0" || def == "false" || def == "0s":
		case secretFlag(fl.Name):
			fmt.Fprint(w, " (set; not shown)")
		default:
			if g, ok := fl.Value.(flag.Getter); ok {
				if _, isString := g.Get().(string); isString {
					def = strconv.Quote(def)
				}
			}
			fmt.Fprintf(w, " (default %s)", def)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprint(w, "\nFlags may come before or after the arguments; \"--\" ends them.\n")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
