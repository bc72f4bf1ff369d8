package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// People: users, the roles granted to them, and what their sign-ins need (password history,
// lockout, the second factor). Every personal token and browser session acts as one user in
// one role he holds; a role that is not held (never granted, pending, ended) acts as nothing.

// User is a person.
type User struct {
	ID          string  `json:"id"`
	Username    string  `json:"username"`
	DisplayName string  `json:"display_name"`
	VendorID    *string `json:"vendor_id,omitempty"`
	// OIDCIssuer and OIDCSubject are the person at the single sign-on provider; nil for local
	// accounts.
	OIDCIssuer         *string    `gorm:"column:oidc_issuer" json:"oidc_issuer,omitempty"`
	OIDCSubject        *string    `gorm:"column:oidc_subject" json:"oidc_subject,omitempty"`
	PasswordHash       *string    `json:"-"`
	PasswordSetAt      *time.Time `json:"password_set_at,omitempty"`
	MustChangePassword bool       `json:"must_change_password"`
	// PasswordIssuedBy is the admin who created the account with a password he handed over,
	// or reset it; he may not confirm a privileged role for it.
	PasswordIssuedBy *string    `json:"password_issued_by,omitempty"`
	FailedSignIns    int        `json:"failed_sign_ins"`
	LockedUntil      *time.Time `json:"locked_until,omitempty"`
	TOTPSecret       *string    `gorm:"column:totp_secret" json:"-"`
	TOTPEnabledAt    *time.Time `gorm:"column:totp_enabled_at" json:"totp_enabled_at,omitempty"`
	TOTPLastStep     int64      `gorm:"column:totp_last_step" json:"-"`
	CreatedAt        time.Time  `json:"created_at"`
	CreatedBy        string     `json:"created_by"`
	DisabledAt       *time.Time `json:"disabled_at,omitempty"`
}

// Vendor is the user's vendor, "" for plant staff.
func (u User) Vendor() string {
	if u.VendorID == nil {
		return ""
	}
	return *u.VendorID
}

// SingleSignOn reports whether the user signs in at the OIDC provider.
func (u User) SingleSignOn() bool { return u.OIDCSubject != nil }

// Actor is the user acting in role.
func (u User) Actor(role domain.Role) domain.Actor {
	return domain.Actor{Name: u.Username, Role: role, VendorID: u.Vendor(), UserID: u.ID}
}

// RoleGrant is one role granted to one user.
type RoleGrant struct {
	ID          string      `json:"id"`
	UserID      string      `json:"user_id"`
	Role        domain.Role `json:"role"`
	Source      string      `json:"source"`
	RequestedBy string      `json:"requested_by"`
	RequestedAt time.Time   `json:"requested_at"`
	ConfirmedBy *string     `json:"confirmed_by,omitempty"`
	ConfirmedAt *time.Time  `json:"confirmed_at,omitempty"`
	EndedBy     *string     `json:"ended_by,omitempty"`
	EndedAt     *time.Time  `json:"ended_at,omitempty"`
}

// Grant states.
const (
	GrantPending = "pending"
	GrantActive  = "active"
	GrantEnded   = "ended"
)

// State is pending, active or ended.
func (g RoleGrant) State() string {
	switch {
	case g.EndedAt != nil:
		return GrantEnded
	case g.ConfirmedAt != nil:
		return GrantActive
	default:
		return GrantPending
	}
}

// Grant sources.
const (
	GrantByAdmin     = "admin"
	GrantByIdP       = "oidc"
	GrantByBootstrap = "bootstrap"
	GrantByDemo      = "demo"
)

// PasswordHistory is one earlier password of a user.
type PasswordHistory struct {
	UserID       string
	PasswordHash string
	SetAt        time.Time
}

// TableName keeps the table's name singular as the migration wrote it.
func (PasswordHistory) TableName() string { return "password_history" }

