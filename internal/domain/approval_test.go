package domain

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPolicyFor(t *testing.T) {
	target := func(slt int, safety bool) PlanTarget {
		return PlanTarget{AssetID: "ast", ZoneID: "zone", SLT: slt, SafetyCritical: safety, Window: validWindow()}
	}
	tests := []struct {
		name        string
		targets     []PlanTarget
		approvals   int
		needsSafety bool
	}{
		{"no targets", nil, 1, false},
		{"SL-T 1 and 2 only", []PlanTarget{target(1, false), target(2, false)}, 1, false},
		{"one SL-T 3 target", []PlanTarget{target(1, false), target(3, false)}, 2, true},
		{"SL-T 4", []PlanTarget{target(4, false)}, 2, true},
		{"safety-critical asset in an SL-T 1 zone", []PlanTarget{target(1, false), target(1, true)}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := PolicyFor(Plan{Targets: tt.targets}, 0)
			if pol.Approvals != tt.approvals || pol.NeedsSafety != tt.needsSafety {
				t.Errorf("PolicyFor = %d approvals, needs safety %v; want %d, %v", pol.Approvals, pol.NeedsSafety, tt.approvals, tt.needsSafety)
			}
		})
	}

	ttls := []struct {
		name string
		in   time.Duration
		want time.Duration
	}{
		{"default", 0, DefaultApprovalTTL},
		{"negative means default", -time.Hour, DefaultApprovalTTL},
		{"configured", 48 * time.Hour, 48 * time.Hour},
	}
	for _, tt := range ttls {
		t.Run("ttl "+tt.name, func(t *testing.T) {
			if got := time.Duration(PolicyFor(Plan{}, tt.in).TTL); got != tt.want {
				t.Errorf("PolicyFor(ttl %s).TTL = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckApprover(t *testing.T) {
	const creator, digest = "eve.engineer", "d1"
	pol := Policy{Approvals: 2, NeedsSafety: true, TTL: Duration(DefaultApprovalTTL)}
	given := []Approval{{Actor: "omar.ops", Role: RoleApprover, PlanDigest: digest, At: time.Now()}}
	tests := []struct {
		name   string
		actor  Actor
		digest string
		given  []Approval
		rule   string // "" when allowed
		msg    string
	}{
		{name: "approver", actor: Actor{Name: "omar.ops", Role: RoleApprover}, digest: digest},
		{name: "safety officer", actor: Actor{Name: "sofia.safety", Role: RoleSafety}, digest: digest, given: given},
		{name: "engineer", actor: Actor{Name: "ed.eng", Role: RoleEngineer}, digest: digest,
			rule: "role", msg: `role "engineer" cannot approve`},
		{name: "auditor", actor: Actor{Name: "ann.audit", Role: RoleAuditor}, digest: digest, rule: "role"},
		{name: "admin", actor: Actor{Name: "root", Role: RoleAdmin}, digest: digest, rule: "role"},
		{name: "vendor", actor: Actor{Name: "siemens-bot", Role: RoleVendor, VendorID: "vnd_1"}, digest: digest, rule: "role"},
		{name: "creator holding the approver role", actor: Actor{Name: creator, Role: RoleApprover}, digest: digest,
			rule: "creator", msg: "eve.engineer created this campaign and so cannot approve it"},
		{name: "creator holding the safety role", actor: Actor{Name: creator, Role: RoleSafety}, digest: digest, rule: "creator"},
		{name: "approves an outdated plan", actor: Actor{Name: "omar.ops", Role: RoleApprover}, digest: "d0",
			rule: "plan_digest", msg: `plan digest "d0" is not the campaign's current plan; open the campaign`},
		{name: "approves twice", actor: Actor{Name: "omar.ops", Role: RoleApprover}, digest: digest, given: given,
			rule: "distinct", msg: "omar.ops has already approved this plan"},
		{name: "second approval by someone else", actor: Actor{Name: "olga.ops", Role: RoleApprover}, digest: digest, given: given},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pol.CheckApprover(creator, tt.actor, tt.digest, digest, tt.given)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("CheckApprover refused %s: %v", tt.actor.Name, err)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) || !IsRefusal(err) {
				t.Fatalf("CheckApprover = %v (%T), want a *Refusal for rule %q", err, err, tt.rule)
			}
			if r.Rule != tt.rule {
				t.Errorf("refused by rule %q (%s), want rule %q", r.Rule, r.Message, tt.rule)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not say %q", err, tt.msg)
			}
		})
	}
	if IsRefusal(errors.New("database down")) {
		t.Error("IsRefusal must be false for an error that is not a refusal")
	}
}

func TestPolicySatisfied(t *testing.T) {
	now := time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
	const digest = "d1"
	ttl := 7 * 24 * time.Hour
	dual := Policy{Approvals: 2, NeedsSafety: true, TTL: Duration(ttl)}
	single := Policy{Approvals: 1, TTL: Duration(ttl)}
	ap := func(actor string, role Role, age time.Duration) Approval {
		return Approval{Actor: actor, Role: role, PlanDigest: digest, At: now.Add(-age)}
	}
	stale := ap("sofia.safety", RoleSafety, time.Hour)
	stale.PlanDigest = "d0"
	tests := []struct {
		name  string
		pol   Policy
		given []Approval
		want  bool
	}{
		{"single: none", single, nil, false},
		{"single: one approver", single, []Approval{ap("omar.ops", RoleApprover, time.Hour)}, true},
		{"single: a safety officer also counts", single, []Approval{ap("sofia.safety", RoleSafety, time.Hour)}, true},
		{"single: approval expired", single, []Approval{ap("omar.ops", RoleApprover, ttl+time.Second)}, false},
		{"single: approval exactly at its TTL is still valid", single, []Approval{ap("omar.ops", RoleApprover, ttl)}, true},
		{"dual: one approver", dual, []Approval{ap("omar.ops", RoleApprover, time.Hour)}, false},
		{"dual: two approvers but no safety", dual, []Approval{ap("omar.ops", RoleApprover, time.Hour), ap("olga.ops", RoleApprover, time.Hour)}, false},
		{"dual: approver and safety", dual, []Approval{ap("omar.ops", RoleApprover, time.Hour), ap("sofia.safety", RoleSafety, time.Hour)}, true},
		{"dual: two safety officers", dual, []Approval{ap("sam.safety", RoleSafety, time.Hour), ap("sofia.safety", RoleSafety, time.Hour)}, true},
		{"dual: the safety approval expired", dual, []Approval{ap("omar.ops", RoleApprover, time.Hour), ap("sofia.safety", RoleSafety, ttl+time.Minute)}, false},
		{"dual: the safety approval is for an older plan", dual, []Approval{ap("omar.ops", RoleApprover, time.Hour), stale}, false},
		{"dual: one safety officer recorded twice is one approver", dual, []Approval{ap("sofia.safety", RoleSafety, 2*time.Hour), ap("sofia.safety", RoleSafety, time.Hour)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pol.Satisfied(tt.given, digest, now); got != tt.want {
				t.Errorf("Satisfied = %v, want %v (policy %+v, approvals %+v)", got, tt.want, tt.pol, tt.given)
			}
		})
	}
}

func TestPlanDigest(t *testing.T) {
	zurich := validWindow()
	chicago := Window{Cron: "0 1 * * 0", Duration: Duration(3 * time.Hour), TimeZone: "America/Chicago", MaxParallel: 1}
	base := func() Plan {
		return Plan{PatchID: "pat_1", ManifestSHA256: strings.Repeat("a", 64), Targets: []PlanTarget{
			{AssetID: "ast_a", ZoneID: "zone_cell", SLT: 2, Window: zurich},
			{AssetID: "ast_b", ZoneID: "zone_cell", SLT: 2, TestBench: true, Window: zurich},
			{AssetID: "ast_c", ZoneID: "zone_sis", SLT: 3, SafetyCritical: true, Window: chicago},
		}}
	}
	want := base().Digest()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(want) {
		t.Fatalf("Digest() = %q, want 64 hex digits", want)
	}

	t.Run("reordered targets keep the digest", func(t *testing.T) {
		p := base()
		p.Targets[0], p.Targets[2] = p.Targets[2], p.Targets[0]
		order := []string{p.Targets[0].AssetID, p.Targets[1].AssetID, p.Targets[2].AssetID}
		if got := p.Digest(); got != want {
			t.Errorf("reordered plan digest %s, want %s", got, want)
		}
		if p.Targets[0].AssetID != order[0] || p.Targets[2].AssetID != order[2] {
			t.Error("Digest reordered the caller's targets")
		}
	})

	changes := []struct {
		name   string
		change func(p *Plan)
	}{
		{"another patch", func(p *Plan) { p.PatchID = "pat_2" }},
		{"another manifest", func(p *Plan) { p.ManifestSHA256 = strings.Repeat("b", 64) }},
		{"a target removed", func(p *Plan) { p.Targets = p.Targets[:2] }},
		{"a target added", func(p *Plan) {
			p.Targets = append(p.Targets, PlanTarget{AssetID: "ast_d", ZoneID: "zone_cell", SLT: 2, Window: zurich})
		}},
		{"a target swapped for another asset", func(p *Plan) { p.Targets[0].AssetID = "ast_z" }},
		{"a target moved to another zone", func(p *Plan) { p.Targets[0].ZoneID = "zone_dmz" }},
		{"a zone's SL-T raised", func(p *Plan) { p.Targets[1].SLT = 3 }},
		{"an asset marked safety-critical", func(p *Plan) { p.Targets[0].SafetyCritical = true }},
		{"test bench flag", func(p *Plan) { p.Targets[1].TestBench = false }},
		{"window cron", func(p *Plan) { p.Targets[0].Window.Cron = "0 3 * * 6" }},
		{"window duration", func(p *Plan) { p.Targets[0].Window.Duration = Duration(5 * time.Hour) }},
		{"window time zone", func(p *Plan) { p.Targets[0].Window.TimeZone = "Europe/Berlin" }},
		{"window parallelism", func(p *Plan) { p.Targets[2].Window.MaxParallel = 4 }},
		{"window blackout added", func(p *Plan) {
			p.Targets[2].Window.Blackouts = []Blackout{{From: time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}}
		}},
		{"a backup waived", func(p *Plan) {
			*p, _ = p.WithWaiver(PlanWaiver{AssetID: "ast_a", By: "ed", Role: RoleEngineer, Reason: "backup port broken", At: time.Date(2026, 6, 4, 2, 0, 0, 0, time.UTC)})
		}},
	}
	seen := map[string]string{want: "base plan"}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			p := base()
			c.change(&p)
			got := p.Digest()
			if prev, dup := seen[got]; dup {
				t.Fatalf("digest %s after %q equals the digest of %s; approvals of the old plan would still count", got, c.name, prev)
			}
			seen[got] = c.name
		})
	}
}

