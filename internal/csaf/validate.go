package csaf

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	gocsaf "github.com/gocsaf/csaf/v3/csaf"
)

// validate runs gocsaf's Validate on the model and says its first finding in the reader's
// terms: the field path and what is wrong. null is set, and no field given, when the document
// has a null where CSAF 2.0 requires an object in a list: gocsaf's Validate dereferences most
// list elements unchecked, so such a document makes it panic; locateNull says where.
//
// Two omissions the CSAF 2.0 schema forbids are let through, as otpatch always has, because
// they take nothing from what a plant learns of its exposure and refusing them would hide a
// vendor's advisory from it: a missing document.tracking.revision_history, and a CVSS v3
// score without its version or baseSeverity (both follow from its vectorString and baseScore,
// and are filled from them).
func validate(m *gocsaf.Advisory) (field, msg string, null bool) {
	if t := m.Document.Tracking; t != nil && t.RevisionHistory == nil {
		t.RevisionHistory = gocsaf.Revisions{}
	}
	for _, v := range m.Vulnerabilities {
		if v == nil {
			continue
		}
		for _, s := range v.Scores {
			if s != nil && s.CVSS3 != nil {
				completeCVSS3(s.CVSS3)
			}
		}
	}
	err := func() (err error) {
		defer func() {
			if recover() != nil {
				null = true
			}
		}()
		return m.Validate()
	}()
	if null {
		return "", "is null; CSAF 2.0 requires an object here", true
	}
	if err == nil {
		return "", "", false
	}
	field, msg = validationPath(err.Error())
	return field, msg, false
}

func completeCVSS3(c *gocsaf.CVSS3) {
	if c.Version == nil && c.VectorString != nil {
		if v, _, ok := strings.Cut(strings.TrimPrefix(string(*c.VectorString), "CVSS:"), "/"); ok && (v == "3.0" || v == "3.1") {
			ver := gocsaf.CVSSVersion3(v)
			c.Version = &ver
		}
	}
	if c.BaseSeverity == nil && c.BaseScore != nil {
		// CVSS v3.1 specification, section 5: qualitative severity rating scale.
		var sev gocsaf.CVSS3Severity
		switch s := *c.BaseScore; {
		case s == 0:
			sev = "NONE"
		case s < 4:
			sev = "LOW"
		case s < 7:
			sev = "MEDIUM"
		case s < 9:
			sev = "HIGH"
		default:
			sev = "CRITICAL"
		}
		c.BaseSeverity = &sev
	}
}

// listOf names the list field an "N. <element> is invalid" finding of gocsaf's Validate is in.
var listOf = map[string]string{
	"branch": "branches", "note": "notes", "reference": "references", "revision": "revision_history",
	"file hash": "file_hashes", "generic uri": "x_generic_uris", "full product name": "full_product_names",
	"relationship": "relationships", "flag": "flags", "vulnerability id": "ids", "involvement": "involvements",
	"score": "scores", "remediation": "remediations", "threat": "threats", "vulnerability": "vulnerabilities",
}

var (
	invalidField = regexp.MustCompile(`^'?([a-zA-Z0-9_]+)'? is invalid$`)
	invalidItem  = regexp.MustCompile(`^([0-9]+)\. ([a-z ]+) is invalid$`)
	missingField = regexp.MustCompile(`^'?([a-zA-Z0-9_]+)'? is missing$`)
)

// validationPath turns a finding of gocsaf's Validate ("'document' is invalid: 'tracking' is
// invalid: 'revision_history' is missing") into a field path and a message
// ("document.tracking.revision_history", "is required").
func validationPath(finding string) (string, string) {
	var path []string
	segs := strings.Split(finding, ": ")
	for i, seg := range segs {
		last := ""
		if len(path) > 0 {
			last = path[len(path)-1]
		}
		if m := invalidField.FindStringSubmatch(seg); m != nil {
			name := m[1]
			if strings.HasPrefix(last, "relationships[") && name == "product" {
				name = "full_product_name" // gocsaf names it after its Go field
			}
			path = append(path, name)
			continue
		}
		if m := invalidItem.FindStringSubmatch(seg); m != nil {
			n, _ := strconv.Atoi(m[1])
			list, ok := listOf[m[2]]
			if !ok {
				break
			}
			if last == list {
				path[len(path)-1] = fmt.Sprintf("%s[%d]", list, n-1)
			} else {
				path = append(path, fmt.Sprintf("%s[%d]", list, n-1))
			}
			continue
		}
		msg := strings.Join(segs[i:], ": ")
		if msg == "is nil" {
			msg = "is null; CSAF 2.0 requires an object here"
		}
		if m := missingField.FindStringSubmatch(seg); m != nil && i == len(segs)-1 {
			name := m[1]
			switch {
			case last == "publisher" && name == "document":
				name = "category" // gocsaf's Validate misnames it
			case name == "note_category":
				name = "category"
			case name == "hashes":
				name = "file_hashes"
			}
			path = append(path, name)
			msg = "is required"
		}
		if len(path) == 0 {
			return "document", msg
		}
		return strings.Join(path, "."), msg
	}
	if len(path) == 0 {
		return "document", "is not a valid CSAF 2.0 document: " + finding
	}
	return strings.Join(path, "."), "is not valid CSAF 2.0: " + finding
}

