package domain

import (
	"fmt"
	"slices"
	"strings"
)

// QualificationStatus is the asset owner's qualification of a patch for one product release:
// set by an engineer, or imported from a vendor's published qualification list (the lists
// that OT vendors publish for Microsoft and other third-party updates on their systems). It is
// the asset owner's own record, beside the vendor's compatibility rows in the signed manifest
// (Compatibility), which it does not change.
type QualificationStatus string

// The qualification statuses.
const (
	// QualUnderTest: the patch is being tested for the release (a vendor's "Under test" or
	// "Not tested"); nothing is decided yet.
	QualUnderTest QualificationStatus = "under_test"
	// QualQualified: the patch is qualified for the release without restriction (a vendor's
	// "Published" and "Fully qualified").
	QualQualified QualificationStatus = "qualified"
	// QualPartiallyQualified: qualified with restrictions that its notes name (a vendor's
	// "Partially qualified").
	QualPartiallyQualified QualificationStatus = "partially_qualified"
	// QualNotQualified: the patch must not be installed on the release; a reason is required.
	QualNotQualified QualificationStatus = "not_qualified"
	// QualHeld: the patch is held for the release — a campaign that reaches the release is not
	// planned, and an approval is refused while the hold applies; a reason is required.
	QualHeld QualificationStatus = "held"
)

// QualificationStatuses lists every qualification status.
func QualificationStatuses() []QualificationStatus {
	return []QualificationStatus{QualUnderTest, QualQualified, QualPartiallyQualified, QualNotQualified, QualHeld}
}

// Valid reports whether s is a known status.
func (s QualificationStatus) Valid() bool { return slices.Contains(QualificationStatuses(), s) }

// NeedsReason reports whether setting s requires a reason: a hold and a refusal must say why.
func (s QualificationStatus) NeedsReason() bool { return s == QualHeld || s == QualNotQualified }

// QualificationStatusInfo lists the qualification statuses with the words and tones to show.
func QualificationStatusInfo() []StateInfo {
	return []StateInfo{
		{string(QualUnderTest), "under test", "wait", false},
		{string(QualQualified), "qualified", "ok", false},
		{string(QualPartiallyQualified), "partially qualified", "warn", false},
		{string(QualNotQualified), "not qualified", "bad", false},
		{string(QualHeld), "held — not to be planned", "bad", false},
	}
}

// AllReleases as a qualification's release covers every release of its product.
const AllReleases = "*"

// Bounds of a qualification entry's fields.
const (
	MaxQualificationRef     = 128
	MaxQualificationProduct = 200
	MaxQualificationRelease = 64
	MaxQualificationReason  = 2000
)

// Qualification is one current qualification status of a patch (PatchRef: an otpatch patch id
// or the vendor's update id, such as KB5034441) for one product release.
type Qualification struct {
	PatchRef string              `json:"patch_ref"`
	Product  string              `json:"product"`
	Release  string              `json:"release"`
	Status   QualificationStatus `json:"status"`
	Reason   string              `json:"reason,omitempty"`
}

// Validate checks an entry as a person or an import sets it; every failing field is listed.
func (q *Qualification) Validate() error {
	v := &ValidationError{What: "qualification"}
	q.PatchRef, q.Product, q.Release, q.Reason = strings.TrimSpace(q.PatchRef), strings.TrimSpace(q.Product), strings.TrimSpace(q.Release), strings.TrimSpace(q.Reason)
	if m := TextFault(q.PatchRef, MaxQualificationRef); m != "" {
		v.Add("patch", "%s (an otpatch patch id, or the vendor's update id such as KB5034441)", m)
	}
	if m := TextFault(q.Product, MaxQualificationProduct); m != "" {
		v.Add("product", "%s (the product id or name, as the inventory or the vendor's list names it)", m)
	}
	if m := TextFault(q.Release, MaxQualificationRelease); m != "" {
		v.Add("release", "%s (a product release such as 13.0, or * for every release)", m)
	} else if q.Release != AllReleases && len(versionParts(q.Release)) == 0 {
		v.Add("release", "%q has no version number; name a release such as 13.0, or * for every release", q.Release)
	}
	switch {
	case !q.Status.Valid():
		v.Add("status", "must be one of %s, got %q", strings.Join(qualificationWords(), ", "), q.Status)
	case q.Status.NeedsReason() && q.Reason == "":
		v.Add("reason", "is required when the status is %s: say why", q.Status)
	}
	if len([]rune(q.Reason)) > MaxQualificationReason {
		v.Add("reason", "is longer than %d characters", MaxQualificationReason)
	}
	return v.Err()
}

func qualificationWords() []string {
	var out []string
	for _, s := range QualificationStatuses() {
		out = append(out, string(s))
	}
	return out
}

// CoversRelease reports whether the entry's release covers an installed version: * covers
// every version; otherwise each numeric component of the release must equal the installed
// version's (a missing one counts as 0), so release 13.0 covers 13, 13.0, 13.0.2 and
// "V13.00.00 build 7", and not 13.1.
func (q Qualification) CoversRelease(installed string) bool {
	if q.Release == AllReleases {
		return true
	}
	rel, inst := versionParts(q.Release), versionParts(installed)
	if len(rel) == 0 || len(inst) == 0 {
		return false
	}
	for i, p := range rel {
		var x uint64
		if i < len(inst) {
			x = inst[i]
		}
		if x != p {
			return false
		}
	}
	return true
}

// Hold is a hold that applies to a plan: a held qualification and the installed versions of
// the plan's targets it covers.
type Hold struct {
	PatchRef string   `json:"patch_ref" doc:"The otpatch patch id or the vendor's update id the hold was set for"`
	Product  string   `json:"product"`
	Release  string   `json:"release" doc:"The held product release (* for every release)"`
	Reason   string   `json:"reason" doc:"Why the patch is held"`
	Versions []string `json:"versions" doc:"The installed versions of the plan's targets the hold covers"`
}

// String says the hold in one sentence for a refusal.
func (h Hold) String() string {
	rel := "release " + h.Release
	if h.Release == AllReleases {
		rel = "every release"
	}
	return fmt.Sprintf("%s is held for %s %s (targets at %s): %s", h.PatchRef, h.Product, rel, strings.Join(h.Versions, ", "), h.Reason)
}

// HoldsFor is the planning rule: a patch whose current qualification is held for a product
// release that a target runs is not planned, nor approved while the hold applies. quals are
// the current qualifications of the patch for its product; versions are the installed
// versions of the plan's targets (test bench included). Other statuses do not stop planning:
// under_test, partially_qualified and not_qualified are shown to engineers and approvers.
// The holds come in the order of quals.
func HoldsFor(quals []Qualification, versions []string) []Hold {
	var out []Hold
	for _, q := range quals {
		if q.Status != QualHeld {
			continue
		}
		var hit []string
		for _, v := range versions {
			if q.CoversRelease(v) && !slices.Contains(hit, v) {
				hit = append(hit, v)
			}
		}
		if len(hit) > 0 {
			slices.SortFunc(hit, CompareVersions)
			out = append(out, Hold{PatchRef: q.PatchRef, Product: q.Product, Release: q.Release, Reason: q.Reason, Versions: hit})
		}
	}
	return out
}
