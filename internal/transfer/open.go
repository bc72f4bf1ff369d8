package transfer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Default limits of Open.
const (
	DefaultMaxFileSize  int64 = 8 << 30
	DefaultMaxTotalSize int64 = 32 << 30
)

// maxTrailer bounds the zero bytes accepted after the end of the archive (tar programs pad
// archives to records of up to 10,240 bytes; some use larger records).
const maxTrailer = 1 << 20

// Options are what Open checks a bundle against.
type Options struct {
	// Now is the time the expiry is checked against; it must be set.
	Now time.Time
	// Kind and SiteID, when set, are the only kind and site accepted.
	Kind   Kind
	SiteID string
	// MaxFileSize and MaxTotalSize bound each payload file and all of them; zero means
	// DefaultMaxFileSize and DefaultMaxTotalSize.
	MaxFileSize  int64
	MaxTotalSize int64
	// ExtractTo, when set, is a folder that must not exist yet: an accepted bundle's entries
	// are there when Open returns (bundle.json, bundle.sig, files/…). Open extracts into a
	// hidden folder beside it (".<name>.partial-…") while it verifies, and renames that to
	// ExtractTo only once everything is verified; a refused bundle's folder is removed. Only
	// a crash while Open runs leaves the partial folder, never ExtractTo.
	ExtractTo string
}

// Bundle is a verified bundle.
type Bundle struct {
	Header Header
	// HeaderJSON and Signature are the exact bytes of bundle.json and bundle.sig.
	HeaderJSON []byte
	Signature  []byte
	// Digest is the hex SHA-256 of bundle.json: the bundle's identity for CheckSequence.
	Digest string
	// Size and SHA256 (hex) are those of the whole file, as sha256sum prints it.
	Size   int64
	SHA256 string
	// Dir is Options.ExtractTo, or "" when nothing was extracted.
	Dir string
}

// FilePath is where payload file p was extracted; "" when nothing was.
func (b *Bundle) FilePath(p string) string {
	if b.Dir == "" {
		return ""
	}
	return filepath.Join(b.Dir, filepath.FromSlash(EntryFilesDir+p))
}

// OpenFile opens and verifies the bundle in the file at name; see Open.
func OpenFile(name string, pub ed25519.PublicKey, opt Options) (*Bundle, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("transfer bundle: %w", err)
	}
	defer f.Close()
	return Open(f, pub, opt)
}

// Open reads a bundle from r and verifies it against the pinned transfer key pub: the
// signature, the format, kind, site and expiry, and every payload file's size and SHA-256,
// with no file missing, none unlisted, none twice, and only regular files with safe paths.
// It reads r to its end. A bundle it refuses yields a *Refusal and leaves nothing extracted;
// other errors are those of reading r or writing the extracted files.
func Open(r io.Reader, pub ed25519.PublicKey, opt Options) (*Bundle, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("transfer bundle: the pinned transfer key is not an ed25519 public key")
	}
	if opt.Now.IsZero() {
		return nil, errors.New("transfer bundle: no time to check the expiry against")
	}
	if opt.MaxFileSize <= 0 {
		opt.MaxFileSize = DefaultMaxFileSize
	}
	if opt.MaxTotalSize <= 0 {
		opt.MaxTotalSize = DefaultMaxTotalSize
	}
	o := &opener{pub: pub, opt: opt, whole: sha256.New()}
	o.in = &countReader{r: io.TeeReader(r, o.whole)}
	if opt.ExtractTo != "" {
		if err := o.prepare(); err != nil {
			return nil, err
		}
	}
	b, err := o.read()
	if err != nil {
		o.discard()
		return nil, err
	}
	if opt.ExtractTo != "" {
		if err := o.commit(); err != nil {
			o.discard()
			return nil, err
		}
		b.Dir = opt.ExtractTo
	}
	return b, nil
}

type opener struct {
	pub   ed25519.PublicKey
	opt   Options
	whole hash.Hash
	in    *countReader
	tmp   string   // the partial folder, when extracting
	root  *os.Root // tmp, so that nothing is written outside it
}

// prepare makes the partial folder beside ExtractTo.
func (o *opener) prepare() error {
	dest := filepath.Clean(o.opt.ExtractTo)
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("transfer bundle: %s exists already; bundles are extracted to a new folder only", dest)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("transfer bundle: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-")
	if err != nil {
		return fmt.Errorf("transfer bundle: make a folder beside %s: %w", dest, err)
	}
	root, err := os.OpenRoot(tmp)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("transfer bundle: %w", err)
	}
	o.tmp, o.root = tmp, root
	return nil
}

