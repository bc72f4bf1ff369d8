package teststack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Call sends a JSON request to url with a bearer token (none when empty) through client
// (http.DefaultClient when nil), decodes a JSON answer into out (when not nil) and returns the
// status. A transport error or an answer that is not JSON fails the test.
func Call(tb testing.TB, client *http.Client, method, url, token string, body, out any) int {
	tb.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s %s: decode %q: %v", method, url, raw, err)
		}
	}
	return res.StatusCode
}
