package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/passwords"
	"github.com/otpatch/otpatch/internal/store"
)

// The caller's own account: who he is and which roles he holds, his password (local accounts)
// and his second factor (TOTP, RFC 6238, as authenticator apps make it).

// withDefaults fills a policy's zero fields from domain.DefaultPasswordPolicy.
func withDefaults(p domain.PasswordPolicy) domain.PasswordPolicy {
	d := domain.DefaultPasswordPolicy()
	if p.MinLength <= 0 {
		p.MinLength = d.MinLength
	}
	if p.MinClasses <= 0 {
		p.MinClasses = d.MinClasses
	}
	if p.MaxAge < 0 {
		p.MaxAge = 0
	} else if p.MaxAge == 0 {
		p.MaxAge = d.MaxAge
	}
	if p.History < 0 {
		p.History = 0
	} else if p.History == 0 {
		p.History = d.History
	}
	if p.LockoutFailures <= 0 {
		p.LockoutFailures = d.LockoutFailures
	}
	if p.LockoutFor <= 0 {
		p.LockoutFor = d.LockoutFor
	}
	return p
}

// meView is the caller as he sees himself.
type meView struct {
	domain.Actor
	DisplayName string        `json:"display_name,omitempty"`
	Roles       []domain.Role `json:"roles" doc:"The roles he holds; he acts in role"`
	// SignIn is how the account signs in: password (a local account) or oidc.
	SignIn            domain.SignInMethod `json:"sign_in,omitempty" doc:"How the account signs in: password (a local account) or oidc; absent for an identity without an account"`
	PasswordSetAt     *time.Time          `json:"password_set_at,omitempty"`
	PasswordExpiresAt *time.Time          `json:"password_expires_at,omitempty" doc:"When the password must be changed by, under the password policy's maximum age"`
	TOTP              bool                `json:"totp" doc:"The second factor is on"`
}

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	a := actorOf(r)
	out := meView{Actor: a, Roles: []domain.Role{a.Role}}
	if a.UserID != "" {
		u, err := s.Store.User(r.Context(), a.UserID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if out.Roles, err = s.Store.HeldRoles(r.Context(), u.ID); err != nil {
			s.internal(w, r, err)
			return
		}
		out.DisplayName, out.TOTP, out.PasswordSetAt = u.DisplayName, u.TOTPEnabledAt != nil, u.PasswordSetAt
		out.SignIn = domain.SignInPassword
		if u.SingleSignOn() {
			out.SignIn = domain.SignInOIDC
		}
		if u.PasswordSetAt != nil && s.Passwords.MaxAge > 0 {
			exp := u.PasswordSetAt.Add(s.Passwords.MaxAge)
			out.PasswordExpiresAt = &exp
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// localUser loads the caller's local account, answering the refusal when he has none.
func (s *server) localUser(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	a := actorOf(r)
	if a.UserID == "" {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: "this identity has no account of its own"})
		return store.User{}, false
	}
	u, err := s.Store.User(r.Context(), a.UserID)
	if err != nil {
		s.fail(w, r, err)
		return u, false
	}
	if u.PasswordHash == nil {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: fmt.Sprintf("%s signs in at the single sign-on provider; the password and second factor are kept there", u.Username)})
		return u, false
	}
	return u, true
}

// refuseRule answers a request refused by a named rule (422 unless status says otherwise)
// and records it in the audit trail as action.
func (s *server) refuseRule(w http.ResponseWriter, r *http.Request, status int, action string, err *domain.Refusal, subjectType, subjectID string) {
	ev := event(r, action)
	ev.SubjectType, ev.SubjectID = subjectType, subjectID
	ev.Details = map[string]any{"rule": err.Rule, "reason": err.Message}
	if _, aerr := s.Store.Append(r.Context(), ev); aerr != nil {
		s.Logger.Error("audit append failed", "err", aerr, "request_id", requestID(r))
	}
	writeProblem(w, r, problem{Status: status, Title: "Refused", Detail: err.Message, Rule: err.Rule})
}

