package jobs

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/signing"
)

var issued = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// inTime is a moment while testJob is valid.
var inTime = issued.Add(time.Minute)

func testJob() Job {
	return Job{ID: "job_1", AssetID: "ast_gw", Op: OpVerify, IdempotencyKey: "wf/run/7/verify", Attempt: 1,
		IssuedAt: issued, NotAfter: issued.Add(Lifetime), Verify: &adapters.VerifyRequest{Expect: "2.0.0", Step: `["/bin/cat","firmware/version"]`}}
}

func TestSignOpen(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	payload, sig, err := Sign(key, testJob())
	if err != nil {
		t.Fatal(err)
	}
	env := Envelope{ID: "job_1", Payload: string(payload), Signature: sig}
	if j, err := Open(pub, "ast_gw", env, inTime); err != nil || j.Verify.Expect != "2.0.0" {
		t.Fatalf("Open = %+v, %v", j, err)
	}
	for name, tc := range map[string]struct {
		pub   ed25519.PublicKey
		asset string
		env   Envelope
		want  string
	}{
		"tampered":     {pub, "ast_gw", Envelope{ID: "job_1", Payload: strings.Replace(string(payload), "2.0.0", "2.0.1", 1), Signature: sig}, "does not verify"},
		"other key":    {other, "ast_gw", env, "does not verify"},
		"other asset":  {pub, "ast_other", env, "this agent acts for ast_other"},
		"other id":     {pub, "ast_gw", Envelope{ID: "job_2", Payload: env.Payload, Signature: sig}, "payload is of job job_1"},
		"no signature": {pub, "ast_gw", Envelope{ID: "job_1", Payload: env.Payload}, "signature must be"},
		// A signature over the bare payload, as any other use of the key would make it.
		"not a job signature": {pub, "ast_gw", Envelope{ID: "job_1", Payload: env.Payload, Signature: signing.Sign(key, payload)}, "does not verify"},
	} {
		if _, err := Open(tc.pub, tc.asset, tc.env, inTime); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
	// An agent that comes back after the job expired refuses it.
	if _, err := Open(pub, "ast_gw", env, issued.Add(Lifetime+time.Second)); err == nil || !strings.Contains(err.Error(), "expired at 2026-11-27T13:00:00Z") {
		t.Errorf("expired job: %v", err)
	}
	bad := testJob()
	bad.Verify = nil
	if _, _, err := Sign(key, bad); err == nil {
		t.Error("signed a verify job without a verify request")
	}
}

// FuzzOpen feeds Open what a server (or someone between it and the agent) could send: it must
// never accept a payload that the key did not sign, and never panic.
func FuzzOpen(f *testing.F) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	payload, sig, _ := Sign(key, testJob())
	f.Add("job_1", string(payload), sig)
	f.Add("job_1", `{"id":"job_1"}`, sig)
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, id, payload2, sig2 string) {
		j, err := Open(pub, "ast_gw", Envelope{ID: id, Payload: payload2, Signature: sig2}, inTime)
		if err == nil && payload2 != string(payload) {
			t.Fatalf("accepted a payload the key did not sign: %q → %+v", payload2, j)
		}
	})
}
