package transfer

import "fmt"

// CheckSequence decides whether a verified bundle with header h and digest (Bundle.Digest)
// may be imported after the bundle numbered lastImported, of digest lastDigest, the last one
// imported of the same site and kind (0 and "" when none was).
//
//   - The same digest as the last imported: duplicate is true, and importing it again must
//     change nothing.
//   - A sequence number not above lastImported, with another digest: refused as replayed or
//     out of order (ReasonReplayed).
//   - A sequence number above lastImported+1: refused (ReasonSequenceGap), naming the bundles
//     that never arrived, so that a lost bundle is noticed rather than skipped. An importer
//     may let an operator accept the gap explicitly, and should record that they did.
//   - lastImported+1: accepted.
func CheckSequence(lastImported uint64, lastDigest string, h Header, digest string) (duplicate bool, err error) {
	switch {
	case lastDigest != "" && digest == lastDigest:
		return true, nil
	case h.Sequence <= lastImported:
		return false, refuse(ReasonReplayed, EntryHeader, fmt.Sprintf(
			"%s bundle %d of site %s is not newer than the last one imported (%d) and differs from it; it is an old or replayed bundle, refused",
			h.Kind, h.Sequence, h.SiteID, lastImported))
	case h.Sequence > lastImported+1:
		missing := fmt.Sprintf("bundle %d", lastImported+1)
		if h.Sequence-lastImported > 2 {
			missing = fmt.Sprintf("bundles %d to %d", lastImported+1, h.Sequence-1)
		}
		last := fmt.Sprintf("the last one imported is %d", lastImported)
		if lastImported == 0 {
			last = "none was imported yet"
		}
		return false, refuse(ReasonSequenceGap, EntryHeader, fmt.Sprintf(
			"this is %s bundle %d of site %s, but %s: %s never arrived; import the missing ones first, or ask %s what became of them",
			h.Kind, h.Sequence, h.SiteID, last, missing, h.Origin))
	}
	return false, nil
}
