// Package hostops is the device side of a patch on a Linux host — backup, deploy, verify,
// restore — written once over an abstract Runner, so that the ssh adapter (a Runner over an SSH
// session) and the pull agent (a Runner over os/exec on its own host) behave the same.
//
// What a plant engineer can rely on:
//
//   - Nothing runs in a shell. The manifest's install, verify and rollback steps are parsed by
//     ParseStep into an argv; otpatch's own commands are fixed argvs of standard tools (mkdir,
//     realpath, test, dd, stat, sha256sum, chmod, mv, rm, tar, cat).
//   - Every checksum is computed on the host by sha256sum, independently of the transfer: a
//     backup is written to the work directory and summed there before it is streamed; an
//     artifact or a backup to restore is written there and summed before anything uses it.
//   - Deploy and Restore are idempotent by their key: a marker file
//     WorkDir/applied/<sha256 of the key> is written after success, and a request whose marker
//     exists does nothing. (A host that fails between a successful install and the marker
//     write runs the install again on retry.)
//   - Every command has a timeout (Host.Timeout); a command silent for a while is fine, a
//     command past its timeout is stopped and reported ("install step timed out after 10m0s").
//   - Output of the steps (bounded to 64 KiB per stream) goes to the deployment log through
//     adapters.Output.
//
// Work directory layout: WorkDir/artifacts/<name> (uploaded artifacts, kept for the record),
// WorkDir/applied/<sha256(key)> (markers, JSON), WorkDir/backup-*.tar.gz and
// WorkDir/restore-*.tar.gz (transient, removed after use).
package hostops

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
)

// DefaultTimeout is the timeout of one command when Host.Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// DefaultWorkDir is the work directory when the endpoint names none, relative to the runner's
// working directory (the login home over SSH).
const DefaultWorkDir = ".otpatch"

// ErrTimeout is wrapped by the error of a command stopped because it ran past Host.Timeout.
var ErrTimeout = errors.New("timed out")

// Host performs backup, deploy, verify and restore on one host through Run.
type Host struct {
	Run Runner
	// Endpoint gives BackupPaths and WorkDir (absolute, or relative to the runner's working
	// directory; default DefaultWorkDir).
	Endpoint adapters.Endpoint
	// Timeout bounds every command (default DefaultTimeout).
	Timeout time.Duration
}

func (h *Host) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultTimeout
}

// run runs argv with the host's timeout. what names the command in errors ("install step").
func (h *Host) run(ctx context.Context, what string, argv []string, stdin io.Reader, stdout io.Writer) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	timeout := h.timeout()
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	stderr, err := h.Run.Run(cctx, argv, stdin, stdout)
	if err == nil {
		return stderr, nil
	}
	if ctx.Err() != nil {
		return stderr, fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	if errors.Is(context.Cause(cctx), ErrTimeout) {
		return stderr, fmt.Errorf("%s %w after %s and was stopped", what, ErrTimeout, timeout)
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return stderr, &CommandError{What: what, Argv: argv, Exit: ee, Stderr: stderr}
	}
	return stderr, fmt.Errorf("%s: %w", what, err)
}

// CommandError reports a command that ran on the host and did not exit 0.
type CommandError struct {
	What   string
	Argv   []string
	Exit   *ExitError
	Stderr []byte
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s (%s) failed: %v", e.What, e.Argv[0], e.Exit)
	if tail := lastLines(e.Stderr, 10, 2000); tail != "" {
		msg += "; stderr ends with:\n" + tail
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Exit }

// lastLines returns the last n non-empty lines of b, at most max bytes.
func lastLines(b []byte, n, max int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n\r\t "), "\n")
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if l := strings.TrimRight(lines[i], "\r\t "); l != "" {
			keep = append(keep, l)
		}
	}
	for i, j := 0, len(keep)-1; i < j; i, j = i+1, j-1 {
		keep[i], keep[j] = keep[j], keep[i]
	}
	s := strings.Join(keep, "\n")
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}