type passwordChange struct {
	CurrentPassword string `json:"current_password" api:"required"`
	NewPassword     string `json:"new_password" api:"required" doc:"At most 256 bytes; it must meet the password policy"`
}

func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	var in passwordChange
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(in.CurrentPassword) > domain.MaxPasswordLength || len(in.NewPassword) > domain.MaxPasswordLength {
		s.fail(w, r, &domain.ValidationError{What: "password change", Fields: []domain.FieldError{{Field: "new_password", Message: fmt.Sprintf("is longer than %d bytes", domain.MaxPasswordLength)}}})
		return
	}
	u, ok := s.localUser(w, r)
	if !ok {
		return
	}
	if ok, err := passwords.Verify(in.CurrentPassword, *u.PasswordHash); err != nil || !ok {
		if err != nil {
			s.internal(w, r, err)
			return
		}
		s.signInFailed(w, r, u, "the current password is wrong; nothing was changed")
		return
	}
	if err := s.checkNewPassword(r, u, in.NewPassword); err != nil {
		var ref *domain.Refusal
		if errors.As(err, &ref) {
			s.refuseRule(w, r, http.StatusUnprocessableEntity, "user.password_refused", ref, "user", u.ID)
			return
		}
		s.internal(w, r, err)
		return
	}
	hash, err := passwords.Hash(in.NewPassword, passwords.Default)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	keep := ""
	if ref, ok := sessionOf(r); ok {
		keep = ref.hash()
	}
	if err := s.Store.SetPassword(r.Context(), u.ID, hash, false, keep, event(r, "user.password_changed")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkNewPassword applies the composition and reuse rules to a new password of u.
func (s *server) checkNewPassword(r *http.Request, u store.User, pw string) error {
	if err := s.Passwords.CheckComposition(u.Username, pw); err != nil {
		return err
	}
	recent, err := s.Store.RecentPasswords(r.Context(), u.ID, s.Passwords.History)
	if err != nil {
		return err
	}
	for _, h := range recent {
		if ok, _ := passwords.Verify(pw, h); ok {
			return &domain.Refusal{Rule: domain.RulePasswordReuse, Message: fmt.Sprintf("the new password repeats the current one or one of the last %d (password policy, IEC 62443-2-4 SP.09.06)", s.Passwords.History)}
		}
	}
	return nil
}

// totpOpts are the authenticator apps' defaults: 6 digits, 30 seconds, SHA-1.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpMatch reports whether code is secret's code for the time step of now or one step
// either side (clock drift), and which step it matched.
func totpMatch(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	for _, skew := range []int64{0, -1, 1} {
		step := now.Unix()/int64(totpOpts.Period) + skew
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*int64(totpOpts.Period), 0), totpOpts)
		if err == nil && len(code) == len(want) && code == want {
			return step, true
		}
	}
	return 0, false
}

func (s *server) startTOTP(w http.ResponseWriter, r *http.Request) {
	u, ok := s.localUser(w, r)
	if !ok {
		return
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "otpatch", AccountName: u.Username, Period: totpOpts.Period, Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if err := s.Store.SetTOTPSecret(r.Context(), u.ID, key.Secret()); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "me")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, totpSetupView{Secret: key.Secret(), URI: key.URL(),
		Next: "confirm with a current code: POST /api/v1/me/totp/confirm {\"code\": \"123456\"}"})
}

// totpSetupView is a new second factor's secret, shown once.
type totpSetupView struct {
	Secret string `json:"secret" doc:"The TOTP secret, base32, for an authenticator app (6 digits, 30 seconds, SHA-1)"`
	URI    string `json:"otpauth_uri" doc:"The same as an otpauth:// URI, as authenticator apps read it"`
	Next   string `json:"next" doc:"What to do next, in words"`
}

type totpCode struct {
	Code string `json:"code" api:"required" doc:"The code the authenticator app shows now"`
}

