package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/qualification"
	"github.com/otpatch/otpatch/internal/store"
)

// The asset owner's qualification of patches per product release (internal/domain,
// qualification.go): engineers set an entry or import a vendor's published list; staff read
// them, on their own and on the patch's page. A patch held for a release that a target runs is
// not planned (createCampaign), and a campaign is not approved while such a hold applies
// (decideCampaign); the campaign's answer carries the holds that apply.

// qualificationRequest is an engineer's qualification of one patch for one product release.
type qualificationRequest struct {
	Patch   string                     `json:"patch" api:"required" doc:"An otpatch patch id, or the vendor's update id (such as KB5034441) that patches' patch_ref is matched against; at most 128 characters"`
	Product string                     `json:"product" api:"required" doc:"The product id or name (at most 200 characters)"`
	Release string                     `json:"release" api:"required" doc:"The product release: 13.0 covers every installed 13.0.x; * covers every release (at most 64 characters)"`
	Status  domain.QualificationStatus `json:"status" api:"required" doc:"held stops the patch from being planned for the release, and a campaign that reaches it from being approved"`
	Reason  string                     `json:"reason,omitempty" doc:"Why; required for held and not_qualified (at most 2000 characters)"`
}

func (s *server) setQualification(w http.ResponseWriter, r *http.Request) {
	var in qualificationRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	q := domain.Qualification{PatchRef: in.Patch, Product: in.Product, Release: in.Release, Status: in.Status, Reason: in.Reason}
	e, err := s.Store.SetQualification(r.Context(), q, event(r, "qualification.set"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// qualificationKey is the cursor key of an entry in the list.
func qualificationKey(e store.QualificationEntry) string {
	return cursorKey(store.QualificationKey(e)...)
}

func (s *server) listQualifications(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	q := r.URL.Query()
	f := store.QualificationFilter{Limit: pr.Limit + 1}
	switch hv := q.Get("history"); hv {
	case "", "0", "false":
	case "1", "true":
		f.History = true
	default:
		v.Add("history", "must be 1 or true (every revision), or 0 or false, got %q", hv)
	}
	for _, name := range []string{"patch", "product"} {
		if n := len([]rune(q.Get(name))); n > 200 {
			v.Add(name, "is %d characters; at most 200", n)
		}
	}
	if st := q.Get("status"); st != "" {
		if !domain.QualificationStatus(st).Valid() {
			v.Add("status", "must be one of %s, got %q", strings.Join(stringsOf(domain.QualificationStatuses()), ", "), st)
		}
		f.Status = domain.QualificationStatus(st)
	}
	if ref := strings.TrimSpace(q.Get("patch")); ref != "" {
		f.Refs = []string{ref}
		// A patch id also finds the entries of its patch_ref.
		if p, err := s.Store.Patch(ctx, ref); err == nil && p.PatchRef != "" {
			f.Refs = append(f.Refs, p.PatchRef)
		}
	}
	if prod := strings.TrimSpace(q.Get("product")); prod != "" {
		f.Products = []string{prod}
	}
	if pr.After != "" {
		parts, ok := splitCursor(pr.After, 4)
		if !ok {
			v.Add("after", "is not a cursor of this list; pass the next of the previous page as it was")
		}
		f.After = parts
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	es, err := s.Store.Qualifications(ctx, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageFrom(es, qualificationKey, pr.Limit))
}

// qualificationFormats are the forms a vendor's list is imported in.
var qualificationFormats = qualification.Formats()

func (s *server) importQualifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := &domain.ValidationError{What: "import"}
	m, ok := qualification.MappingNamed(q.Get("mapping"))
	if !ok {
		v.Add("mapping", "must be one of %s, got %q", strings.Join(qualification.MappingNames(), ", "), q.Get("mapping"))
	}
	format := q.Get("format")
	if format == "" {
		format = qualification.FormatCSV
	}
	if !slices.Contains(qualificationFormats, format) {
		v.Add("format", "must be csv, json or xlsx, got %q", format)
	}
	src := store.QualificationSource{Vendor: strings.TrimSpace(q.Get("vendor")), List: strings.TrimSpace(q.Get("list")), Date: strings.TrimSpace(q.Get("list_date"))}
	if src.Vendor == "" {
		src.Vendor = m.Vendor
	}
	v.Text("vendor", src.Vendor, 200, "name the vendor whose list this is (?vendor=)")
	v.Text("list", src.List, 200, "name the list, as the vendor titles it (?list=)")
	if _, err := time.Parse(time.DateOnly, src.Date); err != nil {
		v.Add("list_date", "must be the date of the list as YYYY-MM-DD, got %q", src.Date)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, qualification.MaxBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.refuseQualifications(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the list is larger than %d bytes; split it into several imports", qualification.MaxBytes), nil, src, 0)
			return
		}
		s.refuseQualifications(w, r, http.StatusBadRequest, "the list could not be read: "+err.Error(), nil, src, 0)
		return
	}
	qs, err := qualification.Parse(m, format, body)
	var pe *qualification.Error
	if errors.As(err, &pe) {
		fields := make([]domain.FieldError, 0, len(pe.Faults))
		for _, f := range pe.Faults {
			fields = append(fields, domain.FieldError{Field: f.Where(format), Message: f.Message})
		}
		status, detail := http.StatusUnprocessableEntity, fmt.Sprintf("the list was not imported: %d rows are bad (each is named below); nothing was changed", len(fields))
		if pe.TooLarge {
			status, detail = http.StatusRequestEntityTooLarge, "the list is too large; split it into several imports: "+pe.Faults[0].Message
		}
		s.refuseQualifications(w, r, status, detail, fields, src, pe.Rows)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.Store.ImportQualifications(r.Context(), src, qs, event(r, "qualification.imported"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// refuseQualifications answers a refused list and audits the refusal.
func (s *server) refuseQualifications(w http.ResponseWriter, r *http.Request, status int, detail string, fields []domain.FieldError, src store.QualificationSource, rows int) {
	ev := event(r, "qualification.import_refused")
	ev.SubjectType, ev.SubjectID = "qualification_import", r.Method+" "+r.URL.Path
	ev.Details = map[string]any{"status": status, "reason": detail, "vendor": src.Vendor, "list": src.List, "list_date": src.Date, "rows": rows,
		"errors": len(fields), "first_errors": fields[:min(len(fields), 50)]}
	if _, err := s.Store.Append(context.WithoutCancel(r.Context()), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err, "request_id", requestID(r))
	}
	writeProblem(w, r, problem{Status: status, Detail: detail, Errors: fields})
}

func (s *server) listQualificationMappings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, qualification.Mappings())
}

// patchHolds are the holds of patch p that cover any of versions.
func (s *server) patchHolds(ctx context.Context, p store.Patch, versions []string) ([]domain.Hold, error) {
	es, err := s.Store.PatchQualifications(ctx, p)
	if err != nil {
		return nil, err
	}
	qs := make([]domain.Qualification, 0, len(es))
	for _, e := range es {
		qs = append(qs, e.Qualification())
	}
	return domain.HoldsFor(qs, versions), nil
}

// planVersions are the distinct versions a plan's targets (its bench runs included) run.
func planVersions(p domain.Plan) []string {
	var out []string
	for _, t := range p.Targets {
		if !slices.Contains(out, t.FromVersion) {
			out = append(out, t.FromVersion)
		}
	}
	return out
}

// campaignHolds are the holds that apply to a campaign: its patch's holds covering the versions
// its targets were planned from (versions; nil: read from its targets). None for a campaign
// that has ended.
func (s *server) campaignHolds(ctx context.Context, c store.Campaign, versions []string) ([]domain.Hold, error) {
	if domain.CampaignStatus(c.Status).Terminal() {
		return []domain.Hold{}, nil
	}
	p, err := s.Store.Patch(ctx, c.PatchID)
	if err != nil {
		return nil, err
	}
	if versions == nil {
		if versions, err = s.Store.CampaignVersions(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	hs, err := s.patchHolds(ctx, p, versions)
	if hs == nil {
		hs = []domain.Hold{}
	}
	return hs, err
}

// holdsSaid says holds in one sentence.
func holdsSaid(hs []domain.Hold) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.String()
	}
	return strings.Join(parts, "; ")
}

// refuseHeld answers a campaign or decision refused because the patch is held, and audits it.
func (s *server) refuseHeld(w http.ResponseWriter, r *http.Request, action, campaignID, detail string, hs []domain.Hold) {
	ev := event(r, action)
	ev.SubjectType, ev.SubjectID = "request", r.Method+" "+r.URL.Path
	if campaignID != "" {
		ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", campaignID, campaignID
	}
	ev.Details = map[string]any{"rule": "qualification_hold", "reason": detail, "holds": hs}
	if _, err := s.Store.Append(context.WithoutCancel(r.Context()), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err, "request_id", requestID(r))
	}
	writeProblem(w, r, problem{Status: http.StatusConflict, Title: "Refused", Detail: detail, Rule: "qualification_hold"})
}

// qualificationOperations are the routes of qualification.go.
func (s *server) qualificationOperations() []operation {
	statuses := stringsOf(domain.QualificationStatuses())
	return []operation{
		{Method: "GET", Path: "/api/v1/qualifications", ID: "listQualifications", Tag: "Patches", Allow: staff,
			Summary: "List the asset owner's qualification of patches per product release",
			Description: "The current entries (with history=1 every revision, each change being a new one: when a hold was set and lifted, by whom and why), " +
				"ordered by patch reference, product, release (without regard to case) and revision. patch is an otpatch patch id (its patch_ref's entries come too) or a vendor's update id.",
			Query: paged(qString("patch", "Only entries of this patch id or update id"), qString("product", "Only entries of this product id or name"),
				qEnum("status", "Only entries in this status", statuses...), qBool("history", "Every revision, not only the current ones")),
			Answers: []answer{ok(page[store.QualificationEntry]{})}, Handle: s.listQualifications},
		{Method: "PUT", Path: "/api/v1/qualifications", ID: "setQualification", Tag: "Patches", Allow: engineers,
			Summary: "Set the qualification of a patch for a product release",
			Description: "The entry becomes the current revision of its patch, product and release (audited as qualification.held, qualification.hold_lifted or qualification.set); " +
				"the same status and reason again change nothing. held and not_qualified need a reason (422). " +
				"A hold stops campaigns of the patch whose targets run the release from being planned (409) or approved (409).",
			Body: qualificationRequest{}, Answers: []answer{ok(store.QualificationEntry{})}, Handle: s.setQualification},
		{Method: "POST", Path: "/api/v1/qualifications/import", ID: "importQualifications", Tag: "Patches", Allow: engineers,
			Summary: "Import a vendor's published qualification list, all or nothing",
			Description: fmt.Sprintf("The body is the list as the vendor publishes it: CSV (a header line naming the columns), JSON (an array of objects keyed by the column names) "+
				"or an Excel workbook (xlsx: its first sheet, the header being the first of its first 20 rows that names the mapping's columns; rows are named by their row in the sheet), "+
				"read through the named column mapping (GET /api/v1/qualifications/mappings; docs/qualification-lists.md). At most %d MiB and %d rows (413). "+
				"Any bad row refuses the whole list with 422 naming each bad row (CSV: line N, the header being line 1; JSON: entry N) and what is wrong, and nothing changes. "+
				"An accepted list is stored in one transaction with one audit event (qualification.imported); the answer counts the entries added, changed and unchanged and lists the changes.",
				qualification.MaxBytes>>20, qualification.MaxRows),
			Query: []param{qEnum("mapping", "The column mapping the list is read through (required)", qualification.MappingNames()...),
				qEnum("format", "csv (default), json or xlsx", qualificationFormats...),
				qString("vendor", "The vendor whose list it is (default: the mapping's vendor)"), qString("list", "The list's name as the vendor titles it (required)"),
				qString("list_date", "The list's date, YYYY-MM-DD (required)")},
			BodyType:   "application/octet-stream",
			BodySchema: map[string]any{"type": "string", "format": "binary", "description": "The list file: CSV, JSON or xlsx, as ?format says"},
			Answers:    []answer{ok(store.QualificationImport{})}, Handle: s.importQualifications},
		{Method: "GET", Path: "/api/v1/qualifications/mappings", ID: "listQualificationMappings", Tag: "Patches", Allow: staff,
			Summary:     "The column mappings a vendor's qualification list is imported through",
			Description: "Each names the columns it reads (the first name of each is the documented one; case and spaces do not matter) and how the vendor's words become statuses.",
			Answers:     []answer{ok([]qualification.Mapping{})}, Handle: s.listQualificationMappings},
	}
}

// heldRefusal is a plan refused because its patch is held for a release a target runs.
type heldRefusal struct {
	detail string
	holds  []domain.Hold
}

func (e *heldRefusal) Error() string { return e.detail }

// heldPlan refuses a plan of patch p that reaches a release the patch is held for, with each
// hold's reason (failCampaign answers it 409).
func (s *server) heldPlan(ctx context.Context, p store.Patch, plan domain.Plan) error {
	hs, err := s.patchHolds(ctx, p, planVersions(plan))
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		return nil
	}
	return &heldRefusal{holds: hs, detail: "the patch is held and cannot be planned: " + holdsSaid(hs) +
		" (rule: qualification_hold; lift the hold with PUT /api/v1/qualifications, or leave the held releases out of asset_ids)"}
}

// approvalHeld refuses (409) an approval while a hold applies to the campaign.
func (s *server) approvalHeld(w http.ResponseWriter, r *http.Request, c store.Campaign) bool {
	hs, err := s.campaignHolds(r.Context(), c, nil)
	if err != nil {
		s.fail(w, r, err)
		return true
	}
	if len(hs) == 0 {
		return false
	}
	s.refuseHeld(w, r, "campaign.decision_refused", c.ID, "the campaign cannot be approved while its patch is held: "+holdsSaid(hs)+
		" (rule: qualification_hold; it can be approved once the hold is lifted, or rejected)", hs)
	return true
}
