package ui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/feeds/feedstest"
	"github.com/otpatch/otpatch/internal/teststack"
	"github.com/otpatch/otpatch/ui"
)

// TestBrowserFeeds: an engineer adds a provider served over HTTPS (its CA pasted as the extra
// CA) on the feeds page, opens it, syncs it now and sees the advisory ingested and the
// tampered one refused with its reason; an auditor sees the feed and no sync button.
func TestBrowserFeeds(t *testing.T) {
	chromium(t)
	ts := teststack.New(t, teststack.Options{UI: ui.Handler(), ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)}})
	s := &stack{t: t, url: ts.URL, store: ts.Store, sim: ts.Sim, tokens: ts.Tokens, keys: ts.Keys}
	sh := newShots(t)

	shared := "../../shared/testdata/csaf"
	p := feedstest.NewProvider(t)
	jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	a := &feedstest.Advisory{Name: "icsa-21-131-09.json", Raw: feedstest.RealAdvisory(t, shared, "icsa-21-131-09.json"), Updated: jan, InFeed: true}
	b := &feedstest.Advisory{Name: "icsa-21-145-02.json", Raw: feedstest.RealAdvisory(t, shared, "icsa-21-145-02.json"), Updated: jan, InDir: true}
	p.Docs = []*feedstest.Advisory{a, b}
	p.Publish()
	p.Overwrite(b, ".sha512", []byte(strings.Repeat("00", 64)+"\n"))

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/feeds", `#feed-form`)
	engineer.run("add the provider", 30*time.Second,
		chromedp.SendKeys(css(`#feed-url`), p.MetadataURL()),
		chromedp.SetValue(css(`#feed-ca`), p.CAPEM()),
		chromedp.Click(css(`#feed-add`)),
		chromedp.WaitVisible(css(`#feed-add-ok`)),
		chromedp.WaitVisible(css(`#feed-list tbody tr`)))
	if got := engineer.text(`#feed-list tbody tr`); !strings.Contains(got, p.MetadataURL()) || !strings.Contains(got, "1440 min") || !strings.Contains(got, "not synced yet") {
		t.Errorf("the new feed's row: %q", got)
	}
	engineer.shot("feeds")
	engineer.checkAccessible("feeds")

	engineer.run("open the feed and sync it now", 60*time.Second,
		chromedp.Click(css(`#feed-list tbody tr a`)),
		chromedp.WaitVisible(css(`#feed-sync`)),
		chromedp.Click(css(`#feed-sync`)),
		chromedp.WaitVisible(css(`#feed-sync-result`)))
	if got := engineer.text(`#feed-sync-result`); !strings.Contains(got, "refusals; 1 ingested") {
		t.Errorf("the sync's result: %q", got)
	}
	if got := engineer.text(`#feed-schedule`); got != "every 1440 min" {
		t.Errorf("the feed's schedule: %q", got)
	}
	if got := engineer.text(`#feed-refusals tbody tr`); !strings.Contains(got, b.Name) || !strings.Contains(got, "hash mismatch") {
		t.Errorf("the refusal: %q", got)
	}
	if got := engineer.text(`#feed-documents`); !strings.Contains(got, "ICSA-21-131-09") || !strings.Contains(got, "ingested") {
		t.Errorf("the documents: %q", got)
	}
	engineer.shot("feed")
	engineer.checkAccessible("feed")

	auditor := s.browser(t, "auditor", sh)
	auditor.signIn(s.tokens.Auditor)
	auditor.open("/feeds", `#feed-list`)
	auditor.run("open the feed", 20*time.Second, chromedp.Click(css(`#feed-list tbody tr a`)), chromedp.WaitVisible(css(`#feed-refusals`)))
	if auditor.exists(`#feed-sync`) || auditor.exists(`#feed-form`) {
		t.Error("the auditor is offered to sync or add feeds")
	}
}
