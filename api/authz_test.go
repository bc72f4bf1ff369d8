package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/store"
)

// allowed lists, per route, the roles that may call it. A route missing here fails the test:
// every route must be authorized on purpose.
var allowed = map[string][]string{
	"POST /api/v1/feeds":                                  {"engineer", "admin"},
	"GET /api/v1/feeds":                                   {"engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/feeds/offline":                          {"engineer", "admin"},
	"GET /api/v1/feeds/{feedID}":                          {"engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/feeds/{feedID}/sync":                    {"engineer", "admin"},
	"DELETE /api/v1/feeds/{feedID}":                       {"engineer", "admin"},
	"PATCH /api/v1/feeds/{feedID}":                        {"engineer", "admin"},
	"GET /api/v1/me":                                      {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/states":                                  {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/vendors":                                 {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/vendors":                                {"admin"},
	"GET /api/v1/vendors/{vendorID}":                      {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/vendors/{vendorID}/keys/{keyID}":         {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/vendors/{vendorID}/keys":                 {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/vendors/{vendorID}/keys":                {"admin"},
	"POST /api/v1/vendors/{vendorID}/keys/{keyID}/revoke": {"admin"},
	"POST /api/v1/tokens":                                 {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/tokens":                                  {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"DELETE /api/v1/tokens/{tokenID}":                     {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/tokens/{tokenID}":                        {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/products":                                {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/products":                               {"engineer", "admin"},
	"GET /api/v1/products/{productID}":                    {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/sites":                                   {"engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/sites":                                  {"engineer", "admin"},
	"GET /api/v1/sites/{siteID}":                          {"engineer", "approver", "safety", "auditor", "admin"},
	"PATCH /api/v1/sites/{siteID}":                        {"engineer", "admin"},
	"GET /api/v1/transfers":                               {"engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/transfers/key":                           {"engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/transfers/export":                       {"engineer", "admin"},
	"POST /api/v1/transfers/import":                       {"engineer", "admin"},
	"GET /api/v1/zones":                                   {"engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/zones":                                  {"engineer", "admin"},
	"GET /api/v1/zones/{zoneID}":                          {"engineer", "approver", "safety", "auditor", "admin"},
	"PUT /api/v1/zones/{zoneID}/window":                   {"engineer", "admin"},
	"GET /api/v1/zones/{zoneID}/windows":                  {"engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/windows":                                 {"engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/assets":                                  {"engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/assets":                                 {"engineer", "admin"},
	"GET /api/v1/assets/{assetID}":                        {"engineer", "approver", "safety", "auditor", "admin"},
	"PUT /api/v1/assets/{assetID}/simulator/faults":       {"engineer", "admin"},
	"POST /api/v1/patches":                                {"vendor"},
	"GET /api/v1/patches":                                 {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/patches/{patchID}":                       {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/patches/{patchID}/manifest":              {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/campaigns":                              {"engineer", "admin"},
	"GET /api/v1/campaigns":                               {"engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/campaigns/{campaignID}":                  {"engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/campaigns/{campaignID}/assets":           {"engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/campaigns/{campaignID}/plan":             {"engineer", "approver", "safety", "auditor", "admin"},
	"GET /api/v1/campaigns/{campaignID}/review/targets":   {"engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/campaigns/{campaignID}/decisions":       {"approver", "safety"},
	"GET /api/v1/audit/events":                            {"engineer", "auditor", "admin"},
	"GET /api/v1/audit/verify":                            {"engineer", "auditor", "admin"},
	// People: an admin manages users and grants; everyone reads himself and keeps his own
	// password and second factor.
	"GET /api/v1/users":                          {"admin"},
	"POST /api/v1/users":                         {"admin"},
	"GET /api/v1/users/{userID}":                 {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"DELETE /api/v1/users/{userID}":              {"admin"},
	"POST /api/v1/users/{userID}/password-reset": {"admin"},
	"DELETE /api/v1/users/{userID}/totp":         {"admin"},
	"POST /api/v1/users/{userID}/grants":         {"admin"},
	"GET /api/v1/grants":                         {"admin"},
	"GET /api/v1/grants/{grantID}":               {"admin"},
	"POST /api/v1/grants/{grantID}/confirm":      {"admin"},
	"DELETE /api/v1/grants/{grantID}":            {"admin"},
	"PUT /api/v1/me/password":                    {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/me/totp":                       {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/me/totp/confirm":               {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
	"POST /api/v1/me/totp/disable":               {"vendor", "engineer", "approver", "safety", "auditor", "admin"},
}

var public = []string{"GET /healthz", "GET /readyz", "GET /api/v1/openapi.json", "GET /api/v1/schemas/patch-manifest.json"}

func routesOf(t *testing.T, h http.Handler) []string {
	t.Helper()
	var out []string
	err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(route, "/")
		if route == "" || strings.HasSuffix(route, "*") {
			return nil
		}
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRouteAuthorization calls every route with no token (401), a bad token (401), and every
// role not allowed for it (403); and checks a vendor cannot see another vendor's patch (404).
func TestRouteAuthorization(t *testing.T) {
	e := newEnv(t, envOptions{})
	acme := e.qualifiedPatch(newTestPatch(t, "V16.0.2", 1000))
	tokens := map[string]string{"vendor": e.tokens.Vendor, "engineer": e.tokens.Engineer, "approver": e.tokens.Approver,
		"safety": e.tokens.Safety, "auditor": e.tokens.Auditor, "admin": e.tokens.Admin}
	params := strings.NewReplacer("{vendorID}", "vnd_acme", "{zoneID}", "zone_packaging", "{assetID}", "ast_pkg-hmi-01",
		"{patchID}", acme.ID, "{campaignID}", "cmp_unknown", "{keyID}", "key_unknown", "{tokenID}", "tok_unknown",
		"{userID}", e.me(e.tokens.Admin2).UserID, "{grantID}", "grt_unknown", "{sessionID}", "unknown")
	h := api.New(api.Deps{Store: e.store, Objects: e.objects})
	routes := routesOf(t, h)
	for _, route := range routes {
		if slices.Contains(public, route) {
			continue
		}
		roles, ok := allowed[route]
		if !ok {
			t.Errorf("route %s is not in the authorization table", route)
			continue
		}
		method, path, _ := strings.Cut(route, " ")
		path = params.Replace(path)
		t.Run(route, func(t *testing.T) {
			var p problemDoc
			if code := e.call(method, path, "", nil, &p); code != http.StatusUnauthorized {
				t.Errorf("no token: %d, want 401", code)
			}
			if code := e.call(method, path, "otp_not-a-token", nil, nil); code != http.StatusUnauthorized {
				t.Errorf("unknown token: %d, want 401", code)
			}
			for role, token := range tokens {
				if slices.Contains(roles, role) {
					continue
				}
				if code := e.call(method, path, token, nil, &p); code != http.StatusForbidden {
					t.Errorf("role %s: %d, want 403", role, code)
				}
			}
		})
	}
	for route := range allowed {
		if !slices.Contains(routes, route) {
			t.Errorf("the table lists %s, which the router does not have", route)
		}
	}

	t.Run("vendor isolation", func(t *testing.T) {
		var p problemDoc
		for _, path := range []string{"/api/v1/patches/" + acme.ID, "/api/v1/patches/" + acme.ID + "/manifest"} {
			if code := e.call("GET", path, e.tokens.Vendor2, nil, &p); code != http.StatusNotFound {
				t.Errorf("northwind reading acme's %s: %d, want 404", path, code)
			}
			var missing problemDoc
			e.call("GET", strings.Replace(path, acme.ID, "pat_doesnotexist", 1), e.tokens.Vendor2, nil, &missing)
			if strings.Replace(p.Detail, acme.ID, "X", 1) != strings.Replace(missing.Detail, "pat_doesnotexist", "X", 1) {
				t.Errorf("the 404 for another vendor's patch (%q) differs from a missing one (%q)", p.Detail, missing.Detail)
			}
			if code := e.call("GET", path, e.tokens.Vendor, nil, nil); code != http.StatusOK {
				t.Errorf("acme reading its own %s: %d", path, code)
			}
		}
		var list []patchDoc
		e.list("/api/v1/patches", e.tokens.Vendor2, &list)
		if len(list) != 0 {
			t.Errorf("northwind lists %d patches of another vendor", len(list))
		}
	})

	t.Run("refusals are audited", func(t *testing.T) {
		e.flushRefusals()
		for _, action := range []string{"auth.refused", "access.denied"} {
			evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{Action: action})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				t.Errorf("no %s events recorded", action)
			}
		}
	})
}

// TestOpenAPIMatchesRoutes fails when a route is missing from the OpenAPI document or the
// document lists a route that does not exist.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	res, err := http.Get(e.url + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	routes := routesOf(t, api.New(api.Deps{Store: e.store, Objects: e.objects}))
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is missing from openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json documents %s, which is not a route", d)
		}
	}
}
