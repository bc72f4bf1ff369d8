package audit

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// chain builds n sealed events as the store writes them.
func chain(t *testing.T, n int) []Event {
	t.Helper()
	at := time.Date(2025, 6, 10, 1, 0, 0, 0, time.UTC)
	var out []Event
	head, hash := int64(0), ""
	for i := range n {
		details, err := CanonicalDetails(map[string]any{"step": i, "asset": fmt.Sprintf("ast_%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		e := Event{At: FormatTime(at.Add(time.Duration(i) * time.Minute)), Actor: "otpatch", Role: "system",
			Action: "asset.state", SubjectType: "asset", SubjectID: fmt.Sprintf("ast_%d", i), CampaignID: "cmp_1",
			AssetID: fmt.Sprintf("ast_%d", i), WorkflowID: "campaign-cmp_1", Details: details}
		e.Seal(head, hash)
		head, hash = e.Seq, e.Hash
		out = append(out, e)
	}
	return out
}

// verify runs the verifier over events and, when head is not nil, the recorded head.
func verify(events []Event, head *Event) Result {
	v := NewVerifier()
	for _, e := range events {
		if !v.Add(e) {
			break
		}
	}
	if head != nil {
		v.CheckHead(head.Seq, head.Hash)
	}
	return v.Result()
}

func TestVerifierDetectsTampering(t *testing.T) {
	const n = 6
	tests := []struct {
		name string
		// tamper changes the rows and returns them with the head the store recorded.
		tamper   func(rows []Event, head Event) ([]Event, Event)
		brokenAt int64 // 0: the chain must verify
		problem  string
	}{
		{
			name:   "intact",
			tamper: func(rows []Event, head Event) ([]Event, Event) { return rows, head },
		},
		{
			name: "field changed",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				rows[2].Actor = "mallory"
				return rows, head
			},
			brokenAt: 3, problem: "event 3 was altered",
		},
		{
			name: "details changed",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				rows[3].Details = strings.Replace(rows[3].Details, "ast_3", "ast_9", 1)
				return rows, head
			},
			brokenAt: 4, problem: "event 4 was altered",
		},
		{
			name: "time changed",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				rows[0].At = "2025-06-09T01:00:00.000000Z"
				return rows, head
			},
			brokenAt: 1, problem: "event 1 was altered",
		},
		{
			name: "field changed and its hash recomputed",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				rows[2].Action = "asset.skipped"
				rows[2].Hash = rows[2].ComputeHash()
				return rows, head
			},
			brokenAt: 4, problem: "event 4 does not link to event 3",
		},
		{
			name: "row deleted",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				return slices.Delete(rows, 2, 3), head
			},
			brokenAt: 3, problem: "expected event 3 next but found 4",
		},
		{
			name: "first row deleted",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				return rows[1:], head
			},
			brokenAt: 1, problem: "expected event 1 next but found 2",
		},
		{
			name: "two rows' content swapped, seq kept",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				rows[2], rows[3] = rows[3], rows[2]
				rows[2].Seq, rows[3].Seq = 3, 4
				return rows, head
			},
			brokenAt: 3, problem: "event 3 does not link to event 2",
		},
		{
			name: "two rows read out of order",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				rows[2], rows[3] = rows[3], rows[2]
				return rows, head
			},
			brokenAt: 3, problem: "expected event 3 next but found 4",
		},
		{
			name: "forged row appended with its own hash but not linked",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				f := rows[n-1]
				f.Seq, f.Actor, f.Action, f.PrevHash = n+1, "mallory", "campaign.approved", strings.Repeat("f", 64)
				f.Hash = f.ComputeHash()
				return append(rows, f), f
			},
			brokenAt: n + 1, problem: fmt.Sprintf("event %d does not link to event %d", n+1, n),
		},
		{
			name: "forged row inserted in the middle, later rows renumbered",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				f := Event{Seq: 4, At: rows[2].At, Actor: "mallory", Role: "approver", Action: "campaign.approved",
					SubjectType: "campaign", SubjectID: "cmp_1", CampaignID: "cmp_1", Details: "{}", PrevHash: GenesisHash}
				f.Hash = f.ComputeHash()
				out := append(slices.Clone(rows[:3]), f)
				for _, r := range rows[3:] {
					r.Seq++
					out = append(out, r)
				}
				return out, out[len(out)-1]
			},
			brokenAt: 4, problem: "event 4 does not link to event 3",
		},
		{
			name: "forged row inserted in the middle, linked to its predecessor",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				f := Event{At: rows[2].At, Actor: "mallory", Role: "approver", Action: "campaign.approved",
					SubjectType: "campaign", SubjectID: "cmp_1", CampaignID: "cmp_1", Details: "{}"}
				f.Seal(rows[2].Seq, rows[2].Hash)
				out := append(slices.Clone(rows[:3]), f)
				for _, r := range rows[3:] {
					r.Seq++
					out = append(out, r)
				}
				return out, out[len(out)-1]
			},
			brokenAt: 5, problem: "event 5 does not link to event 4",
		},
		{
			name: "tail truncated",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				return rows[:n-2], head
			},
			brokenAt: n - 1, problem: fmt.Sprintf("the chain ends at event %d but the recorded head is event %d", n-2, n),
		},
		{
			name: "every row deleted",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				return nil, head
			},
			brokenAt: 1, problem: "events were removed from the tail",
		},
		{
			name: "forged row appended and linked, head not moved",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				f := Event{At: rows[n-1].At, Actor: "mallory", Role: "approver", Action: "campaign.approved",
					SubjectType: "campaign", SubjectID: "cmp_1", CampaignID: "cmp_1", Details: "{}"}
				f.Seal(rows[n-1].Seq, rows[n-1].Hash)
				return append(rows, f), head
			},
			brokenAt: n + 1, problem: fmt.Sprintf("the recorded head is event %d", n),
		},
		{
			name: "chain rewritten from event 3 on with every hash recomputed",
			tamper: func(rows []Event, head Event) ([]Event, Event) {
				rows[2].Actor = "mallory"
				for i := 2; i < len(rows); i++ {
					rows[i].Seal(rows[i-1].Seq, rows[i-1].Hash)
				}
				return rows, head
			},
			brokenAt: n, problem: "does not match the recorded head",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := chain(t, n)
			events, head := tt.tamper(rows, rows[n-1])
			res := verify(events, &head)
			if tt.brokenAt == 0 {
				if !res.OK || res.BrokenAt != 0 || res.Problem != "" {
					t.Fatalf("Result = %+v, want OK", res)
				}
				if res.Events != n || res.HeadSeq != n || res.HeadHash != head.Hash {
					t.Fatalf("Result = %+v, want %d events ending at %s", res, n, head.Hash)
				}
				return
			}
			if res.OK {
				t.Fatalf("Result = %+v: tampering went unnoticed", res)
			}
			if res.BrokenAt != tt.brokenAt {
				t.Errorf("BrokenAt = %d, want %d (%s)", res.BrokenAt, tt.brokenAt, res.Problem)
			}
			if !strings.Contains(res.Problem, tt.problem) {
				t.Errorf("Problem = %q, want it to say %q", res.Problem, tt.problem)
			}
			if !strings.Contains(res.Problem, "recorded head") && res.Events != tt.brokenAt-1 {
				t.Errorf("Events = %d verified before the break, want %d", res.Events, tt.brokenAt-1)
			}
		})
	}
}

