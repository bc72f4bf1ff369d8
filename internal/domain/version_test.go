package domain

import (
	"strings"
	"testing"
)

// The rule CompareVersions implements, which every row below follows: the numeric runs of a
// vendor version string, read left to right, are its components; words and punctuation
// ("V", "R", "SP", "Update", "build", ".", " ") only separate them; a missing component
// counts as 0; components compare as numbers, not as text.
func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
		why  string
	}{
		{"V2.9.4", "2.9.4", 0, "the V prefix is a word, not a component"},
		{"V2.9.4", "V2.9.5", -1, "last component decides"},
		{"V2.9.4", "V2.10", -1, "components compare as numbers: 9 < 10 although \"9\" > \"1\" as text"},
		{"V2.9", "V2.9.0", 0, "a missing component counts as 0"},
		{"V2.09", "V2.9", 0, "leading zeros do not count"},
		{"4.7", "4.7 SP2", -1, "a service pack is one more component: 4.7 = 4.7.0 < 4.7.2"},
		{"4.7 SP2", "4.8", -1, "SP2 of 4.7 is older than 4.8"},
		{"4.7 SP2", "4.7 SP10", -1, "SP10 is newer than SP2"},
		{"4.7 SP2", "4.7.2", 0, "the word SP only separates: 4.7 SP2 reads as 4.7.2"},
		{"R20.1 build 123", "R20.1 build 99", 1, "build 123 is newer than build 99"},
		{"R20.1 build 123", "R20.2", -1, "the minor version outranks the build number"},
		{"R20.1 build 123", "20.1.123", 0, "R and build are words"},
		{"V3.0 Update 2", "3.0.2", 0, "Update 2 reads as a third component"},
		{"V3.0 Update 2", "V3.0", 1, "an update is newer than the release"},
		{"V3.0 Update 2", "V3.0 Update 10", -1, "Update 10 is newer than Update 2"},
		{"2020  R2 SP1", "2020.2.1", 0, "AVEVA's \"2020 R2 SP1\" (two spaces, from a real CISA advisory)"},
		{"08A06", "8.6", 0, "GE's \"08A06\": letters separate, leading zeros drop"},
		{"6.6.8a", "6.6.8b", 0, "letter suffixes are words and do not order versions (a documented limit of the rule)"},
		{"", "0", 0, "no numbers at all is version 0"},
		{"1.99999999999999999999", "1.2", 1, "a component too large for 64 bits saturates instead of wrapping"},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := CompareVersions(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d: %s", tt.a, tt.b, got, tt.want, tt.why)
			}
			if got := CompareVersions(tt.b, tt.a); got != -tt.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d (the order must be antisymmetric)", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

// A range entry is "*", one exact version, or comparisons (<, <=, >, >=, =) joined by commas
// that must all hold. An installed version without any number in it is in no range but "*".
func TestVersionRangeContains(t *testing.T) {
	tests := []struct {
		rng  string
		in   []string
		out  []string
		rule string
	}{
		{
			rng:  "< V5.4.2",
			in:   []string{"V5.4.1", "5.4", "V4.9", "V5.4.1 Update 3"},
			out:  []string{"V5.4.2", "5.4.2", "V5.4.2 Update 1", "V5.10", "V6.0", "unknown"},
			rule: "strictly older than V5.4.2",
		},
		{
			rng:  ">= 4.0, < 4.7 SP2",
			in:   []string{"4.0", "V4.0", "4.6", "4.7", "4.7 SP1"},
			out:  []string{"3.9", "3.9 SP9", "4.7 SP2", "4.7 SP3", "4.8", "5.0"},
			rule: "both comparisons must hold",
		},
		{
			rng:  "*",
			in:   []string{"V2.9.4", "R20.1 build 123", "unknown", ""},
			rule: "every version, even one without a number",
		},
		{
			rng:  "R20.1 build 123",
			in:   []string{"R20.1 build 123", "20.1.123", "R20.1 build 0123"},
			out:  []string{"R20.1 build 124", "R20.1", "R20.1 build 12"},
			rule: "a bare version is an exact match",
		},
		{
			rng:  "<= V3.0 Update 2",
			in:   []string{"V3.0 Update 2", "V3.0 Update 1", "V3.0", "V2.9.4"},
			out:  []string{"V3.0 Update 3", "V3.1"},
			rule: "<= includes the version itself",
		},
		{
			rng:  "<R160.1",
			in:   []string{"R160", "R151.3"},
			out:  []string{"R160.1", "R160.2"},
			rule: "Honeywell's \"<R160.1\": the operator needs no space",
		},
		{
			rng:  "> 2.9",
			in:   []string{"2.9.1", "3.0"},
			out:  []string{"2.9", "2.9.0", "2.8"},
			rule: "> excludes the version itself",
		},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r, err := ParseVersionRange(tt.rng)
			if err != nil {
				t.Fatalf("ParseVersionRange(%q): %v", tt.rng, err)
			}
			if r.String() != tt.rng {
				t.Errorf("String() = %q, want %q", r.String(), tt.rng)
			}
			for _, v := range tt.in {
				if !r.Contains(v) {
					t.Errorf("%q does not contain %q; want it to (%s)", tt.rng, v, tt.rule)
				}
			}
			for _, v := range tt.out {
				if r.Contains(v) {
					t.Errorf("%q contains %q; want it not to (%s)", tt.rng, v, tt.rule)
				}
			}
		})
	}
}

