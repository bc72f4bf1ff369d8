package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// memNodes keeps every complete subtree hash, as the store's audit_nodes table does.
type memNodes map[compact.NodeID][]byte

func (m memNodes) read(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := m[id]
		if !ok {
			return nil, &missingNode{id}
		}
		out[i] = h
	}
	return out, nil
}

type missingNode struct{ id compact.NodeID }

func (e *missingNode) Error() string { return "missing node" }

// The leaf is the event as one JSON object with every field in a fixed order and details as
// an object; its hash is RFC 6962's. Proofs built from stored subtrees verify for every leaf
// and size, and consistency proofs between every pair of sizes.
func TestTreeProofs(t *testing.T) {
	rows := chain(t, 37)
	leaf := string(rows[0].Leaf())
	if !strings.HasPrefix(leaf, `{"seq":1,"at":"2025-06-10T01:00:00.000000Z","actor":"otpatch","role":"system","action":"asset.state",`) ||
		!strings.HasSuffix(leaf, `"request_id":"","workflow_id":"campaign-cmp_1","details":{"asset":"ast_0","step":0}}`) {
		t.Fatalf("leaf = %s", leaf)
	}
	want := sha256.Sum256(append([]byte{0}, rows[0].Leaf()...))
	if !RootEqual(rows[0].LeafHash(), want[:]) {
		t.Fatal("the leaf hash is not SHA-256(0x00 || leaf)")
	}
	nodes := memNodes{}
	rng := Ranges.NewEmptyRange(0)
	roots := [][]byte{EmptyRoot()}
	for _, e := range rows {
		if err := rng.Append(e.LeafHash(), func(id compact.NodeID, h []byte) { nodes[id] = h }); err != nil {
			t.Fatal(err)
		}
		roots = append(roots, Root(rng))
	}
	for size := uint64(1); size <= uint64(len(rows)); size++ {
		r, err := RangeAt(size, nodes.read)
		if err != nil || !RootEqual(Root(r), roots[size]) {
			t.Fatalf("RangeAt(%d) = %v; root differs", size, err)
		}
		for i := uint64(0); i < size; i++ {
			p, err := InclusionProof(i, size, nodes.read)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(i, size, rows[i].LeafHash(), p, roots[size]); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", i, size, err)
			}
			if VerifyInclusion(i, size, rows[(i+1)%size].LeafHash(), p, roots[size]) == nil && size > 1 {
				t.Fatalf("the proof of leaf %d in %d also proves another leaf", i, size)
			}
		}
		for from := uint64(1); from <= size; from++ {
			p, err := ConsistencyProof(from, size, nodes.read)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(from, size, p, roots[from], roots[size]); err != nil {
				t.Fatalf("consistency %d→%d: %v", from, size, err)
			}
		}
	}
	if _, err := InclusionProof(5, 5, nodes.read); err == nil {
		t.Error("a proof of a leaf beyond the log")
	}
}

// The verifier recomputes the tree and compares it with every checkpoint note: an event
// altered with every hash recomputed, a log cut short, and a note of another key each fail.
func TestVerifierWithNotes(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	origin := DefaultOrigin(pub)
	rows := chain(t, 12)
	note := func(k ed25519.PrivateKey, size int64, rows []Event) []byte {
		cp, err := SignTree(k, origin, size, rootOf(rows, size))
		if err != nil {
			t.Fatal(err)
		}
		return cp.Note
	}
	notes := [][]byte{note(key, 4, rows), note(key, 10, rows)}
	run := func(rows []Event, notes [][]byte) Result {
		v := NewVerifier()
		v.UseNotes(pub, notes)
		for _, e := range rows {
			if !v.Add(e) {
				break
			}
		}
		if n := len(rows); n > 0 {
			v.CheckHead(rows[n-1].Seq, rows[n-1].Hash)
		}
		return v.Result()
	}
	if res := run(rows, notes); !res.OK || res.Notes != 2 || res.NoteSize != 10 || res.TreeRoot == "" {
		t.Fatalf("intact log: %+v", res)
	}
	if res := run(rewrite(rows, 7), notes); res.OK || res.BrokenAt != 5 || !strings.Contains(res.Problem, "signed checkpoint") {
		t.Errorf("rewritten event 7: %+v; want broken from 5 (after the checkpoint of 4)", res)
	}
	if res := run(rows[:8], notes); res.OK || res.BrokenAt != 9 || !strings.Contains(res.Problem, "removed from the tail") {
		t.Errorf("log cut to 8 events under a checkpoint of 10: %+v", res)
	}
	renamed, err := SignTree(key, "plant.example/otpatch/audit", 12, rootOf(rows, 12))
	if err != nil {
		t.Fatal(err)
	}
	if res := run(rows, append(notes, renamed.Note)); !res.OK || res.Notes != 3 {
		t.Errorf("a checkpoint of the same key after the log's origin was renamed: %+v; want it matched", res)
	}
	if res := run(rows, append(notes, note(newKey(t), 12, rows))); res.OK || !strings.Contains(res.Problem, "tampered") {
		t.Errorf("a note of another key: %+v", res)
	}
}
