package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/otpatch/otpatch/internal/signing"
)

// CheckpointPrefix is where checkpoints live in the object store.
const CheckpointPrefix = "audit/checkpoints/"

// checkpointDomain separates checkpoint signatures from any other use of the key.
const checkpointDomain = "otpatch-audit-checkpoint-v1\n"

// Checkpoint is a signed statement that the chain had head (Seq, HeadHash) at time At. Kept
// outside the database (in the object store, under retention where the bucket has object
// lock), checkpoints let a verifier detect a chain that was rewritten with consistently
// recomputed hashes, or cut short, which the chain alone cannot show.
type Checkpoint struct {
	Seq      int64  `json:"seq"`
	HeadHash string `json:"head_hash"`
	At       string `json:"at"`
	// Key is the fingerprint of the key that signed ("SHA256:…").
	Key string `json:"key"`
	// Signature is base64 ed25519 over SignedBytes.
	Signature string `json:"signature"`
}

// CheckpointObjectKey is the object key of the checkpoint at seq; the zero padding makes the
// lexical order of keys the order of the chain.
func CheckpointObjectKey(seq int64) string { return fmt.Sprintf("%s%020d.json", CheckpointPrefix, seq) }

// SignedBytes is what the signature covers: a domain string and the JSON array
// [seq, head_hash, at, key].
func (c Checkpoint) SignedBytes() []byte {
	b, _ := json.Marshal([]any{c.Seq, c.HeadHash, c.At, c.Key})
	return append([]byte(checkpointDomain), b...)
}

// SignCheckpoint signs (seq, head, at) with priv.
func SignCheckpoint(priv ed25519.PrivateKey, seq int64, head, at string) Checkpoint {
	c := Checkpoint{Seq: seq, HeadHash: head, At: at, Key: signing.Fingerprint(priv.Public().(ed25519.PublicKey))}
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, c.SignedBytes()))
	return c
}

// Verify checks the checkpoint's signature with pub.
func (c Checkpoint) Verify(pub ed25519.PublicKey) error {
	if fp := signing.Fingerprint(pub); c.Key != fp {
		return fmt.Errorf("checkpoint %d was signed by key %s, not by the checkpoint key %s", c.Seq, c.Key, fp)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.SignedBytes(), sig) {
		return fmt.Errorf("checkpoint %d (head %s at %s) does not carry a valid signature of the checkpoint key %s", c.Seq, short(c.HeadHash), c.At, c.Key)
	}
	return nil
}

// ParseCheckpoint reads a checkpoint object.
func ParseCheckpoint(b []byte) (Checkpoint, error) {
	var c Checkpoint
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("checkpoint: %w", err)
	}
	if c.Seq <= 0 || len(c.HeadHash) != 64 || c.At == "" || c.Signature == "" {
		return c, errors.New("checkpoint: seq, head_hash, at and signature are required")
	}
	return c, nil
}

// Marshal renders a checkpoint as stored.
func (c Checkpoint) Marshal() []byte {
	b, _ := json.MarshalIndent(c, "", "  ")
	return append(b, '\n')
}

// SortCheckpoints orders checkpoints by sequence.
func SortCheckpoints(cps []Checkpoint) {
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Seq < cps[j].Seq })
}

// LoadOrCreateCheckpointKey reads the PEM ed25519 key at path, or creates one there (mode
// 0600) when the file does not exist: `otpatch dev` keeps its key in the data folder.
func LoadOrCreateCheckpointKey(path string) (ed25519.PrivateKey, error) {
	return signing.LoadOrCreateKey(path, "checkpoint key")
}

// ParseCheckpointKey reads a PEM (PKCS #8) ed25519 private key, as given in a file or in
// an environment variable (production: OTPATCH_CHECKPOINT_KEY or a file it names).
func ParseCheckpointKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	k, err := signing.ParsePrivate(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	return k, nil
}
