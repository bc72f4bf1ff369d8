// Package audit defines otpatch's tamper-evident audit trail: the event record, its leaf
// encoding in a Merkle tree log (RFC 6962 / RFC 9162) with inclusion and consistency proofs,
// the C2SP checkpoint notes that sign the log's size and root into the object store, the
// SHA-256 chain that also links each event to the one before it (whose older JSON checkpoints
// stay verifiable), and the verification that recomputes both, compares them with every
// checkpoint and names the first event that does not verify.
package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// GenesisHash is the previous hash of the first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// TimeLayout is how event times are stored and hashed: UTC, microseconds, so that every
// database keeps them exactly.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Event is one entry of the trail.
type Event struct {
	Seq         int64  `json:"seq" gorm:"primaryKey;autoIncrement:false"`
	At          string `json:"at"`
	Actor       string `json:"actor"`
	Role        string `json:"role"`
	Action      string `json:"action"`
	SubjectType string `json:"subject_type"`
	SubjectID   string `json:"subject_id"`
	CampaignID  string `json:"campaign_id,omitempty"`
	PatchID     string `json:"patch_id,omitempty"`
	AssetID     string `json:"asset_id,omitempty"`
	RequestID   string `json:"request_id,omitempty"`
	WorkflowID  string `json:"workflow_id,omitempty"`
	Details     string `json:"details"`
	PrevHash    string `json:"prev_hash"`
	Hash        string `json:"hash"`
}

// FormatTime renders t as stored in an event.
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Microsecond).Format(TimeLayout) }

// CanonicalDetails encodes details as compact JSON with sorted object keys, the form that is
// stored and hashed. nil becomes "{}".
func CanonicalDetails(details any) (string, error) {
	if details == nil {
		return "{}", nil
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return "", fmt.Errorf("audit details: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("audit details: %w", err)
	}
	out, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return "", fmt.Errorf("audit details: %w", err)
	}
	return string(out), nil
}

// Seal links e to the head (seq, hash) of the chain it is appended to.
func (e *Event) Seal(headSeq int64, headHash string) {
	if headHash == "" {
		headHash = GenesisHash
	}
	e.Seq = headSeq + 1
	e.PrevHash = headHash
	e.Hash = e.ComputeHash()
}

