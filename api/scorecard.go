package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/csaf"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// A supplier scorecard (IEC TR 62443-2-3 feeds supplier patch performance into procurement):
// per vendor, from what was recorded — the audit trail, the patches, the keys, the certificates
// on file — computed at each request, never stored. Staff read every vendor's; a vendor reads its
// own, and the scorecard holds no asset, zone or site of the plant.

// maxCertificateBytes bounds an uploaded certificate document.
const maxCertificateBytes = 10 << 20

// scorecardDoc is a vendor's scorecard.
type scorecardDoc struct {
	Vendor     store.Vendor `json:"vendor"`
	From       *time.Time   `json:"from,omitempty" doc:"The start of the period the figures count (inclusive); absent: since the first record"`
	To         *time.Time   `json:"to,omitempty" doc:"The end of the period (exclusive); absent: up to now"`
	ComputedAt time.Time    `json:"computed_at" doc:"When the figures were computed; states (key expired, certificate expired) are as of this time"`

	AdvisoryToQualified leadTimes         `json:"advisory_to_qualified" doc:"Time from the first advisory naming a CVE a patch fixes to the patch's qualification"`
	Submissions         submissionFigures `json:"submissions"`
	Rollbacks           rollbackFigures   `json:"rollbacks" doc:"Campaign assets of the vendor's patches rolled back to their backup"`
	Keys                keyHygiene        `json:"keys" doc:"Signing-key hygiene"`
	Certificate         certificateFigure `json:"certificate" doc:"The secure development certificate on file (IEC 62443-4-1)"`
}

// leadTimes are the times from advisory to qualified patch.
type leadTimes struct {
	Count           int         `json:"count" doc:"Qualified patches that fix a CVE of a stored advisory"`
	MedianSeconds   *int64      `json:"median_seconds" doc:"The median (nearest rank) in seconds; null without any patch"`
	P90Seconds      *int64      `json:"p90_seconds" doc:"The 90th percentile (nearest rank) in seconds; null without any patch"`
	WithoutAdvisory int         `json:"without_advisory" doc:"Qualified patches that fix no CVE of a stored advisory: not counted"`
	Patches         []patchLead `json:"patches"`
}

// patchLead is one qualified patch's time from advisory.
type patchLead struct {
	PatchID            string    `json:"patch_id"`
	PatchRef           string    `json:"patch_ref"`
	Version            string    `json:"version"`
	CVE                string    `json:"cve" doc:"The CVE of the earliest advisory"`
	Advisory           string    `json:"advisory" doc:"The tracking id of the earliest advisory naming a CVE the patch fixes"`
	AdvisoryReleasedAt time.Time `json:"advisory_released_at"`
	QualifiedAt        time.Time `json:"qualified_at"`
	Seconds            int64     `json:"seconds" doc:"qualified_at minus advisory_released_at; 0 when the patch was qualified before the advisory was released"`
}

// submissionFigures are the vendor's submissions and why some were refused.
type submissionFigures struct {
	Total                   int           `json:"total" doc:"Submissions received: accepted plus refused at intake"`
	Accepted                int           `json:"accepted" doc:"Submissions stored as patches"`
	Refused                 int           `json:"refused" doc:"Submissions refused at intake (nothing stored)"`
	RefusedShare            float64       `json:"refused_share" doc:"refused / total, 0 to 1 (0 without submissions)"`
	RefusedByReason         []reasonCount `json:"refused_by_reason" doc:"Refusals at intake by reason, most frequent first"`
	RejectedAtQualification int           `json:"rejected_at_qualification" doc:"Accepted patches that qualification rejected"`
	RejectedByReason        []reasonCount `json:"rejected_by_reason" doc:"The reasons qualification gave, most frequent first (a patch may give several)"`
}

// reasonCount is how often one reason occurred.
type reasonCount struct {
	Reason string `json:"reason" doc:"A stable code (refusals at intake) or the reason as qualification gave it"`
	Label  string `json:"label" doc:"The reason in words"`
	Count  int    `json:"count"`
}

