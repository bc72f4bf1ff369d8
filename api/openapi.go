package api

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
)

// operation is one route of the API: what the router serves and what the OpenAPI document
// says of it come from this one value, so neither can list a route the other lacks.
type operation struct {
	Method, Path string
	// ID is the operationId; Tag groups operations in the document (see tags).
	ID, Tag string
	Summary string
	// Description says more than the summary, in sentences.
	Description string
	// Allow are the roles that may call it; Public routes need no authentication. Roles, when
	// set, says who may call it in words where the roles alone say too little ("any (own)").
	Allow  []domain.Role
	Public bool
	Roles  string
	// AgentOnly routes are for pull-agent credentials (agent.go).
	AgentOnly bool
	// Query are the query parameters it reads; any other is refused with 422, unless AnyQuery
	// (a redirect target whose parameters another party chooses).
	Query    []param
	AnyQuery bool
	// Headers are the request headers it reads beyond authentication and content type.
	Headers []param
	// Body is a value of the type the handler decodes from a JSON body; BodyType names another
	// content type ("multipart/form-data", "text/csv", "application/octet-stream") and
	// BodySchema its schema. BodyOptional: the body may be left out.
	Body         any
	BodyType     string
	BodySchema   map[string]any
	BodyOptional bool
	// BodyAlso are further content types a BodyType operation takes, with their schemas.
	BodyAlso map[string]map[string]any
	// Answers are its success answers; every operation also answers problems (4XX, 5XX).
	Answers []answer
	Handle  http.HandlerFunc
}

// answer is a success answer of an operation. Several answers may have the same status in
// different content types (a report as JSON or CSV).
type answer struct {
	Status int
	// Body is a value of the type written as JSON; Type another content type (with Schema
	// when it is structured); neither: no body.
	Body   any
	Type   string
	Schema map[string]any
	Desc   string
	// Headers the answer carries beside Content-Type, with their descriptions.
	Headers map[string]string
}

// ok, created, accepted and noContent are the common answers.
func ok(v any) answer { return answer{Status: http.StatusOK, Body: v} }
func created(v any) answer {
	return answer{Status: http.StatusCreated, Body: v, Headers: map[string]string{"Location": "The URL of what was created"}}
}
func accepted(v any) answer { return answer{Status: http.StatusAccepted, Body: v} }

var noContent = answer{Status: http.StatusNoContent, Desc: "Done; no body"}

// file is a success answer of another content type.
func file(status int, contentType, desc string) answer {
	return answer{Status: status, Type: contentType, Desc: desc, Schema: map[string]any{"type": "string", "format": "binary"}}
}

// param is a query parameter.
type param struct {
	Name, Desc string
	Schema     map[string]any
	Required   bool
}

func qString(name, desc string) param {
	return param{Name: name, Desc: desc, Schema: map[string]any{"type": "string", "maxLength": 200}}
}

func qInt(name, desc string, lo, hi int) param {
	return param{Name: name, Desc: desc, Schema: map[string]any{"type": "integer", "minimum": lo, "maximum": hi}}
}

func qEnum(name, desc string, values ...string) param {
	return param{Name: name, Desc: desc, Schema: map[string]any{"type": "string", "enum": values}}
}

func qBool(name, desc string) param {
	return param{Name: name, Desc: desc, Schema: map[string]any{"type": "string", "enum": []string{"0", "1", "true", "false"}}}
}

func qTime(name, desc string) param {
	return param{Name: name, Desc: desc, Schema: map[string]any{"type": "string", "format": "date-time"}}
}

// retryHeader is X-Request-Id on the operations that send a workflow update: a retry with
// the same value by the same person is applied once (internal/engine).
var retryHeader = param{Name: "X-Request-Id", Desc: "Names this request: sent again with the same value by the same person (its answer was lost), it is applied once and answered as the first time. Without it the server names each request itself",
	Schema: map[string]any{"type": "string", "maxLength": 200}}

// pageQuery are the parameters of every paginated collection (page.go).
var pageQuery = []param{
	qInt("limit", fmt.Sprintf("How many items to answer (default %d)", defaultPageLimit), 1, maxPageLimit),
	{Name: "after", Desc: "The next cursor of the previous page; left out for the first page", Schema: map[string]any{"type": "string", "maxLength": 512}},
}

