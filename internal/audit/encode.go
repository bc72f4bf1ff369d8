package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
)

// The chain hash and the leaf are defined by what encoding/json writes (ComputeHash, Leaf).
// Verifying a million events spends most of its time there, so these write the same bytes
// directly when every string is plain ASCII that encoding/json copies as it is (quotes and
// backslashes escaped) and fall back to encoding/json for anything else: the result is the
// same by construction, and FuzzEncodingMatchesJSON checks it.

// appendPlainString appends s quoted as encoding/json writes it, if s holds only printable
// ASCII other than < > & (which it escapes as \u003c, \u003e, \u0026); ok is false otherwise.
func appendPlainString(dst []byte, s string) ([]byte, bool) {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c >= 0x80 || c == '<' || c == '>' || c == '&':
			return dst, false
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"'), true
}

// plainJSON reports whether raw is JSON that encoding/json would embed unchanged as a
// json.RawMessage: valid, compact (no whitespace outside strings), with no < > & and nothing
// outside ASCII.
func plainJSON(raw string) bool {
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= 0x80 || c == '<' || c == '>' || c == '&':
			return false
		case inString && c == '\\':
			i++ // the escaped character
		case c == '"':
			inString = !inString
		case !inString && c <= ' ':
			return false
		}
	}
	return json.Valid([]byte(raw))
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// chainBytes is the JSON array the chain hashes: [seq, at, actor, role, action, subject_type,
// subject_id, campaign_id, patch_id, asset_id, request_id, workflow_id, details].
func (e Event) chainBytes(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, e.Seq, 10)
	ok := true
	for _, s := range [...]string{e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID, e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID, e.Details} {
		dst = append(dst, ',')
		if dst, ok = appendPlainString(dst, s); !ok {
			break
		}
	}
	if ok {
		return append(dst, ']')
	}
	b, _ := json.Marshal([]any{e.Seq, e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID,
		e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID, e.Details})
	return append(dst[:start], b...)
}

// leafKeys are the leaf's keys in order, each with the punctuation before its value.
var leafKeys = [...]string{`,"at":`, `,"actor":`, `,"role":`, `,"action":`, `,"subject_type":`, `,"subject_id":`,
	`,"campaign_id":`, `,"patch_id":`, `,"asset_id":`, `,"request_id":`, `,"workflow_id":`}

// leafBytes appends the leaf data (Leaf).
func (e Event) leafBytes(dst []byte) []byte {
	start := len(dst)
	if plainJSON(e.Details) {
		dst = append(dst, `{"seq":`...)
		dst = strconv.AppendInt(dst, e.Seq, 10)
		ok := true
		for i, s := range [...]string{e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID, e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID} {
			dst = append(dst, leafKeys[i]...)
			if dst, ok = appendPlainString(dst, s); !ok {
				break
			}
		}
		if ok {
			dst = append(dst, `,"details":`...)
			dst = append(dst, e.Details...)
			return append(dst, '}')
		}
	}
	return append(dst[:start], e.leafJSON()...)
}

// leafJSON is the leaf as encoding/json writes it.
func (e Event) leafJSON() []byte {
	d := json.RawMessage(e.Details)
	if !json.Valid(d) {
		// Details are canonical JSON when sealed; a stored value that is not JSON (altered)
		// still gets a leaf, as a string, so that verification reports the mismatch.
		d, _ = json.Marshal(e.Details)
	}
	b, _ := json.Marshal(leafData{e.Seq, e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID,
		e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID, d})
	return b
}

// ComputeHash is SHA-256 over the previous hash, a newline and the event's chain encoding: a
// JSON array of its fields in a fixed order.
func (e Event) ComputeHash() string {
	bp := bufPool.Get().(*[]byte)
	buf := append((*bp)[:0], e.PrevHash...)
	buf = append(buf, '\n')
	buf = e.chainBytes(buf)
	sum := sha256.Sum256(buf)
	*bp = buf
	bufPool.Put(bp)
	return hex.EncodeToString(sum[:])
}

// Leaf is the event's leaf data: one compact JSON object with every field in a fixed order.
// A verifier hashes these bytes as given; it never has to re-encode them.
func (e Event) Leaf() []byte { return e.leafBytes(nil) }

// LeafHash is the RFC 6962 hash of the event's leaf: SHA-256(0x00 || leaf).
func (e Event) LeafHash() []byte {
	bp := bufPool.Get().(*[]byte)
	buf := e.leafBytes(append((*bp)[:0], 0))
	sum := sha256.Sum256(buf)
	*bp = buf
	bufPool.Put(bp)
	return sum[:]
}
