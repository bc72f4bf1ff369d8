package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"
)

// maxTLSFile bounds each certificate, key or CA file read for the Temporal connection.
const maxTLSFile = 1 << 20

// temporalTLSSettings is how a process reaches the Temporal frontend over TLS: its client
// certificate and key (mutual TLS), the CAs that signed the frontend's certificate, and the
// name that certificate is checked against.
type temporalTLSSettings struct {
	cert, key, ca, serverName string
}

// The settings' names, as config check reports them.
const (
	settingTemporalTLSCert       = "OTPATCH_TEMPORAL_TLS_CERT"
	settingTemporalTLSKey        = "OTPATCH_TEMPORAL_TLS_KEY"
	settingTemporalTLSCA         = "OTPATCH_TEMPORAL_TLS_CA"
	settingTemporalTLSServerName = "OTPATCH_TEMPORAL_TLS_SERVER_NAME"
)

func (s *temporalTLSSettings) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.cert, "temporal-tls-cert", env("TEMPORAL_TLS_CERT", ""), "client certificate (PEM file) presented to the Temporal frontend for mutual TLS (OTPATCH_TEMPORAL_TLS_CERT)")
	fs.StringVar(&s.key, "temporal-tls-key", env("TEMPORAL_TLS_KEY", ""), "private key (PEM file) of --temporal-tls-cert (OTPATCH_TEMPORAL_TLS_KEY)")
	fs.StringVar(&s.ca, "temporal-tls-ca", env("TEMPORAL_TLS_CA", ""), "CA certificates (PEM file) that signed the Temporal frontend's certificate; empty: the system's roots. TLS to Temporal is on when this or the client certificate is set (OTPATCH_TEMPORAL_TLS_CA)")
	fs.StringVar(&s.serverName, "temporal-tls-server-name", env("TEMPORAL_TLS_SERVER_NAME", ""), "name the Temporal frontend's certificate must carry, when it is not the host of --temporal (OTPATCH_TEMPORAL_TLS_SERVER_NAME)")
}

// settingError is a problem with one setting, named as config check names it.
type settingError struct {
	setting, problem string
}

func (e *settingError) Error() string { return e.setting + ": " + e.problem }

// temporalTLS returns the TLS configuration for the Temporal client: nil, nil when TLS to
// Temporal is off (no client certificate and no CA set). Errors name the setting and file.
func (c *config) temporalTLS() (*tls.Config, error) {
	return c.temporalClientTLS.config(time.Now())
}

// on reports whether TLS to Temporal is configured.
func (s *temporalTLSSettings) on() bool {
	return s.cert != "" || s.key != "" || s.ca != ""
}

func (s *temporalTLSSettings) config(now time.Time) (*tls.Config, error) {
	if !s.on() {
		if s.serverName != "" {
			return nil, &settingError{settingTemporalTLSServerName, "is set but TLS to Temporal is off: also set " + settingTemporalTLSCA + " or the client certificate and key"}
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.serverName}
	if s.serverName != "" && net.ParseIP(s.serverName) == nil && strings.ContainsAny(s.serverName, " /:@") {
		return nil, &settingError{settingTemporalTLSServerName, fmt.Sprintf("%q is not a host name (example temporal.plant.example)", s.serverName)}
	}
	switch {
	case s.cert != "" && s.key == "":
		return nil, &settingError{settingTemporalTLSKey, "missing: " + settingTemporalTLSCert + " is set; give the private key of that client certificate (PEM file)"}
	case s.cert == "" && s.key != "":
		return nil, &settingError{settingTemporalTLSCert, "missing: " + settingTemporalTLSKey + " is set; give the client certificate for that key (PEM file)"}
	case s.cert != "":
		pair, err := loadClientCertificate(s.cert, s.key, now)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if s.ca != "" {
		b, err := readTLSFile(settingTemporalTLSCA, s.ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, &settingError{settingTemporalTLSCA, s.ca + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)"}
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// loadClientCertificate reads a client certificate and its key and checks they belong
// together, are valid at now and are meant for client authentication.
func loadClientCertificate(certFile, keyFile string, now time.Time) (tls.Certificate, error) {
	certPEM, err := readTLSFile(settingTemporalTLSCert, certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readTLSFile(settingTemporalTLSKey, keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	if firstPEM(certPEM, func(t string) bool { return t == "CERTIFICATE" }) == nil {
		return tls.Certificate{}, &settingError{settingTemporalTLSCert, certFile + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)"}
	}
	if firstPEM(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }) == nil {
		what := "no PEM private key (-----BEGIN PRIVATE KEY-----)"
		if firstPEM(keyPEM, func(t string) bool { return t == "CERTIFICATE" }) != nil {
			what = "a certificate, not a private key"
		}
		return tls.Certificate{}, &settingError{settingTemporalTLSKey, keyFile + " holds " + what}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		reason := strings.TrimPrefix(err.Error(), "tls: ")
		if strings.Contains(reason, "does not match") {
			reason = "it is not the private key of that certificate"
		}
		return tls.Certificate{}, &settingError{settingTemporalTLSKey, fmt.Sprintf("cannot use %s as the key of %s: %s", keyFile, certFile, reason)}
	}
	leaf := pair.Leaf
	switch {
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, &settingError{settingTemporalTLSCert, fmt.Sprintf("the certificate in %s expired on %s; renew it", certFile, leaf.NotAfter.UTC().Format(time.DateOnly))}
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, &settingError{settingTemporalTLSCert, fmt.Sprintf("the certificate in %s is not valid before %s (is this machine's clock right?)", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))}
	case len(leaf.ExtKeyUsage) > 0 && !hasClientAuth(leaf.ExtKeyUsage):
		return tls.Certificate{}, &settingError{settingTemporalTLSCert, fmt.Sprintf("the certificate in %s is not for client authentication (its extended key usage lacks clientAuth); the frontend would refuse it", certFile)}
	}
	return pair, nil
}

func hasClientAuth(usages []x509.ExtKeyUsage) bool {
	for _, u := range usages {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// firstPEM returns the first PEM block in b whose type matches, or nil.
func firstPEM(b []byte, match func(blockType string) bool) *pem.Block {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil
		}
		if match(block.Type) {
			return block
		}
	}
}

// readTLSFile reads the file a setting names, at most maxTLSFile bytes.
func readTLSFile(setting, path string) ([]byte, error) {
	unreadable := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once
		}
		return &settingError{setting, fmt.Sprintf("cannot read %s: %v", path, err)}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, unreadable(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTLSFile+1))
	if err != nil {
		return nil, unreadable(err)
	}
	if len(b) > maxTLSFile {
		return nil, &settingError{setting, fmt.Sprintf("%s is larger than %d bytes; it is not a PEM certificate or key", path, maxTLSFile)}
	}
	return b, nil
}

// problems adds config check's findings about the settings.
func (s *temporalTLSSettings) problems(add func(setting, format string, a ...any)) {
	if _, err := s.config(time.Now()); err != nil {
		var se *settingError
		if errors.As(err, &se) {
			add(se.setting, "%s", se.problem)
		} else {
			add(settingTemporalTLSCert, "%v", err)
		}
	}
}

// summary describes the connection to Temporal for config check.
func (s *temporalTLSSettings) summary() string {
	if !s.on() {
		return "off (plain gRPC)"
	}
	out := "TLS, no client certificate"
	if s.cert != "" {
		out = "mutual TLS, client certificate " + s.cert
	}
	if s.ca != "" {
		out += ", frontend CA " + s.ca
	} else {
		out += ", frontend checked against the system's roots"
	}
	if s.serverName != "" {
		out += ", server name " + s.serverName
	}
	return out
}
