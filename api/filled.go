package api

import (
	"reflect"
	"sync"
)

// filled returns a copy of v in which every nil slice and map it holds is empty, so an answer
// says [] and {} where Go would write null: the document promises lists and objects, and a
// client generated from it need not test for null. v itself is not changed.
//
// Only values whose type can hold a nil slice or map are walked, and within them only the parts
// that can: most answers (an audit page, say) are written as they are, at no cost.
func filled(v any) any {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || !mayHoldNil(rv.Type()) {
		return v
	}
	cp := reflect.New(rv.Type()).Elem()
	cp.Set(rv)
	fill(cp, 0)
	return cp.Interface()
}

// mayHold caches mayHoldNil by type.
var mayHold sync.Map // reflect.Type → bool

// mayHoldNil reports whether a value of type t can hold a nil slice (other than bytes) or map
// that JSON would write as null. An interface may hold anything.
func mayHoldNil(t reflect.Type) bool {
	if b, ok := mayHold.Load(t); ok {
		return b.(bool)
	}
	b := holdsNil(t, map[reflect.Type]bool{})
	mayHold.Store(t, b)
	return b
}

// holdsNil is mayHoldNil without the cache; visiting holds the types being looked at, so a
// recursive type is decided by its other parts.
func holdsNil(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if visiting[t] {
		return false
	}
	visiting[t] = true
	defer delete(visiting, t)
	switch t.Kind() {
	case reflect.Interface, reflect.Map:
		return true
	case reflect.Slice:
		return t.Elem().Kind() != reflect.Uint8
	case reflect.Pointer, reflect.Array:
		return holdsNil(t.Elem(), visiting)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsNil(f.Type, visiting) {
				return true
			}
		}
	}
	return false
}

func fill(v reflect.Value, depth int) {
	if depth > 40 || !v.CanSet() || !mayHoldNil(v.Type()) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Type().Elem() == timeType {
			return
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(v.Elem())
		fill(n.Elem(), depth+1)
		v.Set(n)
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		e := v.Elem()
		c := reflect.New(e.Type()).Elem()
		c.Set(e)
		fill(c, depth+1)
		v.Set(c)
	case reflect.Struct:
		if v.Type() == timeType {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes are a string in JSON (json.RawMessage, base64)
		}
		if v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		if !mayHoldNil(v.Type().Elem()) {
			return // its items are written as they are
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(n, v)
		for i := range n.Len() {
			fill(n.Index(i), depth+1)
		}
		v.Set(n)
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
			return
		}
		if !mayHoldNil(v.Type().Elem()) {
			return
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			fill(e, depth+1)
			n.SetMapIndex(iter.Key(), e)
		}
		v.Set(n)
	}
}
