package transfer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
)

// PeekFile reads the header of the bundle in the file at name without verifying anything:
// an importer that pins one key per site learns from it which site's key to verify the
// bundle with (Open). Nothing it returns may be trusted before Open accepts the bundle.
func PeekFile(name string) (Header, error) {
	f, err := os.Open(name)
	if err != nil {
		return Header{}, fmt.Errorf("transfer bundle: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != EntryHeader || hdr.Size > MaxHeaderSize {
		return Header{}, errors.New("transfer bundle: bundle.json is not its first entry")
	}
	b, err := io.ReadAll(io.LimitReader(tr, MaxHeaderSize+1))
	if err != nil {
		return Header{}, fmt.Errorf("transfer bundle: %w", err)
	}
	if int64(len(b)) < hdr.Size {
		return Header{}, errors.New("transfer bundle: cut short in bundle.json")
	}
	return decodeHeader(b[:hdr.Size])
}
