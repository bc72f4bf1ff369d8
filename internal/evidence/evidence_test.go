package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
)

type memCheckpoints struct{ cps []audit.Checkpoint }

func (m *memCheckpoints) PutCheckpoint(_ context.Context, c audit.Checkpoint) error {
	m.cps = append(m.cps, c)
	return nil
}

func (m *memCheckpoints) Checkpoints(_ context.Context, from int64) ([]audit.Checkpoint, error) {
	var out []audit.Checkpoint
	for _, c := range m.cps {
		if c.Seq >= from {
			out = append(out, c)
		}
	}
	return out, nil
}

type fixture struct {
	in  Input
	cp  *audit.Checkpointer
	pub ed25519.PublicKey
}

// newFixture builds the input of a bundle: a 12-event chain whose events 3, 5, 8 and 12
// belong to the campaign, checkpoints at 6 and 12, and a manifest signed by a vendor key.
func newFixture(t *testing.T) fixture {
	t.Helper()
	_, ckey, _ := ed25519.GenerateKey(rand.Reader)
	cp, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: ckey, Store: &memCheckpoints{}})
	if err != nil {
		t.Fatal(err)
	}
	vpub, vkey, _ := ed25519.GenerateKey(rand.Reader)
	manifest := []byte(`{"vendor":"acme","patch_id":"ACME-SA-2026-014","version":"V16.0.2"}`)
	var chain, excerpt []audit.Event
	head, hash := int64(0), ""
	at := time.Date(2026, 3, 31, 23, 58, 0, 0, time.UTC)
	for i := 1; i <= 12; i++ {
		e := audit.Event{At: audit.FormatTime(at.Add(time.Duration(i) * time.Second)), Actor: "otpatch", Role: "system", Action: "other.thing",
			SubjectType: "asset", SubjectID: fmt.Sprint(i), Details: "{}"}
		if i == 3 || i == 5 || i == 8 || i == 12 {
			e.Action, e.CampaignID, e.PatchID = "asset.state", "cmp_1", "pat_1"
		}
		e.Seal(head, hash)
		head, hash = e.Seq, e.Hash
		if e.CampaignID != "" {
			excerpt = append(excerpt, e)
		}
		if i >= 3 {
			chain = append(chain, e)
		}
	}
	cps := []audit.Checkpoint{}
	for _, seq := range []int64{6, 12} {
		c, err := cp.Checkpoint(context.Background(), seq, chain[seq-3].Hash)
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, c)
	}
	ms := sha256.Sum256(manifest)
	in := Input{CampaignID: "cmp_1", PatchID: "pat_1", GeneratedAt: at, GeneratedBy: "ann.audit",
		Campaign:  map[string]any{"id": "cmp_1", "patch_id": "pat_1", "key_fingerprint": signing.Fingerprint(vpub), "manifest_sha256": hex.EncodeToString(ms[:])},
		TestBench: []map[string]any{{"asset_id": "ast_bench", "state": "done"}}, Backups: []map[string]any{{"asset_id": "ast_1", "sha256": strings.Repeat("a", 64)}},
		Approvals: []map[string]any{{"actor": "omar.ops", "decision": "approve"}}, Deployment: []map[string]any{{"asset_id": "ast_1", "state": "done"}},
		Manifest: manifest, Signature: signing.Sign(vkey, manifest),
		VendorKey: VendorKey{Fingerprint: signing.Fingerprint(vpub), PublicKey: signing.EncodePublic(vpub)},
		Report:    []byte(`{"signature":"ok"}`), Excerpt: excerpt, Chain: chain, Checkpoints: cps, CheckpointKey: cp.PublicKey()}
	return fixture{in: in, cp: cp, pub: cp.PublicKey()}
}

