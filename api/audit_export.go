package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/csvsafe"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
)

// The audit trail for auditors: the checkpoint public key, and exports of the trail in JSON
// Lines or CSV that stream page by page.

// auditKeyView is the published checkpoint key.
type auditKeyView struct {
	Algorithm    string `json:"algorithm"`
	PublicKey    string `json:"public_key"`
	PublicKeyPEM string `json:"public_key_pem"`
	Fingerprint  string `json:"fingerprint"`
	// CheckpointPrefix is where the signed checkpoints are in the object store.
	CheckpointPrefix string `json:"checkpoint_prefix"`
	// Origin names the log in every checkpoint; VerifierKey is the note verifier key.
	Origin      string `json:"origin" doc:"The log's origin, the first line of every checkpoint and the key's name"`
	VerifierKey string `json:"vkey" doc:"The note verifier key (name+hash+key) that golang.org/x/mod/sumdb/note and docs/verify-evidence.py take"`
}

func (s *server) auditKey(w http.ResponseWriter, r *http.Request) {
	c := s.Store.Checkpointer()
	if c == nil {
		writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: "audit checkpoints are not configured on this server, so there is no checkpoint key"})
		return
	}
	pemBytes, err := signing.MarshalPublic(c.PublicKey())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditKeyView{Algorithm: "ed25519", PublicKey: signing.EncodePublic(c.PublicKey()), PublicKeyPEM: string(pemBytes),
		Fingerprint: c.Fingerprint(), CheckpointPrefix: audit.CheckpointPrefix, Origin: c.Origin(), VerifierKey: c.VerifierKey()})
}

// csvHeader is the column order of the CSV export: every field of an event.
var csvHeader = []string{"seq", "at", "actor", "role", "action", "subject_type", "subject_id", "campaign_id", "patch_id", "asset_id", "request_id", "workflow_id", "details", "prev_hash", "hash"}

func csvRecord(e audit.Event) []string {
	return []string{strconv.FormatInt(e.Seq, 10), e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID, e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID, e.Details, e.PrevHash, e.Hash}
}

// exportPage is how many events the export reads from the store at a time; each page is
// flushed to the client before the next is read.
const exportPage = 1000

// exportFormats are the formats of the export, by ?format.
var exportFormats = []string{"jsonl", "csv"}

func (s *server) auditExport(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	f := auditFilter(r, v)
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "jsonl"
	}
	if !slices.Contains(exportFormats, format) {
		v.Add("format", "must be jsonl or csv, got %q", format)
	}
	if len(v.Fields) == 0 {
		if err := s.checkAuditSubjects(r.Context(), f, v); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	f.Limit = exportPage
	ev := event(r, "audit.exported")
	ev.SubjectType, ev.SubjectID = "audit", "trail"
	ev.Details = map[string]any{"format": format, "query": r.URL.RawQuery}
	if _, err := s.Store.Append(r.Context(), ev); err != nil {
		s.internal(w, r, err)
		return
	}
	flusher, _ := w.(http.Flusher)
	var write func(audit.Event) error
	var flush func() error
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="otpatch-audit.csv"`)
		cw := csvsafe.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return
		}
		write = func(e audit.Event) error { return cw.Write(csvRecord(e)) }
		flush = func() error { cw.Flush(); return cw.Error() }
	} else {
		w.Header().Set("Content-Type", "application/jsonl")
		w.Header().Set("Content-Disposition", `attachment; filename="otpatch-audit.jsonl"`)
		enc := json.NewEncoder(w)
		write = func(e audit.Event) error { return enc.Encode(e) }
		flush = func() error { return nil }
	}
	w.WriteHeader(http.StatusOK)
	n := 0
	err := s.Store.EachAuditEvent(r.Context(), f, func(e audit.Event) error {
		if err := write(e); err != nil {
			return err
		}
		if n++; n%exportPage == 0 {
			if err := flush(); err != nil {
				return err
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		return nil
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	if err != nil {
		// The status is sent; the client sees a truncated stream (no final newline / short CSV).
		s.Logger.Error("audit export interrupted", "err", err, "events", n, "request_id", requestID(r))
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
}

// auditExportOperations are the routes of audit_export.go.
func (s *server) auditExportOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/audit/key", ID: "getAuditKey", Tag: "Audit", Allow: anyRole,
			Summary:     "The ed25519 public key that signs the audit checkpoints",
			Description: "Answers 404 when audit checkpoints are not configured on this server.",
			Answers:     []answer{ok(auditKeyView{})}, Handle: s.auditKey},
		{Method: "GET", Path: "/api/v1/audit/export", ID: "exportAuditEvents", Tag: "Audit", Allow: auditors,
			Summary: "Export the audit events the filters select as JSON Lines or CSV, streamed",
			Description: "Takes the filters of GET /api/v1/audit/events and answers every event they select, in sequence order, as one download " +
				"that is streamed while the trail is read. Each export is itself audited (audit.exported). " +
				"When the transfer breaks off, the download is short: JSON Lines lack the final newline, CSV the last rows" + csvCells + ".",
			Query: append(slices.Clone(auditFilterQuery), qEnum("format", "jsonl (default): one event per line as GET /api/v1/audit/events writes it; csv: one row per event", exportFormats...)),
			Answers: []answer{
				file(http.StatusOK, "application/jsonl", "?format=jsonl: one JSON event per line, exactly as stored, so that each event can be checked against its hash"),
				file(http.StatusOK, "text/csv", "?format=csv: a header row ("+strings.Join(csvHeader, ",")+") and one row per event"),
			},
			Handle: s.auditExport},
	}
}
