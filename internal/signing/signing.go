// Package signing signs and verifies patch manifests with ed25519 vendor keys, and reads and
// writes those keys as PEM files.
package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Fingerprint names a public key: "SHA256:" and the hex SHA-256 of the raw key.
func Fingerprint(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return "SHA256:" + hex.EncodeToString(s[:])
}

// GenerateKey makes a new vendor key pair.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// Sign signs the exact manifest bytes; the signature is base64 text.
func Sign(priv ed25519.PrivateKey, manifest []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, manifest))
}

// ParseSignature decodes base64 signature text.
func ParseSignature(text string) ([]byte, error) {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("signature must be %d bytes of base64 (an ed25519 signature)", ed25519.SignatureSize)
	}
	return sig, nil
}

// Verify checks sig over manifest with pub.
func Verify(pub ed25519.PublicKey, manifest, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, manifest, sig)
}

// EncodePublic renders a public key as base64 of its 32 raw bytes, as the API takes it.
func EncodePublic(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// DecodePublic reads a public key given as base64 raw bytes or as a PEM "PUBLIC KEY".
func DecodePublic(text string) (ed25519.PublicKey, error) {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "-----BEGIN") {
		b, _ := pem.Decode([]byte(text))
		if b == nil {
			return nil, errors.New("public key: not a PEM block")
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("public key: not an ed25519 key")
		}
		return pub, nil
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key must be %d bytes of base64 or a PEM PUBLIC KEY", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// MarshalPrivate renders a private key as PEM (PKCS #8).
func MarshalPrivate(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivate reads a PEM (PKCS #8) ed25519 private key.
func ParsePrivate(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("private key: not a PEM file")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("private key: not an ed25519 key")
	}
	return priv, nil
}

// MarshalPublic renders a public key as PEM.
func MarshalPublic(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// TrustedKey is a vendor key the asset owner trusts for a period.
type TrustedKey struct {
	Fingerprint string
	Public      string // base64 or PEM
	NotBefore   time.Time
	NotAfter    time.Time
	RevokedAt   *time.Time
}

// VerifyTrusted checks sig over manifest against a vendor's trusted keys at time at. It returns
// the fingerprint of the key that verified, or an error that says why none did.
func VerifyTrusted(keys []TrustedKey, manifest []byte, sigText string, at time.Time) (string, error) {
	sig, err := ParseSignature(sigText)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", errors.New("the vendor has no trusted signing key; an admin must register one")
	}
	var why []string
	for _, k := range keys {
		pub, err := DecodePublic(k.Public)
		if err != nil || !Verify(pub, manifest, sig) {
			continue
		}
		switch {
		case k.RevokedAt != nil && !at.Before(*k.RevokedAt):
			why = append(why, fmt.Sprintf("signed by key %s, which was revoked at %s", k.Fingerprint, k.RevokedAt.UTC().Format(time.RFC3339)))
		case at.Before(k.NotBefore):
			why = append(why, fmt.Sprintf("signed by key %s, which is not valid before %s", k.Fingerprint, k.NotBefore.UTC().Format(time.RFC3339)))
		case !at.Before(k.NotAfter):
			why = append(why, fmt.Sprintf("signed by key %s, which expired at %s", k.Fingerprint, k.NotAfter.UTC().Format(time.RFC3339)))
		default:
			return k.Fingerprint, nil
		}
	}
	if len(why) > 0 {
		return "", errors.New(strings.Join(why, "; "))
	}
	return "", errors.New("the signature does not verify with any trusted key of this vendor: the manifest was changed after signing or signed with an unknown key")
}
