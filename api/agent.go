package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// Pull agents. An admin issues an agent credential for one asset; its token (role agent) works
// only on the /agent routes, and only for that asset's jobs, and no user token works there.
// The agent long-polls for its next job, downloads what the job needs, reports progress while
// it works and its result at the end; a backup is uploaded, streamed into the object store and
// checked against the SHA-256 the agent's host computed. The agent only dials out: no inbound
// connection into the control zone is needed.

// MaxAgentBackupBytes bounds one backup an agent uploads.
const MaxAgentBackupBytes = 8 << 30

// agentLongPoll bounds GET /agent/jobs/next.
const (
	agentDefaultWait = 20 * time.Second
	agentMaxWait     = 60 * time.Second
)

const agentKey ctxKey = 101

func agentOf(r *http.Request) store.AgentCredential {
	c, _ := r.Context().Value(agentKey).(store.AgentCredential)
	return c
}

// agentOnly resolves the agent's bearer token to its credential (and so its asset) and records
// that the agent was heard from. A browser session is never an agent. The contact is kept in
// memory (store.TouchAgent), and while notifications are relayed a token seen before resolves
// from memory (store.AgentBySecret): an idle agent's poll costs no query here.
func (s *server) agentOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, cookie := sessionOf(r); cookie || !ok {
			s.refuse(w, r, http.StatusForbidden, "access.denied", "agent routes take the agent's bearer token, not a browser session")
			return
		}
		c, err := s.Store.AgentBySecret(r.Context(), token)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				s.refuseAuth(w, r, http.StatusUnauthorized, "bad_agent_token", "the agent token is not valid or was revoked; an admin issues a new one with POST /api/v1/assets/{assetID}/agent-credentials")
				return
			}
			s.internal(w, r, err)
			return
		}
		if err := s.Store.TouchAgent(r.Context(), c.ID); err != nil {
			return // the request ended: there is no one to answer
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), agentKey, c)))
	})
}

type agentCredentialView struct {
	store.AgentCredential
	// Token is shown once, when the credential is issued.
	Token string `json:"token,omitempty" doc:"The agent's bearer token; only in the answer that issues the credential, never again"`
}

// agentCredentialKey orders an asset's credentials by when they were issued, then id.
func agentCredentialKey(c store.AgentCredential) string {
	return cursorKey(sortableTime(c.CreatedAt), c.ID)
}

// assetCredentials loads the credentials of the path's asset, oldest first; an unknown asset
// is 404.
func (s *server) assetCredentials(r *http.Request) ([]store.AgentCredential, error) {
	as, err := s.Store.Asset(r.Context(), chi.URLParam(r, "assetID"))
	if err != nil {
		return nil, err
	}
	cs, err := s.Store.AgentCredentials(r.Context(), as.ID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cs, func(a, b store.AgentCredential) int {
		return strings.Compare(agentCredentialKey(a), agentCredentialKey(b))
	})
	return cs, nil
}

