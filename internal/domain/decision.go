package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Decisions on advisories (IEC TR 62443-2-3 information gathering, NERC CIP-007-6 R2): for an
// advisory and a group of the assets it hits, the asset owner decides to patch, to mitigate
// with a compensating control, to accept the risk for a while, or that the assets are not
// affected (a CSAF VEX statement). A newer decision for an asset and advisory supersedes the
// older one, which is kept.

// DecisionKind is what was decided.
type DecisionKind string

// Decision kinds.
const (
	// DecisionPatch plans a campaign with the qualified patch that fixes the assets.
	DecisionPatch DecisionKind = "patch"
	// DecisionMitigate puts a compensating control in place, on a NERC mitigation plan.
	DecisionMitigate DecisionKind = "mitigate"
	// DecisionAccept accepts the risk until an expiry; another person approves it.
	DecisionAccept DecisionKind = "accept"
	// DecisionNotAffected states, with a CSAF VEX justification, that the assets are not affected.
	DecisionNotAffected DecisionKind = "not_affected"
)

// DecisionKinds lists the kinds in the order they are offered.
func DecisionKinds() []DecisionKind {
	return []DecisionKind{DecisionPatch, DecisionMitigate, DecisionAccept, DecisionNotAffected}
}

// Valid reports whether k is a known kind.
func (k DecisionKind) Valid() bool { return slices.Contains(DecisionKinds(), k) }

// DecisionState is where a decision is.
type DecisionState string

// Decision states: pending → active → expired; pending → rejected; pending | active → superseded.
const (
	// DecisionPending is a risk acceptance that awaits its approval.
	DecisionPending DecisionState = "pending"
	// DecisionActive is a decision in force.
	DecisionActive DecisionState = "active"
	// DecisionExpired is an accepted risk past its expiry: it no longer counts.
	DecisionExpired DecisionState = "expired"
	// DecisionSuperseded is a decision a newer one replaced for every asset it covered.
	DecisionSuperseded DecisionState = "superseded"
	// DecisionRejected is a risk acceptance its approver refused, with the reason: it never
	// counted.
	DecisionRejected DecisionState = "rejected"
)

// DecisionStates lists the states in lifecycle order.
func DecisionStates() []DecisionState {
	return []DecisionState{DecisionPending, DecisionActive, DecisionExpired, DecisionSuperseded, DecisionRejected}
}

// decisionMoves are the allowed transitions.
var decisionMoves = map[DecisionState][]DecisionState{
	DecisionPending: {DecisionActive, DecisionRejected, DecisionSuperseded},
	DecisionActive:  {DecisionExpired, DecisionSuperseded},
}

// CanMoveTo reports whether a decision in state s may move to t.
func (s DecisionState) CanMoveTo(t DecisionState) bool { return slices.Contains(decisionMoves[s], t) }

// Counts reports whether a decision in state s is in force: pending, expired and superseded
// decisions do not count.
func (s DecisionState) Counts() bool { return s == DecisionActive }

// DecisionStateInfo lists the decision states for people.
func DecisionStateInfo() []StateInfo {
	return []StateInfo{
		{string(DecisionPending), "pending approval", "wait", false},
		{string(DecisionActive), "in force", "ok", false},
		{string(DecisionExpired), "expired", "bad", true},
		{string(DecisionSuperseded), "superseded", "wait", true},
		{string(DecisionRejected), "rejected", "bad", true},
	}
}

// ControlKind is the kind of a compensating control.
type ControlKind string

// Compensating control kinds.
const (
	ControlFirewallRule     ControlKind = "firewall_rule"
	ControlDisabledService  ControlKind = "disabled_service"
	ControlVirtualPatch     ControlKind = "virtual_patch"
	ControlNetworkIsolation ControlKind = "network_isolation"
	ControlOther            ControlKind = "other"
)

// ControlKinds lists the compensating control kinds.
func ControlKinds() []ControlKind {
	return []ControlKind{ControlFirewallRule, ControlDisabledService, ControlVirtualPatch, ControlNetworkIsolation, ControlOther}
}

// VEXJustification is a CSAF 2.0 flag label (§3.2.3.5) saying why a product is not affected.
type VEXJustification string

// CSAF VEX justifications.
const (
	VEXComponentNotPresent            VEXJustification = "component_not_present"
	VEXVulnerableCodeNotPresent       VEXJustification = "vulnerable_code_not_present"
	VEXCannotBeControlledByAdversary  VEXJustification = "vulnerable_code_cannot_be_controlled_by_adversary"
	VEXVulnerableCodeNotInExecutePath VEXJustification = "vulnerable_code_not_in_execute_path"
	VEXInlineMitigationsAlreadyExist  VEXJustification = "inline_mitigations_already_exist"
)

// VEXJustifications lists the CSAF VEX justifications.
func VEXJustifications() []VEXJustification {
	return []VEXJustification{VEXComponentNotPresent, VEXVulnerableCodeNotPresent, VEXCannotBeControlledByAdversary,
		VEXVulnerableCodeNotInExecutePath, VEXInlineMitigationsAlreadyExist}
}

// Bounds of a decision.
const (
	// MaxAcceptanceDays bounds a risk acceptance: it expires at most a year after it is requested.
	MaxAcceptanceDays = 365
	// MaxReviewDays bounds how far away a mitigation's review date may lie.
	MaxReviewDays = 366
	// MaxDecisionText bounds the free texts of a decision (justification, description, impact).
	MaxDecisionText = 4000
	// MaxDecisionAssets bounds the assets one decision names.
	MaxDecisionAssets = 10000
)

