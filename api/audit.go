package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

type auditPage struct {
	Events []audit.Event `json:"events"`
	// Next is the cursor for the following page: pass it as ?after=.
	Next int64 `json:"next,omitempty"`
}

// auditFilter reads the audit query parameters shared by the list and the export: actor,
// action, campaign_id, patch_id, asset_id, from and to (RFC 3339; from <= at < to), after
// (the cursor) and limit (1 to maxLimit, default def).
func auditFilter(r *http.Request, def, maxLimit int) (store.AuditFilter, error) {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), CampaignID: q.Get("campaign_id"), PatchID: q.Get("patch_id"), AssetID: q.Get("asset_id"), Limit: def}
	v := &domain.ValidationError{What: "query"}
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			v.Add("after", "must be a sequence number")
		}
		f.AfterSeq = n
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			v.Add("limit", "must be from 1 to %d", maxLimit)
		}
		f.Limit = n
	}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				v.Add(name, "must be an RFC 3339 time such as 2026-02-01T00:00:00Z or 2026-02-01T01:00:00+01:00, got %q", s)
			}
			*dst = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		v.Add("to", "must be after from")
	}
	return f, v.Err()
}

func (s *server) auditEvents(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "actor", "action", "campaign_id", "patch_id", "asset_id", "from", "to", "after", "limit") {
		return
	}
	f, err := auditFilter(r, 100, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	evs, err := s.Store.AuditEvents(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := auditPage{Events: evs}
	if evs == nil {
		page.Events = []audit.Event{}
	}
	if len(evs) == f.Limit {
		page.Next = evs[len(evs)-1].Seq
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *server) auditVerify(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	res, err := s.Store.VerifyAudit(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// auditOperations are the routes of audit.go.
func (s *server) auditOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/audit/events", ID: "auditEvents", Tag: "Audit", Summary: "List audit events (filters, ?after cursor)", Allow: auditors, Roles: "auditor, admin, engineer", Answers: []answer{ok(nil)}, Handle: s.auditEvents},
		{Method: "GET", Path: "/api/v1/audit/verify", ID: "auditVerify", Tag: "Audit", Summary: "Recompute the audit chain and name the first broken link", Allow: auditors, Roles: "auditor, admin, engineer", Answers: []answer{ok(nil)}, Handle: s.auditVerify},
	}
}
