package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Personal API tokens. A person mints his own tokens, each with a name and one role he holds
// (its scope); no one mints a token for someone else. A token minted with a token lasts no
// longer than that one and is revoked with it; a single sign-on user's lasts no longer than
// his sign-in. A token lasts the server's default
// lifetime or what the request asks, never longer than the server's maximum. A person lists
// and revokes his own tokens, an admin everyone's; a revoked or expired token, a token whose
// role was revoked, and every session opened with it, is refused from the next request on.
// Agent credentials have their own routes (agent.go).

// Token lifetimes when the server sets none.
const (
	DefaultTokenLifetime    = 90 * 24 * time.Hour
	DefaultTokenMaxLifetime = 365 * 24 * time.Hour
)

// tokenLifetimes applies the defaults; a default longer than the maximum is cut to it.
func tokenLifetimes(lifetime, maxLifetime time.Duration) (time.Duration, time.Duration) {
	if maxLifetime <= 0 {
		maxLifetime = DefaultTokenMaxLifetime
	}
	if lifetime <= 0 {
		lifetime = DefaultTokenLifetime
	}
	return min(lifetime, maxLifetime), maxLifetime
}

type tokenRequest struct {
	Name string `json:"name" api:"required" doc:"1-128 letters, digits, '.', '_', '+' or '-'; unique among the caller's active tokens"`
	// Role is the role the token acts in: one the caller holds (default: his acting role).
	Role domain.Role `json:"role,omitempty" doc:"The role the token acts in, one the caller holds; default his acting role"`
	// ExpiresIn is how long the token lasts: "P30D", "PT12H", "30d", "12h". ExpiresAt is when
	// it ends (RFC 3339). Neither: the server's default lifetime.
	ExpiresIn string `json:"expires_in,omitempty" doc:"How long the token lasts: an ISO 8601 duration (P30D, PT12H), or 30d, 12h; not with expires_at"`
	ExpiresAt string `json:"expires_at,omitempty" doc:"When the token ends, RFC 3339 (2026-06-30T18:00:00Z); not with expires_in"`
}

// tokenView is a token as listed: never its secret or hash.
type tokenView struct {
	store.Token
	State domain.TokenState `json:"state"`
}

// newTokenView is the answer to POST /tokens, the only one that carries the secret.
type newTokenView struct {
	tokenView
	Secret string `json:"token" doc:"The token (otp_…), shown only in this answer; send it as Authorization: Bearer"`
}

func (s *server) viewToken(t store.Token) tokenView {
	return tokenView{Token: t, State: domain.TokenStateAt(t.RevokedAt, t.ExpiresAt, s.Store.Now())}
}

// parseLifetime reads an ISO 8601 duration ("P30D", "PT12H"), a number of days ("30d") or Go
// duration text ("12h", "90m").
func parseLifetime(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q is not a number of days", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := domain.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	return d, nil
}

// lifetimeWords writes a lifetime in words and ISO 8601: "365 days (P365D)", "2h0m0s (PT2H)".
func lifetimeWords(d time.Duration) string {
	words := d.String()
	if n := d / (24 * time.Hour); d%(24*time.Hour) == 0 {
		words = strconv.FormatInt(int64(n), 10) + " days"
		if n == 1 {
			words = "1 day"
		}
	}
	return words + " (" + domain.FormatISODuration(d) + ")"
}

