package main

import (
	"context"
	"fmt"
	"os"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/passwords"
	"github.com/otpatch/otpatch/internal/store"
)

// maxBootstrapAdmins is how many admins `otpatch users bootstrap` makes at most: two, so the
// second can confirm what the first asks (two-person rule). Every later privileged role is
// granted in the application, by one admin and confirmed by another.
const maxBootstrapAdmins = 2

// runUsersBootstrap is `otpatch users bootstrap`: the first admins of a new installation, made
// with the server's database (whoever holds it holds the installation), each a local account
// with a one-time password to change at the first sign-in.
func runUsersBootstrap(ctx context.Context, args []string) error {
	fs := newFlags("users bootstrap")
	dsn := fs.String("database", env("DATABASE_URL", ""), "postgres:// URL or SQLite file (OTPATCH_DATABASE_URL)")
	username := fs.String("username", "", "the admin's username (letters, digits, '.', '_', '+', '-')")
	display := fs.String("display-name", "", "the admin's full name")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if !usernameOK(*username) {
		return fs.usageError("--username %q: give 1-128 letters, digits, '.', '_', '+' or '-'", *username)
	}
	if *dsn == "" {
		return fs.usageError("no database: give --database or set OTPATCH_DATABASE_URL (postgres://… or a SQLite file)")
	}
	st, err := store.Open(*dsn, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	admins, err := st.ActiveAdmins(ctx)
	if err != nil {
		return err
	}
	if admins >= maxBootstrapAdmins {
		return fmt.Errorf("this installation has %d admins already; bootstrap makes only the first %d. An admin adds users and asks for roles in the application, and a second admin confirms them", admins, maxBootstrapAdmins)
	}
	initial := passwords.Generate()
	hash, err := passwords.Hash(initial, passwords.Default)
	if err != nil {
		return err
	}
	ev := store.Event{Actor: "bootstrap", Role: string(domain.RoleSystem), Action: "user.created",
		Details: map[string]any{"username": *username, "display_name": *display, "source": store.GrantByBootstrap}}
	u, err := st.CreateUser(ctx, store.NewUser{Username: *username, DisplayName: *display, PasswordHash: hash, MustChangePassword: true, CreatedBy: "bootstrap"}, ev)
	if err != nil {
		return err
	}
	grant := store.Event{Actor: "bootstrap", Role: string(domain.RoleSystem), Action: "role.granted",
		Details: map[string]any{"user": *username, "role": domain.RoleAdmin, "source": store.GrantByBootstrap}}
	if _, err := st.RequestGrant(ctx, store.GrantRequest{UserID: u.ID, Role: domain.RoleAdmin, By: "bootstrap", Source: store.GrantByBootstrap, Confirmed: true}, grant); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "admin %s created (%d of at most %d made this way)\n", *username, admins+1, maxBootstrapAdmins)
	fmt.Fprintf(os.Stdout, "one-time password, to change at the first sign-in: %s\n", initial)
	return nil
}

// usernameOK is the API's rule for names.
func usernameOK(n string) bool {
	if n == "" || len(n) > 128 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}
