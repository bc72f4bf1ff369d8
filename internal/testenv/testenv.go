// Package testenv gives tests real services to talk to: a MinIO server run as
// its own process, a fresh PostgreSQL database per test, and free loopback
// addresses.
//
// A service that is not available makes the test skip, so `go test ./...`
// works on any machine. With OTPATCH_REQUIRE_SERVICES=1 (CI sets it) a missing
// service fails the test instead, so CI cannot pass by skipping.
package testenv

import (
	"net"
	"os"
	"strconv"
	"testing"
)

// EnvRequireServices names the environment variable that turns a missing
// service from a skip into a failure when it is set to "1".
const EnvRequireServices = "OTPATCH_REQUIRE_SERVICES"

// RequireServices reports whether tests must fail, rather than skip, when a
// service they need is missing.
func RequireServices() bool {
	return os.Getenv(EnvRequireServices) == "1"
}

// unavailable ends the test because a service is missing: t.Fatal when
// services are required, t.Skip otherwise.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	if RequireServices() {
		t.Fatal(msg + " (" + EnvRequireServices + "=1, so this is a failure)")
		return
	}
	t.Skip(msg)
}

// FreeAddr returns a loopback address ("127.0.0.1:port") whose port was free
// a moment ago. Another process may take it before the caller binds it, so
// callers that start a server on it should be ready to retry.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("testenv: close probe listener: %v", err)
	}
	return addr
}

// EnvInt is the positive whole number in environment variable name, or def (benchmark sizes).
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
