package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// A tree checkpoint is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): a signed
// note (https://c2sp.org/signed-note) whose text is the log's origin, its size and its root
// hash, signed with the checkpoint key as an ed25519 note signature. golang.org/x/mod's note
// package signs and opens them, as Go's checksum database does.

// NotePrefix is where tree checkpoints live in the object store, by size.
const NotePrefix = CheckpointPrefix

// NoteObjectKey is the object key of the tree checkpoint of size; the zero padding makes the
// lexical order of keys the order of the log.
func NoteObjectKey(size int64) string { return fmt.Sprintf("%s%020d.note", NotePrefix, size) }

// TreeCheckpoint is an opened checkpoint note.
type TreeCheckpoint struct {
	Origin string
	Size   int64
	Root   []byte
	// Note is the signed note exactly as stored and served.
	Note []byte
}

// DefaultOrigin names the log of the key pub when no origin is configured:
// "otpatch/audit/" and the first 8 bytes of the key's SHA-256 in hex.
func DefaultOrigin(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return "otpatch/audit/" + hex.EncodeToString(s[:8])
}

// ValidOrigin says whether s can name a log: a note key name, non-empty, without spaces,
// plus signs or control characters.
func ValidOrigin(s string) error {
	if s == "" || len(s) > 200 {
		return errors.New("the audit log origin must be 1 to 200 characters")
	}
	for _, r := range s {
		if r <= ' ' || r == '+' || r == 0x7f || r > 0x7e {
			return fmt.Errorf("the audit log origin %q may hold only printable ASCII without spaces or '+' (such as plant.example/otpatch/audit)", s)
		}
	}
	return nil
}

// noteKeyHash is the key hash of an ed25519 note key: the first four bytes of
// SHA-256(name || "\n" || 0x01 || public key), big-endian.
func noteKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', 0x01})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

type noteSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s noteSigner) Name() string                    { return s.name }
func (s noteSigner) KeyHash() uint32                 { return s.hash }
func (s noteSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// NoteSigner signs notes as origin with key.
func NoteSigner(key ed25519.PrivateKey, origin string) note.Signer {
	return noteSigner{name: origin, hash: noteKeyHash(origin, key.Public().(ed25519.PublicKey)), key: key}
}

// VerifierKey is the note verifier key of pub for origin, as note.NewVerifier reads it:
// "<origin>+<key hash, 8 hex>+<base64(0x01 || public key)>".
func VerifierKey(pub ed25519.PublicKey, origin string) string {
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil { // only for an invalid origin, which configuration refuses
		return ""
	}
	return vkey
}

// SignTree signs the checkpoint of a tree of size with root.
func SignTree(key ed25519.PrivateKey, origin string, size int64, root []byte) (TreeCheckpoint, error) {
	text := origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root) + "\n"
	signed, err := note.Sign(&note.Note{Text: text}, NoteSigner(key, origin))
	if err != nil {
		return TreeCheckpoint{}, err
	}
	return TreeCheckpoint{Origin: origin, Size: size, Root: append([]byte(nil), root...), Note: signed}, nil
}

// OpenTree verifies a checkpoint note with the verifier key vkey and reads it. The note must
// be signed by that key; its origin must be the key's name.
func OpenTree(signed []byte, vkey string) (TreeCheckpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return TreeCheckpoint{}, fmt.Errorf("checkpoint key: %v", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unknown *note.UnknownVerifierError
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unknown) || errors.As(err, &unverified) {
			return TreeCheckpoint{}, fmt.Errorf("the checkpoint is not signed by the checkpoint key %s", v.Name())
		}
		return TreeCheckpoint{}, fmt.Errorf("the checkpoint does not verify with the checkpoint key %s: %v", v.Name(), err)
	}
	c, err := parseTreeText(n.Text)
	if err != nil {
		return TreeCheckpoint{}, err
	}
	if c.Origin != v.Name() {
		return TreeCheckpoint{}, fmt.Errorf("the checkpoint names the log %q, but the key signs for %q", c.Origin, v.Name())
	}
	c.Note = append([]byte(nil), signed...)
	return c, nil
}

func parseTreeText(text string) (TreeCheckpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return TreeCheckpoint{}, errors.New("the checkpoint must hold an origin, a size and a root hash, one per line")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return TreeCheckpoint{}, fmt.Errorf("the checkpoint's size %q is not a decimal count of events", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sha256.Size {
		return TreeCheckpoint{}, fmt.Errorf("the checkpoint's root hash %q is not 32 bytes in base64", lines[2])
	}
	return TreeCheckpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// OpenTreeWithKey verifies a checkpoint note signed by pub for whatever origin its first line
// names (the signature covers the origin): a log whose origin was renamed keeps its older
// checkpoints.
func OpenTreeWithKey(signed []byte, pub ed25519.PublicKey) (TreeCheckpoint, error) {
	origin, _, _ := strings.Cut(string(signed), "\n")
	if err := ValidOrigin(origin); err != nil {
		return TreeCheckpoint{}, fmt.Errorf("the checkpoint does not start with a log origin: %v", err)
	}
	return OpenTree(signed, VerifierKey(pub, origin))
}

// RootEqual compares root hashes.
func RootEqual(a, b []byte) bool { return bytes.Equal(a, b) }
