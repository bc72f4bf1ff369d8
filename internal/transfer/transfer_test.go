package transfer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// testKey is the key of the test vectors in docs/transfer-format.md (its private key is
// published there).
func testKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func testHeader() Header {
	return Header{
		Kind: KindPlan, SiteID: "site_plant-b", Sequence: 1,
		CreatedAt: t0, ExpiresAt: t0.Add(14 * 24 * time.Hour), Origin: "otpatch/central",
	}
}

func testFiles() []File {
	return []File{
		BytesFile("plan.json", []byte(`{"campaign_id":"cmp_example"}`+"\n")),
		BytesFile("artifacts/viewpanel-16.0.2.bin", []byte("firmware\n")),
	}
}

func writeBundle(t testing.TB, h Header, files []File, key ed25519.PrivateKey) ([]byte, Summary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := Write(&buf, h, files, key)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), sum
}

// entry is one archive entry, as the tests rebuild archives.
type entry struct {
	hdr  tar.Header
	body []byte
}

func entries(t *testing.T, b []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{*hdr, body})
	}
}

func retar(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func regular(name string, body []byte) entry {
	return entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: t0}, body}
}

// openIn opens b with ExtractTo in a fresh folder, and checks that a refusal leaves that
// folder empty and an acceptance leaves only ExtractTo.
func openIn(t *testing.T, b []byte, pub ed25519.PublicKey, opt Options) (*Bundle, error) {
	t.Helper()
	parent := t.TempDir()
	opt.ExtractTo = filepath.Join(parent, "in")
	bundle, err := Open(bytes.NewReader(b), pub, opt)
	left, rerr := os.ReadDir(parent)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	switch {
	case err != nil && len(names) != 0:
		t.Errorf("a refused bundle left %v behind", names)
	case err == nil && !slices.Equal(names, []string{"in"}):
		t.Errorf("an accepted bundle left %v, want only in", names)
	}
	return bundle, err
}

