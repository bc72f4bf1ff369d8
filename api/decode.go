package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

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
	return decodeUpTo(w, r, v, maxJSONBody)
}

// decodeUpTo is decode with a body of at most limit bytes.
func decodeUpTo(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
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
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &tooLargeError{what: "request body", limit: mbe.Limit}
	}
	field, msg := domain.JSONFault(err, "body")
	return invalidBody(field, msg)
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
