package domain

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Compatibility is the vendor's statement for one installed product version.
type Compatibility string

// The vendor's statements: qualified, not_qualified and not_tested come from the manifest's
// compatibility rows; not_stated means the manifest says nothing about the version.
const (
	CompatQualified    Compatibility = "qualified"
	CompatNotQualified Compatibility = "not_qualified"
	CompatNotTested    Compatibility = "not_tested"
	CompatNotStated    Compatibility = "not_stated"
)

// Applicability is whether a patch applies to a device running one version, and why not.
type Applicability struct {
	Applies       bool          `json:"applies"`
	Compatibility Compatibility `json:"compatibility"`
	Notes         string        `json:"notes,omitempty"`
	// Reason says why the patch does not apply (empty when it does).
	Reason string `json:"reason,omitempty"`
}

// ApplicabilityOf evaluates the manifest against an installed version: the version must be
// affected, below the fixed version, and not stated not_qualified by the vendor.
func (m *Manifest) ApplicabilityOf(installed string) Applicability {
	out := Applicability{Compatibility: CompatNotStated}
	for _, c := range m.Compatibility {
		if CompareVersions(c.ProductVersion, installed) == 0 {
			out.Compatibility, out.Notes = Compatibility(c.Status), c.Notes
		}
	}
	switch {
	case strings.TrimSpace(installed) == "":
		out.Reason = "its installed version is not known; record it in the inventory first"
	case CompareVersions(installed, m.FixedVersion) >= 0:
		out.Reason = fmt.Sprintf("runs %s, already at or past the fixed version %s", installed, m.FixedVersion)
	case !m.Affects(installed):
		out.Reason = fmt.Sprintf("runs %s, which is not among the affected versions (%s)", installed, strings.Join(m.AffectedVersions, ", "))
	case out.Compatibility == CompatNotQualified:
		out.Reason = fmt.Sprintf("runs %s, which the vendor states is not qualified for this patch", installed)
		if out.Notes != "" {
			out.Reason += " (" + out.Notes + ")"
		}
	default:
		out.Applies = true
	}
	return out
}

// Bench preparations: how a test-bench asset is brought to the from-version it stands for.
const (
	// PrepareAsIs: the bench already runs the from-version.
	PrepareAsIs = "as_is"
	// PrepareRestoreBaseline: a verified baseline backup of the from-version is restored first.
	PrepareRestoreBaseline = "restore_baseline"
)

