package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/api"
)

// goInternals are what an answer must never carry: Go's words for a JSON fault and Go type names.
var goInternals = regexp.MustCompile(`Go struct|Go value|domain\.|store\.|api\.|json:|\[\]|unmarshal|\b(u?int(8|16|32|64)?|float(32|64)|bool|struct|map\[|time\.Time|time\.Duration|interface)\b`)

// rawCall sends body as it is (not re-encoded) and returns the status, content type and answer.
func (e *env) rawCall(method, path, token, body string) (int, string, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), string(b)
}

// TestJSONFaultsInReadersTerms walks bad bodies over several routes: each is refused with a
// problem that names the field and what it must be, never a Go type or package; an oversized
// body is 413 on every route.
func TestJSONFaultsInReadersTerms(t *testing.T) {
	e := newEnv(t, envOptions{})
	routes := []struct{ method, path, token string }{
		{"POST", "/api/v1/sites", e.tokens.Engineer},
		{"POST", "/api/v1/zones", e.tokens.Engineer},
		{"PUT", "/api/v1/zones/zone_packaging/window", e.tokens.Engineer},
		{"POST", "/api/v1/campaigns", e.tokens.Engineer},
		{"POST", "/api/v1/assets", e.tokens.Engineer},
		{"POST", "/api/v1/tokens", e.tokens.Engineer},
		{"POST", "/api/v1/vendors", e.tokens.Admin},
		{"POST", "/api/v1/compliance/mitigations", e.tokens.Engineer},
	}
	bodies := []struct{ name, body string }{
		{"not JSON", `{"name": "x",}`},
		{"cut off", `{"name": `},
		{"empty", ``},
		{"a list, not an object", `[1, 2]`},
		{"a string", `"x"`},
		{"a number for a text", `{"name": 5}`},
		{"an object for a list", `{"blackouts": {}, "window": {"blackouts": {}}, "asset_ids": {}}`},
		{"a bad time", `{"blackouts": [{"from": "yesterday"}], "window": {"blackouts": [{"from": "yesterday"}]}}`},
		{"a fraction for a count", `{"max_parallel": 1.5, "sl_t": 1.5, "criticality": 1.5}`},
		{"an unknown field", `{"extra": 1}`},
		{"two objects", `{} {}`},
	}
	for _, rt := range routes {
		for _, b := range bodies {
			t.Run(rt.method+" "+rt.path+"/"+b.name, func(t *testing.T) {
				code, ct, answer := e.rawCall(rt.method, rt.path, rt.token, b.body)
				if code != http.StatusUnprocessableEntity || ct != "application/problem+json" {
					t.Errorf("%d %s, want 422 problem+json: %s", code, ct, answer)
				}
				if m := goInternals.FindString(answer); m != "" {
					t.Errorf("the answer carries %q: %s", m, answer)
				}
			})
		}
		t.Run(rt.method+" "+rt.path+"/oversized", func(t *testing.T) {
			size := 2 << 20
			if rt.path == "/api/v1/campaigns" {
				size = 30 << 20 // a campaign's body has room for asset_ids as long as the campaign size allows
			}
			code, ct, answer := e.rawCall(rt.method, rt.path, rt.token, `{"name": "`+strings.Repeat("x", size)+`"}`)
			if code != http.StatusRequestEntityTooLarge || ct != "application/problem+json" || !strings.Contains(answer, "larger than the limit") {
				t.Errorf("%d %s, want 413 problem+json: %.300s", code, ct, answer)
			}
		})
	}

	t.Run("what the reader is told", func(t *testing.T) {
		for _, tc := range []struct{ method, path, body, field, says string }{
			{"PUT", "/api/v1/zones/zone_packaging/window", `{"cron": "0 2 * * 6", "blackouts": {}}`, "blackouts", "must be a list"},
			{"POST", "/api/v1/zones", `{"window": {"blackouts": "none"}}`, "window.blackouts", "must be a list"},
			{"POST", "/api/v1/sites", `{"name": "x", "extra": 1}`, "extra", "extra is not a field of this request"},
			{"POST", "/api/v1/sites", `{"name": "x",, }`, "body", "is not valid JSON at byte 14"},
			{"POST", "/api/v1/sites", `{"name": 5}`, "name", "must be a string, not number"},
			{"POST", "/api/v1/sites", `{"name": "` + strings.Repeat("s", 5000) + `"}`, "name", "is 5000 characters; at most 200"},
			{"POST", "/api/v1/sites", `{"name": "  "}`, "name", "is required"},
		} {
			code, _, answer := e.rawCall(tc.method, tc.path, e.tokens.Engineer, tc.body)
			var p problemDoc
			_ = json.Unmarshal([]byte(answer), &p)
			found := false
			for _, f := range p.Errors {
				found = found || f.Field == tc.field && strings.Contains(f.Message, tc.says)
			}
			if code != http.StatusUnprocessableEntity || !found {
				t.Errorf("%s %s %.60s: %d %s, want %s %q", tc.method, tc.path, tc.body, code, answer, tc.field, tc.says)
			}
		}
	})
}

