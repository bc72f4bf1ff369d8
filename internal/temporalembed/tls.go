package temporalembed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"time"

	"go.temporal.io/server/common/config"
)

// maxPEMFile bounds each certificate, key or CA file read for ServerTLS.
const maxPEMFile = 1 << 20

// ServerTLS makes the frontend accept only mutual-TLS connections: a client must present a
// certificate issued by a CA in ClientCAFile, and verifies the frontend's certificate.
type ServerTLS struct {
	// CertFile is the frontend's certificate as PEM (leaf first, then any intermediates). It
	// must name, as a DNS name or IP address, the address clients dial.
	CertFile string
	// KeyFile is the private key of CertFile as PEM.
	KeyFile string
	// ClientCAFile holds the PEM certificates of the CAs whose client certificates are
	// accepted.
	ClientCAFile string
}

// settings reads the files and returns the Temporal server's TLS settings and the client
// configuration the process's own clients (the readiness check) use.
//
// The server's internal clients of the frontend (the system worker, history and matching)
// present a client certificate made at each start, held in memory only and accepted besides
// ClientCAFile's CAs; they, and the returned client configuration, trust exactly the
// frontend's own certificate, checked against the first name in it.
func (t *ServerTLS) settings() (config.RootTLS, *tls.Config, error) {
	certPEM, err := readPEMFile("CertFile", t.CertFile)
	if err != nil {
		return config.RootTLS{}, nil, err
	}
	keyPEM, err := readPEMFile("KeyFile", t.KeyFile)
	if err != nil {
		return config.RootTLS{}, nil, err
	}
	caPEM, err := readPEMFile("ClientCAFile", t.ClientCAFile)
	if err != nil {
		return config.RootTLS{}, nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return config.RootTLS{}, nil, fmt.Errorf("TLS.CertFile %s with TLS.KeyFile %s: not a certificate and its private key: %v", t.CertFile, t.KeyFile, err)
	}
	var serverName string
	switch leaf := pair.Leaf; {
	case len(leaf.DNSNames) > 0:
		serverName = leaf.DNSNames[0]
	case len(leaf.IPAddresses) > 0:
		serverName = leaf.IPAddresses[0].String()
	default:
		return config.RootTLS{}, nil, fmt.Errorf("TLS.CertFile %s names no DNS name or IP address (subject alternative name); clients cannot verify it", t.CertFile)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
		return config.RootTLS{}, nil, fmt.Errorf("TLS.ClientCAFile %s holds no PEM certificate", t.ClientCAFile)
	}
	internal, internalCertPEM, internalKeyPEM, err := internalClientCertificate()
	if err != nil {
		return config.RootTLS{}, nil, err
	}
	b64 := base64.StdEncoding.EncodeToString
	toFrontend := config.ClientTLS{ServerName: serverName, RootCAData: []string{b64(certPEM)}}
	root := config.RootTLS{
		Frontend: config.GroupTLS{Server: config.ServerTLS{
			CertData:          b64(certPEM),
			KeyData:           b64(keyPEM),
			ClientCAData:      []string{b64(caPEM), b64(internalCertPEM)},
			RequireClientAuth: true,
		}},
		SystemWorker: config.WorkerTLS{CertData: b64(internalCertPEM), KeyData: b64(internalKeyPEM), Client: toFrontend},
	}
	own := x509.NewCertPool()
	own.AppendCertsFromPEM(certPEM)
	client := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, RootCAs: own, Certificates: []tls.Certificate{internal}}
	return root, client, nil
}

// readPEMFile reads one of ServerTLS's files, at most maxPEMFile bytes.
func readPEMFile(field, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("TLS.%s is empty; mutual TLS needs the frontend's certificate, its key and the client CA file", field)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("TLS.%s: %w", field, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("TLS.%s: read %s: %w", field, path, err)
	}
	if len(b) > maxPEMFile {
		return nil, fmt.Errorf("TLS.%s: %s is larger than %d bytes; it is not a PEM certificate or key", field, path, maxPEMFile)
	}
	return b, nil
}

// internalClientCertificate makes a self-signed ECDSA P-256 client certificate, its own CA,
// for the server's internal clients of the frontend.
func internalClientCertificate() (tls.Certificate, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "temporal internal client"},
		NotBefore:    now.Add(-time.Hour),
		// The server may run for years; the key never leaves this process's memory.
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, nil, errors.New("internal client certificate: " + err.Error())
	}
	return pair, certPEM, keyPEM, nil
}