func build(t *testing.T, in Input, sign Signer) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, in, sign); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// unpack and repack let a test change a bundle the way someone holding the file would.
func unpack(t *testing.T, bundle []byte) (map[string][]byte, []string) {
	t.Helper()
	files, err := readBundle(bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return files, names
}

func repack(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write(files[n])
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

func resum(files map[string][]byte) {
	var names []string
	for n := range files {
		if n != FileSums && n != FileSumsSig {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var sums bytes.Buffer
	for _, n := range names {
		s := sha256.Sum256(files[n])
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	files[FileSums] = sums.Bytes()
}

// alter changes one byte in the middle of b.
func alter(b []byte) []byte {
	out := append([]byte(nil), b...)
	i := len(out) / 2
	if out[i] == 'x' {
		out[i] = 'y'
	} else {
		out[i] = 'x'
	}
	return out
}

func fileOf(err error) string {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe.File
	}
	return ""
}

func TestFreshBundleVerifies(t *testing.T) {
	f := newFixture(t)
	bundle := build(t, f.in, f.cp.SignEvidence)
	rep, err := Verify(bytes.NewReader(bundle), f.pub)
	if err != nil {
		t.Fatalf("fresh bundle: %v", err)
	}
	if rep.CampaignID != "cmp_1" || rep.Events != 4 || rep.ChainFrom != 3 || rep.ChainTo != 12 || rep.Checkpoint != 12 || rep.KeyFromBundle {
		t.Errorf("report %+v", rep)
	}
	files, names := unpack(t, bundle)
	for _, want := range []string{FileReadme, FileCampaign, FileManifest, FileSignature, FileVendorKey, FileReport, FileTestBench, FileBackups,
		FileApprovals, FileDeployment, FileExcerpt, FileChain, FileCheckpointKey, FileSums, FileSumsSig, "audit/checkpoints/6.json", "audit/checkpoints/12.json"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the bundle has no %s (it has %v)", want, names)
		}
	}
	if !bytes.Equal(files[FileManifest], f.in.Manifest) {
		t.Error("the manifest is not stored exactly as signed")
	}
	rep, err = Verify(bytes.NewReader(bundle), nil)
	if err != nil || !rep.KeyFromBundle || rep.CheckpointKey != signing.Fingerprint(f.pub) {
		t.Fatalf("without a published key: %+v, %v; want it checked with the key inside, named", rep, err)
	}
}

// Changing any one file of the bundle fails the verification and names that file.
func TestAlteredFileIsNamed(t *testing.T) {
	f := newFixture(t)
	bundle := build(t, f.in, f.cp.SignEvidence)
	_, names := unpack(t, bundle)
	if len(names) != 17 {
		t.Fatalf("%d files: %v", len(names), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			files, _ := unpack(t, bundle)
			files[name] = alter(files[name])
			_, err := Verify(bytes.NewReader(repack(t, files)), f.pub)
			want := name
			if name == FileSums {
				want = FileSumsSig // the signature over SHA256SUMS fails: it names both
			}
			if err == nil || fileOf(err) != want || !strings.Contains(err.Error(), name) {
				t.Fatalf("altered %s: %v; want a failure naming it", name, err)
			}
		})
		t.Run(name+" with SHA256SUMS recomputed", func(t *testing.T) {
			if name == FileSums || name == FileSumsSig {
				t.Skip("covered above")
			}
			files, _ := unpack(t, bundle)
			files[name] = alter(files[name])
			resum(files)
			_, err := Verify(bytes.NewReader(repack(t, files)), f.pub)
			if err == nil {
				t.Fatalf("altered %s with SHA256SUMS recomputed passes", name)
			}
			if name != FileCheckpointKey && fileOf(err) != FileSumsSig {
				t.Fatalf("altered %s with SHA256SUMS recomputed: %v; want the SHA256SUMS signature to fail", name, err)
			}
		})
	}
	t.Run("file added", func(t *testing.T) {
		files, _ := unpack(t, bundle)
		files["notes.txt"] = []byte("trust me")
		if _, err := Verify(bytes.NewReader(repack(t, files)), f.pub); fileOf(err) != "notes.txt" {
			t.Fatalf("added file: %v", err)
		}
	})
	t.Run("file removed", func(t *testing.T) {
		files, _ := unpack(t, bundle)
		delete(files, FileApprovals)
		if _, err := Verify(bytes.NewReader(repack(t, files)), f.pub); fileOf(err) != FileApprovals || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("removed file: %v", err)
		}
	})
	t.Run("not an archive", func(t *testing.T) {
		if _, err := Verify(strings.NewReader("hello"), f.pub); fileOf(err) != "bundle" {
			t.Fatalf("garbage: %v", err)
		}
	})
}

// A bundle re-made and re-signed with another checkpoint key fails against the published key
// (naming the key file) and, checked with the key inside, reports that other key.
func TestResignedBundle(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t) // another checkpoint key
	in := f.in
	in.CheckpointKey = other.pub
	in.Checkpoints = nil
	for _, c := range f.in.Checkpoints {
		cc, _ := other.cp.Checkpoint(context.Background(), c.Seq, c.HeadHash)
		in.Checkpoints = append(in.Checkpoints, cc)
	}
	bundle := build(t, in, other.cp.SignEvidence)
	if _, err := Verify(bytes.NewReader(bundle), f.pub); fileOf(err) != FileCheckpointKey || !strings.Contains(err.Error(), "is not the published key") {
		t.Fatalf("re-signed bundle against the published key: %v", err)
	}
	rep, err := Verify(bytes.NewReader(bundle), nil)
	if err != nil || rep.CheckpointKey == signing.Fingerprint(f.pub) {
		t.Fatalf("re-signed bundle with its own key: %+v, %v; want it to pass naming the other key", rep, err)
	}
}

