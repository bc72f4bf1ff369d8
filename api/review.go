package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// campaignReview is what an approver reads before approving: the patch in words, every target
// with the version it runs and what the vendor says of that version, the bench runs and their
// results, the waves with their thresholds and windows in the zone's own time, the backup
// waivers, and the digest.
type campaignReview struct {
	Patch      reviewPatch `json:"patch"`
	PlanDigest string      `json:"plan_digest"`
	ToVersion  string      `json:"to_version"`
	// Approvals is how many distinct approvers the plan needs; NeedsSafety, whether one must
	// hold the safety role.
	Approvals   int                `json:"approvals_required"`
	NeedsSafety bool               `json:"needs_safety"`
	Targets     []reviewTarget     `json:"targets"`
	Bench       []reviewBenchRun   `json:"bench"`
	Uncovered   []string           `json:"uncovered"`
	Waves       []reviewWave       `json:"waves"`
	Acceptance  *domain.Acceptance `json:"acceptance,omitempty"`
	// Waivers are the plan's backup waivers: these assets deploy even when their backup fails,
	// and a failure cannot be rolled back.
	Waivers []reviewWaiver `json:"waivers"`
}

type reviewWaiver struct {
	AssetID string      `json:"asset_id"`
	Name    string      `json:"name"`
	By      string      `json:"by"`
	Role    domain.Role `json:"role"`
	Reason  string      `json:"reason"`
	At      time.Time   `json:"at"`
}

type reviewPatch struct {
	ID              string       `json:"id"`
	Title           string       `json:"title"`
	Vendor          string       `json:"vendor"`
	Product         string       `json:"product"`
	Version         string       `json:"version"`
	FixedVersion    string       `json:"fixed_version"`
	CVEs            []domain.CVE `json:"cves"`
	MaxCVSS         float64      `json:"max_cvss"`
	RestartRequired string       `json:"restart_required,omitempty"`
}

type reviewTarget struct {
	AssetID        string               `json:"asset_id"`
	Name           string               `json:"name"`
	ZoneName       string               `json:"zone_name"`
	SLT            int                  `json:"sl_t"`
	SafetyCritical bool                 `json:"safety_critical"`
	FromVersion    string               `json:"from_version"`
	Compatibility  domain.Compatibility `json:"compatibility"`
	Accepted       bool                 `json:"accepted_not_stated,omitempty"`
	// CoveredBy names the test-bench asset whose run covers this target's version ("" when none).
	CoveredBy string `json:"covered_by"`
	Wave      int    `json:"wave"`
}

