package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// Personal API tokens: each has a name (its holder), a role, an expiry and the time it was
// last used; its holder or an admin lists and revokes it. Agent credentials are tokens too
// (role agent) but keep their own lifecycle in agents.go: they are never listed or revoked
// here and carry no expiry.

// TokenSpec is a token to store.
type TokenSpec struct {
	Name     string
	Role     domain.Role
	VendorID string // vendor tokens only
	// Secret is the bearer token; only its SHA-256 is kept.
	Secret string
	// ExpiresAt is when the token stops working; zero: it never does.
	ExpiresAt time.Time
}

func (spec TokenSpec) row(now time.Time) Token {
	t := Token{ID: NewID("tok"), Name: spec.Name, Role: string(spec.Role), TokenHash: HashToken(spec.Secret), CreatedAt: now}
	if spec.VendorID != "" {
		t.VendorID = &spec.VendorID
	}
	if !spec.ExpiresAt.IsZero() {
		exp := spec.ExpiresAt.UTC()
		t.ExpiresAt = &exp
	}
	return t
}

// tokenNameLockKey is the PostgreSQL advisory lock that serialises token creation, so two
// tokens of different roles cannot take one name at the same moment (SQLite has one writer).
const tokenNameLockKey = 0x6f74746f6b6e // "ottokn"

// insertToken adds t unless an active token holds its name with another role or vendor.
func (s *Store) insertToken(tx *gorm.DB, t Token) error {
	if s.dialect == "postgres" {
		if err := tx.Exec(`SELECT pg_advisory_xact_lock(?)`, tokenNameLockKey).Error; err != nil {
			return err
		}
	}
	vendor := ""
	if t.VendorID != nil {
		vendor = *t.VendorID
	}
	var held []Token
	err := tx.Where("name = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", t.Name, t.CreatedAt).
		Where("role <> ? OR COALESCE(vendor_id, '') <> ?", t.Role, vendor).Limit(1).Find(&held).Error
	if err != nil {
		return err
	}
	if len(held) > 0 {
		return fmt.Errorf("the name %s is held by active token %s with role %s; a name is one holder with one role: revoke that token first, or choose another name: %w",
			t.Name, held[0].ID, held[0].Role, ErrConflict)
	}
	return tx.Create(&t).Error
}

// liveToken loads the token matching query that is neither revoked nor expired, and notes its
// use (at most once a minute, so reads do not turn into writes). Anything else is ErrNotFound.
func (s *Store) liveToken(db *gorm.DB, query string, args ...any) (Token, error) {
	var t Token
	if err := db.Where("revoked_at IS NULL").Take(&t, append([]any{query}, args...)...).Error; err != nil {
		return Token{}, notFound(err, "token")
	}
	now := s.Now()
	if domain.TokenStateAt(t.RevokedAt, t.ExpiresAt, now) != domain.TokenActive {
		return Token{}, fmt.Errorf("token expired: %w", ErrNotFound)
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute {
		if err := db.Model(&Token{}).Where("id = ?", t.ID).Update("last_used_at", now).Error; err != nil {
			return Token{}, err
		}
		t.LastUsedAt = &now
	}
	return t, nil
}

// personalTokens selects the tokens that are not agent credentials: those of holder, or
// everyone's when holder is empty.
func personalTokens(db *gorm.DB, holder string) *gorm.DB {
	q := db.Model(&Token{}).Where("role <> ?", string(RoleAgent))
	if holder != "" {
		q = q.Where("name = ?", holder)
	}
	return q
}

// PersonalTokens lists the personal tokens of holder (everyone's when holder is empty), oldest
// first, revoked and expired ones included.
func (s *Store) PersonalTokens(ctx context.Context, holder string) ([]Token, error) {
	out := []Token{}
	return out, personalTokens(s.db.WithContext(ctx), holder).Order("created_at, id").Find(&out).Error
}

// RevokeToken revokes the personal token id of holder (anyone's when holder is empty) and ends
// the sessions opened with it, with ev (token.revoked) in the same transaction; the token is
// refused from the next request on. Revoking a revoked token is ErrConflict; an unknown one,
// another holder's, or an agent credential's, ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id, holder string, ev Event) (Token, error) {
	var t Token
	now := s.Now()
	details := map[string]any{}
	ev.SubjectType, ev.SubjectID, ev.Details = "token", id, details
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := personalTokens(tx, holder).Take(&t, "id = ?", id).Error; err != nil {
			return notFound(err, "token "+id)
		}
		res := tx.Model(&Token{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("token %s was revoked before: %w", id, ErrConflict)
		}
		ended := tx.Model(&Session{}).Where("token_id = ? AND ended_at IS NULL", id).Update("ended_at", now)
		details["name"], details["role"], details["sessions_ended"] = t.Name, t.Role, ended.RowsAffected
		return ended.Error
	})
	if err != nil {
		return Token{}, err
	}
	t.RevokedAt = &now
	return t, nil
}