func (s *server) listAgentCredentials(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	cs, err := s.assetCredentials(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := pageOf(cs, agentCredentialKey, pr)
	out := page[agentCredentialView]{Items: make([]agentCredentialView, len(p.Items)), Next: p.Next}
	for i, c := range p.Items {
		out.Items[i] = agentCredentialView{AgentCredential: c}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getAgentCredential(w http.ResponseWriter, r *http.Request) {
	cs, err := s.assetCredentials(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "credentialID")
	i := slices.IndexFunc(cs, func(c store.AgentCredential) bool { return c.ID == id })
	if i < 0 {
		notFoundProblem(w, r, "agent credential "+id+" of asset "+chi.URLParam(r, "assetID"))
		return
	}
	writeJSON(w, http.StatusOK, agentCredentialView{AgentCredential: cs[i]})
}

func (s *server) issueAgentCredential(w http.ResponseWriter, r *http.Request) {
	assetID := chi.URLParam(r, "assetID")
	secret := newSecret()
	c, err := s.Store.IssueAgentCredential(r.Context(), assetID, actorOf(r).Name, secret, event(r, "agent.credential_issued"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	locateCreated(w, "assets", c.AssetID, "agent-credentials", c.ID)
	writeJSON(w, http.StatusCreated, agentCredentialView{AgentCredential: c, Token: secret})
}

func (s *server) revokeAgentCredential(w http.ResponseWriter, r *http.Request) {
	err := s.Store.RevokeAgentCredential(r.Context(), chi.URLParam(r, "assetID"), chi.URLParam(r, "credentialID"), event(r, "agent.credential_revoked"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) agentSigningKey(w http.ResponseWriter, r *http.Request) {
	keys, err := s.Store.AgentSigningKeys(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(keys) == 0 {
		writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: "no job-signing key is registered yet: it is made when a worker with the agent adapter starts (OTPATCH_AGENT_SIGNING_KEY)"})
		return
	}
	pub, err := signing.DecodePublic(keys[0].PublicKey)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	pemKey, err := signing.MarshalPublic(pub)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, jobs.SigningKey{Fingerprint: keys[0].Fingerprint, PublicKey: keys[0].PublicKey, PEM: string(pemKey), CreatedAt: keys[0].CreatedAt})
}

func (s *server) agentMe(w http.ResponseWriter, r *http.Request) {
	c := agentOf(r)
	as, err := s.Store.Asset(r.Context(), c.AssetID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, jobs.Me{CredentialID: c.ID, AssetID: as.ID, AssetName: as.Name})
}

// nextAgentJob long-polls for the asset's next job.
func (s *server) nextAgentJob(w http.ResponseWriter, r *http.Request) {
	wait := agentDefaultWait
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := domain.ParseDuration(v)
		if err != nil || d < 0 || d > agentMaxWait {
			s.fail(w, r, &domain.ValidationError{What: "long poll", Fields: []domain.FieldError{{Field: "wait",
				Message: fmt.Sprintf("%q is not a duration from PT0S to %s (example: PT20S)", v, domain.FormatISODuration(agentMaxWait))}}})
			return
		}
		wait = d
	}
	c := agentOf(r)
	ctx := r.Context()
	// The agent counts as heard from while it waits, without a write per agent.
	defer s.Store.AgentWaiting(c.ID)()
	// Subscribed before the first look, so a job queued in between wakes the poll.
	queued, unsubscribe := s.Store.AgentJobSignal(c.AssetID)
	defer unsubscribe()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for last := false; ; {
		j, ok, err := s.Store.NextAgentJob(ctx, c.AssetID, event(r, "agent.job_started"))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.internal(w, r, err)
			return
		}
		if ok {
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusOK, jobs.Envelope{ID: j.ID, Payload: j.Payload, Signature: j.Signature})
			return
		}
		if last || wait == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-queued:
		case <-deadline.C:
			// One more look, in case a notification was lost; it reads the database only when
			// notifications are not relayed (store.NextAgentJob).
			last = true
		}
	}
}

// agentJob loads a job of the agent's own asset; another asset's job is as missing as one that
// does not exist.
func (s *server) agentJob(w http.ResponseWriter, r *http.Request) (store.AgentJob, bool) {
	id := chi.URLParam(r, "jobID")
	j, err := s.Store.AgentJob(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && j.AssetID != agentOf(r).AssetID) {
		notFoundProblem(w, r, "agent job "+id)
		return j, false
	}
	if err != nil {
		s.internal(w, r, err)
		return j, false
	}
	return j, true
}

func (s *server) agentProgress(w http.ResponseWriter, r *http.Request) {
	j, ok := s.agentJob(w, r)
	if !ok {
		return
	}
	var in jobs.Progress
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Attempt != j.Attempt || j.Finished() {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: fmt.Sprintf("job %s is %s at attempt %d; progress of attempt %d is not needed: fetch the next job", j.ID, j.State, j.Attempt, in.Attempt)})
		return
	}
	if err := s.Store.AgentJobProgress(r.Context(), j.ID); err != nil {
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) agentResult(w http.ResponseWriter, r *http.Request) {
	j, ok := s.agentJob(w, r)
	if !ok {
		return
	}
	var in jobs.Result
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "job result"}
	if in.Attempt < 1 {
		v.Fields = append(v.Fields, domain.FieldError{Field: "attempt", Message: "is required: the attempt of the job this result is of"})
	}
	if !in.OK && strings.TrimSpace(in.Error) == "" {
		v.Fields = append(v.Fields, domain.FieldError{Field: "error", Message: "is required when ok is false: say why the job failed"})
	}
	if in.OK && j.Op == store.AgentOpBackup && (in.BackupSHA256 == "" || in.BackupSHA256 != j.UploadSHA256) {
		v.Fields = append(v.Fields, domain.FieldError{Field: "backup_sha256", Message: fmt.Sprintf("%q is not the SHA-256 of an uploaded backup of this job: upload the archive with PUT /api/v1/agent/jobs/%s/backup first", in.BackupSHA256, j.ID)})
	}
	if in.OK && j.Op == store.AgentOpVerify && in.Verify == nil {
		v.Fields = append(v.Fields, domain.FieldError{Field: "verify", Message: "is required for a verify job: the version and health the device reports"})
	}
	n := len(in.Error)
	for _, o := range in.Output {
		n += len(o.Text)
	}
	if n > jobs.MaxOutput {
		v.Fields = append(v.Fields, domain.FieldError{Field: "output", Message: fmt.Sprintf("carries %d bytes of text, more than %d: truncate it", n, jobs.MaxOutput)})
	}
	if len(v.Fields) > 0 {
		s.fail(w, r, v)
		return
	}
	raw, _ := json.Marshal(in)
	state := store.AgentJobDone
	if !in.OK {
		state = store.AgentJobFailed
	}
	if err := s.Store.FinishAgentJob(r.Context(), j.ID, in.Attempt, state, string(raw), in.Error, event(r, "")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// agentDownload streams a deploy job's artifact or a restore job's backup.
func (s *server) agentDownload(w http.ResponseWriter, r *http.Request) {
	j, ok := s.agentJob(w, r)
	if !ok {
		return
	}
	want := store.AgentOpDeploy
	if strings.HasSuffix(r.URL.Path, "/backup") {
		want = store.AgentOpRestore
	}
	if j.Op != want || j.ArtifactKey == "" {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: fmt.Sprintf("job %s is a %s job; only a %s job has this download", j.ID, j.Op, want)})
		return
	}
	if j.Finished() {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: fmt.Sprintf("job %s is %s; there is nothing left to download for it", j.ID, j.State)})
		return
	}
	rc, err := s.Objects.Open(r.Context(), j.ArtifactKey)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Warn("agent download interrupted", "err", err, "job", j.ID, "request_id", requestID(r))
	}
}

