package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/store"
)

// TestWindowOpeningNotification: an approver subscribes to hear of windows 24 hours ahead. A
// campaign approved for the packaging zone waits for its next window; the clock's check
// records nothing 30 hours before it, one window_opening notification 2 hours before it, and
// nothing more when it checks again.
func TestWindowOpeningNotification(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if code := e.call("POST", "/api/v1/subscriptions", e.tokens.Approver, map[string]any{"kind": "window_opening", "email": "otto@plant.example", "hours_before": 24}, nil); code != http.StatusCreated {
		t.Fatalf("subscribe: %d", code)
	}
	// The packaging zone's window opens daily at an hour about 12 hours from now.
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	w := domain.Window{Cron: fmt.Sprintf("0 %d * * *", time.Now().In(zurich).Add(12*time.Hour).Hour()), Duration: domain.Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2}
	if code := e.call("PUT", "/api/v1/zones/zone_packaging/window", e.tokens.Engineer, w, nil); code != http.StatusOK {
		t.Fatalf("set the window: %d", code)
	}
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	c := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-01"}, nil)
	var start time.Time
	e.waitFor("the campaign to wait for its window", func() (bool, string) {
		cs, err := e.store.CampaignsAwaitingWindow(ctx, time.Now().AddDate(1, 0, 0))
		if err != nil {
			return false, err.Error()
		}
		for _, x := range cs {
			if x.ID == c.ID && x.NextWindowStart != nil {
				start = x.NextWindowStart.UTC()
				return true, ""
			}
		}
		return false, e.campaign(c.ID).Status
	})
	at := start
	clock := &activities.Activities{Store: e.store, Now: func() time.Time { return at }}
	for _, step := range []struct {
		before time.Duration
		want   int
	}{{30 * time.Hour, 0}, {2 * time.Hour, 1}, {time.Hour, 0}} {
		at = start.Add(-step.before)
		if res, err := clock.CheckClock(ctx); err != nil || res.Recorded != step.want {
			t.Fatalf("the clock's check %s before the window: %+v %v, want %d recorded", step.before, res, err, step.want)
		}
	}
	evs, _ := e.store.AuditEvents(ctx, store.AuditFilter{Action: notify.WindowOpeningAction})
	if len(evs) != 1 || evs[0].CampaignID != c.ID {
		t.Fatalf("window_opening events: %+v, want one of campaign %s", evs, c.ID)
	}
	n, ok := notify.FromEvent(evs[0], "")
	if !ok || n.Kind != notify.WindowOpening || !strings.Contains(n.Subject, start.Format(time.RFC3339)) || n.Link != "/#/campaigns/"+c.ID {
		t.Errorf("it is told as %+v, want the window's start and a link to the campaign", n)
	}
}
