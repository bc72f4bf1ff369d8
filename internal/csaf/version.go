package csaf

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/otpatch/otpatch/internal/domain"
)

// Conversion is a product tree version text read as ranges in the syntax of
// domain.ParseVersionRange: "*", an exact version, or comparisons joined by commas. A version
// is covered when any of Ranges contains it.
type Conversion struct {
	Ranges []string
	// Condition is the part of the text that narrows the versions in a way no range can
	// express: a trailing parenthesis, or what follows "All versions" ("with enabled
	// Ethernet options"). Matching ignores it; people read it.
	Condition string
	// OK is false when the text could not be read; Ranges is then empty.
	OK bool
}

// ConvertVersion reads the name of a product_version or product_version_range branch.
//
// It understands what CSAF producers write in practice:
//   - vers strings: "vers:generic/<2.9.4", "vers:generic/>=1.0|<2.0", "vers:all/*";
//   - CISA's comparisons, with or without a space, joined by "|": "<V5.4.2", "<= 1.01.09",
//     "<=Ver.9.1.0", ">= R1.01 | <= R4.31"; exact versions joined by "|" are alternatives
//     ("2.0.0 | 2.0.1");
//   - Siemens' "V3.0 < V3.0 Update 2" (from the first version up to, not including, the
//     second) and "All versions", "All versions < V5.4.2";
//   - words: "prior to X", "before X", "X and prior", "X and earlier", "X and later",
//     "X or later", "X through Y", "from X to Y";
//   - one exact version: "16.00", "R20.1 build 123", "4.7 SP2".
//
// Anything else is not converted (OK false): free text is never guessed at.
func ConvertVersion(text string) Conversion {
	s := strings.Join(strings.Fields(text), " ")
	var c Conversion
	if s == "" || len(s) > 256 {
		return c
	}
	if rest, ok := strings.CutPrefix(s, "vers:"); ok {
		c.Ranges, c.OK = convertVers(rest)
		return c.checked()
	}
	// A trailing parenthesis narrows the versions: "(Only affected by CVE-2022-30997)".
	if strings.HasSuffix(s, ")") {
		if i := strings.LastIndex(s, "("); i > 0 {
			c.Condition = strings.TrimSpace(s[i+1 : len(s)-1])
			s = strings.TrimSpace(s[:i])
		}
	}
	lower := strings.ToLower(s)
	if rest, ok := cutPrefixFold(s, "all versions"); ok {
		rest = strings.TrimSpace(rest)
		switch {
		case rest == "":
			c.Ranges, c.OK = []string{"*"}, true
		case startsWithOp(rest) || hasWordPrefix(rest, "prior to", "before", "earlier than", "from"):
			inner := ConvertVersion(rest)
			c.Ranges, c.OK = inner.Ranges, inner.OK
		default:
			// "All versions with enabled Ethernet options": every version, on a condition.
			c.Ranges, c.OK = []string{"*"}, true
			c.Condition = strings.TrimSpace(strings.TrimPrefix(rest, ","))
		}
		return c.checked()
	}
	if lower == "*" || lower == "all" {
		c.Ranges, c.OK = []string{"*"}, true
		return c.checked()
	}
	if strings.Contains(s, "|") {
		c.Ranges, c.OK = convertTerms(strings.Split(s, "|"))
		return c.checked()
	}
	// Comparisons joined by commas, as domain.ParseVersionRange writes them: all must hold.
	if parts := strings.Split(s, ","); len(parts) > 1 && allOps(parts) {
		c.Ranges, c.OK = convertTerms(parts)
		if c.OK && len(c.Ranges) != 1 {
			c.Ranges, c.OK = nil, false
		}
		return c.checked()
	}
	c.Ranges, c.OK = convertPhrase(s)
	return c.checked()
}

// checked drops a conversion whose ranges domain.ParseVersionRange would refuse.
func (c Conversion) checked() Conversion {
	if !c.OK || len(c.Ranges) == 0 {
		return Conversion{Condition: c.Condition}
	}
	for _, r := range c.Ranges {
		if _, err := domain.ParseVersionRange(r); err != nil {
			return Conversion{Condition: c.Condition}
		}
	}
	return c
}

var (
	reBetween = regexp.MustCompile(`(?i)^(?:from\s+)?(.+?)\s+(?:through|thru|to|until)\s+(.+)$`)
	reBefore  = regexp.MustCompile(`(?i)^(?:prior to|before|earlier than|older than)\s+(.+)$`)
	reAndOld  = regexp.MustCompile(`(?i)^(.+?)\s+(?:and|or)\s+(?:prior|earlier|older|before|below|lower)(?:\s+versions?)?$`)
	reAndNew  = regexp.MustCompile(`(?i)^(.+?)\s+(?:and|or)\s+(?:later|newer|above|higher)(?:\s+versions?)?$`)
	reSiemens = regexp.MustCompile(`^([^<>=]+?)\s*(<=|<)\s*([^<>=]+)$`)
	// A wildcard component ("2.x", "V3.*") is a range otpatch does not guess.
	reWildcard = regexp.MustCompile(`(?:^|[.\s])[xX*](?:[.\s]|$)`)
)

