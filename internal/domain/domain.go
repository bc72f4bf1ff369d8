// Package domain holds otpatch's domain types and rules: roles, the patch manifest, campaign
// and asset states, maintenance-window arithmetic, vendor version comparison and the approval
// policy. It does no I/O, so every other package may import it.
package domain

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Role is what a bearer token is allowed to do.
type Role string

// The roles of DESIGN.md.
const (
	RoleVendor   Role = "vendor"
	RoleEngineer Role = "engineer"
	RoleApprover Role = "approver"
	RoleSafety   Role = "safety"
	RoleAuditor  Role = "auditor"
	RoleAdmin    Role = "admin"
	// RoleSystem is the actor role of events written by the workflow engine itself.
	RoleSystem Role = "system"
)

// Roles lists every role a token can carry.
var Roles = []Role{RoleVendor, RoleEngineer, RoleApprover, RoleSafety, RoleAuditor, RoleAdmin}

// Valid reports whether r is a role a token can carry.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// Actor is who does something: a user (Name is his unique username) acting in one role he
// holds. VendorID is set for vendors; UserID is the user's id (empty for the engine and agents).
type Actor struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	VendorID string `json:"vendor_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
}

// SystemActor is the actor recorded for transitions made by the workflow engine.
var SystemActor = Actor{Name: "otpatch", Role: RoleSystem}

// PatchStatus is where a patch is in qualification.
type PatchStatus string

// Patch states: submitted → qualifying → qualified | rejected.
const (
	PatchSubmitted  PatchStatus = "submitted"
	PatchQualifying PatchStatus = "qualifying"
	PatchQualified  PatchStatus = "qualified"
	PatchRejected   PatchStatus = "rejected"
)

// CampaignStatus is where a campaign is in its lifecycle.
type CampaignStatus string

// Campaign states, in lifecycle order.
const (
	CampaignDraft            CampaignStatus = "draft"
	CampaignTesting          CampaignStatus = "testing"
	CampaignTestFailed       CampaignStatus = "test_failed"
	CampaignAwaitingApproval CampaignStatus = "awaiting_approval"
	CampaignApproved         CampaignStatus = "approved"
	CampaignRejected         CampaignStatus = "rejected"
	CampaignScheduled        CampaignStatus = "scheduled"
	CampaignDeploying        CampaignStatus = "deploying"
	CampaignCompleted        CampaignStatus = "completed"
	CampaignHalted           CampaignStatus = "halted"
	CampaignRolledBack       CampaignStatus = "rolled_back"
	CampaignAborted          CampaignStatus = "aborted"
)

// Terminal reports whether no further transition follows s.
func (s CampaignStatus) Terminal() bool {
	return slices.Contains(TerminalStatuses(), string(s))
}

// TerminalStatuses are the statuses of a campaign that has ended, as stored (for queries).
func TerminalStatuses() []string {
	return []string{string(CampaignTestFailed), string(CampaignRejected), string(CampaignCompleted),
		string(CampaignHalted), string(CampaignRolledBack), string(CampaignAborted)}
}

// AssetState is where one asset is within a campaign.
type AssetState string

// Asset states of DESIGN.md.
const (
	AssetPending        AssetState = "pending"
	AssetBackingUp      AssetState = "backing_up"
	AssetBackedUp       AssetState = "backed_up"
	AssetDeploying      AssetState = "deploying"
	AssetVerifying      AssetState = "verifying"
	AssetDone           AssetState = "done"
	AssetFailed         AssetState = "failed"
	AssetRollingBack    AssetState = "rolling_back"
	AssetRolledBack     AssetState = "rolled_back"
	AssetRollbackFailed AssetState = "rollback_failed"
	AssetSkipped        AssetState = "skipped"
	// AssetDrifted: the device did not run the plan's from-version when its turn came; it was
	// left as it was and nothing was deployed.
	AssetDrifted AssetState = "drifted"
	// AssetNotStarted: the campaign ended (aborted, halted) before the asset's turn.
	AssetNotStarted AssetState = "not_started"
	// AssetAborted: an abort interrupted the asset's change and its backup was restored.
	AssetAborted AssetState = "aborted"
	// AssetSiteUnreachable: no worker of the asset's site took its device work within the
	// site's waiting limit; nothing was deployed.
	AssetSiteUnreachable AssetState = "site_unreachable"
)

// AssetStates lists every asset state, in lifecycle order (API enums and UI labels come from here).
func AssetStates() []AssetState {
	return []AssetState{AssetPending, AssetBackingUp, AssetBackedUp, AssetDeploying, AssetVerifying, AssetDone,
		AssetFailed, AssetRollingBack, AssetRolledBack, AssetRollbackFailed, AssetSkipped, AssetDrifted,
		AssetNotStarted, AssetAborted, AssetSiteUnreachable}
}

// Final reports whether an asset in state s will not change again within its campaign.
func (s AssetState) Final() bool {
	switch s {
	case AssetDone, AssetRolledBack, AssetRollbackFailed, AssetSkipped, AssetDrifted, AssetNotStarted, AssetAborted, AssetSiteUnreachable:
		return true
	}
	return false
}

// FieldError is one failing field of a validation.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every failing field of an input.
type ValidationError struct {
	What   string       `json:"-"`
	Fields []FieldError `json:"errors"`
}

func (e *ValidationError) Error() string {
	msg := e.What + " is invalid:"
	for i, f := range e.Fields {
		if i > 0 {
			msg += ";"
		}
		msg += fmt.Sprintf(" %s: %s", f.Field, f.Message)
	}
	return msg
}

// Add records a failing field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e when a field failed, nil otherwise.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// TextFault says what is wrong with a required text of at most max characters: "is required"
// when it is blank, "is 5000 characters; at most 200" when it is too long, "" when it is fine.
func TextFault(value string, max int) string {
	if strings.TrimSpace(value) == "" {
		return "is required"
	}
	if n := utf8.RuneCountInString(value); n > max {
		return fmt.Sprintf("is %d characters; at most %d", n, max)
	}
	return ""
}

// Text records field's fault when value is blank or longer than max characters (TextFault),
// followed by hint when one is given.
func (e *ValidationError) Text(field, value string, max int, hint ...string) {
	if f := TextFault(value, max); f != "" {
		e.Fields = append(e.Fields, FieldError{Field: field, Message: strings.Join(append([]string{f}, hint...), ": ")})
	}
}

// MaxNameLength bounds names (vendors, products, assets, users, tokens, patch ids).
const MaxNameLength = 128

// NameFault says what is wrong with a name, "" when it is fine: a name is 1 to MaxNameLength
// letters, digits, '.', '_', '+' or '-'.
func NameFault(n string) string {
	if n == "" {
		return "is required"
	}
	if c := utf8.RuneCountInString(n); c > MaxNameLength {
		return fmt.Sprintf("is %d characters; at most %d", c, MaxNameLength)
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._+-", c)) {
			return fmt.Sprintf("may hold only letters, digits, '.', '_', '+' or '-', got %q", n)
		}
	}
	return ""
}