type reviewBenchRun struct {
	AssetID     string    `json:"asset_id"`
	Name        string    `json:"name"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Prepare     string    `json:"prepare"`
	State       string    `json:"state"`
	Result      string    `json:"result,omitempty"`
	At          time.Time `json:"at"`
	// Checks are what the run verified.
	Checks []string `json:"checks"`
}

type reviewWave struct {
	N              int          `json:"n"`
	ZoneName       string       `json:"zone_name"`
	ErrorThreshold int          `json:"error_threshold"`
	Assets         []string     `json:"assets"`
	Window         reviewWindow `json:"window"`
}

// reviewWindow is a wave's maintenance window with the span the engine would use now.
type reviewWindow struct {
	Cron        string `json:"cron"`
	Duration    string `json:"duration" doc:"ISO 8601 duration (PT4H)"`
	TimeZone    string `json:"time_zone"`
	MaxParallel int    `json:"max_parallel"`
	// NextStart and NextEnd are the span the engine would use now, in the zone's time; OpenNow
	// is set when it is open already (NextStart is then when it opened).
	NextStart string `json:"next_start,omitempty" doc:"When the window opens next (or opened, when open_now), RFC 3339 in the zone's time"`
	NextEnd   string `json:"next_end,omitempty" doc:"When that opening ends, RFC 3339 in the zone's time"`
	OpenNow   bool   `json:"open_now"`
	// Continues is set when the window is still open at NextEnd (it opens again before it
	// closes, as one that opens every minute for an hour does): NextEnd is not a closing time.
	Continues bool `json:"continues,omitempty" doc:"The window is still open at next_end (it opens again before it closes): next_end is not a closing time"`
}

// review builds the approver's view of a campaign whose plan was computed from the live
// inventory; plans made before plans carried names and bench runs get none (nil).
func (s *server) review(ctx context.Context, c store.Campaign, ca []store.CampaignAsset) (*campaignReview, error) {
	var plan domain.Plan
	if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil || !plan.Complete() {
		return nil, nil
	}
	p, err := s.Store.Patch(ctx, c.PatchID)
	if err != nil {
		return nil, err
	}
	m, err := store.ManifestOf(p)
	if err != nil {
		return nil, err
	}
	pol := domain.PolicyFor(plan, 0)
	rv := &campaignReview{PlanDigest: c.PlanDigest, ToVersion: plan.ToVersion, Approvals: pol.Approvals, NeedsSafety: pol.NeedsSafety,
		Targets: []reviewTarget{}, Bench: []reviewBenchRun{}, Uncovered: []string{}, Waves: []reviewWave{}, Acceptance: plan.Acceptance, Waivers: []reviewWaiver{}}
	rv.Patch = reviewPatch{ID: p.ID, Title: m.Title, Vendor: m.Vendor, Product: m.Product, Version: m.Version, FixedVersion: m.FixedVersion,
		CVEs: m.CVEs, MaxCVSS: m.MaxCVSS(), RestartRequired: m.RestartRequired}
	if rv.Patch.CVEs == nil {
		rv.Patch.CVEs = []domain.CVE{}
	}
	if v, err := s.Store.Vendor(ctx, p.VendorID); err == nil && v.DisplayName != "" {
		rv.Patch.Vendor = v.DisplayName
	}
	byID := map[string]domain.PlanTarget{}
	for _, t := range plan.Targets {
		byID[t.AssetID] = t
	}
	rows := map[string]store.CampaignAsset{}
	for _, x := range ca {
		rows[x.AssetID] = x
	}
	for _, r := range plan.Bench {
		row := rows[r.AssetID]
		run := reviewBenchRun{AssetID: r.AssetID, Name: r.Name, FromVersion: r.FromVersion, ToVersion: plan.ToVersion, Prepare: r.Prepare,
			State: row.State, Result: row.Error, At: row.UpdatedAt, Checks: []string{}}
		if row.State == string(domain.AssetDone) {
			// What the run recorded: the version the device reported before the change, the
			// verified backup, and the version verified after it.
			run.Checks = append(run.Checks, "device read before the change: "+row.FromVersion,
				"verified backup "+domain.ShortHash(row.BackupSHA256), "deployed and verified: reports "+row.ToVersion+", healthy")
		}
		rv.Bench = append(rv.Bench, run)
	}
	for _, w := range plan.Waivers {
		rw := reviewWaiver{AssetID: w.AssetID, Name: w.Name, By: w.By, Role: w.Role, Reason: w.Reason, At: w.At}
		if rw.Name == "" {
			rw.Name = byID[w.AssetID].Name
		}
		rv.Waivers = append(rv.Waivers, rw)
	}
	for _, id := range plan.Uncovered {
		rv.Uncovered = append(rv.Uncovered, byID[id].Name)
	}
	now := s.Store.Now()
	for i, w := range plan.Waves {
		rw := reviewWave{N: i + 1, ZoneName: w.ZoneName, ErrorThreshold: w.ErrorThreshold, Assets: []string{}}
		if len(w.AssetIDs) > 0 {
			// Every target of a wave is in the wave's zone: its window is read once.
			win := byID[w.AssetIDs[0]].Window
			rw.Window.Cron, rw.Window.Duration, rw.Window.TimeZone, rw.Window.MaxParallel = win.Cron, domain.FormatISODuration(time.Duration(win.Duration)), win.TimeZone, win.MaxParallel
			if spans := win.Spans(now, 1); len(spans) == 1 {
				if loc, err := time.LoadLocation(win.TimeZone); err == nil {
					rw.Window.NextStart, rw.Window.NextEnd = spans[0].Start.In(loc).Format(time.RFC3339), spans[0].End.In(loc).Format(time.RFC3339)
					rw.Window.OpenNow, rw.Window.Continues = spans[0].OpenNow, spans[0].Continues
				}
			}
		}
		for _, id := range w.AssetIDs {
			t := byID[id]
			rw.Assets = append(rw.Assets, t.Name)
			cov := ""
			if t.Bench != "" {
				cov = byID[t.Bench].Name
			}
			rv.Targets = append(rv.Targets, reviewTarget{AssetID: id, Name: t.Name, ZoneName: t.ZoneName, SLT: t.SLT, SafetyCritical: t.SafetyCritical,
				FromVersion: t.FromVersion, Compatibility: t.Compatibility, Accepted: t.Accepted, CoveredBy: cov, Wave: i + 1})
		}
		rv.Waves = append(rv.Waves, rw)
	}
	return rv, nil
}