// rollbackFigures are the rollbacks the vendor's patches caused.
type rollbackFigures struct {
	RolledBack     int              `json:"rolled_back" doc:"Assets restored to their backup after the patch failed (asset.rolled_back)"`
	RollbackFailed int              `json:"rollback_failed" doc:"Assets whose restore failed too (asset.rollback_failed)"`
	Production     int              `json:"production" doc:"Of both, on plant assets"`
	TestBench      int              `json:"test_bench" doc:"Of both, on test-bench assets"`
	Campaigns      int              `json:"campaigns" doc:"Campaigns with at least one of them"`
	ByPatch        []patchRollbacks `json:"by_patch"`
}

// patchRollbacks are one patch's rollbacks.
type patchRollbacks struct {
	PatchID  string `json:"patch_id"`
	PatchRef string `json:"patch_ref"`
	Version  string `json:"version"`
	Count    int    `json:"count"`
}

// keyHygiene is how the vendor keeps its signing keys.
type keyHygiene struct {
	Trusted                   int        `json:"trusted" doc:"Keys ever trusted"`
	Active                    int        `json:"active" doc:"Keys that sign acceptably now"`
	Expired                   int        `json:"expired" doc:"Keys past not_after (and not revoked)"`
	Revoked                   int        `json:"revoked"`
	Rotations                 int        `json:"rotations" doc:"Keys trusted in the period after the vendor's first key"`
	Revocations               int        `json:"revocations" doc:"Keys revoked in the period"`
	RefusedExpiredKey         int        `json:"refused_expired_key" doc:"Submissions refused because they were signed with an expired key"`
	RefusedRevokedKey         int        `json:"refused_revoked_key" doc:"Submissions refused because they were signed with a revoked key"`
	RefusedNotYetValidKey     int        `json:"refused_not_yet_valid_key" doc:"Submissions refused because they were signed with a key not valid yet"`
	PatchesSignedByRevokedKey int        `json:"patches_signed_by_revoked_key" doc:"Accepted patches of the period whose signing key has been revoked since"`
	List                      []keyState `json:"list" doc:"Every key, oldest first"`
}

