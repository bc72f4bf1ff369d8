package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// recorder is a testing.TB that records Skip and Fatal instead of ending the
// test, so the skip-or-fail decision can be checked.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatal(args ...any)                 { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestMissingMinIOSkipsOrFails(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-minio-here")
	t.Setenv(EnvMinIOBin, missing)

	t.Setenv(EnvRequireServices, "")
	r := &recorder{TB: t}
	MinIO(r)
	if r.fatal != "" || !strings.Contains(r.skipped, missing) || !strings.Contains(r.skipped, "go install "+MinIOModule+"@"+MinIOVersion) {
		t.Errorf("without %s: skipped=%q fatal=%q, want a skip naming the binary and the install command", EnvRequireServices, r.skipped, r.fatal)
	}

	t.Setenv(EnvRequireServices, "1")
	r = &recorder{TB: t}
	MinIO(r)
	if r.skipped != "" || !strings.Contains(r.fatal, "go install "+MinIOModule+"@"+MinIOVersion) {
		t.Errorf("with %s=1: skipped=%q fatal=%q, want a failure with the install command", EnvRequireServices, r.skipped, r.fatal)
	}
}

func TestMissingPostgresSkipsOrFails(t *testing.T) {
	t.Setenv(EnvPostgres, "")

	t.Setenv(EnvRequireServices, "")
	r := &recorder{TB: t}
	PostgresDSN(r)
	if r.fatal != "" || r.skipped != "set OTPATCH_TEST_POSTGRES to run on PostgreSQL" {
		t.Errorf("without %s: skipped=%q fatal=%q", EnvRequireServices, r.skipped, r.fatal)
	}

	t.Setenv(EnvRequireServices, "1")
	r = &recorder{TB: t}
	PostgresDSN(r)
	if r.skipped != "" || !strings.Contains(r.fatal, EnvPostgres) {
		t.Errorf("with %s=1: skipped=%q fatal=%q", EnvRequireServices, r.skipped, r.fatal)
	}
}

func TestMinIOBinaryFromEnv(t *testing.T) {
	t.Setenv(EnvMinIOBin, "/bin/sh")
	got, err := minioBinary()
	if err != nil || got != "/bin/sh" {
		t.Fatalf("minioBinary() = %q, %v; want the path from %s", got, err, EnvMinIOBin)
	}
	t.Setenv(EnvMinIOBin, t.TempDir())
	if _, err := minioBinary(); err == nil {
		t.Fatalf("minioBinary() accepted a directory in %s", EnvMinIOBin)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, dsn := range []string{
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"postgresql://u:p%40ss@db.example:5433/?sslmode=disable&application_name=x",
		"host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable",
	} {
		got, err := withDatabase(dsn, "otpatch_t_x_1234")
		if err != nil {
			t.Fatalf("withDatabase(%q): %v", dsn, err)
		}
		want, _ := pgx.ParseConfig(dsn)
		cfg, err := pgx.ParseConfig(got)
		if err != nil {
			t.Fatalf("withDatabase(%q) = %q, not a DSN: %v", dsn, got, err)
		}
		if cfg.Database != "otpatch_t_x_1234" || cfg.Host != want.Host || cfg.Port != want.Port ||
			cfg.User != want.User || cfg.Password != want.Password {
			t.Errorf("withDatabase(%q) = %q: database %q host %q port %d user %q", dsn, got, cfg.Database, cfg.Host, cfg.Port, cfg.User)
		}
	}
}

func TestDatabaseName(t *testing.T) {
	t.Run("Some/Sub Test-with.Punctuation_and_a_name_that_goes_on_and_on_and_on_for_ever", func(t *testing.T) {
		a, b := databaseName(t), databaseName(t)
		if a == b {
			t.Fatalf("databaseName repeated %q", a)
		}
		for _, n := range []string{a, b} {
			if len(n) > 63 || notIdentChar.MatchString(n) || !strings.HasPrefix(n, "otpatch_t_testdatabasename_some_sub_test") {
				t.Errorf("databaseName = %q", n)
			}
		}
	})
}

// The CI script builds the MinIO server itself; it must build the version
// the tests are pinned to.
func TestCIScriptPinsSameMinIO(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", ".ci", "run"))
	if err != nil {
		t.Skipf("no CI script: %v", err)
	}
	want := "MINIO_VERSION=" + MinIOVersion + "\n"
	if !strings.Contains(string(b), want) {
		t.Errorf(".ci/run does not contain %q; keep it in step with testenv.MinIOVersion", strings.TrimSpace(want))
	}
}
