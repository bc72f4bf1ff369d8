package api_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"
)

func init() {
	allowed["POST /api/v1/patches/uploads"] = []string{"vendor"}
	allowed["POST /api/v1/patches/uploads/{uploadID}/complete"] = []string{"vendor"}
}

type uploadDoc struct {
	UploadID  string `json:"upload_id"`
	Artifacts []struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"artifacts"`
}

func putURL(t *testing.T, url string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestPresignedUpload sends large artifacts straight to the object store: the server checks
// size and SHA-256 by reading the objects once before it accepts the patch, and removes an
// upload that does not match.
func TestPresignedUpload(t *testing.T) {
	e := newEnv(t, envOptions{maxArtifact: 1 << 20})
	start := func(p testPatch) uploadDoc {
		s := e.signed(p, "acme")
		var u uploadDoc
		if code := e.call("POST", "/api/v1/patches/uploads", e.tokens.Vendor, map[string]string{"manifest": string(s.manifest), "signature": s.signature}, &u); code != http.StatusCreated {
			t.Fatalf("start upload: %d", code)
		}
		return u
	}

	t.Run("accepted after the read-back check", func(t *testing.T) {
		p := newTestPatch(t, "V16.0.2", 6<<20) // larger than the API's streaming limit
		u := start(p)
		if code := putURL(t, u.Artifacts[0].URL, p.artifact); code != http.StatusOK {
			t.Fatalf("PUT to the presigned URL: %d", code)
		}
		var doc patchDoc
		if code := e.call("POST", "/api/v1/patches/uploads/"+u.UploadID+"/complete", e.tokens.Vendor, nil, &doc); code != http.StatusCreated {
			t.Fatalf("complete: %d", code)
		}
		if doc.ID != u.UploadID || len(doc.Artifacts) != 1 || doc.Artifacts[0].SHA256 != sha(p.artifact) {
			t.Errorf("patch %+v", doc)
		}
		e.waitFor("qualification", func() (bool, string) {
			e.call("GET", "/api/v1/patches/"+doc.ID, e.tokens.Engineer, nil, &doc)
			return doc.Status == "qualified", doc.Status
		})
		var p2 problemDoc
		if code := e.call("POST", "/api/v1/patches/uploads/"+u.UploadID+"/complete", e.tokens.Vendor, nil, &p2); code != http.StatusConflict {
			t.Errorf("completing twice: %d %s", code, p2.Detail)
		}
		if code := e.call("POST", "/api/v1/patches/uploads/"+u.UploadID+"/complete", e.tokens.Vendor2, nil, &p2); code != http.StatusNotFound {
			t.Errorf("another vendor completing: %d", code)
		}
	})

	t.Run("a changed artifact is refused and removed", func(t *testing.T) {
		p := newTestPatch(t, "V16.0.3", 2<<20)
		u := start(p)
		bad := append([]byte(nil), p.artifact...)
		bad[0] ^= 0xff
		putURL(t, u.Artifacts[0].URL, bad)
		before := e.intakeState(t)
		var pd problemDoc
		if code := e.call("POST", "/api/v1/patches/uploads/"+u.UploadID+"/complete", e.tokens.Vendor, nil, &pd); code != http.StatusUnprocessableEntity {
			t.Errorf("complete with a changed artifact: %d %s", code, pd.Detail)
		}
		after := e.intakeState(t)
		if after.objects != before.objects-1 || after.patches != before.patches || after.refusals != before.refusals+1 {
			t.Errorf("state %+v → %+v: the object must be removed, no patch added, one refusal audited", before, after)
		}
	})

	t.Run("a missing artifact is refused", func(t *testing.T) {
		u := start(newTestPatch(t, "V16.0.4", 1000))
		var pd problemDoc
		if code := e.call("POST", "/api/v1/patches/uploads/"+u.UploadID+"/complete", e.tokens.Vendor, nil, &pd); code != http.StatusUnprocessableEntity {
			t.Errorf("complete without uploading: %d %s", code, pd.Detail)
		}
	})

	t.Run("an expired upload is refused and swept", func(t *testing.T) {
		e2 := newEnv(t, envOptions{presignExpiry: time.Second})
		p := newTestPatch(t, "V16.0.2", 1000)
		s := e2.signed(p, "acme")
		var u uploadDoc
		e2.call("POST", "/api/v1/patches/uploads", e2.tokens.Vendor, map[string]string{"manifest": string(s.manifest), "signature": s.signature}, &u)
		putURL(t, u.Artifacts[0].URL, p.artifact)
		time.Sleep(1100 * time.Millisecond)
		if code := putURL(t, u.Artifacts[0].URL, p.artifact); code != http.StatusForbidden {
			t.Errorf("PUT after expiry: %d, want 403", code)
		}
		var pd problemDoc
		if code := e2.call("POST", "/api/v1/patches/uploads/"+u.UploadID+"/complete", e2.tokens.Vendor, nil, &pd); code != http.StatusConflict {
			t.Errorf("complete after expiry: %d %s", code, pd.Detail)
		}
		keys, _ := e2.objects.List(context.Background(), "patches/")
		if len(keys) != 0 {
			t.Errorf("expired upload left %v", keys)
		}
	})
}