// keyState is one key and its state now.
type keyState struct {
	ID          string     `json:"id"`
	Fingerprint string     `json:"fingerprint"`
	State       string     `json:"state" doc:"active, expired, revoked or not_yet_valid"`
	NotBefore   time.Time  `json:"not_before"`
	NotAfter    time.Time  `json:"not_after"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// certificateFigure is the certificate on file.
type certificateFigure struct {
	OnFile        bool                     `json:"on_file" doc:"Whether any certificate was uploaded"`
	Standard      string                   `json:"standard,omitempty"`
	MaturityLevel int                      `json:"maturity_level" doc:"The certified IEC 62443-4-1 maturity level (1 to 4); 0 when none is on file or stated"`
	ExpiresOn     string                   `json:"expires_on,omitempty" doc:"The last valid day (YYYY-MM-DD)"`
	Expired       bool                     `json:"expired" doc:"The certificate on file is past its expiry"`
	DaysLeft      int                      `json:"days_left" doc:"Days until expiry (negative: expired that many days ago)"`
	Current       *store.VendorCertificate `json:"current,omitempty" doc:"The certificate on file: the one that expires last"`
	Count         int                      `json:"count" doc:"Certificates uploaded"`
}

// refusalReasons are the codes of submissions refused at intake, in words.
var refusalReasons = map[string]string{
	"expired_key":         "signed with an expired key",
	"revoked_key":         "signed with a revoked key",
	"key_not_yet_valid":   "signed with a key not valid yet",
	"no_trusted_key":      "no trusted signing key",
	"bad_signature":       "signature does not verify",
	"wrong_vendor":        "manifest names another vendor",
	"unknown_product":     "product not in the catalogue",
	"duplicate":           "version submitted before",
	"rollback_protection": "version not newer than one accepted",
	"too_large":           "artifacts over the size limit",
	"artifact":            "artifact missing, extra or not as the manifest says",
	"invalid_manifest":    "manifest invalid",
	"malformed_request":   "request not in the submission format",
}

// refusalReason classifies a patch.submit_refused event by what its reason says.
func refusalReason(detail string, status int) string {
	switch {
	case strings.HasPrefix(detail, "signature refused"):
		switch {
		case strings.Contains(detail, "which was revoked"):
			return "revoked_key"
		case strings.Contains(detail, "which expired"):
			return "expired_key"
		case strings.Contains(detail, "which is not valid before"):
			return "key_not_yet_valid"
		case strings.Contains(detail, "no trusted signing key"):
			return "no_trusted_key"
		}
		return "bad_signature"
	case strings.Contains(detail, "this token submits for vendor"):
		return "wrong_vendor"
	case strings.Contains(detail, "is not in the asset owner's catalogue"):
		return "unknown_product"
	case strings.Contains(detail, "was submitted before"):
		return "duplicate"
	case strings.Contains(detail, "rollback protection"):
		return "rollback_protection"
	case status == http.StatusRequestEntityTooLarge:
		return "too_large"
	case strings.Contains(detail, "artifact"):
		return "artifact"
	case status == http.StatusUnprocessableEntity:
		return "invalid_manifest"
	}
	return "malformed_request"
}

// nearestRank is the p-th percentile (0 < p <= 100) of sorted values by the nearest-rank method:
// the smallest value with at least p% of the values at or below it.
func nearestRank(sorted []int64, p int) int64 {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// period is the from..to a scorecard counts.
type period struct{ from, to time.Time }

func (p period) holds(t time.Time) bool {
	return (p.from.IsZero() || !t.Before(p.from)) && (p.to.IsZero() || t.Before(p.to))
}

func eventTime(e audit.Event) time.Time {
	t, _ := time.Parse(audit.TimeLayout, e.At)
	return t
}

func (s *server) scorecard(r *http.Request, vendor store.Vendor, p period) (scorecardDoc, error) {
	ctx := r.Context()
	now := s.Store.Now().UTC()
	doc := scorecardDoc{Vendor: vendor, ComputedAt: now}
	if !p.from.IsZero() {
		doc.From = &p.from
	}
	if !p.to.IsZero() {
		doc.To = &p.to
	}
	rec, err := s.Store.VendorRecords(ctx, vendor.ID, p.from, p.to)
	if err != nil {
		return doc, err
	}
	patches := map[string]store.Patch{}
	for _, pt := range rec.Patches {
		patches[pt.ID] = pt
	}
	advisories, err := s.advisoriesByCVE(r)
	if err != nil {
		return doc, err
	}
	doc.AdvisoryToQualified = leadTimesOf(rec, patches, advisories)
	doc.Submissions = submissionsOf(rec, vendor.ID, p)
	doc.Rollbacks = rollbacksOf(rec, patches)
	doc.Keys = keysOf(rec, doc.Submissions.RefusedByReason, p, now)
	doc.Certificate = certificateOf(rec.Certificates, now)
	return doc, nil
}

// advisoryRelease is the earliest stored advisory naming a CVE.
type advisoryRelease struct {
	trackingID string
	released   time.Time
}

func (s *server) advisoriesByCVE(r *http.Request) (map[string]advisoryRelease, error) {
	advs, err := s.Store.Advisories(r.Context())
	if err != nil {
		return nil, err
	}
	out := map[string]advisoryRelease{}
	for _, a := range advs {
		var adv csaf.Advisory
		if err := json.Unmarshal([]byte(a.Summary), &adv); err != nil {
			continue
		}
		for _, v := range adv.Vulnerabilities {
			if v.CVE == "" {
				continue
			}
			if prev, ok := out[v.CVE]; !ok || a.ReleasedAt.Before(prev.released) {
				out[v.CVE] = advisoryRelease{trackingID: a.TrackingID, released: a.ReleasedAt.UTC()}
			}
		}
	}
	return out, nil
}

func leadTimesOf(rec store.VendorRecord, patches map[string]store.Patch, advisories map[string]advisoryRelease) leadTimes {
	out := leadTimes{Patches: []patchLead{}}
	seen := map[string]bool{}
	for _, e := range rec.Qualified {
		pt, ok := patches[e.PatchID]
		if !ok || seen[pt.ID] {
			continue
		}
		seen[pt.ID] = true
		m, err := store.ManifestOf(pt)
		if err != nil {
			out.WithoutAdvisory++
			continue
		}
		var first *advisoryRelease
		cve := ""
		for _, c := range m.CVEs {
			if a, ok := advisories[c.ID]; ok && (first == nil || a.released.Before(first.released)) {
				first, cve = &a, c.ID
			}
		}
		if first == nil {
			out.WithoutAdvisory++
			continue
		}
		at := eventTime(e)
		out.Patches = append(out.Patches, patchLead{PatchID: pt.ID, PatchRef: pt.PatchRef, Version: pt.Version, CVE: cve, Advisory: first.trackingID,
			AdvisoryReleasedAt: first.released, QualifiedAt: at, Seconds: max(int64(at.Sub(first.released)/time.Second), 0)})
	}
	out.Count = len(out.Patches)
	if out.Count > 0 {
		secs := make([]int64, out.Count)
		for i, l := range out.Patches {
			secs[i] = l.Seconds
		}
		slices.Sort(secs)
		med, p90 := nearestRank(secs, 50), nearestRank(secs, 90)
		out.MedianSeconds, out.P90Seconds = &med, &p90
	}
	return out
}

func submissionsOf(rec store.VendorRecord, vendorID string, p period) submissionFigures {
	out := submissionFigures{RefusedByReason: []reasonCount{}, RejectedByReason: []reasonCount{}}
	for _, pt := range rec.Patches {
		if p.holds(pt.CreatedAt) {
			out.Accepted++
		}
	}
	refused := map[string]int{}
	for _, e := range rec.Refused {
		var d struct {
			VendorID string `json:"vendor_id"`
			Reason   string `json:"reason"`
			Status   int    `json:"status"`
		}
		_ = json.Unmarshal([]byte(e.Details), &d)
		ours := d.VendorID == vendorID || (d.VendorID == "" && e.Role == string(domain.RoleVendor) && slices.Contains(rec.VendorUsers, e.Actor))
		if !ours {
			continue
		}
		out.Refused++
		refused[refusalReason(d.Reason, d.Status)]++
	}
	for code, n := range refused {
		out.RefusedByReason = append(out.RefusedByReason, reasonCount{Reason: code, Label: refusalReasons[code], Count: n})
	}
	rejected := map[string]int{}
	for _, e := range rec.Rejected {
		out.RejectedAtQualification++
		var d struct {
			Reasons []string `json:"reasons"`
		}
		_ = json.Unmarshal([]byte(e.Details), &d)
		for _, why := range d.Reasons {
			rejected[why]++
		}
	}
	for why, n := range rejected {
		out.RejectedByReason = append(out.RejectedByReason, reasonCount{Reason: why, Label: why, Count: n})
	}
	byCount := func(a, b reasonCount) int { return cmp.Or(b.Count-a.Count, strings.Compare(a.Reason, b.Reason)) }
	slices.SortFunc(out.RefusedByReason, byCount)
	slices.SortFunc(out.RejectedByReason, byCount)
	out.Total = out.Accepted + out.Refused
	if out.Total > 0 {
		out.RefusedShare = float64(out.Refused*1000/out.Total) / 1000
	}
	return out
}

func rollbacksOf(rec store.VendorRecord, patches map[string]store.Patch) rollbackFigures {
	out := rollbackFigures{ByPatch: []patchRollbacks{}}
	campaigns := map[string]bool{}
	byPatch := map[string]int{}
	for _, rb := range rec.Rollbacks {
		if rb.Event.Action == "asset.rollback_failed" {
			out.RollbackFailed++
		} else {
			out.RolledBack++
		}
		if rb.TestBench {
			out.TestBench++
		} else {
			out.Production++
		}
		campaigns[rb.Event.CampaignID] = true
		byPatch[rb.PatchID]++
	}
	out.Campaigns = len(campaigns)
	for id, n := range byPatch {
		pt := patches[id]
		out.ByPatch = append(out.ByPatch, patchRollbacks{PatchID: id, PatchRef: pt.PatchRef, Version: pt.Version, Count: n})
	}
	slices.SortFunc(out.ByPatch, func(a, b patchRollbacks) int { return cmp.Or(b.Count-a.Count, strings.Compare(a.PatchID, b.PatchID)) })
	return out
}

func keysOf(rec store.VendorRecord, refused []reasonCount, p period, now time.Time) keyHygiene {
	out := keyHygiene{List: []keyState{}}
	revoked := map[string]bool{}
	for i, k := range rec.Keys {
		out.Trusted++
		st := keyState{ID: k.ID, Fingerprint: k.Fingerprint, NotBefore: k.NotBefore, NotAfter: k.NotAfter, RevokedAt: k.RevokedAt}
		switch {
		case k.RevokedAt != nil:
			st.State = "revoked"
			out.Revoked++
			revoked[k.Fingerprint] = true
			if p.holds(*k.RevokedAt) {
				out.Revocations++
			}
		case !now.Before(k.NotAfter):
			st.State = "expired"
			out.Expired++
		case now.Before(k.NotBefore):
			st.State = "not_yet_valid"
		default:
			st.State = "active"
			out.Active++
		}
		if i > 0 && p.holds(k.CreatedAt) {
			out.Rotations++ // VendorKeys lists oldest first: every key after the first replaced or joined it
		}
		out.List = append(out.List, st)
	}
	for _, rc := range refused {
		switch rc.Reason {
		case "expired_key":
			out.RefusedExpiredKey = rc.Count
		case "revoked_key":
			out.RefusedRevokedKey = rc.Count
		case "key_not_yet_valid":
			out.RefusedNotYetValidKey = rc.Count
		}
	}
	for _, pt := range rec.Patches {
		if p.holds(pt.CreatedAt) && revoked[pt.KeyFingerprint] {
			out.PatchesSignedByRevokedKey++
		}
	}
	return out
}

func certificateOf(certs []store.VendorCertificate, now time.Time) certificateFigure {
	out := certificateFigure{Count: len(certs)}
	if len(certs) == 0 {
		return out
	}
	cur := certs[0] // the most recently uploaded first: a tie in expiry keeps the newer upload
	for _, c := range certs[1:] {
		if c.ExpiresOn > cur.ExpiresOn {
			cur = c
		}
	}
	out.OnFile, out.Current, out.Standard, out.MaturityLevel, out.ExpiresOn = true, &cur, cur.Standard, cur.MaturityLevel, cur.ExpiresOn
	if last, err := time.Parse(time.DateOnly, cur.ExpiresOn); err == nil {
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		out.DaysLeft = int(last.Sub(today).Hours() / 24)
		out.Expired = out.DaysLeft < 0
	}
	return out
}

// readPeriod reads ?from and ?to (RFC 3339).
func readPeriod(r *http.Request, v *domain.ValidationError) period {
	var p period
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		into *time.Time
	}{{"from", &p.from}, {"to", &p.to}} {
		if raw := q.Get(f.name); raw != "" {
			t, err := time.Parse(time.RFC3339, raw)
			if err != nil {
				v.Add(f.name, "must be a time such as 2026-01-01T00:00:00Z, got %q", raw)
				continue
			}
			*f.into = t.UTC()
		}
	}
	if !p.from.IsZero() && !p.to.IsZero() && !p.to.After(p.from) {
		v.Add("to", "must be after from")
	}
	return p
}

// wantsCSV says whether the request asks for CSV: ?format=csv, or Accept: text/csv without
// ?format.
func wantsCSV(r *http.Request, v *domain.ValidationError) bool {
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		return true
	case "json":
		return false
	case "":
		return strings.Contains(r.Header.Get("Accept"), "text/csv")
	default:
		v.Add("format", "must be json or csv, got %q", f)
		return false
	}
}

func (s *server) getScorecard(w http.ResponseWriter, r *http.Request) {
	vendor, err := s.vendorOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "query"}
	p := readPeriod(r, v)
	asCSV := wantsCSV(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	doc, err := s.scorecard(r, vendor, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if asCSV {
		writeCSV(w, "scorecard-"+vendor.Name+".csv", scorecardHeader, scorecardRows(doc))
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

// scorecardHeader are the columns of the scorecard's CSV: one figure a row.
var scorecardHeader = []string{"figure", "value", "detail"}

func days(secs *int64) string {
	if secs == nil {
		return ""
	}
	return strconv.FormatFloat(float64(*secs)/86400, 'f', 1, 64)
}

func scorecardRows(d scorecardDoc) [][]string {
	when := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	n := strconv.Itoa
	rows := [][]string{
		{"vendor", d.Vendor.Name, d.Vendor.DisplayName},
		{"period_from", when(d.From), "inclusive; empty: since the first record"},
		{"period_to", when(d.To), "exclusive; empty: up to computed_at"},
		{"computed_at", d.ComputedAt.Format(time.RFC3339), ""},
		{"advisory_to_qualified_patches", n(d.AdvisoryToQualified.Count), "qualified patches fixing a CVE of a stored advisory"},
		{"advisory_to_qualified_median_days", days(d.AdvisoryToQualified.MedianSeconds), "nearest rank"},
		{"advisory_to_qualified_p90_days", days(d.AdvisoryToQualified.P90Seconds), "nearest rank"},
		{"qualified_without_advisory", n(d.AdvisoryToQualified.WithoutAdvisory), "not counted in the times"},
		{"submissions_total", n(d.Submissions.Total), ""},
		{"submissions_accepted", n(d.Submissions.Accepted), ""},
		{"submissions_refused", n(d.Submissions.Refused), "refused at intake"},
		{"submissions_refused_share", strconv.FormatFloat(d.Submissions.RefusedShare, 'f', 3, 64), "refused / total"},
	}
	for _, rc := range d.Submissions.RefusedByReason {
		rows = append(rows, []string{"refused_" + rc.Reason, n(rc.Count), rc.Label})
	}
	rows = append(rows, []string{"rejected_at_qualification", n(d.Submissions.RejectedAtQualification), ""})
	for _, rc := range d.Submissions.RejectedByReason {
		rows = append(rows, []string{"rejected_reason", n(rc.Count), rc.Reason})
	}
	rb := d.Rollbacks
	rows = append(rows,
		[]string{"rolled_back", n(rb.RolledBack), "assets restored to their backup"},
		[]string{"rollback_failed", n(rb.RollbackFailed), "assets whose restore failed"},
		[]string{"rollbacks_production", n(rb.Production), ""},
		[]string{"rollbacks_test_bench", n(rb.TestBench), ""},
		[]string{"rollback_campaigns", n(rb.Campaigns), ""})
	k := d.Keys
	rows = append(rows,
		[]string{"keys_trusted", n(k.Trusted), ""}, []string{"keys_active", n(k.Active), ""},
		[]string{"keys_expired", n(k.Expired), ""}, []string{"keys_revoked", n(k.Revoked), ""},
		[]string{"key_rotations", n(k.Rotations), "keys trusted after the first"},
		[]string{"key_revocations", n(k.Revocations), ""},
		[]string{"refused_signed_expired_key", n(k.RefusedExpiredKey), ""},
		[]string{"refused_signed_revoked_key", n(k.RefusedRevokedKey), ""},
		[]string{"patches_signed_by_revoked_key", n(k.PatchesSignedByRevokedKey), "accepted, key revoked since"})
	c := d.Certificate
	status := "none on file"
	switch {
	case c.OnFile && c.Expired:
		status = "expired"
	case c.OnFile:
		status = "valid"
	}
	issuer := ""
	if c.Current != nil {
		issuer = c.Current.Issuer
	}
	rows = append(rows,
		[]string{"certificate", status, c.Standard},
		[]string{"certificate_maturity_level", n(c.MaturityLevel), "IEC 62443-4-1 ML; 0: none stated"},
		[]string{"certificate_expires_on", c.ExpiresOn, issuer})
	return rows
}

// addCertificate stores an uploaded certificate document with what the query says of it.
func (s *server) addCertificate(w http.ResponseWriter, r *http.Request) {
	vendor, err := s.Store.Vendor(r.Context(), chi.URLParam(r, "vendorID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	v := &domain.ValidationError{What: "certificate"}
	c := store.VendorCertificate{ID: store.NewID("crt"), VendorID: vendor.ID, Standard: strings.TrimSpace(q.Get("standard")),
		Issuer: strings.TrimSpace(q.Get("issuer")), ExpiresOn: q.Get("expires_on"), FileName: strings.TrimSpace(q.Get("file_name")), UploadedBy: actorOf(r).Name}
	if c.Standard == "" {
		c.Standard = "IEC 62443-4-1"
	}
	v.Text("standard", c.Standard, 100)
	v.Text("issuer", c.Issuer, 200, "say who issued the certificate")
	if c.FileName != "" {
		v.Text("file_name", c.FileName, 200)
	}
	if ml := q.Get("maturity_level"); ml != "" {
		n, err := strconv.Atoi(ml)
		if err != nil || n < 1 || n > 4 {
			v.Add("maturity_level", "must be 1, 2, 3 or 4 (IEC 62443-4-1 ML1 to ML4), or left out when the certificate states none; got %q", ml)
		}
		c.MaturityLevel = n
	}
	if _, err := time.Parse(time.DateOnly, c.ExpiresOn); err != nil {
		v.Add("expires_on", "must be the certificate's last valid day as YYYY-MM-DD, got %q", c.ExpiresOn)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/pdf") {
		writeProblem(w, r, problem{Status: http.StatusUnsupportedMediaType, Detail: "send the certificate as a PDF document (Content-Type: application/pdf)"})
		return
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxCertificateBytes)
	head := make([]byte, 5)
	if n, _ := io.ReadFull(body, head); n < 5 || string(head) != "%PDF-" {
		v.Add("body", "is not a PDF document (it does not start with %%PDF-)")
		s.fail(w, r, v.Err())
		return
	}
	key := "certificates/" + vendor.ID + "/" + c.ID + ".pdf"
	info, err := s.Objects.Put(r.Context(), key, io.MultiReader(bytes.NewReader(head), body), artifacts.Expect{}, "application/pdf")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, &tooLargeError{what: "certificate document", limit: maxCertificateBytes})
			return
		}
		s.fail(w, r, err)
		return
	}
	c.ObjectKey, c.Size, c.SHA256 = key, info.Size, info.SHA256
	ev := event(r, "vendor_certificate.added")
	ev.Details = map[string]any{"vendor": vendor.Name, "standard": c.Standard, "maturity_level": c.MaturityLevel, "issuer": c.Issuer,
		"expires_on": c.ExpiresOn, "sha256": c.SHA256, "size": c.Size, "file_name": c.FileName}
	if err := s.Store.AddVendorCertificate(r.Context(), &c, ev); err != nil {
		_ = s.Objects.Remove(r.Context(), key)
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "vendors", vendor.ID, "certificates", c.ID)
	writeJSON(w, http.StatusCreated, c)
}

func (s *server) listCertificates(w http.ResponseWriter, r *http.Request) {
	vendor, err := s.vendorOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	certs, err := s.Store.VendorCertificates(r.Context(), vendor.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Newest upload first: the key sorts descending by upload time.
	key := func(c store.VendorCertificate) string {
		return cursorKey(sortableTime(time.Unix(1<<33, 0).Add(-c.UploadedAt.Sub(time.Unix(0, 0)))), c.ID)
	}
	writeJSON(w, http.StatusOK, inventoryPage(certs, key, pr))
}

func (s *server) getCertificate(w http.ResponseWriter, r *http.Request) {
	vendor, err := s.vendorOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Store.VendorCertificate(r.Context(), vendor.ID, chi.URLParam(r, "certID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, err := s.Objects.Open(r.Context(), c.ObjectKey)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rc.Close()
	name := c.FileName
	if name == "" {
		name = c.ID + ".pdf"
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Length", strconv.FormatInt(c.Size, 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r > 0x7e {
			return '_'
		}
		return r
	}, name)))
	w.Header().Set("X-Content-SHA256", c.SHA256)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Error("send certificate", "certificate", c.ID, "err", err)
	}
}

// scorecardOperations are the routes of scorecard.go.
func (s *server) scorecardOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/vendors/{vendorID}/scorecard", ID: "getVendorScorecard", Tag: "Vendors", Summary: "A vendor's supplier scorecard, from recorded events",
			Description: "Computed at each request from the audit trail, the vendor's patches, keys and certificates: time from advisory to qualified patch " +
				"(median and 90th percentile by nearest rank, with the count), submissions refused at intake by reason and patches rejected by qualification, " +
				"rollbacks the vendor's patches caused, signing-key hygiene and the IEC 62443-4-1 certificate on file with its expiry. from and to (RFC 3339) bound " +
				"the events counted; states (key expired, certificate expired) are as of now. ?format=csv, or Accept: text/csv, answers one figure a row for procurement. " +
				"A vendor reads its own scorecard only (another vendor's is 404); no scorecard names an asset, zone or site.",
			Allow: anyRole, Roles: "staff; a vendor for its own",
			Query: []param{qTime("from", "Count events at or after this time"), qTime("to", "Count events before this time"),
				qEnum("format", "json (default), or csv: one figure a row", "json", "csv")},
			Answers: []answer{{Status: http.StatusOK, Body: scorecardDoc{}, Desc: "?format=json (the default)"},
				file(http.StatusOK, "text/csv", "?format=csv: a header row ("+strings.Join(scorecardHeader, ",")+") and one row per figure"+csvCells)},
			Handle: s.getScorecard},
		{Method: "POST", Path: "/api/v1/vendors/{vendorID}/certificates", ID: "addVendorCertificate", Tag: "Vendors", Summary: "File a vendor's secure development certificate",
			Description: fmt.Sprintf("The body is the certificate document as application/pdf, at most %d bytes (another type is refused with 415, a body that is not a PDF with 422, a larger one with 413); "+
				"the query says what it certifies: standard (default IEC 62443-4-1), maturity_level (1 to 4, left out when none is stated), issuer and expires_on (YYYY-MM-DD) are checked and a fault names each. "+
				"The document goes to the object store with its SHA-256; audited as vendor_certificate.added.", maxCertificateBytes),
			Allow: engineers, BodyType: "application/pdf", BodySchema: map[string]any{"type": "string", "format": "binary"},
			Query: []param{qString("standard", "The standard certified against (default IEC 62443-4-1)"), qInt("maturity_level", "The IEC 62443-4-1 maturity level certified", 1, 4),
				{Name: "issuer", Desc: "Who issued the certificate", Required: true, Schema: map[string]any{"type": "string", "maxLength": 200}},
				{Name: "expires_on", Desc: "The certificate's last valid day", Required: true, Schema: map[string]any{"type": "string", "format": "date"}},
				qString("file_name", "The document's file name, kept for the download")},
			Answers: []answer{created(store.VendorCertificate{})}, Handle: s.addCertificate},
		{Method: "GET", Path: "/api/v1/vendors/{vendorID}/certificates", ID: "listVendorCertificates", Tag: "Vendors", Summary: "List a vendor's certificates on file",
			Description: "The most recently uploaded first. A vendor reads its own only (another vendor's are 404).",
			Allow:       anyRole, Roles: "staff; a vendor for its own",
			Query: paged(), Answers: []answer{ok(page[store.VendorCertificate]{})}, Handle: s.listCertificates},
		{Method: "GET", Path: "/api/v1/vendors/{vendorID}/certificates/{certID}", ID: "getVendorCertificate", Tag: "Vendors", Summary: "Download a certificate document",
			Description: "The PDF as uploaded; X-Content-SHA256 carries its SHA-256. A vendor reads its own only (another vendor's are 404).",
			Allow:       anyRole, Roles: "staff; a vendor for its own",
			Answers: []answer{{Status: http.StatusOK, Type: "application/pdf", Schema: map[string]any{"type": "string", "format": "binary"}, Desc: "The document",
				Headers: map[string]string{"X-Content-SHA256": "The document's SHA-256 (hex)", "Content-Disposition": "attachment with the file name"}}},
			Handle: s.getCertificate},
	}
}
