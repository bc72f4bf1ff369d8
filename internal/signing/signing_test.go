package signing

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var manifest = []byte(`{"schema":"otpatch.manifest/v1","vendor":"siemens","product":"simatic-s7-1500","patch_id":"SSA-712929","version":"V3.1.4"}`)

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestSignVerify(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, _ := newKey(t)
	sigText := Sign(priv, manifest)
	sig, err := ParseSignature(sigText)
	if err != nil {
		t.Fatalf("ParseSignature(Sign(...)): %v", err)
	}
	tampered := bytes.Replace(manifest, []byte("V3.1.4"), []byte("V3.1.5"), 1)
	tests := []struct {
		name     string
		pub      ed25519.PublicKey
		manifest []byte
		want     bool
	}{
		{"signed manifest", pub, manifest, true},
		{"manifest changed after signing", pub, tampered, false},
		{"trailing newline added", pub, append(bytes.Clone(manifest), '\n'), false},
		{"another vendor's key", otherPub, manifest, false},
		{"truncated key", pub[:16], manifest, false},
		{"no key", nil, manifest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.pub, tt.manifest, sig); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSignature(t *testing.T) {
	_, priv := newKey(t)
	good := Sign(priv, manifest)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"as signed", good, true},
		{"with surrounding whitespace from a .sig file", "  " + good + "\n", true},
		{"not base64", "not a signature!", false},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 32)), false},
		{"too long", base64.StdEncoding.EncodeToString(make([]byte, 65)), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := ParseSignature(tt.in)
			if tt.ok {
				if err != nil || len(sig) != ed25519.SignatureSize {
					t.Fatalf("ParseSignature = %d bytes, %v", len(sig), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "signature must be 64 bytes of base64") {
				t.Fatalf("ParseSignature(%q) error = %v, want one saying it must be 64 bytes of base64", tt.in, err)
			}
		})
	}
}