// agentUploadBackup streams a backup job's archive into the object store, refusing it unless
// its SHA-256 is what the agent's host computed.
func (s *server) agentUploadBackup(w http.ResponseWriter, r *http.Request) {
	j, ok := s.agentJob(w, r)
	if !ok {
		return
	}
	if j.Op != store.AgentOpBackup || j.Finished() {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: fmt.Sprintf("job %s is a %s job in state %s; only a running backup job takes an upload", j.ID, j.Op, j.State)})
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/octet-stream" {
		got := "no Content-Type"
		if mt != "" {
			got = "Content-Type " + mt
		}
		writeProblem(w, r, problem{Status: http.StatusUnsupportedMediaType, Detail: "send the backup archive as it is, with Content-Type: application/octet-stream; this upload has " + got})
		return
	}
	sum := strings.ToLower(strings.TrimSpace(r.Header.Get(jobs.BackupSHA256Header)))
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
		s.fail(w, r, &domain.ValidationError{What: "backup upload", Fields: []domain.FieldError{{Field: jobs.BackupSHA256Header, Message: "must be the SHA-256 (64 hex digits) the host computed for the archive"}}})
		return
	}
	if r.ContentLength > MaxAgentBackupBytes {
		writeProblem(w, r, problem{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the backup is %d bytes, more than the %d allowed; back up fewer paths", r.ContentLength, MaxAgentBackupBytes)})
		return
	}
	body := http.MaxBytesReader(w, r.Body, MaxAgentBackupBytes)
	key := fmt.Sprintf("agent-staging/%s/backup-%d.tar.gz", j.ID, j.Attempt)
	info, err := s.Objects.Put(r.Context(), key, body, artifacts.Expect{SHA256: sum}, "application/gzip")
	if err != nil {
		var mm *artifacts.MismatchError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeProblem(w, r, problem{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the backup is larger than the %d bytes allowed; nothing was stored", MaxAgentBackupBytes)})
		case errors.As(err, &mm):
			writeProblem(w, r, problem{Status: http.StatusUnprocessableEntity, Detail: fmt.Sprintf("the uploaded backup's %s is %s, the host computed %s; the transfer was corrupted and nothing was stored: upload it again", mm.What, mm.Got, mm.Want)})
		case r.Context().Err() != nil:
		default:
			s.internal(w, r, err)
		}
		return
	}
	if err := s.Store.SetAgentJobUpload(r.Context(), j, key, info.SHA256, info.Size, event(r, "agent.backup_uploaded")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", r.URL.Path)
	writeJSON(w, http.StatusCreated, backupReceipt{SHA256: info.SHA256, Size: info.Size})
}

// backupReceipt is the answer to a backup upload: what the server stored.
type backupReceipt struct {
	SHA256 string `json:"sha256" doc:"The SHA-256 of the stored archive, which the job's result names as backup_sha256"`
	Size   int64  `json:"size" doc:"Its size in bytes"`
}

// agentOperations are the routes of agent.go.
func (s *server) agentOperations() []operation {
	agent := []domain.Role{store.RoleAgent}
	return []operation{
		{Method: "GET", Path: "/api/v1/assets/{assetID}/agent-credentials", ID: "listAgentCredentials", Tag: "Agents", Allow: staff,
			Summary:     "List the asset's pull-agent credentials and when each agent was last heard from",
			Description: "Never their tokens. Ordered by when they were issued. An unknown asset is 404.",
			Query:       paged(),
			Answers:     []answer{ok(page[agentCredentialView]{})}, Handle: s.listAgentCredentials},
		{Method: "POST", Path: "/api/v1/assets/{assetID}/agent-credentials", ID: "issueAgentCredential", Tag: "Agents", Allow: admins,
			Summary: "Issue a pull-agent credential bound to this asset",
			Description: "The answer carries its token, shown only this once. The token works only on the /api/v1/agent routes and only for this asset's jobs; " +
				"no user token works there.",
			Answers: []answer{created(agentCredentialView{})}, Handle: s.issueAgentCredential},
		{Method: "GET", Path: "/api/v1/assets/{assetID}/agent-credentials/{credentialID}", ID: "getAgentCredential", Tag: "Agents", Allow: staff,
			Summary:     "One pull-agent credential of the asset and when its agent was last heard from",
			Description: "Never its token.",
			Answers:     []answer{ok(agentCredentialView{})}, Handle: s.getAgentCredential},
		{Method: "DELETE", Path: "/api/v1/assets/{assetID}/agent-credentials/{credentialID}", ID: "revokeAgentCredential", Tag: "Agents", Allow: admins,
			Summary: "Revoke a pull-agent credential; its token stops working at once",
			Answers: []answer{noContent}, Handle: s.revokeAgentCredential},
		{Method: "GET", Path: "/api/v1/agent/signing-key", ID: "getJobSigningKey", Tag: "Agents", Allow: []domain.Role{store.RoleAgent, domain.RoleAdmin},
			Summary: "The server's job-signing public key, which an agent pins",
			Description: "The agent's operator saves it for --signing-public-key; the agent runs only jobs signed with it. " +
				"Answers 404 until a worker with the agent adapter has started and made the key (OTPATCH_AGENT_SIGNING_KEY).",
			Answers: []answer{ok(jobs.SigningKey{})}, Handle: s.agentSigningKey},
		{Method: "GET", Path: "/api/v1/agent/me", ID: "getAgentIdentity", Tag: "Agents", Allow: agent, AgentOnly: true,
			Summary: "The asset the agent's token is bound to",
			Answers: []answer{ok(jobs.Me{})}, Handle: s.agentMe},
		{Method: "GET", Path: "/api/v1/agent/jobs/next", ID: "pollAgentJob", Tag: "Agents", Allow: agent, AgentOnly: true,
			Summary: "Wait for the asset's next signed job",
			Description: "A long poll: answers as soon as a job is there, or 204 when none arrived within wait. " +
				"The job starts when it is handed out; the agent reports progress while it works and its result at the end.",
			Query: []param{{Name: "wait", Desc: "How long to wait for a job: an ISO 8601 duration from PT0S to PT60S (default PT20S); Go's form 20s is also read",
				Schema: map[string]any{"type": "string", "maxLength": 32, "example": "PT20S"}}},
			Answers: []answer{ok(jobs.Envelope{}), {Status: http.StatusNoContent, Desc: "No job arrived within wait: ask again"}}, Handle: s.nextAgentJob},
		{Method: "POST", Path: "/api/v1/agent/jobs/{jobID}/progress", ID: "reportJobProgress", Tag: "Agents", Allow: agent, AgentOnly: true,
			Summary:     "The agent still works on the job",
			Description: "Progress of another attempt than the job's current one, or of a finished job, is refused (409): fetch the next job.",
			Body:        jobs.Progress{},
			Answers:     []answer{noContent}, Handle: s.agentProgress},
		{Method: "POST", Path: "/api/v1/agent/jobs/{jobID}/result", ID: "reportJobResult", Tag: "Agents", Allow: agent, AgentOnly: true,
			Summary: "The job's outcome; reporting the same outcome again is harmless",
			Description: "A failure says why in error. A backup job's success names the SHA-256 of the archive uploaded before (backup_sha256); " +
				"a verify job's success carries what the device reports (verify). Error and output together carry at most " + fmt.Sprint(jobs.MaxOutput) + " bytes of text.",
			Body:    jobs.Result{},
			Answers: []answer{noContent}, Handle: s.agentResult},
		{Method: "GET", Path: "/api/v1/agent/jobs/{jobID}/artifact", ID: "downloadJobArtifact", Tag: "Agents", Allow: agent, AgentOnly: true,
			Summary:     "Download the patch artifact of a deploy job",
			Description: "Another job, or a finished one, has no artifact (409). Another asset's job is 404.",
			Answers:     []answer{file(http.StatusOK, "application/octet-stream", "The artifact, streamed; the signed job names its size and SHA-256")}, Handle: s.agentDownload},
		{Method: "GET", Path: "/api/v1/agent/jobs/{jobID}/backup", ID: "downloadJobBackup", Tag: "Agents", Allow: agent, AgentOnly: true,
			Summary:     "Download the backup of a restore job",
			Description: "Another job, or a finished one, has no backup to download (409). Another asset's job is 404.",
			Answers:     []answer{file(http.StatusOK, "application/octet-stream", "The backup archive, streamed; the signed job names its size and SHA-256")}, Handle: s.agentDownload},
		{Method: "PUT", Path: "/api/v1/agent/jobs/{jobID}/backup", ID: "uploadJobBackup", Tag: "Agents", Allow: agent, AgentOnly: true,
			Summary: "Upload the archive of a running backup job",
			Description: "The body is the archive, streamed into the object store; the header " + jobs.BackupSHA256Header + " is the SHA-256 (64 hex digits) the host computed. " +
				"An archive whose SHA-256 differs is refused (422) and not stored; one larger than " + fmt.Sprint(MaxAgentBackupBytes>>30) + " GiB is refused (413). " +
				"Another content type is refused (415). Only a running backup job takes an upload (409 otherwise).",
			BodyType: "application/octet-stream",
			Answers:  []answer{created(backupReceipt{})}, Handle: s.agentUploadBackup},
	}
}
