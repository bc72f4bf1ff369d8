// Package testmail runs a real SMTP server for tests: Mailpit (pinned in internal/tools/mail,
// built into the user cache by .ci/run) as its own process on 127.0.0.1, with STARTTLS
// required, a certificate from a test CA and SMTP AUTH from a password file. Tests read what
// it received through Mailpit's HTTP API. Only tests import it.
package testmail

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/testenv"
)

// Pinned Mailpit; keep in sync with internal/tools/mail/go.mod and .ci/run.
const (
	MailpitModule  = "github.com/axllent/mailpit"
	MailpitVersion = "v1.33.1"
)

// Server is a running Mailpit.
type Server struct {
	// SMTPAddr is host:port of its SMTP listener (STARTTLS and AUTH required); Host the name
	// its certificate is for.
	SMTPAddr, Host string
	// Username and Password are the SMTP credentials it accepts.
	Username, Password string
	// RootCAs trust its certificate.
	RootCAs *x509.CertPool
	api     string
}

// Message is a received message as Mailpit lists it.
type Message struct {
	ID      string `json:"ID"`
	Subject string `json:"Subject"`
	To      []struct {
		Address string `json:"Address"`
	} `json:"To"`
	Snippet string `json:"Snippet"`
}

// Start runs Mailpit until t ends; without its binary the test skips (fails under
// OTPATCH_REQUIRE_SERVICES=1).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("OTPATCH_MAILPIT_BIN")
	if bin == "" {
		dir, err := testenv.DefaultBinDir()
		if err == nil {
			bin = filepath.Join(dir, "mailpit")
		}
	}
	if _, err := os.Stat(bin); err != nil {
		msg := "no Mailpit binary at " + bin + "; build it: cd internal/tools/mail && go build -o " + bin + " " + MailpitModule
		if testenv.RequireServices() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	ca := testenv.NewCA(t, "otpatch test mail")
	cert := ca.Server("localhost", "127.0.0.1")
	s := &Server{Host: "localhost", Username: "otpatch", Password: "mail-secret-42", RootCAs: ca.Pool()}
	auth := filepath.Join(dir, "smtp-auth")
	if err := os.WriteFile(auth, []byte(s.Username+":"+s.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 3 { // a free port may be taken before Mailpit binds it
		smtpAddr, apiAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
		cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", apiAddr, "--database", filepath.Join(dir, fmt.Sprintf("mailpit-%d.db", time.Now().UnixNano())),
			"--smtp-tls-cert", cert.CertFile, "--smtp-tls-key", cert.KeyFile, "--smtp-require-starttls",
			"--smtp-auth-file", auth, "--smtp-disable-rdns", "--disable-version-check", "--quiet")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("testmail: start %s: %v", bin, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
		if lastErr = waitReady(done, smtpAddr, "http://"+apiAddr); lastErr == nil {
			t.Cleanup(stop)
			_, port, _ := net.SplitHostPort(smtpAddr)
			s.SMTPAddr, s.api = net.JoinHostPort(s.Host, port), "http://"+apiAddr
			return s
		}
		stop()
		lastErr = fmt.Errorf("%w; output: %s", lastErr, out.String())
	}
	t.Fatalf("testmail: Mailpit did not start: %v", lastErr)
	return nil
}

// waitReady polls until Mailpit answers on both listeners, it exits, or a minute passes.
func waitReady(done <-chan struct{}, smtpAddr, api string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-done:
			return fmt.Errorf("mailpit exited")
		default:
		}
		c, err := net.DialTimeout("tcp", smtpAddr, time.Second)
		if err == nil {
			c.Close()
			resp, err := http.Get(api + "/api/v1/info")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mailpit did not answer within a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Messages lists what the server received, newest first.
func (s *Server) Messages(ctx context.Context) ([]Message, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+"/api/v1/messages?limit=500", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mailpit answered %s", resp.Status)
	}
	var out struct {
		Messages []Message `json:"messages"`
	}
	return out.Messages, json.NewDecoder(resp.Body).Decode(&out)
}

// Text is the plain-text body of a received message.
func (s *Server) Text(ctx context.Context, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+"/api/v1/message/"+id, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var m struct {
		Text string `json:"Text"`
	}
	return m.Text, json.NewDecoder(resp.Body).Decode(&m)
}
