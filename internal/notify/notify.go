// Package notify provides otpatch's notifications: the kinds of event a person or a webhook
// may be told of, the notification made of an audit event, its CloudEvents 1.0 form, the
// signature webhooks verify, and the two channels that deliver it (e-mail over SMTP, HTTP
// webhooks). It holds no state: the store keeps subscriptions, webhooks and the delivery log,
// and Temporal workflows (workflows.NotificationDispatch, workflows.NotificationDelivery)
// decide when each is sent.
package notify

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
)

// Kind is a kind of notification.
type Kind string

// The kinds of notification.
const (
	ApprovalRequested  Kind = "approval_requested"
	PlanChanged        Kind = "plan_changed"
	WindowOpening      Kind = "window_opening"
	CampaignCompleted  Kind = "campaign_completed"
	CampaignHalted     Kind = "campaign_halted"
	CampaignRolledBack Kind = "campaign_rolled_back"
	AlarmRaised        Kind = "alarm_raised"
	NERCDue            Kind = "nerc_due"
	NERCOverdue        Kind = "nerc_overdue"
	KEVAdvisory        Kind = "kev_advisory"
	DrillOverdue       Kind = "drill_overdue"
	// Test is the kind of the notification POST /api/v1/webhooks/{id}/test sends.
	Test Kind = "test"
)

// Kinds are the kinds a subscription or a webhook may name, in the order shown.
var Kinds = []Kind{ApprovalRequested, PlanChanged, WindowOpening, CampaignCompleted, CampaignHalted, CampaignRolledBack,
	AlarmRaised, NERCDue, NERCOverdue, KEVAdvisory, DrillOverdue}

// Describe says in words what a kind tells.
func Describe(k Kind) string {
	switch k {
	case ApprovalRequested:
		return "a campaign's plan awaits approval"
	case PlanChanged:
		return "a campaign's plan changed and needs approval again"
	case WindowOpening:
		return "the maintenance window of an approved campaign opens in the hours the subscription gives"
	case CampaignCompleted:
		return "a campaign completed"
	case CampaignHalted:
		return "a campaign halted"
	case CampaignRolledBack:
		return "a campaign was rolled back"
	case AlarmRaised:
		return "an alarm was raised"
	case NERCDue:
		return "a NERC CIP evaluation or mitigation falls due within 7 days"
	case NERCOverdue:
		return "a NERC CIP evaluation or mitigation is overdue"
	case KEVAdvisory:
		return "an advisory names a known exploited vulnerability (CISA KEV) for assets in the inventory"
	case DrillOverdue:
		return "a restore drill is overdue"
	case Test:
		return "a test sent by an administrator"
	}
	return ""
}

// Valid reports whether k is a kind one may subscribe to.
func Valid(k Kind) bool { return slices.Contains(Kinds, k) }

// ForRole reports whether people acting in role may be told of kind k. Vendors are told
// nothing: every kind speaks of the plant (its campaigns, inventory, alarms, obligations).
func ForRole(role domain.Role, k Kind) bool {
	return role != domain.RoleVendor && role != "" && Valid(k)
}

