package api

import (
	"github.com/otpatch/otpatch/internal/domain"
	"net/http"
	"regexp"
	"strings"
)

// operation documents one route of the API.
type operation struct {
	Method, Path, Summary string
	Roles                 string // who may call it; "" for public
	Body                  string // request body description, "" for none
}

// operations is the API surface as documented; a test compares it with the router. Each
// feature file adds its own operations in init, next to its routes.
var operations = []operation{
	{"GET", "/healthz", "Process is up", "", ""},
	{"GET", "/readyz", "Database, object store and Temporal are reachable", "", ""},
	{"GET", "/api/v1/openapi.json", "This document", "", ""},
	{"GET", "/api/v1/schemas/patch-manifest.json", "JSON Schema of the patch manifest", "", ""},
	{"GET", "/api/v1/states", "Every patch status, campaign status and asset state with the word and tone to show and whether it is an end: {patch_statuses, campaign_statuses, asset_states, compatibility}", "any", ""},
	{"GET", "/api/v1/vendors", "List vendors (a vendor sees itself)", "any", ""},
	{"POST", "/api/v1/vendors", "Register a vendor", "admin", "{name, display_name}"},
	{"GET", "/api/v1/vendors/{vendorID}/keys", "List a vendor's trusted signing keys", "staff", ""},
	{"POST", "/api/v1/vendors/{vendorID}/keys", "Trust a vendor's ed25519 public key for a period", "admin", "{public_key, not_before, not_after}"},
	{"POST", "/api/v1/vendors/{vendorID}/keys/{keyID}/revoke", "Revoke a vendor key: signatures by it are refused from now on", "admin", "{reason}"},
	{"POST", "/api/v1/tokens", "Create a personal bearer token of the caller, acting in role (one he holds; default his acting role; another is 403), shown only in this answer; it expires after the server's default lifetime unless expires_in (\"30d\", \"12h\") or expires_at (RFC 3339) asks for another, at most the server's maximum (422 beyond it); a name of another active token of his is refused (409). No one mints a token for someone else", "any", "{name, role?, expires_in | expires_at}"},
	{"GET", "/api/v1/tokens", "List personal tokens with their state (active, expired, revoked), expiry and last use, never a secret or its hash: the caller's own; an admin's lists everyone's. Agent credentials are listed with their asset", "any", ""},
	{"DELETE", "/api/v1/tokens/{tokenID}", "Revoke a personal token: it and the sessions opened with it are refused from the next request on (409 when revoked before); its holder or an admin may", "any (own; admin: any)", ""},
	{"GET", "/api/v1/products", "List the product catalogue", "any", ""},
	{"POST", "/api/v1/products", "Add a product to the catalogue", "engineer, admin", "{vendor_id, name, kind}"},
	{"GET", "/api/v1/sites", "List sites", "staff", ""},
	{"POST", "/api/v1/sites", "Add a site", "engineer, admin", "{name}"},
	{"GET", "/api/v1/zones", "List zones with their SL-T and maintenance windows", "staff", ""},
	{"POST", "/api/v1/zones", "Add a zone; a window with no occurrence in the coming year (blackouts counted: the engine would find none) is refused with 422 saying why", "engineer, admin", "{site_id, name, sl_t, test_bench, window}"},
	{"GET", "/api/v1/zones/{zoneID}", "Show a zone", "staff", ""},
	{"PUT", "/api/v1/zones/{zoneID}/window", "Replace a zone's maintenance window and answer with the zone as stored (new updated_at); a window with no occurrence in the coming year (blackouts counted: the engine would find none) is refused with 422 saying why", "engineer, admin", "{cron, duration, time_zone, max_parallel, blackouts}"},
	{"GET", "/api/v1/zones/{zoneID}/windows", "Preview a zone's next window openings (?next=N): the spans the engine uses, overlapping occurrences joined; only the first may have started, and then it has open_now; continues means still open at its end", "staff", ""},
	{"GET", "/api/v1/windows", "Next window openings of every zone (?next=N), as GET /api/v1/zones/{zoneID}/windows shows them", "staff", ""},
	{"GET", "/api/v1/assets", "List assets (?zone_id, ?product_id)", "staff", ""},
	{"POST", "/api/v1/assets", "Add an asset", "engineer, admin", "{zone_id, product_id, name, installed_version, criticality, safety_critical, redundancy_group, adapter}"},
	{"GET", "/api/v1/assets/{assetID}", "Show an asset, with its simulated device and operations", "staff", ""},
	{"PUT", "/api/v1/assets/{assetID}/simulator/faults", "Inject faults into a simulated device", "engineer, admin", "{deploy_fail, verify_fail, hang, backup_corrupt, restore_fail}"},
	{"POST", "/api/v1/patches", "Submit a signed patch: multipart manifest, signature, artifact parts; answers with the patch as its vendor sees it (GET /api/v1/patches/{patchID})", "vendor", "multipart/form-data"},
	{"GET", "/api/v1/patches", "List patches, each shaped for the caller as GET /api/v1/patches/{patchID} (a vendor sees its own)", "any", ""},
	{"GET", "/api/v1/patches/{patchID}", "Show a patch with its qualification result. Staff get applicable_assets, qualification_report and applicability_now, the patch evaluated against each asset as it runs now; a vendor gets applicable_by_version and excluded_by_version (asset counts per product version with its compatibility statement) and risk (CVEs, max CVSS), never asset ids or names, zones, SL-T, criticality or safety data", "any (vendor: own)", ""},
	{"GET", "/api/v1/patches/{patchID}/manifest", "The manifest exactly as signed", "any (vendor: own)", ""},
	{"POST", "/api/v1/campaigns", "Plan a campaign for a qualified patch from the inventory as it is now (explicit production targets; test-bench runs per from-version added) and start it; refused when a target is not applicable, already in an open campaign (409), or the threshold exceeds what a safety zone allows", "engineer, admin", "{name, patch_id, asset_ids (required, production assets), error_threshold, accept_not_stated (asset ids), accept_reason}"},
	{"GET", "/api/v1/campaigns", "List campaigns", "staff", ""},
	{"GET", "/api/v1/campaigns/{campaignID}", "Show a campaign: stage, per-asset state (incl. drifted, not_started, aborted), approvals, next window, and review: the plan in words for approvers (patch, CVEs, targets with from-version and compatibility, bench runs and coverage, waves with thresholds and windows in the zone time zone) (?live=1 adds the workflow view)", "staff", ""},
	{"POST", "/api/v1/campaigns/{campaignID}/decisions", "Approve or reject the campaign's plan", "approver, safety", "{decision, reason, plan_digest}"},
	{"GET", "/api/v1/audit/events", "List audit events (filters, ?after cursor)", "auditor, admin, engineer", ""},
	{"GET", "/api/v1/audit/verify", "Recompute the audit chain and name the first broken link", "auditor, admin, engineer", ""},
}

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

