package domain

import (
	"cmp"
	"fmt"
	"math"
	"strings"
)

// Priorities: which (asset, vulnerability) to deal with first. The rule is in the spirit of
// CISA's Stakeholder-Specific Vulnerability Categorization (SSVC) for deployers: it reads
// four decision points from what otpatch knows and answers one of four decisions, then a
// number of points that orders the rows within a decision. docs/priorities.md says the same
// in prose, with examples.
//
// Decision points:
//
//   - Exploitation: active when the CVE is in CISA's Known Exploited Vulnerabilities catalog
//     (KEV); likely when its EPSS probability is at least EPSSLikely (0.10) or its EPSS
//     percentile at least 0.95; none otherwise (no EPSS score counts as none).
//   - Exposure: open when a conduit of the asset's zone reaches the internet, remote access or
//     a vendor's network; controlled when one reaches the enterprise network or a zone of a
//     lower SL-T; small otherwise (no conduit, or conduits only to zones as trusted).
//   - Impact (mission and well-being): high for an asset with a safety role, of criticality 4
//     or 5, or in a zone of SL-T 4; medium for criticality 3 or a zone of SL-T 3; low otherwise.
//   - Severity: the CVSS base score of the vulnerability (critical at 9.0, high at 7.0).
//
// Decisions, from the most to the least urgent:
//
//   - act: exploitation active, and exposure not small or impact high; or exploitation likely
//     with open exposure and high impact. Deal with it now: patch in the next window, or
//     mitigate at once.
//   - attend: exploitation active otherwise; exploitation likely with exposure not small or
//     impact high; or a critical CVSS (9.0+) with open exposure. Deal with it sooner than the
//     regular cycle.
//   - track*: exploitation likely otherwise; or a high CVSS (7.0+) with exposure not small or
//     impact high. Regular cycle, watched closely.
//   - track: the rest. Regular cycle.
//
// Points (0–105, integers, so the order is exact): CVSS × 3 (up to 30); EPSS probability × 20
// (up to 20); in KEV 20, with known ransomware use 5 more; exposure open 10, controlled 6; the
// zone's SL-T (0–4); criticality × 2 (up to 10); safety role 5; a qualified patch available 1
// (the row can be acted on now). Rows are ordered by decision, then points (more first), then
// CVSS, EPSS, CVE and asset id, so two rows never tie.
type PriorityDecision string

// The decisions, most urgent first.
const (
	DecisionAct       PriorityDecision = "act"
	DecisionAttend    PriorityDecision = "attend"
	DecisionTrackStar PriorityDecision = "track*"
	DecisionTrack     PriorityDecision = "track"
)

// PriorityDecisionInfo lists the decisions, most urgent first, with the words to show.
func PriorityDecisionInfo() []StateInfo {
	return []StateInfo{
		{string(DecisionAct), "act", "bad", false},
		{string(DecisionAttend), "attend", "warn", false},
		{string(DecisionTrackStar), "track*", "wait", false},
		{string(DecisionTrack), "track", "ok", false},
	}
}

// Urgency is the decision's place in the order: 0 for act, 3 for track, 4 for an unknown one.
func (d PriorityDecision) Urgency() int {
	for i, s := range PriorityDecisionInfo() {
		if s.Value == string(d) {
			return i
		}
	}
	return 4
}

// Outside networks a zone's conduit may reach (besides another zone).
const (
	ConduitZone         = "zone"
	ConduitEnterprise   = "enterprise"
	ConduitRemoteAccess = "remote_access"
	ConduitInternet     = "internet"
	ConduitVendor       = "vendor"
)

// ConduitKinds lists what a conduit may reach: another zone or an outside network.
func ConduitKinds() []string {
	return []string{ConduitZone, ConduitEnterprise, ConduitRemoteAccess, ConduitInternet, ConduitVendor}
}

// EPSSLikely is the EPSS probability (of exploitation in the next 30 days) from which
// exploitation counts as likely.
const EPSSLikely = 0.10

// Exploitation is the exploitation decision point: active, likely or none.
type Exploitation string

// Exploitation values.
const (
	ExploitationActive Exploitation = "active"
	ExploitationLikely Exploitation = "likely"
	ExploitationNone   Exploitation = "none"
)

// Exposure is the exposure decision point: open, controlled or small.
type Exposure string

