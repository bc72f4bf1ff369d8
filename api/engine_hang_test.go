package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/store"
)

// TestEngineHangTimesOutOnHeartbeat makes hmi-02's deploy hang with no abort: the simulator
// reports the stall, the activity stops heartbeating, and Temporal times each attempt out
// after the 10 s heartbeat timeout (not the 15 min start-to-close timeout); after the third
// attempt hmi-02 is restored from its backup and the campaign ends rolled_back, within about
// 40 s.
func TestEngineHangTimesOutOnHeartbeat(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for three 10 s heartbeat timeouts")
	}
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-02/simulator/faults", e.tokens.Engineer, map[string]any{"hang": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	c := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-02"}, nil)
	start := time.Now()
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back", "aborted")
	took := time.Since(start)
	if c.Status != "rolled_back" || e.assetState(c, "ast_pkg-hmi-02") != "rolled_back" {
		t.Fatalf("campaign %s (%s), hmi-02 %s; want rolled_back", c.Status, c.Detail, e.assetState(c, "ast_pkg-hmi-02"))
	}
	if took > 75*time.Second {
		t.Errorf("the hung deploy took %s to roll back; three heartbeat timeouts should take about 40 s", took)
	}
	for _, a := range c.Assets {
		if a.AssetID == "ast_pkg-hmi-02" && !strings.Contains(strings.ToLower(a.Error), "heartbeat") {
			t.Errorf("hmi-02 error %q, want a heartbeat timeout", a.Error)
		}
	}
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{CampaignID: c.ID, Action: "asset.deploying"})
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	for _, ev := range evs {
		if ev.AssetID == "ast_pkg-hmi-02" {
			ts, err := time.Parse(time.RFC3339Nano, ev.At)
			if err != nil {
				t.Fatal(err)
			}
			at = append(at, ts)
		}
	}
	if len(at) != 3 {
		t.Fatalf("%d deploy attempts on hmi-02, want 3 (each timed out on its heartbeat)", len(at))
	}
	for i := 1; i < len(at); i++ {
		// The attempt before ran into the 10 s heartbeat timeout, then the retry backoff (2 s, 4 s).
		if gap := at[i].Sub(at[i-1]); gap < 10*time.Second || gap > 25*time.Second {
			t.Errorf("attempt %d started %s after attempt %d, want the 10 s heartbeat timeout plus the retry backoff", i+1, gap, i)
		}
	}
	if ops := e.ops("ast_pkg-hmi-02"); !slices.Equal(ops, []string{"restore"}) {
		t.Errorf("hmi-02 operations %v, want only the restore (the hung deploy never applied)", ops)
	}
	if d, _ := e.sim.Device(context.Background(), "ast_pkg-hmi-02"); d.Version != "V16.0.1" {
		t.Errorf("hmi-02 runs %s, want V16.0.1", d.Version)
	}
	t.Logf("hung deploy rolled back after %s", took.Round(time.Second))
}
