// Package programreport computes the patch program's business case in figures (IEC TR 62443-2-3
// asks a program to be funded on its results): lead times from a vendor's release to
// qualification, approval and deployment; coverage by zone and SL-T; exposure days per CVE;
// downtime consumed against the maintenance-window budget; rollbacks and their causes; and a
// trend per month. Every figure is derived from recorded events and the inventory as it is,
// never from a stored figure. It renders the report as CSV, SVG charts and a PDF.
package programreport

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// MaxPeriod is the longest period a report covers.
const MaxPeriod = 3 * 366 * 24 * time.Hour

// Input is what a report is computed from.
type Input struct {
	Records store.ProgramRecords
	// KEV are the known exploited vulnerabilities among the CVEs, by CVE.
	KEV map[string]store.KEVEntry
	// SiteID limits the report to one site; empty: the whole company.
	SiteID string
	// From and To bound the period (From <= t < To); Now is when the report is computed.
	From, To, Now time.Time
}

// Report is the program report.
type Report struct {
	Site        string    `json:"site,omitempty" doc:"The site the report is of; absent for the whole company"`
	SiteName    string    `json:"site_name,omitempty"`
	From        time.Time `json:"from" doc:"The start of the period (inclusive)"`
	To          time.Time `json:"to" doc:"The end of the period (exclusive)"`
	GeneratedAt time.Time `json:"generated_at"`
	// LeadTimes are the days from a vendor's release to each milestone.
	LeadTimes []LeadTime `json:"lead_times" doc:"Days from the vendor's release date to qualified (per patch), approved and deployed (per campaign), for milestones reached in the period"`
	Coverage  Coverage   `json:"coverage"`
	Exposure  []Exposure `json:"exposure" doc:"Per CVE fixed by a qualified patch of an asset in scope: known exploited ones first, then by exposure days, most first"`
	Downtime  []Downtime `json:"downtime" doc:"Per zone: the window budget of the period against the time campaigns spent changing its assets"`
	Rollbacks Rollbacks  `json:"rollbacks"`
	Trend     []Month    `json:"trend" doc:"Per calendar month (UTC) of the period, oldest first"`
}

// LeadTime is the distribution of the days from release to one milestone.
type LeadTime struct {
	Milestone  string  `json:"milestone" doc:"qualified, approved or deployed"`
	Count      int     `json:"count" doc:"How many patches (qualified) or campaigns (approved, deployed) reached it in the period"`
	MedianDays float64 `json:"median_days" doc:"The median, in days (one decimal); 0 without any"`
	P90Days    float64 `json:"p90_days" doc:"The 90th percentile (nearest rank), in days (one decimal); 0 without any"`
}

// Milestones of a lead time.
var Milestones = []string{"qualified", "approved", "deployed"}

// Coverage counts assets at a version no qualified patch still applies to.
type Coverage struct {
	Zones []ZoneCoverage `json:"zones" doc:"Per zone, by site and name"`
	SLT   []SLTCoverage  `json:"sl_t" doc:"Per target security level of the production zones, lowest first"`
	// Covered and Total are over production zones (test benches left out).
	Covered int `json:"covered" doc:"Production assets no qualified patch applies to any more"`
	Total   int `json:"total" doc:"Production assets"`
}

// ZoneCoverage is one zone's coverage.
type ZoneCoverage struct {
	ZoneID    string `json:"zone_id"`
	ZoneName  string `json:"zone_name"`
	SiteID    string `json:"site_id"`
	SLT       int    `json:"sl_t"`
	TestBench bool   `json:"test_bench"`
	Covered   int    `json:"covered" doc:"Assets at a version no qualified patch applies to (the qualified or latest one)"`
	Total     int    `json:"total"`
}

// SLTCoverage is the coverage of the production zones of one SL-T.
type SLTCoverage struct {
	SLT     int `json:"sl_t"`
	Covered int `json:"covered"`
	Total   int `json:"total"`
}

