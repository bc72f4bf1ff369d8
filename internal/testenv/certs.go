package testenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// certValidity is how long test certificates are valid; they start an hour in the past so a
// clock a little behind still accepts them.
const certValidity = 24 * time.Hour

// CA is a certificate authority for one test: a self-signed ECDSA P-256 root that issues
// server and client certificates, each written as PEM files in the test's temporary folder.
type CA struct {
	// CertFile is the CA certificate as PEM: the file a peer is given to trust this CA.
	CertFile string

	t    testing.TB
	cert *x509.Certificate
	key  crypto.Signer
	dir  string

	mu     sync.Mutex
	issued int
}

// Certificate is a certificate issued by a CA, with its private key.
type Certificate struct {
	// CertFile is the certificate as PEM (the leaf only); KeyFile its PKCS #8 private key as
	// PEM, readable by the owner only.
	CertFile, KeyFile string
	// TLS is the pair ready for tls.Config.Certificates, with Leaf set.
	TLS tls.Certificate
}

// NewCA creates a CA named name whose files live in a fresh t.TempDir().
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testenv: CA key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("testenv: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testenv: CA certificate: %v", err)
	}
	ca := &CA{cert: cert, t: t, key: key, dir: t.TempDir()}
	ca.CertFile = filepath.Join(ca.dir, "ca.crt")
	writePEM(t, ca.CertFile, "CERTIFICATE", der, 0o644)
	return ca
}

// Pool returns a pool holding only this CA, for tls.Config.RootCAs or ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Server issues a server certificate for hosts: each an IP address (127.0.0.1, 10.231.1.1)
// or a DNS name (localhost, temporal.plant.example).
func (ca *CA) Server(hosts ...string) Certificate {
	ca.t.Helper()
	if len(hosts) == 0 {
		ca.t.Fatal("testenv: a server certificate needs at least one DNS name or IP address")
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: hosts[0]}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue("server", tmpl)
}

// Client issues a client certificate whose subject is commonName.
func (ca *CA) Client(commonName string) Certificate {
	ca.t.Helper()
	return ca.issue("client", &x509.Certificate{Subject: pkix.Name{CommonName: commonName}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// issue signs tmpl with a fresh key and writes KIND-N.crt and KIND-N.key.
func (ca *CA) issue(kind string, tmpl *x509.Certificate) Certificate {
	t := ca.t
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testenv: %s key: %v", kind, err)
	}
	now := time.Now()
	tmpl.SerialNumber = serialNumber(t)
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(certValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatalf("testenv: %s certificate: %v", kind, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testenv: %s certificate: %v", kind, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testenv: %s key: %v", kind, err)
	}
	ca.mu.Lock()
	ca.issued++
	base := filepath.Join(ca.dir, fmt.Sprintf("%s-%d", kind, ca.issued))
	ca.mu.Unlock()
	c := Certificate{CertFile: base + ".crt", KeyFile: base + ".key",
		TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}
	writePEM(t, c.CertFile, "CERTIFICATE", der, 0o644)
	writePEM(t, c.KeyFile, "PRIVATE KEY", pkcs8, 0o600)
	return c
}

func serialNumber(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testenv: serial number: %v", err)
	}
	return n
}

func writePEM(t testing.TB, path, blockType string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), mode); err != nil {
		t.Fatalf("testenv: write %s: %v", filepath.Base(path), err)
	}
}
