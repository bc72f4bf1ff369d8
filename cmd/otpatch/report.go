package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/otpatch/otpatch/internal/programreport"
)

// runReportProgram is `otpatch report program`: the program report of a site or the company,
// printed as text, or written as CSV or PDF to a file.
func runReportProgram(ctx context.Context, args []string) error {
	fs := newFlags("report program")
	remote := newRemoteFlags(fs, "engineer, approver, safety, auditor or admin")
	site := fs.String("site", "", "a site id: the report of that site; left out, the whole company")
	from := fs.String("from", "", "the first day of the period (YYYY-MM-DD); left out, a year before --to")
	to := fs.String("to", "", "the last day of the period (YYYY-MM-DD); left out, today")
	csvOut := fs.String("csv", "", "write the report as CSV (one section per figure) to this file")
	pdfOut := fs.String("pdf", "", "write the report as PDF (for the board) to this file")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return fs.usageError("unexpected arguments: %s", strings.Join(rest, " "))
	case *csvOut != "" && *pdfOut != "":
		return fs.usageError("give --csv FILE or --pdf FILE, not both")
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"site": *site, "from": *from, "to": *to} {
		if v != "" {
			q.Set(k, v)
		}
	}
	out := ""
	switch {
	case *csvOut != "":
		q.Set("format", "csv")
		out = *csvOut
	case *pdfOut != "":
		q.Set("format", "pdf")
		out = *pdfOut
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/api/v1/reports/program?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if err := srv.bearer(ctx, req); err != nil {
		return err
	}
	res, err := answerReader{http.DefaultClient}.Do(req)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.StatusCode != http.StatusOK {
		return refused("the program report", &answerError{status: res.Status, detail: problemDetail(body)})
	}
	if out != "" {
		if err := os.WriteFile(out, body, 0o644); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		fmt.Printf("%s: %d bytes\n", out, len(body))
		return nil
	}
	var rep programreport.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Errorf("the answer of %s is not what otpatch sends (%v); is --url the otpatch server?", srv.base, err)
	}
	printProgram(os.Stdout, rep)
	return nil
}

// printProgram prints the report's figures as text.
func printProgram(w io.Writer, rep programreport.Report) {
	scope := "the whole company"
	if rep.Site != "" {
		scope = rep.SiteName + " (" + rep.Site + ")"
	}
	fmt.Fprintf(w, "Program report of %s, %s to %s\n\n", scope, rep.From.Format("2006-01-02"), rep.To.AddDate(0, 0, -1).Format("2006-01-02"))
	fmt.Fprintln(w, "Days from vendor release   count  median  90th pct")
	for _, l := range rep.LeadTimes {
		fmt.Fprintf(w, "  to %-23s %5d  %6.1f  %8.1f\n", l.Milestone, l.Count, l.MedianDays, l.P90Days)
	}
	fmt.Fprintf(w, "\nCoverage: %d of %d production assets\n", rep.Coverage.Covered, rep.Coverage.Total)
	for _, z := range rep.Coverage.Zones {
		fmt.Fprintf(w, "  %-28s SL-T %d  %3d of %3d\n", z.ZoneName, z.SLT, z.Covered, z.Total)
	}
	fmt.Fprintln(w, "\nExposure per CVE (known exploited first)")
	for _, e := range rep.Exposure {
		state := "closed"
		if e.Open {
			state = fmt.Sprintf("open, %d assets", e.Exposed)
		}
		kev := ""
		if e.KEV {
			kev = " KEV due " + e.KEVDue
		}
		fmt.Fprintf(w, "  %-18s %7.1f days  %s%s\n", e.CVE, e.Days, state, kev)
	}
	fmt.Fprintln(w, "\nDowntime against the window budget (hours)")
	for _, d := range rep.Downtime {
		fmt.Fprintf(w, "  %-28s %8.1f of %8.1f  (%d campaigns)\n", d.ZoneName, d.ConsumedHours, d.BudgetHours, d.Campaigns)
	}
	fmt.Fprintf(w, "\nRollbacks: %d assets, %d campaigns\n", len(rep.Rollbacks.Items), rep.Rollbacks.Campaigns)
	for _, c := range rep.Rollbacks.Causes {
		fmt.Fprintf(w, "  %-28s %d\n", c.Cause, c.Count)
	}
}
