package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestPeopleCollections: the users, grants, tokens and sessions lists answer pages that join
// up to the whole list; their filters narrow it, and a filter naming a user or vendor that
// does not exist is refused rather than answered with an empty page. What a creation makes is
// at its Location; sign-in takes exactly one of its two forms; token lifetimes are ISO 8601.
func TestPeopleCollections(t *testing.T) {
	e := newEnv(t, envOptions{})
	admin := e.tokens.Admin
	for _, name := range []string{"pia-ops", "Quinn-ops", "rolf-ops"} {
		e.person(name, domain.RoleEngineer, "")
	}

	type pageDoc[T any] struct {
		Items []T    `json:"items"`
		Next  string `json:"next"`
	}
	refused := func(t *testing.T, token, path, param string) {
		t.Helper()
		var p problemDoc
		if code := e.call("GET", path, token, nil, &p); code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != param {
			t.Errorf("GET %s: %d %+v, want 422 naming %s", path, code, p, param)
		}
	}

	t.Run("users, a page at a time", func(t *testing.T) {
		var all []newUserDoc
		if code := e.list("/api/v1/users", admin, &all); code != http.StatusOK || len(all) < 10 {
			t.Fatalf("users: %d, %d of them", code, len(all))
		}
		var walked []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(all) {
				t.Fatal("the pages of two do not end")
			}
			var p pageDoc[newUserDoc]
			path := "/api/v1/users?limit=2"
			if after != "" {
				path += "&after=" + after
			}
			if code := e.call("GET", path, admin, nil, &p); code != http.StatusOK || len(p.Items) > 2 {
				t.Fatalf("GET %s: %d, %d users", path, code, len(p.Items))
			}
			for _, u := range p.Items {
				walked = append(walked, u.Username)
			}
			if p.Next == "" {
				break
			}
			after = p.Next
		}
		var whole []string
		for _, u := range all {
			whole = append(whole, u.Username)
		}
		if !slices.Equal(walked, whole) {
			t.Errorf("pages of two = %v, want %v", walked, whole)
		}
		var engineers []newUserDoc
		if code := e.list("/api/v1/users?role=engineer&disabled=false", admin, &engineers); code != http.StatusOK {
			t.Fatalf("engineers: %d", code)
		}
		got := map[string]bool{}
		for _, u := range engineers {
			got[u.Username] = true
			if !slices.ContainsFunc(u.Grants, func(g grantDoc) bool { return g.Role == "engineer" && g.State == "active" }) {
				t.Errorf("%s is listed as an engineer with grants %+v", u.Username, u.Grants)
			}
		}
		if !got["pia-ops"] || !got["Quinn-ops"] || !got["rolf-ops"] || got["adam-admin"] {
			t.Errorf("engineers = %v", got)
		}
		var acme []newUserDoc
		if code := e.list("/api/v1/users?vendor_id=vnd_acme", admin, &acme); code != http.StatusOK || len(acme) == 0 {
			t.Errorf("acme's staff: %d %+v", code, acme)
		}
		refused(t, admin, "/api/v1/users?vendor_id=vnd_typo", "vendor_id")
		refused(t, admin, "/api/v1/users?role=king", "role")
		refused(t, admin, "/api/v1/users?after=not-a-cursor", "after")
	})

	t.Run("a new user and a grant are at their Location", func(t *testing.T) {
		code, hdr, _ := e.raw("POST", "/api/v1/users", nil, map[string]any{"username": "sina-ops"}, map[string]string{"Authorization": "Bearer " + admin})
		if code != http.StatusCreated || !strings.HasPrefix(hdr.Get("Location"), "/api/v1/users/usr_") {
			t.Fatalf("add sina: %d, Location %q", code, hdr.Get("Location"))
		}
		sina := e.user(admin, strings.TrimPrefix(hdr.Get("Location"), "/api/v1/users/"))
		if sina.Username != "sina-ops" {
			t.Errorf("at the Location: %+v", sina)
		}
		code, hdr, _ = e.raw("POST", "/api/v1/users/"+sina.ID+"/grants", nil, map[string]any{"role": "approver"}, map[string]string{"Authorization": "Bearer " + admin})
		if code != http.StatusAccepted || !strings.HasPrefix(hdr.Get("Location"), "/api/v1/grants/grt_") {
			t.Fatalf("ask approver for sina: %d, Location %q", code, hdr.Get("Location"))
		}
		var g grantDoc
		if code := e.call("GET", hdr.Get("Location"), admin, nil, &g); code != http.StatusOK || g.Username != "sina-ops" || g.State != "pending" {
			t.Errorf("the grant at its Location: %d %+v", code, g)
		}
		var pending []grantDoc
		if code := e.list("/api/v1/grants?state=pending&user_id="+sina.ID, admin, &pending); code != http.StatusOK || len(pending) != 1 || pending[0].ID != g.ID {
			t.Errorf("sina's pending grants: %d %+v", code, pending)
		}
		refused(t, admin, "/api/v1/grants?user_id=usr_typo", "user_id")
		refused(t, admin, "/api/v1/grants?role=king", "role")
	})

	t.Run("tokens", func(t *testing.T) {
		erin := e.me(e.tokens.Engineer)
		var made struct {
			tokenDoc
			problemDoc
		}
		start := time.Now()
		code, hdr, raw := e.raw("POST", "/api/v1/tokens", nil, map[string]any{"name": "iso", "expires_in": "PT12H"}, map[string]string{"Authorization": "Bearer " + e.tokens.Engineer})
		if code != http.StatusCreated || hdr.Get("Location") == "" {
			t.Fatalf("a token of PT12H: %d %s", code, raw)
		}
		if code := e.call("GET", hdr.Get("Location"), e.tokens.Engineer, nil, &made); code != http.StatusOK || made.Name != "iso" || made.Token != "" ||
			made.ExpiresAt == nil || made.ExpiresAt.Before(start.Add(12*time.Hour-time.Minute)) || made.ExpiresAt.After(time.Now().Add(12*time.Hour)) {
			t.Fatalf("the token at its Location: %d %+v", code, made)
		}
		if code := e.call("GET", hdr.Get("Location"), e.tokens.Auditor, nil, nil); code != http.StatusNotFound {
			t.Errorf("another person reading erin's token: %d, want 404", code)
		}
		var month tokenDoc
		if code := e.call("POST", "/api/v1/tokens", e.tokens.Engineer, map[string]any{"name": "month", "expires_in": "P30D"}, &month); code != http.StatusCreated ||
			month.ExpiresAt == nil || month.ExpiresAt.Sub(start) < 30*24*time.Hour-time.Minute {
			t.Errorf("a token of P30D: %d %+v", code, month)
		}
		var p problemDoc
		if code := e.call("POST", "/api/v1/tokens", e.tokens.Engineer, map[string]any{"name": "years", "expires_in": "P2Y"}, &p); code != http.StatusUnprocessableEntity || !strings.Contains(p.Detail, "P30D") {
			t.Errorf("a lifetime in years: %d %+v, want 422 with an example", code, p)
		}

		var own []tokenDoc
		if code := e.list("/api/v1/tokens?user_id="+erin.UserID+"&state=active", e.tokens.Admin, &own); code != http.StatusOK || len(own) != 3 {
			t.Errorf("erin's active tokens as the admin lists them: %d %+v", code, own)
		}
		for _, tk := range own {
			if tk.UserID != erin.UserID || tk.State != "active" {
				t.Errorf("listed %+v", tk)
			}
		}
		var onePage struct {
			Items []tokenDoc `json:"items"`
			Next  string     `json:"next"`
		}
		if code := e.call("GET", "/api/v1/tokens?limit=1", e.tokens.Engineer, nil, &onePage); code != http.StatusOK || len(onePage.Items) != 1 || onePage.Next == "" {
			t.Errorf("a page of one of erin's three tokens: %d %+v", code, onePage)
		}
		refused(t, e.tokens.Engineer, "/api/v1/tokens?user_id="+e.me(admin).UserID, "user_id")
		refused(t, admin, "/api/v1/tokens?user_id=usr_typo", "user_id")
		refused(t, admin, "/api/v1/tokens?state=lost", "state")
	})

	t.Run("sign-in takes one form or the other", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"username": "erin-engineer", "password": e.tokens.Password, "token": e.tokens.Engineer},
			{"username": "erin-engineer"},
			{"token": e.tokens.Engineer, "totp": "123456"},
			{},
		} {
			if code, _, p := e.signInRaw(body); code != http.StatusUnprocessableEntity {
				t.Errorf("sign-in with %v: %d %+v, want 422", bodyFields(body), code, p)
			}
		}
	})

	t.Run("sessions", func(t *testing.T) {
		first := e.signInPassword("erin-engineer", e.tokens.Password)
		b, code, raw := e.openSession(map[string]any{"username": "erin-engineer", "password": e.tokens.Password, "keep_other_sessions": true})
		if b == nil {
			t.Fatalf("second sign-in: %d %s", code, raw)
		}
		if first.alive() != http.StatusOK {
			t.Fatal("keep_other_sessions ended the first session")
		}
		var p pageDoc[struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		}]
		if code := b.call("GET", "/api/v1/sessions?limit=1", nil, &p); code != http.StatusOK || len(p.Items) != 1 || p.Next == "" {
			t.Fatalf("a page of one of two sessions: %d %+v", code, p)
		}
		var rest pageDoc[struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		}]
		if code := b.call("GET", "/api/v1/sessions?after="+p.Next, nil, &rest); code != http.StatusOK || len(rest.Items) != 1 || rest.Next != "" ||
			rest.Items[0].ID == p.Items[0].ID || p.Items[0].Current == rest.Items[0].Current {
			t.Errorf("the second page: %d %+v after %+v", code, rest, p)
		}
	})
}

func bodyFields(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
