package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/ui"
)

func TestServesEmbeddedPage(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/", "text/html", `id="whoami"`},
		{"/app.js", "javascript", "/api/v1/session"},
		{"/pages/campaigns.js", "javascript", "/api/v1/campaigns"},
		{"/pages/signin.js", "javascript", "Sign in with a token"},
		{"/pages/account.js", "javascript", "/api/v1/me/password"},
		{"/pages/people.js", "javascript", "/api/v1/users"},
		{"/app.css", "text/css", ".state-completed"},
	} {
		res, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), tc.contentType) || !strings.Contains(string(body), tc.contains) {
			t.Errorf("%s: %d %s, body lacks %q", tc.path, res.StatusCode, res.Header.Get("Content-Type"), tc.contains)
		}
	}
	if res, _ := http.Get(srv.URL + "/missing.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("missing asset: %d", res.StatusCode)
	}
}
