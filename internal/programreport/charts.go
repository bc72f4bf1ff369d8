package programreport

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// Chart is one figure drawn for people to read at a glance: horizontal bars (each a share of
// a whole, or a count) or a trend line over months. SVG and PDF draw the same chart.
type Chart struct {
	Name  string
	Title string
	Kind  string // "bars" or "line"
	Unit  string
	// Labels and Values are the bars or the points, in order; Of, for bars, is each bar's whole
	// (coverage: total assets), drawn behind it.
	Labels []string
	Values []float64
	Of     []float64
}

// ChartNames are the charts a report has, in order.
var ChartNames = []string{"coverage", "rollbacks", "downtime", "time-to-deploy", "exposure"}

// Charts are the report's charts, in the order of ChartNames.
func Charts(rep Report) []Chart {
	cov := Chart{Name: "coverage", Title: "Coverage by zone (assets at a qualified or latest version)", Kind: "bars", Unit: "assets"}
	for _, z := range rep.Coverage.Zones {
		label := fmt.Sprintf("%s (SL-T %d)", z.ZoneName, z.SLT)
		if z.TestBench {
			label = z.ZoneName + " (test bench)"
		}
		cov.Labels = append(cov.Labels, label)
		cov.Values = append(cov.Values, float64(z.Covered))
		cov.Of = append(cov.Of, float64(z.Total))
	}
	rb := Chart{Name: "rollbacks", Title: "Rollbacks by cause", Kind: "bars", Unit: "rollbacks"}
	for _, c := range rep.Rollbacks.Causes {
		rb.Labels = append(rb.Labels, c.Cause)
		rb.Values = append(rb.Values, float64(c.Count))
	}
	dt := Chart{Name: "downtime", Title: "Downtime consumed against window budget", Kind: "bars", Unit: "hours"}
	for _, d := range rep.Downtime {
		dt.Labels = append(dt.Labels, d.ZoneName)
		dt.Values = append(dt.Values, d.ConsumedHours)
		dt.Of = append(dt.Of, d.BudgetHours)
	}
	ttd := Chart{Name: "time-to-deploy", Title: "Median days from vendor release to deployed, per month", Kind: "line", Unit: "days"}
	exp := Chart{Name: "exposure", Title: "Exposure, CVE-days per month", Kind: "line", Unit: "CVE-days"}
	for _, m := range rep.Trend {
		ttd.Labels = append(ttd.Labels, m.Month)
		ttd.Values = append(ttd.Values, m.DeployMedianDays)
		exp.Labels = append(exp.Labels, m.Month)
		exp.Values = append(exp.Values, m.ExposureDays)
	}
	return []Chart{cov, rb, dt, ttd, exp}
}

// ChartByName returns the named chart of a report.
func ChartByName(rep Report, name string) (Chart, bool) {
	for _, c := range Charts(rep) {
		if c.Name == name {
			return c, true
		}
	}
	return Chart{}, false
}

// Chart geometry shared by SVG and PDF, in points (SVG user units).
const (
	chartWidth  = 640.0
	barHeight   = 22.0
	barGap      = 8.0
	labelWidth  = 220.0
	titleHeight = 28.0
	lineHeight  = 220.0
)

// Height is the chart's drawn height.
func (c Chart) Height() float64 {
	if c.Kind == "line" {
		return titleHeight + lineHeight + 30
	}
	n := max(len(c.Labels), 1)
	return titleHeight + float64(n)*(barHeight+barGap) + 10
}

