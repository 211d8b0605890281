package sdk

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// DecodeConfig decodes a plugin instance's JSON configuration (what a
// factory receives) into v, a pointer to the author's config struct, and
// refuses anything it does not understand. Every error wraps
// ErrInvalidConfig and names the offending field:
//
//   - a field that v has no place for ("unknown field \"off_peak.cap\"");
//   - a value of the wrong type ("field \"points_per_yuan\": got number 1.5, want int64");
//   - anything but exactly one JSON object (empty input counts as {}).
//
// Fields already set in v are kept when the configuration omits them, so
// set defaults before calling. Range checks are the author's: validate
// after decoding and wrap those mistakes in ErrInvalidConfig too.
func DecodeConfig(config []byte, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || rv.IsNil() {
		// The author's bug, not the operator's: no ErrInvalidConfig.
		return fmt.Errorf("sdk: DecodeConfig needs a non-nil pointer, got %T", v)
	}
	trimmed := bytes.TrimSpace(config)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: want a JSON object, got %s", ErrInvalidConfig, describeJSON(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return configError(err, trimmed, v)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON object at byte %d", ErrInvalidConfig, dec.InputOffset())
	}
	if _, err := dec.Token(); err == nil {
		return fmt.Errorf("%w: trailing data after the JSON object at byte %d", ErrInvalidConfig, dec.InputOffset())
	}
	return nil
}

// configError turns an encoding/json error into one an operator can act on.
func configError(err error, raw []byte, v any) error {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return fmt.Errorf("%w: got %s, want %s", ErrInvalidConfig, typeErr.Value, typeName(typeErr.Type))
		}
		return fmt.Errorf("%w: field %q: got %s, want %s", ErrInvalidConfig, field, typeErr.Value, typeName(typeErr.Type))
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("%w: not valid JSON at byte %d: %s", ErrInvalidConfig, syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: not valid JSON: the object is cut short", ErrInvalidConfig)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, `json: unknown field "`); ok {
		name = strings.TrimSuffix(name, `"`)
		if name, err := strconv.Unquote(`"` + name + `"`); err == nil {
			var doc any
			if json.Unmarshal(raw, &doc) == nil {
				if path, ok := unknownFieldPath(reflect.TypeOf(v), doc, "", name); ok {
					return fmt.Errorf("%w: unknown field %q", ErrInvalidConfig, path)
				}
			}
			return fmt.Errorf("%w: unknown field %q", ErrInvalidConfig, name)
		}
	}
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.TrimPrefix(msg, "json: "))
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer (" + t.String() + ")"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// describeJSON names the kind of JSON value that starts raw.
func describeJSON(raw []byte) string {
	switch raw[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		return "a number"
	}
	return "something that is not JSON"
}

// unknownFieldPath finds, in the decoded document doc, the key called name
// that type t has no field for, and returns its dotted path. encoding/json
// reports only the key itself; with nested objects the path is what tells
// an operator where to look.
func unknownFieldPath(t reflect.Type, doc any, path, name string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) ||
		reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return "", false // decodes itself: its own error says what is wrong
	}
	join := func(key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return "", false
		}
		fields := jsonFields(t)
		for _, key := range sortedKeys(obj) {
			ft, known := lookupField(fields, key)
			if !known {
				if key == name {
					return join(key), true
				}
				continue
			}
			if p, ok := unknownFieldPath(ft, obj[key], join(key), name); ok {
				return p, true
			}
		}
	case reflect.Map:
		obj, ok := doc.(map[string]any)
		if !ok {
			return "", false
		}
		for _, key := range sortedKeys(obj) {
			if p, ok := unknownFieldPath(t.Elem(), obj[key], join(key), name); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := doc.([]any)
		if !ok {
			return "", false
		}
		for i, el := range arr {
			if p, ok := unknownFieldPath(t.Elem(), el, path+"["+strconv.Itoa(i)+"]", name); ok {
				return p, true
			}
		}
	}
	return "", false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonFields lists the JSON names of t's fields the way encoding/json sees
// them, promoting the fields of untagged embedded structs (shallower fields
// win).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type, depth int, seen map[string]int)
	walk = func(t reflect.Type, depth int, seen map[string]int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					walk(et, depth+1, seen)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if d, ok := seen[name]; ok && d <= depth {
				continue
			}
			seen[name] = depth
			out[name] = ft
		}
	}
	walk(t, 0, map[string]int{})
	return out
}

// lookupField matches a key like encoding/json: exactly, else ignoring case.
func lookupField(fields map[string]reflect.Type, key string) (reflect.Type, bool) {
	if ft, ok := fields[key]; ok {
		return ft, true
	}
	for name, ft := range fields {
		if strings.EqualFold(name, key) {
			return ft, true
		}
	}
	return nil, false
}
