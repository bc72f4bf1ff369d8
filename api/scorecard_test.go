package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	allowed["GET /api/v1/vendors/{vendorID}/scorecard"] = []string{"vendor", "engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/vendors/{vendorID}/certificates"] = []string{"vendor", "engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/vendors/{vendorID}/certificates/{certID}"] = []string{"vendor", "engineer", "approver", "safety", "auditor", "admin"}
	allowed["POST /api/v1/vendors/{vendorID}/certificates"] = []string{"engineer", "admin"}
}

// scorecardFigures is the part of a scorecard the tests read.
type scorecardFigures struct {
	AdvisoryToQualified struct {
		Count           int    `json:"count"`
		MedianSeconds   *int64 `json:"median_seconds"`
		P90Seconds      *int64 `json:"p90_seconds"`
		WithoutAdvisory int    `json:"without_advisory"`
		Patches         []struct {
			PatchID  string `json:"patch_id"`
			Advisory string `json:"advisory"`
			Seconds  int64  `json:"seconds"`
		} `json:"patches"`
	} `json:"advisory_to_qualified"`
	Submissions struct {
		Total           int     `json:"total"`
		Accepted        int     `json:"accepted"`
		Refused         int     `json:"refused"`
		RefusedShare    float64 `json:"refused_share"`
		RefusedByReason []struct {
			Reason string `json:"reason"`
			Count  int    `json:"count"`
		} `json:"refused_by_reason"`
		RejectedAtQualification int `json:"rejected_at_qualification"`
	} `json:"submissions"`
	Rollbacks struct {
		RolledBack     int `json:"rolled_back"`
		RollbackFailed int `json:"rollback_failed"`
		Production     int `json:"production"`
		TestBench      int `json:"test_bench"`
		Campaigns      int `json:"campaigns"`
		ByPatch        []struct {
			PatchID string `json:"patch_id"`
			Count   int    `json:"count"`
		} `json:"by_patch"`
	} `json:"rollbacks"`
	Keys struct {
		Trusted                   int `json:"trusted"`
		Active                    int `json:"active"`
		Expired                   int `json:"expired"`
		Revoked                   int `json:"revoked"`
		Rotations                 int `json:"rotations"`
		Revocations               int `json:"revocations"`
		RefusedExpiredKey         int `json:"refused_expired_key"`
		RefusedRevokedKey         int `json:"refused_revoked_key"`
		PatchesSignedByRevokedKey int `json:"patches_signed_by_revoked_key"`
	} `json:"keys"`
	Certificate struct {
		OnFile        bool   `json:"on_file"`
		MaturityLevel int    `json:"maturity_level"`
		ExpiresOn     string `json:"expires_on"`
		Expired       bool   `json:"expired"`
		Count         int    `json:"count"`
	} `json:"certificate"`
}

func (s scorecardFigures) refusals() map[string]int {
	out := map[string]int{}
	for _, r := range s.Submissions.RefusedByReason {
		out[r.Reason] = r.Count
	}
	return out
}

func (e *env) scorecard(vendorID, token, query string) scorecardFigures {
	e.t.Helper()
	var sc scorecardFigures
	if code := e.call("GET", "/api/v1/vendors/"+vendorID+"/scorecard"+query, token, nil, &sc); code != http.StatusOK {
		e.t.Fatalf("scorecard of %s: %d", vendorID, code)
	}
	return sc
}

// sendRaw sends body with a content type and answers the status, headers and body.
func (e *env) sendRaw(method, path, token, contentType string, body []byte, header map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// TestSupplierScorecard drives the demo vendors' work through the API on a real Temporal
// server — submissions refused at intake for five reasons, a qualified patch, a campaign whose
// verification fails back to the backup, a key rotation and a revocation, a certificate on file —
// and checks every figure of the scorecard against what was done.
func TestSupplierScorecard(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testSupplierScorecard(t, envOptions{postgres: backend == "postgres"}) })
	}
}

