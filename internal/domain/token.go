package domain

import "time"

// TokenState is where a personal API token is in its life: active until it expires or is
// revoked, whichever comes first.
type TokenState string

// Token states.
const (
	TokenActive  TokenState = "active"
	TokenExpired TokenState = "expired"
	TokenRevoked TokenState = "revoked"
)

// TokenStateAt is the state at now of a token revoked at revoked and ending at expires (nil:
// not revoked, never expires). A revoked token stays revoked once it would have expired too.
func TokenStateAt(revoked, expires *time.Time, now time.Time) TokenState {
	switch {
	case revoked != nil:
		return TokenRevoked
	case expires != nil && !now.Before(*expires):
		return TokenExpired
	}
	return TokenActive
}
