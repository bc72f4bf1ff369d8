package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// setClock is a store clock a test moves by hand.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *setClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func chicago(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Deadlines are calendar days in UTC: across month ends, leap years and the UTC day of a
// decision taken late in the evening in Chicago.
func TestComplianceDeadlineArithmetic(t *testing.T) {
	for _, tt := range []struct{ from, want string }{
		{"2026-01-27", "2026-03-03"}, // January's 31 days and a 28-day February
		{"2028-01-27", "2028-03-02"}, // a leap year's 29 February counts
		{"2028-02-01", "2028-03-07"},
		{"2026-02-01", "2026-03-08"},
		{"2028-02-29", "2028-04-04"},
		{"2026-12-15", "2027-01-19"}, // across the year end
		{"2026-03-04", "2026-04-08"}, // US daylight saving starts 2026-03-08: still 35 days
	} {
		if got, err := AddDays(tt.from, ComplianceDays); err != nil || got != tt.want {
			t.Errorf("%s + %d days = %s, %v; want %s", tt.from, ComplianceDays, got, err, tt.want)
		}
	}
	loc := chicago(t)
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 3, 3, 23, 30, 0, 0, loc), "2026-03-04"},  // CST, UTC-6: 05:30 UTC the next day
		{time.Date(2026, 3, 3, 17, 59, 59, 0, loc), "2026-03-03"}, // 23:59:59 UTC, the same day
		{time.Date(2026, 3, 16, 23, 30, 0, 0, loc), "2026-03-17"}, // CDT, UTC-5
		{time.Date(2026, 3, 17, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "2026-03-16"},
	} {
		if got := DayOf(tt.at); got != tt.want {
			t.Errorf("DayOf(%s) = %s, want %s", tt.at, got, tt.want)
		}
	}
	if _, err := AddDays("2026-02-30", 1); err == nil {
		t.Error("AddDays accepted 2026-02-30")
	}
}

type compliancePlant struct {
	siteA, siteB      Site
	plc1, plc2, plc4  Asset
	p1, p2, p3, rej   Patch
	adv               Advisory
	product, product2 Product
}

func compliancePatch(t *testing.T, st *Store, v Vendor, pr Product, ref, release, fixed string, status domain.PatchStatus, applicable []string) Patch {
	t.Helper()
	ctx := context.Background()
	m := domain.Manifest{Schema: domain.ManifestSchemaVersion, Vendor: v.Name, Product: pr.Name, PatchID: ref, Version: fixed, Title: ref + " firmware",
		ReleaseDate: release, AffectedVersions: []string{"< " + fixed}, FixedVersion: fixed,
		Artifacts: []domain.ArtifactRef{{Name: "fw.upd", Size: 1, SHA256: strings.Repeat("4f", 32)}}}
	raw, err := json.Marshal(m)
	check(t, "marshal manifest", err)
	p := Patch{ID: NewID("pat"), VendorID: v.ID, ProductID: pr.ID, PatchRef: ref, Version: fixed, Title: m.Title, Status: string(domain.PatchSubmitted),
		Manifest: string(raw), ManifestSHA256: strings.Repeat("aa", 32), Signature: "sig", KeyFingerprint: "fp", SubmittedBy: "vendor-ci"}
	check(t, "CreatePatch "+ref, st.CreatePatch(ctx, &p, nil, Event{Actor: "vendor-ci", Role: "vendor"}))
	check(t, "SetPatchStatus "+ref, st.SetPatchStatus(ctx, p.ID, status, nil, applicable, Event{Actor: "otpatch", Role: "system", Action: "patch.qualified"}))
	p.Status = string(status)
	return p
}