func TestPlanWithWaiver(t *testing.T) {
	p := Plan{PatchID: "pat_1", Targets: []PlanTarget{{AssetID: "ast_b", Name: "pkg-hmi-02"}, {AssetID: "ast_a", Name: "pkg-hmi-01"}}}
	before := p.Digest()
	at := time.Date(2026, 6, 4, 4, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	w := PlanWaiver{AssetID: "ast_b", By: "ed", Role: RoleEngineer, Reason: "backup port broken", At: at}
	got, changed := p.WithWaiver(w)
	if !changed || len(got.Waivers) != 1 || got.Waivers[0].Name != "pkg-hmi-02" || !got.Waivers[0].At.Equal(at) || got.Waivers[0].At.Location() != time.UTC {
		t.Fatalf("WithWaiver = %+v, %v; want one waiver named after its target, at %s in UTC", got.Waivers, changed, at)
	}
	if got.Digest() == before {
		t.Error("a waiver left the digest as it was; approvals of the plan without it would still count")
	}
	if len(p.Waivers) != 0 {
		t.Error("WithWaiver changed the caller's plan")
	}
	if again, changed := got.WithWaiver(PlanWaiver{AssetID: "ast_b", By: "ada", Role: RoleAdmin, Reason: "again"}); changed || again.Digest() != got.Digest() {
		t.Errorf("second waiver of ast_b changed the plan: %+v", again.Waivers)
	}
	if _, changed := got.WithWaiver(PlanWaiver{AssetID: "ast_z", By: "ed", Reason: "x"}); changed {
		t.Error("a waiver of an asset that is not a target changed the plan")
	}
	both, _ := got.WithWaiver(PlanWaiver{AssetID: "ast_a", By: "ed", Role: RoleEngineer, Reason: "same", At: at})
	if w, ok := both.WaiverFor("ast_a"); !ok || both.Waivers[0].AssetID != "ast_a" || w.Name != "pkg-hmi-01" {
		t.Errorf("waivers %+v, want sorted by asset id", both.Waivers)
	}
	var old Plan
	if err := json.Unmarshal([]byte(`{"patch_id":"pat_1","manifest_sha256":"","targets":[]}`), &old); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(old); strings.Contains(string(b), "waivers") {
		t.Errorf("a plan without waivers marshals as %s; older plans would change their digest", b)
	}
}
