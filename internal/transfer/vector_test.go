package transfer

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vector.tar")

// The test vector of docs/transfer-format.md section 6: the bundle written from the published
// test key, testHeader and testFiles, which testdata/vector.tar holds byte for byte.
const (
	vectorHeader    = `{"format":"otpatch.transfer/v1","kind":"plan","site_id":"site_plant-b","sequence":1,"created_at":"2026-12-06T12:00:00Z","expires_at":"2026-12-20T12:00:00Z","origin":"otpatch/central","key_id":"56475aa75463474c","files":[{"path":"artifacts/viewpanel-16.0.2.bin","size":9,"sha256":"179c23f41ee27a7474df0662f97023168ddcf837989573fcddd5941adca62a68"},{"path":"plan.json","size":30,"sha256":"ce107c8bc8a6b20e1b80b5bdf12fefab2b79f0641a92fb2cf501f75ea2373c42"}]}` + "\n"
	vectorSignature = "36j96Hql0JnZHzt/PGy6W0RSSaANWW6ss87ba3QoBBnUcttJKFVzmThdVgKXXk7eak4Gw0BJ5aIsqIwyonsmDw=="
	vectorDigest    = "10df1151e792896b3d81cca87247dbaf03107793446457921e1e1c066c738d70"
	vectorSHA256    = "8f70e479941a9d76028a546f811abe19a20b028c23855ba39ac9350133732b1f"
	vectorSize      = 5120
)

func TestVector(t *testing.T) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	b, sum := writeBundle(t, testHeader(), testFiles(), key)
	golden := filepath.Join("testdata", "vector.tar")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("the bundle written differs from %s (go test -run TestVector -update rewrites it)", golden)
	}
	es := entries(t, b)
	if got := string(es[0].body); got != vectorHeader {
		t.Errorf("bundle.json:\n%s\nwant\n%s", got, vectorHeader)
	}
	if got := base64.StdEncoding.EncodeToString(es[1].body); got != vectorSignature {
		t.Errorf("bundle.sig %s, want %s", got, vectorSignature)
	}
	if sum.Digest != vectorDigest || sum.SHA256 != vectorSHA256 || sum.Size != vectorSize {
		t.Errorf("digest %s, file SHA-256 %s, %d bytes; want %s, %s, %d", sum.Digest, sum.SHA256, sum.Size, vectorDigest, vectorSHA256, vectorSize)
	}
	if _, err := Open(bytes.NewReader(want), pub, Options{Now: t0}); err != nil {
		t.Errorf("the vector does not open: %v", err)
	}
	doc, err := os.ReadFile(recipeDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{strings.TrimSuffix(vectorHeader, "\n"), vectorSignature, vectorDigest, vectorSHA256} {
		if !bytes.Contains(doc, []byte(v)) {
			t.Errorf("%s does not give the vector's %s", recipeDoc, short(v))
		}
	}
}
