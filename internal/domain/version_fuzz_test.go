package domain

import (
	"strings"
	"testing"
)

// FuzzCompareVersions checks the comparator is a total order on whatever vendors write:
// antisymmetric, reflexive and consistent with ranges built from it.
func FuzzCompareVersions(f *testing.F) {
	for _, s := range [][2]string{{"V2.9.4", "V2.9.3"}, {"4.7 SP2", "4.7"}, {"R20.1 build 123", "R20.1"}, {"V3.0 Update 2", "3.0.2"},
		{"99999999999999999999999", "1"}, {"", "0"}, {"1..2", "1.0.2"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab != -ba {
			t.Fatalf("Compare(%q,%q)=%d but Compare(%q,%q)=%d", a, b, ab, b, a, ba)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("Compare(%q,%q) != 0", a, a)
		}
		if r, err := ParseVersionRange("< " + b); err == nil && hasDigit(a) && !strings.ContainsAny(b, ",<>=") && r.Contains(a) != (ab < 0) {
			t.Fatalf("range < %q contains %q = %v, but Compare = %d", b, a, r.Contains(a), ab)
		}
	})
}
