package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

func init() {
	allowed["GET /api/v1/audit/key"] = []string{"vendor", "engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/audit/checkpoint"] = []string{"vendor", "engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/audit/proof/inclusion"] = []string{"engineer", "auditor", "admin"}
	allowed["GET /api/v1/audit/proof/consistency"] = []string{"engineer", "auditor", "admin"}
	allowed["GET /api/v1/audit/export"] = []string{"engineer", "auditor", "admin"}
}

// withCheckpoints attaches a checkpointer over the env's object store to its store.
func (e *env) withCheckpoints() *audit.Checkpointer {
	e.t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	cps, err := audit.NewObjectCheckpoints(context.Background(), e.objects, 0, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := audit.NewCheckpointer(audit.CheckpointerOptions{Key: key, Store: cps})
	if err != nil {
		e.t.Fatal(err)
	}
	e.store.SetCheckpointer(c)
	e.t.Cleanup(func() { e.store.SetCheckpointer(nil) })
	return c
}

// get fetches a path and returns status, content type and body.
func (e *env) get(path, token string) (int, string, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), b
}

// The checkpoint key is published; the newest checkpoint is served as a C2SP checkpoint note
// that golang.org/x/mod/sumdb/note opens with the published verifier key; inclusion and
// consistency proofs check against it; the verify endpoint compares the log with the
// checkpoints and reports a rewrite that the chain alone hides.
func TestAuditKeyAndCheckpointVerification(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	var p problemDoc
	if code := e.call("GET", "/api/v1/audit/key", e.tokens.Auditor, nil, &p); code != http.StatusNotFound || !strings.Contains(p.Detail, "not configured") {
		t.Fatalf("key without checkpoints: %d %q, want 404 saying so", code, p.Detail)
	}
	if code, _, _ := e.get("/api/v1/audit/checkpoint", e.tokens.Auditor); code != http.StatusNotFound {
		t.Fatalf("checkpoint without checkpoints configured: %d, want 404", code)
	}
	c := e.withCheckpoints()
	var key struct {
		Algorithm   string `json:"algorithm"`
		PublicKey   string `json:"public_key"`
		Fingerprint string `json:"fingerprint"`
		PEM         string `json:"public_key_pem"`
		Origin      string `json:"origin"`
		VKey        string `json:"vkey"`
	}
	if code := e.call("GET", "/api/v1/audit/key", e.tokens.Vendor, nil, &key); code != http.StatusOK {
		t.Fatalf("key: %d", code)
	}
	pub, err := signing.DecodePublic(key.PublicKey)
	if err != nil || !pub.Equal(c.PublicKey()) || key.Fingerprint != signing.Fingerprint(pub) || key.Algorithm != "ed25519" {
		t.Fatalf("published key %+v (%v) is not the checkpoint key %s", key, err, c.Fingerprint())
	}
	if fromPEM, err := signing.DecodePublic(key.PEM); err != nil || !fromPEM.Equal(pub) {
		t.Fatalf("public_key_pem does not hold the same key: %v", err)
	}
	code, ctype, body := e.get("/api/v1/audit/checkpoint", e.tokens.Auditor)
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("checkpoint: %d %s %s", code, ctype, body)
	}
	v, err := note.NewVerifier(key.VKey)
	if err != nil {
		t.Fatalf("vkey %q: %v", key.VKey, err)
	}
	n, err := note.Open(body, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open of the served checkpoint with the published vkey: %v\n%s", err, body)
	}
	lines := strings.Split(n.Text, "\n")
	size, _ := strconv.ParseInt(lines[1], 10, 64)
	root, _ := base64.StdEncoding.DecodeString(lines[2])
	if len(lines) != 4 || lines[0] != key.Origin || size < 1 || len(root) != 32 || lines[3] != "" {
		t.Fatalf("checkpoint text %q is not origin, size, root", n.Text)
	}
	// Every event proves into that checkpoint; a later log proves it extends it.
	for seq := int64(1); seq <= size; seq++ {
		var ip struct {
			Seq       int64    `json:"seq"`
			LeafIndex int64    `json:"leaf_index"`
			TreeSize  int64    `json:"tree_size"`
			Leaf      string   `json:"leaf"`
			Hashes    []string `json:"hashes"`
		}
		if code := e.call("GET", fmt.Sprintf("/api/v1/audit/proof/inclusion?seq=%d&tree_size=%d", seq, size), e.tokens.Auditor, nil, &ip); code != http.StatusOK {
			t.Fatalf("inclusion proof of %d: %d", seq, code)
		}
		path := make([][]byte, len(ip.Hashes))
		for i, h := range ip.Hashes {
			path[i], _ = hex.DecodeString(h)
		}
		if err := audit.VerifyInclusion(uint64(ip.LeafIndex), uint64(ip.TreeSize), audit.Hasher.HashLeaf([]byte(ip.Leaf)), path, root); err != nil || ip.Seq != seq {
			t.Fatalf("inclusion proof of %d does not verify against the checkpoint: %v", seq, err)
		}
	}
	appendTrail(t, e.store, 5)
	later, laterRoot, _ := e.store.AuditTreeHead(ctx)
	var cons struct {
		From   int64    `json:"from"`
		To     int64    `json:"to"`
		Hashes []string `json:"hashes"`
	}
	if code := e.call("GET", fmt.Sprintf("/api/v1/audit/proof/consistency?from=%d", size), e.tokens.Auditor, nil, &cons); code != http.StatusOK || cons.To != later {
		t.Fatalf("consistency proof: %d %+v", code, cons)
	}
	path := make([][]byte, len(cons.Hashes))
	for i, h := range cons.Hashes {
		path[i], _ = hex.DecodeString(h)
	}
	if err := audit.VerifyConsistency(uint64(size), uint64(later), path, root, laterRoot); err != nil {
		t.Fatalf("the consistency proof from the checkpoint to the log now does not verify: %v", err)
	}
	for _, bad := range []string{"/api/v1/audit/proof/inclusion?seq=0", "/api/v1/audit/proof/inclusion", "/api/v1/audit/proof/consistency", fmt.Sprintf("/api/v1/audit/proof/inclusion?seq=%d", later+1),
		"/api/v1/audit/proof/inclusion?seq=abc", fmt.Sprintf("/api/v1/audit/proof/consistency?from=%d&to=%d", later, size)} {
		if code := e.call("GET", bad, e.tokens.Auditor, nil, &p); code != http.StatusUnprocessableEntity || strings.Contains(p.Detail, "int64") {
			t.Errorf("%s: %d %q, want 422 in the reader's terms", bad, code, p.Detail)
		}
	}
	if code := e.call("GET", "/api/v1/audit/proof/inclusion?seq=1", e.tokens.Vendor, nil, &p); code != http.StatusForbidden {
		t.Errorf("a vendor read an inclusion proof (it carries an event): %d", code)
	}

	var res audit.Result
	if code := e.call("GET", "/api/v1/audit/verify", e.tokens.Auditor, nil, &res); code != http.StatusOK || !res.OK || res.Notes != 1 || res.NoteSize != size {
		t.Fatalf("verify: %d %+v; want OK against the checkpoint of %d", code, res, size)
	}
	// Rewrite event 2 and everything after it with recomputed chain hashes.
	evs, err := e.store.AuditEvents(ctx, store.AuditFilter{AfterSeq: 1, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	head, hash := int64(1), evs[0].PrevHash
	evs[0].Actor = "mallory"
	for _, ev := range evs {
		ev.Seal(head, hash)
		head, hash = ev.Seq, ev.Hash
		e.store.DB().Exec(`UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`, ev.Actor, ev.PrevHash, ev.Hash, ev.Seq)
	}
	e.store.DB().Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, head, hash)
	if code := e.call("GET", "/api/v1/audit/verify", e.tokens.Auditor, nil, &res); code != http.StatusOK || res.OK || res.BrokenAt != 1 || !strings.Contains(res.Problem, "signed checkpoint says") {
		t.Fatalf("verify after a rewrite: %d %+v; want the rewrite reported", code, res)
	}
}

