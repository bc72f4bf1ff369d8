// Package agent is otpatch's pull agent: a process on a host inside the control zone that
// dials out to otpatch over HTTPS, long-polls for the jobs of the one asset its token is bound
// to, checks each job's ed25519 signature against the job-signing key it pinned, performs the
// job on its own host through hostops, and reports progress and the result. It never listens
// on a socket. A journal in its state directory makes it resume after a restart without
// repeating a step. The journal is written ahead of the device: before a deploy or a restore
// starts changing the device, the change is journaled as started (synced to disk), and its
// result after it ends. After a restart a job whose result is journaled is reported again,
// never run again; a change journaled as started with no result is never run again either:
// the device is asked what it runs, and a deploy it reports as installed is done, while
// anything else holds the device lock for a person, as an interrupted change does over SSH. A
// backup or a verify cut short by a restart changed nothing and runs again.
package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/client"
	"github.com/otpatch/otpatch/internal/hostops"
)

// Device performs operations on the agent's host; hostops.Host is the real one.
type Device interface {
	Backup(ctx context.Context) (io.ReadCloser, string, error)
	Deploy(ctx context.Context, req adapters.DeployRequest, artifact io.Reader) error
	Verify(ctx context.Context, req adapters.VerifyRequest) (adapters.VerifyResult, error)
	Restore(ctx context.Context, req adapters.RestoreRequest) error
	// Hold locks the device for the change key, started at since, whose end is unknown, and
	// returns the error (a *hostops.InterruptedError) that tells a person what to check.
	Hold(ctx context.Context, key string, since time.Time) error
}

var _ Device = (*hostops.Host)(nil)

// Config configures an agent.
type Config struct {
	// Server is otpatch's base URL; it must be https://.
	Server string
	// AssetID is the asset this agent acts for; its token must be bound to the same asset.
	AssetID string
	// Token is the agent credential's token.
	Token string
	// SigningKey is the pinned job-signing public key; a job it does not verify is refused.
	SigningKey ed25519.PublicKey
	// StateDir keeps the journal and is the working directory of the device's commands.
	StateDir string
	// Client makes the HTTPS requests (see NewHTTPClient).
	Client *http.Client
	// Wait is how long one long poll waits for a job (default 20 s).
	Wait time.Duration
	// ProgressEvery is how often a running job reports progress (default 5 s).
	ProgressEvery time.Duration
	// StepTimeout bounds each command on the host (default hostops.DefaultTimeout).
	StepTimeout time.Duration
	// Device returns the device for a job's endpoint (default: hostops.Host over hostops.Local
	// in StateDir).
	Device func(adapters.Endpoint) Device
	// Host reads what the agent reports of its host when it starts (default LocalHost).
	Host func() (jobs.Host, error)
	Log  *slog.Logger
}

// Agent is a configured pull agent.
type Agent struct {
	cfg Config
	// api makes the calls whose answers are read whole (bounded by maxAnswer); files opens
	// artifact and backup downloads, which are streamed.
	api     *client.ClientWithResponses
	files   *client.Client
	journal *journal
}

// New checks the configuration and opens the journal.
func New(cfg Config) (*Agent, error) {
	var missing []string
	u, err := url.Parse(cfg.Server)
	switch {
	case cfg.Server == "":
		missing = append(missing, "the server URL (https://…)")
	case err != nil || u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("server URL %q: must be https://HOST[:PORT]; the agent talks to otpatch only over HTTPS", cfg.Server)
	}
	if cfg.AssetID == "" {
		missing = append(missing, "the asset ID the agent acts for")
	}
	if cfg.Token == "" {
		missing = append(missing, "the agent token")
	}
	if len(cfg.SigningKey) != ed25519.PublicKeySize {
		missing = append(missing, "the pinned job-signing public key")
	}
	if cfg.StateDir == "" {
		missing = append(missing, "the state directory")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("agent configuration is missing %s", strings.Join(missing, ", "))
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}, CheckRedirect: noRedirects}
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 20 * time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Host == nil {
		cfg.Host = LocalHost
	}
	if cfg.Device == nil {
		dir, timeout := cfg.StateDir, cfg.StepTimeout
		cfg.Device = func(ep adapters.Endpoint) Device {
			return &hostops.Host{Run: hostops.Local{Dir: dir}, Endpoint: ep, Timeout: timeout}
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	j, err := openJournal(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	token := cfg.Token
	identify := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("User-Agent", "otpatch-agent")
		return nil
	}
	server := strings.TrimRight(u.String(), "/")
	api, err := client.NewClientWithResponses(server, client.WithHTTPClient(limited{cfg.Client}), client.WithRequestEditorFn(identify))
	if err != nil {
		return nil, err
	}
	files, err := client.NewClient(server, client.WithHTTPClient(cfg.Client), client.WithRequestEditorFn(identify))
	if err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, api: api, files: files, journal: j}, nil
}