func TestVerifierEmptyChain(t *testing.T) {
	tests := []struct {
		name     string
		seq      int64
		hash     string
		ok       bool
		brokenAt int64
	}{
		{"fresh store", 0, "", true, 0},
		{"head says events exist", 3, strings.Repeat("a", 64), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier()
			v.CheckHead(tt.seq, tt.hash)
			res := v.Result()
			if res.OK != tt.ok || res.BrokenAt != tt.brokenAt || res.Events != 0 {
				t.Fatalf("Result = %+v, want OK=%v BrokenAt=%d", res, tt.ok, tt.brokenAt)
			}
		})
	}
}

func TestVerifierReportsOnlyTheFirstBreak(t *testing.T) {
	rows := chain(t, 5)
	rows[1].Actor = "mallory"
	rows[3].Actor = "mallory"
	v := NewVerifier()
	var accepted []bool
	for _, e := range rows {
		accepted = append(accepted, v.Add(e))
	}
	v.CheckHead(99, "x")
	if want := []bool{true, false, false, false, false}; !slices.Equal(accepted, want) {
		t.Errorf("Add returned %v, want %v: once broken, nothing more is accepted", accepted, want)
	}
	if res := v.Result(); res.BrokenAt != 2 || !strings.Contains(res.Problem, "event 2 was altered") {
		t.Errorf("Result = %+v, want the first break (event 2) reported", res)
	}
}