// appendTrail writes n events alternating two actors and campaigns; it returns them.
func appendTrail(t *testing.T, st *store.Store, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := range n {
		ev := store.Event{Actor: "ed.eng", Role: "engineer", Action: "test.step", SubjectType: "test", SubjectID: fmt.Sprint(i),
			CampaignID: "cmp_a", PatchID: "pat_a", AssetID: fmt.Sprintf("ast_%d", i%3), Details: map[string]any{"i": i, "note": "a, \"quoted\"\nline"}}
		if i%2 == 1 {
			ev.Actor, ev.CampaignID, ev.Action = "otpatch", "cmp_b", "asset.state"
		}
		e, err := st.Append(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// Every filter, alone and together, with the cursor walking every page.
func TestAuditEventsQuery(t *testing.T) {
	e := newEnv(t, envOptions{})
	trail := appendTrail(t, e.store, 40)
	first, last := trail[0], trail[len(trail)-1]
	mid := trail[20]
	match := func(pred func(audit.Event) bool) []int64 {
		var out []int64
		for _, ev := range trail {
			if pred(ev) {
				out = append(out, ev.Seq)
			}
		}
		return out
	}
	tests := []struct {
		name  string
		query url.Values
		want  []int64
	}{
		{"actor", url.Values{"actor": {"otpatch"}, "after_seq": {fmt.Sprint(first.Seq - 1)}}, match(func(ev audit.Event) bool { return ev.Actor == "otpatch" })},
		{"after a sequence number", url.Values{"after_seq": {fmt.Sprint(mid.Seq)}, "campaign_id": {"cmp_a"}}, match(func(ev audit.Event) bool { return ev.Seq > mid.Seq && ev.CampaignID == "cmp_a" })},
		{"action and campaign", url.Values{"action": {"test.step"}, "campaign_id": {"cmp_a"}}, match(func(ev audit.Event) bool { return ev.Action == "test.step" })},
		{"patch and asset", url.Values{"patch_id": {"pat_a"}, "asset_id": {"ast_1"}}, match(func(ev audit.Event) bool { return ev.AssetID == "ast_1" })},
		{"from", url.Values{"from": {mid.At}, "campaign_id": {"cmp_b"}}, match(func(ev audit.Event) bool { return ev.At >= mid.At && ev.CampaignID == "cmp_b" })},
		{"from and to", url.Values{"from": {first.At}, "to": {mid.At}, "patch_id": {"pat_a"}}, match(func(ev audit.Event) bool { return ev.At < mid.At })},
		{"to, in another zone", url.Values{"to": {mustParse(t, mid.At).In(time.FixedZone("UTC-5", -5*3600)).Format(time.RFC3339Nano)}, "patch_id": {"pat_a"}}, match(func(ev audit.Event) bool { return ev.At < mid.At })},
		{"nothing", url.Values{"actor": {"nobody"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			q := tt.query
			q.Set("limit", "3")
			pages := 0
			for {
				var page struct {
					Items []audit.Event `json:"items"`
					Next  string        `json:"next"`
				}
				if code := e.call("GET", "/api/v1/audit/events?"+q.Encode(), e.tokens.Auditor, nil, &page); code != http.StatusOK {
					t.Fatalf("%s: %d", q.Encode(), code)
				}
				pages++
				for _, ev := range page.Items {
					got = append(got, ev.Seq)
				}
				if page.Next == "" {
					break
				}
				q.Set("after", page.Next)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("walked %v in %d pages, want %v", got, pages, tt.want)
			}
			if len(tt.want) > 3 && pages < 2 {
				t.Fatalf("%d events in one page of 3", len(got))
			}
			// The last page is full only when nothing follows it: no empty page at the end.
			if want := (len(tt.want) + 2) / 3; len(tt.want) > 0 && pages != want {
				t.Fatalf("%d events in %d pages of 3, want %d pages", len(got), pages, want)
			}
		})
	}
	_ = last

	// A campaign, patch or asset that otpatch does not know is a typo: refused, not answered
	// with an empty list. Ids named only by events (a patch upload's) are known.
	t.Run("unknown ids", func(t *testing.T) {
		for _, path := range []string{"/api/v1/audit/events", "/api/v1/audit/export"} {
			for _, name := range []string{"campaign_id", "patch_id", "asset_id"} {
				var p problemDoc
				code := e.call("GET", path+"?"+name+"=typo_1", e.tokens.Auditor, nil, &p)
				if code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != name || !strings.Contains(p.Errors[0].Message, "typo_1") {
					t.Errorf("GET %s?%s=typo_1: %d %+v", path, name, code, p)
				}
			}
		}
		var known []audit.Event
		if code := e.list("/api/v1/audit/events?asset_id=ast_pkg-hmi-01&actor=nobody", e.tokens.Auditor, &known); code != http.StatusOK || len(known) != 0 {
			t.Errorf("an asset with no matching events: %d, %d events", code, len(known))
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		var p problemDoc
		code := e.call("GET", "/api/v1/audit/events?from=yesterday&to=2026-01-01T00:00:00Z&after=x&limit=5000", e.tokens.Auditor, nil, &p)
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", code)
		}
		fields := map[string]bool{}
		for _, f := range p.Errors {
			fields[f.Field] = true
		}
		for _, f := range []string{"from", "after", "limit"} {
			if !fields[f] {
				t.Errorf("no error for %s in %+v", f, p.Errors)
			}
		}
		e.call("GET", "/api/v1/audit/events?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", e.tokens.Auditor, nil, &p)
		if len(p.Errors) != 1 || p.Errors[0].Field != "to" {
			t.Errorf("to before from: %+v", p.Errors)
		}
	})
}

func mustParse(t *testing.T, at string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// flushRecorder records how much of the body was written at each Flush.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushedAt []int
}

func (f *flushRecorder) Flush() {
	f.flushedAt = append(f.flushedAt, f.Body.Len())
	f.ResponseRecorder.Flush()
}

// The exports hold every selected event exactly as stored, and stream: the body is flushed
// page by page while the store is still being read.
func TestAuditExport(t *testing.T) {
	e := newEnv(t, envOptions{})
	trail := appendTrail(t, e.store, 2500)
	after := fmt.Sprint(trail[0].Seq - 1)
	want, err := e.store.AuditEvents(context.Background(), store.AuditFilter{AfterSeq: trail[0].Seq - 1, CampaignID: "cmp_b"})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, mustEvents(t, e.store, store.AuditFilter{AfterSeq: want[len(want)-1].Seq, CampaignID: "cmp_b"})...)
	if len(want) != 1250 {
		t.Fatalf("%d cmp_b events", len(want))
	}
	h := api.New(api.Deps{Store: e.store, Objects: e.objects})
	export := func(t *testing.T, format string) *flushRecorder {
		req := httptest.NewRequest("GET", "/api/v1/audit/export?format="+format+"&campaign_id=cmp_b&after_seq="+after, nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens.Auditor)
		rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("export %s: %d %s", format, rec.Code, rec.Body)
		}
		// 1250 events in pages of 1000: flushed after the first page, before the end.
		if len(rec.flushedAt) < 2 || rec.flushedAt[0] == 0 || rec.flushedAt[0] >= rec.Body.Len() {
			t.Fatalf("flushes at %v of %d bytes: the export was not streamed page by page", rec.flushedAt, rec.Body.Len())
		}
		return rec
	}
	t.Run("jsonl", func(t *testing.T) {
		rec := export(t, "jsonl")
		if ct := rec.Header().Get("Content-Type"); ct != "application/jsonl" {
			t.Errorf("Content-Type %q", ct)
		}
		sc := bufio.NewScanner(bytes.NewReader(rec.Body.Bytes()))
		i := 0
		for sc.Scan() {
			var ev audit.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			if i >= len(want) || ev != want[i] {
				t.Fatalf("line %d = %+v, want %+v", i+1, ev, want[min(i, len(want)-1)])
			}
			if ev.ComputeHash() != ev.Hash {
				t.Fatalf("line %d does not hash to its stored hash: the export changed the event", i+1)
			}
			i++
		}
		if i != len(want) {
			t.Fatalf("%d lines, want %d", i, len(want))
		}
	})
	t.Run("csv", func(t *testing.T) {
		rec := export(t, "csv")
		rows, err := csv.NewReader(bytes.NewReader(rec.Body.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(want)+1 || strings.Join(rows[0], ",") != "seq,at,actor,role,action,subject_type,subject_id,campaign_id,patch_id,asset_id,request_id,workflow_id,details,prev_hash,hash" {
			t.Fatalf("%d rows, header %v", len(rows), rows[0])
		}
		for i, r := range rows[1:] {
			w := want[i]
			ev := audit.Event{Seq: w.Seq, At: r[1], Actor: r[2], Role: r[3], Action: r[4], SubjectType: r[5], SubjectID: r[6], CampaignID: r[7],
				PatchID: r[8], AssetID: r[9], RequestID: r[10], WorkflowID: r[11], Details: r[12], PrevHash: r[13], Hash: r[14]}
			if r[0] != fmt.Sprint(w.Seq) || ev != w {
				t.Fatalf("row %d = %v, want %+v", i+1, r, w)
			}
		}
	})
	t.Run("bad format", func(t *testing.T) {
		var p problemDoc
		if code := e.call("GET", "/api/v1/audit/export?format=xml", e.tokens.Auditor, nil, &p); code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "format" {
			t.Fatalf("format=xml: %d %+v", code, p)
		}
	})
	t.Run("exports are audited", func(t *testing.T) {
		evs := mustEvents(t, e.store, store.AuditFilter{Action: "audit.exported"})
		if len(evs) < 2 || evs[0].Actor == "" {
			t.Fatalf("audit.exported events: %+v", evs)
		}
	})
}

func mustEvents(t *testing.T, st *store.Store, f store.AuditFilter) []audit.Event {
	t.Helper()
	evs, err := st.AuditEvents(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
