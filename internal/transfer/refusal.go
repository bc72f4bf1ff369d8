package transfer

// Reason is why a bundle was refused.
type Reason string

const (
	// ReasonDamaged: not a readable bundle (not a tar archive, compressed, cut short, entries
	// out of their places, a header that is not canonical).
	ReasonDamaged Reason = "damaged"
	// ReasonForeignKey: the bundle says it was signed by another key than the pinned one.
	ReasonForeignKey Reason = "foreign_key"
	// ReasonSignature: bundle.sig does not verify over bundle.json with the pinned key.
	ReasonSignature Reason = "bad_signature"
	// ReasonFormat: another format or version than Format.
	ReasonFormat Reason = "unknown_format"
	// ReasonKind: another kind than the one expected.
	ReasonKind Reason = "wrong_kind"
	// ReasonSite: for or from another site than the one expected.
	ReasonSite Reason = "wrong_site"
	// ReasonExpired: past its expires_at.
	ReasonExpired Reason = "expired"
	// ReasonTampered: a payload file's size or SHA-256 is not what bundle.json says.
	ReasonTampered Reason = "tampered"
	// ReasonMissingFile: a file bundle.json lists is not in the archive (in its place).
	ReasonMissingFile Reason = "missing_file"
	// ReasonUnlistedFile: the archive holds a file bundle.json does not list, or data after
	// its end.
	ReasonUnlistedFile Reason = "unlisted_file"
	// ReasonUnsafeEntry: an entry that is a link, a device, a folder, or whose path is absolute
	// or climbs out with "..".
	ReasonUnsafeEntry Reason = "unsafe_entry"
	// ReasonDuplicateEntry: an entry appears twice.
	ReasonDuplicateEntry Reason = "duplicate_entry"
	// ReasonTooLarge: a file or the whole payload exceeds the importer's limits.
	ReasonTooLarge Reason = "too_large"
	// ReasonReplayed: a sequence number not newer than the last imported, with other content.
	ReasonReplayed Reason = "replayed"
	// ReasonSequenceGap: bundles between the last imported and this one were never imported.
	ReasonSequenceGap Reason = "sequence_gap"
)

// Refusal is why a bundle is not accepted. Nothing of a refused bundle is left to use.
type Refusal struct {
	Reason Reason
	// File is the archive entry concerned ("bundle.json", "files/…"), or "".
	File string
	// Detail says what was wrong and, where there is something to do, what to do.
	Detail string
}

func (r *Refusal) Error() string { return "transfer bundle refused: " + r.Detail }

func refuse(reason Reason, file, detail string) *Refusal {
	return &Refusal{Reason: reason, File: file, Detail: detail}
}
