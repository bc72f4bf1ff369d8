package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/workflows"
)

// The OpenAPI document's schemas are derived from the Go types the handlers decode and
// encode, so a field added to a view is documented by the same change. Struct types become
// components named after the type; in requests a field is optional unless its tag says
// `api:"required"`, in answers a field is always present unless it is omitempty.

// schemaMode says whether a schema describes what a client sends or what the server answers.
type schemaMode int

const (
	inAnswer schemaMode = iota
	inRequest
)

var (
	timeType       = reflect.TypeFor[time.Time]()
	durationType   = reflect.TypeFor[domain.Duration]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	marshalerType  = reflect.TypeFor[json.Marshaler]()
	textMarshaler  = reflect.TypeFor[encoding.TextMarshaler]()
)

// enums are the values of the named string types the API carries.
var enums = map[reflect.Type]func() []string{
	reflect.TypeFor[domain.Role]():           func() []string { return stringsOf(domain.Roles) },
	reflect.TypeFor[domain.PatchStatus]():    func() []string { return stateNames(domain.PatchStatusInfo()) },
	reflect.TypeFor[domain.CampaignStatus](): func() []string { return stateNames(domain.CampaignStatusInfo()) },
	reflect.TypeFor[domain.AssetState]():     func() []string { return stateNames(domain.AssetStateInfo()) },
	reflect.TypeFor[domain.Compatibility]():  func() []string { return stateNames(domain.CompatibilityInfo()) },
	reflect.TypeFor[domain.DeviceWork]():     func() []string { return stringsOf(domain.DeviceWorks()) },
	reflect.TypeFor[domain.FeedOutcome]():    func() []string { return stringsOf(domain.FeedOutcomes()) },
	reflect.TypeFor[domain.FeedResult]():     func() []string { return stringsOf(domain.FeedResults()) },
	reflect.TypeFor[domain.TokenState](): func() []string {
		return stringsOf([]domain.TokenState{domain.TokenActive, domain.TokenExpired, domain.TokenRevoked})
	},
	reflect.TypeFor[domain.QualificationStatus](): func() []string { return stateNames(domain.QualificationStatusInfo()) },
	reflect.TypeFor[domain.SignInMethod](): func() []string {
		return stringsOf([]domain.SignInMethod{domain.SignInPassword, domain.SignInOIDC, domain.SignInToken})
	},
	reflect.TypeFor[decisionWord]():       func() []string { return []string{"approve", "reject"} },
	reflect.TypeFor[complianceDecision](): complianceDecisions,
	reflect.TypeFor[complianceSubject]():  complianceSubjects,
	reflect.TypeFor[grantState]():         grantStates,
}

// namedEnums are the value sets a string field names with the tag enum:"NAME" (store records
// keep statuses as plain strings).
var namedEnums = map[string]func() []string{
	"patch_status":    func() []string { return stateNames(domain.PatchStatusInfo()) },
	"campaign_status": func() []string { return stateNames(domain.CampaignStatusInfo()) },
	"asset_state":     func() []string { return stateNames(domain.AssetStateInfo()) },
	"compatibility":   func() []string { return stateNames(domain.CompatibilityInfo()) },
}

// schemaNames renames components whose Go names would collide or read badly.
var schemaNames = map[reflect.Type]string{
	// A pause or abort in effect, as the campaign workflow reports it; OperatorAction is the
	// stored record of one.
	reflect.TypeFor[workflows.OperatorAction](): "OperatorHold",
	// The running workflow's own view of a campaign (?live=1); CampaignStatus would clash with
	// the enum of a campaign's status in generated clients.
	reflect.TypeFor[workflows.CampaignStatus](): "CampaignLive",
	// The answer of /healthz.
	reflect.TypeFor[statusDoc](): "Health",
	// What the pull agent reads and sends (internal/agent/jobs).
	reflect.TypeFor[jobs.Me]():         "AgentIdentity",
	reflect.TypeFor[jobs.Envelope]():   "SignedJob",
	reflect.TypeFor[jobs.SigningKey](): "JobSigningKey",
	reflect.TypeFor[jobs.Progress]():   "JobProgress",
	reflect.TypeFor[jobs.Result]():     "JobResult",
	reflect.TypeFor[jobs.Output]():     "JobOutput",
}

// alternatives is implemented by a type written as one of several others (a patch is shaped
// for its reader); the document says oneOf them.
type alternatives interface{ alternatives() []any }

var alternativesType = reflect.TypeFor[alternatives]()

