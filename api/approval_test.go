package api_test

import (
	"net/http"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestApprovalRules exercises the approval policy through the API: the workflow's validator
// refuses and the API answers with the rule that refused.
func TestApprovalRules(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 2048))
	// Carl plans the campaign as an engineer, then is made an approver too (asked by one admin,
	// confirmed by the other): he holds both roles and acts in the one his token names.
	carlID, carl := e.person("carl-engineer", domain.RoleEngineer, "")
	_, otherApprover := e.person("olga-operations", domain.RoleApprover, "")

	// A safety-critical SL-T 4 target needs two approvers, one of them safety.
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", carl, map[string]any{"name": "SIS HMI", "patch_id": p.ID, "asset_ids": []string{"ast_sis-hmi-01"}}, &c); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	e.grantRole(carlID, domain.RoleApprover)
	tok := e.mintInRole("carl-engineer", "approving", "approver")
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	decide := func(token, decision, digest, reason string) (int, problemDoc) {
		var p problemDoc
		code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", token, map[string]any{"decision": decision, "plan_digest": digest, "reason": reason}, &p)
		return code, p
	}
	for _, tc := range []struct {
		name, token, decision, digest, reason string
		status                                int
		rule                                  string
	}{
		{"the creator approving", tok.Token, "approve", c.PlanDigest, "", http.StatusConflict, "creator"},
		{"a changed plan", e.tokens.Approver, "approve", "0000", "", http.StatusUnprocessableEntity, "plan_digest"},
		{"a rejection without reason", e.tokens.Approver, "reject", c.PlanDigest, "", http.StatusUnprocessableEntity, "reason"},
		{"an unknown decision", e.tokens.Approver, "maybe", c.PlanDigest, "", http.StatusUnprocessableEntity, "decision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, p := decide(tc.token, tc.decision, tc.digest, tc.reason)
			if code != tc.status || p.Rule != tc.rule {
				t.Errorf("got %d rule %q (%s), want %d rule %q", code, p.Rule, p.Detail, tc.status, tc.rule)
			}
		})
	}
	if code, p := decide(e.tokens.Approver, "approve", c.PlanDigest, ""); code != http.StatusOK {
		t.Fatalf("first approval: %d %s", code, p.Detail)
	}
	if code, p := decide(e.tokens.Approver, "approve", c.PlanDigest, ""); code != http.StatusConflict || p.Rule != "distinct" {
		t.Errorf("second approval by the same approver: %d rule %q", code, p.Rule)
	}
	// Two approvers without the safety role do not satisfy an SL-T 4 plan.
	var res struct {
		Satisfied   bool `json:"satisfied"`
		NeedsSafety bool `json:"needs_safety"`
	}
	e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", otherApprover, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, &res)
	if res.Satisfied || !res.NeedsSafety {
		t.Errorf("two approvers without safety: %+v, want unsatisfied, needs safety", res)
	}
	if got := e.campaign(c.ID); got.Status != "awaiting_approval" {
		t.Errorf("campaign %s after two non-safety approvals", got.Status)
	}
	e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Safety, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, &res)
	if !res.Satisfied {
		t.Errorf("with safety: %+v, want satisfied", res)
	}
	// The SL-T 4 zone's window is monthly: the approved campaign now waits for it.
	c = e.waitCampaign(c.ID, "scheduled")
	if c.Detail == "" {
		t.Errorf("a scheduled campaign should say which window it waits for")
	}
	e.checkAudit(t, c.ID, []string{"campaign.approved", "campaign.decision_refused", "campaign.scheduled"})

	t.Run("rejection ends the campaign", func(t *testing.T) {
		var c2 campaignDoc
		e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "to reject", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-04"}}, &c2)
		c2 = e.waitCampaign(c2.ID, "awaiting_approval")
		var p problemDoc
		if code := e.call("POST", "/api/v1/campaigns/"+c2.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "reject", "plan_digest": c2.PlanDigest, "reason": "line 2 runs a customer order this week"}, &p); code != http.StatusOK {
			t.Fatalf("reject: %d %s", code, p.Detail)
		}
		c2 = e.waitCampaign(c2.ID, "rejected")
		if code := e.call("POST", "/api/v1/campaigns/"+c2.ID+"/decisions", e.tokens.Safety, map[string]any{"decision": "approve", "plan_digest": c2.PlanDigest}, &p); code != http.StatusConflict || p.Rule != "" && p.Rule != "state" {
			t.Errorf("approving a rejected campaign: %d %q", code, p.Rule)
		}
	})
}
