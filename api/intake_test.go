package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// intakeState is what a refused submission must leave unchanged.
type intakeState struct {
	objects, uploads, patches, refusals int
}

func (e *env) intakeState(t *testing.T) intakeState {
	t.Helper()
	ctx := context.Background()
	keys, err := e.objects.List(ctx, "patches/")
	if err != nil {
		t.Fatal(err)
	}
	uploads := 0
	for range e.objects.Client().ListIncompleteUploads(ctx, e.objects.Bucket(), "patches/", true) {
		uploads++
	}
	ps, _ := e.store.Patches(ctx, "")
	evs, _ := e.store.AuditEvents(ctx, store.AuditFilter{Action: "patch.submit_refused", Limit: 1000})
	return intakeState{objects: len(keys), uploads: uploads, patches: len(ps), refusals: len(evs)}
}

// TestIntakeRefusals covers the refusals that need state: keys revoked, expired or not yet
// valid, a duplicate, a rollback, a part name with a path, a truncated upload.
func TestIntakeRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	first := newTestPatch(t, "V16.0.2", 5000)
	first.manifest.PatchID = "ACME-SA-2026-014"
	var ok patchDoc
	if code := e.submit(e.tokens.Vendor, e.signed(first, "acme"), &ok); code != http.StatusCreated {
		t.Fatalf("first submission: %d", code)
	}
	// A key that expired and one not valid yet, both trusted by the admin for those periods.
	addKey := func(from, to time.Time) ed25519.PrivateKey {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		code := e.call("POST", "/api/v1/vendors/vnd_acme/keys", e.tokens.Admin, map[string]any{"public_key": signing.EncodePublic(pub), "not_before": from, "not_after": to}, nil)
		if code != http.StatusCreated {
			t.Fatalf("add key: %d", code)
		}
		return priv
	}
	expired := addKey(time.Now().AddDate(-2, 0, 0), time.Now().AddDate(-1, 0, 0))
	future := addKey(time.Now().AddDate(1, 0, 0), time.Now().AddDate(2, 0, 0))

	cases := []struct {
		name   string
		send   func() (int, problemDoc)
		status int
		says   string
	}{
		{"signature by an expired key", func() (int, problemDoc) {
			s := e.signed(newTestPatch(t, "V16.0.3", 100), "acme")
			s.signature = signing.Sign(expired, s.manifest)
			var p problemDoc
			return e.submit(e.tokens.Vendor, s, &p), p
		}, http.StatusUnprocessableEntity, "expired"},
		{"signature by a key not yet valid", func() (int, problemDoc) {
			s := e.signed(newTestPatch(t, "V16.0.3", 100), "acme")
			s.signature = signing.Sign(future, s.manifest)
			var p problemDoc
			return e.submit(e.tokens.Vendor, s, &p), p
		}, http.StatusUnprocessableEntity, "not valid before"},
		{"duplicate patch id and version", func() (int, problemDoc) {
			var p problemDoc
			return e.submit(e.tokens.Vendor, e.signed(first, "acme"), &p), p
		}, http.StatusConflict, "submitted before"},
		{"rollback to an older version", func() (int, problemDoc) {
			old := newTestPatch(t, "V16.0.1", 100)
			old.manifest.PatchID, old.manifest.Supersedes = "ACME-SA-2026-015", []string{"ACME-SA-2026-009"}
			var p problemDoc
			return e.submit(e.tokens.Vendor, e.signed(old, "acme"), &p), p
		}, http.StatusConflict, "rollback protection"},
		{"unsupported manifest version", func() (int, problemDoc) {
			p2 := newTestPatch(t, "V16.0.3", 100)
			p2.manifest.Schema = "otpatch.manifest/v9"
			var p problemDoc
			return e.submit(e.tokens.Vendor, e.signed(p2, "acme"), &p), p
		}, http.StatusUnprocessableEntity, "schema"},
		{"artifact name with ../ in the manifest", func() (int, problemDoc) {
			p2 := newTestPatch(t, "V16.0.3", 100)
			p2.manifest.Artifacts[0].Name = "../../etc/passwd"
			var p problemDoc
			return e.submit(e.tokens.Vendor, e.signed(p2, "acme"), &p), p
		}, http.StatusUnprocessableEntity, "plain file name"},
		{"absolute artifact path in the manifest", func() (int, problemDoc) {
			p2 := newTestPatch(t, "V16.0.3", 100)
			p2.manifest.Artifacts[0].Name = "/opt/fw.bin"
			var p problemDoc
			return e.submit(e.tokens.Vendor, e.signed(p2, "acme"), &p), p
		}, http.StatusUnprocessableEntity, "plain file name"},
		{"artifact name with NUL and control characters", func() (int, problemDoc) {
			p2 := newTestPatch(t, "V16.0.3", 100)
			p2.manifest.Artifacts[0].Name = "fw\x00.bin\r\n"
			var p problemDoc
			return e.submit(e.tokens.Vendor, e.signed(p2, "acme"), &p), p
		}, http.StatusUnprocessableEntity, "plain file name"},
		{"part file name with a directory", func() (int, problemDoc) {
			p2 := newTestPatch(t, "V16.0.3", 100)
			s := e.signed(p2, "acme")
			s.artifacts = map[string][]byte{"../" + p2.manifest.Artifacts[0].Name: p2.artifact}
			var p problemDoc
			return e.submit(e.tokens.Vendor, s, &p), p
		}, http.StatusUnprocessableEntity, "not listed in the manifest"},
		{"truncated upload", func() (int, problemDoc) {
			p2 := newTestPatch(t, "V16.0.3", 3<<20)
			e.truncatedSubmit(t, e.signed(p2, "acme"))
			// The server answers a connection that broke off to nobody; wait for its refusal.
			var last intakeState
			for i := 0; i < 100; i++ {
				if last = e.intakeState(t); last.refusals > 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			return http.StatusBadRequest, problemDoc{Detail: "broke off"}
		}, http.StatusBadRequest, "broke off"},
		{"signature by a revoked key", func() (int, problemDoc) {
			keys, _ := e.store.VendorKeys(ctx, "vnd_acme")
			var demoKey string
			for _, k := range keys {
				if pub, _ := signing.DecodePublic(k.PublicKey); pub != nil && pub.Equal(e.keys["acme"].Public()) {
					demoKey = k.ID
				}
			}
			if code := e.call("POST", "/api/v1/vendors/vnd_acme/keys/"+demoKey+"/revoke", e.tokens.Admin, map[string]any{"reason": "laptop of the release engineer stolen"}, nil); code != http.StatusOK {
				t.Fatalf("revoke: %d", code)
			}
			var p problemDoc
			return e.submit(e.tokens.Vendor, e.signed(newTestPatch(t, "V16.0.3", 100), "acme"), &p), p
		}, http.StatusUnprocessableEntity, "revoked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.intakeState(t)
			code, p := tc.send()
			if code != tc.status || !strings.Contains(p.Detail, tc.says) {
				t.Errorf("got %d %q, want %d saying %q", code, p.Detail, tc.status, tc.says)
			}
			var after intakeState
			for i := 0; i < 100; i++ { // the truncated case is answered asynchronously
				if after = e.intakeState(t); after.refusals > before.refusals {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if after.objects != before.objects || after.patches != before.patches || after.uploads != 0 {
				t.Errorf("left behind: objects %d→%d, patches %d→%d, %d incomplete uploads", before.objects, after.objects, before.patches, after.patches, after.uploads)
			}
			if after.refusals != before.refusals+1 {
				t.Errorf("%d refusal events added, want 1", after.refusals-before.refusals)
			}
		})
	}
}

// truncatedSubmit sends a submission whose body stops short of its Content-Length and closes
// the connection.
func (e *env) truncatedSubmit(t *testing.T, s submission) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormField("manifest")
	fw.Write(s.manifest)
	mw.WriteField("signature", s.signature)
	for name, b := range s.artifacts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="artifact"; filename=%q`, name))
		pw, _ := mw.CreatePart(h)
		pw.Write(b)
	}
	mw.Close()
	full := body.Bytes()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "POST /api/v1/patches HTTP/1.1\r\nHost: otpatch\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", e.tokens.Vendor, mw.FormDataContentType(), len(full))
	w.Write(full[:len(full)/2])
	w.Flush()
	time.Sleep(100 * time.Millisecond)
}

// TestIdempotentSubmission sends the same submission twice with one Idempotency-Key: the
// second answer is the first, and only one patch exists.
func TestIdempotentSubmission(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := e.signed(newTestPatch(t, "V16.0.2", 1000), "acme")
	send := func() (int, string, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormField("manifest")
		fw.Write(s.manifest)
		mw.WriteField("signature", s.signature)
		for name, b := range s.artifacts {
			fw, _ := mw.CreateFormFile("artifact", name)
			fw.Write(b)
		}
		mw.Close()
		req, _ := http.NewRequest("POST", e.url+"/api/v1/patches", &buf)
		req.Header.Set("Authorization", "Bearer "+e.tokens.Vendor)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Idempotency-Key", "release-2026-11-20-a")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return res.StatusCode, b.String(), res.Header.Get("Idempotent-Replayed")
	}
	c1, b1, _ := send()
	c2, b2, replayed := send()
	if c1 != http.StatusCreated || c2 != http.StatusCreated || b1 != b2 || replayed != "true" {
		t.Errorf("first %d, retry %d (replayed %q); bodies equal: %v", c1, c2, replayed, b1 == b2)
	}
	ps, _ := e.store.Patches(context.Background(), "")
	if len(ps) != 1 {
		t.Errorf("%d patches after a retried submission, want 1", len(ps))
	}
}