func testSupplierScorecard(t *testing.T, opt envOptions) {
	e := newEnv(t, opt)
	ctx := context.Background()
	start := e.store.Now()

	// Nothing done yet: the demo figures are the demo's keys and nothing else.
	for _, v := range []struct {
		id      string
		trusted int
	}{{"vnd_acme", 1}, {"vnd_northwind", 1}, {"vnd_helix", 0}} {
		sc := e.scorecard(v.id, e.tokens.Auditor, "")
		if sc.Keys.Trusted != v.trusted || sc.Keys.Active != v.trusted || sc.Keys.Rotations != 0 || sc.Submissions.Total != 0 ||
			sc.AdvisoryToQualified.Count != 0 || sc.AdvisoryToQualified.MedianSeconds != nil || sc.Rollbacks.RolledBack != 0 || sc.Certificate.OnFile {
			t.Errorf("%s before any work: %+v", v.id, sc)
		}
	}

	// The advisory for CVE-2026-31337, released 2026-11-20T00:00:00Z.
	if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, acmeAdvisory("2026-11-20T00:00:00Z")), nil); code != http.StatusCreated {
		t.Fatalf("post advisory: %d", code)
	}

	// Refused at intake: a signature by a key nobody trusts, a product not in the catalogue.
	tp := newTestPatch(t, "V16.0.2", 2000)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	sub := e.signed(tp, "acme")
	sub.signature = signing.Sign(stranger, sub.manifest)
	if code := e.submit(e.tokens.Vendor, sub, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("a stranger's signature: %d, want 422", code)
	}
	unknown := newTestPatch(t, "V16.0.2", 2000)
	unknown.manifest.Product = "ViewPanel-HMI-Pro"
	if code := e.submit(e.tokens.Vendor, e.signed(unknown, "acme"), nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("an unknown product: %d, want 422", code)
	}
	// Northwind's refusal is Northwind's, never Acme's.
	nw := newTestPatch(t, "V16.0.2", 2000)
	nw.manifest.Vendor, nw.manifest.Product = "northwind", "DataVault-Historian"
	nwSub := e.signed(nw, "northwind")
	nwSub.signature = signing.Sign(stranger, nwSub.manifest)
	if code := e.submit(e.tokens.Vendor2, nwSub, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("northwind with a stranger's signature: %d, want 422", code)
	}

	// Accepted and qualified, then sent again: a duplicate.
	p := e.qualifiedPatch(tp)
	if code := e.submit(e.tokens.Vendor, e.signed(tp, "acme"), nil); code != http.StatusConflict {
		t.Fatalf("the same version again: %d, want 409", code)
	}

	// A campaign whose verification fails on one plant asset: rolled back.
	e.openWindowNow("zone_packaging")
	if code := e.call("PUT", "/api/v1/assets/ast_pkg-hmi-03/simulator/faults", e.tokens.Engineer, map[string]any{"verify_fail": true}, nil); code != http.StatusOK {
		t.Fatalf("set fault: %d", code)
	}
	var c campaignDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "HMI fix, hmi-03", "patch_id": p.ID, "asset_ids": []string{"ast_pkg-hmi-03"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	c = e.waitCampaign(c.ID, "awaiting_approval", "test_failed")
	if code := e.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", e.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	c = e.waitCampaign(c.ID, "completed", "halted", "rolled_back")
	rolledBack, benchRolledBack := 0, 0
	for _, a := range c.Assets {
		if a.State == "rolled_back" {
			if a.TestBench {
				benchRolledBack++
			} else {
				rolledBack++
			}
		}
	}
	if c.Status != "rolled_back" || rolledBack != 1 || benchRolledBack != 0 {
		t.Fatalf("campaign %s with %d plant and %d bench assets rolled back, want rolled_back with 1 and 0", c.Status, rolledBack, benchRolledBack)
	}

	// Key hygiene: a new key (a rotation), the demo key revoked, a key trusted only for a past
	// year (expired); a submission signed with each old key is refused.
	newPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if code := e.call("POST", "/api/v1/vendors/vnd_acme/keys", e.tokens.Admin, map[string]any{"public_key": signing.EncodePublic(newPub)}, nil); code != http.StatusCreated {
		t.Fatalf("trust a new key: %d", code)
	}
	oldPub, oldPriv, _ := ed25519.GenerateKey(rand.Reader)
	if code := e.call("POST", "/api/v1/vendors/vnd_acme/keys", e.tokens.Admin, map[string]any{"public_key": signing.EncodePublic(oldPub),
		"not_before": "2024-01-01T00:00:00Z", "not_after": "2025-01-01T00:00:00Z"}, nil); code != http.StatusCreated {
		t.Fatalf("trust a past key: %d", code)
	}
	keys, err := e.store.VendorKeys(ctx, "vnd_acme")
	if err != nil {
		t.Fatal(err)
	}
	if code := e.call("POST", "/api/v1/vendors/vnd_acme/keys/"+keys[0].ID+"/revoke", e.tokens.Admin, map[string]any{"reason": "laptop lost"}, nil); code != http.StatusOK {
		t.Fatalf("revoke the demo key: %d", code)
	}
	next := newTestPatch(t, "V16.0.3", 2000)
	if code := e.submit(e.tokens.Vendor, e.signed(next, "acme"), nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("signed with the revoked key: %d, want 422", code)
	}
	expiredSub := e.signed(next, "acme")
	expiredSub.signature = signing.Sign(oldPriv, expiredSub.manifest)
	if code := e.submit(e.tokens.Vendor, expiredSub, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("signed with the expired key: %d, want 422", code)
	}

	// The certificate on file: an IEC 62443-4-1 ML2 certificate that expired.
	pdf := []byte("%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	certPath := "/api/v1/vendors/vnd_acme/certificates?issuer=Example+Cert+Body&maturity_level=2&expires_on=2025-01-31&file_name=acme-62443-4-1.pdf"
	code, hdr, body := e.sendRaw("POST", certPath, e.tokens.Engineer, "application/pdf", pdf, nil)
	if code != http.StatusCreated || !strings.HasPrefix(hdr.Get("Location"), "/api/v1/vendors/vnd_acme/certificates/crt_") {
		t.Fatalf("upload certificate: %d %s", code, body)
	}
	var cert store.VendorCertificate
	_ = json.Unmarshal(body, &cert)
	if cert.SHA256 != sha(pdf) || cert.Size != int64(len(pdf)) || cert.MaturityLevel != 2 {
		t.Errorf("certificate stored as %+v", cert)
	}

	// Acme's figures, each against what was done above.
	var qualified []audit.Event
	if qualified, err = e.store.AuditEvents(ctx, store.AuditFilter{Action: "patch.qualified", PatchID: p.ID}); err != nil || len(qualified) != 1 {
		t.Fatalf("patch.qualified events of %s: %d, %v", p.ID, len(qualified), err)
	}
	qualifiedAt, _ := time.Parse(audit.TimeLayout, qualified[0].At)
	wantLead := int64(qualifiedAt.Sub(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) / time.Second)
	sc := e.scorecard("vnd_acme", e.tokens.Engineer, "")
	lead := sc.AdvisoryToQualified
	if lead.Count != 1 || lead.MedianSeconds == nil || *lead.MedianSeconds != wantLead || *lead.P90Seconds != wantLead ||
		len(lead.Patches) != 1 || lead.Patches[0].PatchID != p.ID || lead.Patches[0].Advisory != "ACME-SA-2026-014" {
		t.Errorf("advisory to qualified: %+v, want one patch of %d seconds", lead, wantLead)
	}
	subs := sc.Submissions
	wantRefused := map[string]int{"bad_signature": 1, "unknown_product": 1, "duplicate": 1, "revoked_key": 1, "expired_key": 1}
	if subs.Accepted != 1 || subs.Refused != 5 || subs.Total != 6 || subs.RefusedShare != 0.833 || subs.RejectedAtQualification != 0 {
		t.Errorf("submissions: %+v, want 1 accepted and 5 refused of 6", subs)
	}
	if got := sc.refusals(); len(got) != len(wantRefused) {
		t.Errorf("refused by reason %v, want %v", got, wantRefused)
	} else {
		for k, n := range wantRefused {
			if got[k] != n {
				t.Errorf("refused by reason %v, want %v", got, wantRefused)
			}
		}
	}
	rb := sc.Rollbacks
	if rb.RolledBack != 1 || rb.RollbackFailed != 0 || rb.Production != 1 || rb.TestBench != 0 || rb.Campaigns != 1 ||
		len(rb.ByPatch) != 1 || rb.ByPatch[0].PatchID != p.ID || rb.ByPatch[0].Count != 1 {
		t.Errorf("rollbacks: %+v, want one plant asset of %s", rb, p.ID)
	}
	k := sc.Keys
	if k.Trusted != 3 || k.Active != 1 || k.Expired != 1 || k.Revoked != 1 || k.Rotations != 2 || k.Revocations != 1 ||
		k.RefusedExpiredKey != 1 || k.RefusedRevokedKey != 1 || k.PatchesSignedByRevokedKey != 1 {
		t.Errorf("keys: %+v", k)
	}
	cf := sc.Certificate
	if !cf.OnFile || cf.MaturityLevel != 2 || cf.ExpiresOn != "2025-01-31" || !cf.Expired || cf.Count != 1 {
		t.Errorf("certificate: %+v, want ML2 expired on 2025-01-31", cf)
	}

	// Northwind's figures hold its own refusal only; Helix did nothing.
	if nws := e.scorecard("vnd_northwind", e.tokens.Vendor2, ""); nws.Submissions.Refused != 1 || nws.Submissions.Accepted != 0 || nws.refusals()["bad_signature"] != 1 {
		t.Errorf("northwind submissions: %+v", nws.Submissions)
	}
	if hx := e.scorecard("vnd_helix", e.tokens.Admin, ""); hx.Submissions.Total != 0 || hx.Keys.Trusted != 0 || hx.Rollbacks.RolledBack != 0 {
		t.Errorf("helix: %+v", hx)
	}

	// A period after everything counts nothing; one from the start counts it all.
	after := "?from=" + e.store.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	if late := e.scorecard("vnd_acme", e.tokens.Auditor, after); late.Submissions.Total != 0 || late.Rollbacks.RolledBack != 0 ||
		late.AdvisoryToQualified.Count != 0 || late.Keys.Rotations != 0 || late.Keys.Trusted != 3 {
		t.Errorf("a period after the work: %+v", late)
	}
	if all := e.scorecard("vnd_acme", e.tokens.Auditor, "?from="+start.Add(-time.Second).UTC().Format(time.RFC3339)); all.Submissions.Total != 6 || all.Rollbacks.RolledBack != 1 {
		t.Errorf("a period from the start: %+v", all.Submissions)
	}

	t.Run("vendor reads its own", func(t *testing.T) {
		code, _, body := e.sendRaw("GET", "/api/v1/vendors/vnd_acme/scorecard", e.tokens.Vendor, "", nil, nil)
		if code != http.StatusOK {
			t.Fatalf("acme reading its scorecard: %d", code)
		}
		for _, inventory := range []string{"ast_", "zone_", "site_", "hmi-03"} {
			if strings.Contains(string(body), inventory) {
				t.Errorf("the vendor's scorecard names plant inventory (%s): %s", inventory, body)
			}
		}
		if code := e.call("GET", "/api/v1/vendors/vnd_acme/scorecard", e.tokens.Vendor2, nil, nil); code != http.StatusNotFound {
			t.Errorf("northwind reading acme's scorecard: %d, want 404", code)
		}
		if code := e.call("GET", "/api/v1/vendors/vnd_acme/certificates", e.tokens.Vendor2, nil, nil); code != http.StatusNotFound {
			t.Errorf("northwind listing acme's certificates: %d, want 404", code)
		}
		var keys struct {
			Items []store.VendorKey `json:"items"`
		}
		if code := e.call("GET", "/api/v1/vendors/vnd_acme/keys", e.tokens.Vendor, nil, &keys); code != http.StatusOK || len(keys.Items) != 3 {
			t.Errorf("acme listing its keys: %d, %d keys, want 3", code, len(keys.Items))
		}
		code, hdr, got := e.sendRaw("GET", "/api/v1/vendors/vnd_acme/certificates/"+cert.ID, e.tokens.Vendor, "", nil, nil)
		if code != http.StatusOK || !bytes.Equal(got, pdf) || hdr.Get("Content-Type") != "application/pdf" || hdr.Get("X-Content-SHA256") != sha(pdf) {
			t.Errorf("acme downloading its certificate: %d %q", code, got)
		}
		if code, _, _ := e.sendRaw("POST", certPath, e.tokens.Vendor, "application/pdf", pdf, nil); code != http.StatusForbidden {
			t.Errorf("a vendor filing its own certificate: %d, want 403", code)
		}
	})

	t.Run("csv", func(t *testing.T) {
		for _, how := range []struct {
			query  string
			header map[string]string
		}{{"?format=csv", nil}, {"", map[string]string{"Accept": "text/csv"}}} {
			code, hdr, body := e.sendRaw("GET", "/api/v1/vendors/vnd_acme/scorecard"+how.query, e.tokens.Auditor, "", nil, how.header)
			if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
				t.Fatalf("csv %q: %d %s", how.query, code, hdr.Get("Content-Type"))
			}
			for _, row := range []string{"figure,value,detail\n", "submissions_refused,5,", "refused_revoked_key,1,", "rolled_back,1,", "key_rotations,2,", "certificate,expired,IEC 62443-4-1\n", "certificate_maturity_level,2,"} {
				if !strings.Contains(string(body), row) {
					t.Errorf("csv %q lacks %q:\n%s", how.query, row, body)
				}
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []struct {
			name, path, contentType string
			body                    []byte
			status                  int
			field                   string
		}{
			{"not a pdf", certPath, "application/pdf", []byte("hello"), http.StatusUnprocessableEntity, "body"},
			{"another type", certPath, "text/plain", pdf, http.StatusUnsupportedMediaType, ""},
			{"maturity level 7", strings.Replace(certPath, "maturity_level=2", "maturity_level=7", 1), "application/pdf", pdf, http.StatusUnprocessableEntity, "maturity_level"},
			{"no expiry", strings.Replace(certPath, "expires_on=2025-01-31", "expires_on=31.01.2025", 1), "application/pdf", pdf, http.StatusUnprocessableEntity, "expires_on"},
			{"no issuer", strings.Replace(certPath, "issuer=Example+Cert+Body", "issuer=", 1), "application/pdf", pdf, http.StatusUnprocessableEntity, "issuer"},
			{"too large", certPath, "application/pdf", append(append([]byte{}, pdf...), make([]byte, 10<<20)...), http.StatusRequestEntityTooLarge, ""},
		} {
			code, _, body := e.sendRaw("POST", c.path, e.tokens.Engineer, c.contentType, c.body, nil)
			var p problemDoc
			_ = json.Unmarshal(body, &p)
			if code != c.status || (c.field != "" && !fieldNamed(p, c.field)) {
				t.Errorf("%s: %d %s, want %d naming %q", c.name, code, body, c.status, c.field)
			}
		}
		if code := e.call("GET", "/api/v1/vendors/vnd_acme/scorecard?from=yesterday", e.tokens.Auditor, nil, nil); code != http.StatusUnprocessableEntity {
			t.Errorf("from=yesterday: %d, want 422", code)
		}
		if n, _ := e.store.VendorCertificates(ctx, "vnd_acme"); len(n) != 1 {
			t.Errorf("refused uploads left %d certificates, want the 1 filed", len(n))
		}
		if e.auditCount("vendor_certificate.added") != 1 {
			t.Errorf("vendor_certificate.added events: %d, want 1", e.auditCount("vendor_certificate.added"))
		}
	})
}