// workDir makes the work directory and its subdirectories and returns its absolute path.
func (h *Host) workDir(ctx context.Context) (string, error) {
	wd := h.Endpoint.WorkDir
	if wd == "" {
		wd = DefaultWorkDir
	}
	wd = path.Clean(wd)
	if strings.HasPrefix(wd, "-") {
		wd = "./" + wd
	}
	if _, err := h.run(ctx, "create the work directory", []string{"mkdir", "-p", "-m", "0700", wd, wd + "/artifacts", wd + "/applied"}, nil, nil); err != nil {
		return "", err
	}
	var out bytes.Buffer
	if _, err := h.run(ctx, "resolve the work directory", []string{"realpath", wd}, nil, &out); err != nil {
		return "", err
	}
	abs := lastLine(out.String())
	if !path.IsAbs(abs) {
		return "", fmt.Errorf("resolve the work directory %s: realpath printed %q, not an absolute path", wd, out.String())
	}
	// Artifacts are checked here and then run: nobody but otpatch's account may write in the
	// work directory, or an artifact could be swapped between its check and its install.
	out.Reset()
	dirs := []string{abs, abs + "/artifacts", abs + "/applied"}
	if _, err := h.run(ctx, "check the work directory", append([]string{"stat", "-c", "%u %a %F %n"}, dirs...), nil, &out); err != nil {
		return "", err
	}
	var uid string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 4 {
			return "", fmt.Errorf("check the work directory: stat printed %q", line)
		}
		mode, err := strconv.ParseUint(f[1], 8, 32)
		if err != nil || f[2] != "directory" {
			return "", fmt.Errorf("work directory %s is not a plain directory (%s %s); set work_dir to a directory of otpatch's own", f[3], f[2], f[1])
		}
		if mode&0o022 != 0 {
			return "", fmt.Errorf("work directory %s can be written by other accounts (mode %s); otpatch refuses it: make it 0700 and owned by otpatch's account, or set another work_dir", f[3], f[1])
		}
		if uid == "" {
			uid = f[0]
		} else if f[0] != uid {
			return "", fmt.Errorf("work directory %s belongs to another account (uid %s, not %s); otpatch refuses it", f[3], f[0], uid)
		}
	}
	for _, p := range h.Endpoint.BackupPaths {
		if c := path.Clean(p); abs == c || strings.HasPrefix(abs, c+"/") {
			return "", fmt.Errorf("work directory %s lies inside the backup path %s: the backup would archive otpatch's own files; set work_dir outside the backup paths", abs, c)
		}
	}
	return abs, nil
}

// backupArgs turns BackupPaths into tar operands relative to "/".
func backupArgs(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("the endpoint names no backup paths; set backup_paths to the absolute paths whose archive restores the device")
	}
	args := make([]string, 0, len(paths))
	for _, p := range paths {
		if !path.IsAbs(p) {
			return nil, fmt.Errorf("backup path %q is not absolute", p)
		}
		for _, el := range strings.Split(p, "/") {
			if el == ".." {
				return nil, fmt.Errorf("backup path %q contains \"..\"", p)
			}
		}
		if strings.ContainsAny(p, "\x00\n") {
			return nil, fmt.Errorf("backup path %q contains a NUL or a line break", p)
		}
		c := path.Clean(p)
		if c == "/" {
			return nil, errors.New(`backup path "/" would archive the whole host; name the directories that hold its configuration`)
		}
		// "./" keeps a name like "-x" from being read as an option.
		args = append(args, "."+c)
	}
	return args, nil
}

// maxArchiveListing bounds the member list of a backup archive read before a restore.
const maxArchiveListing = 16 << 20

// checkMembers refuses an archive listing with a member outside the backup paths (members are
// "./path" as Backup wrote them) or with a ".." element.
func checkMembers(listing string, members []string) error {
	for _, name := range strings.Split(listing, "\n") {
		if name == "" {
			continue
		}
		clean := strings.TrimSuffix(name, "/")
		inside := false
		for _, m := range members {
			if clean == m || strings.HasPrefix(clean, m+"/") {
				inside = true
			}
		}
		if !inside || slices.Contains(strings.Split(clean, "/"), "..") {
			return fmt.Errorf("the backup archive holds %q, outside the asset's backup paths; restore refused, nothing was extracted", name)
		}
	}
	return nil
}

