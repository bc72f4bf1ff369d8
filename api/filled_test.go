package api

import (
	"encoding/json"
	"testing"
	"time"
)

func TestFilledWritesEmptyListsNotNull(t *testing.T) {
	type inner struct {
		Tags []string          `json:"tags"`
		Meta map[string]string `json:"meta"`
	}
	type doc struct {
		Items   []inner          `json:"items"`
		Ptr     *inner           `json:"ptr"`
		Nil     *inner           `json:"nil"`
		Raw     json.RawMessage  `json:"raw,omitempty"`
		Any     any              `json:"any"`
		At      time.Time        `json:"at"`
		ByName  map[string]inner `json:"by_name"`
		private []string
	}
	in := doc{Items: []inner{{}}, Ptr: &inner{}, Any: inner{}, ByName: map[string]inner{"a": {}}}
	b, err := json.Marshal(filled(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"items":[{"tags":[],"meta":{}}],"ptr":{"tags":[],"meta":{}},"nil":null,"any":{"tags":[],"meta":{}},"at":"0001-01-01T00:00:00Z","by_name":{"a":{"tags":[],"meta":{}}}}`
	if string(b) != want {
		t.Errorf("filled:\n got %s\nwant %s", b, want)
	}
	if in.Items[0].Tags != nil || in.Ptr.Tags != nil {
		t.Error("filled changed its argument")
	}
}
