package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// How the commands that talk to an otpatch server (vendor, csaf) word what went wrong: a
// server that cannot be reached says so, and an answer other than the one asked for shows the
// problem the server sent.

// serverURL checks the value of --url: the otpatch server's http:// or https:// URL.
func serverURL(fs *flags, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fs.usageError("--url %q is not the otpatch server's http:// or https:// URL (example: https://otpatch.plant.example)", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// answerError is an answer of the otpatch server other than the one asked for.
type answerError struct {
	status string // "422 Unprocessable Entity"
	detail string // the problem's detail, or what the answer said
}

func (e *answerError) Error() string { return e.status + ": " + e.detail }

// refused puts what in front of an answerError ("submission refused: 422 …"); any other error
// (the server could not be reached) is returned as it is.
func refused(what string, err error) error {
	var ae *answerError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s refused: %w", what, err)
	}
	return err
}

// call sends req to the otpatch server at base with the bearer token and decodes an answer
// with one of the want statuses into out (when not nil). Any other answer is an *answerError;
// no answer at all is a reachError.
func call(req *http.Request, base, token string, out any, want ...int) error {
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return reachError(req.Context(), "otpatch server", base, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of the otpatch server at %s: %w", base, err)
	}
	for _, w := range want {
		if res.StatusCode == w {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(body, out); err != nil {
				return fmt.Errorf("the answer of %s is not what otpatch sends (%v); is --url the otpatch server?", base, err)
			}
			return nil
		}
	}
	return &answerError{status: res.Status, detail: problemDetail(body)}
}

// problemDetail is what an error answer says: the problem's detail (it names every failing
// field), else its field errors or title, else the start of the body.
func problemDetail(body []byte) string {
	var p struct {
		Title    string `json:"title"`
		Detail   string `json:"detail"`
		Instance string `json:"instance"`
		Errors   []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &p); err == nil {
		msg := p.Detail
		if msg == "" {
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field+": "+e.Message)
			}
			msg = strings.Join(fields, "; ")
		}
		if msg == "" {
			msg = p.Title
		}
		if msg != "" {
			if p.Instance != "" {
				msg += " (request " + p.Instance + ")"
			}
			return msg
		}
	}
	text := strings.Join(strings.Fields(string(body)), " ")
	switch {
	case text == "":
		return "the answer carries no detail"
	case len(text) > 300:
		return text[:300] + "…"
	}
	return text
}

// reachError words an exchange with the server what at base that ended without an answer. A
// connection that could not be made — refused, a name that does not resolve, a TLS handshake
// or certificate that failed, a dial that timed out — says the server could not be reached; a
// connection that broke says so; the end of ctx is returned as it is.
func reachError(ctx context.Context, what, base string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err // without the method and URL, which base names
	}
	if cannotConnect(err) {
		return fmt.Errorf("cannot reach the %s at %s: %w", what, base, cause)
	}
	return fmt.Errorf("the connection to the %s at %s broke: %w", what, base, cause)
}

// cannotConnect reports whether err happened before a connection to the server stood.
func cannotConnect(err error) bool {
	var (
		op      *net.OpError
		dns     *net.DNSError
		verify  *tls.CertificateVerificationError
		header  tls.RecordHeaderError
		alert   tls.AlertError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect"),
		errors.As(err, &dns), errors.As(err, &verify), errors.As(err, &header), errors.As(err, &alert),
		errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return true
	}
	// net/http's words for a plain-HTTP server behind an https:// URL.
	return strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