func (c Chart) maxValue() float64 {
	m := 0.0
	for i, v := range c.Values {
		m = math.Max(m, v)
		if i < len(c.Of) {
			m = math.Max(m, c.Of[i])
		}
	}
	if m == 0 {
		m = 1
	}
	return m
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func fmtValue(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// barText is what is written beside a bar.
func (c Chart) barText(i int) string {
	if i < len(c.Of) {
		pct := 0.0
		if c.Of[i] > 0 {
			pct = 100 * c.Values[i] / c.Of[i]
		}
		return fmt.Sprintf("%s of %s %s (%.0f%%)", fmtValue(c.Values[i]), fmtValue(c.Of[i]), c.Unit, pct)
	}
	return fmt.Sprintf("%s %s", fmtValue(c.Values[i]), c.Unit)
}

// linePoints are the points of a line chart, in chart coordinates.
func (c Chart) linePoints() (xs, ys []float64, x0, y0, w, h float64) {
	x0, y0, w, h = 50, titleHeight+10, chartWidth-70, lineHeight-20
	m := c.maxValue()
	n := len(c.Values)
	for i, v := range c.Values {
		x := x0
		if n > 1 {
			x = x0 + w*float64(i)/float64(n-1)
		}
		xs = append(xs, x)
		ys = append(ys, y0+h-h*v/m)
	}
	return
}

// SVG draws the chart as a standalone SVG document.
func SVG(c Chart) []byte {
	var b bytes.Buffer
	esc := html.EscapeString
	height := c.Height()
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-%s" data-chart="%s" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s" font-family="sans-serif" font-size="12">`,
		esc(c.Name), esc(c.Name), num(chartWidth), num(height), num(chartWidth), num(height), esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title><text x="0" y="16" font-size="14" font-weight="bold">%s</text>`, esc(c.Title), esc(c.Title))
	if len(c.Values) == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="0" y="%s" fill="#666">Nothing in the period.</text></svg>`, num(titleHeight+16))
		return b.Bytes()
	}
	m := c.maxValue()
	switch c.Kind {
	case "line":
		xs, ys, x0, y0, w, h := c.linePoints()
		fmt.Fprintf(&b, `<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#888"/>`, num(x0), num(y0+h), num(x0+w), num(y0+h))
		fmt.Fprintf(&b, `<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#888"/>`, num(x0), num(y0), num(x0), num(y0+h))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%s</text><text x="%s" y="%s" text-anchor="end">0</text>`, num(x0-4), num(y0+4), esc(fmtValue(round1(m))), num(x0-4), num(y0+h))
		pts := ""
		for i := range xs {
			pts += fmt.Sprintf("%s,%s ", num(round1(xs[i])), num(round1(ys[i])))
		}
		fmt.Fprintf(&b, `<polyline class="trend" points="%s" fill="none" stroke="#1f6feb" stroke-width="2"/>`, pts)
		for i := range xs {
			fmt.Fprintf(&b, `<circle class="point" cx="%s" cy="%s" r="3" fill="#1f6feb"><title>%s: %s %s</title></circle>`,
				num(round1(xs[i])), num(round1(ys[i])), esc(c.Labels[i]), esc(fmtValue(c.Values[i])), esc(c.Unit))
		}
		step := max(1, len(xs)/6)
		for i := 0; i < len(xs); i += step {
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`, num(round1(xs[i])), num(y0+h+16), esc(c.Labels[i]))
		}
	default:
		barW := chartWidth - labelWidth - 170
		for i, label := range c.Labels {
			y := titleHeight + float64(i)*(barHeight+barGap)
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%s</text>`, num(labelWidth-8), num(y+15), esc(label))
			if i < len(c.Of) {
				fmt.Fprintf(&b, `<rect class="whole" x="%s" y="%s" width="%s" height="%s" fill="#e3e8ef"/>`, num(labelWidth), num(y), num(round1(barW*c.Of[i]/m)), num(barHeight))
			}
			fmt.Fprintf(&b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="#1f6feb"><title>%s: %s</title></rect>`,
				num(labelWidth), num(y), num(round1(barW*c.Values[i]/m)), num(barHeight), esc(label), esc(c.barText(i)))
			fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`, num(labelWidth+barW+6), num(y+15), esc(c.barText(i)))
		}
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}