func stringsOf[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func stateNames(infos []domain.StateInfo) []string {
	out := make([]string, 0, len(infos))
	for _, i := range infos {
		out = append(out, i.Value)
	}
	return out
}

// schemas builds component schemas from Go types.
type schemas struct {
	components map[string]any
	// names maps a type and mode to its component name; owner finds which type took a name.
	names map[typeMode]string
	owner map[string]reflect.Type
}

type typeMode struct {
	t    reflect.Type
	mode schemaMode
}

func newSchemas() *schemas {
	return &schemas{components: map[string]any{}, names: map[typeMode]string{}, owner: map[string]reflect.Type{}}
}

// of is the schema of v's type.
func (s *schemas) of(v any, mode schemaMode) map[string]any {
	return s.schema(reflect.TypeOf(v), mode)
}

func (s *schemas) schema(t reflect.Type, mode schemaMode) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "string", "format": "duration", "description": "ISO 8601 duration (PT4H, PT1H30M, P7D)", "example": "PT4H"}
	case rawMessageType:
		return map[string]any{"type": "object", "additionalProperties": true, "nullable": true, "description": "A JSON object"}
	}
	if t.Implements(alternativesType) {
		var of []any
		for _, v := range reflect.Zero(t).Interface().(alternatives).alternatives() {
			of = append(of, s.of(v, mode))
		}
		return map[string]any{"oneOf": of}
	}
	if vals, ok := enums[t]; ok {
		return map[string]any{"type": "string", "enum": vals()}
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner := s.schema(t.Elem(), mode)
		return nullable(inner)
	case reflect.Interface:
		return map[string]any{"type": "object", "additionalProperties": true, "nullable": true, "description": "A JSON object"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": s.schema(t.Elem(), mode)}
	case reflect.Map:
		if t.Key().Kind() != reflect.String && !t.Key().Implements(textMarshaler) {
			panic(fmt.Sprintf("openapi: map key %s is not a string", t.Key()))
		}
		return map[string]any{"type": "object", "additionalProperties": s.schema(t.Elem(), mode)}
	case reflect.Struct:
		if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
			panic(fmt.Sprintf("openapi: %s encodes itself; give it a schema in api/schema.go", t))
		}
		if t.Name() == "" {
			return s.object(t, mode)
		}
		return s.component(t, mode)
	}
	panic(fmt.Sprintf("openapi: no schema for %s", t))
}

// nullable marks a schema as also allowing null; a reference is wrapped, as OpenAPI 3.0 reads
// nothing beside $ref.
func nullable(inner map[string]any) map[string]any {
	if _, ok := inner["$ref"]; ok {
		return map[string]any{"type": "object", "allOf": []any{inner}, "nullable": true} // components are objects
	}
	out := map[string]any{}
	for k, v := range inner {
		out[k] = v
	}
	out["nullable"] = true
	return out
}

func (s *schemas) component(t reflect.Type, mode schemaMode) map[string]any {
	key := typeMode{t, mode}
	if name, ok := s.names[key]; ok {
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	name := componentName(t)
	if mode == inRequest {
		name += "Input"
	}
	if other, taken := s.owner[name]; taken && other != t {
		panic(fmt.Sprintf("openapi: %s and %s would both be the component %s; name one in schemaNames", t, other, name))
	}
	s.names[key], s.owner[name] = name, t
	s.components[name] = map[string]any{} // a placeholder while recursive types resolve
	s.components[name] = s.object(t, mode)
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

// componentName is the Go type's name in upper camel case; a generic page[T] is TPage.
func componentName(t reflect.Type) string {
	if n, ok := schemaNames[t]; ok {
		return n
	}
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		arg := name[i+1 : len(name)-1]
		if j := strings.LastIndexByte(arg, '.'); j >= 0 {
			arg = arg[j+1:]
		}
		// The item's suffix goes as the item's own component loses it: agentCredentialView
		// pages are AgentCredentialPage.
		for _, suffix := range []string{"View", "Doc"} {
			if strings.HasSuffix(arg, suffix) && len(arg) > len(suffix) {
				arg = strings.TrimSuffix(arg, suffix)
			}
		}
		name = upperFirst(arg) + upperFirst(name[:i])
	}
	name = upperFirst(name)
	for _, suffix := range []string{"View", "Doc"} {
		if strings.HasSuffix(name, suffix) && len(name) > len(suffix) {
			name = strings.TrimSuffix(name, suffix)
		}
	}
	if strings.HasSuffix(name, "Request") && len(name) > len("Request") {
		name = strings.TrimSuffix(name, "Request")
	}
	return name
}

func upperFirst(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return s
	}
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// object is a struct's schema: its JSON fields, embedded structs flattened as encoding/json
// does, no others allowed.
func (s *schemas) object(t reflect.Type, mode schemaMode) map[string]any {
	props := map[string]any{}
	var required []string
	s.fields(t, mode, props, &required)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	return out
}

func (s *schemas) fields(t reflect.Type, mode schemaMode, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				s.fields(ft, mode, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		fs := s.schema(f.Type, mode)
		// In answers a list or an object is never null: writeJSON fills nil ones (filled.go).
		if mode == inRequest {
			switch f.Type.Kind() {
			case reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface:
				if fs["nullable"] == nil {
					fs = nullable(fs)
				}
			}
		}
		if name := f.Tag.Get("enum"); name != "" {
			vals, ok := namedEnums[name]
			if !ok {
				panic(fmt.Sprintf("openapi: %s.%s names the unknown enum %q", t, f.Name, name))
			}
			fs = withKey(fs, "enum", vals())
		}
		if doc := f.Tag.Get("doc"); doc != "" {
			if _, ref := fs["$ref"]; ref {
				fs = map[string]any{"allOf": []any{fs}, "description": doc}
			} else {
				fs = withKey(fs, "description", doc)
			}
		}
		props[name] = fs
		switch {
		case mode == inAnswer && !omit:
			*required = append(*required, name)
		case mode == inRequest && f.Tag.Get("api") == "required":
			*required = append(*required, name)
		}
	}
}

func withKey(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}