func TestRoundTrip(t *testing.T) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	dir := t.TempDir()
	big := make([]byte, 3<<20+17)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	bigPath := filepath.Join(dir, "image.bin")
	if err := os.WriteFile(bigPath, big, 0o600); err != nil {
		t.Fatal(err)
	}
	bigSum := sha256.Sum256(big)
	known := []byte("an artifact stored with its hash\n")
	knownSum := sha256.Sum256(known)
	files := append(testFiles(),
		File{Path: "artifacts/image.bin", Open: func() (io.ReadCloser, error) { return os.Open(bigPath) }},
		File{Path: "patch/manifest.json", Open: BytesFile("", known).Open, SHA256: hex.EncodeToString(knownSum[:]), Size: int64(len(known))},
		BytesFile("empty", nil),
	)
	contents := map[string][]byte{
		"plan.json":                      []byte(`{"campaign_id":"cmp_example"}` + "\n"),
		"artifacts/viewpanel-16.0.2.bin": []byte("firmware\n"),
		"artifacts/image.bin":            big,
		"patch/manifest.json":            known,
		"empty":                          {},
	}
	bundlePath := filepath.Join(dir, "site_plant-b-plan-1.tar")
	out, err := os.Create(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Write(out, testHeader(), files, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	whole := sha256.Sum256(raw)
	if sum.SHA256 != hex.EncodeToString(whole[:]) || sum.Size != int64(len(raw)) {
		t.Errorf("summary says %d bytes, SHA-256 %s; the file is %d bytes, %x", sum.Size, sum.SHA256, len(raw), whole)
	}
	wantPaths := []string{"artifacts/image.bin", "artifacts/viewpanel-16.0.2.bin", "empty", "patch/manifest.json", "plan.json"}
	var paths []string
	for _, f := range sum.Header.Files {
		paths = append(paths, f.Path)
	}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("files listed %v, want %v sorted", paths, wantPaths)
	}
	if f := sum.Header.Files[0]; f.Size != int64(len(big)) || f.SHA256 != hex.EncodeToString(bigSum[:]) {
		t.Errorf("image.bin listed as %+v", f)
	}

	extract := filepath.Join(dir, "imported")
	b, err := OpenFile(bundlePath, pub, Options{Now: t0.Add(time.Hour), Kind: KindPlan, SiteID: "site_plant-b", ExtractTo: extract})
	if err != nil {
		t.Fatal(err)
	}
	if b.SHA256 != sum.SHA256 || b.Size != sum.Size || b.Digest != sum.Digest || b.Dir != extract {
		t.Errorf("opened %s (%d bytes, digest %s) in %s; written %s (%d bytes, digest %s)", b.SHA256, b.Size, b.Digest, b.Dir, sum.SHA256, sum.Size, sum.Digest)
	}
	if b.Header.Sequence != 1 || b.Header.KeyID != KeyID(pub) || !b.Header.ExpiresAt.Equal(t0.Add(14*24*time.Hour)) || b.Header.Origin != "otpatch/central" {
		t.Errorf("header %+v", b.Header)
	}
	for p, want := range contents {
		got, err := os.ReadFile(b.FilePath(p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s extracted: %d bytes (%v), want %d", p, len(got), err, len(want))
		}
	}
	for name, want := range map[string][]byte{EntryHeader: b.HeaderJSON, EntrySignature: b.Signature} {
		if got, err := os.ReadFile(filepath.Join(extract, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s extracted: %q (%v)", name, got, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}

	// Verifying alone extracts nothing and gives the same.
	b2, err := Open(bytes.NewReader(raw), pub, Options{Now: t0})
	if err != nil || b2.Digest != b.Digest || b2.SHA256 != b.SHA256 || b2.Dir != "" || b2.FilePath("plan.json") != "" {
		t.Errorf("verify only: %+v, %v", b2, err)
	}
	// The same content written again is the same bundle, byte for byte.
	again, sum2 := writeBundle(t, testHeader(), files, key)
	if !bytes.Equal(again, raw) || sum2.SHA256 != sum.SHA256 || sum2.Digest != sum.Digest {
		t.Error("writing the same bundle twice gave different bytes")
	}
	// A bundle may not be extracted over an existing folder.
	if _, err := OpenFile(bundlePath, pub, Options{Now: t0, ExtractTo: extract}); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("extract over an existing folder: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	good, _ := writeBundle(t, testHeader(), testFiles(), key)
	es := entries(t, good)
	if len(es) != 4 || es[2].hdr.Name != "files/artifacts/viewpanel-16.0.2.bin" {
		t.Fatalf("unexpected layout: %d entries", len(es))
	}
	_, foreign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreignPub := foreign.Public().(ed25519.PublicKey)
	foreignBundle, _ := writeBundle(t, testHeader(), testFiles(), foreign)
	results := testHeader()
	results.Kind = KindResults
	resultsBundle, _ := writeBundle(t, results, testFiles(), key)

	with := func(f func(es []entry) []entry) []byte {
		c := slices.Clone(es)
		return retar(t, f(c))
	}
	replace := func(b []byte, old, new string) []byte {
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%q is not in the bundle", old)
		}
		return bytes.Replace(bytes.Clone(b), []byte(old), []byte(new), 1)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good)
	zw.Close()
	now := t0.Add(time.Hour)

	cases := []struct {
		name   string
		bundle []byte
		pub    ed25519.PublicKey
		opt    Options
		reason Reason
		file   string
		want   []string // in the message
	}{
		{"tampered payload byte", replace(good, "firmware\n", "firmwarf\n"), pub, Options{}, ReasonTampered,
			"files/artifacts/viewpanel-16.0.2.bin", []string{"files/artifacts/viewpanel-16.0.2.bin", "does not match bundle.json"}},
		{"tampered header", replace(good, `"sequence":1,`, `"sequence":7,`), pub, Options{}, ReasonSignature,
			"bundle.sig", []string{"bundle.sig does not verify", KeyID(pub)}},
		{"header changed and re-signed by another key", with(func(es []entry) []entry {
			es[0].body = bytes.Replace(es[0].body, []byte(KeyID(pub)), []byte(KeyID(foreignPub)), 1)
			es[1].body = ed25519.Sign(foreign, es[0].body)
			return es
		}), pub, Options{}, ReasonForeignKey, "bundle.sig", []string{KeyID(foreignPub), KeyID(pub)}},
		{"foreign key", foreignBundle, pub, Options{}, ReasonForeignKey, "bundle.sig",
			[]string{"signed by key " + KeyID(foreignPub), "pinned transfer key is " + KeyID(pub)}},
		{"bundle of the pinned key, another key pinned", good, foreignPub, Options{}, ReasonForeignKey, "bundle.sig",
			[]string{KeyID(pub), KeyID(foreignPub)}},
		{"expired", good, pub, Options{Now: t0.Add(14 * 24 * time.Hour)}, ReasonExpired, "bundle.json",
			[]string{"expired at 2026-12-20T12:00:00Z", "it is now 2026-12-20T12:00:00Z", "otpatch/central"}},
		{"wrong kind", resultsBundle, pub, Options{Kind: KindPlan}, ReasonKind, "bundle.json",
			[]string{"results bundle", "plan bundle was expected"}},
		{"wrong site", good, pub, Options{SiteID: "site_plant-a"}, ReasonSite, "bundle.json",
			[]string{"for site site_plant-b", "this is site site_plant-a"}},
		{"extra file appended to the archive", with(func(es []entry) []entry {
			return append(es, regular("files/zz-extra.sh", []byte("#!/bin/sh\n")))
		}), pub, Options{}, ReasonUnlistedFile, "files/zz-extra.sh", []string{"files/zz-extra.sh", "not listed"}},
		{"extra file in the middle", with(func(es []entry) []entry {
			return slices.Insert(es, 3, regular("files/b-extra", []byte("x")))
		}), pub, Options{}, ReasonUnlistedFile, "files/b-extra", []string{"files/b-extra", "not listed"}},
		{"archive appended after the end", append(bytes.Clone(good), retar(t, []entry{regular("files/zz-extra.sh", []byte("x"))})...),
			pub, Options{}, ReasonUnlistedFile, "", []string{"after the end of the archive"}},
		{"missing last file", with(func(es []entry) []entry { return es[:3] }), pub, Options{}, ReasonMissingFile,
			"files/plan.json", []string{"files/plan.json", "missing"}},
		{"missing first file", with(func(es []entry) []entry { return slices.Delete(es, 2, 3) }), pub, Options{}, ReasonMissingFile,
			"files/artifacts/viewpanel-16.0.2.bin", []string{"files/artifacts/viewpanel-16.0.2.bin", "missing"}},
		{"path traversal", with(func(es []entry) []entry {
			return slices.Insert(es, 2, regular("files/../../evil", []byte("x")))
		}), pub, Options{}, ReasonUnsafeEntry, "files/../../evil", []string{"unsafe path"}},
		{"absolute path", with(func(es []entry) []entry {
			return slices.Insert(es, 2, regular("/etc/cron.d/evil", []byte("x")))
		}), pub, Options{}, ReasonUnsafeEntry, "/etc/cron.d/evil", []string{"unsafe path"}},
		{"symbolic link", with(func(es []entry) []entry {
			return slices.Insert(es, 2, entry{tar.Header{Typeflag: tar.TypeSymlink, Name: "files/artifacts", Linkname: "/etc"}, nil})
		}), pub, Options{}, ReasonUnsafeEntry, "files/artifacts", []string{"is a link"}},
		{"hard link", with(func(es []entry) []entry {
			es[3] = entry{tar.Header{Typeflag: tar.TypeLink, Name: "files/plan.json", Linkname: "bundle.json"}, nil}
			return es
		}), pub, Options{}, ReasonUnsafeEntry, "files/plan.json", []string{"is a link"}},
		{"device", with(func(es []entry) []entry {
			return slices.Insert(es, 2, entry{tar.Header{Typeflag: tar.TypeChar, Name: "files/null", Devmajor: 1, Devminor: 3}, nil})
		}), pub, Options{}, ReasonUnsafeEntry, "files/null", []string{"device"}},
		{"folder", with(func(es []entry) []entry {
			return slices.Insert(es, 2, entry{tar.Header{Typeflag: tar.TypeDir, Name: "files/artifacts/", Mode: 0o755}, nil})
		}), pub, Options{}, ReasonUnsafeEntry, "files/artifacts/", []string{"folder"}},
		{"duplicate payload entry", with(func(es []entry) []entry {
			return slices.Insert(es, 3, es[2])
		}), pub, Options{}, ReasonDuplicateEntry, "files/artifacts/viewpanel-16.0.2.bin", []string{"twice"}},
		{"duplicate payload entry at the end", with(func(es []entry) []entry {
			return append(es, es[2])
		}), pub, Options{}, ReasonDuplicateEntry, "files/artifacts/viewpanel-16.0.2.bin", []string{"twice"}},
		{"second header", with(func(es []entry) []entry {
			return append(es, es[0])
		}), pub, Options{}, ReasonDuplicateEntry, "bundle.json", []string{"twice"}},
		{"payload size differs", with(func(es []entry) []entry {
			es[3].body = append(es[3].body, ' ')
			return es
		}), pub, Options{}, ReasonTampered, "files/plan.json", []string{"files/plan.json", "bytes, bundle.json says"}},
		{"file over the size limit", good, pub, Options{MaxFileSize: 20}, ReasonTooLarge, "files/plan.json",
			[]string{"files/plan.json", "more than the 20"}},
		{"files over the total limit", good, pub, Options{MaxTotalSize: 30}, ReasonTooLarge, "files/plan.json",
			[]string{"more than the 30 bytes"}},
		{"header over its limit", retar(t, []entry{regular("bundle.json", bytes.Repeat([]byte(" "), MaxHeaderSize+1))}), pub, Options{},
			ReasonTooLarge, "bundle.json", []string{"bundle.json is 1048577 bytes"}},
		{"signature not 64 bytes", with(func(es []entry) []entry {
			es[1].body = es[1].body[:63]
			return es
		}), pub, Options{}, ReasonDamaged, "bundle.sig", []string{"bundle.sig is 63 bytes; it must be 64"}},
		{"payload first", with(func(es []entry) []entry {
			return append(es[2:], es[:2]...)
		}), pub, Options{}, ReasonDamaged, "files/artifacts/viewpanel-16.0.2.bin", []string{"starts with bundle.json"}},
		{"compressed", gz.Bytes(), pub, Options{}, ReasonDamaged, "", []string{"gzip"}},
		{"cut short", good[:len(good)-1024-512+10], pub, Options{}, ReasonDamaged, "files/plan.json", []string{"cut short"}},
		{"empty", nil, pub, Options{}, ReasonDamaged, "", []string{"empty"}},
		{"not a tar archive", []byte(strings.Repeat("this is not a bundle\n", 100)), pub, Options{}, ReasonDamaged, "", []string{"not a readable tar archive"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.opt
			if opt.Now.IsZero() {
				opt.Now = now
			}
			b, err := openIn(t, tc.bundle, tc.pub, opt)
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("got %v, %v; want a refusal (%s)", b, err, tc.reason)
			}
			if r.Reason != tc.reason || r.File != tc.file {
				t.Errorf("refused for %s, file %q; want %s, file %q: %v", r.Reason, r.File, tc.reason, tc.file, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the message does not say %q: %v", w, err)
				}
			}
			assertReaderTerms(t, err.Error())
		})
	}

	// A bundle opens up to the second before it expires.
	if _, err := openIn(t, good, pub, Options{Now: t0.Add(14*24*time.Hour - time.Second)}); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
}

// goTerms are words of the code that no operator should read.
var goTerms = regexp.MustCompile(`archive/tar|encoding/json|json:"|unmarshal|\bstruct\b|\buint64\b|\bint64\b|\[\]byte|transfer\.|\*Refusal`)

func assertReaderTerms(t *testing.T, msg string) {
	t.Helper()
	if m := goTerms.FindString(msg); m != "" {
		t.Errorf("the message speaks of %q: %s", m, msg)
	}
}

// A header that is not canonical is refused even when the pinned key signed it.
func TestOpenRefusesNonCanonicalHeader(t *testing.T) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	good, _ := writeBundle(t, testHeader(), testFiles(), key)
	es := entries(t, good)
	header := string(es[0].body)
	cases := []struct {
		name   string
		header string
		reason Reason
		want   string
	}{
		{"indented", strings.Replace(header, `,"kind"`, `, "kind"`, 1), ReasonDamaged, "canonical"},
		{"no newline at the end", strings.TrimSuffix(header, "\n"), ReasonDamaged, "canonical"},
		{"keys in another order", strings.Replace(strings.Replace(header, `"kind":"plan",`, "", 1), `"sequence"`, `"kind":"plan","sequence"`, 1), ReasonDamaged, "canonical"},
		{"an unknown key", strings.Replace(header, `"kind"`, `"note":"x","kind"`, 1), ReasonDamaged, "keys and values"},
		{"another format", strings.Replace(header, Format, "otpatch.transfer/v2", 1), ReasonFormat, `format "otpatch.transfer/v2"`},
		{"an unknown kind", strings.Replace(header, `"kind":"plan"`, `"kind":"audit"`, 1), ReasonDamaged, `kind "audit"`},
		{"a time with an offset", strings.Replace(header, "2026-12-06T12:00:00Z", "2026-12-06T13:00:00+01:00", 1), ReasonDamaged, "created_at"},
		{"an unsafe path", strings.Replace(header, `"path":"plan.json"`, `"path":"../plan.json"`, 1), ReasonDamaged, "../plan.json"},
		{"sequence 0", strings.Replace(header, `"sequence":1`, `"sequence":0`, 1), ReasonDamaged, "sequence"},
		{"not JSON", "plan 1 for site_plant-b\n", ReasonDamaged, "not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := slices.Clone(es)
			c[0].body = []byte(tc.header)
			c[1].body = ed25519.Sign(key, c[0].body)
			_, err := openIn(t, retar(t, c), pub, Options{Now: t0})
			var r *Refusal
			if !errors.As(err, &r) || r.Reason != tc.reason || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want a refusal for %s saying %q", err, tc.reason, tc.want)
			}
			if err != nil {
				assertReaderTerms(t, err.Error())
			}
		})
	}
}

