package feeds

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Bounds on a provider tree carried offline as a tar archive.
const (
	// MaxTreeBytes bounds the files of one tree together; MaxTreeFiles their number.
	MaxTreeBytes = 2 << 30
	MaxTreeFiles = 200_000
)

// ExtractTree writes the regular files of a tar archive of a provider tree under dir (which
// must exist and be empty), refusing names that leave it, links, and archives beyond
// MaxTreeBytes or MaxTreeFiles. Directories are made as the files need them.
func ExtractTree(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	var total int64
	files := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if files == 0 {
				return errors.New("the archive holds no file")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("the archive is not a tar archive or is cut short: %v", err)
		}
		name := strings.TrimPrefix(path.Clean(strings.TrimPrefix(h.Name, "./")), "/")
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			continue // links and devices are not part of a provider's tree
		}
		if !fs.ValidPath(name) || name == "." {
			return fmt.Errorf("the archive names a file %q outside the tree", h.Name)
		}
		files++
		total += h.Size
		if files > MaxTreeFiles {
			return fmt.Errorf("the archive holds more than %d files", MaxTreeFiles)
		}
		if h.Size < 0 || total > MaxTreeBytes {
			return fmt.Errorf("the archive's files are larger than %d bytes together", int64(MaxTreeBytes))
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("the archive holds %s twice, or under a file: %v", name, err)
		}
		_, err = io.Copy(f, io.LimitReader(tr, h.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
	}
}

// WriteTree writes the regular files under root as a tar archive (what `otpatch csaf sync
// --dir` sends), names relative to root with slashes.
func WriteTree(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	files := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if files++; files > MaxTreeFiles {
			return fmt.Errorf("the tree holds more than %d files", MaxTreeFiles)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: info.Size(), Typeflag: tar.TypeReg, ModTime: info.ModTime()}); err != nil {
			return err
		}
		_, err = io.Copy(tw, io.LimitReader(f, info.Size()))
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