// NewUser is a user to add.
type NewUser struct {
	Username, DisplayName, VendorID string
	// PasswordHash is set for a local account; MustChangePassword makes its first sign-in
	// change it (an initial password an admin handed over).
	PasswordHash       string
	MustChangePassword bool
	// OIDCIssuer and OIDCSubject are set for a single sign-on account.
	OIDCIssuer, OIDCSubject string
	CreatedBy               string
}

func (s *Store) newUserRow(n NewUser) User {
	now := s.Now()
	u := User{ID: NewID("usr"), Username: n.Username, DisplayName: n.DisplayName, CreatedAt: now, CreatedBy: n.CreatedBy, MustChangePassword: n.MustChangePassword}
	if n.VendorID != "" {
		u.VendorID = &n.VendorID
	}
	if n.PasswordHash != "" {
		u.PasswordHash, u.PasswordSetAt = &n.PasswordHash, &now
		if n.MustChangePassword {
			u.PasswordIssuedBy = &n.CreatedBy
		}
	}
	if n.OIDCSubject != "" {
		u.OIDCIssuer, u.OIDCSubject = &n.OIDCIssuer, &n.OIDCSubject
	}
	return u
}

// CreateUser adds a user with ev (user.created); a taken username is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, n NewUser, ev Event) (User, error) {
	u := s.newUserRow(n)
	ev.SubjectType, ev.SubjectID = "user", u.ID
	err := s.Write(ctx, ev, func(tx *gorm.DB) error { return createUser(tx, u) })
	return u, err
}

func createUser(tx *gorm.DB, u User) error {
	if domain.ReservedUsername(u.Username) {
		return &domain.ValidationError{What: "user", Fields: []domain.FieldError{{Field: "username", Message: fmt.Sprintf("%s names one of otpatch's own actors in the audit trail; choose another", u.Username)}}}
	}
	var n int64
	if err := tx.Model(&User{}).Where("LOWER(username) = LOWER(?)", u.Username).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("the username %s is taken; a username names one person for good: %w", u.Username, ErrConflict)
	}
	return notFound(tx.Create(&u).Error, "user "+u.Username)
}

// User loads a user by id.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	var u User
	return u, notFound(s.db.WithContext(ctx).Take(&u, "id = ?", id).Error, "user "+id)
}

// UserByName loads a user by username (any case).
func (s *Store) UserByName(ctx context.Context, username string) (User, error) {
	var u User
	return u, notFound(s.db.WithContext(ctx).Take(&u, "LOWER(username) = LOWER(?)", username).Error, "user "+username)
}

// Users lists every user, by username.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	out := []User{}
	return out, s.db.WithContext(ctx).Order("username").Find(&out).Error
}

// UserFilter selects a page of users. Every field left empty selects all.
type UserFilter struct {
	// Role: the users who hold it now (a confirmed grant that has not ended).
	Role domain.Role
	// VendorID: the vendor's staff.
	VendorID string
	// SignIn: local accounts (password) or single sign-on users (oidc).
	SignIn domain.SignInMethod
	// Disabled: disabled users only (true) or the others only (false).
	Disabled *bool
	// AfterName and AfterID are the username and id of the last user of the previous page;
	// empty for the first page.
	AfterName, AfterID string
	// Limit is how many users to read at most.
	Limit int
}

