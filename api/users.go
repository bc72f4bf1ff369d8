package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/passwords"
	"github.com/otpatch/otpatch/internal/store"
)

// Users and role grants. An admin adds local accounts (the person sets his own password at
// the first sign-in) and asks for roles to be granted; a privileged role (approver, safety,
// admin) takes effect only when a second admin confirms it (two-person rule), and no admin
// grants or confirms a role for himself. Single sign-on users are added at their first
// sign-in and their roles come from the IdP's groups only.


// grantView is a grant as listed.
type grantView struct {
	store.RoleGrant
	Username string `json:"username"`
	State    string `json:"state"`
}

// userView is a user as an admin, or he himself, sees him.
type userView struct {
	store.User
	SignIn string      `json:"sign_in"`
	Locked bool        `json:"locked"`
	Grants []grantView `json:"grants"`
}

func (s *server) viewUser(u store.User, grants []store.RoleGrant) userView {
	v := userView{User: u, SignIn: string(domain.SignInPassword), Grants: []grantView{}}
	if u.SingleSignOn() {
		v.SignIn = string(domain.SignInOIDC)
	}
	v.Locked = u.LockedUntil != nil && s.Store.Now().Before(*u.LockedUntil)
	for _, g := range grants {
		if g.UserID == u.ID {
			v.Grants = append(v.Grants, grantView{RoleGrant: g, Username: u.Username, State: g.State()})
		}
	}
	return v
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	users, err := s.Store.Users(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	grants, err := s.Store.Grants(r.Context(), "", "")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := make([]userView, 0, len(users))
	for _, u := range users {
		out = append(out, s.viewUser(u, grants))
	}
	writeJSON(w, http.StatusOK, out)
}

// userOf loads the user of the route's {userID}, answering 404 itself.
func (s *server) userOf(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	id := chi.URLParam(r, "userID")
	u, err := s.Store.User(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "user "+truncate(id, 64))
		return u, false
	}
	if err != nil {
		s.internal(w, r, err)
		return u, false
	}
	return u, true
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	a := actorOf(r)
	if a.Role != domain.RoleAdmin && chi.URLParam(r, "userID") != a.UserID {
		notFoundProblem(w, r, "user "+truncate(chi.URLParam(r, "userID"), 64)) // another's account answers as a missing one
		return
	}
	u, ok := s.userOf(w, r)
	if !ok {
		return
	}
	grants, err := s.Store.Grants(r.Context(), u.ID, "")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.viewUser(u, grants))
}

type userRequest struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name,omitempty"`
	VendorID    string `json:"vendor_id,omitempty"`
}

// newUserView is the answer to POST /users and password resets: the only one that carries
// the one-time password.
type newUserView struct {
	userView
	InitialPassword string `json:"initial_password"`
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	var in userRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "user"}
	if f := domain.NameFault(in.Username); f != "" {
		v.Add("username", "%s", f)
	}
	if len(in.DisplayName) > 200 {
		v.Add("display_name", "is longer than 200 characters")
	}
	if in.VendorID != "" {
		if _, err := s.Store.Vendor(r.Context(), in.VendorID); err != nil {
			v.Add("vendor_id", "no vendor %s", in.VendorID)
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	initial := passwords.Generate()
	hash, err := passwords.Hash(initial, passwords.Default)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ev := event(r, "user.created")
	ev.Details = map[string]any{"username": in.Username, "display_name": in.DisplayName, "vendor_id": in.VendorID}
	u, err := s.Store.CreateUser(r.Context(), store.NewUser{Username: in.Username, DisplayName: in.DisplayName, VendorID: in.VendorID,
		PasswordHash: hash, MustChangePassword: true, CreatedBy: actorOf(r).Name}, ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, newUserView{userView: s.viewUser(u, nil), InitialPassword: initial})
}

// notSelf refuses an admin's action on his own account (rule self_grant).
func (s *server) notSelf(w http.ResponseWriter, r *http.Request, u store.User, action, what string) bool {
	if u.ID != actorOf(r).UserID {
		return true
	}
	s.refuseRule(w, r, http.StatusForbidden, action, &domain.Refusal{Rule: domain.RuleSelfGrant, Message: "an admin cannot " + what + " for his own account; another admin must"}, "user", u.ID)
	return false
}

func (s *server) disableUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userOf(w, r)
	if !ok {
		return
	}
	out, err := s.Store.DisableUser(r.Context(), u.ID, actorOf(r), event(r, "user.disabled"))
	if s.refusedByRule(w, r, err, "user.disable_refused", "user", u.ID) {
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.viewUser(out, nil))
}