// paged returns the page parameters followed by filters.
func paged(filters ...param) []param { return append(slices.Clone(pageQuery), filters...) }

// tags are the document's operation groups, in order.
var tags = []struct{ Name, Desc string }{
	{"Service", "Health, readiness and this contract"},
	{"Sign-in", "Browser sessions, single sign-on and the caller's account"},
	{"People", "Users, their role grants and personal tokens"},
	{"Vendors", "Vendors and the keys their patches are signed with"},
	{"Inventory", "Sites, zones, maintenance windows, products and assets"},
	{"Patches", "Vendor submissions and their qualification"},
	{"Advisories", "Security advisories (CSAF) and their triage"},
	{"Campaigns", "Planning, approval and the run of a patch campaign"},
	{"Operations", "Operator actions on a running campaign"},
	{"Evidence", "Evidence bundles and deployment logs"},
	{"Audit", "The audit trail, its verification and export"},
	{"Compliance", "Patch status, evaluations and deadlines an auditor asks for"},
	{"Agents", "Pull agents on the devices"},
	{"Transfers", "Signed transfer bundles to and from air-gapped sites"},
	{"Exploitation", "Known exploited vulnerabilities, EPSS scores and the priorities they give"},
	{"Notifications", "Subscriptions, webhooks and their delivery log"},
}

// allOperations lists every operation, feature by feature.
func (s *server) allOperations() []operation {
	var ops []operation
	for _, group := range [][]operation{
		s.serviceOperations(),
		s.sessionOperations(), s.oidcOperations(), s.meOperations(),
		s.userOperations(), s.tokenOperations(),
		s.inventoryOperations(), s.importOperations(), s.endpointOperations(),
		s.patchOperations(), s.uploadOperations(), s.advisoryOperations(), s.feedOperations(),
		s.campaignOperations(), s.operatorOperations(), s.waiverOperations(), s.evidenceOperations(),
		s.auditOperations(), s.auditExportOperations(), s.auditLogOperations(), s.complianceOperations(),
		s.agentOperations(), s.transferOperations(),
		s.decisionOperations(),
		s.priorityOperations(),
		s.qualificationOperations(),
		s.programOperations(),
		s.scorecardOperations(),
		s.drillOperations(),
		s.discoveryOperations(),
		s.notificationOperations(),
	} {
		ops = append(ops, group...)
	}
	return ops
}

func (s *server) serviceOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/healthz", ID: "getHealth", Tag: "Service", Summary: "The process is up", Public: true,
			Answers: []answer{ok(statusDoc{})}, Handle: s.healthz},
		{Method: "GET", Path: "/readyz", ID: "getReadiness", Tag: "Service", Summary: "The database, object store and Temporal are reachable", Public: true,
			Description: "The three are checked side by side, each for at most 2 seconds; the answer is 503 when any does not answer in time, with its error.",
			Answers:     []answer{ok(readyDoc{}), {Status: http.StatusServiceUnavailable, Body: readyDoc{}, Desc: "A dependency does not answer; each is \"ok\" or its error"}}, Handle: s.readyz},
		{Method: "GET", Path: "/api/v1/openapi.json", ID: "getOpenAPI", Tag: "Service", Summary: "This document", Public: true,
			Answers: []answer{{Status: 200, Type: "application/json", Schema: map[string]any{"type": "object"}, Desc: "The OpenAPI 3.0 document"}}, Handle: s.openAPI},
		{Method: "GET", Path: "/api/v1/schemas/patch-manifest.json", ID: "getManifestSchema", Tag: "Service", Summary: "The JSON Schema of the patch manifest", Public: true,
			Answers: []answer{{Status: 200, Type: "application/schema+json", Schema: map[string]any{"type": "object"}, Desc: "JSON Schema (draft 2020-12)"}}, Handle: s.manifestSchema},
		{Method: "GET", Path: "/api/v1/states", ID: "listStates", Tag: "Service", Allow: anyRole,
			Summary: "List every patch status, campaign status, asset state and compatibility",
			Description: "Each with the word and tone to show and whether it is an end, from the domain's own lists: " +
				"clients show these instead of keeping lists of their own.",
			Answers: []answer{ok(statesDoc{})}, Handle: s.states},
	}
}