// Exposure values.
const (
	ExposureOpen       Exposure = "open"
	ExposureControlled Exposure = "controlled"
	ExposureSmall      Exposure = "small"
)

// Impact is the mission and well-being decision point: high, medium or low.
type Impact string

// Impact values.
const (
	ImpactHigh   Impact = "high"
	ImpactMedium Impact = "medium"
	ImpactLow    Impact = "low"
)

// Exploitations, Exposures and Impacts list the values of each decision point, from the most
// to the least urgent.
func Exploitations() []Exploitation {
	return []Exploitation{ExploitationActive, ExploitationLikely, ExploitationNone}
}
func Exposures() []Exposure { return []Exposure{ExposureOpen, ExposureControlled, ExposureSmall} }
func Impacts() []Impact     { return []Impact{ImpactHigh, ImpactMedium, ImpactLow} }

// Reach is one conduit of a zone as the rule reads it: the kind it reaches and, for a zone,
// that zone's name and SL-T.
type Reach struct {
	Kind     string
	ZoneName string
	ZoneSLT  int
}

// PriorityInput is what the rule knows of one (asset, vulnerability).
type PriorityInput struct {
	CVE     string
	AssetID string
	// CVSS is the base score the advisory gives (0: none given).
	CVSS float64
	// HasEPSS: an EPSS score was imported for the CVE.
	HasEPSS               bool
	EPSS, EPSSPercentile  float64
	InKEV                 bool
	KEVDateAdded          string // YYYY-MM-DD
	KEVDueDate            string // YYYY-MM-DD
	KEVRansomware         bool
	ZoneName              string
	ZoneSLT               int
	Conduits              []Reach
	Criticality           int
	SafetyRole            bool
	QualifiedPatch        string // the patch's reference and version; "" when none
	RemedyMitigationsOnly bool   // the vendor names no fix: mitigate
}

// Factor is one reason of a priority, with the points it adds.
type Factor struct {
	Kind   string `json:"kind" doc:"What the factor is about: kev, epss, cvss, exposure, slt, criticality, safety, patch"`
	Text   string `json:"text" doc:"The reason in words"`
	Points int    `json:"points" doc:"Points it adds to the rank"`
}

// Priority is the rule's answer for one (asset, vulnerability).
type Priority struct {
	Decision     PriorityDecision `json:"decision"`
	Points       int              `json:"points" doc:"0 to 105: orders the rows within a decision, more first"`
	Exploitation Exploitation     `json:"exploitation" doc:"active (in KEV), likely (EPSS) or none"`
	Exposure     Exposure         `json:"exposure" doc:"open, controlled or small"`
	Impact       Impact           `json:"impact" doc:"high, medium or low"`
	Factors      []Factor         `json:"factors" doc:"Why this rank, one reason each"`
}