// maxAnswer bounds how much of an answer the agent reads whole.
const maxAnswer = 4 << 20

// limited sends the agent's requests with its HTTP client and reads at most maxAnswer bytes of
// each answer.
type limited struct{ hc *http.Client }

func (d limited) Do(req *http.Request) (*http.Response, error) {
	res, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	res.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(res.Body, maxAnswer), res.Body}
	return res, nil
}

// unreadable words the error of a call that brought no answer the agent can use: the request
// failed (the error names the method and URL), or the answer is not JSON.
func unreadable(what string, err error) error {
	var (
		syntax *json.SyntaxError
		kind   *json.UnmarshalTypeError
	)
	if errors.As(err, &syntax) || errors.As(err, &kind) {
		return fmt.Errorf("%s: answer is not JSON: %w", what, err)
	}
	return err
}

// NewHTTPClient returns an HTTPS client (TLS 1.2 or later) that trusts the CA certificates in
// caFile (the system's when empty) and, with certFile and keyFile, presents a client
// certificate for mutual TLS.
func NewHTTPClient(caFile, certFile, keyFile string) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("mutual TLS needs both the client certificate and its key")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 15 * time.Second, ResponseHeaderTimeout: 2 * time.Minute, IdleConnTimeout: 90 * time.Second},
		CheckRedirect: noRedirects}, nil
}

// noRedirects keeps the agent's token from following a redirect anywhere.
func noRedirects(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("otpatch answered with a redirect to %s; the agent follows none", req.URL.Redacted())
}

// errFatal marks errors the agent cannot recover from by retrying (a revoked token).
type errFatal struct{ error }

func (e errFatal) Unwrap() error { return e.error }

// Run polls for jobs and performs them until ctx ends or the credential stops working.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.checkIdentity(ctx); err != nil {
		return err
	}
	a.reportHost(ctx)
	a.cfg.Log.Info("otpatch agent polling", "server", a.cfg.Server, "asset_id", a.cfg.AssetID, "state_dir", a.cfg.StateDir)
	// Changes a restart cut short are settled, then results journaled before a restart and not
	// yet accepted are reported, before any new job.
	for _, e := range a.journal.cutShort() {
		if err := a.settle(ctx, e); err != nil {
			return a.stopped(ctx, err)
		}
	}
	for _, e := range a.journal.unreported() {
		if err := a.report(ctx, e); err != nil {
			return a.stopped(ctx, err)
		}
	}
	back := backoff{}
	for ctx.Err() == nil {
		env, ok, err := a.next(ctx)
		if err != nil {
			var fatal errFatal
			if errors.As(err, &fatal) || ctx.Err() != nil {
				return a.stopped(ctx, err)
			}
			a.cfg.Log.Warn("polling otpatch failed; retrying", "err", err, "in", back.peek())
			back.sleep(ctx)
			continue
		}
		back.reset()
		if !ok {
			continue
		}
		if err := a.handle(ctx, env); err != nil {
			return a.stopped(ctx, err)
		}
	}
	return nil
}

