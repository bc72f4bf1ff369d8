package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// ruleOf is the rule a refusal names, "" for no error; any other error fails the test.
func ruleOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("error %v is not a *Refusal", err)
	}
	return r.Rule
}

func TestPrivileged(t *testing.T) {
	want := map[Role]bool{RoleVendor: false, RoleEngineer: false, RoleApprover: true, RoleSafety: true, RoleAuditor: false, RoleAdmin: true, RoleSystem: false}
	for _, r := range append(Roles, RoleSystem) {
		if got := r.Privileged(); got != want[r] {
			t.Errorf("%s.Privileged() = %v, want %v", r, got, want[r])
		}
	}
}

func TestCheckGrantRequest(t *testing.T) {
	admin := Actor{Name: "adam", Role: RoleAdmin}
	tests := []struct {
		name    string
		by      Actor
		grantee string
		role    Role
		rule    string
	}{
		{"an admin for someone else", admin, "erin", RoleApprover, ""},
		{"an admin for someone else, not privileged", admin, "erin", RoleEngineer, ""},
		{"an admin for himself", admin, "adam", RoleSafety, RuleSelfGrant},
		{"an admin for himself, not privileged", admin, "adam", RoleAuditor, RuleSelfGrant},
		{"an engineer", Actor{Name: "erin", Role: RoleEngineer}, "ute", RoleEngineer, "role"},
		{"an admin's name in another role", Actor{Name: "adam", Role: RoleApprover}, "erin", RoleEngineer, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleOf(t, CheckGrantRequest(tt.by, tt.grantee, tt.role)); got != tt.rule {
				t.Errorf("CheckGrantRequest = rule %q, want %q", got, tt.rule)
			}
		})
	}
}

func TestCheckGrantConfirm(t *testing.T) {
	tests := []struct {
		name               string
		by                 Actor
		requester, grantee string
		rule               string
	}{
		{"a second admin", Actor{Name: "ada", Role: RoleAdmin}, "adam", "erin", ""},
		{"the requester", Actor{Name: "adam", Role: RoleAdmin}, "adam", "erin", RuleTwoPerson},
		{"the grantee", Actor{Name: "erin", Role: RoleAdmin}, "adam", "erin", RuleSelfGrant},
		{"the grantee who asked himself", Actor{Name: "erin", Role: RoleAdmin}, "erin", "erin", RuleSelfGrant},
		{"not an admin", Actor{Name: "ada", Role: RoleApprover}, "adam", "erin", "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleOf(t, CheckGrantConfirm(tt.by, tt.requester, tt.grantee)); got != tt.rule {
				t.Errorf("CheckGrantConfirm = rule %q, want %q", got, tt.rule)
			}
		})
	}
}

func TestCheckComposition(t *testing.T) {
	p := PasswordPolicy{MinLength: 12, MinClasses: 3}
	tests := []struct {
		name, username, password, rule string
	}{
		{"three classes, long enough", "erin", "correctHorse7x", ""},
		{"all four classes", "erin", "Tr0ub4dor&3xy", ""},
		{"exactly the length", "erin", "abcdefghiJ1k", ""},
		{"one character short", "erin", "abcdefghJ1k", RulePasswordLength},
		{"empty", "erin", "", RulePasswordLength},
		{"length counts characters, not bytes", "erin", "äöüäöüäöüÄ1x", ""},
		{"short in characters though long in bytes", "erin", "äöüäöüÄ1x", RulePasswordLength},
		{"too long", "erin", strings.Repeat("aB1-", MaxPasswordLength/4+1), RulePasswordLength},
		{"two classes", "erin", "abcdefghijk1", RulePasswordClasses},
		{"one class", "erin", "abcdefghijklmnop", RulePasswordClasses},
		{"contains the username", "erin", "xxErin-2026!yy", RulePasswordName},
		{"contains the username in another case", "Erin", "xxerin-2026!yy", RulePasswordName},
		{"no username given", "", "xxErin-2026!yy", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleOf(t, p.CheckComposition(tt.username, tt.password)); got != tt.rule {
				t.Errorf("CheckComposition(%q, %q) = rule %q, want %q", tt.username, tt.password, got, tt.rule)
			}
		})
	}
	if err := (PasswordPolicy{MinLength: 12, MinClasses: 4}).CheckComposition("erin", "correctHorse7x"); ruleOf(t, err) != RulePasswordClasses {
		t.Errorf("three classes under a four-class policy = %v, want %s", err, RulePasswordClasses)
	}
	if err := DefaultPasswordPolicy().CheckComposition("erin", "abcdefghijk1"); ruleOf(t, err) != RulePasswordClasses {
		t.Errorf("two classes under the default policy = %v, want %s", err, RulePasswordClasses)
	}
}

func TestPasswordExpired(t *testing.T) {
	set := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	year := PasswordPolicy{MaxAge: 365 * 24 * time.Hour}
	tests := []struct {
		name string
		p    PasswordPolicy
		set  time.Time
		now  time.Time
		want bool
	}{
		{"a day old", year, set, set.Add(24 * time.Hour), false},
		{"a second before the end", year, set, set.Add(year.MaxAge - time.Second), false},
		{"at the end", year, set, set.Add(year.MaxAge), true},
		{"past the end", year, set, set.Add(2 * year.MaxAge), true},
		{"no limit", PasswordPolicy{}, set, set.Add(100 * year.MaxAge), false},
		{"never set", year, time.Time{}, set, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Expired(tt.set, tt.now); got != tt.want {
				t.Errorf("Expired = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFirstHeld(t *testing.T) {
	tests := []struct {
		name  string
		roles []Role
		want  Role
		ok    bool
	}{
		{"none", nil, "", false},
		{"one", []Role{RoleAuditor}, RoleAuditor, true},
		{"least privileged first, whatever the order given", []Role{RoleAdmin, RoleApprover, RoleEngineer}, RoleEngineer, true},
		{"vendor before staff roles", []Role{RoleSafety, RoleVendor}, RoleVendor, true},
		{"roles a user cannot act in are skipped", []Role{RoleSystem, Role("agent"), RoleSafety}, RoleSafety, true},
		{"only roles a user cannot act in", []Role{RoleSystem}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FirstHeld(tt.roles)
			if got != tt.want || ok != tt.ok {
				t.Errorf("FirstHeld(%v) = %q, %v; want %q, %v", tt.roles, got, ok, tt.want, tt.ok)
			}
		})
	}
}
