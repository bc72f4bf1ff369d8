package api

import (
	"net/http"
	"testing"
)

// TestNearestRank pins the percentile rule the scorecard documents: the smallest value with at
// least p% of the values at or below it.
func TestNearestRank(t *testing.T) {
	for _, c := range []struct {
		values         []int64
		median, ninety int64
	}{
		{[]int64{7}, 7, 7},
		{[]int64{1, 2}, 1, 2},
		{[]int64{1, 2, 3}, 2, 3},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5, 9},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 6, 10},
	} {
		if m, n := nearestRank(c.values, 50), nearestRank(c.values, 90); m != c.median || n != c.ninety {
			t.Errorf("%v: median %d, p90 %d; want %d and %d", c.values, m, n, c.median, c.ninety)
		}
	}
}

// TestRefusalReason classifies the refusals patch intake writes, by their own words.
func TestRefusalReason(t *testing.T) {
	for _, c := range []struct {
		detail string
		status int
		want   string
	}{
		{"signature refused: signed by key ab12, which was revoked at 2026-12-01T00:00:00Z", 422, "revoked_key"},
		{"signature refused: signed by key ab12, which expired at 2025-01-01T00:00:00Z", 422, "expired_key"},
		{"signature refused: signed by key ab12, which is not valid before 2030-01-01T00:00:00Z", 422, "key_not_yet_valid"},
		{"signature refused: the vendor has no trusted signing key; an admin must register one", 422, "no_trusted_key"},
		{"signature refused: the signature does not verify with any trusted key of this vendor", 422, "bad_signature"},
		{`this token submits for vendor "acme"; the manifest names vendor "helix"`, 403, "wrong_vendor"},
		{`product "X" of vendor acme is not in the asset owner's catalogue; ask the asset owner to add it`, 422, "unknown_product"},
		{"patch P version V was submitted before; a new submission needs a new version", 409, "duplicate"},
		{"version 1 is not newer than 2, already accepted for X: a patch that supersedes others must be newer (rollback protection)", 409, "rollback_protection"},
		{"the manifest declares 9 bytes of artifacts, larger than the limit of 1 bytes", http.StatusRequestEntityTooLarge, "too_large"},
		{`artifact "a.bin" is not listed in the manifest`, 422, "artifact"},
		{"manifest is invalid: version: is required", 422, "invalid_manifest"},
		{"the first part must be \"manifest\"", 400, "malformed_request"},
	} {
		if got := refusalReason(c.detail, c.status); got != c.want {
			t.Errorf("%q (%d): %s, want %s", c.detail, c.status, got, c.want)
		}
		if refusalReasons[c.want] == "" {
			t.Errorf("reason %s has no words", c.want)
		}
	}
}