func seedCompliance(t *testing.T, st *Store) compliancePlant {
	t.Helper()
	ctx := context.Background()
	var f compliancePlant
	v := Vendor{Name: "siemens", DisplayName: "Siemens AG"}
	check(t, "CreateVendor", st.CreateVendor(ctx, &v, admin))
	f.siteA, f.siteB = Site{Name: "Basel Works"}, Site{Name: "Lyon Plant"}
	check(t, "CreateSite", st.CreateSite(ctx, &f.siteA, admin))
	check(t, "CreateSite", st.CreateSite(ctx, &f.siteB, admin))
	w := domain.Window{Cron: "0 2 * * 6", Duration: domain.Duration(4 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1}
	cell := Zone{SiteID: f.siteA.ID, Name: "Cell 3", SLT: 2, Window: w}
	line := Zone{SiteID: f.siteB.ID, Name: "Line 1", SLT: 2, Window: w}
	check(t, "CreateZone", st.CreateZone(ctx, &cell, admin))
	check(t, "CreateZone", st.CreateZone(ctx, &line, admin))
	f.product = Product{VendorID: v.ID, Name: "simatic-s7-1500", Kind: "plc"}
	f.product2 = Product{VendorID: v.ID, Name: "wincc-panel", Kind: "hmi"}
	check(t, "CreateProduct", st.CreateProduct(ctx, &f.product, admin))
	check(t, "CreateProduct", st.CreateProduct(ctx, &f.product2, admin))
	f.plc1 = Asset{ZoneID: cell.ID, ProductID: f.product.ID, Name: "PLC-301", InstalledVersion: "V3.1.4", Criticality: 2, Adapter: "simulator"}
	f.plc2 = Asset{ZoneID: cell.ID, ProductID: f.product.ID, Name: "PLC-302", InstalledVersion: "V2.9.4", Criticality: 2, Adapter: "simulator"}
	f.plc4 = Asset{ZoneID: line.ID, ProductID: f.product.ID, Name: "PLC-401", InstalledVersion: "V3.0 Update 2", Criticality: 3, Adapter: "simulator"}
	for _, a := range []*Asset{&f.plc1, &f.plc2, &f.plc4} {
		check(t, "CreateAsset", st.CreateAsset(ctx, a, admin))
	}
	all := []string{f.plc1.ID, f.plc2.ID, f.plc4.ID}
	f.p1 = compliancePatch(t, st, v, f.product, "SSA-100001", "2026-01-27", "V3.1.4", domain.PatchQualified, all)
	f.p2 = compliancePatch(t, st, v, f.product, "SSA-100002", "2026-02-10", "V3.2.0", domain.PatchQualified, []string{f.plc2.ID})
	f.rej = compliancePatch(t, st, v, f.product, "SSA-100003", "2026-01-02", "V3.3.0", domain.PatchRejected, nil)
	f.p3 = compliancePatch(t, st, v, f.product2, "SSA-280127", "2028-01-27", "V9.0", domain.PatchQualified, nil)
	// Released at 22:00 on 31 January in Chicago: 04:00 UTC on 1 February, so the advisory's
	// release date is 2026-02-01 and its evaluation is due on 2026-03-08.
	f.adv = Advisory{TrackingID: "ICSA-26-031-01", Title: "S7-1500 web server", Publisher: "CISA",
		ReleasedAt: time.Date(2026, 1, 31, 22, 0, 0, 0, chicago(t)), CurrentRelease: time.Date(2026, 1, 31, 22, 0, 0, 0, chicago(t)), Document: "{}", Summary: "{}"}
	_, err := st.CreateAdvisory(ctx, &f.adv, Event{Actor: "ed.eng", Role: "engineer"})
	check(t, "CreateAdvisory", err)
	return f
}

func overdueRefs(es []OverdueEntry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Kind+":"+e.Ref+":"+e.Due)
	}
	return out
}

func itemOf(t *testing.T, rep ComplianceReport, id string) ComplianceItem {
	t.Helper()
	for _, it := range rep.Items {
		if it.SubjectID == id {
			return it
		}
	}
	t.Fatalf("no compliance item for %s", id)
	return ComplianceItem{}
}