// UsersPage reads the users f selects, by username then id, after f's last one: one keyset
// page, so a page costs the same however many users there are.
func (s *Store) UsersPage(ctx context.Context, f UserFilter) ([]User, error) {
	q := s.db.WithContext(ctx).Model(&User{})
	if f.Role != "" {
		q = q.Where("id IN (SELECT user_id FROM role_grants WHERE role = ? AND confirmed_at IS NOT NULL AND ended_at IS NULL)", string(f.Role))
	}
	if f.VendorID != "" {
		q = q.Where("vendor_id = ?", f.VendorID)
	}
	switch f.SignIn {
	case domain.SignInPassword:
		q = q.Where("oidc_subject IS NULL")
	case domain.SignInOIDC:
		q = q.Where("oidc_subject IS NOT NULL")
	}
	if f.Disabled != nil {
		if *f.Disabled {
			q = q.Where("disabled_at IS NOT NULL")
		} else {
			q = q.Where("disabled_at IS NULL")
		}
	}
	if f.AfterName != "" || f.AfterID != "" {
		q = q.Where("(username > ? OR (username = ? AND id > ?))", f.AfterName, f.AfterName, f.AfterID)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	out := []User{}
	return out, q.Order("username, id").Find(&out).Error
}

// UserGrants lists the grants of the users ids, oldest first.
func (s *Store) UserGrants(ctx context.Context, ids []string) ([]RoleGrant, error) {
	out := []RoleGrant{}
	if len(ids) == 0 {
		return out, nil
	}
	return out, s.db.WithContext(ctx).Where("user_id IN ?", ids).Order("requested_at, id").Find(&out).Error
}

// Usernames maps the users ids to their usernames; an unknown id is left out.
func (s *Store) Usernames(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []User
	if err := s.db.WithContext(ctx).Select("id", "username").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, u := range rows {
		out[u.ID] = u.Username
	}
	return out, nil
}

// Grants lists grants: a user's (userID set) or everyone's, in state (pending, active, ended;
// "" for all), oldest first.
func (s *Store) Grants(ctx context.Context, userID, state string) ([]RoleGrant, error) {
	q := s.db.WithContext(ctx).Model(&RoleGrant{})
	if userID != "" {
		q = q.Where("user_id = ?", userID)
	}
	switch state {
	case GrantPending:
		q = q.Where("confirmed_at IS NULL AND ended_at IS NULL")
	case GrantActive:
		q = q.Where("confirmed_at IS NOT NULL AND ended_at IS NULL")
	case GrantEnded:
		q = q.Where("ended_at IS NOT NULL")
	}
	out := []RoleGrant{}
	return out, q.Order("requested_at, id").Find(&out).Error
}

// heldRoles are the roles a user holds now.
func heldRoles(db *gorm.DB, userID string) ([]domain.Role, error) {
	var roles []domain.Role
	err := db.Model(&RoleGrant{}).Where("user_id = ? AND confirmed_at IS NOT NULL AND ended_at IS NULL", userID).
		Distinct("role").Pluck("role", &roles).Error
	slices.Sort(roles)
	return roles, err
}

// HeldRoles are the roles a user holds now.
func (s *Store) HeldRoles(ctx context.Context, userID string) ([]domain.Role, error) {
	return heldRoles(s.db.WithContext(ctx), userID)
}

// actingUser loads a user able to act in role now: not disabled, holding role. Anything else
// is ErrNotFound, so a revoked grant or a disabled user is refused at the next request.
func actingUser(db *gorm.DB, userID string, role domain.Role) (User, error) {
	var u User
	if err := db.Take(&u, "id = ? AND disabled_at IS NULL", userID).Error; err != nil {
		return User{}, notFound(err, "user")
	}
	var n int64
	err := db.Model(&RoleGrant{}).Where("user_id = ? AND role = ? AND confirmed_at IS NOT NULL AND ended_at IS NULL", userID, string(role)).Count(&n).Error
	if err != nil {
		return User{}, err
	}
	if n == 0 {
		return User{}, fmt.Errorf("%s does not hold the %s role: %w", u.Username, role, ErrNotFound)
	}
	return u, nil
}

// GrantRequest asks for role to be granted to a user.
type GrantRequest struct {
	UserID string
	Role   domain.Role
	// By is who asks (an admin's username, or "idp", "bootstrap", "demo").
	By     string
	Source string
	// Confirmed grants take effect at once: roles that are not privileged, and grants from the
	// IdP, the bootstrap and the demo.
	Confirmed bool
}

// RequestGrant records a grant with ev (role.granted or role.requested). A user who holds or
// awaits the role already is ErrConflict.
func (s *Store) RequestGrant(ctx context.Context, req GrantRequest, ev Event) (RoleGrant, error) {
	var g RoleGrant
	id := NewID("grt")
	ev.SubjectType, ev.SubjectID = "grant", id
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		var err error
		g, err = s.insertGrant(tx, id, req)
		return err
	})
	return g, err
}