// limitedWriter passes on at most n bytes and fails past them.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errors.New("the output is longer than otpatch reads")
	}
	l.n -= len(p)
	return l.w.Write(p)
}

func randomName(prefix, suffix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]) + suffix
}

// sha256File returns the SHA-256 the host computes for file, and its size.
func (h *Host) sha256File(ctx context.Context, what, file string) (sum string, size int64, err error) {
	var out bytes.Buffer
	if _, err := h.run(ctx, "checksum of "+what, []string{"sha256sum", file}, nil, &out); err != nil {
		return "", 0, err
	}
	fields := strings.Fields(lastLine(out.String()))
	if len(fields) == 0 || !isSHA256(fields[0]) {
		return "", 0, fmt.Errorf("checksum of %s: sha256sum printed %q, not a SHA-256", what, out.String())
	}
	out.Reset()
	if _, err := h.run(ctx, "size of "+what, []string{"stat", "-c", "%s", file}, nil, &out); err != nil {
		return "", 0, err
	}
	size, err = strconv.ParseInt(lastLine(out.String()), 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("size of %s: stat printed %q, not a size", what, out.String())
	}
	return strings.ToLower(fields[0]), size, nil
}

// lastLine returns the last non-empty line of s, trimmed. Standard tools print one line; taking
// the last one tolerates a login shell whose rc file prints a greeting.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// remove deletes files on the host, even when ctx is already cancelled.
func (h *Host) remove(ctx context.Context, files ...string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = h.run(rctx, "remove temporary files", append([]string{"rm", "-f"}, files...), nil, nil)
}

// upload writes r to file on the host (through a .partial name, renamed once complete) and
// checks the host's SHA-256 and size of it against wantSum and wantSize (when > 0). On a
// mismatch nothing is left on the host.
func (h *Host) upload(ctx context.Context, what, file string, r io.Reader, wantSum string, wantSize int64) error {
	// A name of its own per upload: a retry never writes into a copy an earlier attempt uses.
	partial := file + "." + randomName("", ".partial")
	sent := &countingReader{r: r}
	if _, err := h.run(ctx, "copy "+what+" to the host", []string{"dd", "of=" + partial, "bs=65536"}, sent, nil); err != nil {
		h.remove(ctx, partial)
		if sent.err != nil {
			return fmt.Errorf("copy %s to the host: read %s: %w", what, what, sent.err)
		}
		return err
	}
	if sent.err != nil {
		h.remove(ctx, partial)
		return fmt.Errorf("copy %s to the host: read %s: %w", what, what, sent.err)
	}
	sum, size, err := h.sha256File(ctx, what, partial)
	if err != nil {
		h.remove(ctx, partial)
		return err
	}
	if sum != strings.ToLower(wantSum) || (wantSize > 0 && size != wantSize) {
		h.remove(ctx, partial)
		return fmt.Errorf("the host computed SHA-256 %s over %d bytes of %s, but %s was expected (%d bytes, %d sent); "+
			"the copy was deleted and nothing was installed", sum, size, what, strings.ToLower(wantSum), wantSize, sent.n)
	}
	if _, err := h.run(ctx, "move "+what+" into place", []string{"mv", "-f", partial, file}, nil, nil); err != nil {
		h.remove(ctx, partial)
		return err
	}
	return nil
}