// Result is what a verification found.
type Result struct {
	OK       bool   `json:"ok"`
	Events   int64  `json:"events"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// BrokenAt is the sequence number of the first event that does not verify.
	BrokenAt int64  `json:"broken_at,omitempty"`
	Problem  string `json:"problem,omitempty"`
	// Checkpoints is how many signed checkpoints the chain was compared with and matched;
	// CheckpointSeq is the newest of them.
	Checkpoints   int   `json:"checkpoints"`
	CheckpointSeq int64 `json:"checkpoint_seq,omitempty"`
	// TreeRoot is the Merkle tree root of the log (base64, as checkpoints write it); Notes is
	// how many checkpoint notes the tree was compared with and matched, NoteSize the log size
	// of the newest.
	TreeRoot string `json:"tree_root"`
	Notes    int    `json:"notes"`
	NoteSize int64  `json:"note_size,omitempty"`
}

// Verifier recomputes the chain event by event, in sequence order.
type Verifier struct {
	res  Result
	prev string
	done bool
	// cps are the signed checkpoints by sequence; lastCP is the newest one.
	cps    map[int64][]Checkpoint
	lastCP *Checkpoint
	// rng is the tree of the events added so far; notes are the tree checkpoints by size.
	rng      *compact.Range
	notes    map[int64][]TreeCheckpoint
	lastNote *TreeCheckpoint
}

// NewVerifier starts a verification at the genesis of the chain.
func NewVerifier() *Verifier {
	return &Verifier{prev: GenesisHash, res: Result{OK: true, TreeRoot: base64.StdEncoding.EncodeToString(EmptyRoot())}, rng: Ranges.NewEmptyRange(0)}
}

// Add checks the next event; it returns false once a broken link is found.
func (v *Verifier) Add(e Event) bool {
	return v.AddHashed(e, e.ComputeHash(), e.LeafHash())
}

// Hashes computes what AddHashed needs of each event, on every core: the verification of a
// page spends most of its time here, and events hash independently of each other.
func Hashes(evs []Event) (chain []string, leaves [][]byte) {
	chain, leaves = make([]string, len(evs)), make([][]byte, len(evs))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(evs)/256))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(evs); i += workers {
				chain[i], leaves[i] = evs[i].ComputeHash(), evs[i].LeafHash()
			}
		}()
	}
	wg.Wait()
	return chain, leaves
}

// AddHashed is Add with the event's chain hash and leaf hash already computed (Hashes).
func (v *Verifier) AddHashed(e Event, chainHash string, leafHash []byte) bool {
	if v.done {
		return false
	}
	want := v.res.HeadSeq + 1
	switch {
	case e.Seq != want:
		v.fail(want, fmt.Sprintf("expected event %d next but found %d: events are missing, reordered or inserted", want, e.Seq))
	case e.PrevHash != v.prev:
		v.fail(e.Seq, fmt.Sprintf("event %d does not link to event %d (prev_hash %s, chain says %s)", e.Seq, e.Seq-1, short(e.PrevHash), short(v.prev)))
	case chainHash != e.Hash:
		v.fail(e.Seq, fmt.Sprintf("event %d was altered: its content hashes to %s, stored hash is %s", e.Seq, short(chainHash), short(e.Hash)))
	default:
		for _, c := range v.cps[e.Seq] {
			if c.HeadHash != e.Hash {
				from := v.res.CheckpointSeq + 1
				v.fail(from, fmt.Sprintf("event %d hashes to %s but checkpoint %d, signed at %s, says %s: events %d to %d were rewritten and their hashes recomputed", e.Seq, short(e.Hash), c.Seq, c.At, short(c.HeadHash), from, e.Seq))
				return false
			}
		}
		if len(v.cps[e.Seq]) > 0 {
			v.res.Checkpoints += len(v.cps[e.Seq])
			v.res.CheckpointSeq = e.Seq
		}
		_ = v.rng.Append(leafHash, nil)
		if notes := v.notes[e.Seq]; len(notes) > 0 {
			root := Root(v.rng)
			for _, n := range notes {
				if !RootEqual(n.Root, root) {
					from := v.res.NoteSize + 1
					v.fail(from, fmt.Sprintf("the log of %d events has root %s but its signed checkpoint says %s: an event from %d to %d was altered, removed or inserted", e.Seq, b64(root), b64(n.Root), from, e.Seq))
					return false
				}
			}
			v.res.Notes += len(notes)
			v.res.NoteSize = e.Seq
		}
		v.res.Events++
		v.res.HeadSeq, v.res.HeadHash, v.prev = e.Seq, e.Hash, e.Hash
		return true
	}
	return false
}

// UseCheckpoints makes the verification compare the chain with signed checkpoints: an event
// whose hash differs from a checkpoint at its sequence means the chain was rewritten, and a
// checkpoint beyond the end of the chain means it was cut short (CheckHead reports that).
// Call it before the first Add. A checkpoint not signed by pub fails the verification: the
// checkpoint store itself was tampered with.
func (v *Verifier) UseCheckpoints(pub ed25519.PublicKey, cps []Checkpoint) {
	if v.cps == nil {
		v.cps = map[int64][]Checkpoint{}
	}
	for _, c := range cps {
		if err := c.Verify(pub); err != nil {
			v.fail(c.Seq, err.Error())
			return
		}
		v.cps[c.Seq] = append(v.cps[c.Seq], c)
		if v.lastCP == nil || c.Seq > v.lastCP.Seq {
			c := c
			v.lastCP = &c
		}
	}
}

// UseNotes makes the verification compare the tree with signed checkpoint notes: a root that
// differs from a checkpoint of the same size means the log was rewritten, and a checkpoint
// larger than the log means it was cut short (CheckHead reports that). Call it before the
// first Add. A note that pub did not sign fails the verification: the checkpoint store itself
// was tampered with.
func (v *Verifier) UseNotes(pub ed25519.PublicKey, notes [][]byte) {
	if v.notes == nil {
		v.notes = map[int64][]TreeCheckpoint{}
	}
	for _, raw := range notes {
		n, err := OpenTreeWithKey(raw, pub)
		if err != nil {
			v.fail(0, "a stored checkpoint does not verify: "+err.Error()+": the checkpoint store was tampered with")
			return
		}
		v.notes[n.Size] = append(v.notes[n.Size], n)
		if v.lastNote == nil || n.Size > v.lastNote.Size {
			v.lastNote = &n
		}
	}
}

// CheckHead compares the end of the chain with the head the store recorded, which detects a
// truncated tail.
func (v *Verifier) CheckHead(seq int64, hash string) {
	if v.done {
		return
	}
	v.res.TreeRoot = b64(Root(v.rng))
	if n := v.lastNote; n != nil && n.Size > v.res.HeadSeq {
		v.fail(v.res.HeadSeq+1, fmt.Sprintf("a signed checkpoint says the log held %d events, but it ends at event %d: events %d to %d were removed from the tail", n.Size, v.res.HeadSeq, v.res.HeadSeq+1, n.Size))
		return
	}
	if seq == v.res.HeadSeq && (hash == v.res.HeadHash || seq == 0) {
		if c := v.lastCP; c != nil && c.Seq > v.res.HeadSeq {
			v.fail(v.res.HeadSeq+1, fmt.Sprintf("checkpoint %d, signed at %s, says the chain reached event %d (%s), but it ends at event %d: events were removed from the tail and the head moved back", c.Seq, c.At, c.Seq, short(c.HeadHash), v.res.HeadSeq))
		}
		return
	}
	switch {
	case seq > v.res.HeadSeq:
		v.fail(v.res.HeadSeq+1, fmt.Sprintf("the chain ends at event %d but the recorded head is event %d (%s): events were removed from the tail", v.res.HeadSeq, seq, short(hash)))
	case seq < v.res.HeadSeq:
		v.fail(seq+1, fmt.Sprintf("the chain continues to event %d but the recorded head is event %d (%s): events %d to %d were added without moving the head", v.res.HeadSeq, seq, short(hash), seq+1, v.res.HeadSeq))
	default:
		v.fail(seq, fmt.Sprintf("event %d hashes to %s, which does not match the recorded head %s: the chain was rewritten and its hashes recomputed", seq, short(v.res.HeadHash), short(hash)))
	}
}

// Result returns the outcome so far.
func (v *Verifier) Result() Result { return v.res }

func (v *Verifier) fail(seq int64, problem string) {
	v.done = true
	v.res.OK = false
	v.res.BrokenAt = seq
	v.res.Problem = problem
}

func b64(h []byte) string { return base64.StdEncoding.EncodeToString(h) }

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
