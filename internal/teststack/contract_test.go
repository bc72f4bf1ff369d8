package teststack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestContractCatchesDrift shows the contract check failing a test for each kind of drift
// between the server and its OpenAPI document, and passing an answer that matches it.
func TestContractCatchesDrift(t *testing.T) {
	c := NewContract(t)
	serve := func(method, target, body string, h http.HandlerFunc) []string {
		t.Helper()
		c.mu.Lock()
		c.faults = map[string]int{}
		c.mu.Unlock()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		c.Wrap(h).ServeHTTP(httptest.NewRecorder(), req)
		return c.Faults()
	}
	answer := func(status int, ct, body string, headers ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(headers); i += 2 {
				w.Header().Set(headers[i], headers[i+1])
			}
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	tests := []struct {
		name, method, target, body string
		h                          http.HandlerFunc
		want                       string // "" means no fault
	}{
		{"a documented answer", "GET", "/healthz", "", answer(200, "application/json", `{"status":"ok"}`), ""},
		{"an undocumented field", "GET", "/healthz", "", answer(200, "application/json", `{"status":"ok","uptime":12}`), "uptime"},
		{"a missing field", "GET", "/healthz", "", answer(200, "application/json", `{}`), "status"},
		{"an undocumented status", "GET", "/healthz", "", answer(203, "application/json", `{"status":"ok"}`), "status is not supported"},
		{"a problem that is not one", "GET", "/healthz", "", answer(404, "application/problem+json", `{"detail":"x"}`), "the answer is not what the document says"},
		{"an undocumented query parameter accepted", "GET", "/healthz?verbose=1", "", answer(200, "application/json", `{"status":"ok"}`), "verbose"},
		{"an undocumented query parameter refused", "GET", "/healthz?verbose=1", "",
			answer(422, "application/problem+json", `{"type":"urn:otpatch:problem:invalid","title":"Unprocessable Entity","status":422}`), ""},
		{"an undocumented route answered", "GET", "/api/v1/nowhere", "", answer(200, "application/json", `{}`), "no such operation"},
		{"an undocumented route refused", "GET", "/api/v1/nowhere", "", answer(404, "application/problem+json", `{}`), ""},
		{"a created answer without Location", "POST", "/api/v1/sites", `{"name":"plant-b"}`,
			answer(201, "application/json", `{"id":"site_b","name":"plant-b","created_at":"2026-12-06T10:00:00Z"}`), "Location"},
		{"a request body the document refuses, accepted", "POST", "/api/v1/sites", `{"name":"plant-b","colour":"red"}`,
			answer(201, "application/json", `{"id":"site_b","name":"plant-b","created_at":"2026-12-06T10:00:00Z"}`, "Location", "/api/v1/sites/site_b"), "accepted a request the document refuses"},
		{"an undocumented content type", "GET", "/api/v1/openapi.json", "", answer(200, "text/html", `<html></html>`), "content type"},
	}
	for _, tt := range tests {
		faults := serve(tt.method, tt.target, tt.body, tt.h)
		got := strings.Join(faults, "\n")
		switch {
		case tt.want == "" && len(faults) > 0:
			t.Errorf("%s: faults %s, want none", tt.name, got)
		case tt.want != "" && !strings.Contains(got, tt.want):
			t.Errorf("%s: faults %q, want one naming %q", tt.name, got, tt.want)
		}
	}
	c.mu.Lock()
	c.faults = map[string]int{} // what this test provoked is not a fault of the test
	c.mu.Unlock()
}
