package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// TestUsersBootstrap: the first two admins are made with the database, each with a one-time
// password to change and a confirmed admin grant; a third is refused, as is a bad username.
func TestUsersBootstrap(t *testing.T) {
	clearConfigEnv(t)
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "otpatch.db")
	if err := runUsersBootstrap(ctx, []string{"--database", db, "--username", "bad name"}); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--username") {
		t.Fatalf("a bad username: %v", err)
	}
	for _, name := range []string{"ada", "ben"} {
		if err := runUsersBootstrap(ctx, []string{"--database", db, "--username", name}); err != nil {
			t.Fatalf("bootstrap %s: %v", name, err)
		}
	}
	err := runUsersBootstrap(ctx, []string{"--database", db, "--username", "carl"})
	if err == nil || !strings.Contains(err.Error(), "has 2 admins already") {
		t.Fatalf("a third bootstrap admin: %v", err)
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{"ada", "ben"} {
		u, err := st.UserByName(ctx, name)
		if err != nil || !u.MustChangePassword || u.PasswordHash == nil {
			t.Fatalf("%s: %+v, %v; want a local account whose password must change", name, u, err)
		}
		roles, err := st.HeldRoles(ctx, u.ID)
		if err != nil || len(roles) != 1 || roles[0] != domain.RoleAdmin {
			t.Errorf("%s holds %v, %v; want admin", name, roles, err)
		}
	}
	if _, err := st.UserByName(ctx, "carl"); err == nil {
		t.Error("the refused third admin exists")
	}
}
