package main

import (
	"os"
	"testing"
)

// TestMain lets every otpatch dev the tests start pick a free Temporal frontend port: the
// default, 7233, is fixed for people, and tests run side by side.
func TestMain(m *testing.M) {
	if os.Getenv("OTPATCH_TEMPORAL_LISTEN") == "" {
		_ = os.Setenv("OTPATCH_TEMPORAL_LISTEN", "127.0.0.1:0")
	}
	os.Exit(m.Run())
}
