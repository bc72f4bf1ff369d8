package teststack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
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

// List reads every page of a collection at url (the API's page answers: items and next) into
// out, a pointer to a slice, and returns the status of the last page read (200, or the first
// refusal).
func List(tb testing.TB, client *http.Client, url, token string, out any) int {
	tb.Helper()
	var all []json.RawMessage
	next := ""
	for pages := 0; ; pages++ {
		if pages > 100000 {
			tb.Fatalf("GET %s: the pages do not end", url)
		}
		u := url
		if next != "" {
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += sep + "after=" + neturl.QueryEscape(next)
		}
		var p struct {
			Items []json.RawMessage `json:"items"`
			Next  string            `json:"next"`
		}
		if code := Call(tb, client, "GET", u, token, nil, &p); code != http.StatusOK {
			return code
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			break
		}
		next = p.Next
	}
	b, err := json.Marshal(all)
	if err != nil {
		tb.Fatal(err)
	}
	if string(b) == "null" {
		b = []byte("[]")
	}
	if err := json.Unmarshal(b, out); err != nil {
		tb.Fatalf("GET %s: decode items: %v", url, err)
	}
	return http.StatusOK
}