func (a *Agent) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// checkIdentity asks the server which asset the token is bound to, retrying while the server
// cannot be reached.
func (a *Agent) checkIdentity(ctx context.Context) error {
	back := backoff{}
	for {
		res, err := a.api.GetAgentIdentityWithResponse(ctx)
		if err != nil {
			err = unreadable("GET /api/v1/agent/me", err)
		}
		switch {
		case err == nil && res.JSON200 != nil:
			if me := res.JSON200; me.AssetId != a.cfg.AssetID {
				return fmt.Errorf("the agent token is bound to asset %s (%s), but this agent is configured for %s: use the token issued for %s", me.AssetId, me.AssetName, a.cfg.AssetID, a.cfg.AssetID)
			}
			return nil
		case err == nil && (res.StatusCode() == http.StatusUnauthorized || res.StatusCode() == http.StatusForbidden):
			return fmt.Errorf("otpatch refused the agent token (%d): it is not an agent token, or it was revoked; an admin issues one with POST /api/v1/assets/%s/agent-credentials", res.StatusCode(), a.cfg.AssetID)
		case err == nil && res.StatusCode() == http.StatusOK:
			err = errors.New("GET /api/v1/agent/me answered 200 without JSON")
		case err == nil:
			err = fmt.Errorf("GET /api/v1/agent/me answered %d", res.StatusCode())
		}
		if ctx.Err() != nil {
			return nil
		}
		a.cfg.Log.Warn("cannot reach otpatch yet; retrying", "server", a.cfg.Server, "err", err, "in", back.peek())
		back.sleep(ctx)
	}
}

// next long-polls for the next job.
func (a *Agent) next(ctx context.Context) (jobs.Envelope, bool, error) {
	// Go's form of the duration (20s), which the server reads besides ISO 8601.
	wait := a.cfg.Wait.Round(time.Second).String()
	res, err := a.api.PollAgentJobWithResponse(ctx, &client.PollAgentJobParams{Wait: &wait})
	if err != nil {
		return jobs.Envelope{}, false, unreadable("GET /api/v1/agent/jobs/next", err)
	}
	switch status := res.StatusCode(); {
	case res.JSON200 != nil:
		return jobs.Envelope{ID: res.JSON200.Id, Payload: res.JSON200.Payload, Signature: res.JSON200.Signature}, true, nil
	case status == http.StatusNoContent:
		return jobs.Envelope{}, false, nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return jobs.Envelope{}, false, errFatal{fmt.Errorf("otpatch refused the agent token (%d); it was revoked or is not an agent token", status)}
	case status == http.StatusOK:
		return jobs.Envelope{}, false, errors.New("GET /api/v1/agent/jobs/next answered 200 without JSON")
	default:
		return jobs.Envelope{}, false, fmt.Errorf("GET /api/v1/agent/jobs/next answered %d", status)
	}
}

