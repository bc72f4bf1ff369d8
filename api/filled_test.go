package api

import (
	"encoding/json"
	"reflect"
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

func TestFilledRecursiveTypes(t *testing.T) {
	type node struct {
		Name     string `json:"name"`
		Children []node `json:"children"`
	}
	b, err := json.Marshal(filled(node{Name: "a", Children: []node{{Name: "b"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"a","children":[{"name":"b","children":[]}]}`; string(b) != want {
		t.Errorf("filled: got %s, want %s", b, want)
	}
	type plain struct {
		N int `json:"n"`
	}
	if mayHoldNil(reflect.TypeFor[[2]plain]()) || !mayHoldNil(reflect.TypeFor[[]plain]()) {
		t.Error("mayHoldNil: an array of plain structs holds no nil; a slice of them may be nil")
	}
}