// Baseline is a verified backup of a test-bench asset taken while it ran Version.
type Baseline struct {
	Version   string `json:"version"`
	ObjectKey string `json:"object_key"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
}

// BenchRun is one validation of the plan: a test-bench asset brought to FromVersion, then
// patched to the plan's ToVersion and verified, standing for every target at FromVersion.
type BenchRun struct {
	AssetID     string `json:"asset_id"`
	Name        string `json:"name"`
	FromVersion string `json:"from_version"`
	// Prepare is PrepareAsIs or PrepareRestoreBaseline (then Baseline is set).
	Prepare  string    `json:"prepare"`
	Baseline *Baseline `json:"baseline,omitempty"`
}

// PlanWave is one zone's targets in the order the engine changes them, with the number of
// failed assets the wave tolerates.
type PlanWave struct {
	ZoneID         string   `json:"zone_id"`
	ZoneName       string   `json:"zone_name,omitempty"`
	ErrorThreshold int      `json:"error_threshold"`
	AssetIDs       []string `json:"asset_ids"`
}

// Acceptance is an engineer's explicit acceptance of targets whose version the vendor's
// compatibility statement does not mention (not_stated).
type Acceptance struct {
	By       string   `json:"by"`
	Reason   string   `json:"reason"`
	AssetIDs []string `json:"asset_ids"`
}

// Candidate is an inventory asset considered for a plan, as it is now.
type Candidate struct {
	AssetID          string
	Name             string
	ZoneID           string
	ZoneName         string
	SLT              int
	TestBench        bool
	SafetyCritical   bool
	Criticality      int
	RedundancyGroup  string
	InstalledVersion string
	Window           Window
	// Baselines are the verified baselines a test-bench asset can be restored to.
	Baselines []Baseline
}

// PlanRequest is what an engineer asks for: explicit production targets, the error threshold
// and acceptances.
type PlanRequest struct {
	PatchID        string
	ManifestSHA256 string
	CreatedBy      string
	AssetIDs       []string
	ErrorThreshold int
	// AcceptNotStated lists targets whose not_stated compatibility the engineer accepts.
	AcceptNotStated []string
	AcceptReason    string
}

// safety reports whether a target needs the strict rules (SL-T 3–4 or safety-critical).
func (c Candidate) safety() bool { return c.SLT >= 3 || c.SafetyCritical }

// BuildPlan computes a complete plan from the inventory as it is: every requested asset must
// exist, be a production asset of the patch's product and run a version the patch applies to;
// every value the engine will apply (from-versions, bench runs, waves, error thresholds,
// acceptances) is in the result. It refuses with every failing reason listed.
func BuildPlan(m *Manifest, req PlanRequest, inventory []Candidate) (Plan, error) {
	v := &ValidationError{What: "campaign"}
	plan := Plan{PatchID: req.PatchID, ManifestSHA256: req.ManifestSHA256, ToVersion: m.FixedVersion, ErrorThreshold: req.ErrorThreshold}
	byID := map[string]Candidate{}
	var bench []Candidate
	for _, c := range inventory {
		byID[c.AssetID] = c
		if c.TestBench {
			bench = append(bench, c)
		}
	}
	if len(req.AssetIDs) == 0 {
		v.Add("asset_ids", "names no asset; list the production assets to patch (a campaign never defaults to every affected asset)")
		return plan, v
	}
	accept := map[string]bool{}
	for _, id := range req.AcceptNotStated {
		accept[id] = true
	}
	seen := map[string]bool{}
	compat := map[string]Compatibility{}
	var reasons []string
	var prod []Candidate
	for _, id := range req.AssetIDs {
		if seen[id] {
			reasons = append(reasons, fmt.Sprintf("%s is listed twice", id))
			continue
		}
		seen[id] = true
		c, ok := byID[id]
		switch {
		case !ok:
			reasons = append(reasons, fmt.Sprintf("%s: no asset of this patch's product has this id", id))
			continue
		case c.TestBench:
			reasons = append(reasons, fmt.Sprintf("%s is a test-bench asset; the plan picks bench assets itself", c.Name))
			continue
		}
		ap := m.ApplicabilityOf(c.InstalledVersion)
		if !ap.Applies {
			reasons = append(reasons, fmt.Sprintf("%s %s", c.Name, ap.Reason))
			continue
		}
		compat[id] = ap.Compatibility
		if ap.Compatibility == CompatNotStated && !accept[id] {
			reasons = append(reasons, fmt.Sprintf("%s runs %s, for which the vendor's compatibility statement says nothing (not_stated); accept it explicitly with accept_not_stated and a reason, or leave the asset out", c.Name, c.InstalledVersion))
			continue
		}
		prod = append(prod, c)
	}
	for _, id := range req.AcceptNotStated {
		if !seen[id] {
			reasons = append(reasons, fmt.Sprintf("accept_not_stated names %s, which is not a target", id))
		} else if c, ok := compat[id]; ok && c != CompatNotStated {
			reasons = append(reasons, fmt.Sprintf("accept_not_stated names %s, whose version %s the vendor does state", byID[id].Name, byID[id].InstalledVersion))
		}
	}
	if len(req.AcceptNotStated) > 0 && strings.TrimSpace(req.AcceptReason) == "" {
		v.Add("accept_reason", "is required when accept_not_stated names assets: say why deploying to a version the vendor did not state is acceptable")
	}
	if len(reasons) > 0 {
		v.Add("asset_ids", "%s", strings.Join(reasons, "; "))
		return plan, v
	}
	if err := v.Err(); err != nil {
		return plan, err
	}

	// Bench coverage: one bench run per distinct from-version, on a bench asset that runs it or
	// can be restored to it; a bench asset stands for one from-version per campaign.
	var order []string
	for _, c := range prod {
		if !slices.Contains(order, c.InstalledVersion) {
			order = append(order, c.InstalledVersion)
		}
	}
	sort.Slice(order, func(i, j int) bool { return CompareVersions(order[i], order[j]) < 0 })
	used := map[string]bool{}
	covered := map[string]string{}
	for _, from := range order {
		run, ok := benchFor(bench, used, from)
		if !ok {
			continue
		}
		used[run.AssetID] = true
		covered[from] = run.AssetID
		plan.Bench = append(plan.Bench, run)
	}
	var uncoveredSafety []string
	for _, c := range prod {
		if covered[c.InstalledVersion] == "" {
			plan.Uncovered = append(plan.Uncovered, c.AssetID)
			if c.safety() {
				what := fmt.Sprintf("SL-T %d", c.SLT)
				if c.SafetyCritical {
					what += ", safety-critical"
				}
				uncoveredSafety = append(uncoveredSafety, fmt.Sprintf("%s (%s) runs %s", c.Name, what, c.InstalledVersion))
			}
		}
	}
	if len(uncoveredSafety) > 0 {
		v.Add("asset_ids", "no test-bench asset runs or has a verified baseline of the version of: %s; SL-T 3–4 and safety-critical targets need a bench run of their own version (patch a bench asset at that version once, or leave these assets out)", strings.Join(uncoveredSafety, "; "))
		return plan, v
	}
	if len(plan.Bench) == 0 {
		v.Add("asset_ids", "no test-bench asset of this product runs, or has a verified baseline of, any of the targets' versions (%s); validation could not run", strings.Join(order, ", "))
		return plan, v
	}

	// Targets, bench first, then production in wave order.
	for _, r := range plan.Bench {
		plan.Targets = append(plan.Targets, planTarget(byID[r.AssetID], r.FromVersion, m.ApplicabilityOf(r.FromVersion).Compatibility, ""))
	}
	waves := planWaves(prod)
	var refusals []string
	for _, w := range waves {
		strict := false
		for _, c := range w {
			strict = strict || c.safety()
		}
		pw := PlanWave{ZoneID: w[0].ZoneID, ZoneName: w[0].ZoneName, ErrorThreshold: req.ErrorThreshold}
		if strict && req.ErrorThreshold > 0 {
			refusals = append(refusals, fmt.Sprintf("zone %s holds SL-T 3–4 or safety-critical targets and tolerates no failed asset", nameOr(w[0].ZoneName, w[0].ZoneID)))
		}
		for _, c := range w {
			pw.AssetIDs = append(pw.AssetIDs, c.AssetID)
			pt := planTarget(c, c.InstalledVersion, compat[c.AssetID], covered[c.InstalledVersion])
			pt.Accepted = accept[c.AssetID]
			plan.Targets = append(plan.Targets, pt)
		}
		plan.Waves = append(plan.Waves, pw)
	}
	if len(refusals) > 0 {
		v.Add("error_threshold", "is %d, but %s; ask for 0, or plan those zones in a campaign of their own", req.ErrorThreshold, strings.Join(refusals, "; "))
		return plan, v
	}
	if len(req.AcceptNotStated) > 0 {
		ids := append([]string(nil), req.AcceptNotStated...)
		sort.Strings(ids)
		plan.Acceptance = &Acceptance{By: req.CreatedBy, Reason: strings.TrimSpace(req.AcceptReason), AssetIDs: ids}
	}
	return plan, nil
}

func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func planTarget(c Candidate, from string, compat Compatibility, benchID string) PlanTarget {
	return PlanTarget{AssetID: c.AssetID, Name: c.Name, ZoneID: c.ZoneID, ZoneName: c.ZoneName, SLT: c.SLT,
		SafetyCritical: c.SafetyCritical, TestBench: c.TestBench, Window: c.Window, FromVersion: from,
		Compatibility: compat, Criticality: c.Criticality, RedundancyGroup: c.RedundancyGroup, Bench: benchID}
}

// benchFor picks a bench asset not yet used that runs from (preferred) or has a baseline of it.
func benchFor(bench []Candidate, used map[string]bool, from string) (BenchRun, bool) {
	for _, b := range bench {
		if !used[b.AssetID] && CompareVersions(b.InstalledVersion, from) == 0 {
			return BenchRun{AssetID: b.AssetID, Name: b.Name, FromVersion: from, Prepare: PrepareAsIs}, true
		}
	}
	for _, b := range bench {
		if used[b.AssetID] {
			continue
		}
		for _, bl := range b.Baselines {
			if CompareVersions(bl.Version, from) == 0 {
				bl := bl
				return BenchRun{AssetID: b.AssetID, Name: b.Name, FromVersion: from, Prepare: PrepareRestoreBaseline, Baseline: &bl}, true
			}
		}
	}
	return BenchRun{}, false
}

// GroupWaves groups ts by zone into waves, lowest SL-T first, then lowest criticality, then zone
// id; within a wave, lowest criticality first. Both sorts are stable, so equal targets keep
// their order in ts.
func GroupWaves[T any](ts []T, zone func(T) string, slt, crit func(T) int) [][]T {
	byZone := map[string][]T{}
	var zones []string
	for _, t := range ts {
		z := zone(t)
		if _, ok := byZone[z]; !ok {
			zones = append(zones, z)
		}
		byZone[z] = append(byZone[z], t)
	}
	rank := func(z string) (int, int) {
		s, c := 0, 0
		for _, t := range byZone[z] {
			s, c = max(s, slt(t)), max(c, crit(t))
		}
		return s, c
	}
	sort.SliceStable(zones, func(i, j int) bool {
		si, ci := rank(zones[i])
		sj, cj := rank(zones[j])
		if si != sj {
			return si < sj
		}
		if ci != cj {
			return ci < cj
		}
		return zones[i] < zones[j]
	})
	out := make([][]T, len(zones))
	for i, z := range zones {
		w := byZone[z]
		sort.SliceStable(w, func(a, b int) bool { return crit(w[a]) < crit(w[b]) })
		out[i] = w
	}
	return out
}

// planWaves groups production candidates into waves; candidates are taken in asset id order so
// the same request always gives the same waves.
func planWaves(ts []Candidate) [][]Candidate {
	sorted := append([]Candidate(nil), ts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].AssetID < sorted[j].AssetID })
	return GroupWaves(sorted, func(c Candidate) string { return c.ZoneID }, func(c Candidate) int { return c.SLT }, func(c Candidate) int { return c.Criticality })
}

// BenchRunFor returns the bench run of a bench asset in the plan.
func (p Plan) BenchRunFor(assetID string) (BenchRun, bool) {
	for _, r := range p.Bench {
		if r.AssetID == assetID {
			return r, true
		}
	}
	return BenchRun{}, false
}

// Complete reports whether the plan carries the bench runs and waves the engine applies
// (plans made before these existed carry neither).
func (p Plan) Complete() bool { return len(p.Waves) > 0 }