// handle verifies a job, performs it unless its result is journaled, and reports the result.
func (a *Agent) handle(ctx context.Context, env jobs.Envelope) error {
	job, err := jobs.Open(a.cfg.SigningKey, a.cfg.AssetID, env, time.Now())
	if err != nil {
		// Refused before anything runs. The server learns why, so the campaign does not wait
		// for a job that will never run.
		var claimed struct {
			Attempt int `json:"attempt"`
		}
		_ = json.Unmarshal([]byte(env.Payload), &claimed)
		a.cfg.Log.Error("job refused", "job_id", env.ID, "err", err)
		e := &entry{JobID: env.ID, Attempt: max(claimed.Attempt, 1), Refused: true,
			Result: &jobs.Result{Attempt: max(claimed.Attempt, 1), OK: false, Error: "the agent refused the job: " + err.Error()}}
		if err := a.report(ctx, e); err != nil {
			return err
		}
		// A refused job stays unfinished when the server does not take the refusal; do not
		// spin on it.
		(&backoff{d: 10 * time.Second}).sleep(ctx)
		return nil
	}
	e := a.journal.get(job.ID, job.Attempt)
	// Run settles cut-short changes before it polls; settling here too keeps one from ever
	// being run again below.
	if e != nil && e.cutShort() {
		if err := a.settle(ctx, e); err != nil {
			return err
		}
	}
	if e != nil && e.Result != nil {
		a.cfg.Log.Info("job finished before a restart; reporting its journaled result again", "job_id", job.ID, "op", job.Op, "attempt", job.Attempt)
		return a.report(ctx, e)
	}
	if e == nil {
		e = &entry{JobID: job.ID, Attempt: job.Attempt, Op: job.Op, IdempotencyKey: job.IdempotencyKey, ReceivedAt: time.Now().UTC()}
	} else {
		a.cfg.Log.Info("job was interrupted by a restart before it changed the device; running it again", "job_id", job.ID, "op", job.Op)
	}
	e.Starts++
	if err := a.journal.put(e); err != nil {
		return err
	}
	a.cfg.Log.Info("job started", "job_id", job.ID, "op", job.Op, "attempt", job.Attempt, "idempotency_key", job.IdempotencyKey)
	// Write-ahead: the change is on disk as started before the device starts it.
	begin := func() error {
		now := time.Now().UTC()
		e.Job, e.ChangeStarted = &job, &now
		return a.journal.put(e)
	}
	res, err := a.perform(ctx, job, begin)
	if err != nil && ctx.Err() != nil {
		// Stopped. A job that had not started changing the device runs again after the restart;
		// a change that had started is settled then (settle), never run again.
		return nil
	}
	e.Result = res
	if err := a.journal.put(e); err != nil {
		return err
	}
	a.cfg.Log.Info("job finished", "job_id", job.ID, "op", job.Op, "ok", res.OK, "error", res.Error)
	return a.report(ctx, e)
}

// perform runs the job on the device, reporting progress while it runs; begin journals a
// change as started right before the device starts it. It returns the result; err is set
// only when the result is a failure.
func (a *Agent) perform(ctx context.Context, job jobs.Job, begin func() error) (*jobs.Result, error) {
	res := &jobs.Result{Attempt: job.Attempt, OK: true}
	out := &outputs{}
	ctx = adapters.WithOutput(ctx, out.add)
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.progress(pctx, job)
	}()
	err := a.do(ctx, job, res, begin)
	stop()
	wg.Wait()
	res.Output = out.list()
	if err != nil {
		res.OK, res.Error, res.Permanent = false, err.Error(), adapters.IsPermanent(err)
		res.BackupSHA256, res.BackupSize, res.Verify = "", 0, nil
	}
	return res, err
}