func (s *Store) insertGrant(tx *gorm.DB, id string, req GrantRequest) (RoleGrant, error) {
	now := s.Now()
	var open []RoleGrant
	if err := tx.Where("user_id = ? AND role = ? AND ended_at IS NULL", req.UserID, string(req.Role)).Limit(1).Find(&open).Error; err != nil {
		return RoleGrant{}, err
	}
	if len(open) > 0 {
		return RoleGrant{}, fmt.Errorf("the user already has a %s grant of the %s role (%s): %w", open[0].State(), req.Role, open[0].ID, ErrConflict)
	}
	g := RoleGrant{ID: id, UserID: req.UserID, Role: req.Role, Source: req.Source, RequestedBy: req.By, RequestedAt: now}
	if req.Confirmed {
		g.ConfirmedBy, g.ConfirmedAt = &req.By, &now
	}
	return g, tx.Create(&g).Error
}

// Grant loads a grant.
func (s *Store) Grant(ctx context.Context, id string) (RoleGrant, error) {
	var g RoleGrant
	return g, notFound(s.db.WithContext(ctx).Take(&g, "id = ?", id).Error, "grant "+id)
}

// ConfirmGrant confirms the pending grant id as admin, with ev (role.granted), after
// domain.CheckGrantConfirm: the rules are checked inside the write, against the grant as it
// is then. A grant that is not pending is ErrConflict; a rule broken is a *domain.Refusal.
func (s *Store) ConfirmGrant(ctx context.Context, id string, admin domain.Actor, ev Event) (RoleGrant, error) {
	var g RoleGrant
	now := s.Now()
	details := map[string]any{}
	ev.SubjectType, ev.SubjectID, ev.Details = "grant", id, details
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&g, "id = ?", id).Error; err != nil {
			return notFound(err, "grant "+id)
		}
		if g.State() != GrantPending {
			return fmt.Errorf("grant %s is %s, not pending: %w", id, g.State(), ErrConflict)
		}
		var grantee User
		if err := tx.Take(&grantee, "id = ?", g.UserID).Error; err != nil {
			return err
		}
		if err := domain.CheckGrantConfirm(admin, g.RequestedBy, grantee.Username); err != nil {
			return err
		}
		if grantee.PasswordIssuedBy != nil && g.Role.Privileged() {
			if err := domain.CheckCredentialIssuer(admin, *grantee.PasswordIssuedBy, grantee.Username); err != nil {
				return err
			}
		}
		details["user"], details["role"], details["requested_by"] = grantee.Username, g.Role, g.RequestedBy
		g.ConfirmedBy, g.ConfirmedAt = &admin.Name, &now
		return tx.Model(&RoleGrant{}).Where("id = ? AND confirmed_at IS NULL AND ended_at IS NULL", id).
			Updates(map[string]any{"confirmed_by": admin.Name, "confirmed_at": now}).Error
	})
	return g, err
}