// checkTOTP checks a code against u's secret and uses its step up; it answers a refusal itself.
func (s *server) checkTOTP(w http.ResponseWriter, r *http.Request, u store.User) bool {
	var in totpCode
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return false
	}
	if u.TOTPSecret == nil {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: "no second factor is being set up or on: POST /api/v1/me/totp first"})
		return false
	}
	if u.LockedUntil != nil && s.Store.Now().Before(*u.LockedUntil) {
		s.refuseLocked(w, r, *u.LockedUntil)
		return false
	}
	step, ok := totpMatch(*u.TOTPSecret, truncate(in.Code, maxTOTP), s.Store.Now())
	if !ok {
		// Counted like a wrong password, so codes cannot be tried by the thousand.
		s.signInFailed(w, r, u, "the code is not the current code of this secret; wrong codes count toward the account's lockout")
		return false
	}
	if err := s.Store.UseTOTPStep(r.Context(), u.ID, step); err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

func (s *server) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	u, ok := s.localUser(w, r)
	if !ok {
		return
	}
	if u.TOTPEnabledAt != nil {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: "the second factor is on already"})
		return
	}
	if !s.checkTOTP(w, r, u) {
		return
	}
	if err := s.Store.SetTOTP(r.Context(), u.ID, true, event(r, "user.totp_enabled")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) disableTOTP(w http.ResponseWriter, r *http.Request) {
	u, ok := s.localUser(w, r)
	if !ok {
		return
	}
	if u.TOTPEnabledAt == nil {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: "the second factor is not on"})
		return
	}
	if !s.checkTOTP(w, r, u) {
		return
	}
	if err := s.Store.SetTOTP(r.Context(), u.ID, false, event(r, "user.totp_disabled")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// meOperations are the routes of me.go.
func (s *server) meOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/me", ID: "getMe", Tag: "Sign-in", Allow: anyRole,
			Summary:     "Who the caller is",
			Description: "The acting role, the roles held, how the account signs in, the password's age and expiry, and whether the second factor is on.",
			Answers:     []answer{ok(meView{})}, Handle: s.me},
		{Method: "PUT", Path: "/api/v1/me/password", ID: "changePassword", Tag: "Sign-in", Allow: anyRole, Roles: "any (local accounts)",
			Summary: "Change the caller's password",
			Description: "For local accounts: the current password, and a new one that meets the password policy and repeats none of the last ones " +
				"(422 naming the rule it breaks). The caller's other sessions end. A wrong current password counts toward the account's lockout (401; 403 once locked). " +
				"A single sign-on account, or an identity without an account, is refused (409).",
			Body: passwordChange{}, Answers: []answer{noContent}, Handle: s.changePassword},
		{Method: "POST", Path: "/api/v1/me/totp", ID: "startTOTP", Tag: "Sign-in", Allow: anyRole, Roles: "any (local accounts)",
			Summary: "Start setting up a second factor",
			Description: "Returns a new TOTP secret and its otpauth:// URI for an authenticator app, shown only in this answer. " +
				"The second factor is on once confirmed with a code (POST /api/v1/me/totp/confirm). A single sign-on account is refused (409).",
			Answers: []answer{{Status: http.StatusCreated, Body: totpSetupView{}, Desc: "The secret, to confirm with a code",
				Headers: map[string]string{"Location": "/api/v1/me, whose totp is true once the second factor is confirmed"}}},
			Handle: s.startTOTP},
		{Method: "POST", Path: "/api/v1/me/totp/confirm", ID: "confirmTOTP", Tag: "Sign-in", Allow: anyRole, Roles: "any (local accounts)",
			Summary: "Switch the second factor on with a current code of the new secret",
			Description: "From then on a sign-in with the password also needs the code. A wrong code counts toward the account's lockout (401); " +
				"no secret set up, or the second factor on already, is refused (409).",
			Body: totpCode{}, Answers: []answer{noContent}, Handle: s.confirmTOTP},
		{Method: "POST", Path: "/api/v1/me/totp/disable", ID: "disableTOTP", Tag: "Sign-in", Allow: anyRole, Roles: "any (local accounts)",
			Summary:     "Switch the second factor off with a current code",
			Description: "A wrong code counts toward the account's lockout (401); a second factor that is not on is refused (409).",
			Body:        totpCode{}, Answers: []answer{noContent}, Handle: s.disableTOTP},
	}
}
