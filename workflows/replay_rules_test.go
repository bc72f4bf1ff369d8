package workflows

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplayKeepsRecordedWindowDecisions replays recorded campaigns after swapping the rules of
// their zone's window — as a time-zone database or cron library update would — by moving the
// window to another time zone in the recorded plan. Campaigns recorded since window occurrences
// are computed in a local activity (v3) replay unchanged: the history holds each decision.
// Campaigns recorded before (v2) computed them in workflow code, so the same swap changes a
// replayed decision and the replay fails: the guard the local activity adds.
func TestReplayKeepsRecordedWindowDecisions(t *testing.T) {
	for _, tc := range []struct {
		file     string
		replays  bool
		scenario string
	}{
		{"v3-campaign-completed.json", true, "occurrences recorded in the history"},
		{"v3-campaign-replanned.json", true, "occurrences recorded, window edited while waiting"},
		{"v2-campaign-completed.json", false, "occurrences computed in workflow code"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := swapWindowZone(t, filepath.Join("testdata", tc.file), "Pacific/Kiritimati")
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(Campaign)
			r.RegisterWorkflow(AssetDeployment)
			err := r.ReplayWorkflowHistoryFromJSONFile(nil, path)
			if tc.replays && err != nil {
				t.Errorf("%s (%s) does not replay after the zone's rules changed: %v", tc.file, tc.scenario, err)
			}
			if !tc.replays && err == nil {
				t.Errorf("%s (%s) replays although its window decisions changed; the swap does not reach the workflow", tc.file, tc.scenario)
			}
		})
	}
}

// swapWindowZone writes a copy of the history at path whose LoadCampaign result gives every
// target's window the time zone zone, and returns the copy's path.
func swapWindowZone(t *testing.T, path, zone string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var hist map[string]any
	if err := json.Unmarshal(raw, &hist); err != nil {
		t.Fatal(err)
	}
	loadID, swapped := "", 0
	for _, e := range hist["events"].([]any) {
		ev := e.(map[string]any)
		if a, ok := ev["activityTaskScheduledEventAttributes"].(map[string]any); ok && a["activityType"].(map[string]any)["name"] == "LoadCampaign" {
			loadID = ev["eventId"].(string)
		}
		a, ok := ev["activityTaskCompletedEventAttributes"].(map[string]any)
		if !ok || loadID == "" || a["scheduledEventId"] != loadID {
			continue
		}
		payload := a["result"].(map[string]any)["payloads"].([]any)[0].(map[string]any)
		data, err := base64.StdEncoding.DecodeString(payload["data"].(string))
		if err != nil {
			t.Fatal(err)
		}
		var plan map[string]any
		if err := json.Unmarshal(data, &plan); err != nil {
			t.Fatal(err)
		}
		for _, tg := range plan["targets"].([]any) {
			w := tg.(map[string]any)["window"].(map[string]any)
			if !strings.EqualFold(w["time_zone"].(string), zone) {
				w["time_zone"] = zone
				swapped++
			}
		}
		data, _ = json.Marshal(plan)
		payload["data"] = base64.StdEncoding.EncodeToString(data)
	}
	if swapped == 0 {
		t.Fatalf("%s: no window to swap in the LoadCampaign result", path)
	}
	out, _ := json.Marshal(hist)
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