// EndGrant ends a grant (revokes an active one, withdraws or rejects a pending one) by by,
// with ev. Ending the last active admin grant is a *domain.Refusal (rule last_admin): the
// plant would lose the means to grant roles. The user's sessions acting in the role end with
// it, and his tokens in the role are revoked.
func (s *Store) EndGrant(ctx context.Context, id, by string, ev Event) (RoleGrant, error) {
	var g RoleGrant
	now := s.Now()
	details := map[string]any{}
	ev.SubjectType, ev.SubjectID, ev.Details = "grant", id, details
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&g, "id = ?", id).Error; err != nil {
			return notFound(err, "grant "+id)
		}
		if g.EndedAt != nil {
			return fmt.Errorf("grant %s ended before: %w", id, ErrConflict)
		}
		// The IdP is the authority on its own grants; anyone else keeps one admin in place.
		if g.Role == domain.RoleAdmin && g.ConfirmedAt != nil && by != "idp" {
			var admins int64
			if err := tx.Model(&RoleGrant{}).Where(activeAdmin, string(domain.RoleAdmin)).Distinct("user_id").Count(&admins).Error; err != nil {
				return err
			}
			if admins <= 1 {
				return &domain.Refusal{Rule: domain.RuleLastAdmin, Message: "this is the last admin grant; grant the admin role to someone else first"}
			}
		}
		var grantee User
		if err := tx.Take(&grantee, "id = ?", g.UserID).Error; err != nil {
			return err
		}
		wasActive := g.ConfirmedAt != nil
		ended := tx.Model(&Session{}).Where("user_id = ? AND role = ? AND ended_at IS NULL", g.UserID, string(g.Role)).Update("ended_at", now)
		if ended.Error != nil {
			return ended.Error
		}
		// Tokens made in the role end with it: granting the role again later does not revive them.
		revoked := tx.Model(&Token{}).Where("user_id = ? AND role = ? AND revoked_at IS NULL", g.UserID, string(g.Role)).Update("revoked_at", now)
		if revoked.Error != nil {
			return revoked.Error
		}
		details["user"], details["role"], details["was_active"], details["sessions_ended"], details["tokens_revoked"] = grantee.Username, g.Role, wasActive, ended.RowsAffected, revoked.RowsAffected
		g.EndedBy, g.EndedAt = &by, &now
		return tx.Model(&RoleGrant{}).Where("id = ?", id).Updates(map[string]any{"ended_by": by, "ended_at": now}).Error
	})
	return g, err
}

// activeAdmin selects the admin grants that count: confirmed, not ended, of a user who is
// not disabled.
const activeAdmin = "role = ? AND confirmed_at IS NOT NULL AND ended_at IS NULL AND user_id IN (SELECT id FROM users WHERE disabled_at IS NULL)"

// ActiveAdmins counts the users who hold the admin role and are not disabled.
func (s *Store) ActiveAdmins(ctx context.Context) (int64, error) {
	var n int64
	return n, s.db.WithContext(ctx).Model(&RoleGrant{}).Where(activeAdmin, string(domain.RoleAdmin)).
		Distinct("user_id").Count(&n).Error
}

// DisableUser disables a user with ev (user.disabled): his sessions end and his tokens are
// refused from the next request on. Disabling oneself or the last admin is a *domain.Refusal.
func (s *Store) DisableUser(ctx context.Context, id string, by domain.Actor, ev Event) (User, error) {
	var u User
	now := s.Now()
	details := map[string]any{}
	ev.SubjectType, ev.SubjectID, ev.Details = "user", id, details
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&u, "id = ?", id).Error; err != nil {
			return notFound(err, "user "+id)
		}
		if u.DisabledAt != nil {
			return fmt.Errorf("user %s was disabled before: %w", u.Username, ErrConflict)
		}
		if u.Username == by.Name {
			return &domain.Refusal{Rule: domain.RuleSelfGrant, Message: "an admin cannot disable his own account; another admin must"}
		}
		var others int64
		if err := tx.Model(&RoleGrant{}).Where(activeAdmin+" AND user_id <> ?", string(domain.RoleAdmin), id).
			Distinct("user_id").Count(&others).Error; err != nil {
			return err
		}
		if others == 0 {
			return &domain.Refusal{Rule: domain.RuleLastAdmin, Message: "this user is the last admin; grant the admin role to someone else first"}
		}
		if err := tx.Model(&Session{}).Where("user_id = ? AND ended_at IS NULL", id).Update("ended_at", now).Error; err != nil {
			return err
		}
		u.DisabledAt = &now
		details["username"] = u.Username
		return tx.Model(&User{}).Where("id = ?", id).Update("disabled_at", now).Error
	})
	return u, err
}