type countingReader struct {
	r   io.Reader
	n   int64
	err error // a read error other than io.EOF
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func markerName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// lockName is the device lock under the work directory: held while otpatch changes the device.
const lockName = "changing"

// InterruptedError is a change of the device that an earlier attempt started and did not
// finish: it may still be running, or it was cut off. otpatch starts no other change on the
// device (neither a second install nor a restore over a running one): a person checks it.
type InterruptedError struct {
	Lock, Owner string
}

func (e *InterruptedError) Error() string {
	owner := e.Owner
	if owner == "" {
		owner = "unknown"
	}
	return fmt.Sprintf("an earlier change of this device did not finish (%s): it may still be running or was interrupted, so otpatch changes nothing more here; "+
		"check the device on site, then remove %s", owner, e.Lock)
}

// Permanent reports that no retry can clear the lock: a person must.
func (e *InterruptedError) Permanent() bool { return true }

// lockOwner is what the lock's owner file says: the change and when it started.
func lockOwner(key string, since time.Time) string {
	return fmt.Sprintf("%s since %s", key, since.UTC().Format(time.RFC3339))
}

// lock takes the device lock for the change key that started at since (mkdir is atomic), or
// returns an *InterruptedError when it is held. release removes it.
func (h *Host) lock(ctx context.Context, wd, key string, since time.Time) (release func(), err error) {
	dir := wd + "/" + lockName
	if _, err := h.run(ctx, "take the device lock", []string{"mkdir", dir}, nil, nil); err != nil {
		var ce *CommandError
		if !errors.As(err, &ce) {
			return nil, err
		}
		var owner bytes.Buffer
		_, _ = h.run(ctx, "read the device lock", []string{"cat", dir + "/owner"}, nil, &limitedWriter{w: &owner, n: 4096})
		return nil, &InterruptedError{Lock: dir, Owner: strings.TrimSpace(owner.String())}
	}
	if _, err := h.run(ctx, "take the device lock", []string{"dd", "of=" + dir + "/owner"}, strings.NewReader(lockOwner(key, since)+"\n"), nil); err != nil {
		h.unlock(ctx, dir)
		return nil, err
	}
	return func() { h.unlock(ctx, dir) }, nil
}

// Hold takes the device lock for the change key, which started at since and whose end nobody
// recorded (the pull agent stopped while the device changed), and keeps it, as an attempt that
// never finished keeps it: otpatch changes nothing more on the device until a person checked it
// and removed the lock. It returns the *InterruptedError that names the lock; a lock held
// already is kept as it is and named with its own owner.
func (h *Host) Hold(ctx context.Context, key string, since time.Time) error {
	wd, err := h.workDir(ctx)
	if err != nil {
		return err
	}
	if _, err := h.lock(ctx, wd, key, since); err != nil {
		return err
	}
	return &InterruptedError{Lock: wd + "/" + lockName, Owner: lockOwner(key, since)}
}

func (h *Host) unlock(ctx context.Context, dir string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = h.run(rctx, "release the device lock", []string{"rm", "-rf", "--", dir}, nil, nil)
}

// applied reports whether the marker of key exists.
func (h *Host) applied(ctx context.Context, wd, key string) (bool, error) {
	_, err := h.run(ctx, "check the idempotency marker", []string{"test", "-e", wd + "/applied/" + markerName(key)}, nil, nil)
	var ce *CommandError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ce) && ce.Exit.Status == 1:
		return false, nil
	}
	return false, err
}

// markApplied writes the marker of key, a JSON record of what was done.
func (h *Host) markApplied(ctx context.Context, wd, key string, record map[string]any) error {
	record["idempotency_key"] = key
	record["at"] = time.Now().UTC().Format(time.RFC3339)
	b, _ := json.Marshal(record)
	b = append(b, '\n')
	file := wd + "/applied/" + markerName(key)
	if _, err := h.run(ctx, "write the idempotency marker", []string{"dd", "of=" + file + ".partial"}, bytes.NewReader(b), nil); err != nil {
		return err
	}
	_, err := h.run(ctx, "write the idempotency marker", []string{"mv", "-f", file + ".partial", file}, nil, nil)
	return err
}

// Backup archives Endpoint.BackupPaths on the host with tar and gzip into the work directory,
// has the host compute its SHA-256, and streams the archive. Closing the stream removes the
// archive from the host.
func (h *Host) Backup(ctx context.Context) (io.ReadCloser, string, error) {
	args, err := backupArgs(h.Endpoint.BackupPaths)
	if err != nil {
		return nil, "", err
	}
	wd, err := h.workDir(ctx)
	if err != nil {
		return nil, "", err
	}
	archive := wd + "/" + randomName("backup-", ".tar.gz")
	if _, err := h.run(ctx, "backup (tar)", append([]string{"tar", "-czf", archive, "-C", "/"}, args...), nil, nil); err != nil {
		h.remove(ctx, archive)
		return nil, "", err
	}
	sum, _, err := h.sha256File(ctx, "the backup", archive)
	if err != nil {
		h.remove(ctx, archive)
		return nil, "", err
	}
	sctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := h.run(sctx, "read the backup", []string{"cat", archive}, nil, pw)
		pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	return &backupStream{PipeReader: pr, close: func() {
		cancel()
		_ = pr.Close()
		<-done
		h.remove(ctx, archive)
	}}, sum, nil
}

