// Package transfer writes and opens signed transfer bundles: the single files that carry a
// plan to an air-gapped site, and its results or inventory back, on removable media.
//
// A bundle is an uncompressed tar archive of regular files: bundle.json (the header), then
// bundle.sig (the raw 64-byte ed25519 signature over the exact bytes of bundle.json), then
// every payload file under files/, in the order the header lists them. The header names the
// site, the kind, a sequence number, an expiry and every payload file with its size and
// SHA-256, so the one signature covers everything an importer trusts. docs/transfer-format.md
// specifies the format byte for byte.
package transfer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Format is the value of the header's "format" key for this version of the format.
const Format = "otpatch.transfer/v1"

// Names of the entries of the archive.
const (
	EntryHeader    = "bundle.json"
	EntrySignature = "bundle.sig"
	// EntryFilesDir is the folder of the payload files: payload path p is entry files/p.
	EntryFilesDir = "files/"
)

// Bounds of every bundle, whatever the options.
const (
	// MaxHeaderSize bounds bundle.json.
	MaxHeaderSize = 1 << 20
	// MaxFiles bounds the number of payload files.
	MaxFiles = 10000
	// MaxPathLength bounds a payload path, in bytes.
	MaxPathLength = 200
	// maxPathDepth bounds the folders of a payload path.
	maxPathDepth = 16
)

// Kind says what a bundle carries.
type Kind string

const (
	// KindPlan: central to site, an approved campaign plan with what it needs to run.
	KindPlan Kind = "plan"
	// KindResults: site to central, a campaign's outcomes and the site's audit events.
	KindResults Kind = "results"
	// KindInventory: site to central, the site's assets and installed versions.
	KindInventory Kind = "inventory"
)

// Kinds lists the values of Kind.
func Kinds() []Kind { return []Kind{KindPlan, KindResults, KindInventory} }

// Valid says whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds() {
		if k == v {
			return true
		}
	}
	return false
}

// Header is bundle.json: what the signature covers.
type Header struct {
	// Format is always Format; Write sets it.
	Format string
	Kind   Kind
	// SiteID is the site the bundle is for (a plan) or from (results, inventory).
	SiteID string
	// Sequence numbers the bundles of one site and kind 1, 2, 3, … in the order made.
	Sequence uint64
	// CreatedAt and ExpiresAt are whole seconds, UTC; Write truncates them.
	CreatedAt time.Time
	ExpiresAt time.Time
	// Origin names the signer, such as the central instance's origin.
	Origin string
	// KeyID names the signing key: the first 8 bytes of the SHA-256 of its 32 raw bytes, in
	// hex; Write sets it.
	KeyID string
	// Files lists the payload, sorted by path; Write computes it.
	Files []FileEntry
}

// FileEntry is one payload file as the header lists it.
type FileEntry struct {
	// Path is relative to files/, slash-separated (see ValidPath).
	Path   string
	Size   int64
	SHA256 string // lower-case hex
}

// KeyID names an ed25519 public key in a header: the first 8 bytes of the SHA-256 of its 32
// raw bytes, as 16 lower-case hex digits.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// timeLayout is how a header writes times: RFC 3339, UTC, whole seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// The wire form of a header: the keys in this order, times as timeLayout strings.
type wireHeader struct {
	Format    string      `json:"format"`
	Kind      string      `json:"kind"`
	SiteID    string      `json:"site_id"`
	Sequence  uint64      `json:"sequence"`
	CreatedAt string      `json:"created_at"`
	ExpiresAt string      `json:"expires_at"`
	Origin    string      `json:"origin"`
	KeyID     string      `json:"key_id"`
	Files     []wireEntry `json:"files"`
}

type wireEntry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// encode writes h in its canonical form: compact JSON, keys in the order of the format, and
// one newline at the end. h must be valid.
func (h Header) encode() []byte {
	w := wireHeader{
		Format: h.Format, Kind: string(h.Kind), SiteID: h.SiteID, Sequence: h.Sequence,
		CreatedAt: h.CreatedAt.UTC().Format(timeLayout), ExpiresAt: h.ExpiresAt.UTC().Format(timeLayout),
		Origin: h.Origin, KeyID: h.KeyID, Files: make([]wireEntry, len(h.Files)),
	}
	for i, f := range h.Files {
		w.Files[i] = wireEntry(f)
	}
	b, err := json.Marshal(w)
	if err != nil {
		panic(err) // strings, numbers and slices of them always encode
	}
	return append(b, '\n')
}

