package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// People: a user is a person with a unique, stable username; roles are granted to users, and
// every session and token acts as one user in one of the roles granted to him. The rules here
// are the separation of duties that one person cannot defeat, and the password policy of
// local accounts (IEC 62443-2-4 SP.09.05 and SP.09.06).

// Privileged reports whether a grant of r needs a second admin's confirmation (two-person
// rule): the roles that approve changes or grant roles.
func (r Role) Privileged() bool {
	return r == RoleApprover || r == RoleSafety || r == RoleAdmin
}

// ReservedUsername reports whether n names one of otpatch's own actors in the audit trail
// (the identity provider, the bootstrap, the demo, migrations, the engine, anonymous
// requests), which no person may take.
func ReservedUsername(n string) bool {
	switch strings.ToLower(n) {
	case "idp", "bootstrap", "demo", "migration", "otpatch", "system", "anonymous":
		return true
	}
	return strings.HasPrefix(strings.ToLower(n), "agent:")
}

// Grant rules, as named in refusals.
const (
	RuleSelfGrant   = "self_grant"
	RuleTwoPerson   = "two_person"
	RuleIdPRoles    = "idp_roles"
	RuleLastAdmin   = "last_admin"
	RuleVendorGrant = "vendor_grant"
)

// CheckGrantRequest says whether admin may ask for role to be granted to grantee (a username).
func CheckGrantRequest(admin Actor, grantee string, role Role) error {
	if admin.Role != RoleAdmin {
		return &Refusal{Rule: "role", Message: fmt.Sprintf("role %q cannot grant roles; an admin must", admin.Role)}
	}
	if admin.Name == grantee {
		return &Refusal{Rule: RuleSelfGrant, Message: fmt.Sprintf("%s cannot grant a role to himself; another admin must ask for it", admin.Name)}
	}
	return nil
}

// CheckGrantConfirm says whether admin may confirm a pending grant that requester asked for
// grantee: never the requester himself, never the grantee.
func CheckGrantConfirm(admin Actor, requester, grantee string) error {
	if admin.Role != RoleAdmin {
		return &Refusal{Rule: "role", Message: fmt.Sprintf("role %q cannot confirm grants; a second admin must", admin.Role)}
	}
	if admin.Name == grantee {
		return &Refusal{Rule: RuleSelfGrant, Message: fmt.Sprintf("%s cannot confirm a role granted to himself; another admin must", admin.Name)}
	}
	if admin.Name == requester {
		return &Refusal{Rule: RuleTwoPerson, Message: fmt.Sprintf("%s asked for this grant and so cannot confirm it; a privileged role needs a second admin's confirmation", admin.Name)}
	}
	return nil
}

// CheckCredentialIssuer says whether admin may confirm a privileged role for grantee, whose
// password issuer (the admin who created the account with a password he handed over, or reset
// it) is: an admin who knows or knew the account's password could act as it, so he is the
// grantee's counterpart and another admin must confirm.
func CheckCredentialIssuer(admin Actor, issuer, grantee string) error {
	if issuer != "" && admin.Name == issuer {
		return &Refusal{Rule: RuleTwoPerson, Message: fmt.Sprintf("%s issued %s's password and so cannot confirm a role for that account; another admin must", admin.Name, grantee)}
	}
	return nil
}

// PasswordPolicy is the policy of local accounts' passwords and sign-ins.
type PasswordPolicy struct {
	// MinLength is the fewest characters a password has (SP.09.05).
	MinLength int
	// MinClasses is how many of the four character classes (lower case, upper case, digits,
	// other characters) a password uses (SP.09.05).
	MinClasses int
	// MaxAge is how long a password serves before it must be changed; 0: no limit (SP.09.06).
	MaxAge time.Duration
	// History is how many earlier passwords a new one may not repeat (SP.09.06).
	History int
	// LockoutFailures failed sign-ins in a row lock the account for LockoutFor.
	LockoutFailures int
	LockoutFor      time.Duration
}

// DefaultPasswordPolicy is the policy when the server sets none.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLength: 12, MinClasses: 3, MaxAge: 365 * 24 * time.Hour, History: 5, LockoutFailures: 5, LockoutFor: 15 * time.Minute}
}

// MaxPasswordLength bounds a password (the hash input).
const MaxPasswordLength = 256

// Password rules, as named in refusals.
const (
	RulePasswordLength  = "password_length"
	RulePasswordClasses = "password_classes"
	RulePasswordName    = "password_name"
	RulePasswordReuse   = "password_reuse"
)

// CheckComposition says whether password meets the policy's composition rules for username.
func (p PasswordPolicy) CheckComposition(username, password string) error {
	n := len([]rune(password))
	if n < p.MinLength {
		return &Refusal{Rule: RulePasswordLength, Message: fmt.Sprintf("the password has %d characters; it needs at least %d (password policy, IEC 62443-2-4 SP.09.05)", n, p.MinLength)}
	}
	if len(password) > MaxPasswordLength {
		return &Refusal{Rule: RulePasswordLength, Message: fmt.Sprintf("the password is longer than %d bytes", MaxPasswordLength)}
	}
	var lower, upper, digit, other bool
	for _, c := range password {
		switch {
		case unicode.IsLower(c):
			lower = true
		case unicode.IsUpper(c):
			upper = true
		case unicode.IsDigit(c):
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			classes++
		}
	}
	if classes < p.MinClasses {
		return &Refusal{Rule: RulePasswordClasses, Message: fmt.Sprintf("the password uses %d of the four character classes (lower case, upper case, digits, other); it needs %d (password policy, IEC 62443-2-4 SP.09.05)", classes, p.MinClasses)}
	}
	if username != "" && strings.Contains(strings.ToLower(password), strings.ToLower(username)) {
		return &Refusal{Rule: RulePasswordName, Message: "the password contains the username"}
	}
	return nil
}

// Expired reports whether a password set at setAt must be changed at now.
func (p PasswordPolicy) Expired(setAt, now time.Time) bool {
	return p.MaxAge > 0 && !setAt.IsZero() && now.Sub(setAt) >= p.MaxAge
}

// SignInMethod is how a session was opened.
type SignInMethod string

// Sign-in methods.
const (
	SignInPassword SignInMethod = "password"
	SignInOIDC     SignInMethod = "oidc"
	SignInToken    SignInMethod = "token"
)

// FirstHeld is the role an identity holding roles acts in when it names none: the first of
// them in Roles' order, so the least privileged of the staff roles.
func FirstHeld(roles []Role) (Role, bool) {
	for _, r := range Roles {
		for _, h := range roles {
			if r == h {
				return r, true
			}
		}
	}
	return "", false
}
