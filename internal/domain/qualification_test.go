package domain

import (
	"strings"
	"testing"
)

func TestQualificationCoversRelease(t *testing.T) {
	for _, tt := range []struct {
		release, installed string
		want               bool
	}{
		{"13.0", "13.0", true},
		{"13.0", "13", true},
		{"13.0", "13.0.2", true},
		{"13.0", "V13.00.00 build 7", true},
		{"13.0", "13.1", false},
		{"13.0", "12.0", false},
		{"V16.0.1", "16.0.1", true},
		{"V16.0.1", "16.0.2", false},
		{"*", "anything 1", true},
		{"13.0", "", false},
	} {
		q := Qualification{Release: tt.release}
		if got := q.CoversRelease(tt.installed); got != tt.want {
			t.Errorf("release %q covers %q: %v, want %v", tt.release, tt.installed, got, tt.want)
		}
	}
}

// The planning rule: only a held entry covering a target's version stops a plan.
func TestHoldsFor(t *testing.T) {
	quals := []Qualification{
		{PatchRef: "KB1", Product: "HMI", Release: "16.0", Status: QualHeld, Reason: "freeze"},
		{PatchRef: "KB1", Product: "HMI", Release: "15", Status: QualNotQualified, Reason: "breaks the web server"},
		{PatchRef: "KB1", Product: "HMI", Release: "14", Status: QualHeld, Reason: "not reached"},
	}
	holds := HoldsFor(quals, []string{"V16.0.1", "V15.2", "V16.0.0", "V16.0.1"})
	if len(holds) != 1 || holds[0].Reason != "freeze" || strings.Join(holds[0].Versions, ",") != "V16.0.0,V16.0.1" {
		t.Fatalf("holds %+v", holds)
	}
	if s := holds[0].String(); s != "KB1 is held for HMI release 16.0 (targets at V16.0.0, V16.0.1): freeze" {
		t.Errorf("said %q", s)
	}
	if h := HoldsFor(quals, []string{"V15.2"}); len(h) != 0 {
		t.Errorf("not_qualified stopped the plan: %+v", h)
	}
}

func TestQualificationValidate(t *testing.T) {
	for _, tt := range []struct {
		q    Qualification
		want string
	}{
		{Qualification{PatchRef: "KB1", Product: "HMI", Release: "1", Status: QualQualified}, ""},
		{Qualification{PatchRef: " ", Product: "", Release: "latest", Status: "fine"}, "patch: is required (an otpatch patch id, or the vendor's update id such as KB5034441); product: is required (the product id or name, as the inventory or the vendor's list names it); release: \"latest\" has no version number; name a release such as 13.0, or * for every release; status: must be one of"},
		{Qualification{PatchRef: "KB1", Product: "HMI", Release: "*", Status: QualNotQualified}, "reason: is required when the status is not_qualified"},
		{Qualification{PatchRef: strings.Repeat("k", MaxQualificationRef+1), Product: "HMI", Release: "1", Status: QualUnderTest}, "patch: is 129 characters"},
	} {
		err := tt.q.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.q, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: %v, want …%s…", tt.q, err, tt.want)
		}
	}
}
