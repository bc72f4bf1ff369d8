package feeds_test

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/feeds"
)

// The lists and hash files of a provider's directory distribution are outside input.
func FuzzParseChanges(f *testing.F) {
	f.Add([]byte("\"2021/icsa-21-131-09.json\",\"2021-05-11T00:00:00Z\"\n"))
	f.Add([]byte("a.json,2021-05-11T00:00:00+02:00\nb.json,nope\n"))
	f.Add([]byte("\"unterminated,\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		changes, err := feeds.ParseChanges(raw)
		if err != nil {
			return
		}
		for p, at := range changes {
			if p == "" || at.Location() != time.UTC {
				t.Fatalf("%q at %v", p, at)
			}
		}
	})
}

func FuzzParseHashFile(f *testing.F) {
	f.Add([]byte("9809f44c705ab97227f5fa9479e780fa1e1aa82ed6cdf888c6bfdf79241ecfb2  icsa-21-145-02.json\n"))
	f.Add([]byte("ZZ  x"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := feeds.ParseHashFile(raw)
		if err == nil && len(d) != 64 && len(d) != 128 {
			t.Fatalf("digest %q", d)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte("2021/a.json\n\n2021/b.json\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		paths, _ := feeds.ParseIndex(raw)
		for _, p := range paths {
			if p == "" {
				t.Fatal("empty path")
			}
		}
	})
}

func TestMetadataURL(t *testing.T) {
	for _, tt := range []struct{ given, want string }{
		{"psirt.example.com", "https://psirt.example.com/.well-known/csaf/provider-metadata.json"},
		{"127.0.0.1:8443", "https://127.0.0.1:8443/.well-known/csaf/provider-metadata.json"},
		{"https://mirror.plant.example/csaf/provider-metadata.json", "https://mirror.plant.example/csaf/provider-metadata.json"},
		{"http://psirt.example.com/.well-known/csaf/provider-metadata.json", ""},
		{"https://psirt.example.com/", ""},
		{"https://user:pw@psirt.example.com/provider-metadata.json", ""},
		{"a b", ""},
		{"", ""},
	} {
		got, err := feeds.MetadataURL(tt.given)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q", tt.given, got, err, tt.want)
		}
	}
}

func FuzzExtractTree(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: ".well-known/csaf/provider-metadata.json", Size: 2, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write([]byte("{}"))
	tw.WriteHeader(&tar.Header{Name: "../evil", Size: 0, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		if err := feeds.ExtractTree(bytes.NewReader(raw), dir); err != nil {
			return
		}
		// Nothing is written outside dir.
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if rel, rerr := filepath.Rel(dir, p); rerr != nil || strings.HasPrefix(rel, "..") {
				t.Fatalf("%s written outside the tree", p)
			}
			return nil
		})
	})
}

// A tree written by WriteTree and extracted by ExtractTree is the same tree.
func TestTreeRoundTrip(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, ".well-known", "csaf", "white"), 0o755)
	os.WriteFile(filepath.Join(src, ".well-known", "csaf", "provider-metadata.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(src, ".well-known", "csaf", "white", "index.txt"), []byte("a.json\n"), 0o644)
	var buf bytes.Buffer
	if err := feeds.WriteTree(&buf, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := feeds.ExtractTree(&buf, dst); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, ".well-known", "csaf", "white", "index.txt"))
	if err != nil || string(got) != "a.json\n" {
		t.Fatalf("index.txt after the round trip: %q, %v", got, err)
	}
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	tw.WriteHeader(&tar.Header{Name: "../../evil", Size: 1, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	if err := feeds.ExtractTree(&evil, t.TempDir()); err == nil || !strings.Contains(err.Error(), "outside the tree") {
		t.Fatalf("an archive naming ../../evil: %v", err)
	}
}