func (o *opener) discard() {
	if o.root != nil {
		_ = o.root.Close()
		o.root = nil
	}
	if o.tmp != "" {
		_ = os.RemoveAll(o.tmp)
		o.tmp = ""
	}
}

func (o *opener) commit() error {
	if err := o.root.Close(); err != nil {
		return fmt.Errorf("transfer bundle: %w", err)
	}
	o.root = nil
	dest := filepath.Clean(o.opt.ExtractTo)
	// Rename would replace an empty folder made meanwhile; refuse that as prepare did.
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("transfer bundle: %s appeared while the bundle was verified; it was left as it is", dest)
	}
	if err := os.Rename(o.tmp, dest); err != nil {
		return fmt.Errorf("transfer bundle: %w", err)
	}
	o.tmp = ""
	// Make the rename itself durable, where the system allows syncing a folder.
	if d, err := os.Open(filepath.Dir(dest)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// create makes the file of entry name in the partial folder.
func (o *opener) create(name string) (*os.File, error) {
	if dir := path.Dir(name); dir != "." {
		if err := o.root.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("transfer bundle: extract %s: %w", name, err)
		}
	}
	f, err := o.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("transfer bundle: extract %s: %w", name, err)
	}
	return f, nil
}

func (o *opener) writeWhole(name string, b []byte) error {
	f, err := o.create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("transfer bundle: extract %s: %w", name, err)
	}
	return closeSynced(f, name)
}

func closeSynced(f *os.File, name string) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("transfer bundle: extract %s: %w", name, err)
	}
	return nil
}

func (o *opener) read() (*Bundle, error) {
	br := bufio.NewReader(o.in)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return nil, refuse(ReasonDamaged, "", "the file is gzip-compressed; a transfer bundle is an uncompressed tar archive (do not compress or repack it)")
	}
	tr := tar.NewReader(br)
	seen := map[string]bool{}

	// bundle.json and bundle.sig come first.
	headerJSON, err := o.small(tr, seen, EntryHeader, 1, MaxHeaderSize)
	if err != nil {
		return nil, err
	}
	sig, err := o.small(tr, seen, EntrySignature, ed25519.SignatureSize, ed25519.SignatureSize)
	if err != nil {
		return nil, err
	}
	h, err := o.verifyHeader(headerJSON, sig)
	if err != nil {
		return nil, err
	}
	if o.root != nil {
		if err := o.writeWhole(EntryHeader, headerJSON); err != nil {
			return nil, err
		}
		if err := o.writeWhole(EntrySignature, sig); err != nil {
			return nil, err
		}
	}

	// Then each payload file, in the order listed.
	listed := make(map[string]int, len(h.Files))
	for i, f := range h.Files {
		listed[EntryFilesDir+f.Path] = i
	}
	for i, want := range h.Files {
		name := EntryFilesDir + want.Path
		hdr, err := o.next(tr, seen)
		if errors.Is(err, io.EOF) {
			return nil, refuse(ReasonMissingFile, name, fmt.Sprintf("%s is listed in bundle.json but missing from the archive", name))
		}
		if err != nil {
			return nil, err
		}
		if hdr.Name != name {
			if j, ok := listed[hdr.Name]; ok && j > i {
				return nil, refuse(ReasonMissingFile, name, fmt.Sprintf("%s is listed in bundle.json but missing from its place in the archive (%s came instead)", name, clip(hdr.Name)))
			}
			return nil, refuse(ReasonUnlistedFile, clip(hdr.Name), fmt.Sprintf("%s is in the archive but not listed in bundle.json", clip(hdr.Name)))
		}
		if hdr.Size != want.Size {
			return nil, refuse(ReasonTampered, name, fmt.Sprintf("%s is %d bytes, bundle.json says %d; the bundle was altered or damaged", name, hdr.Size, want.Size))
		}
		if err := o.payload(tr, name, want); err != nil {
			return nil, err
		}
	}
	hdr, err := o.next(tr, seen)
	if err == nil {
		return nil, refuse(ReasonUnlistedFile, clip(hdr.Name), fmt.Sprintf("%s is in the archive but not listed in bundle.json", clip(hdr.Name)))
	}
	if !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := o.trailer(br); err != nil {
		return nil, err
	}
	return &Bundle{
		Header: h, HeaderJSON: headerJSON, Signature: sig, Digest: digestOf(headerJSON),
		Size: o.in.n, SHA256: hex.EncodeToString(o.whole.Sum(nil)),
	}, nil
}

