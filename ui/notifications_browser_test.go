package ui_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/teststack"
	"github.com/otpatch/otpatch/ui"
)

// TestBrowserNotifications: an approver subscribes to approval requests on the Notifications
// page; an admin adds a webhook, sees its secret once, sends it a test and reads the delivery
// log; the receiver got the signed test.
func TestBrowserNotifications(t *testing.T) {
	chromium(t)
	var got atomic.Int32
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hook := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get(notify.SignatureHeader), "t=") {
			got.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	})}}
	hook.Start()
	t.Cleanup(hook.Close)
	ts := teststack.New(t, teststack.Options{UI: ui.Handler(), ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)},
		Notify: notify.Settings{RetryInitial: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond, Attempts: 3}})
	s := &stack{t: t, url: ts.URL, store: ts.Store, sim: ts.Sim, tokens: ts.Tokens, keys: ts.Keys}
	sh := newShots(t)

	approver := s.browser(t, "approver", sh)
	approver.signIn(s.tokens.Approver)
	approver.open("/notifications", `#subscribe-form`)
	approver.run("subscribe", 30*time.Second,
		chromedp.SetValue(css(`#subscribe-kind`), "approval_requested"),
		chromedp.SendKeys(css(`#subscribe-email`), "approver@plant.example"),
		chromedp.Click(css(`#subscribe`)),
		chromedp.WaitVisible(css(`#subscription-list tbody tr`)))
	if row := approver.text(`#subscription-list tbody tr`); !strings.Contains(row, "approval_requested") || !strings.Contains(row, "approver@plant.example") {
		t.Errorf("the subscription's row: %q", row)
	}
	if approver.exists(`#webhooks`) {
		t.Error("an approver is shown the webhooks")
	}
	approver.shot("notifications")
	approver.checkAccessible("notifications")

	admin := s.browser(t, "admin", sh)
	admin.signIn(s.tokens.Admin)
	admin.open("/notifications", `#webhook-form`)
	admin.run("add a webhook", 30*time.Second,
		chromedp.SendKeys(css(`#webhook-url`), hook.URL+"/otpatch"),
		chromedp.Click(css(`#webhook-add`)),
		chromedp.WaitVisible(css(`#webhook-secret`)),
		chromedp.WaitVisible(css(`#webhook-list tbody tr`)))
	if secret := admin.text(`#webhook-secret code`); !strings.HasPrefix(secret, "whsec_") {
		t.Errorf("the secret shown: %q", secret)
	}
	admin.shot("webhook-secret")
	admin.run("send a test", 60*time.Second,
		chromedp.Click(css(`#webhook-list tbody tr .webhook-test`)),
		chromedp.WaitVisible(css(`#delivery-list`)))
	deadline := time.Now().Add(time.Minute)
	for got.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the receiver got no signed test")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The attempt is logged once the receiver has answered: the log is read again until it shows.
	for !admin.exists(`#delivery-list tbody tr[data-delivery]`) {
		if time.Now().After(deadline) {
			t.Fatal("the delivery log shows no attempt")
		}
		admin.run("read the delivery log", 30*time.Second, chromedp.Click(css(`#webhook-list tbody tr button.secondary`)))
		time.Sleep(100 * time.Millisecond)
	}
	if row := admin.text(`#delivery-list tbody tr`); !strings.Contains(row, "test") || !strings.Contains(row, "sent") {
		t.Errorf("the delivery log: %q", row)
	}
	if strings.Contains(admin.text(`#webhooks`), "whsec_") {
		// The secret is still in the form's result, not in the list.
		if strings.Contains(admin.text(`#webhook-list`), "whsec_") {
			t.Error("the webhook list shows the secret")
		}
	}
	admin.shot("webhooks")
	admin.checkAccessible("webhooks")
}
