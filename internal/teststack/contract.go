package teststack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/otpatch/otpatch/api"
)

// The contract check: every request a test sends to the API and every answer the server gives
// are validated against the OpenAPI document the server serves. A field, status, parameter or
// content type the document does not describe fails the test that caused it, so the document
// and the server cannot drift apart. Rules:
//   - an answer must be one the document lists for the operation and status, with its schema
//     (objects allow no undocumented field); a 201 carries Location;
//   - a request the document refuses (schema, parameter, content type) must be refused (4xx);
//   - a route the document does not list must answer 404 or 405.

// maxChecked bounds the bodies the check reads; larger ones are checked for status and
// content type only.
const maxChecked = 16 << 20

// Contract validates traffic against the document.
type Contract struct {
	router routers.Router
	mu     sync.Mutex
	faults map[string]int
}

var (
	contractOnce sync.Once
	contractDoc  *openapi3.T
	contractErr  error
)

// loadContract parses and validates the document once per test binary.
func loadContract() (*openapi3.T, error) {
	contractOnce.Do(func() {
		raw, err := json.Marshal(api.OpenAPIDocument())
		if err != nil {
			contractErr = err
			return
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(raw)
		if err != nil {
			contractErr = fmt.Errorf("the OpenAPI document does not load: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			contractErr = fmt.Errorf("the OpenAPI document is not valid: %w", err)
			return
		}
		contractDoc = doc
	})
	return contractDoc, contractErr
}

// NewContract builds the check; its faults are reported as errors of tb when tb's test ends.
func NewContract(tb testing.TB) *Contract {
	tb.Helper()
	doc, err := loadContract()
	if err != nil {
		tb.Fatal(err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		tb.Fatalf("routing the OpenAPI document: %v", err)
	}
	c := &Contract{router: router, faults: map[string]int{}}
	tb.Cleanup(func() {
		for _, f := range c.Faults() {
			tb.Errorf("contract: %s", f)
		}
	})
	return c
}

// Faults are the violations seen so far, each once with how often it happened.
func (c *Contract) Faults() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for f, n := range c.faults {
		if n > 1 {
			f = fmt.Sprintf("%s (%d times)", f, n)
		}
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (c *Contract) fault(r *http.Request, status int, format string, args ...any) {
	msg := fmt.Sprintf("%s %s → %d: %s", r.Method, r.URL.Path, status, fmt.Sprintf(format, args...))
	c.mu.Lock()
	c.faults[msg]++
	c.mu.Unlock()
}

// Wrap checks the traffic of next.
func (c *Contract) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !checked(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		route, pathParams, routeErr := c.router.FindRoute(r)
		var reqBody []byte
		bodyRead := false
		if r.Body != nil && isJSON(r.Header.Get("Content-Type")) && r.ContentLength >= 0 && r.ContentLength <= maxChecked {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxChecked+1))
			if err == nil && len(b) <= maxChecked {
				reqBody, bodyRead = b, true
			}
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		status := rec.status

		if routeErr != nil {
			if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
				c.fault(r, status, "the document has no such operation (%v)", routeErr)
			}
			return
		}
		reqInput := &openapi3filter.RequestValidationInput{
			Request: cloneForCheck(r, reqBody, bodyRead), PathParams: pathParams, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: !bodyRead},
		}
		reqErr := openapi3filter.ValidateRequest(r.Context(), reqInput)
		if reqErr == nil {
			reqErr = undocumentedQuery(r, route)
		}
		if reqErr == nil && r.Body != nil && !bodyRead && r.ContentLength != 0 && route.Operation.RequestBody != nil {
			reqErr = documentedContentType(r.Header.Get("Content-Type"), route.Operation.RequestBody.Value.Content)
		}
		if reqErr != nil && status < 400 {
			c.fault(r, status, "accepted a request the document refuses: %v", short(reqErr))
		}
		if status == http.StatusCreated && rec.Header().Get("Location") == "" {
			c.fault(r, status, "created without a Location header")
		}
		ct := rec.Header().Get("Content-Type")
		resInput := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: reqInput, Status: status, Header: rec.Header(),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: !isJSON(ct) || rec.overflow},
		}
		resInput.SetBodyBytes(rec.body.Bytes())
		if err := openapi3filter.ValidateResponse(r.Context(), resInput); err != nil {
			c.fault(r, status, "the answer is not what the document says: %v", short(err))
		}
		if !isJSON(ct) && rec.wrote {
			if ref := route.Operation.Responses.Status(status); ref != nil && ref.Value != nil && len(ref.Value.Content) > 0 {
				if err := documentedContentType(ct, ref.Value.Content); err != nil {
					c.fault(r, status, "answer %v", err)
				}
			}
		}
	})
}

// checked says which paths the document covers (the web UI's files are not API).
func checked(path string) bool {
	return path == "/healthz" || path == "/readyz" || strings.HasPrefix(path, "/api/")
}

func isJSON(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json" || mt == "application/problem+json"
}

func documentedContentType(ct string, content openapi3.Content) error {
	mt, _, _ := mime.ParseMediaType(ct)
	for name := range content {
		if name == mt || name == "*/*" || strings.HasSuffix(name, "/*") && strings.HasPrefix(mt, strings.TrimSuffix(name, "*")) {
			return nil
		}
	}
	var names []string
	for name := range content {
		names = append(names, name)
	}
	slices.Sort(names)
	return fmt.Errorf("content type %q is not documented (%s)", mt, strings.Join(names, ", "))
}

func undocumentedQuery(r *http.Request, route *routers.Route) error {
	if any, _ := route.Operation.Extensions["x-any-query"].(bool); any {
		return nil
	}
	known := map[string]bool{}
	for _, p := range route.Operation.Parameters {
		if p.Value != nil && p.Value.In == "query" {
			known[p.Value.Name] = true
		}
	}
	for name := range r.URL.Query() {
		if !known[name] {
			return fmt.Errorf("query parameter %q is not documented", name)
		}
	}
	return nil
}

// cloneForCheck is the request as the check reads it, with the body it read.
func cloneForCheck(r *http.Request, body []byte, read bool) *http.Request {
	c := r.Clone(context.Background())
	if read {
		c.Body = io.NopCloser(bytes.NewReader(body))
	} else {
		c.Body = http.NoBody
	}
	return c
}

func short(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\nSchema:"); i >= 0 {
		s = s[:i]
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

// recorder passes an answer through and keeps its status, headers and (bounded) body.
type recorder struct {
	http.ResponseWriter
	status   int
	wrote    bool
	body     bytes.Buffer
	overflow bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.wrote = true
	}
	if !r.overflow {
		if r.body.Len()+len(b) > maxChecked {
			r.overflow = true
			r.body.Reset()
		} else {
			r.body.Write(b)
		}
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
