package transfer

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSequence(t *testing.T) {
	at := func(seq uint64) Header {
		h := testHeader()
		h.Sequence = seq
		return h
	}
	const digestA, digestB = "aaaa", "bbbb"
	cases := []struct {
		name       string
		last       uint64
		lastDigest string
		h          Header
		digest     string
		duplicate  bool
		reason     Reason // "" when accepted
		want       string
	}{
		{"the first bundle", 0, "", at(1), digestA, false, "", ""},
		{"the next bundle", 4, digestA, at(5), digestB, false, "", ""},
		{"the last one again", 5, digestB, at(5), digestB, true, "", ""},
		{"the last number with other content", 5, digestB, at(5), digestA, false, ReasonReplayed, "plan bundle 5 of site site_plant-b is not newer than the last one imported (5)"},
		{"an older bundle", 5, digestB, at(3), digestA, false, ReasonReplayed, "not newer than the last one imported (5)"},
		{"one bundle missing", 5, digestB, at(7), digestA, false, ReasonSequenceGap, "bundle 6 never arrived"},
		{"several bundles missing", 5, digestB, at(9), digestA, false, ReasonSequenceGap, "bundles 6 to 8 never arrived"},
		{"a first bundle after others were lost", 0, "", at(3), digestA, false, ReasonSequenceGap, "none was imported yet: bundles 1 to 2 never arrived"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dup, err := CheckSequence(tc.last, tc.lastDigest, tc.h, tc.digest)
			if dup != tc.duplicate {
				t.Errorf("duplicate %v, want %v", dup, tc.duplicate)
			}
			if tc.reason == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) || r.Reason != tc.reason || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a refusal for %s saying %q", err, tc.reason, tc.want)
			}
		})
	}
}
