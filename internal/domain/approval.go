package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Plan is what approvers approve: the patch (by manifest digest), the exact targets, the
// windows they will be changed in and how many failures a wave tolerates. Any change to it
// changes its digest and voids approvals.
type Plan struct {
	PatchID        string       `json:"patch_id"`
	ManifestSHA256 string       `json:"manifest_sha256"`
	Targets        []PlanTarget `json:"targets"`
	// ErrorThreshold is how many failed (and rolled back) assets a wave tolerates before the
	// campaign halts; waves in safety-critical zones tolerate none whatever it says. Omitted
	// when 0, so plans made before it existed keep their digest.
	ErrorThreshold int `json:"error_threshold,omitempty"`
	// The fields below are set on plans computed from the live inventory (BuildPlan); plans
	// made before they existed omit them and keep their digest.
	// ToVersion is the version every target reports after the patch.
	ToVersion string `json:"to_version,omitempty"`
	// Bench are the test-bench runs, one per distinct from-version they cover.
	Bench []BenchRun `json:"bench,omitempty"`
	// Uncovered lists production targets whose from-version no bench run covers.
	Uncovered []string `json:"uncovered,omitempty"`
	// Waves are the production waves in the order they run, with their effective thresholds.
	Waves []PlanWave `json:"waves,omitempty"`
	// Acceptance is the engineer's acceptance of not_stated compatibility, if any.
	Acceptance *Acceptance `json:"acceptance,omitempty"`
	// Waivers are engineers' waivers of the verified backup of targets, by asset id; a waived
	// target deploys even when its backup fails. Omitted when none, so plans made before
	// waivers were part of the plan keep their digest.
	Waivers []PlanWaiver `json:"waivers,omitempty"`
	// TransferSite is the air-gapped site whose own otpatch instance runs the plan: the
	// approved plan goes there as a signed transfer bundle, the site validates it on its test
	// bench and deploys it in the plan's windows, and its results come back the same way.
	// Omitted for plans the central workers run, so their digests stay as they were.
	TransferSite string `json:"transfer_site,omitempty"`
}

