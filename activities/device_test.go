package activities

import (
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
)

// A site worker's device output is carried back whole up to MaxDeviceOutput, then cut with a
// note; lines of one stream in a row are joined.
func TestDeviceOutputIsBounded(t *testing.T) {
	var o output
	o.record("install stdout", "a\n")
	o.record("install stdout", "b\n")
	o.record("install stderr", "c\n")
	if got := o.report("w").Output; len(got) != 2 || got[0].Text != "a\nb\n" || got[1].Text != "c\n" {
		t.Fatalf("output: %+v", got)
	}
	o.record("install stdout", strings.Repeat("x", MaxDeviceOutput))
	o.record("install stdout", "after the cut\n")
	rep := o.report("w")
	total := 0
	for _, l := range rep.Output {
		total += len(l.Text)
	}
	last := rep.Output[len(rep.Output)-1].Text
	if total > MaxDeviceOutput+100 || !strings.Contains(last, "output cut at") || strings.Contains(last, "after the cut") {
		t.Fatalf("%d bytes carried back, ending %q", total, last[max(0, len(last)-80):])
	}
}

// A site worker's failure keeps its kind (retryable or not, and its type) and carries the
// device's output for the central worker's deployment log.
func TestDeviceFailureCarriesOutput(t *testing.T) {
	d := &Device{Worker: "otpatch-site-worker site=s1"}
	var o output
	o.record("backup stderr", "tar: firmware: Cannot open\n")
	for _, tc := range []struct {
		err          error
		typ          string
		nonRetryable bool
	}{
		{errors.New("connection reset"), ErrTypeDevice, false},
		{temporal.NewNonRetryableApplicationError("backup does not verify", ErrTypeNoBackup, nil), ErrTypeNoBackup, true},
	} {
		err := d.failed(tc.err, &o)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != tc.typ || app.NonRetryable() != tc.nonRetryable || !strings.Contains(app.Error(), tc.err.Error()) {
			t.Errorf("%v became %v (type %s, non-retryable %v)", tc.err, err, app.Type(), app.NonRetryable())
		}
		rep := ReportOf(err)
		if rep.Worker != d.Worker || len(rep.Output) != 1 || !strings.Contains(rep.Output[0].Text, "Cannot open") {
			t.Errorf("report of %v: %+v", tc.err, rep)
		}
	}
}