// Notification is one thing to tell.
type Notification struct {
	// Key identifies it: the audit event it comes from ("audit-<seq>"), or the clock-driven
	// check that made it. Each delivery's workflow id is made from it, so it is sent once.
	Key     string    `json:"key"`
	Kind    Kind      `json:"kind"`
	Time    time.Time `json:"time"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	// Link is the UI page where the person acts (absolute when the public URL is set).
	Link string `json:"link"`
	// Source names the thing it is about, as a path (campaigns/cmp_1, alarms/alm_2).
	Source string `json:"source"`
	// Data are the facts a program reading the webhook uses.
	Data map[string]any `json:"data,omitempty"`
}

// actionKinds maps audit actions to the kinds they are told as.
var actionKinds = map[string]Kind{
	"campaign.awaiting_approval": ApprovalRequested,
	"campaign.replanned":         PlanChanged,
	"campaign.completed":         CampaignCompleted,
	"campaign.halted":            CampaignHalted,
	"campaign.rolled_back":       CampaignRolledBack,
	"alarm.raised":               AlarmRaised,
	DrillOverdueAction:           DrillOverdue,
	TestAction:                   Test,
	WindowOpeningAction:          WindowOpening,
	NERCDueAction:                NERCDue,
	NERCOverdueAction:            NERCOverdue,
	KEVAdvisoryAction:            KEVAdvisory,
}

// The audit actions of the notifications the clock makes due (activities.CheckClock).
const (
	WindowOpeningAction = "notification.window_opening"
	NERCDueAction       = "notification.nerc_due"
	NERCOverdueAction   = "notification.nerc_overdue"
	KEVAdvisoryAction   = "notification.kev_advisory"
)

// TestAction is the audit action of an administrator's request to send a webhook a test.
const TestAction = "webhook.test_requested"

// FromEvent is the notification an audit event is told as, with ok false when it is told as
// none. baseURL is the server's public URL the links start with ("" for links relative to it).
func FromEvent(ev audit.Event, baseURL string) (Notification, bool) {
	k, ok := actionKinds[ev.Action]
	if !ok {
		return Notification{}, false
	}
	at, _ := time.Parse(audit.TimeLayout, ev.At)
	var details map[string]any
	_ = json.Unmarshal([]byte(ev.Details), &details)
	str := func(k string) string { s, _ := details[k].(string); return s }
	campaign := ev.CampaignID
	if campaign == "" && ev.SubjectType == "campaign" {
		campaign = ev.SubjectID
	}
	n := Notification{Key: fmt.Sprintf("audit-%d", ev.Seq), Kind: k, Time: at.UTC(), Data: map[string]any{"audit_seq": ev.Seq}}
	if campaign != "" {
		n.Data["campaign_id"] = campaign
		n.Source = "campaigns/" + campaign
		n.Link = Link(baseURL, "/campaigns/"+campaign)
	}
	switch k {
	case ApprovalRequested:
		n.Subject = fmt.Sprintf("Campaign %s awaits your approval", campaign)
		n.Text = fmt.Sprintf("The plan of campaign %s is ready and awaits approval. Review the plan and approve or reject it.", campaign)
	case PlanChanged:
		n.Subject = fmt.Sprintf("Campaign %s changed: its plan needs approval again", campaign)
		n.Text = fmt.Sprintf("The plan of campaign %s changed after it was approved (%s); earlier approvals no longer count.", campaign, orWords(str("reason"), "replanned"))
	case CampaignCompleted, CampaignHalted, CampaignRolledBack:
		word := map[Kind]string{CampaignCompleted: "completed", CampaignHalted: "halted", CampaignRolledBack: "was rolled back"}[k]
		n.Subject = fmt.Sprintf("Campaign %s %s", campaign, word)
		n.Text = fmt.Sprintf("Campaign %s %s. %s", campaign, word, str("detail"))
	case AlarmRaised:
		sev := orWords(str("severity"), "an")
		n.Data["alarm_kind"], n.Data["severity"] = str("kind"), str("severity")
		if ev.AssetID != "" {
			n.Data["asset_id"] = ev.AssetID
		}
		n.Subject = fmt.Sprintf("Alarm (%s): %s", sev, orWords(str("kind"), "raised"))
		n.Text = str("message")
		n.Source = "alarms/" + ev.SubjectID
		if campaign == "" {
			n.Link = Link(baseURL, "/")
		}
	case Test:
		n.Subject = "Test notification from otpatch"
		n.Text = fmt.Sprintf("%s sent this test to webhook %s.", ev.Actor, ev.SubjectID)
		n.Source = "webhooks/" + ev.SubjectID
		n.Link = Link(baseURL, "/notifications")
		n.Data["webhook_id"] = ev.SubjectID
	case WindowOpening:
		n.Data["window_start"], n.Data["hours_before"] = str("window_start"), details["hours_before"]
		n.Subject = fmt.Sprintf("The window of campaign %s opens at %s", campaign, str("window_start"))
		n.Text = fmt.Sprintf("Campaign %s (%s) is approved; its maintenance window opens at %s (UTC).", campaign, str("name"), str("window_start"))
	case NERCDue, NERCOverdue:
		word := map[Kind]string{NERCDue: "falls due on", NERCOverdue: "was due on"}[k]
		n.Subject = fmt.Sprintf("NERC CIP mitigation plan %s %s %s", ev.SubjectID, word, str("due_date"))
		n.Text = fmt.Sprintf("The mitigation plan %s of %s %s %s %s (NERC CIP-007-6 R2).", ev.SubjectID, str("subject_type"), str("subject_id"), word, str("due_date"))
		n.Source = "mitigation-plans/" + ev.SubjectID
		n.Link = Link(baseURL, "/compliance")
		n.Data["due_date"] = str("due_date")
	case KEVAdvisory:
		strs := func(k string) []string {
			var out []string
			vs, _ := details[k].([]any)
			for _, v := range vs {
				if s, ok := v.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		names := strs("asset_names")
		count, _ := details["assets"].(float64)
		n.Subject = fmt.Sprintf("Known exploited %s hits %d %s: advisory %s", str("cve"), int(count), plural(int(count), "asset", "assets"), str("tracking_id"))
		n.Text = fmt.Sprintf("CISA lists %s as known exploited (in its catalog since %s, federal due date %s). Advisory %s (%s) names it for %d %s of the inventory: %s",
			str("cve"), str("kev_date_added"), str("kev_due_date"), str("tracking_id"), str("title"), int(count), plural(int(count), "asset", "assets"), strings.Join(names, ", "))
		if len(names) < int(count) {
			n.Text += fmt.Sprintf(" and %d more", int(count)-len(names))
		}
		n.Text += ". Open the advisory to see each asset and its fix, or decide how to treat it."
		if b, _ := details["ransomware"].(bool); b {
			n.Text += " CISA knows it used in ransomware campaigns."
		}
		n.Source = "advisories/" + ev.SubjectID
		n.Link = Link(baseURL, "/advisories/"+ev.SubjectID)
		n.Data["advisory_id"], n.Data["tracking_id"], n.Data["cve"], n.Data["kev_due_date"] = ev.SubjectID, str("tracking_id"), str("cve"), str("kev_due_date")
		n.Data["assets"], n.Data["asset_ids"] = int(count), strs("asset_ids")
	case DrillOverdue:
		n.Subject = "Restore drill overdue: " + orWords(str("name"), ev.SubjectID)
		n.Text = str("message")
		n.Source = "drills/" + ev.SubjectID
		n.Link = Link(baseURL, "/drills")
		n.Data["drill_id"] = ev.SubjectID
	}
	n.Text = strings.TrimSpace(n.Text)
	return n, true
}

// Link is the UI address of a page (a path of the UI's hash routes).
func Link(baseURL, page string) string {
	return strings.TrimRight(baseURL, "/") + "/#" + page
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func orWords(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
