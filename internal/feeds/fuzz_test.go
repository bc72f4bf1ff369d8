package feeds_test

import (
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