func openAPIDocument() map[string]any {
	paths := map[string]any{}
	for _, op := range operations {
		item, _ := paths[op.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		o := map[string]any{
			"summary": op.Summary,
			"responses": map[string]any{
				"200": map[string]any{"description": "OK"},
				"4XX": map[string]any{"description": "Refused; the body is application/problem+json saying why", "content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}},
					"headers": map[string]any{"Retry-After": map[string]any{"description": "With 429 (too many failed authentications from the address, or changes by the identity): seconds until the limit allows again", "schema": map[string]any{"type": "integer"}}}},
			},
		}
		if op.Roles == "" {
			o["security"] = []any{}
		} else {
			o["description"] = "Roles: " + op.Roles
		}
		if op.Body != "" {
			ct := "application/json"
			if strings.HasPrefix(op.Body, "multipart/") {
				ct = op.Body
			}
			o["requestBody"] = map[string]any{"required": true, "description": op.Body, "content": map[string]any{ct: map[string]any{}}}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			o["parameters"] = params
		}
		item[strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi":  "3.1.0",
		"info":     map[string]any{"title": "otpatch API", "version": "v1", "description": "Patch orchestration for industrial automation and control systems, following IEC TR 62443-2-3."},
		"paths":    paths,
		"security": []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas": map[string]any{"Problem": map[string]any{"type": "object", "properties": map[string]any{
				"type": map[string]any{"type": "string"}, "title": map[string]any{"type": "string"}, "status": map[string]any{"type": "integer"},
				"detail": map[string]any{"type": "string"}, "rule": map[string]any{"type": "string"}, "errors": map[string]any{"type": "array"},
				"instance": map[string]any{"type": "string"}}}},
		},
	}
}

func (s *server) manifestSchema(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/schema+json")
	_, _ = w.Write(domain.ManifestJSONSchema)
}

func (s *server) openAPI(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, openAPIDocument())
}