// statusDoc is the answer of /healthz.
type statusDoc struct {
	Status string `json:"status"`
}

// statesDoc is the answer of /api/v1/states.
type statesDoc struct {
	PatchStatuses    []domain.StateInfo `json:"patch_statuses"`
	CampaignStatuses []domain.StateInfo `json:"campaign_statuses"`
	AssetStates      []domain.StateInfo `json:"asset_states"`
	Compatibility    []domain.StateInfo `json:"compatibility"`
	DecisionStates   []domain.StateInfo `json:"decision_states"`
	Qualification    []domain.StateInfo `json:"qualification_statuses" doc:"The asset owner's qualification statuses of a patch per product release"`
}

// mount registers every operation on r: public ones as they are, the others behind
// authentication, the write limit and their roles.
func (s *server) mount(r chi.Router) {
	for _, op := range s.allOperations() {
		var mw []func(http.Handler) http.Handler
		if !op.Public {
			mw = append(mw, s.authenticate, s.limitWrites, s.allow(op.Allow...))
			if op.AgentOnly {
				mw = append(mw, s.agentOnly)
			}
		}
		h := op.Handle
		if !op.AnyQuery {
			h = guardQuery(op)
		}
		r.With(mw...).Method(op.Method, op.Path, h)
	}
}

// guardQuery refuses a query parameter the operation does not document (422): a typo in a
// filter must not widen an answer silently.
func guardQuery(op operation) http.HandlerFunc {
	known := make([]string, len(op.Query))
	for i, p := range op.Query {
		known[i] = p.Name
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" && !allowQuery(w, r, known...) {
			return
		}
		op.Handle(w, r)
	}
}

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

// roleWords says who may call an operation.
func roleWords(op operation) string {
	if op.Roles != "" {
		return op.Roles
	}
	var names []string
	for _, r := range op.Allow {
		names = append(names, string(r))
	}
	if slices.Equal(op.Allow, anyRole) {
		return "any"
	}
	return strings.Join(names, ", ")
}

// openAPIDocument is the OpenAPI 3.0 document of every operation.
func openAPIDocument() map[string]any {
	sc := newSchemas()
	sc.components["Problem"] = problemSchema()
	paths := map[string]any{}
	for _, op := range (&server{}).allOperations() {
		item, _ := paths[op.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		item[strings.ToLower(op.Method)] = operationDoc(sc, op)
	}
	var tagDocs []any
	for _, t := range tags {
		tagDocs = append(tagDocs, map[string]any{"name": t.Name, "description": t.Desc})
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title": "otpatch API", "version": "v1",
			"description": "Patch orchestration for industrial automation and control systems, following IEC TR 62443-2-3. " +
				"Collections are paginated: pass the answer's next as ?after for the following page. Errors are application/problem+json (RFC 9457) with a type URI per fault. " +
				"Times are RFC 3339, durations ISO 8601.",
			"license": map[string]any{"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
		},
		"servers":  []any{map[string]any{"url": "/", "description": "The otpatch server that serves this document"}},
		"tags":     tagDocs,
		"paths":    paths,
		"security": []any{map[string]any{"bearer": []any{}}, map[string]any{"session": []any{}}},
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer", "description": "A personal token (otp_…), an agent credential, or a single sign-on access token"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie, "description": "The web UI's session; changes also send X-CSRF-Token"},
			},
			"schemas":   sc.components,
			"responses": refusalResponses(),
		},
	}
}

