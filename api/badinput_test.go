package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// TestBadSubmissions sends broken patch submissions: each is refused with a 4xx problem that
// names the problem, leaves no object and no patch row, and adds exactly one audit event that
// records who tried what and why it was refused.
func TestBadSubmissions(t *testing.T) {
	e := newEnv(t, envOptions{maxArtifact: 1 << 20})
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	good := newTestPatch(t, "V16.0.2", 4096)
	cases := []struct {
		name   string
		build  func() submission
		status int
		says   string // the problem detail must contain this
	}{
		{"malformed manifest JSON", func() submission {
			s := e.signed(good, "acme")
			s.manifest = []byte(`{"schema": "otpatch.manifest/v1", "vendor": "acme",`)
			s.signature = signing.Sign(e.keys["acme"], s.manifest)
			return s
		}, http.StatusUnprocessableEntity, "ends before the JSON is complete"},
		{"manifest missing fields", func() submission {
			p := good
			p.manifest.Title, p.manifest.FixedVersion, p.manifest.ReleaseDate = "", "", "yesterday"
			return e.signed(p, "acme")
		}, http.StatusUnprocessableEntity, "release_date"},
		{"sha256 mismatch", func() submission {
			s := e.signed(good, "acme")
			tampered := append([]byte(nil), good.artifact...)
			tampered[100] ^= 1
			s.artifacts = map[string][]byte{"viewpanel.fwpkg": tampered}
			return s
		}, http.StatusUnprocessableEntity, "sha256 of the upload does not match the manifest"},
		{"signature by an unknown key", func() submission {
			s := e.signed(good, "acme")
			s.signature = signing.Sign(stranger, s.manifest)
			return s
		}, http.StatusUnprocessableEntity, "does not verify with any trusted key"},
		{"signed by another vendor", func() submission {
			s := e.signed(good, "acme")
			s.signature = signing.Sign(e.keys["northwind"], s.manifest)
			return s
		}, http.StatusUnprocessableEntity, "does not verify with any trusted key"},
		{"manifest changed after signing", func() submission {
			s := e.signed(good, "acme")
			s.manifest = []byte(strings.Replace(string(s.manifest), "V16.0.2", "V16.0.3", 1))
			return s
		}, http.StatusUnprocessableEntity, "signature"},
		{"oversized body", func() submission {
			p := newTestPatch(t, "V16.0.2", 2<<20)
			return e.signed(p, "acme")
		}, http.StatusRequestEntityTooLarge, "larger than the limit"},
		{"artifact longer than declared", func() submission {
			s := e.signed(good, "acme")
			s.artifacts = map[string][]byte{"viewpanel.fwpkg": append(append([]byte(nil), good.artifact...), make([]byte, 300<<10)...)}
			return s
		}, http.StatusUnprocessableEntity, "size of the upload does not match the manifest"},
		{"artifact not in the manifest", func() submission {
			s := e.signed(good, "acme")
			s.artifacts["extra.bin"] = []byte("x")
			return s
		}, http.StatusUnprocessableEntity, "not listed in the manifest"},
		{"artifact missing", func() submission {
			s := e.signed(good, "acme")
			s.artifacts = map[string][]byte{}
			return s
		}, http.StatusUnprocessableEntity, "not sent"},
		{"manifest for another vendor", func() submission {
			p := good
			p.manifest.Vendor = "northwind"
			return e.signed(p, "acme")
		}, http.StatusForbidden, "submits for vendor"},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := e.store.AuditEvents(ctx, store.AuditFilter{Action: "patch.submit_refused", Limit: 1000})
			var p problemDoc
			code := e.submit(e.tokens.Vendor, tc.build(), &p)
			if code != tc.status {
				t.Errorf("status %d, want %d (%s)", code, tc.status, p.Detail)
			}
			if !strings.Contains(p.Detail, tc.says) {
				t.Errorf("problem detail %q does not say %q", p.Detail, tc.says)
			}
			keys, err := e.objects.List(ctx, "patches/")
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 0 {
				t.Errorf("objects left behind: %v", keys)
			}
			for u := range e.objects.Client().ListIncompleteUploads(ctx, e.objects.Bucket(), "patches/", true) {
				t.Errorf("incomplete upload left behind: %s", u.Key)
			}
			patches, _ := e.store.Patches(ctx, "")
			if len(patches) != 0 {
				t.Errorf("a patch row exists: %+v", patches[0])
			}
			after, _ := e.store.AuditEvents(ctx, store.AuditFilter{Action: "patch.submit_refused", Limit: 1000})
			if len(after) != len(before)+1 {
				t.Fatalf("%d refusal events added, want 1", len(after)-len(before))
			}
			ev := after[len(after)-1]
			if ev.Actor != "acme-release" || ev.Role != "vendor" || !strings.Contains(ev.Details, tc.says) {
				t.Errorf("refusal event does not say who and why: %+v", ev)
			}
		})
	}
	res, err := e.store.VerifyAudit(ctx)
	if err != nil || !res.OK {
		t.Errorf("audit chain after refusals: %+v %v", res, err)
	}
}

// TestBadJSON checks a malformed or oversized JSON body is refused with a problem naming it.
func TestBadJSON(t *testing.T) {
	e := newEnv(t, envOptions{})
	var p problemDoc
	if code := e.call("POST", "/api/v1/campaigns", e.tokens.Engineer, map[string]any{"name": "x", "patch_id": "pat_missing", "surprise": 1}, &p); code != http.StatusUnprocessableEntity || !strings.Contains(p.Detail, "surprise") {
		t.Errorf("unknown field: %d %q", code, p.Detail)
	}
	big := strings.Repeat("x", 2<<20)
	if code := e.call("POST", "/api/v1/sites", e.tokens.Engineer, map[string]any{"name": big}, &p); code != http.StatusRequestEntityTooLarge || !strings.Contains(p.Detail, "larger than") {
		t.Errorf("oversized body: %d %q", code, p.Detail)
	}
	if code := e.call("POST", "/api/v1/zones", e.tokens.Engineer, map[string]any{"site_id": "site_basel", "name": "Z", "sl_t": 7,
		"window": map[string]any{"cron": "0 2 * * 7x", "duration": "1h", "time_zone": "Mars/Olympus", "max_parallel": 0}}, &p); code != http.StatusUnprocessableEntity {
		t.Errorf("bad zone: %d", code)
	}
	fields := map[string]bool{}
	for _, f := range p.Errors {
		fields[f.Field] = true
	}
	for _, f := range []string{"sl_t", "window.time_zone", "window.max_parallel"} {
		if !fields[f] {
			t.Errorf("bad zone: %s not listed among %+v", f, p.Errors)
		}
	}
}
