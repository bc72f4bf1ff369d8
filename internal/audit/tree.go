package audit

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The trail is a Merkle tree log in the sense of RFC 6962 / RFC 9162, as Certificate
// Transparency and Go's checksum database keep theirs: event seq N is leaf N-1, its leaf data
// is Leaf(), and the tree gives inclusion proofs (this event is in the log) and consistency
// proofs (this log extends that one, nothing rewritten). docs/audit-format.md specifies it
// for a verifier that does not run otpatch.

// Hasher is the RFC 6962 SHA-256 tree hasher: leaf = SHA-256(0x00 || data), node =
// SHA-256(0x01 || left || right).
var Hasher = rfc6962.DefaultHasher

// Ranges builds compact ranges of the tree.
var Ranges = &compact.RangeFactory{Hash: Hasher.HashChildren}

// leafData is the leaf encoding: every field, always present, in this order; details as the
// canonical JSON object it is stored as.
type leafData struct {
	Seq         int64           `json:"seq"`
	At          string          `json:"at"`
	Actor       string          `json:"actor"`
	Role        string          `json:"role"`
	Action      string          `json:"action"`
	SubjectType string          `json:"subject_type"`
	SubjectID   string          `json:"subject_id"`
	CampaignID  string          `json:"campaign_id"`
	PatchID     string          `json:"patch_id"`
	AssetID     string          `json:"asset_id"`
	RequestID   string          `json:"request_id"`
	WorkflowID  string          `json:"workflow_id"`
	Details     json.RawMessage `json:"details"`
}

// EmptyRoot is the root hash of the empty tree, SHA-256 of nothing.
func EmptyRoot() []byte { s := sha256.Sum256(nil); return s[:] }

// Root is the root hash of a compact range that starts at leaf 0.
func Root(r *compact.Range) []byte {
	h, _ := r.GetRootHash(nil)
	if h == nil {
		return EmptyRoot()
	}
	return h
}

// ErrMissingNode marks a subtree hash the log should hold and does not: the stored tree was
// damaged, which a check reports as a broken log (any other read error is a check that could
// not run).
var ErrMissingNode = errors.New("a node of the audit tree is missing")

// NodeReader reads the stored hashes of complete subtrees, in the order of ids; a missing
// node is an error.
type NodeReader func(ids []compact.NodeID) ([][]byte, error)

// RangeAt rebuilds the compact range [0, size) from stored nodes.
func RangeAt(size uint64, read NodeReader) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := read(ids)
	if err != nil {
		return nil, err
	}
	return Ranges.NewRange(0, size, hashes)
}

// InclusionProof is the audit path of leaf index in the tree of size, from stored nodes.
func InclusionProof(index, size uint64, read NodeReader) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("event %d is not in a log of %d events", index+1, size)
	}
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return rehash(n, read)
}

// ConsistencyProof proves that the tree of size2 extends the tree of size1.
func ConsistencyProof(size1, size2 uint64, read NodeReader) ([][]byte, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("a log of %d events cannot extend one of %d", size2, size1)
	}
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return rehash(n, read)
}

func rehash(n proof.Nodes, read NodeReader) ([][]byte, error) {
	if len(n.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes, err := read(n.IDs)
	if err != nil {
		return nil, err
	}
	return n.Rehash(hashes, Hasher.HashChildren)
}

// VerifyInclusion checks an inclusion proof against a root.
func VerifyInclusion(index, size uint64, leafHash []byte, path [][]byte, root []byte) error {
	return proof.VerifyInclusion(Hasher, index, size, leafHash, path, root)
}

// VerifyConsistency checks a consistency proof between two roots.
func VerifyConsistency(size1, size2 uint64, path [][]byte, root1, root2 []byte) error {
	if size1 == 0 {
		if len(path) != 0 {
			return errors.New("a consistency proof from the empty log must be empty")
		}
		return nil
	}
	return proof.VerifyConsistency(Hasher, size1, size2, path, root1, root2)
}
