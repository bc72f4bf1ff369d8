package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// Personal API tokens: each belongs to a user, has a name (its label), a role the user holds,
// an expiry and the time it was last used; its user or an admin lists and revokes it. Agent credentials are tokens too
// (role agent) but keep their own lifecycle in agents.go: they are never listed or revoked
// here and carry no expiry.

// TokenSpec is a token to store.
type TokenSpec struct {
	UserID string
	// ParentID is the token the new one is minted with, if any.
	ParentID string
	Name     string
	Role     domain.Role
	// Secret is the bearer token; only its SHA-256 is kept.
	Secret string
	// ExpiresAt is when the token stops working; zero: it never does.
	ExpiresAt time.Time
}

func (spec TokenSpec) row(now time.Time) Token {
	t := Token{ID: NewID("tok"), UserID: &spec.UserID, Name: spec.Name, Role: string(spec.Role), TokenHash: HashToken(spec.Secret), CreatedAt: now}
	if spec.ParentID != "" {
		t.ParentTokenID = &spec.ParentID
	}
	if !spec.ExpiresAt.IsZero() {
		exp := spec.ExpiresAt.UTC()
		t.ExpiresAt = &exp
	}
	return t
}

// insertToken adds t unless another active token of its user has its name.
func (s *Store) insertToken(tx *gorm.DB, t Token) error {
	var held []Token
	err := tx.Where("user_id = ? AND name = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", *t.UserID, t.Name, t.CreatedAt).
		Limit(1).Find(&held).Error
	if err != nil {
		return err
	}
	if len(held) > 0 {
		return fmt.Errorf("you have an active token named %s (%s); revoke it first, or choose another name: %w", t.Name, held[0].ID, ErrConflict)
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
	return s.noteUse(db, t)
}

// noteUse refuses t, read unrevoked, once it has expired, and notes its use (at most once a
// minute).
func (s *Store) noteUse(db *gorm.DB, t Token) (Token, error) {
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

// personalTokens selects the tokens that are not agent credentials: those of the user
// holder, or everyone's when holder is empty.
func personalTokens(db *gorm.DB, holder string) *gorm.DB {
	q := db.Model(&Token{}).Where("role <> ?", string(RoleAgent))
	if holder != "" {
		q = q.Where("user_id = ?", holder)
	}
	return q
}

// PersonalTokens lists the personal tokens of the user holder (everyone's when holder is empty), oldest
// first, revoked and expired ones included.
func (s *Store) PersonalTokens(ctx context.Context, holder string) ([]Token, error) {
	out := []Token{}
	return out, personalTokens(s.db.WithContext(ctx), holder).Order("created_at, id").Find(&out).Error
}

// PersonalToken loads the personal token id of the user holder (anyone's when holder is
// empty); another holder's token, or an agent credential, is ErrNotFound.
func (s *Store) PersonalToken(ctx context.Context, id, holder string) (Token, error) {
	var t Token
	return t, notFound(personalTokens(s.db.WithContext(ctx), holder).Take(&t, "id = ?", id).Error, "token "+id)
}

// RevokeToken revokes the personal token id of the user holder (anyone's when holder is empty),
// every token minted with it (and with those), and ends
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
		// The tokens minted with it, and theirs, go with it.
		revoked, frontier := []string{id}, []string{id}
		for len(frontier) > 0 {
			var children []string
			if err := tx.Model(&Token{}).Where("parent_token_id IN ? AND revoked_at IS NULL", frontier).Pluck("id", &children).Error; err != nil {
				return err
			}
			if len(children) > 0 {
				if err := tx.Model(&Token{}).Where("id IN ?", children).Update("revoked_at", now).Error; err != nil {
					return err
				}
			}
			revoked, frontier = append(revoked, children...), children
		}
		ended := tx.Model(&Session{}).Where("token_id IN ? AND ended_at IS NULL", revoked).Update("ended_at", now)
		details["name"], details["role"], details["sessions_ended"], details["minted_with_it_revoked"] = t.Name, t.Role, ended.RowsAffected, len(revoked)-1
		return ended.Error
	})
	if err != nil {
		return Token{}, err
	}
	t.RevokedAt = &now
	return t, nil
}

// actorOfToken is the actor of a token that belongs to no user: an agent credential.
func actorOfToken(t Token) domain.Actor {
	a := domain.Actor{Name: t.Name, Role: domain.Role(t.Role)}
	if t.VendorID != nil {
		a.VendorID = *t.VendorID
	}
	return a
}
