package workflows

import (
	"slices"
	"testing"
	"time"

	"github.com/otpatch/otpatch/activities"
)

func ids(ts []activities.Target) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.AssetID)
	}
	return out
}

// TestPlanWaves orders zones lowest SL-T first, then lowest criticality, then by zone id, and
// within a zone the least critical asset first; each wave keeps its zone's window.
func TestPlanWaves(t *testing.T) {
	safetyWindow := window("0 3 * * 6", 2*time.Hour, 1)
	tests := []struct {
		name    string
		targets []activities.Target
		zones   []string
		assets  [][]string
	}{
		{
			name: "SL-T, then criticality, then zone id",
			targets: []activities.Target{
				target("sis1", "safety", 3, 1, safetyWindow, time.Minute),
				target("plc1", "cell", 2, 3, window("0 2 * * 0", 4*time.Hour, 2), time.Minute),
				target("ws1", "office", 1, 5, window("0 22 * * *", 6*time.Hour, 5), time.Minute),
				target("fw1", "dmz", 1, 2, window("0 22 * * *", 6*time.Hour, 5), time.Minute),
				target("lab1", "lab", 1, 2, window("0 22 * * *", 6*time.Hour, 5), time.Minute),
			},
			zones:  []string{"dmz", "lab", "office", "cell", "safety"},
			assets: [][]string{{"fw1"}, {"lab1"}, {"ws1"}, {"plc1"}, {"sis1"}},
		},
		{
			name: "a zone ranks by its most critical asset; assets least critical first",
			targets: []activities.Target{
				target("a-hi", "a", 2, 4, window("0 2 * * 0", 4*time.Hour, 2), time.Minute),
				target("b-mid", "b", 2, 3, window("0 2 * * 0", 4*time.Hour, 2), time.Minute),
				target("a-lo", "a", 2, 1, window("0 2 * * 0", 4*time.Hour, 2), time.Minute),
				target("b-lo", "b", 2, 1, window("0 2 * * 0", 4*time.Hour, 2), time.Minute),
				target("a-mid", "a", 2, 2, window("0 2 * * 0", 4*time.Hour, 2), time.Minute),
			},
			zones:  []string{"b", "a"},
			assets: [][]string{{"b-lo", "b-mid"}, {"a-lo", "a-mid", "a-hi"}},
		},
		{name: "no targets", zones: []string{}, assets: [][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waves := planWaves(tt.targets)
			zones, assets := []string{}, [][]string{}
			for _, w := range waves {
				zones = append(zones, w.zone)
				assets = append(assets, ids(w.targets))
				for _, tg := range w.targets {
					if tg.ZoneID != w.zone {
						t.Errorf("wave %s holds %s of zone %s", w.zone, tg.AssetID, tg.ZoneID)
					}
					if w.window.Cron != tg.Window.Cron {
						t.Errorf("wave %s window %q, its targets' window %q", w.zone, w.window.Cron, tg.Window.Cron)
					}
				}
			}
			if !slices.Equal(zones, tt.zones) {
				t.Errorf("zone order %v, want %v", zones, tt.zones)
			}
			if !slices.EqualFunc(assets, tt.assets, slices.Equal[[]string]) {
				t.Errorf("assets per wave %v, want %v", assets, tt.assets)
			}
		})
	}
}

// TestPickBatch takes at most max_parallel targets whose expected duration fits in what is
// left of the window, and at most one member of a redundancy group.
func TestPickBatch(t *testing.T) {
	tg := func(id string, expected time.Duration, group string) activities.Target {
		x := target(id, "z", 1, 1, window("0 2 * * 0", 4*time.Hour, 2), expected)
		x.RedundancyGroup = group
		return x
	}
	tests := []struct {
		name        string
		targets     []activities.Target
		left        time.Duration
		max         int
		batch, rest []string
	}{
		{name: "max_parallel", targets: []activities.Target{tg("a", time.Minute, ""), tg("b", time.Minute, ""), tg("c", time.Minute, ""), tg("d", time.Minute, "")},
			left: time.Hour, max: 2, batch: []string{"a", "b"}, rest: []string{"c", "d"}},
		{name: "expected duration must fit what is left", targets: []activities.Target{tg("a", 20*time.Minute, ""), tg("b", 45*time.Minute, ""), tg("c", 30*time.Minute, "")},
			left: 30 * time.Minute, max: 10, batch: []string{"a", "c"}, rest: []string{"b"}},
		{name: "nothing fits", targets: []activities.Target{tg("a", time.Hour, ""), tg("b", 2*time.Hour, "")},
			left: 59 * time.Minute, max: 10, batch: nil, rest: []string{"a", "b"}},
		{name: "one member per redundancy group", targets: []activities.Target{tg("a1", time.Minute, "g"), tg("a2", time.Minute, "g"), tg("b", time.Minute, ""), tg("c1", time.Minute, "h"), tg("c2", time.Minute, "h")},
			left: time.Hour, max: 10, batch: []string{"a1", "b", "c1"}, rest: []string{"a2", "c2"}},
		{name: "partner that fits goes when the first does not", targets: []activities.Target{tg("a1", 2*time.Hour, "g"), tg("a2", time.Minute, "g")},
			left: time.Hour, max: 10, batch: []string{"a2"}, rest: []string{"a1"}},
		{name: "a skipped group member leaves room for others", targets: []activities.Target{tg("a1", time.Minute, "g"), tg("a2", time.Minute, "g"), tg("b", time.Minute, "")},
			left: time.Hour, max: 2, batch: []string{"a1", "b"}, rest: []string{"a2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch, rest := pickBatch(tt.targets, tt.left, tt.max)
			if got := ids(batch); !slices.Equal(got, append([]string{}, tt.batch...)) {
				t.Errorf("batch %v, want %v", got, tt.batch)
			}
			if got := ids(rest); !slices.Equal(got, append([]string{}, tt.rest...)) {
				t.Errorf("rest %v, want %v", got, tt.rest)
			}
		})
	}
}
