package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgres names the environment variable holding the DSN of a PostgreSQL
// server for tests, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Its role must be
// allowed to create databases.
const EnvPostgres = "OTPATCH_TEST_POSTGRES"

const postgresTimeout = 30 * time.Second

var notIdentChar = regexp.MustCompile(`[^a-z0-9_]+`)

// PostgresDSN creates a fresh, uniquely named database on the server named by
// OTPATCH_TEST_POSTGRES, drops it when the test ends and returns its DSN.
//
// When OTPATCH_TEST_POSTGRES is unset the test is skipped, or fails when
// OTPATCH_REQUIRE_SERVICES=1. A server that is configured but cannot be
// reached fails the test.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		unavailable(t, "set "+EnvPostgres+" to run on PostgreSQL")
		return ""
	}

	name := databaseName(t)
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvPostgres, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), postgresTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testenv: connect to PostgreSQL at %s=%s: %v", EnvPostgres, base, err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), postgresTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("testenv: drop database %s: connect: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends sessions the test left open (a pool not closed, say).
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return dsn
}

// databaseName makes a database name that is unique, a valid unquoted
// identifier, and tells which test it belongs to.
func databaseName(t testing.TB) string {
	test := notIdentChar.ReplaceAllString(strings.ToLower(t.Name()), "_")
	test = strings.Trim(test, "_")
	const prefix = "otpatch_t_"
	suffix := "_" + randomHex(t, 4)
	if max := 63 - len(prefix) - len(suffix); len(test) > max {
		test = test[:max]
	}
	return prefix + test + suffix
}

// withDatabase returns dsn with its database replaced by name. It accepts
// both URL DSNs (postgres://…) and keyword/value DSNs (host=… dbname=…).
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DSN: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return "", fmt.Errorf("parse DSN: %w", err)
	}
	// In a keyword/value DSN the last occurrence of a keyword wins.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}