// SetPassword replaces a user's password with hash, keeping the old one in the history, with
// ev (user.password_changed or user.password_reset). mustChange makes the next sign-in change
// it again: a reset by an admin (ev.Actor), who is then the password's issuer and could act as
// the user, so the user's privileged grants (approver, safety, admin) go back to pending, asked
// by that admin, until another admin confirms them again. The user's other sessions end,
// except keepSession (the session id hash that made the change, or "").
func (s *Store) SetPassword(ctx context.Context, userID, hash string, mustChange bool, keepSession string, ev Event) error {
	now := s.Now()
	details := map[string]any{}
	if m, ok := ev.Details.(map[string]any); ok {
		for k, v := range m {
			details[k] = v
		}
	}
	ev.SubjectType, ev.SubjectID, ev.Details = "user", userID, details
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		if mustChange {
			privileged := []string{string(domain.RoleApprover), string(domain.RoleSafety), string(domain.RoleAdmin)}
			res := tx.Model(&RoleGrant{}).Where("user_id = ? AND ended_at IS NULL AND confirmed_at IS NOT NULL AND role IN ?", userID, privileged).
				Updates(map[string]any{"confirmed_at": nil, "confirmed_by": nil, "requested_by": ev.Actor, "requested_at": now})
			if res.Error != nil {
				return res.Error
			}
			details["grants_to_confirm_again"] = res.RowsAffected
		}
		var u User
		if err := tx.Take(&u, "id = ?", userID).Error; err != nil {
			return notFound(err, "user "+userID)
		}
		if u.PasswordHash != nil {
			if err := tx.Create(&PasswordHistory{UserID: userID, PasswordHash: *u.PasswordHash, SetAt: *u.PasswordSetAt}).Error; err != nil {
				return err
			}
		}
		if err := tx.Model(&Session{}).Where("user_id = ? AND ended_at IS NULL AND id_hash <> ?", userID, keepSession).Update("ended_at", now).Error; err != nil {
			return err
		}
		change := map[string]any{"password_hash": hash, "password_set_at": now, "must_change_password": mustChange, "failed_sign_ins": 0, "locked_until": nil}
		if mustChange {
			change["password_issued_by"] = ev.Actor
		}
		return tx.Model(&User{}).Where("id = ?", userID).Updates(change).Error
	})
}

// RecentPasswords are the hashes of a user's current password and his n earlier ones.
func (s *Store) RecentPasswords(ctx context.Context, userID string, n int) ([]string, error) {
	var out []string
	u, err := s.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.PasswordHash != nil {
		out = append(out, *u.PasswordHash)
	}
	if n <= 0 {
		return out, nil
	}
	var old []string
	err = s.db.WithContext(ctx).Model(&PasswordHistory{}).Where("user_id = ?", userID).Order("set_at DESC").Limit(n).Pluck("password_hash", &old).Error
	return append(out, old...), err
}

// SignInFailed notes a failed sign-in of a user; the failures-th in a row locks the account
// until now+lockFor. It returns when the lock ends (zero: not locked).
func (s *Store) SignInFailed(ctx context.Context, userID string, failures int, lockFor time.Duration, ev Event) (time.Time, error) {
	var until time.Time
	now := s.Now()
	ev.SubjectType, ev.SubjectID = "user", userID
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", userID).Update("failed_sign_ins", gorm.Expr("failed_sign_ins + 1")).Error; err != nil {
			return err
		}
		var u User
		if err := tx.Take(&u, "id = ?", userID).Error; err != nil {
			return err
		}
		if failures <= 0 || u.FailedSignIns < failures {
			return nil
		}
		until = now.Add(lockFor)
		return tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{"failed_sign_ins": 0, "locked_until": until}).Error
	})
	if err != nil || until.IsZero() {
		return until, err
	}
	// The lock is worth an event of its own; single failures are counted, not chained.
	ev.Details = map[string]any{"failures": failures, "locked_until": until.Format(time.RFC3339)}
	_, err = s.Append(ctx, ev)
	return until, err
}

// SignInSucceeded clears a user's failed sign-ins.
func (s *Store) SignInSucceeded(ctx context.Context, userID string) error {
	return s.db.WithContext(ctx).Model(&User{}).Where("id = ? AND (failed_sign_ins <> 0 OR locked_until IS NOT NULL)", userID).
		Updates(map[string]any{"failed_sign_ins": 0, "locked_until": nil}).Error
}