func TestKeyEncodings(t *testing.T) {
	pub, priv := newKey(t)
	pubPEM, err := MarshalPublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	privPEM, err := MarshalPrivate(priv)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	ecPrivDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER}))
	ecPrivPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecPrivDER})

	publics := []struct {
		name string
		in   string
		err  string
	}{
		{name: "base64 raw key", in: EncodePublic(pub)},
		{name: "PEM public key", in: string(pubPEM)},
		{name: "PEM with surrounding whitespace", in: "\n" + string(pubPEM) + "\n\n"},
		{name: "ECDSA key", in: ecPubPEM, err: "not an ed25519 key"},
		{name: "broken PEM", in: "-----BEGIN PUBLIC KEY-----\nAAAA", err: "not a PEM block"},
		{name: "base64 of the wrong length", in: base64.StdEncoding.EncodeToString(pub[:31]), err: "must be 32 bytes of base64 or a PEM PUBLIC KEY"},
		{name: "hex instead of base64", in: strings.Repeat("ab", 32) + "!", err: "must be 32 bytes"},
	}
	for _, tt := range publics {
		t.Run("public/"+tt.name, func(t *testing.T) {
			got, err := DecodePublic(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("DecodePublic error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !got.Equal(pub) {
				t.Fatalf("DecodePublic = %x, %v; want the original key", got, err)
			}
		})
	}

	privates := []struct {
		name string
		in   []byte
		err  string
	}{
		{name: "PKCS #8 PEM", in: privPEM},
		{name: "not PEM", in: []byte("ed25519 key"), err: "private key: not a PEM file"},
		{name: "ECDSA key", in: ecPrivPEM, err: "private key: not an ed25519 key"},
		{name: "public key given as private", in: pubPEM, err: "private key:"},
	}
	for _, tt := range privates {
		t.Run("private/"+tt.name, func(t *testing.T) {
			got, err := ParsePrivate(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParsePrivate error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !got.Equal(priv) {
				t.Fatalf("ParsePrivate did not return the original key: %v", err)
			}
		})
	}

	t.Run("fingerprint", func(t *testing.T) {
		fp := Fingerprint(pub)
		if !regexp.MustCompile(`^SHA256:[0-9a-f]{64}$`).MatchString(fp) {
			t.Fatalf("Fingerprint = %q, want SHA256: and 64 hex digits", fp)
		}
		back, _ := DecodePublic(string(pubPEM))
		if Fingerprint(back) != fp {
			t.Error("the fingerprint of a key read back from PEM differs")
		}
		other, _ := newKey(t)
		if Fingerprint(other) == fp {
			t.Error("two keys have the same fingerprint")
		}
	})
}

func TestVerifyTrusted(t *testing.T) {
	at := time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
	oldPub, oldPriv := newKey(t)
	newPub, newPriv := newKey(t)
	_, foreignPriv := newKey(t)
	pemPub, _ := MarshalPublic(newPub)

	trusted := func(pub ed25519.PublicKey, from, to time.Time) TrustedKey {
		return TrustedKey{Fingerprint: Fingerprint(pub), Public: EncodePublic(pub), NotBefore: from, NotAfter: to}
	}
	revoked := func(k TrustedKey, when time.Time) TrustedKey {
		k.RevokedAt = &when
		return k
	}
	year := 365 * 24 * time.Hour
	current := trusted(newPub, at.Add(-year), at.Add(year))
	expired := trusted(oldPub, at.Add(-2*year), at.Add(-time.Hour))
	tampered := bytes.Replace(manifest, []byte(`"vendor":"siemens"`), []byte(`"vendor":"siemens-evil"`), 1)

	tests := []struct {
		name     string
		keys     []TrustedKey
		manifest []byte
		sig      string
		wantFP   string
		err      []string // fragments the error must contain
	}{
		{name: "current key", keys: []TrustedKey{current}, sig: Sign(newPriv, manifest), wantFP: current.Fingerprint},
		{name: "current key kept as PEM", keys: []TrustedKey{{Fingerprint: current.Fingerprint, Public: string(pemPub), NotBefore: current.NotBefore, NotAfter: current.NotAfter}},
			sig: Sign(newPriv, manifest), wantFP: current.Fingerprint},
		{name: "valid from exactly now", keys: []TrustedKey{trusted(newPub, at, at.Add(year))}, sig: Sign(newPriv, manifest), wantFP: current.Fingerprint},
		{name: "revocation still in the future", keys: []TrustedKey{revoked(current, at.Add(time.Hour))}, sig: Sign(newPriv, manifest), wantFP: current.Fingerprint},
		{name: "rotation: new key verifies next to an expired one", keys: []TrustedKey{expired, current}, sig: Sign(newPriv, manifest), wantFP: current.Fingerprint},
		{name: "an unreadable key is skipped", keys: []TrustedKey{{Fingerprint: "SHA256:broken", Public: "garbage", NotAfter: at.Add(year)}, current},
			sig: Sign(newPriv, manifest), wantFP: current.Fingerprint},
		{name: "expired key", keys: []TrustedKey{expired, current}, sig: Sign(oldPriv, manifest),
			err: []string{"signed by key " + expired.Fingerprint, "which expired at " + expired.NotAfter.Format(time.RFC3339)}},
		{name: "key expiring exactly now", keys: []TrustedKey{trusted(newPub, at.Add(-year), at)}, sig: Sign(newPriv, manifest),
			err: []string{"which expired at 2025-06-10T12:00:00Z"}},
		{name: "key not valid yet", keys: []TrustedKey{trusted(newPub, at.Add(time.Hour), at.Add(year))}, sig: Sign(newPriv, manifest),
			err: []string{"signed by key " + current.Fingerprint, "which is not valid before 2025-06-10T13:00:00Z"}},
		{name: "revoked key", keys: []TrustedKey{revoked(current, at.Add(-time.Minute))}, sig: Sign(newPriv, manifest),
			err: []string{"signed by key " + current.Fingerprint, "which was revoked at 2025-06-10T11:59:00Z"}},
		{name: "revoked exactly now", keys: []TrustedKey{revoked(current, at)}, sig: Sign(newPriv, manifest),
			err: []string{"which was revoked at 2025-06-10T12:00:00Z"}},
		{name: "revocation wins over validity period", keys: []TrustedKey{revoked(expired, at.Add(-2*time.Hour))}, sig: Sign(oldPriv, manifest),
			err: []string{"was revoked at"}},
		{name: "foreign key", keys: []TrustedKey{current, expired}, sig: Sign(foreignPriv, manifest),
			err: []string{"does not verify with any trusted key of this vendor", "changed after signing or signed with an unknown key"}},
		{name: "tampered manifest", keys: []TrustedKey{current}, manifest: tampered, sig: Sign(newPriv, manifest),
			err: []string{"does not verify with any trusted key of this vendor"}},
		{name: "tampered manifest under an expired key names no key", keys: []TrustedKey{expired}, manifest: tampered, sig: Sign(oldPriv, manifest),
			err: []string{"does not verify with any trusted key"}},
		{name: "vendor without keys", keys: nil, sig: Sign(newPriv, manifest),
			err: []string{"the vendor has no trusted signing key; an admin must register one"}},
		{name: "signature not base64", keys: []TrustedKey{current}, sig: "%%%",
			err: []string{"signature must be 64 bytes of base64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.manifest
			if m == nil {
				m = manifest
			}
			fp, err := VerifyTrusted(tt.keys, m, tt.sig, at)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("VerifyTrusted refused: %v", err)
				}
				if fp != tt.wantFP {
					t.Fatalf("VerifyTrusted verified with %s, want %s", fp, tt.wantFP)
				}
				return
			}
			if err == nil {
				t.Fatalf("VerifyTrusted accepted (key %s); want a refusal saying %q", fp, tt.err)
			}
			if fp != "" {
				t.Errorf("VerifyTrusted returned fingerprint %s with its error", fp)
			}
			for _, frag := range tt.err {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q does not say %q", err, frag)
				}
			}
		})
	}
}

// Processes starting together on an empty data folder end up with one key, never a half-written
// file; a key file that is not a key is reported, not replaced.
func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "job.key")
	keys := make(chan ed25519.PrivateKey, 8)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			k, err := LoadOrCreateKey(path, "job key")
			keys <- k
			errs <- err
		}()
	}
	var first ed25519.PrivateKey
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		k := <-keys
		if first == nil {
			first = k
		} else if !first.Equal(k) {
			t.Fatal("two processes got different keys")
		}
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", info, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateKey(bad, "job key"); err == nil || !strings.Contains(err.Error(), "job key "+bad) {
		t.Fatalf("a file that is not a key: %v", err)
	}
}