type backupStream struct {
	*io.PipeReader
	close func()
	once  sync.Once
}

// Close ends the stream and removes the archive from the host, once, whoever calls it first
// (an HTTP transport closes request bodies from its own goroutine).
func (b *backupStream) Close() error {
	b.once.Do(b.close)
	return nil
}

// Deploy copies artifact to WorkDir/artifacts/<ArtifactName>, checks on the host that its
// SHA-256 (and size, when given) match the request, and runs the install step. A request whose
// idempotency key was applied before does nothing.
func (h *Host) Deploy(ctx context.Context, req adapters.DeployRequest, artifact io.Reader) error {
	if req.IdempotencyKey == "" {
		return errors.New("deploy request has no idempotency key")
	}
	if !isSHA256(req.ArtifactSHA256) {
		return fmt.Errorf("deploy request's artifact SHA-256 %q is not 64 hex digits", req.ArtifactSHA256)
	}
	name := req.ArtifactName
	if name == "" {
		name = strings.ToLower(req.ArtifactSHA256)
	}
	if err := checkFileName(name); err != nil {
		return err
	}
	if strings.TrimSpace(req.Install) == "" {
		return errors.New("the patch has no install step; a device adapter needs one to know how to install the artifact")
	}
	wd, err := h.workDir(ctx)
	if err != nil {
		return err
	}
	file := wd + "/artifacts/" + name
	argv, err := ParseStep(req.Install, map[string]string{VarArtifact: file, VarVersion: req.ToVersion, VarWorkDir: wd})
	if err != nil {
		return fmt.Errorf("install step: %w", err)
	}
	done, err := h.applied(ctx, wd, req.IdempotencyKey)
	if err != nil {
		return err
	}
	if done {
		adapters.Output(ctx, "otpatch", "deploy "+req.IdempotencyKey+" was applied before; nothing done")
		return nil
	}
	if artifact == nil {
		return errors.New("deploy request has no artifact to copy")
	}
	release, err := h.lock(ctx, wd, req.IdempotencyKey, time.Now())
	if err != nil {
		return err
	}
	defer release()
	if err := h.upload(ctx, "artifact "+name, file, artifact, req.ArtifactSHA256, req.ArtifactSize); err != nil {
		return err
	}
	// An install step may run the artifact itself.
	if _, err := h.run(ctx, "make the artifact executable", []string{"chmod", "0700", file}, nil, nil); err != nil {
		return err
	}
	if _, _, err := h.step(ctx, "install", argv); err != nil {
		return err
	}
	return h.markApplied(ctx, wd, req.IdempotencyKey, map[string]any{
		"operation": "deploy", "patch_id": req.PatchID, "to_version": req.ToVersion,
		"artifact": file, "artifact_sha256": strings.ToLower(req.ArtifactSHA256),
	})
}

func checkFileName(name string) error {
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00\n") || strings.HasPrefix(name, "-") || len(name) > 200 {
		return fmt.Errorf("artifact name %q is not a plain file name", name)
	}
	return nil
}

// step runs a manifest step, records its output with adapters.Output as "<kind> stdout" and
// "<kind> stderr", and returns the output.
func (h *Host) step(ctx context.Context, kind string, argv []string) (stdout, stderr []byte, err error) {
	out := NewCapture(DefaultCaptureLimit)
	errb, err := h.run(ctx, kind+" step", argv, nil, out)
	stdout = out.Bytes()
	if len(errb) > DefaultCaptureLimit {
		c := NewCapture(DefaultCaptureLimit)
		_, _ = c.Write(errb)
		errb = c.Bytes()
	}
	adapters.Output(ctx, kind+" stdout", string(stdout))
	adapters.Output(ctx, kind+" stderr", string(errb))
	return stdout, errb, err
}