// SetTOTPSecret stores a second-factor secret for a user, not yet on: it is switched on by
// EnableTOTP with a code it produced. A user whose second factor is on is ErrConflict.
func (s *Store) SetTOTPSecret(ctx context.Context, userID, secret string) error {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ? AND totp_enabled_at IS NULL", userID).Update("totp_secret", secret)
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("the second factor is already on; switch it off first: %w", ErrConflict)
	}
	return res.Error
}

// UseTOTPStep records that a user's code of time step was used, so it cannot be used again;
// a step not after the last used one is ErrConflict.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ? AND totp_last_step < ?", userID, step).Update("totp_last_step", step)
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("this code was used already; wait for the next one: %w", ErrConflict)
	}
	return res.Error
}

// SetTOTP switches a user's second factor on (on) or off, with ev.
func (s *Store) SetTOTP(ctx context.Context, userID string, on bool, ev Event) error {
	ev.SubjectType, ev.SubjectID = "user", userID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		change := map[string]any{"totp_enabled_at": nil, "totp_secret": nil}
		if on {
			change = map[string]any{"totp_enabled_at": s.Now()}
		}
		return tx.Model(&User{}).Where("id = ?", userID).Updates(change).Error
	})
}

// SSOUser is a person as the OIDC provider asserts him at a sign-in.
type SSOUser struct {
	Issuer, Subject, Username, DisplayName string
	// Roles are what the IdP's groups map to; the user's IdP grants are brought in step.
	Roles []domain.Role
}

// SignOnUser finds or adds the user of an OIDC sign-in (by issuer and subject; the username
// is fixed at the first sign-in) and brings his IdP grants in step with in.Roles: roles newly
// mapped are granted, roles no longer mapped end. Changes are audited as user.created and
// role.granted / role.revoked with actor "idp". A username taken by another person is
// ErrConflict.
func (s *Store) SignOnUser(ctx context.Context, in SSOUser) (User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("oidc_issuer = ? AND oidc_subject = ?", in.Issuer, in.Subject).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		u = s.newUserRow(NewUser{Username: in.Username, DisplayName: in.DisplayName, OIDCIssuer: in.Issuer, OIDCSubject: in.Subject, CreatedBy: "idp"})
		ev := Event{Actor: "idp", Role: string(domain.RoleSystem), Action: "user.created", SubjectType: "user", SubjectID: u.ID,
			Details: map[string]any{"username": u.Username, "issuer": in.Issuer, "subject": in.Subject}}
		if err := s.Write(ctx, ev, func(tx *gorm.DB) error { return createUser(tx, u) }); err != nil {
			return User{}, err
		}
	} else if err != nil {
		return User{}, err
	}
	grants, err := s.Grants(ctx, u.ID, "")
	if err != nil {
		return User{}, err
	}
	held := map[domain.Role]RoleGrant{}
	for _, g := range grants {
		if g.Source == GrantByIdP && g.EndedAt == nil {
			held[g.Role] = g
		}
	}
	for _, r := range in.Roles {
		if _, ok := held[r]; ok {
			delete(held, r)
			continue
		}
		ev := Event{Actor: "idp", Role: string(domain.RoleSystem), Action: "role.granted", SubjectType: "grant",
			Details: map[string]any{"user": u.Username, "role": r, "source": GrantByIdP}}
		if _, err := s.RequestGrant(ctx, GrantRequest{UserID: u.ID, Role: r, By: "idp", Source: GrantByIdP, Confirmed: true}, ev); err != nil && !errors.Is(err, ErrConflict) {
			return User{}, err
		}
	}
	for _, g := range held { // mapped no longer
		ev := Event{Actor: "idp", Role: string(domain.RoleSystem), Action: "role.revoked"}
		if _, err := s.EndGrant(ctx, g.ID, "idp", ev); err != nil && !domain.IsRefusal(err) {
			return User{}, err
		}
	}
	return u, nil
}