func (a *Agent) do(ctx context.Context, job jobs.Job, res *jobs.Result, begin func() error) error {
	dev := a.cfg.Device(job.Endpoint)
	switch job.Op {
	case jobs.OpBackup:
		rc, sum, err := dev.Backup(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		// The archive is streamed; the header carries the SHA-256 the host computed.
		digest := func(_ context.Context, req *http.Request) error {
			req.Header.Set(jobs.BackupSHA256Header, sum)
			return nil
		}
		up, err := a.api.UploadJobBackupWithBodyWithResponse(ctx, job.ID, "application/octet-stream", rc, digest)
		if err != nil {
			return fmt.Errorf("upload the backup: %w", unreadable("PUT /api/v1/agent/jobs/"+job.ID+"/backup", err))
		}
		switch {
		case up.StatusCode() != http.StatusCreated:
			return fmt.Errorf("upload the backup: otpatch answered %d", up.StatusCode())
		case up.JSON201 == nil:
			return errors.New("upload the backup: otpatch answered 201 without JSON")
		}
		res.BackupSHA256, res.BackupSize = sum, up.JSON201.Size
		// Remember the backup: a restore puts back only an archive this agent made.
		return a.rememberBackup(sum)
	case jobs.OpDeploy:
		body, err := download(a.files.DownloadJobArtifact(ctx, job.ID))
		if err != nil {
			return fmt.Errorf("download the artifact: %w", err)
		}
		defer body.Close()
		if err := begin(); err != nil {
			return err
		}
		// Never more than the signed size reaches the host (hostops checks size and SHA-256).
		return dev.Deploy(ctx, *job.Deploy, io.LimitReader(body, job.Deploy.ArtifactSize+1))
	case jobs.OpVerify:
		v, err := dev.Verify(ctx, *job.Verify)
		if err != nil {
			return err
		}
		res.Verify = &v
		return nil
	case jobs.OpRestore:
		if !a.madeBackup(job.Restore.BackupSHA256) {
			return fmt.Errorf("backup %s was not made by this agent; restore refused, the device was not changed", job.Restore.BackupSHA256)
		}
		body, err := download(a.files.DownloadJobBackup(ctx, job.ID))
		if err != nil {
			return fmt.Errorf("download the backup: %w", err)
		}
		defer body.Close()
		if err := begin(); err != nil {
			return err
		}
		req := *job.Restore
		req.Backup = io.LimitReader(body, req.BackupSize+1)
		return dev.Restore(ctx, req)
	}
	return fmt.Errorf("unknown operation %q", job.Op)
}

// settle ends a change that the journal has as started and not ended: the agent stopped or
// died while the device changed, so the change may have finished, been cut off, or still run.
// It is never run again. A deploy whose device reports the version it installs is done.
// Anything else — a deploy the device does not report, any restore — holds the device lock,
// as an attempt that never finished does over SSH, and fails permanently: a person checks the
// device and removes the lock before otpatch changes it again.
func (a *Agent) settle(ctx context.Context, e *entry) error {
	job := *e.Job
	a.cfg.Log.Warn("a change was cut short by a restart before its end was journaled; asking the device instead of running it again",
		"job_id", job.ID, "op", job.Op, "idempotency_key", job.IdempotencyKey, "started", e.ChangeStarted)
	out := &outputs{}
	dctx := adapters.WithOutput(ctx, out.add)
	dev := a.cfg.Device(job.Endpoint)
	res := &jobs.Result{Attempt: e.Attempt}
	done, why := installed(dctx, dev, job)
	out.add("otpatch", why)
	if !done {
		err := dev.Hold(dctx, job.IdempotencyKey, *e.ChangeStarted)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			err = fmt.Errorf("%s was cut short by a restart of the agent and its end is unknown; check the device on site before otpatch changes it again", job.Op)
		}
		res.Error, res.Permanent = err.Error(), true
	}
	res.OK = done
	res.Output = out.list()
	e.Result = res
	a.cfg.Log.Info("change settled without running it again", "job_id", job.ID, "op", job.Op, "ok", res.OK, "error", res.Error)
	return a.journal.put(e)
}

// installed asks the device whether the deploy job's change is in place: whether it runs the
// version the job installs. why says what the device answered.
func installed(ctx context.Context, dev Device, job jobs.Job) (done bool, why string) {
	what := fmt.Sprintf("%s %s was cut short by a restart of the agent before its end was journaled", job.Op, job.IdempotencyKey)
	if job.Op != jobs.OpDeploy {
		return false, what + "; the device cannot tell whether it finished, so it was not run again"
	}
	if job.Verify == nil {
		return false, what + "; the job carries no verify step to ask the device what it runs, so it was not run again"
	}
	v, err := dev.Verify(ctx, *job.Verify)
	switch {
	case err != nil:
		return false, fmt.Sprintf("%s; the device's version could not be read (%v), so it was not run again", what, err)
	case v.Version != job.Deploy.ToVersion:
		return false, fmt.Sprintf("%s; the device reports version %q, not %s, so it was not run again", what, v.Version, job.Deploy.ToVersion)
	}
	return true, fmt.Sprintf("%s; the device reports version %s, the version it installs: the install is done and was not run again", what, v.Version)
}