// TestUnknownQueryParameters calls every GET route with a parameter it does not take: each
// answers 422 naming the parameter (routes that take none refuse it too). A typo in a filter
// must not widen an answer. Unknown parent ids in paths and filters are 404.
func TestUnknownQueryParameters(t *testing.T) {
	e := newEnv(t, envOptions{})
	acme := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1000))
	var cred struct {
		Token string `json:"token"`
	}
	if code := e.call("POST", "/api/v1/assets/ast_pkg-hmi-01/agent-credentials", e.tokens.Admin, nil, &cred); code != http.StatusCreated {
		t.Fatalf("agent credential: %d", code)
	}
	tokens := map[string]string{"vendor": e.tokens.Vendor, "engineer": e.tokens.Engineer, "approver": e.tokens.Approver,
		"safety": e.tokens.Safety, "auditor": e.tokens.Auditor, "admin": e.tokens.Admin}
	params := strings.NewReplacer("{vendorID}", "vnd_acme", "{zoneID}", "zone_packaging", "{assetID}", "ast_pkg-hmi-01",
		"{patchID}", acme.ID, "{campaignID}", "cmp_unknown", "{jobID}", "job_unknown", "{advisoryID}", "adv_unknown",
		"{userID}", e.me(e.tokens.Admin).UserID)
	// The provider's redirect carries parameters of its own choosing (iss, session_state, …).
	exempt := []string{"GET /api/v1/session/oidc/callback"}
	for _, route := range routesOf(t, api.New(api.Deps{Store: e.store, Objects: e.objects})) {
		method, path, _ := strings.Cut(route, " ")
		if method != "GET" || slices.Contains(exempt, route) {
			continue
		}
		token := cred.Token
		if roles := allowed[route]; len(roles) > 0 {
			token = tokens[roles[0]]
		} else if slices.Contains(public, route) || route == "GET /api/v1/session" || route == "GET /api/v1/session/oidc" {
			token = e.tokens.Admin
		}
		t.Run(route, func(t *testing.T) {
			var p problemDoc
			if code := e.call("GET", params.Replace(path)+"?no_such_param=1", token, nil, &p); code != http.StatusUnprocessableEntity ||
				len(p.Errors) != 1 || p.Errors[0].Field != "no_such_param" {
				t.Errorf("?no_such_param=1: %d %+v, want 422 naming no_such_param", code, p)
			}
		})
	}

	t.Run("the known ones are listed", func(t *testing.T) {
		var p problemDoc
		if code := e.call("GET", "/api/v1/audit/export?campaign=cmp_x", e.tokens.Auditor, nil, &p); code != http.StatusUnprocessableEntity ||
			len(p.Errors) != 1 || p.Errors[0].Field != "campaign" || !strings.Contains(p.Errors[0].Message, "campaign_id") {
			t.Errorf("audit export ?campaign=: %d %+v", code, p)
		}
		if code := e.call("GET", "/api/v1/audit/events?actr=alice", e.tokens.Auditor, nil, &p); code != http.StatusUnprocessableEntity || !strings.Contains(p.Detail, "actor") {
			t.Errorf("audit events ?actr=: %d %+v", code, p)
		}
	})

	t.Run("unknown parents are 404, unknown filters 422", func(t *testing.T) {
		for _, path := range []string{"/api/v1/vendors/acme/keys", "/api/v1/vendors/acme", "/api/v1/products/prd_typo", "/api/v1/sites/site_typo"} {
			var p problemDoc
			if code := e.call("GET", path, e.tokens.Engineer, nil, &p); code != http.StatusNotFound {
				t.Errorf("%s: %d %+v, want 404", path, code, p)
			}
		}
		for _, tc := range []struct{ path, param string }{
			{"/api/v1/assets?zone_id=zone_typo", "zone_id"},
			{"/api/v1/assets?product_id=prd_typo", "product_id"},
			{"/api/v1/assets?site_id=site_typo", "site_id"},
			{"/api/v1/assets?adapter=modbus", "adapter"},
			{"/api/v1/products?vendor_id=vnd_typo", "vendor_id"},
			{"/api/v1/products?kind=robot", "kind"},
			{"/api/v1/zones?site_id=site_typo", "site_id"},
			{"/api/v1/windows?site_id=site_typo", "site_id"},
			{"/api/v1/windows?openings=0", "openings"},
		} {
			var p problemDoc
			if code := e.call("GET", tc.path, e.tokens.Engineer, nil, &p); code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != tc.param {
				t.Errorf("%s: %d %+v, want 422 naming %s", tc.path, code, p, tc.param)
			}
		}
		var keys []any
		if code := e.list("/api/v1/vendors/vnd_acme/keys", e.tokens.Engineer, &keys); code != http.StatusOK || len(keys) == 0 {
			t.Errorf("acme's keys: %d %d", code, len(keys))
		}
		var assets []struct {
			ZoneID string `json:"zone_id"`
		}
		if code := e.list("/api/v1/assets?zone_id=zone_packaging", e.tokens.Engineer, &assets); code != http.StatusOK || len(assets) == 0 {
			t.Errorf("packaging's assets: %d %d", code, len(assets))
		}
		for _, a := range assets {
			if a.ZoneID != "zone_packaging" {
				t.Errorf("?zone_id=zone_packaging lists an asset of %s", a.ZoneID)
			}
		}
	})
}
