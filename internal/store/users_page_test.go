package store

import (
	"context"
	"slices"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestUsersPage walks the users list a page at a time, with and without filters, on each
// database: the pages join up to the whole list in its order, with no user twice or missing,
// whatever the database's collation makes of mixed-case usernames.
func TestUsersPage(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		ctx := context.Background()
		v := Vendor{Name: "acme", DisplayName: "ACME"}
		check(t, "CreateVendor", st.CreateVendor(ctx, &v, admin))
		ids := map[string]string{}
		for _, p := range []struct {
			name   string
			role   domain.Role
			vendor string
		}{
			{"adam", domain.RoleAdmin, ""}, {"ada", domain.RoleAdmin, ""}, {"Bert", domain.RoleEngineer, ""}, {"bea", domain.RoleEngineer, ""},
			{"carl.vendor", domain.RoleVendor, v.ID}, {"Cleo", domain.RoleAuditor, ""}, {"dora", domain.RoleEngineer, ""}, {"erin_2", domain.RoleApprover, ""},
		} {
			ids[p.name] = person(t, st, p.name, p.role, p.vendor)
		}
		_, err := st.DisableUser(ctx, ids["dora"], domain.Actor{Name: "adam", Role: domain.RoleAdmin}, admin)
		check(t, "DisableUser", err)
		yes, no := true, false

		names := func(us []User) []string {
			out := make([]string, len(us))
			for i, u := range us {
				out[i] = u.Username
			}
			return out
		}
		walk := func(f UserFilter, size int) []string {
			t.Helper()
			var out []string
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatalf("the pages of %+v do not end", f)
				}
				f.Limit = size
				page, err := st.UsersPage(ctx, f)
				check(t, "UsersPage", err)
				out = append(out, names(page)...)
				if len(page) < size {
					return out
				}
				last := page[len(page)-1]
				f.AfterName, f.AfterID = last.Username, last.ID
			}
		}
		for _, tc := range []struct {
			name   string
			filter UserFilter
			want   []string // in any order; the database's collation orders them
		}{
			{"everyone", UserFilter{}, []string{"adam", "ada", "Bert", "bea", "carl.vendor", "Cleo", "dora", "erin_2"}},
			{"engineers", UserFilter{Role: domain.RoleEngineer}, []string{"Bert", "bea", "dora"}},
			{"the vendor's staff", UserFilter{VendorID: v.ID}, []string{"carl.vendor"}},
			{"disabled", UserFilter{Disabled: &yes}, []string{"dora"}},
			{"engineers not disabled", UserFilter{Role: domain.RoleEngineer, Disabled: &no}, []string{"Bert", "bea"}},
			{"local accounts", UserFilter{SignIn: domain.SignInPassword}, []string{"adam", "ada", "Bert", "bea", "carl.vendor", "Cleo", "dora", "erin_2"}},
			{"single sign-on users", UserFilter{SignIn: domain.SignInOIDC}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				whole, err := st.UsersPage(ctx, tc.filter)
				check(t, "UsersPage", err)
				got := names(whole)
				if sorted, want := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want)); !slices.Equal(sorted, want) {
					t.Fatalf("users = %v, want %v", got, tc.want)
				}
				for _, size := range []int{1, 2, 3} {
					if walked := walk(tc.filter, size); !slices.Equal(walked, got) {
						t.Errorf("pages of %d = %v, want %v in one read's order", size, walked, got)
					}
				}
			})
		}
	})
}