// decodeProblem says why the document does not decode into the model.
func decodeProblem(raw []byte, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return invalid("document", "must be a JSON object (a CSAF document), not "+te.Value)
		}
		return invalid(te.Field, fmt.Sprintf("must be a JSON %s, not %s", jsonType(te.Type.Kind().String()), te.Value))
	case errors.As(err, &se):
		return invalid("document", "is not valid JSON: "+err.Error())
	}
	// A value the model refuses: gocsaf says "<value> not in [a|b|c]" for a category outside
	// the CSAF 2.0 enumeration and "<value> does not match <pattern>" for a value not in the
	// form the schema gives. Say which field and, for a category, which values it may take.
	msg := err.Error()
	value, allowed, msgOK := "", "", false
	if i := strings.LastIndex(msg, " not in ["); i >= 0 && strings.HasSuffix(msg, "]") {
		value, allowed, msgOK = msg[:i], strings.ReplaceAll(msg[i+len(" not in ["):len(msg)-1], "|", ", "), true
	} else if i := strings.LastIndex(msg, " does not match "); i >= 0 {
		value, msgOK = msg[:i], true
	}
	if !msgOK {
		return invalid("document", "is not a valid CSAF 2.0 document")
	}
	field := locate(raw, value)
	switch {
	case strings.HasSuffix(field, "csaf_version"):
		return invalid(field, fmt.Sprintf("is %q; otpatch reads CSAF 2.0", clip(value)))
	case allowed != "":
		return invalid(field, fmt.Sprintf("is %q; CSAF 2.0 knows %s", clip(value), allowed))
	}
	return invalid(field, fmt.Sprintf("%q is not in the form CSAF 2.0 requires for this field", clip(value)))
}

// locate finds the path of a string value in the document: the first, in key order, whose
// key names a field of fixed form, else the first at all; "document" when there is none.
func locate(raw []byte, value string) string {
	var first, typed string
	walkJSON(raw, func(at, key string, _ bool, n any) bool {
		if s, ok := n.(string); ok && s == value {
			if first == "" {
				first = at
			}
			if slices.Contains(formedFields, key) {
				typed = at
				return true
			}
		}
		return false
	})
	switch {
	case typed != "":
		return typed
	case first != "":
		return first
	}
	return "document"
}

// locateNull finds the first null element of a list in the document, in key order; "" when
// there is none.
func locateNull(raw []byte) string {
	found := ""
	walkJSON(raw, func(at, _ string, inList bool, n any) bool {
		if n == nil && inList {
			found = at
			return true
		}
		return false
	})
	return found
}

// walkJSON calls visit on every value of the document with its path, the key it is under and
// whether it is an element of a list, objects' keys in order, until visit returns true.
func walkJSON(raw []byte, visit func(at, key string, inList bool, n any) bool) {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return
	}
	var walk func(at, key string, inList bool, n any) bool
	walk = func(at, key string, inList bool, n any) bool {
		if visit(at, key, inList, n) {
			return true
		}
		switch n := n.(type) {
		case map[string]any:
			keys := make([]string, 0, len(n))
			for k := range n {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				next := k
				if at != "" {
					next = at + "." + k
				}
				if walk(next, k, false, n[k]) {
					return true
				}
			}
		case []any:
			for i, e := range n {
				if walk(fmt.Sprintf("%s[%d]", at, i), key, true, e) {
					return true
				}
			}
		}
		return false
	}
	walk("", "", false, doc)
}

// formedFields are the CSAF fields whose values gocsaf checks against an enumeration or a
// pattern.
var formedFields = []string{"category", "csaf_version", "status", "version", "number", "id", "cve",
	"label", "party", "cpe", "purl", "lang", "source_lang", "vectorString", "value", "baseSeverity",
	"temporalSeverity", "environmentalSeverity", "accessVector", "accessComplexity", "authentication",
	"confidentialityImpact", "integrityImpact", "availabilityImpact", "attackVector", "attackComplexity",
	"privilegesRequired", "userInteraction", "scope", "exploitability", "remediationLevel",
	"reportConfidence", "exploitCodeMaturity", "product_group_ids", "group_ids"}
