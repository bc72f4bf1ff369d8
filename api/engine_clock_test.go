package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// These tests run the engine against the real Temporal test server on the wall clock, with
// windows that open every other minute for one minute (the shortest window a zone may have):
// what the workflow tests show with time skipping, shown end to end.

// evenMinuteWindow opens zoneID's window every even minute for one minute, one asset at a time.
func (e *env) evenMinuteWindow(zoneID string) {
	e.t.Helper()
	w := domain.Window{Cron: "*/2 * * * *", Duration: domain.Duration(time.Minute), TimeZone: "UTC", MaxParallel: 1}
	if code := e.call("PUT", "/api/v1/zones/"+zoneID+"/window", e.tokens.Engineer, w, nil); code != http.StatusOK {
		e.t.Fatalf("set window: %d", code)
	}
}

// TestEngineWindowClosesMidCampaign: each simulated step takes 10 s, so an asset is expected to
// need 31 s and a one-minute occurrence fits one asset. The second asset does not start in what
// is left of the first occurrence; the campaign shows waiting for window and completes in the
// next one. It takes three to five minutes.
func TestEngineWindowClosesMidCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for maintenance windows on the wall clock (minutes)")
	}
	t.Parallel()
	e := newEnv(t, envOptions{simStep: 10 * time.Second})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.evenMinuteWindow("zone_packaging")
	hmis := []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02"}
	c := e.approvedCampaign(p.ID, hmis, nil)
	c = e.waitCampaignWithin(7*time.Minute, c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	occurrence := map[string]time.Time{}
	for _, id := range hmis {
		ops, err := e.sim.Operations(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			if op.Op != "deploy" || !strings.HasPrefix(op.IdempotencyKey, c.ID+"/") {
				continue
			}
			start := op.At.UTC().Truncate(2 * time.Minute)
			if op.At.Sub(start) > time.Minute {
				t.Errorf("%s deployed at %s, outside the occurrence %s–%s", id, op.At.UTC().Format(time.TimeOnly), start.Format(time.TimeOnly), start.Add(time.Minute).Format(time.TimeOnly))
			}
			occurrence[id] = start
		}
	}
	if len(occurrence) != 2 || occurrence[hmis[0]].Equal(occurrence[hmis[1]]) {
		t.Fatalf("deploys by occurrence: %v, want the two assets in different occurrences", occurrence)
	}
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{CampaignID: c.ID, Action: "campaign.scheduled"})
	if err != nil {
		t.Fatal(err)
	}
	waited := false
	for _, ev := range evs {
		if strings.Contains(fmt.Sprint(ev.Details), "waiting for window") {
			waited = true
		}
	}
	if !waited {
		t.Errorf("no campaign.scheduled event says the campaign waited for the window: %+v", evs)
	}
}

// TestEngineExpiredApprovalRefused: approvals count for 3 s here. The plan is approved while
// the window is closed; when it opens the approval has expired, so nothing deploys and the
// campaign asks for approval again. A fresh approval inside the window lets it complete.
func TestEngineExpiredApprovalRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a maintenance window on the wall clock (minutes)")
	}
	t.Parallel()
	e := newEnv(t, envOptions{approvalTTL: 3 * time.Second})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	// Approve early in an odd minute, while the window is closed and opens in well over 3 s.
	e.evenMinuteWindow("zone_packaging")
	if now := time.Now().UTC(); now.Minute()%2 == 0 || now.Second() > 30 {
		next := now.Truncate(time.Minute).Add(time.Minute)
		if next.Minute()%2 == 0 {
			next = next.Add(time.Minute)
		}
		time.Sleep(time.Until(next.Add(time.Second)))
	}
	hmi := "ast_pkg-hmi-03"
	c := e.approvedCampaign(p.ID, []string{hmi}, nil)
	approvedAt := time.Now()
	e.waitWithin(3*time.Minute, "the campaign to find its approval expired", func() (bool, string) {
		c = e.campaign(c.ID)
		return strings.Contains(c.Detail, "approval expired") || c.Status == "completed" || c.Status == "halted", c.Status + ": " + c.Detail
	})
	if c.Status != "awaiting_approval" || !strings.Contains(c.Detail, "approval expired") {
		t.Fatalf("campaign %s (%s) when the window opened %s after approval; want awaiting_approval, approval expired", c.Status, c.Detail, time.Since(approvedAt).Round(time.Second))
	}
	if s := e.assetState(c, hmi); s != "pending" {
		t.Fatalf("%s is %s under an expired approval, want pending", hmi, s)
	}
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve again: %d", code)
	}
	c = e.waitCampaignWithin(2*time.Minute, c.ID, "completed", "halted", "rolled_back")
	if c.Status != "completed" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
}
