package domain

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CompareVersions orders two vendor version strings: -1, 0 or 1.
//
// Vendors write versions as "V2.9.4", "4.7 SP2", "R20.1 build 123" or "V3.0 Update 2". The rule:
// the numeric runs of the string, read left to right, are the version's components; words
// (V, R, SP, Update, build) only separate them; a missing component counts as 0. So
// "4.7" < "4.7 SP2" < "4.8", and "V3.0 Update 2" == "3.0.2".
func CompareVersions(a, b string) int {
	x, y := versionParts(a), versionParts(b)
	for i := 0; i < len(x) || i < len(y); i++ {
		var p, q uint64
		if i < len(x) {
			p = x[i]
		}
		if i < len(y) {
			q = y[i]
		}
		switch {
		case p < q:
			return -1
		case p > q:
			return 1
		}
	}
	return 0
}

func versionParts(s string) []uint64 {
	var parts []uint64
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, err := strconv.ParseUint(strings.TrimLeft(s[i:j], "0")+"0", 10, 64)
		if err != nil {
			n = ^uint64(0)
		} else {
			n /= 10
		}
		parts = append(parts, n)
		i = j
	}
	return parts
}

// hasDigit reports whether s names a version at all.
func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// VersionRange is one entry of a manifest's affected_versions: an exact version, "*", or
// comparisons joined by commas ("< V5.4.2", ">= 4.0, < 4.7 SP2").
type VersionRange struct {
	raw   string
	all   bool
	terms []versionTerm
}

type versionTerm struct {
	op      string
	version string
}

// ParseVersionRange reads one affected-versions entry.
func ParseVersionRange(s string) (VersionRange, error) {
	s = strings.TrimSpace(s)
	r := VersionRange{raw: s}
	if s == "" {
		return r, fmt.Errorf("must be a version, a range such as \"< V5.4.2\" or \"*\"")
	}
	if n := utf8.RuneCountInString(s); n > 128 {
		return r, fmt.Errorf("is %d characters; at most 128", n)
	}
	if s == "*" {
		r.all = true
		return r, nil
	}
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		op := "="
		for _, o := range []string{"<=", ">=", "<", ">", "="} {
			if strings.HasPrefix(term, o) {
				op, term = o, strings.TrimSpace(term[len(o):])
				break
			}
		}
		if !hasDigit(term) {
			return r, fmt.Errorf("%q has no version number in it", s)
		}
		if strings.ContainsAny(term, "<>=") {
			return r, fmt.Errorf("%q: write one comparison per term and join them with a comma, such as \">= 4.0, < 4.7 SP2\"", s)
		}
		r.terms = append(r.terms, versionTerm{op: op, version: term})
	}
	return r, nil
}

// Contains reports whether version v falls in the range.
func (r VersionRange) Contains(v string) bool {
	if r.all {
		return true
	}
	if !hasDigit(v) {
		return false
	}
	for _, t := range r.terms {
		c := CompareVersions(v, t.version)
		ok := false
		switch t.op {
		case "=":
			ok = c == 0
		case "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		case ">":
			ok = c > 0
		case ">=":
			ok = c >= 0
		}
		if !ok {
			return false
		}
	}
	return true
}

func (r VersionRange) String() string { return r.raw }

// Affects reports whether an asset running version v is affected by the manifest.
func (m *Manifest) Affects(v string) bool {
	for _, a := range m.AffectedVersions {
		r, err := ParseVersionRange(a)
		if err == nil && r.Contains(v) {
			return true
		}
	}
	return false
}
