package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// rewrite changes event from (1-based) and recomputes every hash after it, as someone with
// database access who knows the algorithm would: the chain alone still verifies.
func rewrite(rows []Event, from int64) []Event {
	out := append([]Event(nil), rows...)
	out[from-1].Actor = "mallory"
	head, hash := out[from-1].Seq-1, out[from-1].PrevHash
	for i := from - 1; i < int64(len(out)); i++ {
		out[i].Seal(head, hash)
		head, hash = out[i].Seq, out[i].Hash
	}
	return out
}

func TestCheckpointSignature(t *testing.T) {
	key := newKey(t)
	cp := SignCheckpoint(key, 7, strings.Repeat("ab", 32), "2026-01-31T23:59:59.000000Z")
	if err := cp.Verify(key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("fresh checkpoint: %v", err)
	}
	parsed, err := ParseCheckpoint(cp.Marshal())
	if err != nil || parsed != cp {
		t.Fatalf("ParseCheckpoint(Marshal) = %+v, %v; want %+v", parsed, err, cp)
	}
	changes := map[string]func(c *Checkpoint){
		"seq":       func(c *Checkpoint) { c.Seq = 8 },
		"head_hash": func(c *Checkpoint) { c.HeadHash = strings.Repeat("cd", 32) },
		"at":        func(c *Checkpoint) { c.At = "2026-02-01T00:00:00.000000Z" },
		"signature": func(c *Checkpoint) { c.Signature = SignCheckpoint(key, 9, c.HeadHash, c.At).Signature },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			c := cp
			change(&c)
			if err := c.Verify(key.Public().(ed25519.PublicKey)); err == nil {
				t.Fatalf("a checkpoint with %s changed verifies", name)
			}
		})
	}
	t.Run("another key", func(t *testing.T) {
		other := newKey(t)
		if err := cp.Verify(other.Public().(ed25519.PublicKey)); err == nil || !strings.Contains(err.Error(), "not by the checkpoint key") {
			t.Fatalf("Verify with another key = %v, want refused", err)
		}
		forged := SignCheckpoint(other, cp.Seq, cp.HeadHash, cp.At)
		forged.Key = cp.Key
		if err := forged.Verify(key.Public().(ed25519.PublicKey)); err == nil {
			t.Fatal("a checkpoint signed by another key but naming ours verifies")
		}
	})
}

// The chain is checked against signed checkpoints: a rewrite with recomputed hashes and a
// tail cut with the head moved back both verify as a plain chain and fail with checkpoints.
func TestVerifierWithCheckpoints(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	rows := chain(t, 10)
	cp := func(seq int64) Checkpoint { return SignCheckpoint(key, seq, rows[seq-1].Hash, rows[seq-1].At) }
	run := func(events []Event, headSeq int64, headHash string, cps []Checkpoint) (plain, checked Result) {
		for i, use := range []bool{false, true} {
			v := NewVerifier()
			if use {
				v.UseCheckpoints(pub, cps)
			}
			for _, e := range events {
				if !v.Add(e) {
					break
				}
			}
			v.CheckHead(headSeq, headHash)
			if i == 0 {
				plain = v.Result()
			} else {
				checked = v.Result()
			}
		}
		return plain, checked
	}
	tests := []struct {
		name     string
		events   []Event
		cps      []Checkpoint
		brokenAt int64
		problem  string
		matched  int
	}{
		{name: "intact", events: rows, cps: []Checkpoint{cp(3), cp(7), cp(10)}, matched: 3},
		{name: "rewritten after the last checkpoint but before the head", events: rewrite(rows, 9), cps: []Checkpoint{cp(3), cp(7), cp(10)},
			brokenAt: 8, problem: "events 8 to 10 were rewritten"},
		{name: "rewritten between checkpoints", events: rewrite(rows, 5), cps: []Checkpoint{cp(3), cp(7), cp(10)},
			brokenAt: 4, problem: "checkpoint 7"},
		{name: "rewritten from the start", events: rewrite(rows, 1), cps: []Checkpoint{cp(3)},
			brokenAt: 1, problem: "events 1 to 3 were rewritten"},
		{name: "rewritten after every checkpoint", events: rewrite(rows, 9), cps: []Checkpoint{cp(3), cp(7)}, matched: 2},
		{name: "tail cut and head moved back", events: rows[:6], cps: []Checkpoint{cp(3), cp(7)},
			brokenAt: 7, problem: "checkpoint 7, signed at " + rows[6].At + ", says the chain reached event 7"},
		{name: "everything deleted", events: nil, cps: []Checkpoint{cp(3)}, brokenAt: 1, problem: "but it ends at event 0"},
		{name: "checkpoint signed by another key", events: rows, cps: []Checkpoint{cp(3), SignCheckpoint(newKey(t), 7, rows[6].Hash, rows[6].At)},
			brokenAt: 7, problem: "not by the checkpoint key"},
		{name: "checkpoint altered", events: rows, cps: []Checkpoint{func() Checkpoint { c := cp(7); c.HeadHash = rows[5].Hash; return c }()},
			brokenAt: 7, problem: "does not carry a valid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var head Event
			if len(tt.events) > 0 {
				head = tt.events[len(tt.events)-1]
			}
			plain, checked := run(tt.events, head.Seq, head.Hash, tt.cps)
			if !plain.OK {
				t.Fatalf("the plain chain check fails (%+v); the case must only be visible with checkpoints", plain)
			}
			if tt.brokenAt == 0 {
				if !checked.OK || checked.Checkpoints != tt.matched {
					t.Fatalf("with checkpoints: %+v, want OK with %d checkpoints matched", checked, tt.matched)
				}
				return
			}
			if checked.OK || checked.BrokenAt != tt.brokenAt || !strings.Contains(checked.Problem, tt.problem) {
				t.Fatalf("with checkpoints: %+v, want broken at %d saying %q", checked, tt.brokenAt, tt.problem)
			}
		})
	}
}

func TestLoadOrCreateCheckpointKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "audit-checkpoint.key")
	k1, err := LoadOrCreateCheckpointKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, mode %v; want 0600", err, fi.Mode())
	}
	k2, err := LoadOrCreateCheckpointKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("the second load made another key (%v): the key must be generated once and kept", err)
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCheckpointKey(path); err == nil {
		t.Fatal("a corrupt key file was accepted (or silently replaced)")
	}
}

// memCheckpoints is an in-memory CheckpointStore for the checkpointer's timing logic; the
// object-store implementation is tested on MinIO in internal/store.
type memCheckpoints struct {
	mu    sync.Mutex
	cps   []Checkpoint
	notes []TreeCheckpoint
}

func (m *memCheckpoints) PutCheckpoint(_ context.Context, c Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cps = append(m.cps, c)
	return nil
}

func (m *memCheckpoints) Checkpoints(_ context.Context, from int64) ([]Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Checkpoint
	for _, c := range m.cps {
		if c.Seq >= from {
			out = append(out, c)
		}
	}
	SortCheckpoints(out)
	return out, nil
}

func (m *memCheckpoints) PutNote(_ context.Context, c TreeCheckpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notes = append(m.notes, c)
	return nil
}

func (m *memCheckpoints) Notes(_ context.Context, from int64) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	for _, c := range m.notes {
		if c.Size >= from {
			out = append(out, c.Note)
		}
	}
	return out, nil
}

func (m *memCheckpoints) NoteSizes(context.Context) ([]int64, error) {
	out := m.sizes()
	slices.Sort(out)
	return out, nil
}

func (m *memCheckpoints) sizes() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int64
	for _, c := range m.notes {
		out = append(out, c.Size)
	}
	return out
}

// rootOf is the tree root of the first n events.
func rootOf(rows []Event, n int64) []byte {
	r := Ranges.NewEmptyRange(0)
	for _, e := range rows[:n] {
		_ = r.Append(e.LeafHash(), nil)
	}
	return Root(r)
}

