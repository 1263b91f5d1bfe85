package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	// A type may decode itself without importing yaml.v3 (hierarchy.Path: a string or a list).
	obsoleteUnmarshalerType = reflect.TypeFor[interface{ UnmarshalYAML(func(any) error) error }]()
	durationType            = reflect.TypeFor[time.Duration]()
)

// checkKeys walks a YAML document against the Go type it decodes into and reports the first
// mapping key that no field takes, or the first value that is not of its key's kind (naming
// key and line, where yaml.v3 would say "cannot unmarshal !!str … into time.Duration"). yaml.v3's
// KnownFields stops at types with their own UnmarshalYAML (Tenant has one, for its defaults),
// so the check is done here, once, for all. Durations may be written in days ("90d"): they are
// rewritten in the document as Go durations before it is decoded. lines, when not nil,
// receives the line of every key by its path ("tenants[0].mode").
func checkKeys(n *yaml.Node, t reflect.Type, path string, lines map[string]int) error {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && path != "" {
		return checkScalar(n, t, path)
	}
	// Types that decode themselves check their own keys (safety.Policy does), except Tenant,
	// whose UnmarshalYAML only adds defaults.
	if t != reflect.TypeFor[Tenant]() && reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a type mismatch; the decoder reports it
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			if tag == "" {
				tag = strings.ToLower(f.Name)
			}
			fields[tag] = f.Type
			names = append(names, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue // merge key
			}
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown key %q in %s (known: %s)", k.Line, k.Value, orTop(path), strings.Join(names, ", "))
			}
			if lines != nil {
				lines[join(path, k.Value)] = k.Line
			}
			if err := checkKeys(v, ft, join(path, k.Value), lines); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				if lines != nil {
					lines[fmt.Sprintf("%s[%d]", path, i)] = c.Line
				}
				if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if lines != nil {
					lines[join(path, n.Content[i].Value)] = n.Content[i].Line
				}
				if err := checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), lines); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// checkScalar checks that a scalar value decodes into t, and rewrites a duration in days as a
// Go duration. A null (an empty value) keeps the default.
func checkScalar(n *yaml.Node, t reflect.Type, path string) error {
	if n.Tag == "!!null" {
		return nil
	}
	if t == durationType {
		d, err := ParseDuration(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: %s: %q is not a duration (e.g. 30s, 10m, 36h, 7d)", n.Line, path, n.Value)
		}
		n.Value, n.Tag, n.Style = d.String(), "!!str", 0
		return nil
	}
	var want string
	switch t.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		want = "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.String:
		return nil
	case reflect.Struct, reflect.Slice, reflect.Map:
		if reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(obsoleteUnmarshalerType) {
			return nil // it reads scalars itself (Date, Size, hierarchy.Path) and says what it wants
		}
		return fmt.Errorf("line %d: %s: %q is a single value; a %s is expected here", n.Line, path, n.Value, shape(t))
	default:
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		return fmt.Errorf("line %d: %s: %q is not %s", n.Line, path, n.Value, want)
	}
	return nil
}

func shape(t reflect.Type) string {
	if t.Kind() == reflect.Slice {
		return "list ([a, b] or - items)"
	}
	return "block of keys"
}

// ParseDuration reads a duration as Go writes it (90m, 36h, 1h30m) or in whole or decimal
// days (90d, 1.5d), as config values and command-line flags such as --older-than accept it.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 100*365 {
			return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 10m, 36h, 7d)", s)
		}
		return time.Duration(f * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 10m, 36h, 7d)", s)
	}
	return d, nil
}
