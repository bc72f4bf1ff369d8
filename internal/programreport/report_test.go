package programreport

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

func TestWindowOpen(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday
	week := day.AddDate(0, 0, 7)
	for _, tc := range []struct {
		name string
		w    domain.Window
		want time.Duration
	}{
		{"daily two hours", domain.Window{Cron: "0 2 * * *", Duration: domain.Duration(2 * time.Hour), TimeZone: "UTC"}, 14 * time.Hour},
		{"every minute for an hour is always open", domain.Window{Cron: "* * * * *", Duration: domain.Duration(time.Hour), TimeZone: "UTC"}, 7 * 24 * time.Hour},
		{"every two minutes for 100 s", domain.Window{Cron: "*/2 * * * *", Duration: domain.Duration(100 * time.Second), TimeZone: "UTC"}, 7 * 24 * 30 * 100 * time.Second},
		{"a blackout takes two openings", domain.Window{Cron: "0 2 * * *", Duration: domain.Duration(2 * time.Hour), TimeZone: "UTC",
			Blackouts: []domain.Blackout{{From: day.AddDate(0, 0, 2), To: day.AddDate(0, 0, 4)}}}, 10 * time.Hour},
		{"openings cut by the period's start and end", domain.Window{Cron: "0 23 * * *", Duration: domain.Duration(2 * time.Hour), TimeZone: "UTC"}, time.Hour + 6*2*time.Hour + time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := WindowOpen(tc.w, day, week); got != tc.want {
				t.Errorf("open %v, want %v", got, tc.want)
			}
		})
	}
}

func TestQuantiles(t *testing.T) {
	for _, tc := range []struct {
		xs       []float64
		med, p90 float64
	}{
		{nil, 0, 0},
		{[]float64{3}, 3, 3},
		{[]float64{4, 2}, 3, 4},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5.5, 9},
		{[]float64{10, 1, 5}, 5, 10},
	} {
		if med, p90 := quantiles(tc.xs); med != tc.med || p90 != tc.p90 {
			t.Errorf("quantiles(%v) = %v, %v; want %v, %v", tc.xs, med, p90, tc.med, tc.p90)
		}
	}
}

func TestCauseOf(t *testing.T) {
	for in, want := range map[string]string{
		"verification failed: the device reports unhealthy": "verification failed",
		"deploy failed: installer exited 2":                 "deploy failed",
		"the campaign was aborted during the deploy":        "the campaign was aborted during the deploy",
		"": "not recorded",
	} {
		if got := causeOf(in); got != want {
			t.Errorf("causeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExports writes a report with a rollback whose detail would run in a spreadsheet: the CSV
// has every section and neutralises the cell, the PDF is a PDF, and each chart is an SVG.
func TestExports(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	rep := Report{From: at.AddDate(-1, 0, 0), To: at, GeneratedAt: at,
		LeadTimes: []LeadTime{{Milestone: "deployed", Count: 1, MedianDays: 10, P90Days: 10}},
		Coverage:  Coverage{Zones: []ZoneCoverage{{ZoneID: "z", ZoneName: "Line — 2", SLT: 2, Covered: 3, Total: 4}}, Covered: 3, Total: 4},
		Rollbacks: Rollbacks{Items: []Rollback{{At: at, AssetID: "a", Asset: "hmi", Cause: "verification failed", Detail: "=cmd|' /C calc'!A0", Outcome: "rolled_back"}},
			Causes: []CauseCount{{Cause: "verification failed", Count: 1}}},
		Trend: []Month{{Month: "2026-10"}, {Month: "2026-11", Deployed: 1, DeployMedianDays: 10, ExposureDays: 4}},
	}
	var csv bytes.Buffer
	if err := CSV(&csv, rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range Sections {
		if !strings.Contains(csv.String(), "\nsection,"+s+"\n") {
			t.Errorf("no section %s in\n%s", s, csv.String())
		}
	}
	if !strings.Contains(csv.String(), `'=cmd`) {
		t.Errorf("the formula was not neutralised:\n%s", csv.String())
	}
	var pdf bytes.Buffer
	if err := PDF(&pdf, rep); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf.Bytes(), []byte("%PDF-")) || bytes.Count(pdf.Bytes(), []byte("/Type /Page\n")) < 1+len(ChartNames) {
		t.Errorf("the PDF has not a summary page and a page per chart (%d bytes)", pdf.Len())
	}
	for _, c := range Charts(rep) {
		svg := string(SVG(c))
		if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>") {
			t.Errorf("chart %s: %s", c.Name, svg)
		}
	}
	if svg := string(SVG(Charts(rep)[0])); !strings.Contains(svg, "3 of 4 assets (75%)") || !strings.Contains(svg, `class="bar"`) {
		t.Errorf("the coverage chart: %s", svg)
	}
	if svg := string(SVG(Charts(rep)[3])); !strings.Contains(svg, `<polyline class="trend"`) {
		t.Errorf("the time-to-deploy chart: %s", svg)
	}
}