// PlanWaiver is an engineer's waiver of the verified backup of one target: the asset deploys
// even when its backup fails, and a failure later cannot be rolled back.
type PlanWaiver struct {
	AssetID string    `json:"asset_id"`
	Name    string    `json:"name,omitempty"`
	By      string    `json:"by"`
	Role    Role      `json:"role"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// DefaultMaxCampaignAssets bounds the assets of one campaign unless the server is configured
// otherwise (--max-campaign-assets). The campaign workflow pages through its targets and
// continues as new as its history grows, so the bound is not Temporal's: it keeps one plan —
// which approvers read and which is stored and hashed whole — to a size a plant reviews.
const DefaultMaxCampaignAssets = 100000

// LargestCampaignAssets is the most --max-campaign-assets may allow.
const LargestCampaignAssets = 1000000

// MaxCarriedAssets bounds a plan carried to an air-gapped site: the central campaign holds the
// whole plan while it waits for the site's results, and the plan bundle carries it in one file.
const MaxCarriedAssets = 2000

// MaxErrorThreshold bounds a campaign's error threshold.
const MaxErrorThreshold = 1000

// WithWindow returns the plan with every target in zoneID given window w, and whether that
// changed anything.
func (p Plan) WithWindow(zoneID string, w Window) (Plan, bool) {
	out := p
	out.Targets = append([]PlanTarget(nil), p.Targets...)
	changed := false
	for i, t := range out.Targets {
		if t.ZoneID == zoneID && !t.Window.Equal(w) {
			out.Targets[i].Window = w
			changed = true
		}
	}
	return out, changed
}

// WithWaiver returns the plan with waiver w of a target's backup (named after the target when
// w has no name), and whether that changed anything: a plan that already waives the asset's
// backup, or has no such target, is returned as it is.
func (p Plan) WithWaiver(w PlanWaiver) (Plan, bool) {
	if _, ok := p.WaiverFor(w.AssetID); ok {
		return p, false
	}
	i := slices.IndexFunc(p.Targets, func(t PlanTarget) bool { return t.AssetID == w.AssetID })
	if i < 0 {
		return p, false
	}
	if w.Name == "" {
		w.Name = p.Targets[i].Name
	}
	w.At = w.At.UTC()
	out := p
	out.Waivers = append(append([]PlanWaiver(nil), p.Waivers...), w)
	sort.Slice(out.Waivers, func(i, j int) bool { return out.Waivers[i].AssetID < out.Waivers[j].AssetID })
	return out, true
}

// WaiverFor returns the plan's waiver of assetID's backup, if it has one.
func (p Plan) WaiverFor(assetID string) (PlanWaiver, bool) {
	for _, w := range p.Waivers {
		if w.AssetID == assetID {
			return w, true
		}
	}
	return PlanWaiver{}, false
}

// PlanTarget is one asset of a plan, with the window of its zone.
type PlanTarget struct {
	AssetID        string `json:"asset_id"`
	ZoneID         string `json:"zone_id"`
	SLT            int    `json:"sl_t"`
	SafetyCritical bool   `json:"safety_critical"`
	TestBench      bool   `json:"test_bench"`
	Window         Window `json:"window"`
	// Set on plans computed from the live inventory (see Plan).
	Name            string        `json:"name,omitempty"`
	ZoneName        string        `json:"zone_name,omitempty"`
	FromVersion     string        `json:"from_version,omitempty"`
	Compatibility   Compatibility `json:"compatibility,omitempty"`
	Criticality     int           `json:"criticality,omitempty"`
	RedundancyGroup string        `json:"redundancy_group,omitempty"`
	// Bench is the test-bench asset whose run covers this target's from-version.
	Bench string `json:"bench,omitempty"`
	// Accepted is set when the engineer accepted a not_stated compatibility for this target.
	Accepted bool `json:"accepted_not_stated,omitempty"`
}

// Digest is the SHA-256 of the plan's canonical JSON (targets sorted by asset id).
func (p Plan) Digest() string {
	c := p
	c.Targets = append([]PlanTarget(nil), p.Targets...)
	sort.Slice(c.Targets, func(i, j int) bool { return c.Targets[i].AssetID < c.Targets[j].AssetID })
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Policy is the approval rule for a plan.
type Policy struct {
	// Approvals is how many distinct approvers must approve.
	Approvals int `json:"approvals"`
	// NeedsSafety is set when one approver must hold the safety role (SL-T 3–4 or safety-critical targets).
	NeedsSafety bool `json:"needs_safety"`
	// TTL is how long an approval stays valid.
	TTL Duration `json:"ttl"`
}

// DefaultApprovalTTL is how long an approval stays valid unless configured otherwise.
const DefaultApprovalTTL = 7 * 24 * time.Hour

// PolicyFor derives the approval policy of a plan.
func PolicyFor(p Plan, ttl time.Duration) Policy {
	if ttl <= 0 {
		ttl = DefaultApprovalTTL
	}
	pol := Policy{Approvals: 1, TTL: Duration(ttl)}
	for _, t := range p.Targets {
		if t.SLT >= 3 || t.SafetyCritical {
			pol.Approvals, pol.NeedsSafety = 2, true
		}
	}
	return pol
}

// Approval is one approver's decision on a plan digest.
type Approval struct {
	Actor      string    `json:"actor"`
	Role       Role      `json:"role"`
	PlanDigest string    `json:"plan_digest"`
	At         time.Time `json:"at"`
}

// Refusal is an approval the policy refuses; Rule names the rule that refused it.
type Refusal struct {
	Rule    string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// IsRefusal reports whether err is a policy refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

// CheckApprover says whether actor may approve (or reject) the plan with digest, given who
// created the campaign and the approvals already given.
func (pol Policy) CheckApprover(creator string, actor Actor, digest, currentDigest string, given []Approval) error {
	if actor.Role != RoleApprover && actor.Role != RoleSafety {
		return &Refusal{Rule: "role", Message: fmt.Sprintf("role %q cannot approve; approvals need the approver or safety role", actor.Role)}
	}
	if actor.Name == creator {
		return &Refusal{Rule: "creator", Message: fmt.Sprintf("%s created this campaign and so cannot approve it; another approver must", actor.Name)}
	}
	if digest != currentDigest {
		return &Refusal{Rule: "plan_digest", Message: fmt.Sprintf("plan digest %q is not the campaign's current plan; open the campaign, review the plan it shows now and approve that", ShortHash(digest))}
	}
	for _, a := range given {
		if a.Actor == actor.Name {
			return &Refusal{Rule: "distinct", Message: fmt.Sprintf("%s has already approved this plan; a second approval must come from someone else", actor.Name)}
		}
	}
	return nil
}

// Satisfied reports whether the approvals valid at now satisfy the policy: Approvals distinct
// approvers, so one person recorded twice counts once.
func (pol Policy) Satisfied(given []Approval, digest string, now time.Time) bool {
	approvers, safety := map[string]bool{}, false
	for _, a := range given {
		if a.PlanDigest != digest || now.Sub(a.At) > time.Duration(pol.TTL) {
			continue
		}
		approvers[a.Actor] = true
		if a.Role == RoleSafety {
			safety = true
		}
	}
	return len(approvers) >= pol.Approvals && (!pol.NeedsSafety || safety)
}

// ShortHash is the first 12 characters of a digest or SHA-256, enough for a person to tell it.
func ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