// next reads the next entry's header and refuses any entry that is not a plain regular file
// with a safe path, seen for the first time. At the end of the archive it returns io.EOF.
func (o *opener) next(tr *tar.Reader, seen map[string]bool) (*tar.Header, error) {
	hdr, err := tr.Next()
	switch {
	case err != nil && o.in.err != nil:
		return nil, fmt.Errorf("transfer bundle: read: %w", o.in.err)
	case errors.Is(err, io.EOF):
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, refuse(ReasonDamaged, "", "the file ends in the middle of the archive; it was cut short (an incomplete copy?)")
	case errors.Is(err, tar.ErrInsecurePath) && hdr != nil:
		// Only with GODEBUG=tarinsecurepath=0; the checks below say the same.
	case err != nil:
		return nil, refuse(ReasonDamaged, "", "the file is not a readable tar archive (a damaged header)")
	}
	name := clip(hdr.Name)
	shown := fmt.Sprintf("%q", name)
	switch hdr.Typeflag {
	case tar.TypeReg:
	case tar.TypeSymlink, tar.TypeLink:
		return nil, refuse(ReasonUnsafeEntry, name, fmt.Sprintf("the archive entry %s is a link; a bundle holds regular files only", shown))
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return nil, refuse(ReasonUnsafeEntry, name, fmt.Sprintf("the archive entry %s is a device or pipe; a bundle holds regular files only", shown))
	case tar.TypeDir:
		return nil, refuse(ReasonUnsafeEntry, name, fmt.Sprintf("the archive entry %s is a folder; a bundle holds regular files only", shown))
	default:
		return nil, refuse(ReasonUnsafeEntry, name, fmt.Sprintf("the archive entry %s is not a regular file; a bundle holds regular files only", shown))
	}
	if unsafePath(hdr.Name) {
		return nil, refuse(ReasonUnsafeEntry, name, fmt.Sprintf("the archive holds an entry with an unsafe path, %s (absolute, with .., or not a plain relative path)", shown))
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return nil, refuse(ReasonUnsafeEntry, name, fmt.Sprintf("the archive entry %s is a sparse file; a bundle holds plain regular files only", shown))
		}
	}
	if seen[hdr.Name] {
		return nil, refuse(ReasonDuplicateEntry, name, fmt.Sprintf("the archive holds %s twice", shown))
	}
	seen[hdr.Name] = true
	return hdr, nil
}

// unsafePath says whether an entry name could land anywhere but where its name says, inside
// the folder it is extracted to.
func unsafePath(name string) bool {
	// fs.ValidPath refuses "", a leading or trailing slash, and "." or ".." between slashes.
	return strings.ContainsAny(name, "\\\x00:") || !fs.ValidPath(name)
}

// small reads entry want, of minSize to maxSize bytes, in full.
func (o *opener) small(tr *tar.Reader, seen map[string]bool, want string, minSize, maxSize int64) ([]byte, error) {
	hdr, err := o.next(tr, seen)
	if errors.Is(err, io.EOF) {
		if o.in.n == 0 {
			return nil, refuse(ReasonDamaged, "", "the file is empty")
		}
		return nil, refuse(ReasonDamaged, want, fmt.Sprintf("the archive has no %s; it is not a transfer bundle", want))
	}
	if err != nil {
		return nil, err
	}
	if hdr.Name != want {
		return nil, refuse(ReasonDamaged, clip(hdr.Name), fmt.Sprintf("the archive holds %q where %s belongs; a transfer bundle starts with bundle.json then bundle.sig", clip(hdr.Name), want))
	}
	switch {
	case minSize == maxSize && hdr.Size != maxSize:
		return nil, refuse(ReasonDamaged, want, fmt.Sprintf("%s is %d bytes; it must be %d", want, hdr.Size, maxSize))
	case hdr.Size < minSize:
		return nil, refuse(ReasonDamaged, want, fmt.Sprintf("%s is empty", want))
	case hdr.Size > maxSize:
		return nil, refuse(ReasonTooLarge, want, fmt.Sprintf("%s is %d bytes, more than the %d a bundle may have", want, hdr.Size, maxSize))
	}
	b := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, b); err != nil {
		return nil, refuse(ReasonDamaged, want, fmt.Sprintf("the file ends in the middle of %s; it was cut short (an incomplete copy?)", want))
	}
	return b, nil
}