// Exposure is how long the plant was exposed to one CVE.
type Exposure struct {
	CVE     string    `json:"cve"`
	KEV     bool      `json:"kev" doc:"Listed in the current Known Exploited Vulnerabilities catalog"`
	KEVDue  string    `json:"kev_due,omitempty" doc:"The catalog's due date (YYYY-MM-DD)"`
	CVSS    float64   `json:"cvss,omitempty"`
	Patches []string  `json:"patches" doc:"The qualified patches that fix it (vendor reference and version)"`
	Since   time.Time `json:"since" doc:"The vendor's earliest release date of a fix"`
	Until   time.Time `json:"until,omitzero" doc:"When the last exposed asset was patched; absent while assets are exposed"`
	Open    bool      `json:"open" doc:"Assets still run an affected version"`
	Exposed int       `json:"exposed" doc:"Production assets still running an affected version"`
	Patched int       `json:"patched" doc:"Production assets patched and verified by campaigns of its patches"`
	Days    float64   `json:"days" doc:"Days from since to until (or to now while open), one decimal"`
}

// Downtime is one zone's window budget and what campaigns consumed of it.
type Downtime struct {
	ZoneID        string  `json:"zone_id"`
	ZoneName      string  `json:"zone_name"`
	SiteID        string  `json:"site_id"`
	TestBench     bool    `json:"test_bench"`
	BudgetHours   float64 `json:"budget_hours" doc:"How long the zone's maintenance window was open in the period up to now, overlapping openings counted once, blackouts left out (one decimal)"`
	ConsumedHours float64 `json:"consumed_hours" doc:"Per campaign, from the first backup of one of the zone's assets to the end of its last one, summed over campaigns (one decimal)"`
	Campaigns     int     `json:"campaigns" doc:"Campaigns that changed assets of the zone in the period"`
}

// Rollbacks are the rollbacks of the period and their causes.
type Rollbacks struct {
	Items  []Rollback   `json:"items" doc:"Each asset rolled back (or whose rollback failed), oldest first"`
	Causes []CauseCount `json:"causes" doc:"How many rollbacks each cause led to, most first"`
	// Campaigns is how many campaigns ended rolled_back in the period.
	Campaigns int `json:"campaigns" doc:"Campaigns that ended rolled back in the period"`
}

// Rollback is one asset's rollback.
type Rollback struct {
	At         time.Time `json:"at"`
	CampaignID string    `json:"campaign_id"`
	Campaign   string    `json:"campaign"`
	AssetID    string    `json:"asset_id"`
	Asset      string    `json:"asset"`
	ZoneID     string    `json:"zone_id"`
	TestBench  bool      `json:"test_bench"`
	Outcome    string    `json:"outcome" doc:"rolled_back (restored and verified) or rollback_failed (manual action needed)"`
	Cause      string    `json:"cause" doc:"The failed step in words: deploy failed, verification failed, verification could not run …"`
	Detail     string    `json:"detail" doc:"The failure as the asset recorded it"`
}

// CauseCount is how many rollbacks one cause led to.
type CauseCount struct {
	Cause string `json:"cause"`
	Count int    `json:"count"`
}

// Month is the trend of one calendar month.
type Month struct {
	Month            string  `json:"month" doc:"YYYY-MM"`
	Deployed         int     `json:"deployed" doc:"Campaigns completed in the month"`
	DeployMedianDays float64 `json:"deploy_median_days" doc:"Median days from release to deployed of those campaigns; 0 without any"`
	AssetsPatched    int     `json:"assets_patched" doc:"Production assets patched and verified in the month"`
	Rollbacks        int     `json:"rollbacks" doc:"Assets rolled back in the month"`
	ExposureDays     float64 `json:"exposure_days" doc:"CVE-days of exposure in the month: for each CVE, the part of its exposure that falls in the month, summed"`
}

// index holds the records by id.
type index struct {
	zones     map[string]store.Zone
	assets    map[string]store.Asset
	patches   map[string]store.Patch
	manifests map[string]*domain.Manifest
	campaigns map[string]store.Campaign
	inScope   map[string]bool // asset ids of the site (all, company-wide)
}