// DecisionFields are the kind-specific fields of a decision, as requested.
type DecisionFields struct {
	// Mitigate.
	ControlKind ControlKind
	Description string
	Owner       string
	Evidence    string
	ReviewOn    string // YYYY-MM-DD
	// Accept.
	Justification string
	Approver      string
	ExpiresOn     string // YYYY-MM-DD
	// Not affected.
	VEXJustification VEXJustification
	ImpactStatement  string
}

func parseDay(v *ValidationError, field, day string) (time.Time, bool) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		v.Add(field, "must be a date as YYYY-MM-DD, got %q", day)
		return d, false
	}
	return d, true
}

// CheckDecision lists every fault of a decision of kind k with fields f, requested on the UTC
// day today (YYYY-MM-DD). Fields that belong to another kind are refused, so a request
// means one thing.
func CheckDecision(v *ValidationError, k DecisionKind, f DecisionFields, today string) {
	if !k.Valid() {
		v.Add("kind", "must be one of %s, got %q", strings.Join(stringsOfKinds(), ", "), k)
		return
	}
	day, _ := time.Parse(time.DateOnly, today)
	text := func(field, value string, max int, hint string) {
		v.Text(field, value, max, hint)
	}
	foreign := map[string]string{}
	if k != DecisionMitigate {
		foreign["control_kind"], foreign["description"], foreign["owner"], foreign["evidence"], foreign["review_date"] = string(f.ControlKind), f.Description, f.Owner, f.Evidence, f.ReviewOn
	}
	if k != DecisionAccept {
		foreign["justification"], foreign["approver"], foreign["expires_on"] = f.Justification, f.Approver, f.ExpiresOn
	}
	if k != DecisionNotAffected {
		foreign["vex_justification"], foreign["impact_statement"] = string(f.VEXJustification), f.ImpactStatement
	}
	names := make([]string, 0, len(foreign))
	for n, val := range foreign {
		if val != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		v.Add(n, "belongs to another kind of decision than %s: leave it out", k)
	}
	switch k {
	case DecisionMitigate:
		if !slices.Contains(ControlKinds(), f.ControlKind) {
			v.Add("control_kind", "must be one of firewall_rule, disabled_service, virtual_patch, network_isolation, other; got %q", f.ControlKind)
		}
		text("description", f.Description, MaxDecisionText, "say what the compensating control does")
		text("owner", f.Owner, MaxNameLength, "the person who keeps the control in place")
		text("evidence", f.Evidence, MaxDecisionText, "where the control can be checked: a rule id, a change ticket, a URL")
		if d, ok := parseDay(v, "review_date", f.ReviewOn); ok {
			switch {
			case f.ReviewOn < today:
				v.Add("review_date", "%s lies in the past (today is %s, UTC)", f.ReviewOn, today)
			case d.Sub(day) > MaxReviewDays*24*time.Hour:
				v.Add("review_date", "%s is more than %d days away; review a compensating control at least once a year", f.ReviewOn, MaxReviewDays)
			}
		}
	case DecisionAccept:
		text("justification", f.Justification, MaxDecisionText, "say why the risk is acceptable")
		text("approver", f.Approver, MaxNameLength, "the approver who is to approve the acceptance")
		if d, ok := parseDay(v, "expires_on", f.ExpiresOn); ok {
			switch {
			case f.ExpiresOn <= today:
				v.Add("expires_on", "%s is not after today (%s, UTC); an acceptance must last at least a day", f.ExpiresOn, today)
			case d.Sub(day) > MaxAcceptanceDays*24*time.Hour:
				v.Add("expires_on", "%s is more than %d days away; a risk is accepted for at most a year, then decided again", f.ExpiresOn, MaxAcceptanceDays)
			}
		}
	case DecisionNotAffected:
		if !slices.Contains(VEXJustifications(), f.VEXJustification) {
			v.Add("vex_justification", "must be one of the CSAF VEX justifications %s; got %q", strings.Join(stringsOfVEX(), ", "), f.VEXJustification)
		}
		text("impact_statement", f.ImpactStatement, MaxDecisionText, "say why the assets are not affected")
	}
}

func stringsOfKinds() []string {
	var out []string
	for _, k := range DecisionKinds() {
		out = append(out, string(k))
	}
	return out
}

func stringsOfVEX() []string {
	var out []string
	for _, j := range VEXJustifications() {
		out = append(out, string(j))
	}
	return out
}

// CheckAcceptanceApprover says whether approver may approve a risk acceptance that requester
// requested and named approverName for: the approver role, a person other than the
// requester, and the approver the request named. Persons are compared by user id when both
// have one, else by name.
func CheckAcceptanceApprover(requester, approver Actor, named string) error {
	if approver.Role != RoleApprover {
		return &Refusal{Rule: "role", Message: fmt.Sprintf("role %q cannot approve or reject a risk acceptance; it needs the approver role", approver.Role)}
	}
	same := approver.Name == requester.Name
	if approver.UserID != "" && requester.UserID != "" {
		same = approver.UserID == requester.UserID
	}
	if same {
		return &Refusal{Rule: "requester", Message: fmt.Sprintf("%s requested this risk acceptance and so cannot approve or reject it; another person must", approver.Name)}
	}
	if named != "" && named != approver.Name {
		return &Refusal{Rule: "approver", Message: fmt.Sprintf("this risk acceptance asks %s to approve or reject it, not %s", named, approver.Name)}
	}
	return nil
}