// verifyHeader checks the signature first, then the header against the options.
func (o *opener) verifyHeader(headerJSON, sig []byte) (Header, error) {
	pinned := KeyID(o.pub)
	var claim struct {
		KeyID string `json:"key_id"`
	}
	if json.Unmarshal(headerJSON, &claim) == nil && claim.KeyID != "" && claim.KeyID != pinned {
		return Header{}, refuse(ReasonForeignKey, EntrySignature, fmt.Sprintf("the bundle says it is signed by key %s, but the pinned transfer key is %s; this site does not trust the bundle's signer (pin the right key, or ask for a bundle signed with %s)", clip(claim.KeyID), pinned, pinned))
	}
	if !ed25519.Verify(o.pub, headerJSON, sig) {
		return Header{}, refuse(ReasonSignature, EntrySignature, fmt.Sprintf("bundle.sig does not verify over bundle.json with the pinned transfer key %s; bundle.json was altered after it was signed, or the bundle is damaged", pinned))
	}
	// A canonical header has its key_id once, so decodeHeader sees the claim checked above.
	h, err := decodeHeader(headerJSON)
	if err != nil {
		return Header{}, err
	}
	if o.opt.Kind != "" && h.Kind != o.opt.Kind {
		return Header{}, refuse(ReasonKind, EntryHeader, fmt.Sprintf("this is a %s bundle; a %s bundle was expected", h.Kind, o.opt.Kind))
	}
	if o.opt.SiteID != "" && h.SiteID != o.opt.SiteID {
		return Header{}, refuse(ReasonSite, EntryHeader, fmt.Sprintf("this bundle is for site %s; this is site %s", h.SiteID, o.opt.SiteID))
	}
	if !o.opt.Now.Before(h.ExpiresAt) {
		return Header{}, refuse(ReasonExpired, EntryHeader, fmt.Sprintf("the bundle expired at %s (it is now %s); ask %s for a new bundle",
			h.ExpiresAt.Format(timeLayout), o.opt.Now.UTC().Format(timeLayout), h.Origin))
	}
	var total int64
	for _, f := range h.Files {
		name := EntryFilesDir + f.Path
		if f.Size > o.opt.MaxFileSize {
			return Header{}, refuse(ReasonTooLarge, name, fmt.Sprintf("%s is %d bytes, more than the %d allowed for one file", name, f.Size, o.opt.MaxFileSize))
		}
		total += f.Size
		if total > o.opt.MaxTotalSize {
			return Header{}, refuse(ReasonTooLarge, name, fmt.Sprintf("the bundle's files are more than the %d bytes allowed in all", o.opt.MaxTotalSize))
		}
	}
	return h, nil
}

// payload reads one payload file, extracting it if asked, and checks its SHA-256.
func (o *opener) payload(tr *tar.Reader, name string, want FileEntry) error {
	s := sha256.New()
	var dst io.Writer = s
	var f *os.File
	if o.root != nil {
		var err error
		if f, err = o.create(name); err != nil {
			return err
		}
		defer func() {
			if f != nil {
				f.Close()
			}
		}()
		dst = io.MultiWriter(s, f)
	}
	src := &errReader{r: tr}
	if _, err := io.CopyN(dst, src, want.Size); err != nil {
		switch {
		case src.err == nil:
			return fmt.Errorf("transfer bundle: extract %s: %w", name, err)
		case o.in.err != nil:
			return fmt.Errorf("transfer bundle: read: %w", o.in.err)
		default:
			return refuse(ReasonDamaged, name, fmt.Sprintf("the file ends in the middle of %s; it was cut short (an incomplete copy?)", name))
		}
	}
	if got := hex.EncodeToString(s.Sum(nil)); got != want.SHA256 {
		return refuse(ReasonTampered, name, fmt.Sprintf("%s does not match bundle.json (SHA-256 %s, bundle.json says %s); the bundle was altered or damaged", name, short(got), short(want.SHA256)))
	}
	if f != nil {
		err := closeSynced(f, name)
		f = nil
		return err
	}
	return nil
}

// errReader remembers the error of r, to tell reading from writing.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// trailer reads what follows the end of the archive: zero bytes only, and not too many.
func (o *opener) trailer(br *bufio.Reader) error {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := br.Read(buf)
		for _, c := range buf[:k] {
			if c != 0 {
				return refuse(ReasonUnlistedFile, "", "the file holds data after the end of the archive; something was appended to the bundle")
			}
		}
		n += int64(k)
		if n > maxTrailer {
			return refuse(ReasonDamaged, "", "the file continues long after the end of the archive")
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("transfer bundle: read: %w", err)
		}
	}
}

// countReader counts what is read from r, and remembers its first error other than io.EOF
// (a failing medium, not a damaged bundle).
type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}