func newIndex(in Input) index {
	r := in.Records
	ix := index{zones: map[string]store.Zone{}, assets: map[string]store.Asset{}, patches: map[string]store.Patch{},
		manifests: map[string]*domain.Manifest{}, campaigns: map[string]store.Campaign{}, inScope: map[string]bool{}}
	for _, z := range r.Zones {
		ix.zones[z.ID] = z
	}
	for _, a := range r.Assets {
		ix.assets[a.ID] = a
		if in.SiteID == "" || ix.zones[a.ZoneID].SiteID == in.SiteID {
			ix.inScope[a.ID] = true
		}
	}
	for _, p := range r.Patches {
		ix.patches[p.ID] = p
		var m domain.Manifest
		if json.Unmarshal([]byte(p.Manifest), &m) == nil {
			ix.manifests[p.ID] = &m
		}
	}
	for _, c := range r.Campaigns {
		ix.campaigns[c.ID] = c
	}
	return ix
}

func (ix index) bench(assetID string) bool { return ix.zones[ix.assets[assetID].ZoneID].TestBench }

// release is a patch's vendor release date (midnight UTC); ok is false without a readable one.
func (ix index) release(patchID string) (time.Time, bool) {
	m := ix.manifests[patchID]
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, m.ReleaseDate)
	return t, err == nil
}

func eventTime(ev audit.Event) time.Time {
	t, _ := time.Parse(audit.TimeLayout, ev.At)
	return t
}

func days(d time.Duration) float64 { return round1(d.Hours() / 24) }
func round1(f float64) float64     { return math.Round(f*10) / 10 }

