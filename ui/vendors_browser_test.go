package ui_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// waitContains polls until the element's text holds want, for at most d.
func (u *user) waitContains(sel, want string, d time.Duration) {
	u.t.Helper()
	js := fmt.Sprintf(`(() => { const el = document.querySelector(%q); return !!el && el.textContent.includes(%q); })()`, sel, want)
	u.run(fmt.Sprintf("wait for %s to say %q", sel, want), d, chromedp.Poll[chromedp.Void](js))
}

// TestBrowserVendors: an engineer opens the vendors page, Acme's page with its signing key and
// scorecard, and files an IEC 62443-4-1 certificate, which the scorecard then shows; Acme's own
// vendor user lands on its own page, sees its key, scorecard and certificate, may not file one,
// and Northwind's page is not found for it.
func TestBrowserVendors(t *testing.T) {
	chromium(t)
	s := newStack(t)
	sh := newShots(t)
	pdf := filepath.Join(t.TempDir(), "acme-62443-4-1.pdf")
	if err := os.WriteFile(pdf, []byte("%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/vendors", `#vendor-list`)
	for _, name := range []string{"Acme Automation AG", "Northwind Control Systems", "Helix Industrial Networks"} {
		engineer.waitContains(`#vendor-list`, name, 10*time.Second)
	}
	engineer.shot("vendors")
	engineer.run("open acme", 20*time.Second, chromedp.Click(css(`#vendor-list tr[data-vendor="vnd_acme"] a`)), chromedp.WaitVisible(css(`#scorecard-facts`)))
	engineer.waitContains(`#key-list tbody`, "active", 10*time.Second)
	engineer.waitContains(`#sc-keys`, "1 trusted: 1 active, 0 expired, 0 revoked", 10*time.Second)
	engineer.waitContains(`#sc-submissions`, "0 received", 10*time.Second)
	engineer.waitContains(`#cert-state`, "none on file", 10*time.Second)
	engineer.run("file a certificate", 30*time.Second,
		chromedp.SetUploadFiles(css(`#cert-file`), []string{pdf}),
		chromedp.SetValue(css(`#cert-level`), "2"),
		chromedp.SendKeys(css(`#cert-issuer`), "Example Certification Body"),
		chromedp.SetValue(css(`#cert-expires`), "2030-06-30"),
		chromedp.Click(css(`#cert-add`)),
		chromedp.WaitVisible(css(`#cert-list tbody tr`)))
	engineer.waitContains(`#cert-list tbody`, "Example Certification Body", 10*time.Second)
	engineer.waitContains(`#sc-certificate`, "maturity level 2", 10*time.Second)
	engineer.waitContains(`#cert-state`, "valid until 2030-06-30", 10*time.Second)
	engineer.shot("acme-staff")
	engineer.checkAccessible("vendor")

	vendor := s.browser(t, "acme", sh)
	vendor.signIn(s.tokens.Vendor)
	vendor.open("/vendors", `#scorecard-facts`)
	vendor.waitContains(`#key-list tbody`, "active", 10*time.Second)
	vendor.waitContains(`#cert-list tbody`, "Example Certification Body", 10*time.Second)
	vendor.waitContains(`#cert-state`, "valid until 2030-06-30", 10*time.Second)
	if vendor.exists(`#cert-form`) {
		t.Error("a vendor is offered to file a certificate")
	}
	if got := vendor.text(`#view`); strings.Contains(got, "ast_") || strings.Contains(got, "zone_") {
		t.Errorf("the vendor's page names plant inventory: %q", got)
	}
	vendor.shot("acme-vendor")
	vendor.open("/vendors/vnd_northwind", `h1`)
	vendor.waitContains(`h1`, "Vendor not found", 10*time.Second)
}
