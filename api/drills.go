package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Restore drills (IEC 62443-3-3 CR 7.3, Swiss ICS minimum measures §3.9: backups are tested,
// not only taken): a plan per product or zone, a Temporal Schedule per plan (internal/engine,
// workflows.RestoreDrill) that restores the most recent verified production backup onto the
// test bench and verifies it. Each run is evidence; a plan with no passing run within its
// interval is overdue (store.OverdueDrills) on the dashboard and in the compliance report.

func init() {
	enums[reflect.TypeFor[domain.DrillResult]()] = func() []string { return stringsOf(domain.DrillResults()) }
}

// drillRunsShown bounds the runs one drill shows.
const drillRunsShown = 50

// drillRequest plans a restore drill.
type drillRequest struct {
	Name          string `json:"name,omitempty" doc:"What people call the drill (at most 200 characters); default: the product's or zone's name"`
	ProductID     string `json:"product_id,omitempty" doc:"The product whose production backups are drilled; give this or zone_id"`
	ZoneID        string `json:"zone_id,omitempty" doc:"The production zone whose assets' backups are drilled; give this or product_id"`
	IntervalHours *int   `json:"interval_hours,omitempty" doc:"How often the drill runs and must pass, 24 to 8784 hours (a year); default 2160 (90 days)"`
}

// drillView is a drill plan as the API shows it.
type drillView struct {
	store.Drill
	LastRestoreMS *int64           `json:"last_restore_ms,omitempty" doc:"Time to restore of the last run that got that far, in milliseconds"`
	NextDue       time.Time        `json:"next_due" doc:"When the drill must next pass: its interval after the last passing run, or after it was planned"`
	Overdue       bool             `json:"overdue" doc:"No run passed within the interval: the next due time has passed"`
	NextRun       *time.Time       `json:"next_run,omitempty" doc:"When its Temporal Schedule next starts it (shown for one drill)"`
	Scheduled     *bool            `json:"scheduled,omitempty" doc:"Whether Temporal has its schedule (shown for one drill)"`
	Runs          []store.DrillRun `json:"runs,omitempty" doc:"Its runs, newest first (at most 50; shown for one drill)"`
}

// drillRunStarted answers a run asked for now.
type drillRunStarted struct {
	DrillID string `json:"drill_id"`
	RunID   string `json:"run_id" doc:"The run it records; GET /api/v1/drills/{drillID} shows it, running until it ends"`
}

func (s *server) drillOf(d store.Drill, last *store.DrillRun) drillView {
	v := drillView{Drill: d, NextDue: d.Due(), Overdue: d.Overdue(s.Store.Now())}
	if last != nil && last.RestoreMS > 0 {
		ms := last.RestoreMS
		v.LastRestoreMS = &ms
	}
	return v
}

func (s *server) createDrill(w http.ResponseWriter, r *http.Request) {
	var in drillRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	v := &domain.ValidationError{What: "drill"}
	if len(in.Name) > 200 {
		v.Add("name", "is longer than 200 characters")
	}
	name := in.Name
	switch {
	case (in.ProductID == "") == (in.ZoneID == ""):
		v.Add("product_id", "give a product_id or a zone_id, not both and not neither")
	case in.ProductID != "":
		p, err := s.Store.Product(ctx, in.ProductID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Add("product_id", "there is no product %q", in.ProductID)
		case err != nil:
			s.fail(w, r, err)
			return
		case name == "":
			name = p.Name
		}
	default:
		z, err := s.Store.Zone(ctx, in.ZoneID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Add("zone_id", "there is no zone %q", in.ZoneID)
		case err != nil:
			s.fail(w, r, err)
			return
		case z.TestBench:
			v.Add("zone_id", "zone %s is the test bench; drill a production zone, whose backups are restored onto the bench", z.Name)
		case name == "":
			name = z.Name
		}
	}
	interval := domain.DefaultDrillInterval
	if in.IntervalHours != nil {
		interval = *in.IntervalHours
		if interval < domain.MinDrillInterval || interval > domain.MaxDrillInterval {
			v.Add("interval_hours", "must be %d to %d hours, got %d", domain.MinDrillInterval, domain.MaxDrillInterval, interval)
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	d := store.Drill{Name: name, ProductID: in.ProductID, ZoneID: in.ZoneID, IntervalHours: interval, CreatedBy: actorOf(r).Name}
	ev := event(r, "drill.created")
	ev.Details = map[string]any{"name": name, "product_id": in.ProductID, "zone_id": in.ZoneID, "interval_hours": interval}
	if err := s.Store.CreateDrill(ctx, &d, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.engine.ScheduleDrill(ctx, d.ID, d.Interval()); err != nil {
		// Without its schedule the drill would never run: take it back.
		ev := event(r, "drill.deleted")
		ev.Details = map[string]any{"reason": "its schedule could not be created: " + err.Error()}
		if derr := s.Store.DeleteDrill(context.WithoutCancel(ctx), d.ID, ev); derr != nil {
			s.Logger.Error("drill left without schedule", "drill", d.ID, "err", derr)
		}
		s.internal(w, r, fmt.Errorf("schedule of drill %s: %w", d.ID, err))
		return
	}
	locateCreated(w, "drills", d.ID)
	writeJSON(w, http.StatusCreated, s.drillOf(d, nil))
}

func (s *server) listDrills(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	afterAt, afterID := newestFirstAfter(pr, v)
	overdueOnly := false
	switch q := r.URL.Query().Get("overdue"); q {
	case "", "0", "false":
	case "1", "true":
		overdueOnly = true
	default:
		v.Add("overdue", "must be 1, true, 0 or false, got %q", q)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	var ds []store.Drill
	var err error
	var pg page[store.Drill]
	if overdueOnly {
		ds, err = s.Store.OverdueDrills(r.Context(), s.Store.Now())
		pg = page[store.Drill]{Items: ds}
	} else {
		ds, err = s.Store.DrillsPage(r.Context(), afterAt, afterID, pr.Limit+1)
		pg = pageFrom(ds, func(d store.Drill) string { return newestFirstKey(d.CreatedAt, d.ID) }, pr.Limit)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := make([]string, 0, len(pg.Items))
	for _, d := range pg.Items {
		if d.LastRunID != "" {
			ids = append(ids, d.LastRunID)
		}
	}
	runs, err := s.Store.DrillRunsByID(r.Context(), ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := page[drillView]{Items: make([]drillView, 0, len(pg.Items)), Next: pg.Next}
	for _, d := range pg.Items {
		var last *store.DrillRun
		if run, ok := runs[d.LastRunID]; ok {
			last = &run
		}
		out.Items = append(out.Items, s.drillOf(d, last))
	}
	writeJSON(w, http.StatusOK, out)
}

// loadDrill reads the drill of the route, answering 404 when there is none.
func (s *server) loadDrill(w http.ResponseWriter, r *http.Request) (store.Drill, bool) {
	id := chi.URLParam(r, "drillID")
	d, err := s.Store.Drill(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "drill "+id)
		return d, false
	}
	if err != nil {
		s.fail(w, r, err)
		return d, false
	}
	return d, true
}

func (s *server) getDrill(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadDrill(w, r)
	if !ok {
		return
	}
	runs, err := s.Store.DrillRuns(r.Context(), d.ID, drillRunsShown)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var last *store.DrillRun
	for i := range runs {
		if runs[i].ID == d.LastRunID {
			last = &runs[i]
		}
	}
	view := s.drillOf(d, last)
	view.Runs = runs
	_, next, scheduled, err := s.engine.DrillSchedule(r.Context(), d.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view.NextRun, view.Scheduled = next, &scheduled
	writeJSON(w, http.StatusOK, view)
}

func (s *server) runDrill(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadDrill(w, r)
	if !ok {
		return
	}
	ev := event(r, "drill.run_requested")
	ev.SubjectType, ev.SubjectID = "drill", d.ID
	if _, err := s.Store.Append(r.Context(), ev); err != nil {
		s.fail(w, r, err)
		return
	}
	runID, err := s.engine.RunDrill(r.Context(), d.ID, actorOf(r).Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, drillRunStarted{DrillID: d.ID, RunID: runID})
}

func (s *server) deleteDrill(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadDrill(w, r)
	if !ok {
		return
	}
	if err := s.engine.UnscheduleDrill(r.Context(), d.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "drill.deleted")
	ev.Details = map[string]any{"name": d.Name, "product_id": d.ProductID, "zone_id": d.ZoneID}
	if err := s.Store.DeleteDrill(r.Context(), d.ID, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// overdueDrillEntries are the overdue restore drills as entries of the compliance report's
// overdue list (kind restore_drill, due the UTC day the drill had to pass by).
func (s *server) overdueDrillEntries(ctx context.Context) ([]store.OverdueEntry, error) {
	now := s.Store.Now()
	ds, err := s.Store.OverdueDrills(ctx, now)
	if err != nil {
		return nil, err
	}
	out := []store.OverdueEntry{}
	for _, d := range ds {
		due := d.Due().UTC()
		title := "restore drill of product " + d.ProductID
		if d.ZoneID != "" {
			title = "restore drill of zone " + d.ZoneID
		}
		out = append(out, store.OverdueEntry{Kind: "restore_drill", SubjectType: "drill", SubjectID: d.ID, Ref: d.Name, Title: title,
			Due: due.Format(time.DateOnly), DaysOverdue: int(now.Sub(due) / (24 * time.Hour)), Owner: d.CreatedBy})
	}
	return out, nil
}

// drillOperations are the routes of drills.go.
func (s *server) drillOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/drills", ID: "createDrill", Tag: "Compliance", Allow: engineers,
			Summary: "Plan a restore drill for a product or a production zone",
			Description: "A Temporal Schedule then runs it every interval: the most recent verified production backup of an asset of the product (or zone) is restored onto a test-bench asset of the same product and verified there; " +
				"the time to restore and the result are recorded as evidence. A drill with no passing run within its interval is overdue.",
			Body: drillRequest{}, Answers: []answer{created(drillView{})}, Handle: s.createDrill},
		{Method: "GET", Path: "/api/v1/drills", ID: "listDrills", Tag: "Compliance", Allow: staff,
			Summary:     "List the restore drills with their last run, next due time and whether they are overdue",
			Description: "Newest first. With overdue=1 only the overdue drills, all on one page.",
			Query:       paged(qBool("overdue", "Only the overdue drills (1 or true)")), Answers: []answer{ok(page[drillView]{})}, Handle: s.listDrills},
		{Method: "GET", Path: "/api/v1/drills/{drillID}", ID: "getDrill", Tag: "Compliance", Allow: staff,
			Summary:     "Show a restore drill with its runs and schedule",
			Description: "Each run names the production backup restored (asset, campaign, SHA-256), the bench asset, the version verified, the time to restore and the result or the reason it failed.",
			Answers:     []answer{ok(drillView{})}, Handle: s.getDrill},
		{Method: "POST", Path: "/api/v1/drills/{drillID}/run", ID: "runDrill", Tag: "Compliance", Allow: engineers,
			Summary:     "Run a restore drill now",
			Description: "Starts a run and answers its id at once; the run shows on the drill, running until it ends. A run asked for now and still going is joined rather than doubled.",
			Answers:     []answer{accepted(drillRunStarted{})}, Handle: s.runDrill},
		{Method: "DELETE", Path: "/api/v1/drills/{drillID}", ID: "deleteDrill", Tag: "Compliance", Allow: engineers,
			Summary:     "Stop a restore drill",
			Description: "Deletes its schedule and the plan; its runs stay as evidence.",
			Answers:     []answer{noContent}, Handle: s.deleteDrill},
	}
}
