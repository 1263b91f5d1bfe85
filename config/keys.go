package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
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
//
// It reports every mistake it finds, in the document's order, so a user fixes them in one go.
// A type that decodes itself (safety.Policy) is decoded here into a throwaway value to check
// it, its mistakes named by their path from the top ("tenants[0].safety.persons.delete").
func checkKeys(n *yaml.Node, t reflect.Type, path string, lines map[string]int) error {
	var errs mistakes
	checkNode(n, t, path, lines, &errs)
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errs
}

// mistakes are several of a config's mistakes, each on a line of its own.
type mistakes []error

func (m mistakes) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d mistakes:", len(m))
	for _, e := range m {
		b.WriteString("\n  " + e.Error())
	}
	return b.String()
}

func (m mistakes) Unwrap() []error { return m }

// selfLine is the " (line N)" a self-decoding type's error ends with (safety's do).
var selfLine = regexp.MustCompile(`^(.*) \(line (\d+)\)$`)

// selfDecoded checks a value of a type that decodes itself by decoding it.
func selfDecoded(n *yaml.Node, t reflect.Type, path string) error {
	err := reflect.New(t).Interface().(yaml.Unmarshaler).UnmarshalYAML(n)
	if err == nil {
		return nil
	}
	msg, line := err.Error(), n.Line
	if m := selfLine.FindStringSubmatch(msg); m != nil {
		msg = m[1]
		line, _ = strconv.Atoi(m[2])
	}
	// Its messages name their path from the type's own key ("safety.persons…"): put the
	// path above it in front, as every other message names its key from the top.
	parent, own := "", path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, own = path[:i], path[i+1:]
	}
	if !strings.HasPrefix(msg, own+".") && !strings.HasPrefix(msg, own+":") {
		msg = own + ": " + msg
	}
	return fmt.Errorf("line %d: %s", line, join(parent, msg))
}

func checkNode(n *yaml.Node, t reflect.Type, path string, lines map[string]int, errs *mistakes) {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && path != "" {
		if err := checkScalar(n, t, path); err != nil {
			*errs = append(*errs, err)
		}
		return
	}
	// Types that decode themselves check their own keys (safety.Policy does), except Tenant,
	// whose UnmarshalYAML only adds defaults.
	if t != reflect.TypeFor[Tenant]() && reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := selfDecoded(n, t, path); err != nil {
			*errs = append(*errs, err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // a type mismatch; the decoder reports it
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
				*errs = append(*errs, fmt.Errorf("line %d: unknown key %q in %s (known: %s)", k.Line, k.Value, orTop(path), strings.Join(names, ", ")))
				continue
			}
			if lines != nil {
				lines[join(path, k.Value)] = k.Line
			}
			checkNode(v, ft, join(path, k.Value), lines, errs)
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				if lines != nil {
					lines[fmt.Sprintf("%s[%d]", path, i)] = c.Line
				}
				checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines, errs)
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if lines != nil {
					lines[join(path, n.Content[i].Value)] = n.Content[i].Line
				}
				checkNode(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), lines, errs)
			}
		}
	}
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
