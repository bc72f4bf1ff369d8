package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// Session is a signed-in browser. The secret session id lives only in the browser's cookie;
// the database keeps its SHA-256.
type Session struct {
	IDHash     string `gorm:"primaryKey;column:id_hash"`
	TokenID    string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	EndedAt    *time.Time
}

// HashSessionID is what the store keeps of a session id.
func HashSessionID(id string) string {
	s := sha256.Sum256([]byte("otpatch-session:" + id))
	return hex.EncodeToString(s[:])
}

// SessionLimits bound a session: it ends lifetime after it was opened, or idle after the
// last request, whichever comes first.
type SessionLimits struct {
	Lifetime time.Duration
	Idle     time.Duration
}

// CreateSession opens a session for the holder of the bearer token secret. ev is completed
// with the token's actor and appended in the same transaction (session.login). It returns the
// secret session id, which is not stored. An unknown or revoked token is ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, secret string, lim SessionLimits, ev Event) (string, Session, domain.Actor, error) {
	if lim.Idle <= 0 || lim.Idle > lim.Lifetime {
		lim.Idle = lim.Lifetime
	}
	t, err := s.liveToken(s.db.WithContext(ctx), "token_hash = ?", HashToken(secret))
	if err != nil {
		return "", Session{}, domain.Actor{}, err
	}
	a := actorOfToken(t)
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Session{}, domain.Actor{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.Now()
	sess := Session{IDHash: HashSessionID(id), TokenID: t.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(lim.Lifetime)}
	if t.ExpiresAt != nil && t.ExpiresAt.Before(sess.ExpiresAt) {
		sess.ExpiresAt = *t.ExpiresAt // a session ends with its token
	}
	ev.Actor, ev.Role = a.Name, string(a.Role)
	ev.SubjectType, ev.SubjectID = "session", sess.IDHash[:16]
	details := map[string]any{"expires_at": sess.ExpiresAt.Format(time.RFC3339), "token_id": t.ID}
	if m, ok := ev.Details.(map[string]any); ok {
		for k, v := range m {
			details[k] = v
		}
	}
	ev.Details = details
	err = s.Write(ctx, ev, func(tx *gorm.DB) error {
		// Sessions past their end are of no use to anyone: drop them on the way.
		if err := tx.Where("expires_at < ? OR last_seen_at < ? OR ended_at IS NOT NULL", now, now.Add(-lim.Idle)).Delete(&Session{}).Error; err != nil {
			return err
		}
		return tx.Create(&sess).Error
	})
	if err != nil {
		return "", Session{}, domain.Actor{}, err
	}
	return id, sess, a, nil
}

// SessionActor resolves a live session id to the actor of its token and notes the request
// (at most once a minute, so reads do not turn into writes). A session that is unknown,
// ended, expired, idle too long, or whose token was revoked or has expired is ErrNotFound.
func (s *Store) SessionActor(ctx context.Context, id string, lim SessionLimits) (domain.Actor, Session, error) {
	var sess Session
	db := s.db.WithContext(ctx)
	if err := db.Take(&sess, "id_hash = ? AND ended_at IS NULL", HashSessionID(id)).Error; err != nil {
		return domain.Actor{}, sess, notFound(err, "session")
	}
	now := s.Now()
	if !now.Before(sess.ExpiresAt) || (lim.Idle > 0 && now.Sub(sess.LastSeenAt) >= lim.Idle) {
		return domain.Actor{}, sess, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	t, err := s.liveToken(db, "id = ?", sess.TokenID)
	if err != nil {
		return domain.Actor{}, sess, err
	}
	if now.Sub(sess.LastSeenAt) >= time.Minute {
		if err := db.Model(&Session{}).Where("id_hash = ?", sess.IDHash).Update("last_seen_at", now).Error; err != nil {
			return domain.Actor{}, sess, err
		}
		sess.LastSeenAt = now
	}
	return actorOfToken(t), sess, nil
}

// EndSession ends a session (sign-out) and appends ev (session.logout) in the same
// transaction. Ending an unknown or already ended session is ErrNotFound.
func (s *Store) EndSession(ctx context.Context, id string, ev Event) error {
	h := HashSessionID(id)
	ev.SubjectType, ev.SubjectID = "session", h[:16]
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		res := tx.Model(&Session{}).Where("id_hash = ? AND ended_at IS NULL", h).Update("ended_at", s.Now())
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("session: %w", ErrNotFound)
		}
		return res.Error
	})
}

func actorOfToken(t Token) domain.Actor {
	a := domain.Actor{Name: t.Name, Role: domain.Role(t.Role)}
	if t.VendorID != nil {
		a.VendorID = *t.VendorID
	}
	return a
}
