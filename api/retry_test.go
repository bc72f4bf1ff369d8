package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
)

// send posts a JSON body with an X-Request-Id, as a client that retries a request does.
func (e *env) send(path, token, requestID string, body any) int {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", e.url+path, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", requestID)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestRetriedUpdatesApplyOnce: a client that sends the same decision or operation again with
// the same X-Request-Id (its answer was lost) gets the first answer again, and the campaign
// applies it once; the same request id from another person is another request.
func TestRetriedUpdatesApplyOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1000))
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "retried", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-01"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	if c.Status != "awaiting_approval" {
		t.Fatalf("campaign %s: %s", c.Status, c.Detail)
	}
	decisions := "/api/v1/campaigns/" + c.ID + "/decisions"
	approve := map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}
	for i := range 2 {
		if code := e.send(decisions, e.tokens.Approver, "approve-once", approve); code != http.StatusOK {
			t.Fatalf("decision, attempt %d with the same request id: %d, want 200 both times", i+1, code)
		}
	}
	if code := e.send(decisions, e.tokens.Approver, "approve-again", approve); code != http.StatusConflict {
		t.Errorf("the same approval as a new request: %d, want 409 (already decided)", code)
	}
	approvals, err := e.store.Approvals(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(approvals) != 1 {
		t.Errorf("%d approvals recorded, want 1", len(approvals))
	}

	pause := "/api/v1/campaigns/" + c.ID + "/pause"
	for i := range 2 {
		if code := e.send(pause, e.tokens.Engineer, "pause-once", map[string]any{"reason": "shift change"}); code != http.StatusOK {
			t.Fatalf("pause, attempt %d with the same request id: %d, want 200 both times", i+1, code)
		}
	}
	if code := e.send(pause, e.tokens.Admin, "pause-once", map[string]any{"reason": "another person"}); code != http.StatusConflict {
		t.Errorf("a pause by another person with the same request id: %d, want 409 (already paused): it is another request", code)
	}
}