// refusedByRule answers err when it is a *domain.Refusal (403) and reports whether it was.
func (s *server) refusedByRule(w http.ResponseWriter, r *http.Request, err error, action, subjectType, subjectID string) bool {
	var ref *domain.Refusal
	if !errors.As(err, &ref) {
		return false
	}
	s.refuseRule(w, r, http.StatusForbidden, action, ref, subjectType, subjectID)
	return true
}

func (s *server) resetPassword(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userOf(w, r)
	if !ok || !s.notSelf(w, r, u, "user.password_reset_refused", "reset the password") {
		return
	}
	if u.SingleSignOn() {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: fmt.Sprintf("%s signs in at the single sign-on provider; his password is kept there", u.Username)})
		return
	}
	initial := passwords.Generate()
	hash, err := passwords.Hash(initial, passwords.Default)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if err := s.Store.SetPassword(r.Context(), u.ID, hash, true, "", event(r, "user.password_reset")); err != nil {
		s.fail(w, r, err)
		return
	}
	if u, err = s.Store.User(r.Context(), u.ID); err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, newUserView{userView: s.viewUser(u, nil), InitialPassword: initial})
}

func (s *server) resetTOTP(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userOf(w, r)
	if !ok || !s.notSelf(w, r, u, "user.totp_reset_refused", "switch the second factor off") {
		return
	}
	if err := s.Store.SetTOTP(r.Context(), u.ID, false, event(r, "user.totp_reset")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type grantRequest struct {
	Role domain.Role `json:"role"`
}

func (s *server) requestGrant(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userOf(w, r)
	if !ok {
		return
	}
	var in grantRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if !in.Role.Valid() {
		s.fail(w, r, &domain.ValidationError{What: "grant", Fields: []domain.FieldError{{Field: "role", Message: "must be one of vendor, engineer, approver, safety, auditor, admin"}}})
		return
	}
	a := actorOf(r)
	refuse := func(rule, msg string) {
		s.refuseRule(w, r, http.StatusForbidden, "role.grant_refused", &domain.Refusal{Rule: rule, Message: msg}, "user", u.ID)
	}
	if err := domain.CheckGrantRequest(a, u.Username, in.Role); err != nil {
		s.refusedByRule(w, r, err, "role.grant_refused", "user", u.ID)
		return
	}
	switch {
	case u.DisabledAt != nil:
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: u.Username + " is disabled"})
		return
	case u.SingleSignOn() && s.OIDC != nil:
		refuse(domain.RuleIdPRoles, fmt.Sprintf("%s signs in at the single sign-on provider; his roles come from its groups (%s), change them there", u.Username, s.OIDC.RolesClaim))
		return
	case (in.Role == domain.RoleVendor) != (u.VendorID != nil):
		refuse(domain.RuleVendorGrant, "the vendor role is for a vendor's staff (a user with a vendor_id) and only for them")
		return
	}
	confirmed := !in.Role.Privileged()
	ev := event(r, "role.requested")
	if confirmed {
		ev.Action = "role.granted"
	}
	ev.Details = map[string]any{"user": u.Username, "role": in.Role, "source": store.GrantByAdmin, "needs_confirmation": !confirmed}
	g, err := s.Store.RequestGrant(r.Context(), store.GrantRequest{UserID: u.ID, Role: in.Role, By: a.Name, Source: store.GrantByAdmin, Confirmed: confirmed}, ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !confirmed {
		status = http.StatusAccepted
	}
	writeJSON(w, status, grantView{RoleGrant: g, Username: u.Username, State: g.State()})
}

func (s *server) listGrants(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r, "state") {
		return
	}
	state := r.URL.Query().Get("state")
	if state != "" && state != store.GrantPending && state != store.GrantActive && state != store.GrantEnded {
		s.fail(w, r, &domain.ValidationError{What: "query", Fields: []domain.FieldError{{Field: "state", Message: "must be pending, active or ended"}}})
		return
	}
	grants, err := s.Store.Grants(r.Context(), "", state)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	users, err := s.Store.Users(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	names := map[string]string{}
	for _, u := range users {
		names[u.ID] = u.Username
	}
	out := make([]grantView, 0, len(grants))
	for _, g := range grants {
		out = append(out, grantView{RoleGrant: g, Username: names[g.UserID], State: g.State()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) confirmGrant(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "grantID")
	g, err := s.Store.ConfirmGrant(r.Context(), id, actorOf(r), event(r, "role.granted"))
	if s.refusedByRule(w, r, err, "role.grant_refused", "grant", id) {
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerGrant(w, r, g)
}

func (s *server) endGrant(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "grantID")
	g, err := s.Store.EndGrant(r.Context(), id, actorOf(r).Name, event(r, "role.revoked"))
	if s.refusedByRule(w, r, err, "role.revoke_refused", "grant", id) {
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerGrant(w, r, g)
}

func (s *server) answerGrant(w http.ResponseWriter, r *http.Request, g store.RoleGrant) {
	u, err := s.Store.User(r.Context(), g.UserID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, grantView{RoleGrant: g, Username: u.Username, State: g.State()})
}

// userOperations are the routes of users.go.
func (s *server) userOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/users", ID: "listUsers", Tag: "People", Summary: "Every user with the roles he holds (since when, granted and confirmed by whom), pending grants, how he signs in, lockout and second factor", Allow: admins, Roles: "admin", Answers: []answer{ok(nil)}, Handle: s.listUsers},
		{Method: "POST", Path: "/api/v1/users", ID: "createUser", Tag: "People", Summary: "Add a local account; the answer shows a one-time initial password (once) that the person changes at the first sign-in. Roles are granted separately", Allow: admins, Roles: "admin", /* body: {username, display_name?, vendor_id?} */ Answers: []answer{ok(nil)}, Handle: s.createUser},
		{Method: "GET", Path: "/api/v1/users/{userID}", ID: "getUser", Tag: "People", Summary: "One user with his grants (an admin: anyone; others: themselves)", Allow: anyRole, Roles: "any", Answers: []answer{ok(nil)}, Handle: s.getUser},
		{Method: "DELETE", Path: "/api/v1/users/{userID}", ID: "disableUser", Tag: "People", Summary: "Disable a user: his sessions end and his tokens are refused at once (not oneself, not the last admin)", Allow: admins, Roles: "admin", Answers: []answer{ok(nil)}, Handle: s.disableUser},
		{Method: "POST", Path: "/api/v1/users/{userID}/password-reset", ID: "resetPassword", Tag: "People", Summary: "Give a local account a new one-time password (shown once) to change at the next sign-in; ends his sessions and lifts a lockout (not one's own). The admin now knows a password of the account, so its privileged grants (approver, safety, admin) go back to pending until another admin confirms them again", Allow: admins, Roles: "admin", Answers: []answer{ok(nil)}, Handle: s.resetPassword},
		{Method: "DELETE", Path: "/api/v1/users/{userID}/totp", ID: "resetTOTP", Tag: "People", Summary: "Switch off a user's second factor (a lost device; not one's own)", Allow: admins, Roles: "admin", Answers: []answer{ok(nil)}, Handle: s.resetTOTP},
		{Method: "POST", Path: "/api/v1/users/{userID}/grants", ID: "requestGrant", Tag: "People", Summary: "Grant a role: engineer, auditor and vendor take effect at once (201); approver, safety and admin wait for a second admin's confirmation (202, pending). Refused: granting to oneself (rule self_grant), a vendor role to plant staff or the reverse (vendor_grant), roles of single sign-on users (idp_roles)", Allow: admins, Roles: "admin", /* body: {role} */ Answers: []answer{ok(nil)}, Handle: s.requestGrant},
		{Method: "GET", Path: "/api/v1/grants", ID: "listGrants", Tag: "TODO", Summary: "Role grants, ?state=pending|active|ended (pending: waiting for a second admin)", Allow: admins, Roles: "admin", Answers: []answer{ok(nil)}, Handle: s.listGrants},
		{Method: "POST", Path: "/api/v1/grants/{grantID}/confirm", ID: "confirmGrant", Tag: "TODO", Summary: "Confirm a pending grant, as a second admin: not the one who asked for it (rule two_person), not its grantee (self_grant)", Allow: admins, Roles: "admin", Answers: []answer{ok(nil)}, Handle: s.confirmGrant},
		{Method: "DELETE", Path: "/api/v1/grants/{grantID}", ID: "endGrant", Tag: "TODO", Summary: "End a grant: revoke an active one (sessions acting in it end, tokens in it are refused at once) or withdraw a pending one; never the last admin (last_admin)", Allow: admins, Roles: "admin", Answers: []answer{ok(nil)}, Handle: s.endGrant},
	}
}
