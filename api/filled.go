package api

import "reflect"

// filled returns a copy of v in which every nil slice and map it holds is empty, so an answer
// says [] and {} where Go would write null: the document promises lists and objects, and a
// client generated from it need not test for null. v itself is not changed.
func filled(v any) any {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return v
	}
	cp := reflect.New(rv.Type()).Elem()
	cp.Set(rv)
	fill(cp, 0)
	return cp.Interface()
}

var bytesKind = reflect.Uint8

func fill(v reflect.Value, depth int) {
	if depth > 40 || !v.CanSet() {
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
		if v.Type().Elem().Kind() == bytesKind {
			return // bytes are a string in JSON (json.RawMessage, base64)
		}
		if v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
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
