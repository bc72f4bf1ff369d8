package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/signing"
)

// The published key is accepted in every form the server hands it out.
func TestReadPublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	pemBytes, _ := signing.MarshalPublic(pub)
	apiJSON, _ := json.Marshal(map[string]string{"algorithm": "ed25519", "public_key": signing.EncodePublic(pub)})
	forms := map[string]string{"base64 text": signing.EncodePublic(pub)}
	for name, content := range map[string][]byte{"key.pem": pemBytes, "key.b64": []byte(signing.EncodePublic(pub) + "\n"), "key.json": apiJSON} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o600)
		forms[name] = p
	}
	for name, arg := range forms {
		got, err := readPublicKey(arg)
		if err != nil || !got.Equal(pub) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := readPublicKey(filepath.Join(dir, "missing-and-not-base64")); err == nil {
		t.Error("a missing file that is not a key was accepted")
	}
}

func TestEvidenceVerifyRefusesGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bundle.tar.gz")
	os.WriteFile(p, []byte("not a bundle"), 0o600)
	var out bytes.Buffer
	err := runEvidenceVerify(context.Background(), []string{p}, &out)
	if exitCode(err) != exitVerification || !strings.Contains(out.String(), "FAILED: bundle:") {
		t.Fatalf("garbage bundle: %v (exit %d), output %q", err, exitCode(err), out.String())
	}
}
