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

	"github.com/transparency-dev/merkle/compact"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
)

type memCheckpoints struct {
	cps   []audit.Checkpoint
	notes [][]byte
}

func (m *memCheckpoints) PutNote(_ context.Context, c audit.TreeCheckpoint) error {
	m.notes = append(m.notes, c.Note)
	return nil
}

func (m *memCheckpoints) Notes(context.Context, int64) ([][]byte, error) { return m.notes, nil }

func (m *memCheckpoints) NoteSizes(context.Context) ([]int64, error) { return nil, nil }

func (m *memCheckpoints) Checkpoints(context.Context, int64) ([]audit.Checkpoint, error) {
	return m.cps, nil
}

type fixture struct {
	in  Input
	cp  *audit.Checkpointer
	pub ed25519.PublicKey
	// all is the whole log; nodes its stored subtrees; small a checkpoint of its first 6
	// events.
	all   []audit.Event
	nodes map[compact.NodeID][]byte
	small audit.TreeCheckpoint
}

func (f *fixture) proof(t *testing.T, seq, size int64) [][]byte {
	t.Helper()
	p, err := audit.InclusionProof(uint64(seq-1), uint64(size), func(ids []compact.NodeID) ([][]byte, error) {
		out := make([][]byte, len(ids))
		for i, id := range ids {
			out[i] = f.nodes[id]
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newFixture builds the input of a bundle: a 12-event log whose events 3, 5, 8 and 12 belong
// to the campaign, a checkpoint of all 12, and a manifest signed by a vendor key.
func newFixture(t *testing.T) fixture {
	t.Helper()
	_, ckey, _ := ed25519.GenerateKey(rand.Reader)
	cp, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: ckey, Store: &memCheckpoints{}})
	if err != nil {
		t.Fatal(err)
	}
	vpub, vkey, _ := ed25519.GenerateKey(rand.Reader)
	manifest := []byte(`{"vendor":"acme","patch_id":"ACME-SA-2026-014","version":"V16.0.2"}`)
	f := fixture{cp: cp, pub: cp.PublicKey(), nodes: map[compact.NodeID][]byte{}}
	rng := audit.Ranges.NewEmptyRange(0)
	head, hash := int64(0), ""
	at := time.Date(2026, 3, 31, 23, 58, 0, 0, time.UTC)
	for i := 1; i <= 12; i++ {
		e := audit.Event{At: audit.FormatTime(at.Add(time.Duration(i) * time.Second)), Actor: "otpatch", Role: "system", Action: "other.thing",
			SubjectType: "asset", SubjectID: fmt.Sprint(i), CampaignID: "cmp_other", Details: "{}"}
		if i == 3 || i == 5 || i == 8 || i == 12 {
			e.Action, e.CampaignID, e.PatchID = "asset.state", "cmp_1", "pat_1"
		}
		e.Seal(head, hash)
		head, hash = e.Seq, e.Hash
		f.all = append(f.all, e)
		_ = rng.Append(e.LeafHash(), func(id compact.NodeID, h []byte) { f.nodes[id] = h })
		if i == 6 {
			if f.small, err = cp.Checkpoint(context.Background(), 6, audit.Root(rng)); err != nil {
				t.Fatal(err)
			}
		}
	}
	full, err := cp.Checkpoint(context.Background(), 12, audit.Root(rng))
	if err != nil {
		t.Fatal(err)
	}
	var events []audit.Event
	var proofs [][][]byte
	for _, e := range f.all {
		if e.CampaignID == "cmp_1" {
			events, proofs = append(events, e), append(proofs, f.proof(t, e.Seq, 12))
		}
	}
	ms := sha256.Sum256(manifest)
	f.in = Input{CampaignID: "cmp_1", PatchID: "pat_1", GeneratedAt: at, GeneratedBy: "ann.audit",
		Campaign:  map[string]any{"id": "cmp_1", "patch_id": "pat_1", "key_fingerprint": signing.Fingerprint(vpub), "manifest_sha256": hex.EncodeToString(ms[:])},
		TestBench: []map[string]any{{"asset_id": "ast_bench", "state": "done"}}, Backups: []map[string]any{{"asset_id": "ast_1", "sha256": strings.Repeat("a", 64)}},
		Approvals: []map[string]any{{"actor": "omar.ops", "decision": "approve"}}, Deployment: []map[string]any{{"asset_id": "ast_1", "state": "done"}},
		Manifest: manifest, Signature: signing.Sign(vkey, manifest),
		VendorKey: VendorKey{Fingerprint: signing.Fingerprint(vpub), PublicKey: signing.EncodePublic(vpub)},
		Report:    []byte(`{"signature":"ok"}`), Events: events, Proofs: proofs, Checkpoint: full, CheckpointKey: cp.PublicKey()}
	return f
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
	if rep.CampaignID != "cmp_1" || rep.Events != 4 || rep.TreeSize != 12 || rep.Origin != f.cp.Origin() || rep.KeyFromBundle {
		t.Errorf("report %+v", rep)
	}
	files, names := unpack(t, bundle)
	for _, want := range []string{FileReadme, FileCampaign, FileManifest, FileSignature, FileVendorKey, FileReport, FileTestBench, FileBackups,
		FileApprovals, FileDeployment, FileEvents, FileProofs, FileCheckpoint, FileCheckpointKey, FileVerifierKey, FileVendorPEM, FileSums, FileSumsSig} {
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
	if len(names) != 18 {
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
	cp, err := other.cp.Checkpoint(context.Background(), f.in.Checkpoint.Size, f.in.Checkpoint.Root)
	if err != nil {
		t.Fatal(err)
	}
	in.Checkpoint = cp
	bundle := build(t, in, other.cp.SignEvidence)
	if _, err := Verify(bytes.NewReader(bundle), f.pub); fileOf(err) != FileCheckpointKey || !strings.Contains(err.Error(), "is not the published key") {
		t.Fatalf("re-signed bundle against the published key: %v", err)
	}
	rep, err := Verify(bytes.NewReader(bundle), nil)
	if err != nil || rep.CheckpointKey == signing.Fingerprint(f.pub) {
		t.Fatalf("re-signed bundle with its own key: %+v, %v; want it to pass naming the other key", rep, err)
	}
	// The original key's checkpoint in a bundle signed by the other key fails on its own.
	in.Checkpoint = f.in.Checkpoint
	if _, err := Verify(bytes.NewReader(build(t, in, other.cp.SignEvidence)), nil); fileOf(err) != FileCheckpoint || !strings.Contains(err.Error(), "not signed by the checkpoint key") {
		t.Fatalf("a checkpoint of another key: %v", err)
	}
}

// Bundles made honestly from a tampered database still fail: the content checks name the
// file or the event whose content disagrees with what is signed.
func TestInconsistentContentIsNamed(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, f *fixture)
		file   string
		says   string
	}{
		{"event edited after the checkpoint was signed", func(t *testing.T, f *fixture) { f.in.Events[1].Actor = "mallory" }, FileEvents, "event 5 is not in the signed log"},
		{"event of another campaign", func(t *testing.T, f *fixture) {
			f.in.Events = append(f.in.Events[:1:1], append([]audit.Event{f.all[3]}, f.in.Events[1:]...)...)
			f.in.Proofs = append(f.in.Proofs[:1:1], append([][][]byte{f.proof(t, 4, 12)}, f.in.Proofs[1:]...)...)
		}, FileEvents, "event 4 belongs to campaign \"cmp_other\""},
		{"events out of order", func(t *testing.T, f *fixture) {
			f.in.Events[1], f.in.Events[2] = f.in.Events[2], f.in.Events[1]
			f.in.Proofs[1], f.in.Proofs[2] = f.in.Proofs[2], f.in.Proofs[1]
		}, FileEvents, "out of order"},
		{"checkpoint of a smaller log", func(t *testing.T, f *fixture) { f.in.Checkpoint = f.small }, FileEvents, "event 3 is not in the signed log"},
		{"checkpoint of another log of the same size", func(t *testing.T, f *fixture) {
			cp, err := f.cp.Checkpoint(context.Background(), 12, f.small.Root)
			if err != nil {
				t.Fatal(err)
			}
			f.in.Checkpoint = cp
		}, FileEvents, "event 3 is not in the signed log"},
		{"proof of another event", func(t *testing.T, f *fixture) { f.in.Proofs[0] = f.proof(t, 4, 12) }, FileEvents, "event 3 is not in the signed log"},
		{"manifest signed by another key", func(t *testing.T, f *fixture) {
			pub, key, _ := ed25519.GenerateKey(rand.Reader)
			f.in.Signature = signing.Sign(key, f.in.Manifest)
			f.in.VendorKey = VendorKey{Fingerprint: signing.Fingerprint(pub), PublicKey: signing.EncodePublic(pub)}
		}, FileVendorKey, "not the key"},
		{"manifest not the one signed", func(t *testing.T, f *fixture) { f.in.Manifest = []byte(`{"vendor":"acme"}`) }, FileManifest, "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.change(t, &f)
			_, err := Verify(bytes.NewReader(build(t, f.in, f.cp.SignEvidence)), f.pub)
			if fileOf(err) != tt.file || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("got %v; want %s named, saying %q", err, tt.file, tt.says)
			}
		})
	}
}