// Bundles made honestly from a tampered database still fail: the content checks name the
// file whose content disagrees with what is signed.
func TestInconsistentContentIsNamed(t *testing.T) {
	tests := []struct {
		name   string
		change func(f *fixture)
		file   string
		says   string
	}{
		{"chain rewritten after the checkpoint was signed", func(f *fixture) {
			c := f.in.Chain
			c[5].Actor = "mallory" // event 8
			head, hash := c[4].Seq, c[4].Hash
			for i := 5; i < len(c); i++ {
				c[i].Seal(head, hash)
				head, hash = c[i].Seq, c[i].Hash
			}
			f.in.Excerpt[2], f.in.Excerpt[3] = c[5], c[9]
		}, FileChain, "the chain was rewritten"},
		{"event edited", func(f *fixture) { f.in.Chain[2].Details = `{"x":1}` }, FileChain, "event 5 was altered"},
		{"event removed from the segment", func(f *fixture) { f.in.Chain = append(f.in.Chain[:4:4], f.in.Chain[5:]...) }, FileChain, "does not follow"},
		{"segment cut before the checkpoint", func(f *fixture) { f.in.Chain = f.in.Chain[:8] }, "audit/checkpoints/12.json", "outside the chain segment"},
		{"excerpt event not in the chain", func(f *fixture) { f.in.Excerpt[1].Actor = "mallory" }, FileExcerpt, "event 5 is not the same"},
		{"foreign event in the excerpt", func(f *fixture) { f.in.Excerpt = append(f.in.Excerpt, f.in.Chain[1]) }, FileExcerpt, "belongs to neither"},
		{"manifest signed by another key", func(f *fixture) {
			pub, key, _ := ed25519.GenerateKey(rand.Reader)
			f.in.Signature = signing.Sign(key, f.in.Manifest)
			f.in.VendorKey = VendorKey{Fingerprint: signing.Fingerprint(pub), PublicKey: signing.EncodePublic(pub)}
		}, FileVendorKey, "not the key"},
		{"manifest not the one signed", func(f *fixture) { f.in.Manifest = []byte(`{"vendor":"acme"}`) }, FileManifest, "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.change(&f)
			_, err := Verify(bytes.NewReader(build(t, f.in, f.cp.SignEvidence)), f.pub)
			if fileOf(err) != tt.file || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("got %v; want %s named, saying %q", err, tt.file, tt.says)
			}
		})
	}
}
