package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

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

// reportFormat reads ?format: json (default) or csv.
func reportFormat(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		return "json", nil
	case "csv":
		return "csv", nil
	default:
		v := &domain.ValidationError{What: "query"}
		v.Add("format", "must be json or csv, got %q", f)
		return "", v
	}
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

// report answers with the JSON value or, for ?format=csv, the rows.
func (s *server) report(w http.ResponseWriter, r *http.Request, name string, v any, header []string, rows func() [][]string) {
	format, err := reportFormat(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if format == "csv" {
		writeCSV(w, name, header, rows())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func itoa(n int) string { return strconv.Itoa(n) }

func (s *server) complianceItems(subjectType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !allowQuery(w, r, "format") {
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
		header := []string{"subject_type", "subject_id", "ref", "title", "release_date", "evaluation_due", "evaluated_on", "evaluated_by",
			"decision", "reason", "evaluation_late_days", "evaluation_overdue", "action_due", "action_status", "action_overdue",
			"installed", "pending", "mitigated", "not_applicable", "mitigation_plans"}
		s.report(w, r, "otpatch-compliance-"+subjectType+"s.csv", map[string]any{"as_of": rep.AsOf, "items": items}, header, func() [][]string {
			var rows [][]string
			for _, it := range items {
				var on, by, dec, reason string
				if e := it.Evaluation; e != nil {
					on, by, dec, reason = e.EvaluatedOn, e.EvaluatedBy, e.Decision, e.Reason
				}
				rows = append(rows, []string{it.SubjectType, it.SubjectID, it.Ref, it.Title, it.ReleaseDate, it.EvaluationDue, on, by, dec, reason,
					itoa(it.EvaluationLateDays), strconv.FormatBool(it.EvaluationOverdue), it.ActionDue, it.ActionStatus, strconv.FormatBool(it.ActionOverdue),
					itoa(it.Assets.Installed), itoa(it.Assets.Pending), itoa(it.Assets.Mitigated), itoa(it.Assets.NotApplicable), itoa(len(it.MitigationPlans))})
			}
			return rows
		})
	}
}

type evaluationRequest struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func (s *server) evaluate(subjectType, param string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in evaluationRequest
		if err := decode(w, r, &in); err != nil {
			s.fail(w, r, err)
			return
		}
		e, err := s.Store.Evaluate(r.Context(), subjectType, chi.URLParam(r, param), in.Decision, in.Reason, event(r, "compliance.evaluated"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	}
}

func (s *server) listMitigations(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	ps, err := s.Store.MitigationPlans(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ps == nil {
		ps = []store.MitigationPlan{}
	}
	writeJSON(w, http.StatusOK, ps)
}

type mitigationRequest struct {
	SubjectType          string   `json:"subject_type"`
	SubjectID            string   `json:"subject_id"`
	CompensatingControls []string `json:"compensating_controls"`
	Owner                string   `json:"owner"`
	DueDate              string   `json:"due_date"`
}

func (s *server) createMitigation(w http.ResponseWriter, r *http.Request) {
	var in mitigationRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	p := store.MitigationPlan{SubjectType: in.SubjectType, SubjectID: in.SubjectID, CompensatingControls: in.CompensatingControls, Owner: in.Owner, DueOn: in.DueDate}
	if err := s.Store.CreateMitigationPlan(r.Context(), &p, event(r, "compliance.mitigation_planned")); err != nil {
		s.fail(w, r, err)
		return
	}
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
	DueDate string `json:"due_date"`
	Reason  string `json:"reason"`
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
	Reason string `json:"reason,omitempty"`
}

func overdueRows(es []store.OverdueEntry) [][]string {
	var rows [][]string
	for _, e := range es {
		rows = append(rows, []string{e.Kind, e.SubjectType, e.SubjectID, e.Ref, e.Title, e.Decision, e.Due, itoa(e.DaysOverdue), e.PlanID, e.Owner})
	}
	return rows
}

func (s *server) complianceOverdue(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "format") {
		return
	}
	rep, err := s.compliance(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	header := []string{"kind", "subject_type", "subject_id", "ref", "title", "decision", "due", "days_overdue", "mitigation_plan_id", "owner"}
	s.report(w, r, "otpatch-compliance-overdue-"+rep.AsOf+".csv",
		map[string]any{"as_of": rep.AsOf, "evaluations": rep.OverdueEvaluations, "actions": rep.OverdueActions}, header,
		func() [][]string {
			return append(overdueRows(rep.OverdueEvaluations), overdueRows(rep.OverdueActions)...)
		})
}

func (s *server) complianceAssets(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "format", "site_id") {
		return
	}
	rep, err := s.compliance(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows := []store.AssetPatchStatus{}
	site := r.URL.Query().Get("site_id")
	for _, a := range rep.Assets {
		if site == "" || a.SiteID == site {
			rows = append(rows, a)
		}
	}
	header := []string{"asset_id", "asset_name", "site_id", "zone_id", "subject_type", "subject_id", "ref", "installed_version", "fixed_version", "status"}
	s.report(w, r, "otpatch-compliance-assets-"+rep.AsOf+".csv", map[string]any{"as_of": rep.AsOf, "assets": rows}, header, func() [][]string {
		var out [][]string
		for _, a := range rows {
			out = append(out, []string{a.AssetID, a.AssetName, a.SiteID, a.ZoneID, a.SubjectType, a.SubjectID, a.Ref, a.InstalledVersion, a.FixedVersion, a.Status})
		}
		return out
	})
}

func (s *server) complianceSites(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "format") {
		return
	}
	rep, err := s.compliance(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	header := []string{"site_id", "site_name", "zones", "assets", "patches_and_advisories", "installed", "pending", "mitigated", "not_applicable",
		"evaluations_overdue", "actions_overdue", "open_mitigation_plans", "overdue_mitigation_plans", "approved_extensions"}
	s.report(w, r, "otpatch-compliance-sites-"+rep.AsOf+".csv", map[string]any{"as_of": rep.AsOf, "sites": rep.Sites}, header, func() [][]string {
		var out [][]string
		for _, c := range rep.Sites {
			out = append(out, []string{c.SiteID, c.SiteName, itoa(c.Zones), itoa(c.Assets), itoa(c.Items), itoa(c.Installed), itoa(c.Pending), itoa(c.Mitigated),
				itoa(c.NotApplicable), itoa(c.EvaluationsOverdue), itoa(c.ActionsOverdue), itoa(c.OpenMitigationPlans), itoa(c.OverdueMitigationPlans), itoa(c.ApprovedExtensions)})
		}
		return out
	})
}

// complianceOperations are the routes of compliance.go.
func (s *server) complianceOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/compliance/patches", ID: "complianceItems", Tag: "Compliance", Summary: "NERC CIP-007-6 R2 state of every patch: release date, evaluation due (release + 35 days, UTC calendar days), evaluation, action due (evaluation + 35 days), asset counts, mitigation plans (?format=csv" + csvCells + ")", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.complianceItems(store.SubjectPatch)},
		{Method: "GET", Path: "/api/v1/compliance/advisories", ID: "complianceItems2", Tag: "Compliance", Summary: "The same for every CSAF advisory (release date: the UTC day of its initial release) (?format=csv" + csvCells + ")", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.complianceItems(store.SubjectAdvisory)},
		{Method: "PUT", Path: "/api/v1/compliance/patches/{patchID}/evaluation", ID: "evaluate", Tag: "Compliance", Summary: "Record the evaluation of a patch; a changed decision keeps the first evaluation's day", Allow: engineers, Roles: "engineer, admin", /* body: {decision: apply|mitigate|not_applicable, reason} */ Answers: []answer{ok(nil)}, Handle: s.evaluate(store.SubjectPatch, "patchID")},
		{Method: "PUT", Path: "/api/v1/compliance/advisories/{advisoryID}/evaluation", ID: "evaluate2", Tag: "Compliance", Summary: "Record the evaluation of an advisory", Allow: engineers, Roles: "engineer, admin", /* body: {decision: apply|mitigate|not_applicable, reason} */ Answers: []answer{ok(nil)}, Handle: s.evaluate(store.SubjectAdvisory, "advisoryID")},
		{Method: "GET", Path: "/api/v1/compliance/mitigations", ID: "listMitigations", Tag: "Compliance", Summary: "List mitigation plans with their extensions", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.listMitigations},
		{Method: "POST", Path: "/api/v1/compliance/mitigations", ID: "createMitigation", Tag: "Compliance", Summary: "File a dated mitigation plan for an evaluated patch or advisory", Allow: engineers, Roles: "engineer, admin", /* body: {subject_type: patch|advisory, subject_id, compensating_controls, owner, due_date} */ Answers: []answer{ok(nil)}, Handle: s.createMitigation},
		{Method: "POST", Path: "/api/v1/compliance/mitigations/{mitigationID}/complete", ID: "completeMitigation", Tag: "Compliance", Summary: "Record that a mitigation plan was carried out", Allow: engineers, Roles: "engineer, admin", Answers: []answer{ok(nil)}, Handle: s.completeMitigation},
		{Method: "POST", Path: "/api/v1/compliance/mitigations/{mitigationID}/extensions", ID: "requestExtension", Tag: "Compliance", Summary: "Request a later due date for an open mitigation plan", Allow: engineers, Roles: "engineer, admin", /* body: {due_date, reason} */ Answers: []answer{ok(nil)}, Handle: s.requestExtension},
		{Method: "POST", Path: "/api/v1/compliance/extensions/{extensionID}/approve", ID: "decideExtension", Tag: "Compliance", Summary: "Approve an extension (never the requester's own): the plan's due date moves", Allow: []domain.Role{domain.RoleApprover}, Roles: "approver", /* body: {reason} (optional) */ Answers: []answer{ok(nil)}, Handle: s.decideExtension(true)},
		{Method: "POST", Path: "/api/v1/compliance/extensions/{extensionID}/reject", ID: "decideExtension2", Tag: "Compliance", Summary: "Reject an extension (never the requester's own)", Allow: []domain.Role{domain.RoleApprover}, Roles: "approver", /* body: {reason} (optional) */ Answers: []answer{ok(nil)}, Handle: s.decideExtension(false)},
		{Method: "GET", Path: "/api/v1/compliance/overdue", ID: "complianceOverdue", Tag: "Compliance", Summary: "Overdue evaluations and overdue actions and mitigation plans as of today, UTC (?format=csv" + csvCells + ")", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.complianceOverdue},
		{Method: "GET", Path: "/api/v1/compliance/assets", ID: "complianceAssets", Tag: "Compliance", Summary: "Per-asset patch status: installed, pending, mitigated, not_applicable (?site_id, ?format=csv" + csvCells + ")", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.complianceAssets},
		{Method: "GET", Path: "/api/v1/compliance/sites", ID: "complianceSites", Tag: "Compliance", Summary: "Per-site IEC 62443-2-3 patch summary (?format=csv" + csvCells + ")", Allow: staff, Roles: "staff", Answers: []answer{ok(nil)}, Handle: s.complianceSites},
	}
}
