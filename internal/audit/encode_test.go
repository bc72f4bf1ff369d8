package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// slowChain and slowLeaf are the definitions: what encoding/json writes.
func slowChain(e Event) string {
	b, _ := json.Marshal([]any{e.Seq, e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID,
		e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID, e.Details})
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write([]byte{'\n'})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// The direct encoding writes exactly what encoding/json writes, for any field values:
// escapes, HTML characters, non-ASCII, invalid UTF-8, details that are not JSON or not
// compact.
func FuzzEncodingMatchesJSON(f *testing.F) {
	for _, s := range [][2]string{
		{"erin-engineer", `{"a":1}`},
		{`a "quoted" \ name`, `{"note":"a, \"quoted\"\nline","n":[1,2]}`},
		{"<script>&", `{"html":"<b>&</b>"}`},
		{"Jürg Müller", `{"x":"\u2028"}`},
		{"tab\there", `{ "spaced" : true }`},
		{"\xff\xfe", `not json`},
		{"", ``},
	} {
		f.Add(int64(7), s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, seq int64, text, details string) {
		e := Event{Seq: seq, At: "2026-12-06T12:00:00.000000Z", Actor: text, Role: "engineer", Action: "x." + text,
			SubjectType: "asset", SubjectID: text, CampaignID: "cmp_1", Details: details, PrevHash: "ab"}
		if got, want := e.ComputeHash(), slowChain(e); got != want {
			t.Fatalf("chain hash of %q / %q: %s, encoding/json gives %s", text, details, got, want)
		}
		if got, want := e.Leaf(), e.leafJSON(); !bytes.Equal(got, want) {
			t.Fatalf("leaf of %q / %q:\n%s\nencoding/json gives\n%s", text, details, got, want)
		}
		want := sha256.Sum256(append([]byte{0}, e.leafJSON()...))
		if !bytes.Equal(e.LeafHash(), want[:]) {
			t.Fatal("LeafHash is not SHA-256(0x00 || leaf)")
		}
	})
}
