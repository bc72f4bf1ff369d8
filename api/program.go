package api

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/programreport"
)

// The program report: the patch program's business case in figures (IEC TR 62443-2-3), per
// site or for the company, computed on each request from the recorded events
// (internal/programreport). Staff read it; a vendor, who must not see plant inventory, does not.

// programFormats are the forms of the program report, by ?format.
var programFormats = []string{"json", "csv", "pdf"}

// defaultProgramPeriod is the period of a report that names no from.
const defaultProgramPeriod = 365 * 24 * time.Hour

var programQuery = []param{
	qString("site", "A site id: the report of that site's assets and the campaigns that changed them; left out, the whole company"),
	{Name: "from", Desc: "The first UTC day of the period (YYYY-MM-DD); left out, a year before to", Schema: map[string]any{"type": "string", "format": "date"}},
	{Name: "to", Desc: "The last UTC day of the period (YYYY-MM-DD, included); left out, today. A period is at most three years", Schema: map[string]any{"type": "string", "format": "date"}},
}

func (s *server) programOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/reports/program", ID: "getProgramReport", Tag: "Compliance", Allow: staff,
			Summary: "The patch program's figures: lead times, coverage, exposure, downtime, rollbacks and their trend",
			Description: "Computed from the recorded patch, campaign and asset events and the inventory as it is, never from stored figures: " +
				"days from a vendor's release to qualified, approved and deployed (median and 90th percentile, with counts); coverage by zone and SL-T; " +
				"exposure days per CVE (known exploited first); downtime consumed against the maintenance-window budget; rollbacks and their causes; " +
				"and a trend per month. ?format=csv answers one CSV section per figure, ?format=pdf a document for the board with the charts drawn as vectors.",
			Query: append([]param{qEnum("format", "json (default), csv (one section per figure) or pdf (for the board)", programFormats...)}, programQuery...),
			Answers: []answer{ok(programreport.Report{}),
				file(http.StatusOK, "text/csv", "?format=csv: per figure a row section,NAME, its header row and its rows"+csvCells),
				file(http.StatusOK, "application/pdf", "?format=pdf: a summary page and one page per chart")},
			Handle: s.programReport},
		{Method: "GET", Path: "/api/v1/reports/program/charts/{name}.svg", ID: "getProgramChart", Tag: "Compliance", Allow: staff,
			Summary:     "One chart of the program report as SVG",
			Description: "name is one of " + strings.Join(programreport.ChartNames, ", ") + ": bars for coverage, rollbacks and downtime, trend lines for time to deploy and exposure. Drawn by the server; the page needs no script to show it.",
			Query:       programQuery,
			Answers:     []answer{{Status: http.StatusOK, Type: "image/svg+xml", Schema: map[string]any{"type": "string"}, Desc: "The chart, a standalone SVG document"}},
			Handle:      s.programChart},
	}
}

// readProgram reads the report's scope and period and computes it.
func (s *server) readProgram(w http.ResponseWriter, r *http.Request, v *domain.ValidationError) (programreport.Report, bool) {
	ctx := r.Context()
	q := r.URL.Query()
	now := s.Store.Now()
	today := now.Truncate(24 * time.Hour)
	to := today.Add(24 * time.Hour)
	if t := q.Get("to"); t != "" {
		d, err := time.Parse(time.DateOnly, t)
		if err != nil {
			v.Add("to", "must be a day as YYYY-MM-DD, got %q", t)
		} else {
			to = d.Add(24 * time.Hour)
		}
	}
	from := to.Add(-defaultProgramPeriod)
	if f := q.Get("from"); f != "" {
		d, err := time.Parse(time.DateOnly, f)
		if err != nil {
			v.Add("from", "must be a day as YYYY-MM-DD, got %q", f)
		} else {
			from = d
		}
	}
	if len(v.Fields) == 0 {
		switch {
		case !from.Before(to):
			v.Add("from", "must be on or before to")
		case to.Sub(from) > programreport.MaxPeriod:
			v.Add("from", "the period is at most three years; ask for a later from or an earlier to")
		}
	}
	site := q.Get("site")
	if site != "" {
		_, err := s.Store.Site(ctx, site)
		if err := noSuch(v, "site", "site", site, err); err != nil {
			s.fail(w, r, err)
			return programreport.Report{}, false
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return programreport.Report{}, false
	}
	recs, err := s.Store.ProgramRecords(ctx)
	if err != nil {
		s.fail(w, r, err)
		return programreport.Report{}, false
	}
	var cves []string
	for _, p := range recs.Patches {
		if m, err := domain.ParseManifest([]byte(p.Manifest)); err == nil {
			for _, c := range m.CVEs {
				cves = append(cves, c.ID)
			}
		}
	}
	kev, _, err := s.Store.Exploitation(ctx, cves)
	if err != nil {
		s.fail(w, r, err)
		return programreport.Report{}, false
	}
	return programreport.Compute(programreport.Input{Records: recs, KEV: kev, SiteID: site, From: from, To: to, Now: now}), true
}

func (s *server) programReport(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	format := r.URL.Query().Get("format")
	if format != "" && !slices.Contains(programFormats, format) {
		v.Add("format", "must be json, csv or pdf, got %q", format)
	}
	rep, ok := s.readProgram(w, r, v)
	if !ok {
		return
	}
	name := "otpatch-program-report"
	if rep.Site != "" {
		name += "-" + rep.Site
	}
	var buf bytes.Buffer
	switch format {
	case "csv":
		if err := programreport.CSV(&buf, rep); err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	case "pdf":
		if err := programreport.PDF(&buf, rep); err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pdf"`)
	default:
		writeJSON(w, http.StatusOK, rep)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func (s *server) programChart(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if !slices.Contains(programreport.ChartNames, name) {
		notFoundProblem(w, r, "chart "+name+" (the charts are "+strings.Join(programreport.ChartNames, ", ")+")")
		return
	}
	v := &domain.ValidationError{What: "query"}
	rep, ok := s.readProgram(w, r, v)
	if !ok {
		return
	}
	c, _ := programreport.ChartByName(rep, name)
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(programreport.SVG(c))
}
