package api

import (
	"net/http"
	"strconv"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

type auditPage struct {
	Events []audit.Event `json:"events"`
	// Next is the cursor for the following page: pass it as ?after=.
	Next int64 `json:"next,omitempty"`
}

func (s *server) auditEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), CampaignID: q.Get("campaign_id"), PatchID: q.Get("patch_id"), AssetID: q.Get("asset_id"), Limit: 100}
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
		if err != nil || n < 1 || n > 1000 {
			v.Add("limit", "must be from 1 to 1000")
		}
		f.Limit = n
	}
	if err := v.Err(); err != nil {
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
	res, err := s.Store.VerifyAudit(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
