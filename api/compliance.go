package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/csaf"
	"github.com/otpatch/otpatch/internal/csvsafe"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// NERC CIP-007-6 R2 compliance: engineers record the evaluation of every patch and advisory
// and file mitigation plans; an approver other than the requester extends a plan's due date;
// staff read the deadlines, the overdue lists, per-asset patch status and the per-site
// IEC 62443-2-3 summary as JSON or CSV. Deadlines are calendar days in UTC (internal/store,
// compliance.go).

// csvCells says how CSV answers carry text that a spreadsheet would run (internal/csvsafe).
const csvCells = "; a CSV cell that would start a spreadsheet formula (= + - @, tab, CR) is prefixed with ' (a plain signed number such as -5 stays a number)"

// compliance computes the report, with the advisories matched against today's inventory.
func (s *server) compliance(r *http.Request) (store.ComplianceReport, error) {
	ctx := r.Context()
	inv, err := s.advisoryInventory(ctx, false)
	if err != nil {
		return store.ComplianceReport{}, err
	}
	advs, err := s.Store.Advisories(ctx)
	if err != nil {
		return store.ComplianceReport{}, err
	}
	in := store.ComplianceInput{AdvisoryAssets: map[string][]string{}}
	for _, a := range advs {
		var adv csaf.Advisory
		if err := json.Unmarshal([]byte(a.Summary), &adv); err != nil {
			continue // an advisory without a readable summary hits no known asset
		}
		for _, h := range csaf.Match(&adv, inv.products, inv.assets) {
			in.AdvisoryAssets[a.ID] = append(in.AdvisoryAssets[a.ID], h.AssetID)
		}
	}
	return s.Store.Compliance(ctx, in)
}

// reportFormats are the forms of a compliance report, by ?format.
var reportFormats = []string{"json", "csv"}

// formatParam and reportQuery are the parameters of a report: a paged list in JSON, or the
// whole list as one CSV document.
var formatParam = qEnum("format", "json (default), or csv: the whole report as one CSV document, which limit and after do not page", reportFormats...)

func reportQuery(filters ...param) []param { return paged(append([]param{formatParam}, filters...)...) }

// reportOptions are what a client asked of a report: CSV, or which JSON page.
type reportOptions struct {
	csv  bool
	page pageRequest
}

// readReport reads ?format and the page; faults are added to v, each naming its parameter.
func readReport(r *http.Request, v *domain.ValidationError) reportOptions {
	q := r.URL.Query()
	var o reportOptions
	switch f := q.Get("format"); f {
	case "", "json":
	case "csv":
		o.csv = true
	default:
		v.Add("format", "must be json or csv, got %q", f)
	}
	pr := readPage(r, v)
	o.page = pr
	if o.csv {
		for _, name := range []string{"limit", "after"} {
			if q.Has(name) {
				v.Add(name, "pages the JSON answer; the CSV answer is the whole report: leave %s out", name)
			}
		}
	}
	return o
}

// reportPage is one page of a compliance report's list, with the day the report is of.
type reportPage[T any] struct {
	AsOf  string `json:"as_of" doc:"The UTC day the report was computed for (YYYY-MM-DD); deadlines are counted to it"`
	Items []T    `json:"items"`
	// Next is the cursor of the following page (?after=); absent on the last page.
	Next string `json:"next,omitempty" doc:"The cursor of the following page, to pass as after; absent on the last page"`
}

