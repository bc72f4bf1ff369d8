package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/testmail"
)

// TestSignatureIsHMACOfTimeAndBody: the header is what docs/notifications.md says, computed
// here independently, and Verify refuses a changed body, another secret and an old time.
func TestSignatureIsHMACOfTimeAndBody(t *testing.T) {
	body := []byte(`{"specversion":"1.0"}`)
	at := time.Unix(1_800_000_000, 0)
	h := notify.Sign("whsec_x", at, body)
	m := hmac.New(sha256.New, []byte("whsec_x"))
	m.Write([]byte("1800000000." + string(body)))
	if want := "t=1800000000,v1=" + hex.EncodeToString(m.Sum(nil)); h != want {
		t.Fatalf("header %q, want %q", h, want)
	}
	if err := notify.Verify("whsec_x", h, body, at.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for name, err := range map[string]error{
		"changed body": notify.Verify("whsec_x", h, []byte(`{"specversion":"1.1"}`), at, 0),
		"other secret": notify.Verify("whsec_y", h, body, at, 0),
		"too old":      notify.Verify("whsec_x", h, body, at.Add(time.Hour), 5*time.Minute),
		"no header":    notify.Verify("whsec_x", "", body, at, 0),
	} {
		if err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// TestFromEvent: the audit events that are told become their kind with a link to the page
// where the person acts; others are not told.
func TestFromEvent(t *testing.T) {
	at := audit.FormatTime(time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		ev      audit.Event
		kind    notify.Kind
		subject string
		link    string
	}{
		{audit.Event{Seq: 7, At: at, Action: "campaign.awaiting_approval", SubjectType: "campaign", SubjectID: "cmp_1", CampaignID: "cmp_1", Details: `{}`},
			notify.ApprovalRequested, "Campaign cmp_1 awaits your approval", "https://o.example/#/campaigns/cmp_1"},
		{audit.Event{Seq: 8, At: at, Action: "alarm.raised", SubjectType: "alarm", SubjectID: "alm_1", CampaignID: "cmp_1", AssetID: "ast_1",
			Details: `{"kind":"rollback_failed","severity":"critical","message":"rollback failed"}`},
			notify.AlarmRaised, "Alarm (critical): rollback_failed", "https://o.example/#/campaigns/cmp_1"},
		{audit.Event{Seq: 9, At: at, Action: "notification.nerc_overdue", SubjectType: "mitigation_plan", SubjectID: "mp_1", Details: `{"due_date":"2026-12-01"}`},
			notify.NERCOverdue, "NERC CIP mitigation plan mp_1 was due on 2026-12-01", "https://o.example/#/compliance"},
		{audit.Event{Seq: 10, At: at, Action: notify.DrillOverdueAction, SubjectType: "drill", SubjectID: "drl_1", Details: `{"name":"HMI restore"}`},
			notify.DrillOverdue, "Restore drill overdue: HMI restore", "https://o.example/#/drills"},
	} {
		n, ok := notify.FromEvent(tc.ev, "https://o.example/")
		if !ok || n.Kind != tc.kind || n.Subject != tc.subject || n.Link != tc.link || n.Key != "audit-"+strings.TrimPrefix(n.Key, "audit-") {
			t.Errorf("%s: %+v %v, want %s %q linking %s", tc.ev.Action, n, ok, tc.kind, tc.subject, tc.link)
		}
		body, err := notify.Encode(n, "https://o.example")
		var ce notify.CloudEvent
		if err != nil || json.Unmarshal(body, &ce) != nil || ce.SpecVersion != "1.0" || ce.Type != "org.otpatch.notification."+string(tc.kind) || ce.ID != n.Key {
			t.Errorf("%s: cloud event %s (%v)", tc.ev.Action, body, err)
		}
	}
	if _, ok := notify.FromEvent(audit.Event{Action: "campaign.created", Details: `{}`}, ""); ok {
		t.Error("campaign.created is told")
	}
}

// TestSMTPDeliversOverSTARTTLSWithAuth sends a notification through a real SMTP server that
// requires STARTTLS and AUTH; a wrong password and an untrusted certificate are refused.
func TestSMTPDeliversOverSTARTTLSWithAuth(t *testing.T) {
	mail := testmail.Start(t)
	ctx := context.Background()
	c := notify.SMTP{Addr: mail.SMTPAddr, From: "otpatch <otpatch@plant.example>", Username: mail.Username, Password: mail.Password, RootCAs: mail.RootCAs}
	n := notify.Notification{Key: "audit-1", Kind: notify.ApprovalRequested, Time: time.Now(), Subject: "Campaign cmp_1 awaits your approval",
		Text: "Review the plan.", Link: "https://o.example/#/campaigns/cmp_1"}
	if err := c.Send(ctx, "approver@plant.example", n); err != nil {
		t.Fatal(err)
	}
	wrong := c
	wrong.Password = "not-it"
	if err := wrong.Send(ctx, "approver@plant.example", n); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("a wrong password: %v, want AUTH refused", err)
	}
	untrusted := c
	untrusted.RootCAs = nil
	if err := untrusted.Send(ctx, "approver@plant.example", n); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("an untrusted certificate: %v, want STARTTLS refused", err)
	}
	msgs, err := mail.Messages(ctx)
	if err != nil || len(msgs) != 1 || msgs[0].Subject != n.Subject || len(msgs[0].To) != 1 || msgs[0].To[0].Address != "approver@plant.example" {
		t.Fatalf("received %+v (%v), want the one message", msgs, err)
	}
	text, err := mail.Text(ctx, msgs[0].ID)
	if err != nil || !strings.Contains(text, n.Link) {
		t.Errorf("the mail's text %q (%v) does not link to %s", text, err, n.Link)
	}
}
