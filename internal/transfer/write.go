package transfer

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// File is one payload file to write.
type File struct {
	// Path is where the file goes, under files/ (see ValidPath).
	Path string
	// Open gives the content; Write may call it twice (see Write) and closes what it gets.
	Open func() (io.ReadCloser, error)
	// SHA256 (lower-case hex) and Size, when the caller already knows them (an artifact
	// stored with its hash), spare Write the first read. The content is checked against them
	// as it is written all the same.
	SHA256 string
	Size   int64
}

// BytesFile is a payload file held in memory.
func BytesFile(path string, content []byte) File {
	return File{Path: path, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}}
}

// Summary is what an operator is told of a written bundle.
type Summary struct {
	// Header is the header as written, with Format, KeyID and Files filled in.
	Header Header
	// Size and SHA256 (hex) are those of the whole file, as sha256sum prints it.
	Size   int64
	SHA256 string
	// Digest is the hex SHA-256 of bundle.json: the bundle's identity for CheckSequence.
	Digest string
}

// Write writes a bundle of files to w, signed with key. h gives the kind, site, sequence,
// times and origin; Write sets the format, the key id and the file list, and truncates the
// times to whole seconds in UTC.
//
// Since bundle.json comes first in the archive and lists every file's SHA-256, Write reads
// each file twice, without a temporary copy: once to hash it (unless File.SHA256 is given),
// then to write it, hashing it again. A file whose content changed between the two reads makes
// Write fail; what it wrote to w by then is not a valid bundle and must be discarded.
func Write(w io.Writer, h Header, files []File, key ed25519.PrivateKey) (Summary, error) {
	if len(key) != ed25519.PrivateKeySize {
		return Summary{}, errors.New("transfer bundle: the signing key is not an ed25519 private key")
	}
	h.Format = Format
	h.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	h.CreatedAt = h.CreatedAt.UTC().Truncate(time.Second)
	h.ExpiresAt = h.ExpiresAt.UTC().Truncate(time.Second)
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	h.Files = make([]FileEntry, len(files))
	for i, f := range files {
		h.Files[i] = FileEntry{Path: f.Path, Size: f.Size, SHA256: f.SHA256}
		if f.SHA256 == "" {
			h.Files[i].SHA256 = strings.Repeat("0", 64) // checked below, once the path is
		}
		if f.Open == nil {
			return Summary{}, fmt.Errorf("transfer bundle: file %q has no content", f.Path)
		}
	}
	if problems := h.problems(); len(problems) > 0 {
		return Summary{}, fmt.Errorf("transfer bundle: %s", strings.Join(problems, "; "))
	}
	for i, f := range files {
		if f.SHA256 != "" {
			continue
		}
		size, sum, err := hashFile(f, io.Discard)
		if err != nil {
			return Summary{}, err
		}
		h.Files[i].Size, h.Files[i].SHA256 = size, sum
	}

	header := h.encode()
	sig := ed25519.Sign(key, header)
	whole := sha256.New()
	out := &countWriter{w: io.MultiWriter(w, whole)}
	tw := tar.NewWriter(out)
	entry := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644,
			ModTime: h.CreatedAt,
		})
	}
	for _, e := range []struct {
		name string
		body []byte
	}{{EntryHeader, header}, {EntrySignature, sig}} {
		if err := entry(e.name, int64(len(e.body))); err != nil {
			return Summary{}, writeErr(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return Summary{}, writeErr(err)
		}
	}
	for i, f := range files {
		want := h.Files[i]
		if err := entry(EntryFilesDir+f.Path, want.Size); err != nil {
			return Summary{}, writeErr(err)
		}
		// The tar writer refuses more than the entry's size, so the file cannot grow into the
		// next entry.
		size, sum, err := hashFile(f, tw)
		if errors.Is(err, tar.ErrWriteTooLong) {
			return Summary{}, fmt.Errorf("transfer bundle: %s grew while the bundle was written (more than %d bytes); discard the incomplete bundle and write it again", f.Path, want.Size)
		}
		if err != nil {
			return Summary{}, err
		}
		if size != want.Size || sum != want.SHA256 {
			return Summary{}, fmt.Errorf("transfer bundle: %s changed while the bundle was written (%d bytes, SHA-256 %s; expected %d bytes, SHA-256 %s); discard the incomplete bundle and write it again",
				f.Path, size, short(sum), want.Size, short(want.SHA256))
		}
	}
	if err := tw.Close(); err != nil {
		return Summary{}, writeErr(err)
	}
	return Summary{
		Header: h, Size: out.n, SHA256: hex.EncodeToString(whole.Sum(nil)),
		Digest: digestOf(header),
	}, nil
}

// digestOf is the hex SHA-256 of b.
func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hashFile copies f's content to w and returns its size and SHA-256.
func hashFile(f File, w io.Writer) (int64, string, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, "", fmt.Errorf("transfer bundle: open %s: %w", f.Path, err)
	}
	defer rc.Close()
	s := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, s), rc)
	if err != nil {
		return n, "", fmt.Errorf("transfer bundle: copy %s: %w", f.Path, err)
	}
	return n, hex.EncodeToString(s.Sum(nil)), nil
}

func writeErr(err error) error { return fmt.Errorf("transfer bundle: write: %w", err) }

// countWriter counts what passes to w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
