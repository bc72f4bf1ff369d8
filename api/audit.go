package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// auditFilterMaxChars bounds the text of an audit filter, as the document says (qString).
const auditFilterMaxChars = 200

// auditFilterQuery are the filters the list and the export of audit events share.
var auditFilterQuery = []param{
	qString("actor", "Only events by this actor (a user name, \"otpatch\" for the server itself)"),
	qString("action", "Only events of this action, such as campaign.approved"),
	qString("campaign_id", "Only events of this campaign; an id that no campaign has and no event names is refused (422)"),
	qString("patch_id", "Only events of this patch or patch upload; an id that no patch has and no event names is refused (422)"),
	qString("asset_id", "Only events of this asset; an id that no asset has and no event names is refused (422)"),
	qTime("from", "Only events at or after this time (RFC 3339)"),
	qTime("to", "Only events before this time (RFC 3339); must be after from"),
	{Name: "after_seq", Desc: "Only events whose sequence number is greater than this: to continue from the last event one already has, whose seq it is",
		Schema: map[string]any{"type": "integer", "format": "int64", "minimum": 0}},
}

// auditFilter reads the audit filters shared by the list and the export; faults are added
// to v, each naming its parameter.
func auditFilter(r *http.Request, v *domain.ValidationError) store.AuditFilter {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), CampaignID: q.Get("campaign_id"), PatchID: q.Get("patch_id"), AssetID: q.Get("asset_id")}
	for _, name := range []string{"actor", "action", "campaign_id", "patch_id", "asset_id"} {
		if n := utf8.RuneCountInString(q.Get(name)); n > auditFilterMaxChars {
			v.Add(name, "is %d characters; at most %d", n, auditFilterMaxChars)
		}
	}
	if a := q.Get("after_seq"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			v.Add("after_seq", "must be the sequence number of an event (a whole number from 0), got %q", a)
		}
		f.AfterSeq = n
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s := q.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				v.Add(p.name, "must be an RFC 3339 time such as 2026-02-01T00:00:00Z or 2026-02-01T01:00:00+01:00, got %q", s)
			}
			*p.dst = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		v.Add("to", "must be after from")
	}
	return f
}

// checkAuditSubjects refuses a campaign, patch or asset filter that names nothing otpatch
// knows: neither a record nor any event of the trail (a patch upload's events carry its
// upload id as patch id). A typo then gets a 422, not an empty list that looks like "no events".
func (s *server) checkAuditSubjects(ctx context.Context, f store.AuditFilter, v *domain.ValidationError) error {
	checks := []struct {
		param, id, what string
		record          func(context.Context, string) error
		trail           store.AuditFilter
	}{
		{"campaign_id", f.CampaignID, "campaign", func(ctx context.Context, id string) error { _, err := s.Store.Campaign(ctx, id); return err },
			store.AuditFilter{CampaignID: f.CampaignID, Limit: 1}},
		{"patch_id", f.PatchID, "patch", func(ctx context.Context, id string) error { _, err := s.Store.Patch(ctx, id); return err },
			store.AuditFilter{PatchID: f.PatchID, Limit: 1}},
		{"asset_id", f.AssetID, "asset", func(ctx context.Context, id string) error { _, err := s.Store.Asset(ctx, id); return err },
			store.AuditFilter{AssetID: f.AssetID, Limit: 1}},
	}
	for _, c := range checks {
		if c.id == "" {
			continue
		}
		err := c.record(ctx, c.id)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		evs, err := s.Store.AuditEvents(ctx, c.trail)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			v.Add(c.param, "%q is no %s otpatch knows and no audit event names it: check the id", c.id, c.what)
		}
	}
	return nil
}

// auditCursor is the cursor of an event: its sequence number.
func auditCursor(e audit.Event) string { return strconv.FormatInt(e.Seq, 10) }

func (s *server) auditEvents(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	f := auditFilter(r, v)
	if pr.After != "" {
		seq, err := strconv.ParseInt(pr.After, 10, 64)
		if err != nil || seq < 0 {
			v.Add("after", "is not a cursor of the audit events; pass the next of the previous page as it was")
		}
		f.AfterSeq = max(f.AfterSeq, seq)
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
	// One event more than the page tells whether another page follows.
	f.Limit = pr.Limit + 1
	evs, err := s.Store.AuditEvents(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageFrom(evs, auditCursor, pr.Limit))
}

// auditVerification is the answer of a chain verification.
type auditVerification audit.Result

func (s *server) auditVerify(w http.ResponseWriter, r *http.Request) {
	res, err := s.Store.VerifyAudit(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditVerification(res))
}

// auditOperations are the routes of audit.go.
func (s *server) auditOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/audit/events", ID: "listAuditEvents", Tag: "Audit", Allow: auditors,
			Summary: "List audit events in sequence order",
			Description: "Every filter narrows the list; together they must all match. from and to bound the event time: from <= at < to. " +
				"A campaign_id, patch_id or asset_id that names nothing otpatch knows is refused (422). " +
				"The last page has no next: to read the events added later, pass the seq of the last event read as after_seq.",
			Query:   paged(auditFilterQuery...),
			Answers: []answer{ok(page[audit.Event]{})}, Handle: s.auditEvents},
		{Method: "GET", Path: "/api/v1/audit/verify", ID: "verifyAuditChain", Tag: "Audit", Allow: auditors,
			Summary: "Recompute the audit log and name the first event that does not verify",
			Description: "Recomputes every event's chain hash and Merkle leaf in sequence order, the tree's root, and compares the end with the recorded head. " +
				"With audit checkpoints configured the log is also compared with every signed checkpoint, which detects a log rewritten with recomputed hashes or cut short (tree_root, notes, note_size). " +
				"A broken log is an answer (ok false, broken_at, problem), not an error.",
			Answers: []answer{ok(auditVerification{})}, Handle: s.auditVerify},
	}
}