// expiry is when the token asked for by in ends, now being now; what is wrong with the request
// goes into v.
func (s *server) expiry(in tokenRequest, now time.Time, v *domain.ValidationError) time.Time {
	var field, asked string
	var at time.Time
	switch {
	case in.ExpiresIn != "" && in.ExpiresAt != "":
		v.Add("expires_in", "give expires_in or expires_at, not both")
		return time.Time{}
	case in.ExpiresIn != "":
		d, err := parseLifetime(in.ExpiresIn)
		if err != nil {
			v.Add("expires_in", "must be a lifetime such as P30D, PT12H, 30d or 12h: %v", err)
			return time.Time{}
		}
		field, asked, at = "expires_in", lifetimeWords(d), now.Add(d)
	case in.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, in.ExpiresAt)
		if err != nil {
			v.Add("expires_at", "must be an RFC 3339 time such as 2026-06-30T18:00:00Z")
			return time.Time{}
		}
		field, asked, at = "expires_at", t.UTC().Format(time.RFC3339), t
	default:
		return now.Add(s.TokenLifetime)
	}
	switch {
	case !at.After(now):
		v.Add(field, "is %s; a token must end in the future", asked)
	case at.Sub(now) > s.TokenMaxLifetime:
		v.Add(field, "is %s; a token lasts at most %s from now (the server's maximum token lifetime)", asked, lifetimeWords(s.TokenMaxLifetime))
	default:
		return at
	}
	return time.Time{}
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var in tokenRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "token"}
	if f := domain.NameFault(in.Name); f != "" {
		v.Add("name", "%s", f)
	}
	a := actorOf(r)
	if in.Role == "" {
		in.Role = a.Role
	}
	if !in.Role.Valid() {
		v.Add("role", "must be one of vendor, engineer, approver, safety, auditor, admin")
	}
	expires := s.expiry(in, s.Store.Now(), v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if a.UserID == "" {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: "this identity has no account of its own to hold tokens"})
		return
	}
	// A token, or a session opened with one, mints only in its own role: a leaked narrow token
	// must not give the person's other roles. Signing in with a password or single sign-on
	// chooses among them.
	if ref, cookie := sessionOf(r); in.Role != a.Role && (!cookie || ref.method == domain.SignInToken) {
		held, err := s.Store.HeldRoles(r.Context(), a.UserID)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		detail := fmt.Sprintf("%s does not hold the %s role; a token acts only in a role its holder holds", a.Name, in.Role)
		if slices.Contains(held, in.Role) {
			detail = fmt.Sprintf("this request acts with a token in the %s role and may mint tokens only in that role; sign in with your password or single sign-on to mint one for another of your roles", a.Role)
		}
		s.refuse(w, r, http.StatusForbidden, "token.refused", detail)
		return
	}
	// A token minted with a token lasts no longer than it and is revoked with it; a single
	// sign-on user's token lasts no longer than the sign-in that made it, so leaving the
	// provider's groups leaves nothing behind.
	cred := credentialOf(r)
	var limit *time.Time
	if cred.tokenID != "" {
		limit = cred.expires
	}
	u, err := s.Store.User(r.Context(), a.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if u.SingleSignOn() && cred.expires != nil && (limit == nil || cred.expires.Before(*limit)) {
		limit = cred.expires
	}
	if limit != nil && expires.After(*limit) {
		expires = *limit
	}
	secret := newSecret()
	ev := event(r, "token.created")
	ev.Details = map[string]any{"name": in.Name, "role": in.Role, "expires_at": expires.UTC().Format(time.RFC3339), "minted_with": cred.tokenID}
	t, err := s.Store.CreateToken(r.Context(), store.TokenSpec{UserID: a.UserID, ParentID: cred.tokenID, Name: in.Name, Role: in.Role, Secret: secret, ExpiresAt: expires}, ev)
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, http.StatusForbidden, "token.refused", fmt.Sprintf("%s does not hold the %s role; a token acts only in a role its holder holds", a.Name, in.Role))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "tokens", t.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, newTokenView{tokenView: s.viewToken(t), Secret: secret})
}

// tokenHolder is whose personal tokens actor a lists and revokes: a's own (his user id), or
// everyone's ("") for an admin.
func tokenHolder(a domain.Actor) string {
	if a.Role == domain.RoleAdmin {
		return ""
	}
	if a.UserID == "" {
		return "-" // no account: no tokens
	}
	return a.UserID
}