// Compute computes the report.
func Compute(in Input) Report {
	ix := newIndex(in)
	rep := Report{Site: in.SiteID, From: in.From.UTC(), To: in.To.UTC(), GeneratedAt: in.Now.UTC()}
	for _, s := range in.Records.Sites {
		if s.ID == in.SiteID {
			rep.SiteName = s.Name
		}
	}
	inPeriod := func(t time.Time) bool { return !t.Before(in.From) && t.Before(in.To) }

	// Campaigns in scope: those with an asset of the site.
	campaignInScope := map[string]bool{}
	for _, ca := range in.Records.CampaignAssets {
		if ix.inScope[ca.AssetID] {
			campaignInScope[ca.CampaignID] = true
		}
	}
	// Patches in scope: those for a product an asset of the site runs.
	productInScope := map[string]bool{}
	for id := range ix.inScope {
		productInScope[ix.assets[id].ProductID] = true
	}

	// Milestones from the events.
	qualified := map[string]time.Time{} // patch → first qualified
	approved := map[string]time.Time{}  // campaign → approved (the status, not one approver's record)
	completed := map[string]time.Time{} // campaign → completed
	rolledBackCampaigns := map[string]time.Time{}
	assetDone := map[[2]string]time.Time{} // (campaign, asset) → done
	lastFailure := map[[2]string]string{}  // (campaign, asset) → the failure recorded
	span := map[[2]string][2]time.Time{}   // (campaign, zone) → first backing_up, last end
	var rollbacks []Rollback
	first := func(m map[string]time.Time, id string, t time.Time) {
		if _, ok := m[id]; !ok {
			m[id] = t
		}
	}
	for _, ev := range in.Records.Events {
		at := eventTime(ev)
		switch ev.Action {
		case "patch.qualified":
			first(qualified, ev.PatchID, at)
		case "campaign.approved":
			if ev.Role == "system" {
				first(approved, ev.CampaignID, at)
			}
		case "campaign.completed":
			first(completed, ev.CampaignID, at)
		case "campaign.rolled_back":
			first(rolledBackCampaigns, ev.CampaignID, at)
		}
		if !strings.HasPrefix(ev.Action, "asset.") || ev.CampaignID == "" || !ix.inScope[ev.AssetID] {
			continue
		}
		key := [2]string{ev.CampaignID, ev.AssetID}
		state := domain.AssetState(strings.TrimPrefix(ev.Action, "asset."))
		zk := [2]string{ev.CampaignID, ix.assets[ev.AssetID].ZoneID}
		switch state {
		case domain.AssetBackingUp:
			s := span[zk]
			if s[0].IsZero() || at.Before(s[0]) {
				s[0] = at
			}
			span[zk] = s
		case domain.AssetDone, domain.AssetRolledBack, domain.AssetRollbackFailed, domain.AssetAborted:
			if s, ok := span[zk]; ok && at.After(s[1]) {
				s[1] = at
				span[zk] = s
			}
		}
		switch state {
		case domain.AssetDone:
			first2(assetDone, key, at)
		case domain.AssetFailed:
			lastFailure[key] = detailText(ev.Details, "error")
		case domain.AssetRolledBack, domain.AssetRollbackFailed:
			if !inPeriod(at) {
				continue
			}
			detail := lastFailure[key]
			if detail == "" {
				detail = detailText(ev.Details, "error")
			}
			a := ix.assets[ev.AssetID]
			rollbacks = append(rollbacks, Rollback{At: at, CampaignID: ev.CampaignID, Campaign: ix.campaigns[ev.CampaignID].Name,
				AssetID: a.ID, Asset: a.Name, ZoneID: a.ZoneID, TestBench: ix.bench(a.ID), Outcome: string(state),
				Cause: causeOf(detail), Detail: detail})
		}
	}

	// Lead times.
	var toQualified, toApproved, toDeployed []float64
	deployedByMonth := map[string][]float64{}
	for _, p := range in.Records.Patches {
		q, ok := qualified[p.ID]
		rel, rok := ix.release(p.ID)
		if ok && rok && inPeriod(q) && productInScope[p.ProductID] {
			toQualified = append(toQualified, days(q.Sub(rel)))
		}
	}
	for _, c := range in.Records.Campaigns {
		if !campaignInScope[c.ID] {
			continue
		}
		rel, rok := ix.release(c.PatchID)
		if !rok {
			continue
		}
		if a, ok := approved[c.ID]; ok && inPeriod(a) {
			toApproved = append(toApproved, days(a.Sub(rel)))
		}
		if d, ok := completed[c.ID]; ok && inPeriod(d) {
			toDeployed = append(toDeployed, days(d.Sub(rel)))
			m := d.Format("2006-01")
			deployedByMonth[m] = append(deployedByMonth[m], days(d.Sub(rel)))
		}
		if rb, ok := rolledBackCampaigns[c.ID]; ok && inPeriod(rb) {
			rep.Rollbacks.Campaigns++
		}
	}
	for i, xs := range [][]float64{toQualified, toApproved, toDeployed} {
		med, p90 := quantiles(xs)
		rep.LeadTimes = append(rep.LeadTimes, LeadTime{Milestone: Milestones[i], Count: len(xs), MedianDays: med, P90Days: p90})
	}

	// Coverage: an asset is covered when no qualified patch for its product applies to the
	// version it runs.
	qualifiedPatches := []store.Patch{}
	for _, p := range in.Records.Patches {
		if p.Status == string(domain.PatchQualified) && ix.manifests[p.ID] != nil {
			qualifiedPatches = append(qualifiedPatches, p)
		}
	}
	affected := func(a store.Asset) []store.Patch {
		var out []store.Patch
		for _, p := range qualifiedPatches {
			if p.ProductID == a.ProductID && ix.manifests[p.ID].Affects(a.InstalledVersion) {
				out = append(out, p)
			}
		}
		return out
	}
	zoneCov := map[string]*ZoneCoverage{}
	sltCov := map[int]*SLTCoverage{}
	for _, a := range in.Records.Assets {
		if !ix.inScope[a.ID] {
			continue
		}
		z := ix.zones[a.ZoneID]
		zc := zoneCov[z.ID]
		if zc == nil {
			zc = &ZoneCoverage{ZoneID: z.ID, ZoneName: z.Name, SiteID: z.SiteID, SLT: z.SLT, TestBench: z.TestBench}
			zoneCov[z.ID] = zc
		}
		covered := len(affected(a)) == 0
		zc.Total++
		if covered {
			zc.Covered++
		}
		if z.TestBench {
			continue
		}
		sc := sltCov[z.SLT]
		if sc == nil {
			sc = &SLTCoverage{SLT: z.SLT}
			sltCov[z.SLT] = sc
		}
		sc.Total++
		rep.Coverage.Total++
		if covered {
			sc.Covered++
			rep.Coverage.Covered++
		}
	}
	for _, z := range in.Records.Zones {
		if zc := zoneCov[z.ID]; zc != nil {
			rep.Coverage.Zones = append(rep.Coverage.Zones, *zc)
		}
	}
	for _, sc := range sltCov {
		rep.Coverage.SLT = append(rep.Coverage.SLT, *sc)
	}
	slices.SortFunc(rep.Coverage.SLT, func(a, b SLTCoverage) int { return a.SLT - b.SLT })

	// Exposure per CVE.
	type cveAcc struct {
		e        Exposure
		patchIDs map[string]bool
	}
	cves := map[string]*cveAcc{}
	for _, p := range qualifiedPatches {
		if !productInScope[p.ProductID] {
			continue
		}
		rel, ok := ix.release(p.ID)
		if !ok {
			continue
		}
		m := ix.manifests[p.ID]
		for _, c := range m.CVEs {
			acc := cves[c.ID]
			if acc == nil {
				acc = &cveAcc{e: Exposure{CVE: c.ID, Since: rel}, patchIDs: map[string]bool{}}
				cves[c.ID] = acc
			}
			if rel.Before(acc.e.Since) {
				acc.e.Since = rel
			}
			acc.e.CVSS = max(acc.e.CVSS, c.CVSS)
			acc.patchIDs[p.ID] = true
			acc.e.Patches = append(acc.e.Patches, p.PatchRef+" "+p.Version)
		}
	}
	for _, acc := range cves {
		for _, a := range in.Records.Assets {
			if !ix.inScope[a.ID] || ix.bench(a.ID) {
				continue
			}
			for _, p := range affected(a) {
				if acc.patchIDs[p.ID] {
					acc.e.Exposed++
					break
				}
			}
		}
		var last time.Time
		patched := map[string]bool{}
		for k, at := range assetDone {
			c := ix.campaigns[k[0]]
			if acc.patchIDs[c.PatchID] && !ix.bench(k[1]) {
				patched[k[1]] = true
				if at.After(last) {
					last = at
				}
			}
		}
		acc.e.Patched = len(patched)
		if acc.e.Exposed == 0 && acc.e.Patched == 0 {
			continue // it never hit an asset in scope
		}
		end := in.Now
		if acc.e.Exposed > 0 {
			acc.e.Open = true
		} else {
			acc.e.Until, end = last, last
		}
		if !end.After(in.From) || !acc.e.Since.Before(in.To) {
			continue // outside the period
		}
		acc.e.Days = days(end.Sub(acc.e.Since))
		if k, ok := in.KEV[acc.e.CVE]; ok {
			acc.e.KEV, acc.e.KEVDue = true, k.DueDate
		}
		slices.Sort(acc.e.Patches)
		acc.e.Patches = slices.Compact(acc.e.Patches)
		rep.Exposure = append(rep.Exposure, acc.e)
	}
	slices.SortFunc(rep.Exposure, func(a, b Exposure) int {
		switch {
		case a.KEV != b.KEV:
			if a.KEV {
				return -1
			}
			return 1
		case a.Days != b.Days:
			if a.Days > b.Days {
				return -1
			}
			return 1
		}
		return strings.Compare(a.CVE, b.CVE)
	})

	// Downtime against the window budget.
	budgetEnd := in.To
	if in.Now.Before(budgetEnd) {
		budgetEnd = in.Now
	}
	consumed := map[string]time.Duration{}
	zoneCampaigns := map[string]int{}
	for k, s := range span {
		if s[1].IsZero() || !inPeriod(s[0]) {
			continue
		}
		consumed[k[1]] += s[1].Sub(s[0])
		zoneCampaigns[k[1]]++
	}
	for _, z := range in.Records.Zones {
		if zoneCov[z.ID] == nil {
			continue
		}
		rep.Downtime = append(rep.Downtime, Downtime{ZoneID: z.ID, ZoneName: z.Name, SiteID: z.SiteID, TestBench: z.TestBench,
			BudgetHours: round1(WindowOpen(z.Window, in.From, budgetEnd).Hours()), ConsumedHours: round1(consumed[z.ID].Hours()),
			Campaigns: zoneCampaigns[z.ID]})
	}

	// Rollbacks by cause.
	causes := map[string]int{}
	for _, rb := range rollbacks {
		causes[rb.Cause]++
	}
	rep.Rollbacks.Items = rollbacks
	for c, n := range causes {
		rep.Rollbacks.Causes = append(rep.Rollbacks.Causes, CauseCount{Cause: c, Count: n})
	}
	slices.SortFunc(rep.Rollbacks.Causes, func(a, b CauseCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Cause, b.Cause)
	})

	// Trend per month.
	months := map[string]*Month{}
	var order []string
	for m := time.Date(in.From.Year(), in.From.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(in.To); m = m.AddDate(0, 1, 0) {
		key := m.Format("2006-01")
		mo := &Month{Month: key}
		mo.Deployed = len(deployedByMonth[key])
		mo.DeployMedianDays, _ = quantiles(deployedByMonth[key])
		end := m.AddDate(0, 1, 0)
		for _, e := range rep.Exposure {
			until := e.Until
			if e.Open {
				until = in.Now
			}
			lo, hi := later(e.Since, m), earlier(until, end)
			if hi.After(lo) {
				mo.ExposureDays += hi.Sub(lo).Hours() / 24
			}
		}
		mo.ExposureDays = round1(mo.ExposureDays)
		months[key] = mo
		order = append(order, key)
	}
	for k, at := range assetDone {
		if mo := months[at.Format("2006-01")]; mo != nil && inPeriod(at) && !ix.bench(k[1]) {
			mo.AssetsPatched++
		}
	}
	for _, rb := range rollbacks {
		if mo := months[rb.At.Format("2006-01")]; mo != nil {
			mo.Rollbacks++
		}
	}
	for _, k := range order {
		rep.Trend = append(rep.Trend, *months[k])
	}
	return rep
}

