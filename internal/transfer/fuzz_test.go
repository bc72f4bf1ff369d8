package transfer

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzOpen feeds Open arbitrary files. It must never panic; a refused file must leave nothing
// behind, and an accepted one only regular files inside the folder it was extracted to.
// Open syncs every file it extracts, so fuzz with TMPDIR on a memory file system, and with a
// short -fuzzminimizetime (minimizing a 5 KB bundle is slow):
//
//	TMPDIR=/dev/shm go test ./internal/transfer -run "^$" -fuzz FuzzOpen -fuzzminimizetime 3s
func FuzzOpen(f *testing.F) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	good, _ := writeBundle(f, testHeader(), testFiles(), key)
	empty, _ := writeBundle(f, testHeader(), nil, key)
	f.Add(good)
	f.Add(empty)
	f.Add(good[:1536])
	f.Add(append(bytes.Clone(good[:len(good)-1024]), good...))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bundle.json", Linkname: "../../etc/passwd"})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../bundle.sig", Size: 0})
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		sandbox := t.TempDir()
		parent := filepath.Join(sandbox, "parent")
		if err := os.Mkdir(parent, 0o700); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(parent, "in")
		b, err := Open(bytes.NewReader(data), pub, Options{
			Now: t0.Add(time.Hour), MaxFileSize: 1 << 16, MaxTotalSize: 1 << 18, ExtractTo: dest,
		})
		// Nothing may appear beside parent, whatever the bundle said.
		if left, _ := os.ReadDir(sandbox); len(left) != 1 {
			t.Fatalf("the sandbox holds %d entries", len(left))
		}
		left, _ := os.ReadDir(parent)
		if err != nil {
			if b != nil {
				t.Fatal("a bundle and an error")
			}
			if len(left) != 0 {
				t.Fatalf("a refused bundle left %d entries behind: %v", len(left), err)
			}
			return
		}
		if len(left) != 1 || left[0].Name() != "in" {
			t.Fatalf("an accepted bundle left %v", left)
		}
		files := 0
		werr := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch {
			case d.Type().IsRegular():
				files++
			case !d.IsDir():
				t.Errorf("%s is not a regular file", p)
			}
			return nil
		})
		if werr != nil {
			t.Fatal(werr)
		}
		if files != len(b.Header.Files)+2 {
			t.Errorf("%d files extracted, the header lists %d", files, len(b.Header.Files))
		}
	})
}
