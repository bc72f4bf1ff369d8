package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

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

// grantState is where a grant is: pending (waiting for a second admin), active or ended.
type grantState string

func grantStates() []string { return []string{store.GrantPending, store.GrantActive, store.GrantEnded} }

// grantView is a grant as listed.
type grantView struct {
	store.RoleGrant
	Username string     `json:"username"`
	State    grantState `json:"state"`
}

func viewGrant(g store.RoleGrant, username string) grantView {
	return grantView{RoleGrant: g, Username: username, State: grantState(g.State())}
}

// userView is a user as an admin, or he himself, sees him.
type userView struct {
	store.User
	SignIn domain.SignInMethod `json:"sign_in" doc:"How he signs in: password (a local account) or oidc"`
	Locked bool                `json:"locked" doc:"Locked out after failed sign-ins, until locked_until"`
	Grants []grantView         `json:"grants" doc:"His grants, oldest first, ended ones included"`
}

func (s *server) viewUser(u store.User, grants []store.RoleGrant) userView {
	v := userView{User: u, SignIn: domain.SignInPassword, Grants: []grantView{}}
	if u.SingleSignOn() {
		v.SignIn = domain.SignInOIDC
	}
	v.Locked = u.LockedUntil != nil && s.Store.Now().Before(*u.LockedUntil)
	for _, g := range grants {
		if g.UserID == u.ID {
			v.Grants = append(v.Grants, viewGrant(g, u.Username))
		}
	}
	return v
}

// userFilter reads the filters of GET /users; a fault is a 422 naming the parameter.
func (s *server) userFilter(r *http.Request) (store.UserFilter, error) {
	q := r.URL.Query()
	f := store.UserFilter{Role: domain.Role(q.Get("role")), VendorID: q.Get("vendor_id"), SignIn: domain.SignInMethod(q.Get("sign_in"))}
	v := &domain.ValidationError{What: "query"}
	if f.Role != "" && !f.Role.Valid() {
		v.Add("role", "must be one of %s", joinRoles(domain.Roles))
	}
	if f.SignIn != "" && f.SignIn != domain.SignInPassword && f.SignIn != domain.SignInOIDC {
		v.Add("sign_in", "must be password or oidc")
	}
	if q.Has("disabled") {
		b, ok := queryFlag(q.Get("disabled"))
		if !ok {
			v.Add("disabled", "must be true or false")
		}
		f.Disabled = &b
	}
	if f.VendorID != "" {
		if _, err := s.Store.Vendor(r.Context(), f.VendorID); errors.Is(err, store.ErrNotFound) {
			v.Add("vendor_id", "names no vendor (%s)", truncate(f.VendorID, 64))
		} else if err != nil {
			return f, err
		}
	}
	return f, v.Err()
}

