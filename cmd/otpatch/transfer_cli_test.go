package main

import "testing"

// TestAttachmentName: the bundle's own name is taken, and nothing that could land outside the
// current folder or hide in it.
func TestAttachmentName(t *testing.T) {
	for cd, want := range map[string]string{
		`attachment; filename="site_basel-plan-1.tar"`: "site_basel-plan-1.tar",
		`attachment; filename="../../etc/passwd"`:      "otpatch-transfer.tar",
		`attachment; filename=".hidden.tar"`:           "otpatch-transfer.tar",
		`attachment`:                                   "otpatch-transfer.tar",
		``:                                             "otpatch-transfer.tar",
	} {
		if got := attachmentName(cd); got != want {
			t.Errorf("attachmentName(%q) = %q, want %q", cd, got, want)
		}
	}
}