func operationDoc(sc *schemas, op operation) map[string]any {
	o := map[string]any{"operationId": op.ID, "summary": op.Summary, "tags": []any{op.Tag}}
	desc := op.Description
	if !op.Public {
		desc = strings.TrimSpace(desc + "\n\nRoles: " + roleWords(op) + ".")
	}
	if desc != "" {
		o["description"] = desc
	}
	if op.Public {
		o["security"] = []any{}
	}
	if op.AnyQuery {
		o["x-any-query"] = true // other parameters are accepted and ignored
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string", "maxLength": 200}})
	}
	for _, p := range op.Query {
		params = append(params, map[string]any{"name": p.Name, "in": "query", "required": p.Required, "description": p.Desc, "schema": p.Schema})
	}
	for _, p := range op.Headers {
		params = append(params, map[string]any{"name": p.Name, "in": "header", "required": p.Required, "description": p.Desc, "schema": p.Schema})
	}
	if params != nil {
		o["parameters"] = params
	}
	switch {
	case op.Body != nil:
		o["requestBody"] = map[string]any{"required": !op.BodyOptional, "content": map[string]any{"application/json": map[string]any{"schema": sc.of(op.Body, inRequest)}}}
	case op.BodyType != "":
		schema := op.BodySchema
		if schema == nil {
			schema = map[string]any{"type": "string", "format": "binary"}
		}
		content := map[string]any{op.BodyType: map[string]any{"schema": schema}}
		for t, sch := range op.BodyAlso {
			content[t] = map[string]any{"schema": sch}
		}
		o["requestBody"] = map[string]any{"required": !op.BodyOptional, "content": content}
	}
	responses := map[string]any{}
	for _, a := range op.Answers {
		r := map[string]any{"description": a.Desc}
		if a.Desc == "" {
			r["description"] = http.StatusText(a.Status)
		}
		switch {
		case a.Body != nil:
			r["content"] = map[string]any{"application/json": map[string]any{"schema": sc.of(a.Body, inAnswer)}}
		case a.Type != "":
			schema := a.Schema
			if schema == nil {
				schema = map[string]any{"type": "string"}
			}
			r["content"] = map[string]any{a.Type: map[string]any{"schema": schema}}
		}
		if len(a.Headers) > 0 {
			hs := map[string]any{}
			for name, d := range a.Headers {
				hs[name] = map[string]any{"description": d, "schema": map[string]any{"type": "string"}}
			}
			r["headers"] = hs
		}
		// Answers of one status in several content types (JSON, or CSV for ?format=csv) are
		// one response listing each.
		if prev, ok := responses[strconv.Itoa(a.Status)].(map[string]any); ok && prev["content"] != nil && r["content"] != nil {
			for ct, c := range r["content"].(map[string]any) {
				prev["content"].(map[string]any)[ct] = c
			}
			prev["description"] = prev["description"].(string) + "; " + r["description"].(string)
			continue
		}
		responses[strconv.Itoa(a.Status)] = r
	}
	// The refusals every operation of its kind can answer, named so generated clients tell them
	// apart; any other is in the 4XX range below.
	refusal := func(status int, name string) {
		if _, ok := responses[strconv.Itoa(status)]; !ok {
			responses[strconv.Itoa(status)] = map[string]any{"$ref": "#/components/responses/" + name}
		}
	}
	if !op.Public {
		refusal(http.StatusUnauthorized, "Unauthenticated")
		refusal(http.StatusForbidden, "Forbidden")
	}
	if strings.Contains(op.Path, "{") {
		refusal(http.StatusNotFound, "NotFound")
	}
	if op.Body != nil || op.BodyType != "" {
		refusal(http.StatusRequestEntityTooLarge, "TooLarge")
	}
	if op.Body != nil || op.BodyType != "" || len(op.Query) > 0 {
		refusal(http.StatusUnprocessableEntity, "Invalid")
	}
	problem := map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}
	responses["4XX"] = map[string]any{"description": "Refused; the problem says why and what to do", "content": problem,
		"headers": map[string]any{"Retry-After": map[string]any{"description": "With 429: when the limit allows again, in seconds (or an HTTP date, as proxies may send)", "schema": map[string]any{"type": "string"}}}}
	responses["5XX"] = map[string]any{"description": "The server or a service it depends on failed; the problem's instance finds the request in the log", "content": problem}
	o["responses"] = responses
	return o
}

