package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// maxJSONBody bounds every JSON request body.
const maxJSONBody = 1 << 20

// tooLargeError is a request body over its limit; fail answers it 413 on every route.
type tooLargeError struct {
	what  string
	limit int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the %s is larger than the limit of %d bytes; nothing was changed, send a smaller one", e.what, e.limit)
}

// decode reads a bounded JSON body into v, refusing unknown fields. Every fault is said in
// the reader's terms: the field's path in the body and what it must be, never a Go type.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyFault(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &tooLargeError{what: "request body", limit: mbe.Limit}
		}
		return invalidBody("body", "has data after the JSON object; send one object")
	}
	return nil
}

// decodeOptional is decode for a body that may be left out.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &tooLargeError{what: "request body", limit: mbe.Limit}
		}
		return invalidBody("body", "could not be read; send it again")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return decode(w, r, v)
}

func invalidBody(field, msg string) error {
	return &domain.ValidationError{What: "request body", Fields: []domain.FieldError{{Field: field, Message: msg}}}
}

// bodyFault turns an error of encoding/json into what the sender must fix.
func bodyFault(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
		pe  *time.ParseError
	)
	switch {
	case errors.As(err, &mbe):
		return &tooLargeError{what: "request body", limit: mbe.Limit}
	case errors.Is(err, io.EOF):
		return invalidBody("body", "is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidBody("body", "ends before the JSON is complete")
	case errors.As(err, &se):
		return invalidBody("body", fmt.Sprintf("is not valid JSON at byte %d", se.Offset))
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			field = "body"
		}
		return invalidBody(field, fmt.Sprintf("must be %s, not %s", jsonKind(ute.Type), strings.Fields(ute.Value)[0]))
	case errors.As(err, &pe):
		return invalidBody("body", fmt.Sprintf("has the time %q; write times as RFC 3339, such as 2026-03-01T02:00:00Z", pe.Value))
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, `json: unknown field "`); ok {
		name = strings.TrimSuffix(name, `"`)
		return invalidBody(name, fmt.Sprintf("%s is not a field of this request; check its spelling against the API document", name))
	}
	// A domain type's own reader (a duration, …) speaks the reader's terms already.
	if !strings.Contains(msg, "json:") && !strings.Contains(msg, "Go ") && !strings.Contains(msg, "unmarshal") {
		return invalidBody("body", msg)
	}
	return invalidBody("body", "is not valid JSON for this request")
}

// jsonKind names what a JSON value must be to fill a Go value of type t.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "a time as an RFC 3339 string"
	}
	if t.Implements(reflect.TypeFor[json.Unmarshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another kind of value"
}

// allowQuery refuses a request whose query names a parameter not in known: a typo in a filter
// must not widen an answer silently. It answers 422 naming the parameter and the known ones
// and reports false; handlers return then.
func allowQuery(w http.ResponseWriter, r *http.Request, known ...string) bool {
	var unknown []string
	for name := range r.URL.Query() {
		if !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return true
	}
	slices.Sort(unknown)
	takes := "takes no query parameters"
	if len(known) > 0 {
		takes = "takes only " + strings.Join(known, ", ")
	}
	v := &domain.ValidationError{What: "query"}
	for _, name := range unknown {
		v.Add(name, "is not a query parameter of %s %s; it %s", r.Method, routePattern(r), takes)
	}
	writeProblem(w, r, problem{Status: http.StatusUnprocessableEntity, Detail: v.Error(), Errors: v.Fields})
	return false
}