// decodeHeader reads bundle.json, which must be the canonical encoding of a valid header.
func decodeHeader(b []byte) (Header, error) {
	var probe struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Header{}, refuse(ReasonDamaged, EntryHeader, "bundle.json is not a JSON object")
	}
	if probe.Format != Format {
		return Header{}, refuse(ReasonFormat, EntryHeader, fmt.Sprintf("bundle.json has format %q; this otpatch reads %q only", clip(probe.Format), Format))
	}
	var w wireHeader
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Header{}, refuse(ReasonDamaged, EntryHeader, "bundle.json does not have the keys and values of format "+Format)
	}
	h := Header{Format: w.Format, Kind: Kind(w.Kind), SiteID: w.SiteID, Sequence: w.Sequence, Origin: w.Origin, KeyID: w.KeyID, Files: make([]FileEntry, len(w.Files))}
	for i, f := range w.Files {
		h.Files[i] = FileEntry(f)
	}
	var err error
	if h.CreatedAt, err = parseTime(w.CreatedAt); err != nil {
		return Header{}, refuse(ReasonDamaged, EntryHeader, "bundle.json: created_at "+err.Error())
	}
	if h.ExpiresAt, err = parseTime(w.ExpiresAt); err != nil {
		return Header{}, refuse(ReasonDamaged, EntryHeader, "bundle.json: expires_at "+err.Error())
	}
	if problems := h.problems(); len(problems) > 0 {
		return Header{}, refuse(ReasonDamaged, EntryHeader, "bundle.json: "+strings.Join(problems, "; "))
	}
	if !bytes.Equal(h.encode(), b) {
		return Header{}, refuse(ReasonDamaged, EntryHeader, "bundle.json is not in the canonical form of format "+Format+" (compact JSON, keys in order, one newline at the end)")
	}
	return h, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a UTC time such as 2026-12-06T12:00:00Z", clip(s))
	}
	return t, nil
}

var (
	// siteIDPattern and originPattern keep both to characters that JSON writes as themselves.
	siteIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	originPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$`)
	keyIDPattern  = regexp.MustCompile(`^[0-9a-f]{16}$`)
	sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// segmentPattern is one folder or file name of a payload path.
	segmentPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+=@-]*$`)
)

// ValidPath says what is wrong with a payload path, or "" when nothing is: one to 16
// slash-separated names of letters, digits and . _ + = @ -, none starting with . or -, at most
// MaxPathLength bytes in all. So no path is absolute, climbs out with .., or needs quoting in
// a shell.
func ValidPath(p string) string {
	switch {
	case p == "":
		return "a payload path is empty"
	case len(p) > MaxPathLength:
		return fmt.Sprintf("payload path %q is longer than %d bytes", clip(p), MaxPathLength)
	case strings.Count(p, "/") >= maxPathDepth:
		return fmt.Sprintf("payload path %q has more than %d folders", clip(p), maxPathDepth-1)
	}
	for _, seg := range strings.Split(p, "/") {
		if !segmentPattern.MatchString(seg) {
			return fmt.Sprintf("payload path %q: each name between slashes must be letters, digits and . _ + = @ - and not start with . or -", clip(p))
		}
	}
	return ""
}

// problems lists what is wrong with h, in an operator's terms.
func (h Header) problems() []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if h.Format != Format {
		add("format must be %q", Format)
	}
	if !h.Kind.Valid() {
		add("kind %q is not one of plan, results, inventory", clip(string(h.Kind)))
	}
	if !siteIDPattern.MatchString(h.SiteID) {
		add("site_id %q must be 1 to 128 letters, digits and . _ : -, starting with a letter or digit", clip(h.SiteID))
	}
	if h.Sequence == 0 {
		add("sequence must be 1 or more")
	}
	if y := h.CreatedAt.UTC().Year(); y < 1 || y > 9999 {
		add("created_at must be a time between the years 1 and 9999")
	}
	if y := h.ExpiresAt.UTC().Year(); y < 1 || y > 9999 {
		add("expires_at must be a time between the years 1 and 9999")
	}
	if !h.ExpiresAt.After(h.CreatedAt) {
		add("expires_at must be after created_at")
	}
	if !originPattern.MatchString(h.Origin) {
		add("origin %q must be 1 to 128 letters, digits and . _ : / @ + -, starting with a letter or digit", clip(h.Origin))
	}
	if !keyIDPattern.MatchString(h.KeyID) {
		add("key_id must be 16 lower-case hex digits")
	}
	if len(h.Files) > MaxFiles {
		add("more than %d files", MaxFiles)
		return out
	}
	seen := make(map[string]string, len(h.Files)) // lower-case path → path
	for i, f := range h.Files {
		if p := ValidPath(f.Path); p != "" {
			out = append(out, p)
			continue
		}
		if i > 0 && f.Path <= h.Files[i-1].Path {
			add("files must be sorted by path, each once (%q after %q)", f.Path, h.Files[i-1].Path)
		}
		if other, ok := seen[strings.ToLower(f.Path)]; ok && other != f.Path {
			add("payload paths %q and %q differ only in case", other, f.Path)
		}
		seen[strings.ToLower(f.Path)] = f.Path
		if f.Size < 0 {
			add("%s: size must be 0 or more", f.Path)
		}
		if !sha256Pattern.MatchString(f.SHA256) {
			add("%s: sha256 must be 64 lower-case hex digits", f.Path)
		}
	}
	// A file may not also be a folder of another: the two could not both be extracted.
	for _, f := range h.Files {
		for dir := f.Path; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if other, ok := seen[strings.ToLower(dir)]; ok {
				add("payload path %q is a file, and a folder of %q", other, f.Path)
				break
			}
		}
	}
	return out
}

// clip shortens a value quoted in a message, so a hostile bundle cannot flood the log.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// short shows the start of a hex digest, as messages quote it.
func short(hexDigest string) string {
	if len(hexDigest) > 12 {
		return hexDigest[:12] + "…"
	}
	return hexDigest
}