// refusalResponses are the named refusals operations refer to.
func refusalResponses() map[string]any {
	problem := map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}
	out := map[string]any{}
	for name, desc := range map[string]string{
		"Unauthenticated": "No valid credential: a missing, unknown, expired or revoked token or session (" + problemTypePrefix + "unauthenticated)",
		"Forbidden":       "The caller's role may not do this, or a rule refused it (" + problemTypePrefix + "forbidden, or the rule)",
		"NotFound":        "Something the path names does not exist, or the caller may not see it (" + problemTypePrefix + "not-found)",
		"TooLarge":        "The request body is over its limit; nothing was changed (" + problemTypePrefix + "too-large)",
		"Invalid":         "A field or query parameter is wrong; errors names each (" + problemTypePrefix + "invalid, or the rule)",
	} {
		r := map[string]any{"description": desc, "content": problem}
		if name == "Unauthenticated" {
			r["headers"] = map[string]any{"WWW-Authenticate": map[string]any{"description": "Bearer realm=\"otpatch\"", "schema": map[string]any{"type": "string"}}}
		}
		out[name] = r
	}
	return out
}

// problemTypes are the type URIs of the problems the API answers, by fault.
var problemTypes = map[int]string{
	http.StatusBadRequest:            "bad-request",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not-found",
	http.StatusMethodNotAllowed:      "method-not-allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too-large",
	http.StatusUnsupportedMediaType:  "unsupported-media-type",
	http.StatusUnprocessableEntity:   "invalid",
	http.StatusTooManyRequests:       "too-many-requests",
	http.StatusInternalServerError:   "internal",
	http.StatusServiceUnavailable:    "unavailable",
}

// problemTypePrefix starts every problem type URI; a refusal by a rule is the prefix and the
// rule's name (urn:otpatch:problem:two_person), any other the fault by status.
const problemTypePrefix = "urn:otpatch:problem:"

func problemTypeOf(p problem) string {
	if p.Rule != "" {
		return problemTypePrefix + p.Rule
	}
	if t, ok := problemTypes[p.Status]; ok {
		return problemTypePrefix + t
	}
	return "about:blank"
}

func problemSchema() map[string]any {
	str := func(d string) map[string]any { return map[string]any{"type": "string", "description": d} }
	var kinds []string
	for _, t := range problemTypes {
		kinds = append(kinds, problemTypePrefix+t)
	}
	slices.Sort(kinds)
	return map[string]any{
		"type":        "object",
		"description": "An RFC 9457 problem. Its type is stable per fault: " + strings.Join(kinds, ", ") + ", or " + problemTypePrefix + "RULE for a refusal by a named rule (the rule field).",
		"required":    []any{"type", "title", "status"},
		"properties": map[string]any{
			"type":     map[string]any{"type": "string", "format": "uri-reference", "description": "The fault's stable URI"},
			"title":    str("The status in words"),
			"status":   map[string]any{"type": "integer"},
			"detail":   str("What was wrong and what to do, in the reader's terms"),
			"rule":     str("The rule that refused the request, when one did (two_person, self_grant, plan_digest …)"),
			"instance": str("urn:otpatch:request:ID: the request id, which finds the request in the server log and the audit trail"),
			"errors": map[string]any{"type": "array", "description": "Each field that was wrong", "items": map[string]any{
				"type": "object", "required": []any{"field", "message"}, "additionalProperties": false,
				"properties": map[string]any{"field": str("The field's path in the request"), "message": str("What it must be")}}},
		},
	}
}

func (s *server) manifestSchema(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/schema+json")
	_, _ = w.Write(domain.ManifestJSONSchema)
}

func (s *server) openAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, openAPIDocument())
}

// OpenAPIDocument is the API's OpenAPI document, as /api/v1/openapi.json serves it.
func OpenAPIDocument() map[string]any { return openAPIDocument() }

// readyDoc is the answer of /readyz: "ok" or the error of each dependency.
type readyDoc struct {
	Database    string `json:"database" doc:"ok, or why the database does not answer"`
	ObjectStore string `json:"object_store" doc:"ok, or why the object store does not answer"`
	Temporal    string `json:"temporal" doc:"ok, or why Temporal does not answer"`
	Audit       string `json:"audit" doc:"ok, or what the last check of the audit log found broken (a critical alarm is raised too)"`
}