// The NERC CIP-007-6 R2 clock, moved by hand: evaluation and action deadlines, the overdue
// lists as time passes, a mitigation plan and an extension that only another approver grants.
func TestComplianceClock(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, dsn string) {
		clk := &setClock{t: time.Date(2026, 1, 28, 10, 0, 0, 0, time.UTC)}
		st, err := Open(dsn, Options{Now: clk.Now})
		check(t, "Open", err)
		t.Cleanup(func() { st.Close() })
		_, err = st.Migrate(ctx)
		check(t, "Migrate", err)
		f := seedCompliance(t, st)
		loc := chicago(t)
		eng := Event{Actor: "ed.eng", Role: "engineer", RequestID: "req-eng"}
		advAssets := ComplianceInput{AdvisoryAssets: map[string][]string{f.adv.ID: {f.plc4.ID}}}
		report := func(at time.Time) ComplianceReport {
			t.Helper()
			clk.Set(at)
			rep, err := st.Compliance(ctx, advAssets)
			check(t, "Compliance", err)
			return rep
		}
		wantOverdue := func(what string, got []OverdueEntry, want ...string) {
			t.Helper()
			if g := overdueRefs(got); !slices.Equal(g, append([]string{}, want...)) {
				t.Fatalf("%s = %v, want %v", what, g, want)
			}
		}

		rep := report(time.Date(2026, 1, 28, 10, 0, 0, 0, time.UTC))
		if len(rep.Items) != 4 {
			t.Fatalf("%d items, want 4 (three patches, one advisory; the rejected patch is left out)", len(rep.Items))
		}
		p1 := itemOf(t, rep, f.p1.ID)
		if p1.ReleaseDate != "2026-01-27" || p1.EvaluationDue != "2026-03-03" || p1.ActionStatus != ActionAwaitingEvaluation {
			t.Fatalf("patch released 2026-01-27: %+v", p1)
		}
		if a := itemOf(t, rep, f.adv.ID); a.ReleaseDate != "2026-02-01" || a.EvaluationDue != "2026-03-08" {
			t.Fatalf("advisory released 2026-01-31 22:00 Chicago: release %s, due %s; want 2026-02-01, 2026-03-08", a.ReleaseDate, a.EvaluationDue)
		}
		if p3 := itemOf(t, rep, f.p3.ID); p3.EvaluationDue != "2028-03-02" {
			t.Fatalf("patch released 2028-01-27: evaluation due %s, want 2028-03-02 (29 February counts)", p3.EvaluationDue)
		}

		// The due day itself is not overdue; the next UTC day is.
		wantOverdue("overdue evaluations on the due day", report(time.Date(2026, 3, 3, 23, 59, 59, 0, time.UTC)).OverdueEvaluations)
		rep = report(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC))
		wantOverdue("overdue evaluations the day after", rep.OverdueEvaluations, "evaluation:SSA-100001 V3.1.4:2026-03-03")
		if !itemOf(t, rep, f.p1.ID).EvaluationOverdue || rep.OverdueEvaluations[0].DaysOverdue != 1 {
			t.Fatalf("patch 1 overdue: %+v", rep.OverdueEvaluations)
		}

		// Evaluated at 23:30 on its due day in Chicago: 05:30 UTC the next day, which counts.
		clk.Set(time.Date(2026, 3, 3, 23, 30, 0, 0, loc))
		ev1, err := st.Evaluate(ctx, SubjectPatch, f.p1.ID, DecisionApply, "fixes CVE-2024-38867 on every S7-1500", eng)
		check(t, "Evaluate p1", err)
		if ev1.EvaluatedOn != "2026-03-04" || ev1.EvaluatedBy != "ed.eng" {
			t.Fatalf("evaluation = %+v; want evaluated on 2026-03-04 (the UTC day) by ed.eng", ev1)
		}
		if e := lastEvent(t, st); e.Action != "compliance.evaluated" || e.PatchID != f.p1.ID || !strings.Contains(e.Details, `"action_due":"2026-04-08"`) || !strings.Contains(e.Details, `"late_days":1`) {
			t.Fatalf("audit event = %+v", e)
		}
		rep = report(time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC))
		p1 = itemOf(t, rep, f.p1.ID)
		if p1.EvaluationOverdue || p1.EvaluationLateDays != 1 || p1.ActionDue != "2026-04-08" || p1.ActionStatus != ActionOpen {
			t.Fatalf("patch 1 after a late evaluation: %+v", p1)
		}
		wantOverdue("overdue evaluations after evaluating", rep.OverdueEvaluations)

		// Patch 2, due 2026-03-17, evaluated at 23:30 on 16 March in Chicago (CDT): 17 March UTC, on time.
		clk.Set(time.Date(2026, 3, 16, 23, 30, 0, 0, loc))
		ev2, err := st.Evaluate(ctx, SubjectPatch, f.p2.ID, DecisionMitigate, "V3.2.0 needs a new engineering project; firewall the web server meanwhile", eng)
		check(t, "Evaluate p2", err)
		if ev2.EvaluatedOn != "2026-03-17" {
			t.Fatalf("patch 2 evaluated on %s, want 2026-03-17", ev2.EvaluatedOn)
		}
		rep = report(time.Date(2026, 3, 17, 6, 0, 0, 0, time.UTC))
		if it := itemOf(t, rep, f.p2.ID); it.EvaluationLateDays != 0 || it.ActionDue != "2026-04-21" {
			t.Fatalf("patch 2: %+v", it)
		}
		// The advisory, due 2026-03-08, is overdue and stays so until it is evaluated.
		wantOverdue("overdue evaluations on 17 March", rep.OverdueEvaluations, "evaluation:ICSA-26-031-01:2026-03-08")
		_, err = st.Evaluate(ctx, SubjectAdvisory, f.adv.ID, DecisionNotApplicable, "the web server is disabled on PLC-401", eng)
		check(t, "Evaluate advisory", err)

		// A changed decision keeps the first evaluation's day, so it cannot move the deadline.
		clk.Set(time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC))
		again, err := st.Evaluate(ctx, SubjectPatch, f.p1.ID, DecisionApply, "fixes CVE-2024-38867; PLC-401 first", eng)
		check(t, "re-evaluate p1", err)
		if again.EvaluatedOn != "2026-03-04" || lastEvent(t, st).Action != "compliance.evaluation_changed" {
			t.Fatalf("changed evaluation = %+v, event %s", again, lastEvent(t, st).Action)
		}
		n := auditCount(t, st)
		if _, err := st.Evaluate(ctx, SubjectPatch, f.p1.ID, DecisionApply, "fixes CVE-2024-38867; PLC-401 first", eng); err != nil || auditCount(t, st) != n {
			t.Fatalf("the same evaluation again: %v, %d new events; want nothing written", err, auditCount(t, st)-n)
		}
		for name, call := range map[string]func() error{
			"unknown patch": func() error {
				_, err := st.Evaluate(ctx, SubjectPatch, "pat_nope", DecisionApply, "x", eng)
				return err
			},
			"rejected patch": func() error { _, err := st.Evaluate(ctx, SubjectPatch, f.rej.ID, DecisionApply, "x", eng); return err },
			"bad decision":   func() error { _, err := st.Evaluate(ctx, SubjectPatch, f.p1.ID, "ignore", "x", eng); return err },
			"no reason":      func() error { _, err := st.Evaluate(ctx, SubjectPatch, f.p1.ID, DecisionApply, " ", eng); return err },
		} {
			if err := call(); err == nil || auditCount(t, st) != n {
				t.Errorf("%s: %v with %d events written; want refused and nothing written", name, err, auditCount(t, st)-n)
			}
		}

		// Action deadlines: patch 1 (apply) is due 2026-04-08.
		wantOverdue("overdue actions on the action due day", report(time.Date(2026, 4, 8, 23, 0, 0, 0, time.UTC)).OverdueActions)
		rep = report(time.Date(2026, 4, 9, 0, 0, 0, 0, time.UTC))
		wantOverdue("overdue actions on 9 April", rep.OverdueActions, "action:SSA-100001 V3.1.4:2026-04-08")
		if c := itemOf(t, rep, f.p1.ID).Assets; c != (AssetCounts{Installed: 1, Pending: 2}) {
			t.Fatalf("patch 1 assets = %+v, want 1 installed, 2 pending", c)
		}
		// PLC-302 is patched; PLC-401 still waits: still overdue.
		check(t, "SetInstalledVersion", st.SetInstalledVersion(ctx, f.plc2.ID, "V3.1.4", Event{Actor: "otpatch", Role: "system", Action: "asset.patched"}))
		wantOverdue("overdue actions with one asset left", report(time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC)).OverdueActions, "action:SSA-100001 V3.1.4:2026-04-08")
		// A mitigation plan for the remaining asset satisfies the action.
		plan1 := MitigationPlan{SubjectType: SubjectPatch, SubjectID: f.p1.ID, CompensatingControls: []string{"block TCP/443 at the cell firewall", " "}, Owner: "lyon.ot", DueOn: "2026-09-01"}
		check(t, "CreateMitigationPlan", st.CreateMitigationPlan(ctx, &plan1, eng))
		if e := lastEvent(t, st); e.Action != "compliance.mitigation_planned" || e.SubjectID != plan1.ID || e.PatchID != f.p1.ID {
			t.Fatalf("plan event = %+v", e)
		}
		rep = report(time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC))
		wantOverdue("overdue actions after the plan", rep.OverdueActions)
		if it := itemOf(t, rep, f.p1.ID); it.ActionStatus != ActionDone || it.Assets != (AssetCounts{Installed: 2, Mitigated: 1}) {
			t.Fatalf("patch 1 with a plan: %s %+v", it.ActionStatus, it.Assets)
		}

		// Patch 2 (mitigate) has no plan by its action due date 2026-04-21.
		rep = report(time.Date(2026, 4, 22, 0, 0, 0, 0, time.UTC))
		wantOverdue("overdue actions on 22 April", rep.OverdueActions, "action:SSA-100002 V3.2.0:2026-04-21")
		// Per-asset status and the per-site summary.
		var statuses []string
		for _, a := range rep.Assets {
			statuses = append(statuses, a.AssetName+" "+a.Ref+" "+a.Status)
		}
		want := []string{"PLC-301 SSA-100001 V3.1.4 installed", "PLC-302 SSA-100001 V3.1.4 installed", "PLC-302 SSA-100002 V3.2.0 pending",
			"PLC-401 ICSA-26-031-01 not_applicable", "PLC-401 SSA-100001 V3.1.4 mitigated"}
		if !slices.Equal(statuses, want) {
			t.Fatalf("asset status =\n%s\nwant\n%s", strings.Join(statuses, "\n"), strings.Join(want, "\n"))
		}
		sites := map[string]SiteCompliance{}
		for _, s := range rep.Sites {
			sites[s.SiteName] = s
		}
		if a := sites["Basel Works"]; a.Assets != 2 || a.Zones != 1 || a.Items != 2 || a.Installed != 2 || a.Pending != 1 || a.ActionsOverdue != 1 || a.OpenMitigationPlans != 1 {
			t.Fatalf("Basel Works summary = %+v", a)
		}
		if b := sites["Lyon Plant"]; b.Assets != 1 || b.Items != 2 || b.Mitigated != 1 || b.NotApplicable != 1 || b.ActionsOverdue != 0 || b.OpenMitigationPlans != 1 {
			t.Fatalf("Lyon Plant summary = %+v", b)
		}

		// A plan in the past is refused; one for a not applicable advisory too.
		if err := st.CreateMitigationPlan(ctx, &MitigationPlan{SubjectType: SubjectPatch, SubjectID: f.p2.ID, CompensatingControls: []string{"x"}, Owner: "o", DueOn: "2026-04-21"}, eng); err == nil {
			t.Fatal("a plan due yesterday was accepted")
		}
		if err := st.CreateMitigationPlan(ctx, &MitigationPlan{SubjectType: SubjectAdvisory, SubjectID: f.adv.ID, CompensatingControls: []string{"x"}, Owner: "o", DueOn: "2026-05-01"}, eng); !errors.Is(err, ErrConflict) {
			t.Fatalf("a plan for a not applicable advisory: %v, want ErrConflict", err)
		}
		if err := st.CreateMitigationPlan(ctx, &MitigationPlan{SubjectType: SubjectPatch, SubjectID: f.p3.ID, CompensatingControls: []string{"x"}, Owner: "o", DueOn: "2026-05-01"}, eng); !errors.Is(err, ErrConflict) {
			t.Fatalf("a plan for a patch not evaluated: %v, want ErrConflict", err)
		}
		plan2 := MitigationPlan{SubjectType: SubjectPatch, SubjectID: f.p2.ID, CompensatingControls: []string{"disable the web server", "monitor with the IDS"}, Owner: "basel.ot", DueOn: "2026-05-15"}
		check(t, "CreateMitigationPlan p2", st.CreateMitigationPlan(ctx, &plan2, eng))
		rep = report(time.Date(2026, 5, 15, 23, 0, 0, 0, time.UTC))
		wantOverdue("overdue actions on the plan's due day", rep.OverdueActions)
		rep = report(time.Date(2026, 5, 16, 8, 0, 0, 0, time.UTC))
		wantOverdue("overdue actions after the plan's due day", rep.OverdueActions, "mitigation_plan:SSA-100002 V3.2.0:2026-05-15")
		if rep.OverdueActions[0].PlanID != plan2.ID || rep.OverdueActions[0].Owner != "basel.ot" {
			t.Fatalf("overdue plan entry = %+v", rep.OverdueActions[0])
		}

		// An extension: requested by the engineer, refused to the requester, approved by another.
		if _, err := st.RequestExtension(ctx, plan2.ID, "2026-05-10", "vendor delay", eng); err == nil {
			t.Fatal("an extension to a date before the due date was accepted")
		}
		ext, err := st.RequestExtension(ctx, plan2.ID, "2026-06-30", "the vendor's engineering project slips to June", eng)
		check(t, "RequestExtension", err)
		n = auditCount(t, st)
		if _, err := st.DecideExtension(ctx, ext.ID, true, "", Event{Actor: "ed.eng", Role: "approver"}); !errors.Is(err, ErrForbidden) {
			t.Fatalf("the requester approving: %v, want ErrForbidden", err)
		}
		if p, _ := st.MitigationPlan(ctx, plan2.ID); p.DueOn != "2026-05-15" || auditCount(t, st) != n {
			t.Fatalf("after a refused self-approval the plan is due %s with %d events written", p.DueOn, auditCount(t, st)-n)
		}
		wantOverdue("overdue after a refused self-approval", report(time.Date(2026, 5, 16, 9, 0, 0, 0, time.UTC)).OverdueActions, "mitigation_plan:SSA-100002 V3.2.0:2026-05-15")
		dec, err := st.DecideExtension(ctx, ext.ID, true, "agreed with the vendor", Event{Actor: "omar.ops", Role: "approver"})
		check(t, "approve extension", err)
		if dec.Status != ExtensionApproved || dec.DecidedBy != "omar.ops" {
			t.Fatalf("decided extension = %+v", dec)
		}
		if e := lastEvent(t, st); e.Action != "compliance.extension_approved" || e.SubjectID != plan2.ID || e.Actor != "omar.ops" {
			t.Fatalf("approval event = %+v", e)
		}
		p, err := st.MitigationPlan(ctx, plan2.ID)
		if err != nil || p.DueOn != "2026-06-30" || p.OriginalDueOn != "2026-05-15" || len(p.Extensions) != 1 || p.Extensions[0].Status != ExtensionApproved {
			t.Fatalf("plan after the extension = %+v, %v", p, err)
		}
		wantOverdue("overdue after the extension", report(time.Date(2026, 5, 16, 10, 0, 0, 0, time.UTC)).OverdueActions)
		if _, err := st.DecideExtension(ctx, ext.ID, true, "", Event{Actor: "olga.ops", Role: "approver"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("approving twice: %v, want ErrConflict", err)
		}
		wantOverdue("overdue on 1 July", report(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)).OverdueActions, "mitigation_plan:SSA-100002 V3.2.0:2026-06-30")
		_, err = st.CompleteMitigationPlan(ctx, plan2.ID, eng)
		check(t, "CompleteMitigationPlan", err)
		wantOverdue("overdue after the plan was carried out", report(time.Date(2026, 7, 1, 1, 0, 0, 0, time.UTC)).OverdueActions)
		if _, err := st.RequestExtension(ctx, plan2.ID, "2026-08-01", "more", eng); !errors.Is(err, ErrConflict) {
			t.Fatalf("extending a completed plan: %v, want ErrConflict", err)
		}

		// A leap year: patch 3 released 2028-01-27 is due 2028-03-02.
		wantOverdue("overdue evaluations on 2 March 2028", report(time.Date(2028, 3, 2, 23, 59, 0, 0, time.UTC)).OverdueEvaluations)
		wantOverdue("overdue evaluations on 3 March 2028", report(time.Date(2028, 3, 3, 0, 0, 0, 0, time.UTC)).OverdueEvaluations, "evaluation:SSA-280127 V9.0:2028-03-02")
		clk.Set(time.Date(2028, 2, 29, 15, 0, 0, 0, time.UTC))
		_, err = st.Evaluate(ctx, SubjectPatch, f.p3.ID, DecisionApply, "applies to the panels", eng)
		check(t, "Evaluate p3", err)
		if it := itemOf(t, report(time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)), f.p3.ID); it.ActionDue != "2028-04-04" || it.ActionStatus != ActionDone {
			t.Fatalf("patch 3 evaluated on 29 February 2028: action due %s (%s), want 2028-04-04 and done (no applicable asset)", it.ActionDue, it.ActionStatus)
		}

		// Every change was audited in its own transaction and the chain holds.
		for _, action := range []string{"compliance.evaluated", "compliance.evaluation_changed", "compliance.mitigation_planned",
			"compliance.extension_requested", "compliance.extension_approved", "compliance.mitigation_completed"} {
			evs, err := st.AuditEvents(ctx, AuditFilter{Action: action})
			if err != nil || len(evs) == 0 {
				t.Errorf("no %s event (%v)", action, err)
			}
		}
		if res, err := st.VerifyAudit(ctx); err != nil || !res.OK {
			t.Fatalf("VerifyAudit = %+v, %v", res, err)
		}
	})
}
