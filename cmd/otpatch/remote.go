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
	"slices"
	"strings"

	"github.com/otpatch/otpatch/internal/client"
)

// How the commands that talk to an otpatch server (vendor, csaf, healthcheck) call it and word
// what went wrong: they call it through the generated client (internal/client); a server that
// cannot be reached says so, and an answer other than the one asked for shows the problem the
// server sent.

// serverURL checks the value of --url: the otpatch server's http:// or https:// URL.
func serverURL(fs *flags, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fs.usageError("--url %q is not the otpatch server's http:// or https:// URL (example: https://otpatch.plant.example)", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// remoteFlags are the --url and --token flags of a command that calls the otpatch server.
type remoteFlags struct {
	fs         *flags
	url, token *string
}

// newRemoteFlags adds --url and --token to fs; who says whose token the command takes
// ("engineer or admin").
func newRemoteFlags(fs *flags, who string) remoteFlags {
	return remoteFlags{fs: fs,
		url:   fs.String("url", env("URL", "http://127.0.0.1:8080"), "otpatch URL (OTPATCH_URL)"),
		token: fs.String("token", env("TOKEN", ""), who+" token (OTPATCH_TOKEN)")}
}

// connect checks --url and --token and returns the server they name.
func (rf remoteFlags) connect() (*server, error) {
	base, err := serverURL(rf.fs, *rf.url)
	if err != nil {
		return nil, err
	}
	if *rf.token == "" {
		return nil, rf.fs.usageError("no token: give --token or set OTPATCH_TOKEN")
	}
	return newServer(base, *rf.token)
}

// maxAnswer bounds how much of one answer of the otpatch server a command reads.
const maxAnswer = 32 << 20

// server is the otpatch server at base, called through the generated client with a bearer
// token.
type server struct {
	base   string
	api    *client.ClientWithResponses
	bearer client.RequestEditorFn
}

// newServer returns the otpatch server at base (checked by serverURL), called with token.
func newServer(base, token string) (*server, error) {
	bearer := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
	api, err := client.NewClientWithResponses(base, client.WithHTTPClient(answerReader{http.DefaultClient}), client.WithRequestEditorFn(bearer))
	if err != nil {
		return nil, err
	}
	return &server{base: base, api: api, bearer: bearer}, nil
}

// answerReader sends requests with hc and reads at most maxAnswer bytes of each answer; a
// failure to read the answer comes out as a *readError, so that noAnswer tells it apart from
// an answer that otpatch does not send.
type answerReader struct{ hc *http.Client }

func (d answerReader) Do(req *http.Request) (*http.Response, error) {
	res, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	res.Body = &answerBody{r: io.LimitReader(res.Body, maxAnswer), Closer: res.Body}
	return res, nil
}

type answerBody struct {
	r io.Reader
	io.Closer
}

func (b *answerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

// readError is a failure to read an answer of the otpatch server.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// noAnswer words the error of a call to the otpatch server that brought no answer to read: the
// server could not be reached or the connection broke (reachError), the answer could not be
// read, or it is not what otpatch sends.
func (s *server) noAnswer(ctx context.Context, err error) error {
	var (
		read *readError
		ue   *url.Error
	)
	switch {
	case errors.As(err, &read):
		return fmt.Errorf("reading the answer of the otpatch server at %s: %w", s.base, read.err)
	case errors.As(err, &ue):
		return reachError(ctx, "otpatch server", s.base, err)
	}
	return fmt.Errorf("the answer of %s is not what otpatch sends (%v); is --url the otpatch server?", s.base, err)
}

// answer is what the generated client returns for every operation.
type answer interface {
	StatusCode() int
	Status() string
	GetBody() []byte
}

// wrongAnswer words an answer that does not carry what was asked for. An answer with another
// status than the want statuses is an *answerError with the problem the server sent; one with
// a want status but without its JSON is not what otpatch sends.
func (s *server) wrongAnswer(res answer, want ...int) error {
	if slices.Contains(want, res.StatusCode()) {
		return fmt.Errorf("the answer of %s is not what otpatch sends (%s without JSON); is --url the otpatch server?", s.base, res.Status())
	}
	return &answerError{status: res.Status(), detail: problemDetail(res.GetBody())}
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

// checkHealth asks the otpatch server whether it is healthy, through hc: endpoint is its
// /healthz URL, or the server's URL, to which /healthz is added. Only 200 OK is healthy; the
// answer's body is not read.
func checkHealth(ctx context.Context, hc *http.Client, endpoint string) error {
	base := strings.TrimSuffix(strings.TrimRight(endpoint, "/"), "/healthz")
	if _, err := url.Parse(base); err != nil {
		return err
	}
	api, err := client.NewClient(base, client.WithHTTPClient(hc))
	if err != nil {
		return err
	}
	res, err := api.GetHealth(ctx)
	if err != nil {
		return reachError(ctx, "otpatch server", endpoint, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", endpoint, res.Status)
	}
	return nil
}

// maxFaultLines bounds the faults of a refusal the CLI prints.
const maxFaultLines = 20

// problemDetail is what an error answer says: the problem's detail, with its field errors on
// lines of their own when the detail does not name them (an import's bad rows), else its
// field errors or title, else the start of the body.
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
			if p.Detail != "" && len(p.Errors) > 0 && !strings.Contains(p.Detail, p.Errors[0].Message) {
				for i, e := range p.Errors {
					if i == maxFaultLines {
						msg += fmt.Sprintf("\n  and %d more", len(p.Errors)-i)
						break
					}
					msg += "\n  " + e.Field + ": " + e.Message
				}
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