// Verify runs the verify step. The host is healthy when the step exits 0; the version is the
// last non-empty line of its stdout ("2.4.1" or "version=2.4.1"). A step that exits non-zero
// makes an unhealthy result, not an error, with the end of its stderr as the detail.
func (h *Host) Verify(ctx context.Context, req adapters.VerifyRequest) (adapters.VerifyResult, error) {
	if strings.TrimSpace(req.Step) == "" {
		return adapters.VerifyResult{}, errors.New("the patch has no verify step; a device adapter needs one to read the installed version")
	}
	wd, err := h.workDir(ctx)
	if err != nil {
		return adapters.VerifyResult{}, err
	}
	argv, err := ParseStep(req.Step, map[string]string{VarVersion: req.Expect, VarWorkDir: wd})
	if err != nil {
		return adapters.VerifyResult{}, fmt.Errorf("verify step: %w", err)
	}
	stdout, stderr, err := h.step(ctx, "verify", argv)
	res := adapters.VerifyResult{Version: parseVersion(stdout), Healthy: err == nil}
	var ce *CommandError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		res.Detail = fmt.Sprintf("verify step %v", ce.Exit)
		if tail := lastLines(stderr, 10, 2000); tail != "" {
			res.Detail += ": " + tail
		}
	default:
		return adapters.VerifyResult{}, err
	}
	return res, nil
}

// parseVersion returns the last non-empty line of out, without a "version=" prefix.
func parseVersion(out []byte) string {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), len(out)+1)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	if k, v, ok := strings.Cut(last, "="); ok && strings.EqualFold(strings.TrimSpace(k), "version") {
		last = strings.TrimSpace(v)
	}
	return last
}

// Restore copies the backup to the work directory, checks its SHA-256 (and size, when given) on
// the host against the request, extracts it over "/" with tar, and runs the rollback step if
// there is one. Files created since the backup are not removed. A request whose idempotency key
// was applied before does nothing.
func (h *Host) Restore(ctx context.Context, req adapters.RestoreRequest) error {
	if req.IdempotencyKey == "" {
		return errors.New("restore request has no idempotency key")
	}
	if !isSHA256(req.BackupSHA256) {
		return fmt.Errorf("restore request's backup SHA-256 %q is not 64 hex digits", req.BackupSHA256)
	}
	if req.Backup == nil {
		return errors.New("restore request has no backup to copy")
	}
	wd, err := h.workDir(ctx)
	if err != nil {
		return err
	}
	var argv []string
	if strings.TrimSpace(req.Step) != "" {
		if argv, err = ParseStep(req.Step, map[string]string{VarWorkDir: wd}); err != nil {
			return fmt.Errorf("rollback step: %w", err)
		}
	}
	done, err := h.applied(ctx, wd, req.IdempotencyKey)
	if err != nil {
		return err
	}
	if done {
		adapters.Output(ctx, "otpatch", "restore "+req.IdempotencyKey+" was applied before; nothing done")
		return nil
	}
	release, err := h.lock(ctx, wd, req.IdempotencyKey, time.Now())
	if err != nil {
		return err
	}
	defer release()
	archive := wd + "/" + randomName("restore-", ".tar.gz")
	if err := h.upload(ctx, "the backup", archive, req.Backup, req.BackupSHA256, req.BackupSize); err != nil {
		return err
	}
	defer h.remove(ctx, archive)
	// Only what the backup paths hold is put back: an archive with anything else in it is
	// refused before a byte is extracted, and tar is told the members to extract.
	members, err := backupArgs(h.Endpoint.BackupPaths)
	if err != nil {
		return err
	}
	var list bytes.Buffer
	if _, err := h.run(ctx, "restore (list the archive)", []string{"tar", "-tzf", archive}, nil, &limitedWriter{w: &list, n: maxArchiveListing}); err != nil {
		return err
	}
	if err := checkMembers(list.String(), members); err != nil {
		return err
	}
	if _, err := h.run(ctx, "restore (tar)", append([]string{"tar", "-xzf", archive, "-C", "/", "--"}, members...), nil, nil); err != nil {
		return err
	}
	if argv != nil {
		if _, _, err := h.step(ctx, "rollback", argv); err != nil {
			return err
		}
	}
	return h.markApplied(ctx, wd, req.IdempotencyKey, map[string]any{
		"operation": "restore", "backup_sha256": strings.ToLower(req.BackupSHA256),
	})
}