// tokenKey sorts tokens as the store lists them: by when they were made, then by id.
func tokenKey(t tokenView) string {
	return cursorKey(t.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000"), t.ID)
}

// listTokens answers a page of the caller's personal tokens, or of everyone's for an admin,
// oldest first.
func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	a := actorOf(r)
	holder := tokenHolder(a)
	q := r.URL.Query()
	state := domain.TokenState(q.Get("state"))
	if state != "" && state != domain.TokenActive && state != domain.TokenExpired && state != domain.TokenRevoked {
		v.Add("state", "must be active, expired or revoked")
	}
	if id := q.Get("user_id"); id != "" {
		switch {
		case holder == "":
			if _, err := s.Store.User(r.Context(), id); errors.Is(err, store.ErrNotFound) {
				v.Add("user_id", "names no user (%s)", truncate(id, 64))
			} else if err != nil {
				s.internal(w, r, err)
				return
			}
			holder = id
		case id != holder:
			v.Add("user_id", "must be your own user id or left out: only an admin lists another person's tokens")
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ts, err := s.Store.PersonalTokens(r.Context(), holder)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	all := make([]tokenView, 0, len(ts))
	for _, t := range ts {
		if tv := s.viewToken(t); state == "" || tv.State == state {
			all = append(all, tv)
		}
	}
	slices.SortFunc(all, func(a, b tokenView) int { return strings.Compare(tokenKey(a), tokenKey(b)) })
	writeJSON(w, http.StatusOK, pageOf(all, tokenKey, pr))
}

// getToken answers one of the caller's tokens, or anyone's for an admin. Another holder's
// token answers as a missing one.
func (s *server) getToken(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "tokenID")
	t, err := s.Store.PersonalToken(r.Context(), id, tokenHolder(actorOf(r)))
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "token "+truncate(id, 64))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.viewToken(t))
}

// revokeToken revokes one of the caller's tokens, or any for an admin. Another holder's token
// answers as a missing one.
func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "tokenID")
	t, err := s.Store.RevokeToken(r.Context(), id, tokenHolder(actorOf(r)), event(r, "token.revoked"))
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "token "+truncate(id, 64))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.viewToken(t))
}

// tokenOperations are the routes of tokens.go.
func (s *server) tokenOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/tokens", ID: "createToken", Tag: "People", Allow: anyRole, Roles: "any (for himself)",
			Summary: "Create a personal bearer token of the caller",
			Description: "The token acts as the caller in role: one he holds, by default his acting role; another is refused (403). " +
				"A request made with a token, or in a session opened with one, mints only in that token's role (403 otherwise), and its new token lasts no longer than it " +
				"and is revoked with it; a single sign-on user's token lasts no longer than his sign-in. " +
				"The secret is shown only in this answer. The token expires after the server's default lifetime unless expires_in (P30D, PT12H, or 30d, 12h) " +
				"or expires_at (RFC 3339) asks for another, at most the server's maximum (422 beyond it, or for an end in the past, or both given). " +
				"A name of another active token of his is refused (409). No one mints a token for someone else.",
			Body: tokenRequest{}, Answers: []answer{created(newTokenView{})}, Handle: s.createToken},
		{Method: "GET", Path: "/api/v1/tokens", ID: "listTokens", Tag: "People", Allow: anyRole, Roles: "any (own; admin: everyone's)",
			Summary: "List personal tokens",
			Description: "Oldest first, with their state (active, expired, revoked), expiry and last use, never a secret or its hash: the caller's own; " +
				"an admin's list holds everyone's, and user_id narrows it to one person's. Agent credentials are listed with their asset.",
			Query: paged(
				qEnum("state", "Only tokens in this state", "active", "expired", "revoked"),
				qString("user_id", "Only this person's tokens: an admin's choice of anyone (an unknown user is refused, 422); anyone else may name only himself (422 otherwise)"),
			),
			Answers: []answer{ok(page[tokenView]{})}, Handle: s.listTokens},
		{Method: "GET", Path: "/api/v1/tokens/{tokenID}", ID: "getToken", Tag: "People", Allow: anyRole, Roles: "any (own; admin: any)",
			Summary:     "Get one personal token, without its secret",
			Description: "Another person's token answers 404, as a missing one, unless the caller is an admin.",
			Answers:     []answer{ok(tokenView{})}, Handle: s.getToken},
		{Method: "DELETE", Path: "/api/v1/tokens/{tokenID}", ID: "revokeToken", Tag: "People", Allow: anyRole, Roles: "any (own; admin: any)",
			Summary: "Revoke a personal token",
			Description: "It, the tokens minted with it, and the sessions opened with them are refused from the next request on. " +
				"A token revoked before is refused (409); another person's token answers 404, as a missing one, unless the caller is an admin.",
			Answers: []answer{ok(tokenView{})}, Handle: s.revokeToken},
	}
}