func TestWriteRefuses(t *testing.T) {
	key := testKey()
	calls := 0
	changing := File{Path: "log.txt", Open: func() (io.ReadCloser, error) {
		calls++
		return io.NopCloser(strings.NewReader(strings.Repeat(string(rune('a'+calls)), 3))), nil
	}}
	wrongHash := File{Path: "a.bin", Open: BytesFile("", []byte("abc")).Open, Size: 3, SHA256: strings.Repeat("ab", 32)}
	longer := File{Path: "a.bin", Open: BytesFile("", []byte("abcd")).Open, Size: 3, SHA256: strings.Repeat("ab", 32)}
	noSeq := testHeader()
	noSeq.Sequence = 0
	badSite := testHeader()
	badSite.SiteID = "plant b"
	expired := testHeader()
	expired.ExpiresAt = expired.CreatedAt
	cases := []struct {
		name  string
		h     Header
		files []File
		want  string
	}{
		{"content changed between the reads", testHeader(), []File{changing}, "log.txt changed while the bundle was written"},
		{"content not as its given hash", testHeader(), []File{wrongHash}, "a.bin changed while the bundle was written"},
		{"content longer than its given size", testHeader(), []File{longer}, "a.bin grew while the bundle was written"},
		{"unsafe path", testHeader(), []File{BytesFile("../etc/passwd", nil)}, `payload path "../etc/passwd"`},
		{"absolute path", testHeader(), []File{BytesFile("/etc/passwd", nil)}, `payload path "/etc/passwd"`},
		{"same path twice", testHeader(), []File{BytesFile("a", nil), BytesFile("a", nil)}, "each once"},
		{"paths differing in case", testHeader(), []File{BytesFile("A.bin", nil), BytesFile("a.bin", nil)}, "differ only in case"},
		{"a file that is a folder of another", testHeader(), []File{BytesFile("a", nil), BytesFile("a/b", nil)}, `"a" is a file, and a folder of "a/b"`},
		{"sequence 0", noSeq, nil, "sequence must be 1 or more"},
		{"bad site", badSite, nil, `site_id "plant b"`},
		{"expiring when made", expired, nil, "expires_at must be after created_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls = 0
			_, err := Write(io.Discard, tc.h, tc.files, key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestOpenOptions(t *testing.T) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	good, _ := writeBundle(t, testHeader(), testFiles(), key)
	if _, err := Open(bytes.NewReader(good), pub, Options{}); err == nil {
		t.Error("opened without a time to check the expiry against")
	}
	if _, err := Open(bytes.NewReader(good), nil, Options{Now: t0}); err == nil {
		t.Error("opened without a pinned key")
	}
	// A failing medium is an error of reading, not a refusal of the bundle.
	_, err := Open(io.MultiReader(bytes.NewReader(good[:3000]), errReaderOf(errors.New("input/output error"))), pub, Options{Now: t0})
	var r *Refusal
	if err == nil || errors.As(err, &r) || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("a read error: %v", err)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func errReaderOf(err error) io.Reader { return failingReader{err} }
