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
	"time"

	"github.com/otpatch/otpatch/internal/client"
)

// runVendorScorecard is `otpatch vendor scorecard`: a vendor's supplier scorecard, as lines a
// person reads or, with --csv, the CSV procurement takes.
func runVendorScorecard(ctx context.Context, args []string) error {
	fs := newFlags("vendor scorecard")
	remote := newRemoteFlags(fs, "staff, or the vendor's own")
	asCSV := fs.Bool("csv", false, "print the scorecard as CSV, one figure a row")
	from := fs.String("from", "", "count events from this time on (RFC 3339)")
	to := fs.String("to", "", "count events before this time (RFC 3339)")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fs.usageError("give one VENDOR: its id or name")
	}
	q := url.Values{}
	for _, f := range []struct{ name, raw string }{{"from", *from}, {"to", *to}} {
		if f.raw == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, f.raw); err != nil {
			return fs.usageError("--%s must be a time such as 2026-01-01T00:00:00Z, got %q", f.name, f.raw)
		}
		q.Set(f.name, f.raw)
	}
	q.Set("format", "json")
	if *asCSV {
		q.Set("format", "csv")
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	id, err := srv.vendorID(ctx, rest[0])
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/api/v1/vendors/"+url.PathEscape(id)+"/scorecard?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if err := srv.bearer(ctx, req); err != nil {
		return err
	}
	res, err := (answerReader{http.DefaultClient}).Do(req)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.StatusCode != http.StatusOK {
		return refused("the scorecard was", &answerError{status: res.Status, detail: problemDetail(body)})
	}
	if *asCSV {
		_, err := os.Stdout.Write(body)
		return err
	}
	var sc scorecard
	if err := json.Unmarshal(body, &sc); err != nil {
		return srv.noAnswer(ctx, err)
	}
	fmt.Print(scorecardText(sc))
	return nil
}

// scorecard is what the command reads of GET /api/v1/vendors/{id}/scorecard.
type scorecard struct {
	Vendor struct {
		Name        string `json:"name"`
		DisplayName string `json:"display_name"`
	} `json:"vendor"`
	AdvisoryToQualified struct {
		Count           int    `json:"count"`
		MedianSeconds   *int64 `json:"median_seconds"`
		P90Seconds      *int64 `json:"p90_seconds"`
		WithoutAdvisory int    `json:"without_advisory"`
	} `json:"advisory_to_qualified"`
	Submissions struct {
		Total, Accepted, Refused int
		RefusedShare             float64 `json:"refused_share"`
		RefusedByReason          []struct {
			Label string `json:"label"`
			Count int    `json:"count"`
		} `json:"refused_by_reason"`
		RejectedAtQualification int `json:"rejected_at_qualification"`
	} `json:"submissions"`
	Rollbacks struct {
		RolledBack     int `json:"rolled_back"`
		RollbackFailed int `json:"rollback_failed"`
		Production     int `json:"production"`
		TestBench      int `json:"test_bench"`
		Campaigns      int `json:"campaigns"`
	} `json:"rollbacks"`
	Keys struct {
		Trusted, Active, Expired, Revoked, Rotations, Revocations int
		RefusedExpiredKey                                         int `json:"refused_expired_key"`
		RefusedRevokedKey                                         int `json:"refused_revoked_key"`
		PatchesSignedByRevokedKey                                 int `json:"patches_signed_by_revoked_key"`
	} `json:"keys"`
	Certificate struct {
		OnFile        bool   `json:"on_file"`
		Standard      string `json:"standard"`
		MaturityLevel int    `json:"maturity_level"`
		ExpiresOn     string `json:"expires_on"`
		Expired       bool   `json:"expired"`
		DaysLeft      int    `json:"days_left"`
	} `json:"certificate"`
}

// vendorID finds a vendor by id or name.
func (s *server) vendorID(ctx context.Context, ref string) (string, error) {
	limit := 500
	res, err := s.api.ListVendorsWithResponse(ctx, &client.ListVendorsParams{Limit: &limit})
	if err != nil {
		return "", s.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return "", refused("the vendor list was", s.wrongAnswer(res, http.StatusOK))
	}
	for _, v := range res.JSON200.Items {
		if v.Id == ref || v.Name == ref {
			return v.Id, nil
		}
	}
	return "", fmt.Errorf("no vendor %q: give a vendor's id or name as GET /api/v1/vendors lists them", ref)
}

// scorecardText is a scorecard as lines a person reads.
func scorecardText(sc scorecard) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	days := func(secs *int64) string {
		if secs == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f days", float64(*secs)/86400)
	}
	p("%s (%s)", sc.Vendor.DisplayName, sc.Vendor.Name)
	lead := sc.AdvisoryToQualified
	p("advisory to qualified patch: median %s, 90th percentile %s, over %d patches (%d without an advisory)",
		days(lead.MedianSeconds), days(lead.P90Seconds), lead.Count, lead.WithoutAdvisory)
	sub := sc.Submissions
	p("submissions: %d, %d accepted, %d refused (%.1f%%), %d rejected by qualification", sub.Total, sub.Accepted, sub.Refused, sub.RefusedShare*100, sub.RejectedAtQualification)
	for _, r := range sub.RefusedByReason {
		p("  refused %d: %s", r.Count, r.Label)
	}
	rb := sc.Rollbacks
	p("rollbacks: %d rolled back, %d failed to roll back (%d on plant assets, %d on the test bench) in %d campaigns", rb.RolledBack, rb.RollbackFailed, rb.Production, rb.TestBench, rb.Campaigns)
	k := sc.Keys
	p("signing keys: %d trusted, %d active, %d expired, %d revoked; %d rotations, %d revocations", k.Trusted, k.Active, k.Expired, k.Revoked, k.Rotations, k.Revocations)
	p("  submissions signed with an expired key: %d, with a revoked key: %d; patches whose key was revoked since: %d", k.RefusedExpiredKey, k.RefusedRevokedKey, k.PatchesSignedByRevokedKey)
	c := sc.Certificate
	switch {
	case !c.OnFile:
		p("certificate: none on file")
	case c.Expired:
		p("certificate: %s ML%d, EXPIRED on %s", c.Standard, c.MaturityLevel, c.ExpiresOn)
	default:
		p("certificate: %s ML%d, valid until %s (%d days left)", c.Standard, c.MaturityLevel, c.ExpiresOn, c.DaysLeft)
	}
	return b.String()
}
