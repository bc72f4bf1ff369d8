package api

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// The audit log as a Merkle tree log (docs/audit-format.md): its newest signed checkpoint, a
// C2SP tlog-checkpoint note, and the inclusion and consistency proofs that anyone holding the
// published key checks against it without trusting otpatch.

// inclusionProof is the answer of GET /api/v1/audit/proof/inclusion.
type inclusionProof struct {
	Seq       int64 `json:"seq"`
	LeafIndex int64 `json:"leaf_index"`
	TreeSize  int64 `json:"tree_size"`
	// Leaf is the event's leaf data exactly as the log hashed it.
	Leaf   string   `json:"leaf" doc:"The event's leaf data, exactly the bytes the log hashed (SHA-256 of a zero byte and these bytes is the leaf hash)"`
	Hashes []string `json:"hashes" doc:"The RFC 9162 audit path, leaf upward, each hash in hex"`
}

// consistencyProof is the answer of GET /api/v1/audit/proof/consistency.
type consistencyProof struct {
	From   int64    `json:"from"`
	To     int64    `json:"to"`
	Hashes []string `json:"hashes" doc:"The RFC 9162 consistency proof, each hash in hex"`
}

func hexAll(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

// auditCheckpoint answers the newest signed checkpoint as text/plain; a log that has none
// yet (a new server) is signed now.
func (s *server) auditCheckpoint(w http.ResponseWriter, r *http.Request) {
	c := s.Store.Checkpointer()
	if c == nil {
		writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: "audit checkpoints are not configured on this server, so the log has no signed checkpoint"})
		return
	}
	cp, err := c.Latest(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if cp == nil {
		size, _, err := s.Store.AuditTreeHead(r.Context())
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if size == 0 {
			writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: "the audit log is empty, so there is no checkpoint yet"})
			return
		}
		signed, err := c.CheckpointHead(r.Context(), s.Store.AuditTreeHead)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		cp = &signed
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(cp.Note)
}

// logSize reads a size or sequence number query parameter: a whole number from lo, or 0 when
// absent and not required.
func logSize(r *http.Request, v *domain.ValidationError, name string, lo int64, required bool) int64 {
	q := r.URL.Query().Get(name)
	if q == "" {
		if required {
			v.Add(name, "is required: a whole number from %d", lo)
		}
		return 0
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil || n < lo {
		v.Add(name, "must be a whole number from %d, got %q", lo, q)
	}
	return n
}

func (s *server) auditInclusion(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "inclusion proof request"}
	seq := logSize(r, v, "seq", 1, true)
	size := logSize(r, v, "tree_size", 1, false)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	e, path, size, err := s.Store.InclusionProof(r.Context(), seq, size)
	if s.proofFailed(w, r, v, err) {
		return
	}
	writeJSON(w, http.StatusOK, inclusionProof{Seq: e.Seq, LeafIndex: e.Seq - 1, TreeSize: size, Leaf: string(e.Leaf()), Hashes: hexAll(path)})
}

func (s *server) auditConsistency(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "consistency proof request"}
	from := logSize(r, v, "from", 1, true)
	to := logSize(r, v, "to", 1, false)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	path, to, err := s.Store.ConsistencyProof(r.Context(), from, to)
	if s.proofFailed(w, r, v, err) {
		return
	}
	writeJSON(w, http.StatusOK, consistencyProof{From: from, To: to, Hashes: hexAll(path)})
}

// proofFailed answers err, when there is one: a proof about events the log does not hold is
// refused naming the parameter (422), anything else is an internal error.
func (s *server) proofFailed(w http.ResponseWriter, r *http.Request, v *domain.ValidationError, err error) bool {
	if err == nil {
		return false
	}
	var beyond *store.BeyondLogError
	if errors.As(err, &beyond) {
		v.Add(beyond.Param, "%s", beyond.Problem)
		s.fail(w, r, v)
	} else {
		s.internal(w, r, err)
	}
	return true
}

// auditLogOperations are the routes of audit_log.go.
func (s *server) auditLogOperations() []operation {
	int64Param := func(name, desc string, required bool) param {
		return param{Name: name, Desc: desc, Required: required, Schema: map[string]any{"type": "integer", "format": "int64", "minimum": 1}}
	}
	return []operation{
		{Method: "GET", Path: "/api/v1/audit/checkpoint", ID: "getAuditCheckpoint", Tag: "Audit", Allow: anyRole,
			Summary: "The newest signed checkpoint of the audit log, a C2SP tlog-checkpoint note",
			Description: "Three lines — the log's origin, its size and its root hash in base64 — a blank line and an ed25519 note signature by the key of GET /api/v1/audit/key " +
				"(golang.org/x/mod/sumdb/note opens it with that key's vkey). A checkpoint is signed at least every minute while events are unsigned, every 1,000 events and at clean shutdown. " +
				"Answers 404 when audit checkpoints are not configured or the log is empty.",
			Answers: []answer{file(http.StatusOK, "text/plain", "The checkpoint note (text/plain; charset=utf-8)")}, Handle: s.auditCheckpoint},
		{Method: "GET", Path: "/api/v1/audit/proof/inclusion", ID: "getAuditInclusionProof", Tag: "Audit", Allow: auditors,
			Summary: "Prove that an event is in the audit log",
			Description: "The event's leaf data and its RFC 9162 inclusion proof in the log of tree_size events (default: the log as it is now), to check against the root of a checkpoint of that size. " +
				"A seq or tree_size beyond the log is refused (422).",
			Query:   []param{int64Param("seq", "The event's sequence number (leaf index + 1)", true), int64Param("tree_size", "The size of the log to prove it in, such as a checkpoint's; at least seq", false)},
			Answers: []answer{ok(inclusionProof{})}, Handle: s.auditInclusion},
		{Method: "GET", Path: "/api/v1/audit/proof/consistency", ID: "getAuditConsistencyProof", Tag: "Audit", Allow: auditors,
			Summary: "Prove that the audit log of one size extends the log of a smaller size",
			Description: "The RFC 9162 consistency proof between the logs of from and to events (default: the log as it is now): with the roots of two checkpoints it shows that nothing the older one signed was rewritten or removed. " +
				"A size beyond the log, or from greater than to, is refused (422).",
			Query:   []param{int64Param("from", "The size of the older log", true), int64Param("to", "The size of the newer log; at least from", false)},
			Answers: []answer{ok(consistencyProof{})}, Handle: s.auditConsistency},
	}
}