// answerReport answers one page of rows, sorted here by key, as JSON or, for CSV, every row.
func answerReport[T any](w http.ResponseWriter, o reportOptions, asOf string, rows []T, key func(T) string, csvName string, header []string, row func(T) []string) {
	slices.SortFunc(rows, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	if o.csv {
		out := make([][]string, len(rows))
		for i, x := range rows {
			out[i] = row(x)
		}
		writeCSV(w, csvName, header, out)
		return
	}
	p := pageOf(rows, key, o.page)
	writeJSON(w, http.StatusOK, reportPage[T]{AsOf: asOf, Items: p.Items, Next: p.Next})
}

// writeCSV answers a CSV report.
func writeCSV(w http.ResponseWriter, name string, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	cw := csvsafe.NewWriter(w)
	_ = cw.Write(header)
	_ = cw.WriteAll(rows)
}

// jsonReport documents the JSON form of a report.
func jsonReport(v any) answer {
	return answer{Status: http.StatusOK, Body: v, Desc: "?format=json (the default): one page of the report"}
}

// csvAnswer documents the CSV form of a report beside its JSON form.
func csvAnswer(header []string) answer {
	return file(http.StatusOK, "text/csv", "?format=csv: a header row ("+strings.Join(header, ",")+") and one row per item"+csvCells)
}

func itoa(n int) string { return strconv.Itoa(n) }

// complianceItemHeader are the columns of the CSV of patches and advisories.
var complianceItemHeader = []string{"subject_type", "subject_id", "ref", "title", "release_date", "evaluation_due", "evaluated_on", "evaluated_by",
	"decision", "reason", "evaluation_late_days", "evaluation_overdue", "action_due", "action_status", "action_overdue",
	"installed", "pending", "mitigated", "not_applicable", "mitigation_plans"}

func complianceItemRow(it store.ComplianceItem) []string {
	var on, by, dec, reason string
	if e := it.Evaluation; e != nil {
		on, by, dec, reason = e.EvaluatedOn, e.EvaluatedBy, e.Decision, e.Reason
	}
	return []string{it.SubjectType, it.SubjectID, it.Ref, it.Title, it.ReleaseDate, it.EvaluationDue, on, by, dec, reason,
		itoa(it.EvaluationLateDays), strconv.FormatBool(it.EvaluationOverdue), it.ActionDue, it.ActionStatus, strconv.FormatBool(it.ActionOverdue),
		itoa(it.Assets.Installed), itoa(it.Assets.Pending), itoa(it.Assets.Mitigated), itoa(it.Assets.NotApplicable), itoa(len(it.MitigationPlans))}
}

// complianceItemKey orders patches and advisories by release date, then id.
func complianceItemKey(it store.ComplianceItem) string {
	return cursorKey(it.ReleaseDate, it.SubjectID)
}

func (s *server) complianceItems(subjectType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := &domain.ValidationError{What: "query"}
		o := readReport(r, v)
		if err := v.Err(); err != nil {
			s.fail(w, r, err)
			return
		}
		rep, err := s.compliance(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		items := []store.ComplianceItem{}
		for _, it := range rep.Items {
			if it.SubjectType == subjectType {
				items = append(items, it)
			}
		}
		answerReport(w, o, rep.AsOf, items, complianceItemKey, "otpatch-compliance-"+subjectType+"s.csv", complianceItemHeader, complianceItemRow)
	}
}

// complianceDecision is an evaluation's decision.
type complianceDecision string

func complianceDecisions() []string {
	return []string{store.DecisionApply, store.DecisionMitigate, store.DecisionNotApplicable}
}

// complianceSubject is what compliance is tracked for: a patch or an advisory.
type complianceSubject string

func complianceSubjects() []string { return []string{store.SubjectPatch, store.SubjectAdvisory} }

type evaluationRequest struct {
	Decision complianceDecision `json:"decision" api:"required" doc:"apply: install it; mitigate: file a mitigation plan; not_applicable: nothing to do"`
	Reason   string             `json:"reason" api:"required" doc:"Why this decision was taken"`
}

func (s *server) evaluate(subjectType, param string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in evaluationRequest
		if err := decode(w, r, &in); err != nil {
			s.fail(w, r, err)
			return
		}
		e, err := s.Store.Evaluate(r.Context(), subjectType, chi.URLParam(r, param), string(in.Decision), in.Reason, event(r, "compliance.evaluated"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	}
}

// mitigationPlanStates are the states of a mitigation plan.
var mitigationPlanStates = []string{store.PlanOpen, store.PlanCompleted}

// mitigationKey orders mitigation plans by when they were filed, then id.
func mitigationKey(p store.MitigationPlan) string {
	return cursorKey(sortableTime(p.CreatedAt), p.ID)
}

func (s *server) listMitigations(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	q := r.URL.Query()
	status, subject := q.Get("status"), q.Get("subject_id")
	if status != "" && !slices.Contains(mitigationPlanStates, status) {
		v.Add("status", "must be open or completed, got %q", status)
	}
	if subject != "" {
		_, perr := s.Store.Patch(r.Context(), subject)
		_, aerr := s.Store.Advisory(r.Context(), subject)
		switch {
		case perr == nil || aerr == nil:
		case !errors.Is(perr, store.ErrNotFound):
			s.fail(w, r, perr)
			return
		case !errors.Is(aerr, store.ErrNotFound):
			s.fail(w, r, aerr)
			return
		default:
			v.Add("subject_id", "%q is no patch or advisory otpatch knows: check the id", subject)
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ps, err := s.Store.MitigationPlans(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var sel []store.MitigationPlan
	for _, p := range ps {
		if (status == "" || p.Status == status) && (subject == "" || p.SubjectID == subject) {
			sel = append(sel, p)
		}
	}
	slices.SortFunc(sel, func(a, b store.MitigationPlan) int { return strings.Compare(mitigationKey(a), mitigationKey(b)) })
	writeJSON(w, http.StatusOK, pageOf(sel, mitigationKey, pr))
}

func (s *server) getMitigation(w http.ResponseWriter, r *http.Request) {
	p, err := s.Store.MitigationPlan(r.Context(), chi.URLParam(r, "mitigationID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *server) getExtension(w http.ResponseWriter, r *http.Request) {
	e, err := s.Store.MitigationExtensionByID(r.Context(), chi.URLParam(r, "extensionID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

type mitigationRequest struct {
	SubjectType          complianceSubject `json:"subject_type" api:"required"`
	SubjectID            string            `json:"subject_id" api:"required" doc:"The id of the evaluated patch or advisory"`
	CompensatingControls []string          `json:"compensating_controls" api:"required" doc:"At least one compensating control"`
	Owner                string            `json:"owner" api:"required" doc:"Who carries the plan out"`
	DueDate              string            `json:"due_date" api:"required" doc:"The last day of the plan (YYYY-MM-DD), not before today (UTC)"`
}

func (s *server) createMitigation(w http.ResponseWriter, r *http.Request) {
	var in mitigationRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	p := store.MitigationPlan{SubjectType: string(in.SubjectType), SubjectID: in.SubjectID, CompensatingControls: in.CompensatingControls, Owner: in.Owner, DueOn: in.DueDate}
	if err := s.Store.CreateMitigationPlan(r.Context(), &p, event(r, "compliance.mitigation_planned")); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "compliance", "mitigations", p.ID)
	writeJSON(w, http.StatusCreated, p)
}

func (s *server) completeMitigation(w http.ResponseWriter, r *http.Request) {
	p, err := s.Store.CompleteMitigationPlan(r.Context(), chi.URLParam(r, "mitigationID"), event(r, "compliance.mitigation_completed"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

type extensionRequest struct {
	DueDate string `json:"due_date" api:"required" doc:"The new due date (YYYY-MM-DD), later than the plan's current one"`
	Reason  string `json:"reason" api:"required" doc:"Why the plan needs more time"`
}

func (s *server) requestExtension(w http.ResponseWriter, r *http.Request) {
	var in extensionRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	e, err := s.Store.RequestExtension(r.Context(), chi.URLParam(r, "mitigationID"), in.DueDate, in.Reason, event(r, "compliance.extension_requested"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "compliance", "extensions", e.ID)
	writeJSON(w, http.StatusCreated, e)
}

func (s *server) decideExtension(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in extensionDecision
		if err := decodeOptional(w, r, &in); err != nil {
			s.fail(w, r, err)
			return
		}
		id := chi.URLParam(r, "extensionID")
		e, err := s.Store.DecideExtension(r.Context(), id, approve, in.Reason, event(r, "compliance.extension_decided"))
		if errors.Is(err, store.ErrForbidden) {
			// The requester deciding their own extension: refused and audited.
			s.refuse(w, r, http.StatusForbidden, "compliance.extension_refused", err.Error())
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	}
}

type extensionDecision struct {
	Reason string `json:"reason,omitempty" doc:"Why it was decided so"`
}

func overdueRows(es []store.OverdueEntry) [][]string {
	var rows [][]string
	for _, e := range es {
		rows = append(rows, []string{e.Kind, e.SubjectType, e.SubjectID, e.Ref, e.Title, e.Decision, e.Due, itoa(e.DaysOverdue), e.PlanID, e.Owner})
	}
	return rows
}

// overdueDoc is the answer of /compliance/overdue.
type overdueDoc struct {
	AsOf        string               `json:"as_of" doc:"The UTC day the report was computed for (YYYY-MM-DD)"`
	Evaluations []store.OverdueEntry `json:"evaluations" doc:"Patches and advisories not evaluated by their evaluation due date"`
	Actions     []store.OverdueEntry `json:"actions" doc:"Decisions not acted on by their action due date, and open mitigation plans past their due date"`
	Drills      []store.OverdueEntry `json:"drills" doc:"Restore drills with no passing run within their interval (kind restore_drill), due the day they had to pass by"`
}

var overdueHeader = []string{"kind", "subject_type", "subject_id", "ref", "title", "decision", "due", "days_overdue", "mitigation_plan_id", "owner"}

func (s *server) complianceOverdue(w http.ResponseWriter, r *http.Request) {
	csv := false
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
	case "csv":
		csv = true
	default:
		s.fail(w, r, &domain.ValidationError{What: "query", Fields: []domain.FieldError{{Field: "format", Message: fmt.Sprintf("must be json or csv, got %q", f)}}})
		return
	}
	rep, err := s.compliance(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	drills, err := s.overdueDrillEntries(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if csv {
		writeCSV(w, "otpatch-compliance-overdue-"+rep.AsOf+".csv", overdueHeader,
			append(append(overdueRows(rep.OverdueEvaluations), overdueRows(rep.OverdueActions)...), overdueRows(drills)...))
		return
	}
	writeJSON(w, http.StatusOK, overdueDoc{AsOf: rep.AsOf, Evaluations: rep.OverdueEvaluations, Actions: rep.OverdueActions, Drills: drills})
}

// complianceAssetStates are the patch states of an asset in the compliance report.
var complianceAssetStates = []string{store.AssetInstalled, store.AssetPendingPatch, store.AssetMitigated, store.AssetNotApplicable}

var complianceAssetHeader = []string{"asset_id", "asset_name", "site_id", "zone_id", "subject_type", "subject_id", "ref", "installed_version", "fixed_version", "status"}

func complianceAssetRow(a store.AssetPatchStatus) []string {
	return []string{a.AssetID, a.AssetName, a.SiteID, a.ZoneID, a.SubjectType, a.SubjectID, a.Ref, a.InstalledVersion, a.FixedVersion, a.Status}
}

// complianceAssetKey orders the per-asset rows by asset, then patch or advisory.
func complianceAssetKey(a store.AssetPatchStatus) string {
	return cursorKey(a.AssetID, a.SubjectType, a.SubjectID)
}

func (s *server) complianceAssets(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	o := readReport(r, v)
	q := r.URL.Query()
	site, zone, status := q.Get("site_id"), q.Get("zone_id"), q.Get("status")
	if status != "" && !slices.Contains(complianceAssetStates, status) {
		v.Add("status", "must be one of %s, got %q", strings.Join(complianceAssetStates, ", "), status)
	}
	if zone != "" {
		if _, err := s.Store.Zone(r.Context(), zone); errors.Is(err, store.ErrNotFound) {
			v.Add("zone_id", "%q is no zone otpatch knows: check the id", zone)
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.compliance(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if site != "" && !slices.ContainsFunc(rep.Sites, func(c store.SiteCompliance) bool { return c.SiteID == site }) {
		s.fail(w, r, &domain.ValidationError{What: "query", Fields: []domain.FieldError{{Field: "site_id", Message: fmt.Sprintf("%q is no site otpatch knows: check the id", site)}}})
		return
	}
	rows := []store.AssetPatchStatus{}
	for _, a := range rep.Assets {
		if (site == "" || a.SiteID == site) && (zone == "" || a.ZoneID == zone) && (status == "" || a.Status == status) {
			rows = append(rows, a)
		}
	}
	answerReport(w, o, rep.AsOf, rows, complianceAssetKey, "otpatch-compliance-assets-"+rep.AsOf+".csv", complianceAssetHeader, complianceAssetRow)
}

var complianceSiteHeader = []string{"site_id", "site_name", "zones", "assets", "patches_and_advisories", "installed", "pending", "mitigated", "not_applicable",
	"evaluations_overdue", "actions_overdue", "open_mitigation_plans", "overdue_mitigation_plans", "approved_extensions"}

func complianceSiteRow(c store.SiteCompliance) []string {
	return []string{c.SiteID, c.SiteName, itoa(c.Zones), itoa(c.Assets), itoa(c.Items), itoa(c.Installed), itoa(c.Pending), itoa(c.Mitigated),
		itoa(c.NotApplicable), itoa(c.EvaluationsOverdue), itoa(c.ActionsOverdue), itoa(c.OpenMitigationPlans), itoa(c.OverdueMitigationPlans), itoa(c.ApprovedExtensions)}
}

func (s *server) complianceSites(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	o := readReport(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.compliance(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	answerReport(w, o, rep.AsOf, rep.Sites, func(c store.SiteCompliance) string { return c.SiteID },
		"otpatch-compliance-sites-"+rep.AsOf+".csv", complianceSiteHeader, complianceSiteRow)
}

// complianceOperations are the routes of compliance.go.
func (s *server) complianceOperations() []operation {
	deadlines := "Dates are UTC calendar days, and a due date is the last day allowed. "
	approver := []domain.Role{domain.RoleApprover}
	return []operation{
		{Method: "GET", Path: "/api/v1/compliance/patches", ID: "listPatchCompliance", Tag: "Compliance", Allow: staff,
			Summary: "NERC CIP-007-6 R2 state of every patch",
			Description: "Per patch: its release date, the evaluation due date (release + 35 days), the evaluation, the action due date (evaluation + 35 days), " +
				"asset counts and mitigation plans. Patches rejected in qualification are left out. " + deadlines +
				"Ordered by release date, then id.",
			Query:   reportQuery(),
			Answers: []answer{jsonReport(reportPage[store.ComplianceItem]{}), csvAnswer(complianceItemHeader)}, Handle: s.complianceItems(store.SubjectPatch)},
		{Method: "GET", Path: "/api/v1/compliance/advisories", ID: "listAdvisoryCompliance", Tag: "Compliance", Allow: staff,
			Summary: "NERC CIP-007-6 R2 state of every CSAF advisory",
			Description: "The same as for patches; an advisory's release date is the UTC day of its initial release. " + deadlines +
				"Ordered by release date, then id.",
			Query:   reportQuery(),
			Answers: []answer{jsonReport(reportPage[store.ComplianceItem]{}), csvAnswer(complianceItemHeader)}, Handle: s.complianceItems(store.SubjectAdvisory)},
		{Method: "PUT", Path: "/api/v1/compliance/patches/{patchID}/evaluation", ID: "evaluatePatch", Tag: "Compliance", Allow: engineers,
			Summary:     "Record the evaluation of a patch",
			Description: "A changed decision keeps the first evaluation's day, from which the action is due; the same decision and reason again change nothing.",
			Body:        evaluationRequest{},
			Answers:     []answer{ok(store.Evaluation{})}, Handle: s.evaluate(store.SubjectPatch, "patchID")},
		{Method: "PUT", Path: "/api/v1/compliance/advisories/{advisoryID}/evaluation", ID: "evaluateAdvisory", Tag: "Compliance", Allow: engineers,
			Summary:     "Record the evaluation of an advisory",
			Description: "A changed decision keeps the first evaluation's day, from which the action is due; the same decision and reason again change nothing.",
			Body:        evaluationRequest{},
			Answers:     []answer{ok(store.Evaluation{})}, Handle: s.evaluate(store.SubjectAdvisory, "advisoryID")},
		{Method: "GET", Path: "/api/v1/compliance/mitigations", ID: "listMitigationPlans", Tag: "Compliance", Allow: staff,
			Summary:     "List mitigation plans with their extensions",
			Description: "Ordered by when they were filed. A subject_id that is no patch or advisory is refused (422).",
			Query: paged(qEnum("status", "Only plans in this state", mitigationPlanStates...),
				qString("subject_id", "Only plans for this patch or advisory")),
			Answers: []answer{ok(page[store.MitigationPlan]{})}, Handle: s.listMitigations},
		{Method: "POST", Path: "/api/v1/compliance/mitigations", ID: "createMitigationPlan", Tag: "Compliance", Allow: engineers,
			Summary: "File a dated mitigation plan for an evaluated patch or advisory",
			Description: "The patch or advisory must be evaluated with the decision apply or mitigate; otherwise the plan is refused (409). " +
				"Its due date may not lie before today (UTC).",
			Body:    mitigationRequest{},
			Answers: []answer{created(store.MitigationPlan{})}, Handle: s.createMitigation},
		{Method: "GET", Path: "/api/v1/compliance/mitigations/{mitigationID}", ID: "getMitigationPlan", Tag: "Compliance", Allow: staff,
			Summary: "A mitigation plan with its extensions",
			Answers: []answer{ok(store.MitigationPlan{})}, Handle: s.getMitigation},
		{Method: "POST", Path: "/api/v1/compliance/mitigations/{mitigationID}/complete", ID: "completeMitigationPlan", Tag: "Compliance", Allow: engineers,
			Summary: "Record that a mitigation plan was carried out",
			Answers: []answer{ok(store.MitigationPlan{})}, Handle: s.completeMitigation},
		{Method: "POST", Path: "/api/v1/compliance/mitigations/{mitigationID}/extensions", ID: "requestExtension", Tag: "Compliance", Allow: engineers,
			Summary:     "Request a later due date for an open mitigation plan",
			Description: "Only an open plan can be extended (409 otherwise). An approver other than the requester decides.",
			Body:        extensionRequest{},
			Answers:     []answer{created(store.MitigationExtension{})}, Handle: s.requestExtension},
		{Method: "GET", Path: "/api/v1/compliance/extensions/{extensionID}", ID: "getExtension", Tag: "Compliance", Allow: staff,
			Summary: "An extension of a mitigation plan and its decision",
			Answers: []answer{ok(store.MitigationExtension{})}, Handle: s.getExtension},
		{Method: "POST", Path: "/api/v1/compliance/extensions/{extensionID}/approve", ID: "approveExtension", Tag: "Compliance", Allow: approver,
			Summary:     "Approve an extension: the plan's due date moves",
			Description: "Never the requester's own: that is refused (403) and audited. An extension already decided is refused (409).",
			Body:        extensionDecision{}, BodyOptional: true,
			Answers: []answer{ok(store.MitigationExtension{})}, Handle: s.decideExtension(true)},
		{Method: "POST", Path: "/api/v1/compliance/extensions/{extensionID}/reject", ID: "rejectExtension", Tag: "Compliance", Allow: approver,
			Summary:     "Reject an extension",
			Description: "Never the requester's own: that is refused (403) and audited. An extension already decided is refused (409).",
			Body:        extensionDecision{}, BodyOptional: true,
			Answers: []answer{ok(store.MitigationExtension{})}, Handle: s.decideExtension(false)},
		{Method: "GET", Path: "/api/v1/compliance/overdue", ID: "getOverdueCompliance", Tag: "Compliance", Allow: staff,
			Summary: "Overdue evaluations, actions and mitigation plans as of today (UTC)",
			Description: "One document of two lists, which the patches and advisories bound; with ?format=csv one CSV document of both, evaluations first. " +
				"An item is overdue from the day after its due date.",
			Query:   []param{qEnum("format", "json (default) or csv", reportFormats...)},
			Answers: []answer{{Status: http.StatusOK, Body: overdueDoc{}, Desc: "?format=json (the default)"}, file(http.StatusOK, "text/csv", "?format=csv: a header row ("+strings.Join(overdueHeader, ",")+") and one row per overdue item"+csvCells)},
			Handle:  s.complianceOverdue},
		{Method: "GET", Path: "/api/v1/compliance/assets", ID: "listAssetCompliance", Tag: "Compliance", Allow: staff,
			Summary:     "Per-asset patch status of every patch and advisory that applies to the asset",
			Description: "The status is installed, pending, mitigated or not_applicable. Ordered by asset, then patch or advisory. A site_id or zone_id that names no site or zone is refused (422).",
			Query: reportQuery(qString("site_id", "Only assets of this site"), qString("zone_id", "Only assets of this zone"),
				qEnum("status", "Only rows in this status", complianceAssetStates...)),
			Answers: []answer{jsonReport(reportPage[store.AssetPatchStatus]{}), csvAnswer(complianceAssetHeader)}, Handle: s.complianceAssets},
		{Method: "GET", Path: "/api/v1/compliance/sites", ID: "listSiteCompliance", Tag: "Compliance", Allow: staff,
			Summary:     "Per-site IEC 62443-2-3 patch summary",
			Description: "Counts per site of zones, assets, patches and advisories, asset patch states, overdue items, mitigation plans and approved extensions. Ordered by site id.",
			Query:       reportQuery(),
			Answers:     []answer{jsonReport(reportPage[store.SiteCompliance]{}), csvAnswer(complianceSiteHeader)}, Handle: s.complianceSites},
	}
}