func first2(m map[[2]string]time.Time, k [2]string, t time.Time) {
	if _, ok := m[k]; !ok {
		m[k] = t
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// detailText reads one text field of an event's details.
func detailText(details, field string) string {
	var m map[string]any
	if json.Unmarshal([]byte(details), &m) != nil {
		return ""
	}
	s, _ := m[field].(string)
	return s
}

// causeOf names the failed step of a recorded failure: its words before the first colon
// ("verification failed: …" → "verification failed").
func causeOf(detail string) string {
	if detail == "" {
		return "not recorded"
	}
	if i := strings.Index(detail, ":"); i > 0 {
		return strings.TrimSpace(detail[:i])
	}
	return detail
}

// quantiles are the median and the 90th percentile (nearest rank), one decimal.
func quantiles(xs []float64) (median, p90 float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		median = s[n/2]
	} else {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	rank := int(math.Ceil(0.9 * float64(n)))
	return round1(median), round1(s[rank-1])
}

// WindowOpen is how long a window is open between from and to: overlapping openings counted
// once, openings that touch a blackout left out (as the engine never opens them).
func WindowOpen(w domain.Window, from, to time.Time) time.Duration {
	s, err := w.Schedule()
	if err != nil || !to.After(from) {
		return 0
	}
	d := time.Duration(w.Duration)
	var total time.Duration
	var curStart, curEnd time.Time
	flush := func() {
		if curEnd.After(curStart) {
			total += earlier(curEnd, to).Sub(later(curStart, from))
		}
	}
	for t := s.Next(from.Add(-d)); !t.IsZero() && t.Before(to); {
		end := t.Add(d)
		if !blackedOut(w, t, end) {
			switch {
			case curEnd.IsZero():
				curStart, curEnd = t, end
			case !t.After(curEnd):
				curEnd = later(curEnd, end)
			default:
				flush()
				curStart, curEnd = t, end
			}
		}
		// Starts whose opening ends before the current end add nothing: skip them.
		next := s.Next(t)
		if !curEnd.IsZero() && next.Add(d).Before(curEnd) {
			if skip := s.Next(curEnd.Add(-d)); skip.After(next) {
				next = skip
			}
		}
		t = next
	}
	flush()
	return total
}

func blackedOut(w domain.Window, start, end time.Time) bool {
	for _, b := range w.Blackouts {
		if start.Before(b.To) && end.After(b.From) {
			return true
		}
	}
	return false
}