// convertPhrase reads a text without "|".
func convertPhrase(s string) ([]string, bool) {
	if startsWithOp(s) {
		return convertTerms([]string{s})
	}
	if m := reSiemens.FindStringSubmatch(s); m != nil && versionLike(m[1]) && versionLike(m[3]) {
		upper := "<"
		if m[2] == "<=" {
			upper = "<="
		}
		return []string{">= " + m[1] + ", " + upper + " " + m[3]}, true
	}
	if m := reBefore.FindStringSubmatch(s); m != nil && versionLike(m[1]) {
		return []string{"< " + m[1]}, true
	}
	if m := reAndOld.FindStringSubmatch(s); m != nil && versionLike(m[1]) {
		return []string{"<= " + m[1]}, true
	}
	if m := reAndNew.FindStringSubmatch(s); m != nil && versionLike(m[1]) {
		return []string{">= " + m[1]}, true
	}
	if m := reBetween.FindStringSubmatch(s); m != nil && versionLike(m[1]) && versionLike(m[2]) {
		return []string{">= " + m[1] + ", <= " + m[2]}, true
	}
	if versionLike(s) {
		return []string{s}, true
	}
	return nil, false
}

// term is one comparison: op is "=", "<", "<=", ">" or ">=".
type term struct{ op, version string }

// convertTerms reads comparisons and exact versions the way vers does: sorted by version,
// a lower bound followed by an upper bound is one interval, an exact version is one range,
// a lone bound is open on its other side.
func convertTerms(parts []string) ([]string, bool) {
	var terms []term
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		t := term{op: "="}
		for _, op := range []string{"<=", ">=", "!=", "<", ">", "="} {
			if rest, ok := strings.CutPrefix(p, op); ok {
				t.op, p = op, strings.TrimSpace(rest)
				break
			}
		}
		if t.op == "!=" || !versionLike(p) {
			return nil, false
		}
		t.version = p
		terms = append(terms, t)
	}
	if len(terms) == 0 {
		return nil, false
	}
	slices.SortStableFunc(terms, func(a, b term) int { return domain.CompareVersions(a.version, b.version) })
	var out []string
	for i := 0; i < len(terms); i++ {
		t := terms[i]
		switch t.op {
		case "=":
			out = append(out, t.version)
		case "<", "<=":
			out = append(out, t.op+" "+t.version)
		case ">", ">=":
			if i+1 < len(terms) && (terms[i+1].op == "<" || terms[i+1].op == "<=") {
				out = append(out, t.op+" "+t.version+", "+terms[i+1].op+" "+terms[i+1].version)
				i++
				continue
			}
			out = append(out, t.op+" "+t.version)
		}
	}
	return out, true
}

// convertVers reads the part of a vers string after "vers:": SCHEME/CONSTRAINTS.
func convertVers(s string) ([]string, bool) {
	scheme, constraints, ok := strings.Cut(s, "/")
	if !ok || scheme == "" {
		return nil, false
	}
	constraints = strings.TrimSpace(constraints)
	if constraints == "*" {
		return []string{"*"}, true
	}
	var parts []string
	for _, p := range strings.Split(constraints, "|") {
		u, err := url.PathUnescape(strings.TrimSpace(p))
		if err != nil {
			return nil, false
		}
		parts = append(parts, u)
	}
	return convertTerms(parts)
}

// versionLike reports whether s reads as one version: it has a digit, no comparison, and at
// most three words ("R20.1 build 123", "V3.0 Update 2", "2020 R2 SP1").
func versionLike(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || !strings.ContainsAny(s, "0123456789") || strings.ContainsAny(s, "<>=|,()") || reWildcard.MatchString(s) {
		return false
	}
	return len(strings.Fields(s)) <= 4
}

func allOps(parts []string) bool {
	for _, p := range parts {
		if !startsWithOp(strings.TrimSpace(p)) {
			return false
		}
	}
	return true
}

func startsWithOp(s string) bool {
	return strings.HasPrefix(s, "<") || strings.HasPrefix(s, ">") || strings.HasPrefix(s, "=")
}

func hasWordPrefix(s string, words ...string) bool {
	for _, w := range words {
		if _, ok := cutPrefixFold(s, w+" "); ok {
			return true
		}
	}
	return false
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// A version as remediation texts write it: "V9.0.3", "v5.7.3.1", "R160.1", "Ver.9.2.0",
// "2.3.0", "V1988", "V3.0 Update 2", "V5.4 SP1".
const versionPattern = `(?:\b(?:[Vv]er\.\s?|[VvRr])?\d+(?:\.\d+)+[A-Za-z]?\b|\b[Vv]\d+\b)(?:\s(?:SP|Update|HF|Patch)\s?\d+\b)?`

var (
	reVersion    = regexp.MustCompile(versionPattern)
	reFixAnchors = []*regexp.Regexp{
		regexp.MustCompile(`(?i)\b(?:update|upgrade|updating|upgrading|migrate|migrating)\s+(?:to|with)\s+(?:[A-Za-z][\w/-]*\s+){0,4}?(` + versionPattern + `)`),
		regexp.MustCompile(`(` + versionPattern + `)\s+(?:or|and)\s+(?:later|newer|above|higher)`),
		regexp.MustCompile(`(?i)\b(?:released|fixed in|fix in|available in)\s+(?:[A-Za-z][\w/-]*\s+){0,3}?(` + versionPattern + `)`),
		regexp.MustCompile(`(?i)\bversion\s+(` + versionPattern + `)`),
	}
)

// FixedVersionOf finds the version a vendor_fix remediation tells users to install, or "" if
// its details name none or several without saying which. It looks, in order, for "update to
// X", "X or later", "released X", "version X", and last for the only version in a short text
// ("WindLDR: Ver.9.2.0").
func FixedVersionOf(details string) string {
	if len(details) > 4096 {
		details = details[:4096]
	}
	for _, re := range reFixAnchors {
		if m := re.FindStringSubmatch(details); m != nil {
			return strings.TrimSpace(m[1])
		}
	}
	if len(details) <= 240 {
		if all := reVersion.FindAllString(details, 2); len(all) == 1 {
			return strings.TrimSpace(all[0])
		}
	}
	return ""
}