func TestParseVersionRangeRefuses(t *testing.T) {
	tests := []struct {
		name, in, msg string
	}{
		{"empty", "", "must be a version"},
		{"blank", "   ", "must be a version"},
		{"too long", "< " + strings.Repeat("1.", 70), "is 142 characters; at most 128"},
		{"operator without version", ">= ", "has no version number"},
		{"word without number", "latest", "has no version number"},
		{"prefix without number", "< V", "has no version number"},
		{"trailing comma", ">= 4.0,", "has no version number"},
		{"comparisons not joined by a comma", ">= 4.0 < 5.0", "comma"},
		{"operator written backwards", "=> 4.0", "comma"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseVersionRange(tt.in)
			if err == nil {
				t.Fatalf("ParseVersionRange(%q) accepted it; want an error mentioning %q", tt.in, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseVersionRange(%q) = %q; want it to mention %q", tt.in, err, tt.msg)
			}
		})
	}
}

func TestManifestAffects(t *testing.T) {
	m := &Manifest{AffectedVersions: []string{"< V5.4.2", ">= 6.0, < 6.1 SP1", "R20.1 build 123"}}
	tests := []struct {
		installed string
		want      bool
	}{
		{"V5.4.1", true},
		{"V5.4.2", false},
		{"V5.9", false},
		{"6.0", true},
		{"6.0 SP3", true},
		{"6.1", true},
		{"6.1 SP1", false},
		{"R20.1 build 123", true},
		{"R20.1 build 124", false},
		{"", false},
		{"unknown", false},
	}
	for _, tt := range tests {
		t.Run(tt.installed, func(t *testing.T) {
			if got := m.Affects(tt.installed); got != tt.want {
				t.Errorf("Affects(%q) = %v, want %v (affected_versions %q)", tt.installed, got, tt.want, m.AffectedVersions)
			}
		})
	}

	t.Run("all versions", func(t *testing.T) {
		all := &Manifest{AffectedVersions: []string{"*"}}
		if !all.Affects("unknown") || !all.Affects("V1.0") {
			t.Error(`a manifest affecting "*" must affect every installed version`)
		}
	})
	t.Run("broken entry is skipped, not matched", func(t *testing.T) {
		broken := &Manifest{AffectedVersions: []string{"latest", "< 2.0"}}
		if broken.Affects("latest") {
			t.Error(`an entry without a version number must not match anything`)
		}
		if !broken.Affects("1.5") {
			t.Error(`the valid entry "< 2.0" must still match 1.5`)
		}
	})
	t.Run("no entries", func(t *testing.T) {
		if (&Manifest{}).Affects("1.0") {
			t.Error("a manifest listing no affected versions must affect nothing")
		}
	})
}