// Every field of an event is covered by its hash, so changing any one is detected.
func TestComputeHashCoversEveryField(t *testing.T) {
	base := chain(t, 1)[0]
	changes := map[string]func(e *Event){
		"seq":          func(e *Event) { e.Seq = 2 },
		"at":           func(e *Event) { e.At = FormatTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) },
		"actor":        func(e *Event) { e.Actor = "x" },
		"role":         func(e *Event) { e.Role = "x" },
		"action":       func(e *Event) { e.Action = "x" },
		"subject_type": func(e *Event) { e.SubjectType = "x" },
		"subject_id":   func(e *Event) { e.SubjectID = "x" },
		"campaign_id":  func(e *Event) { e.CampaignID = "x" },
		"patch_id":     func(e *Event) { e.PatchID = "x" },
		"asset_id":     func(e *Event) { e.AssetID = "x" },
		"request_id":   func(e *Event) { e.RequestID = "x" },
		"workflow_id":  func(e *Event) { e.WorkflowID = "x" },
		"details":      func(e *Event) { e.Details = `{"x":1}` },
		"prev_hash":    func(e *Event) { e.PrevHash = strings.Repeat("1", 64) },
		// Moving text from one field to the next must not give the same encoding.
		"boundary": func(e *Event) { e.Actor, e.Role = e.Actor+e.Role[:1], e.Role[1:] },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			e := base
			change(&e)
			if e.ComputeHash() == base.Hash {
				t.Errorf("changing %s leaves the hash unchanged", name)
			}
		})
	}
	if base.ComputeHash() != base.Hash {
		t.Error("ComputeHash is not deterministic")
	}
}

func TestSeal(t *testing.T) {
	var e Event
	e.Seal(0, "")
	if e.Seq != 1 || e.PrevHash != GenesisHash || e.Hash != e.ComputeHash() {
		t.Errorf("first event sealed as seq %d prev %s; want seq 1 linked to the genesis hash", e.Seq, e.PrevHash)
	}
	var next Event
	next.Seal(e.Seq, e.Hash)
	if next.Seq != 2 || next.PrevHash != e.Hash {
		t.Errorf("second event sealed as seq %d prev %s; want seq 2 linked to %s", next.Seq, next.PrevHash, e.Hash)
	}
}

func TestCanonicalDetails(t *testing.T) {
	type step struct {
		Zone  string `json:"zone"`
		Asset string `json:"asset"`
	}
	tests := []struct {
		name    string
		in      any
		want    string
		wantErr bool
	}{
		{name: "nil", in: nil, want: "{}"},
		{name: "keys sorted at every level", in: map[string]any{"b": 1, "a": map[string]any{"z": true, "y": nil}}, want: `{"a":{"y":null,"z":true},"b":1}`},
		{name: "struct fields sorted by name", in: step{Zone: "z1", Asset: "a1"}, want: `{"asset":"a1","zone":"z1"}`},
		{name: "large integers kept exactly", in: map[string]any{"size": int64(math.MaxInt64)}, want: `{"size":9223372036854775807}`},
		{name: "times in RFC 3339", in: map[string]any{"window_start": time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC)}, want: `{"window_start":"2025-03-30T00:00:00Z"}`},
		{name: "not encodable", in: map[string]any{"c": make(chan int)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalDetails(tt.in)
			if tt.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "audit details:") {
					t.Fatalf("CanonicalDetails = %q, %v; want an \"audit details:\" error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CanonicalDetails = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	got := FormatTime(time.Date(2025, 3, 30, 3, 4, 5, 123456789, zurich))
	if want := "2025-03-30T01:04:05.123456Z"; got != want {
		t.Errorf("FormatTime = %q, want %q (UTC, truncated to microseconds)", got, want)
	}
}