// queryFlag reads a boolean query parameter: true, false, 1 or 0.
func queryFlag(s string) (bool, bool) {
	switch s {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// listUsers answers a page of users by username, each with his grants. The page is read from
// the store with a keyset query, and only its users' grants are read.
func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.userFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if pr.After != "" {
		parts, ok := splitCursor(pr.After, 2)
		if !ok {
			s.fail(w, r, &domain.ValidationError{What: "query", Fields: []domain.FieldError{{Field: "after", Message: "is not a cursor of this list; pass the next of the previous page as it was"}}})
			return
		}
		f.AfterName, f.AfterID = parts[0], parts[1]
	}
	f.Limit = pr.Limit + 1
	users, err := s.Store.UsersPage(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	p := pageFrom(users, func(u store.User) string { return cursorKey(u.Username, u.ID) }, pr.Limit)
	ids := make([]string, len(p.Items))
	for i, u := range p.Items {
		ids[i] = u.ID
	}
	grants, err := s.Store.UserGrants(r.Context(), ids)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := page[userView]{Items: make([]userView, 0, len(p.Items)), Next: p.Next}
	for _, u := range p.Items {
		out.Items = append(out.Items, s.viewUser(u, grants))
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
	a := actorOf(r)
	if a.Role != domain.RoleAdmin && chi.URLParam(r, "userID") != a.UserID {
		notFoundProblem(w, r, "user "+truncate(chi.URLParam(r, "userID"), 64)) // another's account answers as a missing one
		return
	}
	u, ok := s.userOf(w, r)
	if !ok {
		return
	}
	s.answerUser(w, r, http.StatusOK, u, "")
}

// answerUser answers u with his grants; initial, when set, is the one-time password just
// made for him (the only answer that carries it).
func (s *server) answerUser(w http.ResponseWriter, r *http.Request, status int, u store.User, initial string) {
	grants, err := s.Store.Grants(r.Context(), u.ID, "")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if initial == "" {
		writeJSON(w, status, s.viewUser(u, grants))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, newUserView{userView: s.viewUser(u, grants), InitialPassword: initial})
}

type userRequest struct {
	Username    string `json:"username" api:"required" doc:"1-128 letters, digits, '.', '_', '+' or '-'; it never changes"`
	DisplayName string `json:"display_name,omitempty" doc:"The person's full name, at most 200 characters"`
	VendorID    string `json:"vendor_id,omitempty" doc:"For a vendor's staff: the vendor; such a user may hold the vendor role only"`
}

// newUserView is the answer to POST /users and password resets: the only one that carries
// the one-time password.
type newUserView struct {
	userView
	InitialPassword string `json:"initial_password" doc:"The one-time password, shown only in this answer; it must be changed at the first sign-in"`
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
	locateCreated(w, "users", u.ID)
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
	s.answerUser(w, r, http.StatusOK, out, "")
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
	s.answerUser(w, r, http.StatusOK, u, initial)
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
	Role domain.Role `json:"role" api:"required" doc:"The role to grant"`
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
	locateCreated(w, "grants", g.ID)
	writeJSON(w, status, viewGrant(g, u.Username))
}

// grantFilter reads the filters of GET /grants; a fault is a 422 naming the parameter.
func (s *server) grantFilter(r *http.Request) (userID, state string, role domain.Role, err error) {
	q := r.URL.Query()
	userID, state, role = q.Get("user_id"), q.Get("state"), domain.Role(q.Get("role"))
	v := &domain.ValidationError{What: "query"}
	if state != "" && !slices.Contains(grantStates(), state) {
		v.Add("state", "must be pending, active or ended")
	}
	if role != "" && !role.Valid() {
		v.Add("role", "must be one of %s", joinRoles(domain.Roles))
	}
	if userID != "" {
		if _, err := s.Store.User(r.Context(), userID); errors.Is(err, store.ErrNotFound) {
			v.Add("user_id", "names no user (%s)", truncate(userID, 64))
		} else if err != nil {
			return "", "", "", err
		}
	}
	return userID, state, role, v.Err()
}

// grantKey sorts grants as the store lists them: by when they were asked for, then by id.
func grantKey(g grantView) string {
	return cursorKey(g.RequestedAt.UTC().Format("2006-01-02T15:04:05.000000000"), g.ID)
}

func (s *server) listGrants(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	userID, state, role, err := s.grantFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	grants, err := s.Store.Grants(r.Context(), userID, state)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	all := make([]grantView, 0, len(grants))
	for _, g := range grants {
		if role == "" || g.Role == role {
			all = append(all, viewGrant(g, ""))
		}
	}
	slices.SortFunc(all, func(a, b grantView) int { return strings.Compare(grantKey(a), grantKey(b)) })
	p := pageOf(all, grantKey, pr)
	ids := make([]string, 0, len(p.Items))
	for _, g := range p.Items {
		ids = append(ids, g.UserID)
	}
	names, err := s.Store.Usernames(r.Context(), ids)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for i := range p.Items {
		p.Items[i].Username = names[p.Items[i].UserID]
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *server) getGrant(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "grantID")
	g, err := s.Store.Grant(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "grant "+truncate(id, 64))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.answerGrant(w, r, g)
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
	writeJSON(w, http.StatusOK, viewGrant(g, u.Username))
}

// userOperations are the routes of users.go.
func (s *server) userOperations() []operation {
	userFilters := paged(
		qEnum("role", "Only the users who hold this role now", stringsOf(domain.Roles)...),
		qString("vendor_id", "Only this vendor's staff; an unknown vendor is refused (422)"),
		qEnum("sign_in", "Only local accounts (password) or single sign-on users (oidc)", string(domain.SignInPassword), string(domain.SignInOIDC)),
		qBool("disabled", "Only disabled users (true) or only the others (false)"),
	)
	grantFilters := paged(
		qEnum("state", "Only grants in this state; pending ones wait for a second admin", grantStates()...),
		qString("user_id", "Only this user's grants; an unknown user is refused (422)"),
		qEnum("role", "Only grants of this role", stringsOf(domain.Roles)...),
	)
	grantAnswer := func(status int, desc string) answer {
		return answer{Status: status, Body: grantView{}, Desc: desc, Headers: map[string]string{"Location": "The grant's URL"}}
	}
	return []operation{
		{Method: "GET", Path: "/api/v1/users", ID: "listUsers", Tag: "People", Allow: admins,
			Summary: "List users with their role grants",
			Description: "Every user, by username, with the roles he holds (since when, granted and confirmed by whom), his pending and ended grants, " +
				"how he signs in, his lockout and his second factor.",
			Query: userFilters, Answers: []answer{ok(page[userView]{})}, Handle: s.listUsers},
		{Method: "POST", Path: "/api/v1/users", ID: "createUser", Tag: "People", Allow: admins,
			Summary: "Add a local account",
			Description: "The answer shows a one-time initial password, only this once, that the person changes at the first sign-in. " +
				"Roles are granted separately (POST /api/v1/users/{userID}/grants). A username taken already, in any case, is refused (409); " +
				"an unknown vendor_id or a name otpatch uses for its own actors, 422.",
			Body: userRequest{}, Answers: []answer{created(newUserView{})}, Handle: s.createUser},
		{Method: "GET", Path: "/api/v1/users/{userID}", ID: "getUser", Tag: "People", Allow: anyRole, Roles: "any (himself; admin: anyone)",
			Summary:     "Get one user with his grants",
			Description: "An admin reads anyone; anyone else only himself: another person's account answers 404, as a missing one.",
			Answers:     []answer{ok(userView{})}, Handle: s.getUser},
		{Method: "DELETE", Path: "/api/v1/users/{userID}", ID: "disableUser", Tag: "People", Allow: admins,
			Summary: "Disable a user",
			Description: "His sessions end and his tokens are refused at once; the account and its history stay. " +
				"Refused: one's own account (rule self_grant), the last admin (last_admin), a user disabled before (409).",
			Answers: []answer{ok(userView{})}, Handle: s.disableUser},
		{Method: "POST", Path: "/api/v1/users/{userID}/password-reset", ID: "resetPassword", Tag: "People", Allow: admins,
			Summary: "Give a local account a new one-time password",
			Description: "The new password is shown only in this answer and must be changed at the next sign-in; the reset ends his sessions and lifts a lockout. " +
				"Not one's own (rule self_grant); not a single sign-on user's (409). The admin now knows a password of the account, " +
				"so its privileged grants (approver, safety, admin) go back to pending until another admin confirms them again.",
			Answers: []answer{ok(newUserView{})}, Handle: s.resetPassword},
		{Method: "DELETE", Path: "/api/v1/users/{userID}/totp", ID: "resetTOTP", Tag: "People", Allow: admins,
			Summary:     "Switch off a user's second factor",
			Description: "For a lost device: he signs in with his password alone until he sets up a new one. Not one's own (rule self_grant).",
			Answers:     []answer{noContent}, Handle: s.resetTOTP},
		{Method: "POST", Path: "/api/v1/users/{userID}/grants", ID: "requestGrant", Tag: "People", Allow: admins,
			Summary: "Grant a role, or ask a second admin to confirm it",
			Description: "Engineer, auditor and vendor take effect at once (201); approver, safety and admin wait, pending, for a second admin's confirmation (202). " +
				"Refused: granting to oneself (rule self_grant), a vendor role to plant staff or another role to a vendor's staff (vendor_grant), " +
				"roles of single sign-on users, which come from the provider's groups (idp_roles), a disabled user or a role he holds or awaits already (409).",
			Body: grantRequest{},
			Answers: []answer{grantAnswer(http.StatusCreated, "Granted; in effect now"),
				grantAnswer(http.StatusAccepted, "Asked for; pending until a second admin confirms it")}, Handle: s.requestGrant},
		{Method: "GET", Path: "/api/v1/grants", ID: "listGrants", Tag: "People", Allow: admins,
			Summary:     "List role grants",
			Description: "Every grant, oldest first, with its user's username and its state: pending (waiting for a second admin), active or ended.",
			Query:       grantFilters, Answers: []answer{ok(page[grantView]{})}, Handle: s.listGrants},
		{Method: "GET", Path: "/api/v1/grants/{grantID}", ID: "getGrant", Tag: "People", Allow: admins,
			Summary: "Get one role grant", Answers: []answer{ok(grantView{})}, Handle: s.getGrant},
		{Method: "POST", Path: "/api/v1/grants/{grantID}/confirm", ID: "confirmGrant", Tag: "People", Allow: admins,
			Summary: "Confirm a pending grant as a second admin",
			Description: "Not by the admin who asked for it (rule two_person), nor its grantee (self_grant), nor the admin who issued the account's current password " +
				"for a privileged role. A grant that is not pending is refused (409).",
			Answers: []answer{ok(grantView{})}, Handle: s.confirmGrant},
		{Method: "DELETE", Path: "/api/v1/grants/{grantID}", ID: "endGrant", Tag: "People", Allow: admins,
			Summary: "End a grant: revoke an active one or withdraw a pending one",
			Description: "Sessions acting in a revoked role end and tokens in it are refused at once. Never the last admin grant (rule last_admin); " +
				"a grant ended before is refused (409).",
			Answers: []answer{ok(grantView{})}, Handle: s.endGrant},
	}
}
