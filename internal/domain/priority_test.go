package domain

import (
	"slices"
	"strings"
	"testing"
)

func TestPrioritize(t *testing.T) {
	exposed := []Reach{{Kind: ConduitEnterprise}}
	tests := []struct {
		name         string
		in           PriorityInput
		decision     PriorityDecision
		points       int
		exploitation Exploitation
		exposure     Exposure
		impact       Impact
		factors      []string // texts that must be among the factors
	}{
		{
			name: "KEV with ransomware on a safety asset in an exposed zone",
			in: PriorityInput{CVE: "CVE-2022-30315", AssetID: "a1", CVSS: 7.5, HasEPSS: true, EPSS: 0.91, EPSSPercentile: 0.97,
				InKEV: true, KEVDateAdded: "2026-02-01", KEVDueDate: "2026-02-22", KEVRansomware: true,
				ZoneName: "Safety", ZoneSLT: 3, Conduits: exposed, Criticality: 5, SafetyRole: true, QualifiedPatch: "HW-SM-160 R160.1"},
			decision: DecisionAct, points: 20 + 5 + 18 + 23 + 6 + 3 + 10 + 5 + 1, exploitation: "active", exposure: ExposureControlled, impact: "high",
			factors: []string{"in KEV since 2026-02-01, federal due date 2026-02-22", "ransomware use known", "EPSS 0.91 (97th percentile)",
				"zone Safety (SL-T 3) has a conduit to the enterprise network", "zone SL-T 3", "safety role", "qualified patch available: HW-SM-160 R160.1"},
		},
		{
			name:     "KEV on a low asset in an isolated zone: attend",
			in:       PriorityInput{CVE: "CVE-1", CVSS: 5, InKEV: true, KEVDateAdded: "2025-01-01", ZoneName: "Bench", ZoneSLT: 1, Criticality: 1},
			decision: DecisionAttend, points: 20 + 0 + 15 + 0 + 1 + 2, exploitation: "active", exposure: ExposureSmall, impact: "low",
			factors: []string{"no EPSS score", "zone Bench (SL-T 1) has no conduit to a less trusted zone or network", "no qualified patch yet"},
		},
		{
			name: "high CVSS, low EPSS, isolated: track",
			in: PriorityInput{CVE: "CVE-2021-22667", CVSS: 9.8, HasEPSS: true, EPSS: 0.00211, EPSSPercentile: 0.59,
				ZoneName: "Process", ZoneSLT: 2, Criticality: 2, RemedyMitigationsOnly: true},
			decision: DecisionTrack, points: 29 + 0 + 2 + 4, exploitation: "none", exposure: ExposureSmall, impact: "low",
			factors: []string{"EPSS 0.00211 (59th percentile)", "CVSS 9.8", "no vendor fix: mitigate"},
		},
		{
			name:     "high CVSS, exposed: track*",
			in:       PriorityInput{CVE: "CVE-2", CVSS: 7.5, ZoneName: "DMZ", ZoneSLT: 2, Conduits: []Reach{{Kind: ConduitZone, ZoneName: "Office", ZoneSLT: 1}}, Criticality: 2},
			decision: DecisionTrackStar, points: 23 + 6 + 2 + 4, exploitation: "none", exposure: ExposureControlled, impact: "low",
			factors: []string{"zone DMZ (SL-T 2) has a conduit to zone Office (SL-T 1)"},
		},
		{
			name:     "a conduit to a zone as trusted is no exposure",
			in:       PriorityInput{CVE: "CVE-3", CVSS: 7.5, ZoneName: "Cell", ZoneSLT: 2, Conduits: []Reach{{Kind: ConduitZone, ZoneName: "Cell B", ZoneSLT: 2}}, Criticality: 1},
			decision: DecisionTrack, points: 23 + 2 + 2, exploitation: "none", exposure: ExposureSmall, impact: "low",
		},
		{
			name:     "critical CVSS with internet exposure: attend",
			in:       PriorityInput{CVE: "CVE-4", CVSS: 9.1, ZoneName: "Edge", ZoneSLT: 1, Conduits: []Reach{{Kind: ConduitInternet}, {Kind: ConduitEnterprise}}, Criticality: 2},
			decision: DecisionAttend, points: 27 + 10 + 1 + 4, exploitation: "none", exposure: ExposureOpen, impact: "low",
			factors: []string{"zone Edge (SL-T 1) has a conduit to the internet, the enterprise network"},
		},
		{
			name: "likely exploitation, open exposure, high impact: act",
			in: PriorityInput{CVE: "CVE-5", CVSS: 6.1, HasEPSS: true, EPSS: 0.2, EPSSPercentile: 0.96, ZoneName: "Remote", ZoneSLT: 2,
				Conduits: []Reach{{Kind: ConduitRemoteAccess}}, Criticality: 4},
			decision: DecisionAct, points: 18 + 4 + 10 + 2 + 8, exploitation: "likely", exposure: ExposureOpen, impact: "high",
			factors: []string{"zone Remote (SL-T 2) has a conduit to remote access", "EPSS 0.2 (96th percentile)"},
		},
		{
			name:     "likely exploitation, isolated, medium impact: track*",
			in:       PriorityInput{CVE: "CVE-6", CVSS: 4, HasEPSS: true, EPSS: 0.01, EPSSPercentile: 0.951, ZoneName: "Cell", ZoneSLT: 3, Criticality: 2},
			decision: DecisionTrackStar, points: 12 + 0 + 3 + 4, exploitation: "likely", exposure: ExposureSmall, impact: "medium",
			factors: []string{"EPSS 0.01 (95th percentile)"},
		},
		{
			name:     "nothing known: track",
			in:       PriorityInput{CVE: "CVE-7", ZoneName: "Cell", ZoneSLT: 0},
			decision: DecisionTrack, points: 0, exploitation: "none", exposure: ExposureSmall, impact: "low",
			factors: []string{"no CVSS score in the advisory", "asset criticality 0 of 5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Prioritize(tt.in)
			if p.Decision != tt.decision || p.Points != tt.points || p.Exploitation != tt.exploitation || p.Exposure != tt.exposure || p.Impact != tt.impact {
				t.Errorf("got %s %d points, exploitation %s, exposure %s, impact %s; want %s %d, %s, %s, %s",
					p.Decision, p.Points, p.Exploitation, p.Exposure, p.Impact, tt.decision, tt.points, tt.exploitation, tt.exposure, tt.impact)
			}
			sum := 0
			var texts []string
			for _, f := range p.Factors {
				sum += f.Points
				texts = append(texts, f.Text)
			}
			if sum != p.Points {
				t.Errorf("factors add up to %d, points %d", sum, p.Points)
			}
			for _, want := range tt.factors {
				if !slices.Contains(texts, want) {
					t.Errorf("no factor %q in %q", want, texts)
				}
			}
			if again := Prioritize(tt.in); !slices.Equal(again.Factors, p.Factors) || again.Points != p.Points {
				t.Error("the same input gave another answer")
			}
		})
	}
}