// A checkpoint is due every Every events or, when events arrived, every Interval; the clock
// is controlled by the test.
func TestCheckpointerSchedule(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 31, 23, 50, 0, 0, time.UTC)
	mem := &memCheckpoints{}
	key := newKey(t)
	c, err := NewCheckpointer(CheckpointerOptions{Key: key, Store: mem, Every: 5, Interval: 15 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rows := chain(t, 20)
	head := int64(0)
	headFn := func(context.Context) (int64, []byte, error) { return head, rootOf(rows, head), nil }
	step := func(to int64) bool {
		t.Helper()
		for ; head < to; head++ {
			c.Appended(rows[head].Seq)
		}
		wrote, err := c.checkpointIfDue(ctx, headFn, false)
		if err != nil {
			t.Fatal(err)
		}
		return wrote
	}
	kicked := func() bool {
		select {
		case <-c.kick:
			return true
		default:
			return false
		}
	}
	if step(0) {
		t.Fatal("checkpoint of an empty log")
	}
	if step(4) || kicked() {
		t.Fatal("checkpoint due after 4 of 5 events")
	}
	if !step(5) {
		t.Fatal("no checkpoint after 5 events")
	}
	if !kicked() {
		t.Error("Appended did not wake Run when 5 events had passed")
	}
	if step(7) {
		t.Fatal("checkpoint 2 events after the last one")
	}
	now = now.Add(15 * time.Minute) // across the month end
	if !step(7) {
		t.Fatal("no checkpoint after the interval passed with new events")
	}
	now = now.Add(time.Hour)
	if step(7) {
		t.Fatal("checkpoint although no event arrived since the last one")
	}
	if got := mem.sizes(); len(got) != 2 || got[0] != 5 || got[1] != 7 {
		t.Fatalf("checkpoints of sizes %v, want [5 7]", got)
	}
	notes, _ := mem.Notes(ctx, 0)
	for i, raw := range notes {
		cp, err := OpenTree(raw, c.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{5, 7}[i]; cp.Size != want || !RootEqual(cp.Root, rootOf(rows, want)) {
			t.Errorf("checkpoint %d = size %d root %x; want size %d and its root", i, cp.Size, cp.Root, want)
		}
	}

	// A restarted process carries on from the newest stored checkpoint.
	c2, err := NewCheckpointer(CheckpointerOptions{Key: key, Store: mem, Every: 5, Interval: 15 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c = c2
	if step(11) {
		t.Fatal("a restarted checkpointer wrote a checkpoint 4 events after the stored one")
	}
	if !step(12) {
		t.Fatal("a restarted checkpointer wrote nothing 5 events after the stored one")
	}
	if got := mem.sizes(); len(got) != 3 || got[2] != 12 {
		t.Fatalf("checkpoints of sizes %v, want [5 7 12]", got)
	}
	// CheckpointHead reuses the checkpoint of the log as it is, or writes one.
	got, err := c.CheckpointHead(ctx, headFn)
	if err != nil || got.Size != 12 || len(mem.sizes()) != 3 {
		t.Fatalf("CheckpointHead of a signed log = size %d, %v (%v stored); want the existing checkpoint of 12", got.Size, err, mem.sizes())
	}
	head = 14
	got, err = c.CheckpointHead(ctx, headFn)
	if err != nil || got.Size != 14 || len(mem.sizes()) != 4 {
		t.Fatalf("CheckpointHead of a grown log = size %d, %v; want a new checkpoint of 14", got.Size, err)
	}
	// Close signs what is unsigned at a clean shutdown, however recent the last checkpoint.
	head = 15
	if err := c.Close(ctx, headFn); err != nil || mem.sizes()[4] != 15 {
		t.Fatalf("Close = %v, checkpoints %v; want one of size 15", err, mem.sizes())
	}
	if err := c.Close(ctx, headFn); err != nil || len(mem.sizes()) != 5 {
		t.Fatalf("a second Close = %v, checkpoints %v; want nothing new", err, mem.sizes())
	}
	if c.Seen() != 15 {
		t.Errorf("Seen = %d, want 15", c.Seen())
	}
}

// A checkpoint is a C2SP tlog-checkpoint: origin, size and base64 root, one per line, and an
// ed25519 note signature that golang.org/x/mod/sumdb/note opens with the verifier key; the
// key hash is SHA-256(name || "\n" || 0x01 || key)[:4], as the note format says.
func TestCheckpointIsC2SPNote(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	rows := chain(t, 3)
	root := rootOf(rows, 3)
	cp, err := SignTree(key, "plant.example/otpatch/audit", 3, root)
	if err != nil {
		t.Fatal(err)
	}
	body, sig, ok := strings.Cut(string(cp.Note), "\n\n")
	if want := "plant.example/otpatch/audit\n3\n" + base64.StdEncoding.EncodeToString(root); !ok || body != want {
		t.Fatalf("note text = %q, want %q", body, want)
	}
	vkey := VerifierKey(pub, "plant.example/otpatch/audit")
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp.Note, note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 || n.Text != body+"\n" {
		t.Fatalf("note.Open = %+v, %v", n, err)
	}
	h := sha256.Sum256(append([]byte("plant.example/otpatch/audit\n\x01"), pub...))
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(sig, "— plant.example/otpatch/audit "), "\n"))
	if len(raw) != 68 || !bytes.Equal(raw[:4], h[:4]) || !ed25519.Verify(pub, []byte(body+"\n"), raw[4:]) {
		t.Fatalf("signature line %q is not key hash and ed25519 signature of the text", sig)
	}
	got, err := OpenTree(cp.Note, vkey)
	if err != nil || got.Size != 3 || !RootEqual(got.Root, root) {
		t.Fatalf("OpenTree = %+v, %v", got, err)
	}
	// Another key, another origin, an altered size: each refused.
	if _, err := OpenTree(cp.Note, VerifierKey(newKey(t).Public().(ed25519.PublicKey), "plant.example/otpatch/audit")); err == nil {
		t.Error("a note opened with another key")
	}
	forged := bytes.Replace(cp.Note, []byte("\n3\n"), []byte("\n2\n"), 1)
	if _, err := OpenTree(forged, vkey); err == nil {
		t.Error("a note with an altered size opened")
	}
	if err := ValidOrigin("has space"); err == nil {
		t.Error("an origin with a space was accepted")
	}
}