// Prioritize applies the rule to one (asset, vulnerability). It is pure: the same input gives
// the same answer.
func Prioritize(in PriorityInput) Priority {
	p := Priority{Factors: []Factor{}}
	add := func(kind string, points int, format string, args ...any) {
		p.Factors = append(p.Factors, Factor{Kind: kind, Text: fmt.Sprintf(format, args...), Points: points})
		p.Points += points
	}

	// Exploitation.
	p.Exploitation = ExploitationNone
	if in.InKEV {
		p.Exploitation = ExploitationActive
		text := "in KEV since " + in.KEVDateAdded
		if in.KEVDueDate != "" {
			text += ", federal due date " + in.KEVDueDate
		}
		add("kev", 20, "%s", text)
		if in.KEVRansomware {
			add("kev", 5, "ransomware use known")
		}
	}
	if in.HasEPSS {
		pct := int(math.Floor(in.EPSSPercentile * 100))
		add("epss", int(math.Round(in.EPSS*20)), "EPSS %s (%s percentile)", trimFloat(in.EPSS), ordinal(pct))
		if p.Exploitation == ExploitationNone && (in.EPSS >= EPSSLikely || in.EPSSPercentile >= 0.95) {
			p.Exploitation = ExploitationLikely
		}
	} else {
		add("epss", 0, "no EPSS score")
	}

	// Severity.
	if in.CVSS > 0 {
		add("cvss", int(math.Round(in.CVSS*3)), "CVSS %.1f", in.CVSS)
	} else {
		add("cvss", 0, "no CVSS score in the advisory")
	}

	// Exposure: the widest reach of the zone's conduits.
	p.Exposure = ExposureSmall
	var open, controlled []string
	for _, c := range in.Conduits {
		switch c.Kind {
		case ConduitInternet, ConduitRemoteAccess, ConduitVendor:
			open = append(open, reachName(c))
		case ConduitEnterprise:
			controlled = append(controlled, reachName(c))
		case ConduitZone:
			if c.ZoneSLT < in.ZoneSLT {
				controlled = append(controlled, reachName(c))
			}
		}
	}
	switch {
	case len(open) > 0:
		p.Exposure = ExposureOpen
		add("exposure", 10, "zone %s (SL-T %d) has a conduit to %s", in.ZoneName, in.ZoneSLT, strings.Join(append(open, controlled...), ", "))
	case len(controlled) > 0:
		p.Exposure = ExposureControlled
		add("exposure", 6, "zone %s (SL-T %d) has a conduit to %s", in.ZoneName, in.ZoneSLT, strings.Join(controlled, ", "))
	default:
		add("exposure", 0, "zone %s (SL-T %d) has no conduit to a less trusted zone or network", in.ZoneName, in.ZoneSLT)
	}
	add("slt", max(0, min(in.ZoneSLT, 4)), "zone SL-T %d", in.ZoneSLT)

	// Impact.
	crit := max(0, min(in.Criticality, 5))
	add("criticality", crit*2, "asset criticality %d of 5", crit)
	if in.SafetyRole {
		add("safety", 5, "safety role")
	}
	switch {
	case in.SafetyRole || crit >= 4 || in.ZoneSLT >= 4:
		p.Impact = ImpactHigh
	case crit == 3 || in.ZoneSLT == 3:
		p.Impact = ImpactMedium
	default:
		p.Impact = ImpactLow
	}

	// Remedy.
	switch {
	case in.QualifiedPatch != "":
		add("patch", 1, "qualified patch available: %s", in.QualifiedPatch)
	case in.RemedyMitigationsOnly:
		add("patch", 0, "no vendor fix: mitigate")
	default:
		add("patch", 0, "no qualified patch yet")
	}

	exposed, highImpact := p.Exposure != ExposureSmall, p.Impact == ImpactHigh
	switch {
	case p.Exploitation == ExploitationActive && (exposed || highImpact),
		p.Exploitation == ExploitationLikely && p.Exposure == ExposureOpen && highImpact:
		p.Decision = DecisionAct
	case p.Exploitation == ExploitationActive,
		p.Exploitation == ExploitationLikely && (exposed || highImpact),
		in.CVSS >= 9 && p.Exposure == ExposureOpen:
		p.Decision = DecisionAttend
	case p.Exploitation == ExploitationLikely,
		in.CVSS >= 7 && (exposed || highImpact):
		p.Decision = DecisionTrackStar
	default:
		p.Decision = DecisionTrack
	}
	return p
}

// ComparePriorities orders two rows: the more urgent decision first, then more points, higher
// CVSS, higher EPSS, then CVE and asset id (ascending), so the order is total.
func ComparePriorities(a PriorityInput, pa Priority, b PriorityInput, pb Priority) int {
	return cmp.Or(
		cmp.Compare(pa.Decision.Urgency(), pb.Decision.Urgency()),
		cmp.Compare(pb.Points, pa.Points),
		cmp.Compare(b.CVSS, a.CVSS),
		cmp.Compare(b.EPSS, a.EPSS),
		strings.Compare(a.CVE, b.CVE),
		strings.Compare(a.AssetID, b.AssetID),
	)
}

// PriorityKey is a text key that sorts as ComparePriorities orders (for page cursors).
func PriorityKey(in PriorityInput, p Priority) string {
	return fmt.Sprintf("%d/%03d/%04d/%07d/%s/%s", p.Decision.Urgency(), 999-min(max(p.Points, 0), 999),
		1000-int(math.Round(in.CVSS*10)), 1000000-int(math.Round(in.EPSS*1000000)), in.CVE, in.AssetID)
}

func reachName(c Reach) string {
	switch c.Kind {
	case ConduitZone:
		return fmt.Sprintf("zone %s (SL-T %d)", c.ZoneName, c.ZoneSLT)
	case ConduitRemoteAccess:
		return "remote access"
	case ConduitVendor:
		return "a vendor's network"
	case ConduitEnterprise:
		return "the enterprise network"
	default:
		return "the " + c.Kind
	}
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.5f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