// rememberBackup records that this agent made the backup with SHA-256 sum.
func (a *Agent) rememberBackup(sum string) error {
	if !isHexSHA256(sum) {
		return fmt.Errorf("backup SHA-256 %q is not 64 hex digits", sum)
	}
	dir := filepath.Join(a.cfg.StateDir, "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, strings.ToLower(sum)), nil, 0o600)
}

// madeBackup reports whether this agent made the backup with SHA-256 sum.
func (a *Agent) madeBackup(sum string) bool {
	if !isHexSHA256(sum) {
		return false
	}
	_, err := os.Stat(filepath.Join(a.cfg.StateDir, "backups", strings.ToLower(sum)))
	return err == nil
}

func isHexSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// progress tells the server the job is being worked on, every ProgressEvery, until ctx ends.
func (a *Agent) progress(ctx context.Context, job jobs.Job) {
	t := time.NewTicker(a.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		message := job.Op + " running"
		res, err := a.api.ReportJobProgressWithResponse(ctx, job.ID, client.JobProgressInput{Attempt: int64(job.Attempt), Message: &message})
		if err != nil && ctx.Err() == nil {
			a.cfg.Log.Warn("progress report failed", "job_id", job.ID, "err", unreadable("POST /api/v1/agent/jobs/"+job.ID+"/progress", err))
		} else if err == nil && res.StatusCode() != http.StatusNoContent {
			a.cfg.Log.Warn("progress report refused", "job_id", job.ID, "status", res.StatusCode())
		}
	}
}

// report sends a journaled result until otpatch accepts it, or answers that it no longer
// wants it (the job was queued again or is gone).
func (a *Agent) report(ctx context.Context, e *entry) error {
	// The result goes as the journal holds it: the server reads the same jobs.Result, and the
	// document's schema for it is made from that type.
	b, _ := json.Marshal(e.Result)
	back := backoff{}
	for {
		res, err := a.api.ReportJobResultWithBodyWithResponse(ctx, e.JobID, "application/json", bytes.NewReader(b))
		status := 0
		if err != nil {
			err = unreadable("POST /api/v1/agent/jobs/"+e.JobID+"/result", err)
		} else {
			status = res.StatusCode()
		}
		switch {
		case err == nil && status == http.StatusNoContent:
			return a.journal.reported(e)
		case err == nil && (status == http.StatusConflict || status == http.StatusNotFound || status == http.StatusUnprocessableEntity):
			detail := ""
			if p := res.ApplicationproblemJSON4XX; p != nil && p.Detail != nil {
				detail = *p.Detail
			}
			a.cfg.Log.Warn("otpatch does not take this result; dropping it", "job_id", e.JobID, "attempt", e.Attempt, "status", status, "detail", detail)
			return a.journal.reported(e)
		case err == nil && (status == http.StatusUnauthorized || status == http.StatusForbidden):
			return errFatal{fmt.Errorf("otpatch refused the agent token (%d) while reporting job %s; it was revoked", status, e.JobID)}
		case err == nil:
			err = fmt.Errorf("answered %d", status)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.cfg.Log.Warn("reporting the result failed; retrying", "job_id", e.JobID, "err", err, "in", back.peek())
		back.sleep(ctx)
	}
}

// download opens a streamed download from the answer of a DownloadJob call.
func download(res *http.Response, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		return nil, fmt.Errorf("otpatch answered %d: %s", res.StatusCode, strings.TrimSpace(string(b)))
	}
	return res.Body, nil
}

// outputs collects what the device printed, bounded.
type outputs struct {
	mu    sync.Mutex
	items []jobs.Output
	n     int
}

func (o *outputs) add(stream, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	room := jobs.MaxOutput/2 - o.n
	if room <= 0 {
		return
	}
	if len(text) > room {
		text = text[:room] + "\n[… truncated]"
	}
	o.n += len(text)
	o.items = append(o.items, jobs.Output{Stream: stream, Text: text})
}

func (o *outputs) list() []jobs.Output {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.items
}

// backoff waits 1 s, 2 s, 4 s … up to 30 s between retries.
type backoff struct{ d time.Duration }

func (b *backoff) peek() time.Duration {
	if b.d == 0 {
		return time.Second
	}
	return b.d
}

func (b *backoff) sleep(ctx context.Context) {
	d := b.peek()
	b.d = min(2*d, 30*time.Second)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (b *backoff) reset() { b.d = 0 }
