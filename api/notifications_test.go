package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/internal/testmail"
	"github.com/otpatch/otpatch/internal/teststack"
)

// receiver is a webhook receiver on 127.0.0.1 that answers 500 to the first failures
// deliveries of each event (by its CloudEvents id) and 204 after, keeping every delivery it
// accepted.
type receiver struct {
	mu       sync.Mutex
	failures int
	seen     map[string]int
	accepted []received
}

type received struct {
	signature, contentType string
	body                   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ce struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &ce)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen[ce.ID]++
	if rc.seen[ce.ID] <= rc.failures {
		http.Error(w, "receiver down", http.StatusInternalServerError)
		return
	}
	rc.accepted = append(rc.accepted, received{signature: r.Header.Get("Otpatch-Signature"), contentType: r.Header.Get("Content-Type"), body: body})
	w.WriteHeader(http.StatusNoContent)
}

// startReceiver serves a receiver on 127.0.0.1 until the test ends.
func startReceiver(t *testing.T, failures int) (*receiver, *httptest.Server) {
	rc := &receiver{failures: failures, seen: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hook := &httptest.Server{Listener: l, Config: &http.Server{Handler: rc}}
	hook.Start()
	t.Cleanup(hook.Close)
	return rc, hook
}

func (rc *receiver) events() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.accepted...)
}

// verifySignature checks a delivery as docs/notifications.md tells a receiver to: the
// HMAC-SHA256 of "<t>.<body>" keyed with the secret, in hex, is the v1 of the header.
func verifySignature(secret, header string, body []byte) bool {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return ts != "" && hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(sig))
}

func TestNotificationsReachMailAndWebhook(t *testing.T) { testNotifications(t, "") }

func TestNotificationsReachMailAndWebhookPostgres(t *testing.T) {
	testNotifications(t, testenv.PostgresDSN(t))
}

