package transfer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/signing"
)

// recipeDoc holds check-transfer.sh, the auditor's check with standard tools.
var recipeDoc = filepath.Join("..", "..", "docs", "transfer-format.md")

// recipe is the script of docs/transfer-format.md section 5.
func recipe(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(recipeDoc)
	if err != nil {
		t.Fatal(err)
	}
	const start = "```sh\n#!/bin/sh\n# check-transfer.sh "
	i := bytes.Index(doc, []byte(start))
	if i < 0 {
		t.Fatalf("%s has no check-transfer.sh", recipeDoc)
	}
	body := doc[i+len("```sh\n"):]
	end := bytes.Index(body, []byte("\n```\n"))
	if end < 0 {
		t.Fatalf("check-transfer.sh in %s does not end", recipeDoc)
	}
	return string(body[:end+1])
}

func pemOf(t *testing.T, pub ed25519.PublicKey) []byte {
	t.Helper()
	b, err := signing.MarshalPublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The shell recipe of docs/transfer-format.md accepts what Open accepts and refuses, naming
// the reason, each tampering it can see with tar, sha256sum and openssl.
func TestRecipe(t *testing.T) {
	for _, tool := range []string{"sh", "tar", "openssl", "sha256sum", "dd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH; check-transfer.sh needs it", tool)
		}
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "check-transfer.sh")
	if err := os.WriteFile(script, []byte(recipe(t)), 0o755); err != nil {
		t.Fatal(err)
	}
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	keyPEM := filepath.Join(dir, "transfer-key.pem")
	if err := os.WriteFile(keyPEM, pemOf(t, pub), 0o644); err != nil {
		t.Fatal(err)
	}
	_, foreign, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	foreignPEM := filepath.Join(dir, "foreign-key.pem")
	if err := os.WriteFile(foreignPEM, pemOf(t, foreign.Public().(ed25519.PublicKey)), 0o644); err != nil {
		t.Fatal(err)
	}
	good, _ := writeBundle(t, testHeader(), testFiles(), key)
	es := entries(t, good)
	with := func(f func(es []entry) []entry) []byte { return retar(t, f(slices.Clone(es))) }
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good)
	zw.Close()
	vector, err := os.ReadFile(filepath.Join("testdata", "vector.tar"))
	if err != nil {
		t.Fatal(err)
	}
	before := "2026-12-19T12:00:00Z"

	cases := []struct {
		name   string
		bundle []byte
		key    string
		now    string
		ok     bool
		want   []string
	}{
		{"the test vector", vector, keyPEM, before, true, []string{"bundle verified: 2 files, signed by key 56475aa75463474c", "kind:plan site_id:site_plant-b sequence:1", "8f70e479941a9d76028a546f811abe19a20b028c23855ba39ac9350133732b1f"}},
		{"tampered payload byte", bytes.Replace(good, []byte("firmware\n"), []byte("firmwarf\n"), 1), keyPEM, before, false, []string{"files/artifacts/viewpanel-16.0.2.bin: FAILED", "does not match"}},
		{"tampered header", bytes.Replace(good, []byte(`"sequence":1,`), []byte(`"sequence":7,`), 1), keyPEM, before, false, []string{"does not verify"}},
		{"foreign key", good, foreignPEM, before, false, []string{"signed by key 56475aa75463474c; the pinned key is"}},
		{"expired", good, keyPEM, "2026-12-20T12:00:00Z", false, []string{"expired at 2026-12-20T12:00:00Z (it is now 2026-12-20T12:00:00Z)"}},
		{"extra file", with(func(es []entry) []entry { return append(es, regular("files/zz-extra.sh", []byte("x"))) }), keyPEM, before, false, []string{"not those bundle.json lists", "files/zz-extra.sh"}},
		{"missing file", with(func(es []entry) []entry { return es[:3] }), keyPEM, before, false, []string{"not those bundle.json lists", "files/plan.json"}},
		{"duplicate entry", with(func(es []entry) []entry { return append(es, es[2]) }), keyPEM, before, false, []string{"twice", "files/artifacts/viewpanel-16.0.2.bin"}},
		{"symbolic link", with(func(es []entry) []entry {
			return append(es, entry{tar.Header{Typeflag: tar.TypeSymlink, Name: "files/x", Linkname: "/etc/passwd"}, nil})
		}), keyPEM, before, false, []string{"not a regular file", "files/x"}},
		{"compressed", gz.Bytes(), keyPEM, before, false, []string{"not an uncompressed tar archive"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bundle := filepath.Join(t.TempDir(), "bundle.tar")
			if err := os.WriteFile(bundle, tc.bundle, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", script, bundle, tc.key)
			cmd.Env = append(os.Environ(), "NOW="+tc.now)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil && !tc.ok:
				t.Errorf("verified, want refused\n%s", out)
			case err != nil && tc.ok:
				t.Errorf("%v, want verified\n%s", err, out)
			case err != nil && !errors.As(err, &exit):
				t.Fatal(err)
			case err != nil && exit.ExitCode() != 1:
				t.Errorf("exit status %d, want 1\n%s", exit.ExitCode(), out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("the output does not say %q\n%s", w, out)
				}
			}
			// Open agrees.
			_, oerr := Open(bytes.NewReader(tc.bundle), pubOf(t, tc.key), Options{Now: mustTime(t, tc.now)})
			if (oerr == nil) != tc.ok {
				t.Errorf("Open: %v, the script: %v", oerr, err)
			}
		})
	}
}

func pubOf(t *testing.T, file string) ed25519.PublicKey {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signing.DecodePublic(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
