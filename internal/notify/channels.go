package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// SMTP is the mail server notifications are sent through.
type SMTP struct {
	// Addr is host:port of the server (submission, usually port 587).
	Addr string
	// From is the sender address.
	From string
	// Username and Password authenticate (AUTH PLAIN, only over TLS); empty: no AUTH.
	Username, Password string
	// Plain allows a server without STARTTLS (a relay on the same host); otherwise a server
	// that does not offer STARTTLS is refused.
	Plain bool
	// RootCAs verify the server's certificate (nil: the system's roots).
	RootCAs *x509.CertPool
	// Timeout bounds the whole exchange (0: 30 seconds).
	Timeout time.Duration
}

// Configured reports whether a server is set.
func (c SMTP) Configured() bool { return c.Addr != "" && c.From != "" }

// Send mails n to the address to.
func (c SMTP) Send(ctx context.Context, to string, n Notification) error {
	if !c.Configured() {
		return errors.New("no SMTP server is configured (--smtp-addr, --smtp-from)")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("SMTP server %q: %w", c.Addr, err)
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer cl.Close()
	if err := cl.Hello("otpatch"); err != nil {
		return err
	}
	if ok, _ := cl.Extension("STARTTLS"); ok {
		if err := cl.StartTLS(&tls.Config{ServerName: host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	} else if !c.Plain {
		return fmt.Errorf("SMTP server %s does not offer STARTTLS", c.Addr)
	}
	if c.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	msg, err := c.message(to, n)
	if err != nil {
		return err
	}
	from, _ := mail.ParseAddress(c.From) // message parsed both
	rcpt, _ := mail.ParseAddress(to)
	if err := cl.Mail(from.Address); err != nil {
		return err
	}
	if err := cl.Rcpt(rcpt.Address); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

// message is the mail of n: plain text, its link last.
func (c SMTP) message(to string, n Notification) ([]byte, error) {
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("sender %q: %w", c.From, err)
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", to, err)
	}
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", rcpt.String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", n.Subject))
	hdr("Date", n.Time.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+n.Key+"."+strings.ReplaceAll(rcpt.Address, "@", "=")+"@otpatch>")
	hdr("X-Otpatch-Kind", string(n.Kind))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := n.Text + "\n\n"
	if n.Link != "" {
		body += "Open it in otpatch: " + n.Link + "\n"
	}
	body += "\nYou receive this because of your otpatch subscription to: " + Describe(n.Kind) + ".\n"
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.Bytes(), nil
}

// WebhookError is a delivery the receiver answered with a status other than 2xx.
type WebhookError struct {
	Status int
	Body   string
}

func (e *WebhookError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("the receiver answered %d", e.Status)
	}
	return fmt.Sprintf("the receiver answered %d: %s", e.Status, e.Body)
}

// PostWebhook sends a CloudEvent body to url signed with secret at now. It answers the HTTP
// status (0 when none came) and an error unless the receiver answered 2xx.
func PostWebhook(ctx context.Context, hc *http.Client, url, secret string, body []byte, now time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "otpatch-webhook")
	req.Header.Set(SignatureHeader, Sign(secret, now, body))
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, &WebhookError{Status: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	return resp.StatusCode, nil
}
