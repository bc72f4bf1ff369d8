package programreport

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/otpatch/otpatch/internal/csvsafe"
)

// Sections are the CSV sections, in order; each starts with a row naming it.
var Sections = []string{"lead_times", "coverage_zones", "coverage_sl_t", "exposure", "downtime", "rollbacks", "rollback_causes", "trend"}

func f1(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
func itoa(n int) string   { return strconv.Itoa(n) }
func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// table is one section: its name, header and rows.
type table struct {
	name   string
	header []string
	rows   [][]string
}

func tables(rep Report) []table {
	var ts []table
	lt := table{name: "lead_times", header: []string{"milestone", "count", "median_days", "p90_days"}}
	for _, l := range rep.LeadTimes {
		lt.rows = append(lt.rows, []string{l.Milestone, itoa(l.Count), f1(l.MedianDays), f1(l.P90Days)})
	}
	cz := table{name: "coverage_zones", header: []string{"site_id", "zone_id", "zone", "sl_t", "test_bench", "covered", "total"}}
	for _, z := range rep.Coverage.Zones {
		cz.rows = append(cz.rows, []string{z.SiteID, z.ZoneID, z.ZoneName, itoa(z.SLT), strconv.FormatBool(z.TestBench), itoa(z.Covered), itoa(z.Total)})
	}
	cs := table{name: "coverage_sl_t", header: []string{"sl_t", "covered", "total"}}
	for _, s := range rep.Coverage.SLT {
		cs.rows = append(cs.rows, []string{itoa(s.SLT), itoa(s.Covered), itoa(s.Total)})
	}
	ex := table{name: "exposure", header: []string{"cve", "kev", "kev_due", "cvss", "patches", "since", "until", "open", "exposed", "patched", "days"}}
	for _, e := range rep.Exposure {
		ex.rows = append(ex.rows, []string{e.CVE, strconv.FormatBool(e.KEV), e.KEVDue, f1(e.CVSS), strings.Join(e.Patches, "; "), day(e.Since), day(e.Until),
			strconv.FormatBool(e.Open), itoa(e.Exposed), itoa(e.Patched), f1(e.Days)})
	}
	dt := table{name: "downtime", header: []string{"site_id", "zone_id", "zone", "test_bench", "budget_hours", "consumed_hours", "campaigns"}}
	for _, d := range rep.Downtime {
		dt.rows = append(dt.rows, []string{d.SiteID, d.ZoneID, d.ZoneName, strconv.FormatBool(d.TestBench), f1(d.BudgetHours), f1(d.ConsumedHours), itoa(d.Campaigns)})
	}
	rb := table{name: "rollbacks", header: []string{"at", "campaign_id", "campaign", "asset_id", "asset", "zone_id", "test_bench", "outcome", "cause", "detail"}}
	for _, r := range rep.Rollbacks.Items {
		rb.rows = append(rb.rows, []string{stamp(r.At), r.CampaignID, r.Campaign, r.AssetID, r.Asset, r.ZoneID, strconv.FormatBool(r.TestBench), r.Outcome, r.Cause, r.Detail})
	}
	rc := table{name: "rollback_causes", header: []string{"cause", "count"}}
	for _, c := range rep.Rollbacks.Causes {
		rc.rows = append(rc.rows, []string{c.Cause, itoa(c.Count)})
	}
	tr := table{name: "trend", header: []string{"month", "deployed", "deploy_median_days", "assets_patched", "rollbacks", "exposure_days"}}
	for _, m := range rep.Trend {
		tr.rows = append(tr.rows, []string{m.Month, itoa(m.Deployed), f1(m.DeployMedianDays), itoa(m.AssetsPatched), itoa(m.Rollbacks), f1(m.ExposureDays)})
	}
	return append(ts, lt, cz, cs, ex, dt, rb, rc, tr)
}

// CSV writes the report as one CSV document: per figure, a row "section,NAME", its header
// row, its rows and an empty line. Text a spreadsheet would run is neutralised (csvsafe).
func CSV(w io.Writer, rep Report) error {
	cw := csvsafe.NewWriter(w)
	scope := "company"
	if rep.Site != "" {
		scope = "site " + rep.Site
	}
	_ = cw.Write([]string{"report", "program", scope, day(rep.From), day(rep.To.Add(-time.Nanosecond)), stamp(rep.GeneratedAt)})
	for _, t := range tables(rep) {
		_ = cw.Write([]string{})
		_ = cw.Write([]string{"section", t.name})
		_ = cw.Write(t.header)
		_ = cw.WriteAll(t.rows)
	}
	cw.Flush()
	return cw.Error()
}

// PDF writes the report for the board: a summary page, then one page per chart with its
// figures, the charts drawn as vectors.
func PDF(w io.Writer, rep Report) error {
	pdf := fpdf.New("P", "pt", "A4", "")
	pdf.SetTitle("otpatch program report", true)
	pdf.SetCreator("otpatch", true)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	const left = 50.0
	scope := "the whole company"
	if rep.Site != "" {
		scope = "site " + rep.SiteName + " (" + rep.Site + ")"
	}

	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 18)
	pdf.SetXY(left, 50)
	pdf.Cell(0, 24, tr("Patch program report"))
	pdf.SetFont("Helvetica", "", 11)
	pdf.SetXY(left, 80)
	pdf.MultiCell(495, 15, tr(fmt.Sprintf("For %s, from %s to %s; computed %s from the recorded campaign, asset and patch events.",
		scope, day(rep.From), day(rep.To.Add(-time.Nanosecond)), rep.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC"))), "", "L", false)
	y := pdf.GetY() + 12
	row := func(cells []string, widths []float64, bold bool) {
		style := ""
		if bold {
			style = "B"
		}
		pdf.SetFont("Helvetica", style, 9)
		x := left
		for i, c := range cells {
			pdf.SetXY(x, y)
			pdf.CellFormat(widths[i], 14, tr(clip(c, int(widths[i]/4.6))), "B", 0, "L", false, 0, "")
			x += widths[i]
		}
		y += 15
		if y > 780 {
			pdf.AddPage()
			y = 50
		}
	}
	heading := func(s string) {
		y += 10
		pdf.SetFont("Helvetica", "B", 12)
		pdf.SetXY(left, y)
		pdf.Cell(0, 16, tr(s))
		y += 20
	}
	heading("Days from vendor release")
	row([]string{"milestone", "count", "median", "90th percentile"}, []float64{160, 80, 100, 120}, true)
	for _, l := range rep.LeadTimes {
		row([]string{l.Milestone, itoa(l.Count), f1(l.MedianDays), f1(l.P90Days)}, []float64{160, 80, 100, 120}, false)
	}
	heading(fmt.Sprintf("Coverage: %d of %d production assets", rep.Coverage.Covered, rep.Coverage.Total))
	row([]string{"SL-T", "covered", "total"}, []float64{160, 80, 80}, true)
	for _, s := range rep.Coverage.SLT {
		row([]string{itoa(s.SLT), itoa(s.Covered), itoa(s.Total)}, []float64{160, 80, 80}, false)
	}
	heading("Exposure per CVE (known exploited first)")
	ew := []float64{110, 40, 190, 60, 50, 45}
	row([]string{"CVE", "KEV", "patches", "since", "open", "days"}, ew, true)
	for _, e := range rep.Exposure {
		kev := ""
		if e.KEV {
			kev = "yes"
		}
		open := "no"
		if e.Open {
			open = fmt.Sprintf("%d assets", e.Exposed)
		}
		row([]string{e.CVE, kev, strings.Join(e.Patches, "; "), day(e.Since), open, f1(e.Days)}, ew, false)
	}
	heading(fmt.Sprintf("Rollbacks: %d assets, %d campaigns", len(rep.Rollbacks.Items), rep.Rollbacks.Campaigns))
	rw := []float64{90, 110, 110, 185}
	row([]string{"when", "asset", "cause", "campaign"}, rw, true)
	for _, r := range rep.Rollbacks.Items {
		row([]string{day(r.At), r.Asset, r.Cause, r.Campaign}, rw, false)
	}

	for _, c := range Charts(rep) {
		pdf.AddPage()
		drawChart(pdf, tr, c, left, 60)
	}
	return pdf.Output(w)
}

func clip(s string, n int) string {
	r := []rune(s)
	if n > 1 && len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// drawChart draws a chart with fpdf's vector primitives at (x0, y0), scaled to the page.
func drawChart(pdf *fpdf.Fpdf, tr func(string) string, c Chart, x0, y0 float64) {
	scale := 495 / chartWidth
	X := func(x float64) float64 { return x0 + x*scale }
	Y := func(y float64) float64 { return y0 + y*scale }
	pdf.SetFont("Helvetica", "B", 12)
	pdf.SetXY(x0, y0)
	pdf.Cell(0, 14, tr(c.Title))
	pdf.SetFont("Helvetica", "", 8)
	if len(c.Values) == 0 {
		pdf.SetXY(x0, Y(titleHeight+4))
		pdf.Cell(0, 12, tr("Nothing in the period."))
		return
	}
	m := c.maxValue()
	pdf.SetDrawColor(136, 136, 136)
	switch c.Kind {
	case "line":
		xs, ys, lx, ly, w, h := c.linePoints()
		pdf.Line(X(lx), Y(ly+h), X(lx+w), Y(ly+h))
		pdf.Line(X(lx), Y(ly), X(lx), Y(ly+h))
		pdf.SetXY(X(0), Y(ly)-4)
		pdf.CellFormat(X(lx)-X(0)-3, 8, fmtValue(round1(m)), "", 0, "R", false, 0, "")
		pdf.SetDrawColor(31, 111, 235)
		pdf.SetFillColor(31, 111, 235)
		pdf.SetLineWidth(1.5)
		for i := 1; i < len(xs); i++ {
			pdf.Line(X(xs[i-1]), Y(ys[i-1]), X(xs[i]), Y(ys[i]))
		}
		pdf.SetLineWidth(0.5)
		for i := range xs {
			pdf.Circle(X(xs[i]), Y(ys[i]), 2, "F")
		}
		step := max(1, len(xs)/6)
		for i := 0; i < len(xs); i += step {
			pdf.SetXY(X(xs[i])-25, Y(ly+h)+4)
			pdf.CellFormat(50, 8, c.Labels[i], "", 0, "C", false, 0, "")
		}
		// The values, as a table under the chart.
		y := Y(lineHeight+titleHeight+30) + 10
		for i := range c.Labels {
			pdf.SetXY(x0, y)
			pdf.Cell(0, 10, tr(fmt.Sprintf("%s: %s %s", c.Labels[i], fmtValue(c.Values[i]), c.Unit)))
			y += 11
		}
	default:
		barW := chartWidth - labelWidth - 170
		for i, label := range c.Labels {
			y := titleHeight + float64(i)*(barHeight+barGap)
			pdf.SetXY(X(0), Y(y))
			pdf.CellFormat(X(labelWidth-8)-X(0), barHeight*scale, tr(clip(label, 40)), "", 0, "R", false, 0, "")
			if i < len(c.Of) {
				pdf.SetFillColor(227, 232, 239)
				pdf.Rect(X(labelWidth), Y(y), barW*c.Of[i]/m*scale, barHeight*scale, "F")
			}
			pdf.SetFillColor(31, 111, 235)
			pdf.Rect(X(labelWidth), Y(y), barW*c.Values[i]/m*scale, barHeight*scale, "F")
			pdf.SetXY(X(labelWidth+barW+6), Y(y))
			pdf.CellFormat(170*scale, barHeight*scale, tr(c.barText(i)), "", 0, "L", false, 0, "")
		}
	}
}
