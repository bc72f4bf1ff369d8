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

// Session is a signed-in browser: one user acting in one role he holds. The secret session
// id lives only in the browser's cookie; the database keeps its SHA-256 (IDHash, which is
// also how the session is named in lists and the audit trail).
type Session struct {
	IDHash string      `gorm:"primaryKey;column:id_hash" json:"id"`
	UserID string      `json:"user_id"`
	Role   domain.Role `json:"role"`
	// Method is how the session was opened: password, oidc or token.
	Method string `json:"method"`
	// TokenID is the personal token a token sign-in used: the session ends with it.
	TokenID    *string    `json:"token_id,omitempty"`
	Remote     string     `json:"remote"`
	UserAgent  string     `json:"user_agent"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
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

// SessionSpec is a session to open.
type SessionSpec struct {
	UserID string
	Role   domain.Role
	Method domain.SignInMethod
	// TokenID and TokenExpires are the token of a token sign-in; the session ends no later.
	TokenID      string
	TokenExpires *time.Time
	Remote       string
	UserAgent    string
	// KeepOthers keeps the user's other sessions open; by default a new sign-in ends them.
	KeepOthers bool
}

// OpenSession opens a session for a user who holds spec.Role, with ev (session.login), and
// ends his other sessions unless spec.KeepOthers. It returns the secret session id, which is
// not stored. A user who does not hold the role, or is disabled, is ErrNotFound.
func (s *Store) OpenSession(ctx context.Context, spec SessionSpec, lim SessionLimits, ev Event) (string, Session, error) {
	if lim.Idle <= 0 || lim.Idle > lim.Lifetime {
		lim.Idle = lim.Lifetime
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Session{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.Now()
	sess := Session{IDHash: HashSessionID(id), UserID: spec.UserID, Role: spec.Role, Method: string(spec.Method),
		Remote: spec.Remote, UserAgent: spec.UserAgent, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(lim.Lifetime)}
	if spec.TokenID != "" {
		sess.TokenID = &spec.TokenID
	}
	if spec.TokenExpires != nil && spec.TokenExpires.Before(sess.ExpiresAt) {
		sess.ExpiresAt = *spec.TokenExpires // a session ends with its token
	}
	details := map[string]any{"expires_at": sess.ExpiresAt.Format(time.RFC3339), "method": spec.Method, "remote": spec.Remote, "user_agent": spec.UserAgent}
	if spec.TokenID != "" {
		details["token_id"] = spec.TokenID
	}
	if m, ok := ev.Details.(map[string]any); ok {
		for k, v := range m {
			details[k] = v
		}
	}
	ev.SubjectType, ev.SubjectID, ev.Details = "session", sess.IDHash[:16], details
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if _, err := actingUser(tx, spec.UserID, spec.Role); err != nil {
			return err
		}
		// Sessions past their end are of no use to anyone: drop them on the way.
		if err := tx.Where("expires_at < ? OR last_seen_at < ? OR ended_at IS NOT NULL", now, now.Add(-lim.Idle)).Delete(&Session{}).Error; err != nil {
			return err
		}
		if !spec.KeepOthers {
			ended := tx.Model(&Session{}).Where("user_id = ? AND ended_at IS NULL", spec.UserID).Update("ended_at", now)
			if ended.Error != nil {
				return ended.Error
			}
			details["other_sessions_ended"] = ended.RowsAffected
		}
		return tx.Create(&sess).Error
	})
	if err != nil {
		return "", Session{}, err
	}
	return id, sess, nil
}

// SessionActor resolves a live session id to its user acting in the session's role, and
// notes the request (at most once a minute, so reads do not turn into writes). A session that
// is unknown, ended, expired, idle too long, whose user is disabled or no longer holds the
// role, or whose token was revoked or has expired is ErrNotFound.
func (s *Store) SessionActor(ctx context.Context, id string, lim SessionLimits) (User, Session, error) {
	var sess Session
	db := s.db.WithContext(ctx)
	if err := db.Take(&sess, "id_hash = ? AND ended_at IS NULL", HashSessionID(id)).Error; err != nil {
		return User{}, sess, notFound(err, "session")
	}
	now := s.Now()
	if !now.Before(sess.ExpiresAt) || (lim.Idle > 0 && now.Sub(sess.LastSeenAt) >= lim.Idle) {
		return User{}, sess, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	u, err := actingUser(db, sess.UserID, sess.Role)
	if err != nil {
		return User{}, sess, err
	}
	if sess.TokenID != nil {
		if _, err := s.liveToken(db, "id = ?", *sess.TokenID); err != nil {
			return User{}, sess, err
		}
	}
	if now.Sub(sess.LastSeenAt) >= time.Minute {
		if err := db.Model(&Session{}).Where("id_hash = ?", sess.IDHash).Update("last_seen_at", now).Error; err != nil {
			return User{}, sess, err
		}
		sess.LastSeenAt = now
	}
	return u, sess, nil
}

// SetSessionRole makes a session act in another role its user holds, with ev
// (session.role_changed). A role not held is ErrNotFound.
func (s *Store) SetSessionRole(ctx context.Context, idHash string, role domain.Role, ev Event) error {
	ev.SubjectType, ev.SubjectID = "session", idHash[:16]
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		var sess Session
		if err := tx.Take(&sess, "id_hash = ? AND ended_at IS NULL", idHash).Error; err != nil {
			return notFound(err, "session")
		}
		if _, err := actingUser(tx, sess.UserID, role); err != nil {
			return err
		}
		return tx.Model(&Session{}).Where("id_hash = ?", idHash).Update("role", string(role)).Error
	})
}

// EndSession ends a session (sign-out) and appends ev (session.logout) in the same
// transaction. Ending an unknown or already ended session is ErrNotFound.
func (s *Store) EndSession(ctx context.Context, id string, ev Event) error {
	return s.EndSessionByHash(ctx, "", HashSessionID(id), ev)
}

// EndSessionByHash ends the open session idHash, of userID ("" for anyone's), with ev.
func (s *Store) EndSessionByHash(ctx context.Context, userID, idHash string, ev Event) error {
	ev.SubjectType, ev.SubjectID = "session", truncateHash(idHash)
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		q := tx.Model(&Session{}).Where("id_hash = ? AND ended_at IS NULL", idHash)
		if userID != "" {
			q = q.Where("user_id = ?", userID)
		}
		res := q.Update("ended_at", s.Now())
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("session: %w", ErrNotFound)
		}
		return res.Error
	})
}

func truncateHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// OpenSessions lists a user's sessions that have not ended or expired, newest first.
func (s *Store) OpenSessions(ctx context.Context, userID string, lim SessionLimits) ([]Session, error) {
	now := s.Now()
	out := []Session{}
	q := s.db.WithContext(ctx).Where("user_id = ? AND ended_at IS NULL AND expires_at > ?", userID, now)
	if lim.Idle > 0 {
		q = q.Where("last_seen_at > ?", now.Add(-lim.Idle))
	}
	return out, q.Order("created_at DESC").Find(&out).Error
}

// EndUserSessions ends every open session of a user ("sign out everywhere") with ev and
// returns how many ended.
func (s *Store) EndUserSessions(ctx context.Context, userID string, ev Event) (int64, error) {
	var n int64
	details := map[string]any{}
	ev.SubjectType, ev.SubjectID, ev.Details = "user", userID, details
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		res := tx.Model(&Session{}).Where("user_id = ? AND ended_at IS NULL", userID).Update("ended_at", s.Now())
		n = res.RowsAffected
		details["sessions_ended"] = n
		return res.Error
	})
	return n, err
}