// testNotifications plans a campaign whose asset fails verification and then its restore: the
// approval request and the alarm reach a real SMTP server (Mailpit, STARTTLS and AUTH) for the
// people subscribed, and a webhook receiver that fails three times before it accepts; the
// delivery log shows the four attempts and every delivery's signature verifies.
func testNotifications(t *testing.T, dsn string) {
	mail := testmail.Start(t)
	rc, hook := startReceiver(t, 3)

	const baseURL = "https://otpatch.plant.example"
	s := teststack.New(t, teststack.Options{DSN: dsn, Notify: notify.Settings{
		SMTP:    notify.SMTP{Addr: mail.SMTPAddr, From: "otpatch <otpatch@plant.example>", Username: mail.Username, Password: mail.Password, RootCAs: mail.RootCAs},
		BaseURL: baseURL, RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, Attempts: 6,
	}})
	e := &env{t: t, url: s.URL, store: s.Store, objects: s.Objects, sim: s.Sim, tokens: s.Tokens, keys: s.Keys, temporal: s.Temporal, refusals: s.Refusals}
	ctx := context.Background()

	// Subscriptions: the approver is told of approvals asked, the engineer of alarms; a vendor
	// may not subscribe, and bad input is named.
	for _, sub := range []struct{ token, kind, email string }{
		{e.tokens.Approver, "approval_requested", "approver@plant.example"},
		{e.tokens.Engineer, "alarm_raised", "engineer@plant.example"},
	} {
		if code := e.call("POST", "/api/v1/subscriptions", sub.token, map[string]any{"kind": sub.kind, "email": sub.email}, nil); code != http.StatusCreated {
			t.Fatalf("subscribe %s: %d", sub.email, code)
		}
	}
	if code := e.call("POST", "/api/v1/subscriptions", e.tokens.Vendor, map[string]any{"kind": "alarm_raised", "email": "v@vendor.example"}, nil); code != http.StatusForbidden {
		t.Errorf("a vendor subscribing: %d, want 403", code)
	}
	var bad problemDoc
	if code := e.call("POST", "/api/v1/subscriptions", e.tokens.Engineer, map[string]any{"kind": "everything", "email": "not-an-address"}, &bad); code != http.StatusUnprocessableEntity || len(bad.Errors) != 2 {
		t.Errorf("a bad subscription: %d %+v, want 422 naming kind and email", code, bad)
	}
	var mine struct {
		Items []struct{ Kind, Email string } `json:"items"`
	}
	if code := e.call("GET", "/api/v1/subscriptions", e.tokens.Approver, nil, &mine); code != http.StatusOK || len(mine.Items) != 1 || mine.Items[0].Kind != "approval_requested" {
		t.Errorf("the approver's subscriptions: %d %+v", code, mine)
	}

	// The webhook: its secret is in the creation's answer only.
	var wh struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if code := e.call("POST", "/api/v1/webhooks", e.tokens.Admin, map[string]any{"url": hook.URL + "/otpatch", "kinds": []string{"approval_requested", "alarm_raised"}}, &wh); code != http.StatusCreated || wh.Secret == "" {
		t.Fatalf("create webhook: %d %+v", code, wh)
	}
	var again map[string]any
	if code := e.call("GET", "/api/v1/webhooks/"+wh.ID, e.tokens.Admin, nil, &again); code != http.StatusOK || again["secret"] != nil {
		t.Errorf("the webhook read again: %d %v, want it without its secret", code, again)
	}
	if code := e.call("GET", "/api/v1/webhooks", e.tokens.Engineer, nil, nil); code != http.StatusForbidden {
		t.Errorf("an engineer listing webhooks: %d, want 403", code)
	}

	if err := (&engine.Gateway{Temporal: s.Temporal.GetDefaultClient()}).ScheduleNotifications(ctx, time.Second); err != nil {
		t.Fatal(err)
	}

	// The campaign: planned (approval asked), approved, its asset fails and so does its restore.
	p := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 4096))
	e.openWindowNow("zone_packaging")
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-04/simulator/faults", e.tokens.Engineer, map[string]any{"verify_fail": true, "restore_fail": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	c := e.approvedCampaign(p.ID, []string{"ast_pkg-hmi-04"}, nil)
	if c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back"); c.Status != "halted" {
		t.Fatalf("campaign %s, want halted", c.Status)
	}
	link := baseURL + "/#/campaigns/" + c.ID

	// Mail: each person gets the one message of his subscription, linking to the campaign.
	want := map[string]string{"approver@plant.example": "Campaign " + c.ID + " awaits your approval", "engineer@plant.example": "Alarm (critical): rollback_failed"}
	var got map[string]testmail.Message
	e.waitWithin(2*time.Minute, "both mails", func() (bool, string) {
		msgs, err := mail.Messages(ctx)
		if err != nil {
			return false, err.Error()
		}
		got = map[string]testmail.Message{}
		for _, m := range msgs {
			for _, to := range m.To {
				got[to.Address] = m
			}
		}
		return len(got) >= 2, "received " + strings.Join(mapKeys(got), ", ")
	})
	for to, subject := range want {
		m := got[to]
		if m.Subject != subject {
			t.Errorf("mail to %s: subject %q, want %q", to, m.Subject, subject)
		}
		text, err := mail.Text(ctx, m.ID)
		if err != nil || !strings.Contains(text, link) {
			t.Errorf("mail to %s does not link to %s: %v\n%s", to, link, err, text)
		}
	}
	if len(got) != 2 {
		t.Errorf("mail went to %v, want only the two subscribers", mapKeys(got))
	}

	// The webhook: both notifications arrive as signed CloudEvents.
	var evs []notify.CloudEvent
	e.waitWithin(2*time.Minute, "both webhook deliveries", func() (bool, string) {
		evs = evs[:0]
		for _, r := range rc.events() {
			var ce notify.CloudEvent
			if err := json.Unmarshal(r.body, &ce); err != nil {
				return false, err.Error()
			}
			if !verifySignature(wh.Secret, r.signature, r.body) {
				t.Fatalf("the signature %q of %s does not verify", r.signature, r.body)
			}
			if !strings.HasPrefix(r.contentType, "application/cloudevents+json") {
				t.Fatalf("content type %q", r.contentType)
			}
			evs = append(evs, ce)
		}
		return len(evs) >= 2, ""
	})
	types := map[string]notify.CloudEvent{}
	for _, ce := range evs {
		types[ce.Type] = ce
		if ce.SpecVersion != "1.0" || ce.ID == "" || ce.Source == "" || ce.Data.Link != link {
			t.Errorf("cloud event %+v, want specversion 1.0, id, source and the campaign's link", ce)
		}
	}
	if len(evs) != 2 || types["org.otpatch.notification.approval_requested"].ID == "" || types["org.otpatch.notification.alarm_raised"].ID == "" {
		t.Errorf("webhook events %+v, want one approval_requested and one alarm_raised", evs)
	}

	// The delivery log: each notification took four attempts, three failed with 500.
	var log struct {
		Items []store.Delivery `json:"items"`
	}
	if code := e.call("GET", "/api/v1/webhooks/"+wh.ID+"/deliveries", e.tokens.Admin, nil, &log); code != http.StatusOK {
		t.Fatalf("deliveries: %d", code)
	}
	for _, ce := range evs {
		var attempts []string
		for _, d := range log.Items {
			if d.NotificationKey == ce.ID {
				attempts = append(attempts, fmt.Sprintf("%d:%s", d.Attempt, d.Status))
				if d.Status == "failed" && (d.HTTPStatus != 500 || !strings.Contains(d.Error, "500")) {
					t.Errorf("failed attempt %+v, want HTTP 500 named", d)
				}
			}
		}
		if got := strings.Join(attempts, ","); got != "4:sent,3:failed,2:failed,1:failed" {
			t.Errorf("attempts of %s (%s), newest first: %s, want sent after three failures", ce.ID, ce.Type, got)
		}
	}

	// A test from the admin reaches the receiver too.
	var tv struct {
		NotificationKey string `json:"notification_key"`
	}
	if code := e.call("POST", "/api/v1/webhooks/"+wh.ID+"/test", e.tokens.Admin, nil, &tv); code != http.StatusAccepted {
		t.Fatalf("test: %d", code)
	}
	e.waitWithin(time.Minute, "the test delivery", func() (bool, string) {
		for _, r := range rc.events() {
			if strings.Contains(string(r.body), `"org.otpatch.notification.test"`) && verifySignature(wh.Secret, r.signature, r.body) {
				return true, ""
			}
		}
		return false, ""
	})
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
