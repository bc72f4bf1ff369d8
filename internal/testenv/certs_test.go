package testenv_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"testing"

	"github.com/otpatch/otpatch/internal/testenv"
)

// TestCAIssuesWorkingCertificates runs a real mutual-TLS handshake with certificates loaded
// from the PEM files: a client of the same CA gets through, one of another CA does not.
func TestCAIssuesWorkingCertificates(t *testing.T) {
	ca := testenv.NewCA(t, "plant CA")
	srvCert := ca.Server("127.0.0.1", "localhost")
	if got := srvCert.TLS.Leaf.DNSNames; len(got) != 1 || got[0] != "localhost" || len(srvCert.TLS.Leaf.IPAddresses) != 1 {
		t.Fatalf("server certificate names %v %v, want localhost and 127.0.0.1", got, srvCert.TLS.Leaf.IPAddresses)
	}
	pair, err := tls.LoadX509KeyPair(srvCert.CertFile, srvCert.KeyFile)
	if err != nil {
		t.Fatalf("server PEM files: %v", err)
	}
	caPEM, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no PEM certificate")
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte("ok"))
				}
			}()
		}
	}()

	dial := func(cert tls.Certificate) error {
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}})
		if err != nil {
			return err
		}
		defer c.Close()
		// TLS 1.3 reports a refused client certificate on the first read.
		_, err = io.ReadFull(c, make([]byte, 2))
		return err
	}
	c := ca.Client("site-a")
	if again := ca.Client("site-a"); again.CertFile == c.CertFile || again.KeyFile == c.KeyFile {
		t.Fatalf("two certificates share files: %+v, %+v", c, again)
	}
	client, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatalf("client PEM files: %v", err)
	}
	if err := dial(client); err != nil {
		t.Fatalf("client of the same CA: %v", err)
	}
	if err := dial(testenv.NewCA(t, "other CA").Client("site-a").TLS); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
}