// The order: decision first, then points, then the tie-breaks, and the text key sorts the same.
func TestComparePriorities(t *testing.T) {
	rows := []PriorityInput{
		{CVE: "CVE-B", AssetID: "a2", CVSS: 9.8, HasEPSS: true, EPSS: 0.002, ZoneName: "Process", ZoneSLT: 2, Criticality: 2},
		{CVE: "CVE-A", AssetID: "a1", CVSS: 7.5, InKEV: true, KEVDateAdded: "2026-02-01", ZoneName: "Safety", ZoneSLT: 3, Conduits: []Reach{{Kind: ConduitEnterprise}}, Criticality: 5, SafetyRole: true},
		{CVE: "CVE-C", AssetID: "a3", CVSS: 9.8, HasEPSS: true, EPSS: 0.002, ZoneName: "Process", ZoneSLT: 2, Criticality: 2},
		{CVE: "CVE-B", AssetID: "a1", CVSS: 9.8, HasEPSS: true, EPSS: 0.002, ZoneName: "Process", ZoneSLT: 2, Criticality: 2},
	}
	type row struct {
		in PriorityInput
		p  Priority
	}
	var all []row
	for _, in := range rows {
		all = append(all, row{in, Prioritize(in)})
	}
	slices.SortFunc(all, func(a, b row) int { return ComparePriorities(a.in, a.p, b.in, b.p) })
	var got []string
	for _, r := range all {
		got = append(got, r.in.CVE+"@"+r.in.AssetID)
	}
	if want := []string{"CVE-A@a1", "CVE-B@a1", "CVE-B@a2", "CVE-C@a3"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	for i := 1; i < len(all); i++ {
		if k0, k1 := PriorityKey(all[i-1].in, all[i-1].p), PriorityKey(all[i].in, all[i].p); strings.Compare(k0, k1) >= 0 {
			t.Errorf("key %q does not sort before %q", k0, k1)
		}
	}
}
