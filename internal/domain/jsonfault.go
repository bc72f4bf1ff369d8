package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// JSONFault says what is wrong with a JSON document that encoding/json refused, in the terms
// of the person who wrote it: the field's path and what it must be, never a Go type. whole
// names the document when no field is at fault ("body", "manifest").
func JSONFault(err error, whole string) (field, message string) {
	var (
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
		pe  *time.ParseError
	)
	switch {
	case errors.Is(err, io.EOF):
		return whole, "is empty; send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return whole, "ends before the JSON is complete"
	case errors.As(err, &se):
		return whole, fmt.Sprintf("is not valid JSON at byte %d", se.Offset)
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			field = whole
		}
		value := "that"
		if f := strings.Fields(ute.Value); len(f) > 0 {
			value = f[0]
		}
		return field, fmt.Sprintf("must be %s, not %s", jsonKind(ute.Type), value)
	case errors.As(err, &pe):
		return whole, fmt.Sprintf("has the time %q; write times as RFC 3339, such as 2026-03-01T02:00:00Z", pe.Value)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, `json: unknown field "`); ok {
		name = strings.TrimSuffix(name, `"`)
		where := whole
		if whole == "body" {
			where = "request"
		}
		return name, fmt.Sprintf("%s is not a field of this %s; check its spelling against the API document", name, where)
	}
	// A domain type's own reader (a duration, …) speaks the reader's terms already.
	if !strings.Contains(msg, "json:") && !strings.Contains(msg, "Go ") && !strings.Contains(msg, "unmarshal") {
		return whole, msg
	}
	return whole, "is not valid JSON for this " + whole
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
