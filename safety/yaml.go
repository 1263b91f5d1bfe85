package safety

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/imsfeed/imsfeed/record"
)

// UnmarshalYAML reads a tenant config's safety: block. Keys not given keep DefaultPolicy's
// values (the block does not start from *p). Shapes:
//
//	min_changes: 25                 # whole number ≥ 0
//	hold_initial_load: false
//	on_trip: stop                   # or hold-removals
//	window: 7d                      # removals are limited over this rolling window too; or off
//	max_skipped: 1%                 # records of a type skipped as bad (at least 25), or a count
//	persons: {inserts: 20%, updates: 50%, deletes: 10%, min_changes: 10}
//	groups:  {deletes: {max_percent: 10%, max_count: 500}}
//	memberships: {updates: off}     # off removes both limits of that operation
//
// A percent is written 10%, 10 or 12.5%. A bare percent sets max_percent and keeps the
// operation's max_count. Errors name the key path and line, e.g.
// `safety.persons.deletes: "ten%" is not a percentage (line 14)`.
//
// yaml does not call UnmarshalYAML for an absent or empty block: a config struct should hold
// DefaultPolicy() before decoding (or use *Policy and take nil as the default).
func (p *Policy) UnmarshalYAML(n *yaml.Node) error {
	q := DefaultPolicy()
	if err := q.decode(resolve(n)); err != nil {
		return err
	}
	*p = q
	return nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		default:
			return n
		}
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func fail(path string, n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s: %s (line %d)", path, fmt.Sprintf(format, args...), n.Line)
}

// entries walks a mapping node, rejecting unknown and repeated keys. want lists the keys in
// the order an error message names them.
func entries(path string, n *yaml.Node, want []string, f func(key string, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return fail(path, n, "must be a mapping of %s", strings.Join(want, ", "))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		key := path + "." + k.Value
		if !contains(want, k.Value) {
			msg := "unknown key; want one of " + strings.Join(want, ", ")
			if s := nearest(k.Value, want); s != "" {
				msg = fmt.Sprintf("unknown key; did you mean %s?", s)
			}
			return fail(key, k, "%s", msg)
		}
		if line, ok := seen[k.Value]; ok {
			return fmt.Errorf("%s: given twice (lines %d and %d)", key, line, k.Line)
		}
		seen[k.Value] = k.Line
		if err := f(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

var topKeys = []string{"min_changes", "hold_initial_load", "on_trip", "window", "max_skipped", "persons", "groups", "memberships", "relations"}

func (p *Policy) decode(n *yaml.Node) error {
	if n == nil || isNull(n) {
		return nil
	}
	return entries("safety", n, topKeys, func(key string, v *yaml.Node) error {
		path := "safety." + key
		switch key {
		case "min_changes":
			return decodeCount(path, v, &p.MinChanges)
		case "hold_initial_load":
			b, err := decodeBool(path, v)
			p.HoldInitialLoad = b
			return err
		case "on_trip":
			if v.Kind != yaml.ScalarNode || (v.Value != string(Stop) && v.Value != string(HoldRemovals)) {
				return fail(path, v, "%s is not %s or %s", show(v), Stop, HoldRemovals)
			}
			p.OnTrip = OnTrip(v.Value)
			return nil
		case "window":
			return decodeWindow(path, v, &p.WindowDays)
		case "max_skipped":
			return p.MaxSkipped.decode(path, Deletes, v) // a share of at most 100%
		}
		for _, t := range record.AllTypes {
			if t.String() == key {
				return p.Types[t].decode(path, v)
			}
		}
		return nil // unreachable: entries checked the key
	})
}

var typeKeys = []string{"inserts", "updates", "deletes", "min_changes"}

func (tp *TypePolicy) decode(path string, n *yaml.Node) error {
	if isNull(n) {
		return nil
	}
	return entries(path, n, typeKeys, func(key string, v *yaml.Node) error {
		if key == "min_changes" {
			var m int
			if err := decodeCount(path+"."+key, v, &m); err != nil {
				return err
			}
			tp.MinChanges = &m
			return nil
		}
		op := Op(key)
		return tp.limit(op).decode(path+"."+key, op, v)
	})
}

var limitKeys = []string{"max_percent", "max_count"}

func (l *Limit) decode(path string, op Op, n *yaml.Node) error {
	switch {
	case isNull(n):
		return fail(path, n, "is empty; want a percentage such as 10%%, off, or {max_percent: 10%%, max_count: 500}")
	case n.Kind == yaml.ScalarNode:
		if isOff(n) {
			*l = Limit{}
			return nil
		}
		v, err := decodePercent(path, op, n)
		l.MaxPercent = v
		return err
	}
	return entries(path, n, limitKeys, func(key string, v *yaml.Node) error {
		path := path + "." + key
		if key == "max_percent" {
			if isOff(v) {
				l.MaxPercent = nil
				return nil
			}
			pv, err := decodePercent(path, op, v)
			l.MaxPercent = pv
			return err
		}
		if isOff(v) {
			l.MaxCount = nil
			return nil
		}
		var c int
		if err := decodeCount(path, v, &c); err != nil {
			return err
		}
		l.MaxCount = &c
		return nil
	})
}

func isOff(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && strings.EqualFold(n.Value, "off") }

// show quotes a node's value for an error message.
func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "this value"
}

var percentRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func decodePercent(path string, op Op, n *yaml.Node) (*float64, error) {
	s := ""
	if n.Kind == yaml.ScalarNode {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(n.Value), "%"))
	}
	if !percentRE.MatchString(s) {
		return nil, fail(path, n, "%s is not a percentage such as 10%% or 12.5%%", show(n))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return nil, fail(path, n, "%s is not a percentage such as 10%% or 12.5%%", show(n))
	}
	if msg := percentProblem(v, op); msg != "" {
		return nil, fail(path, n, "%s %s", show(n), msg)
	}
	return &v, nil
}

// decodeWindow reads a window in whole days ("7d"), or off (also 0).
func decodeWindow(path string, n *yaml.Node, out *int) error {
	if n.Kind == yaml.ScalarNode {
		v := strings.TrimSpace(n.Value)
		if isOff(n) || v == "0" || v == "0d" {
			*out = 0
			return nil
		}
		if d, err := strconv.Atoi(strings.TrimSuffix(v, "d")); err == nil && d > 0 && d <= 366 {
			*out = d
			return nil
		}
	}
	return fail(path, n, "%s is not a window in days such as 7d (at most 366d), or off", show(n))
}

func decodeCount(path string, n *yaml.Node, out *int) error {
	if n.Kind != yaml.ScalarNode {
		return fail(path, n, "%s is not a whole number", show(n))
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil {
		return fail(path, n, "%s is not a whole number", show(n))
	}
	if v < 0 {
		return fail(path, n, "%s is negative", show(n))
	}
	*out = v
	return nil
}

func decodeBool(path string, n *yaml.Node) (bool, error) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fail(path, n, "%s is not true or false", show(n))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nearest returns the key within edit distance 2 of s (a typo such as "delete" or
// "max_percnt"), or "".
func nearest(s string, keys []string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := distance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// MarshalYAML writes the policy in the shape UnmarshalYAML reads, every key spelled out, so
// the effective policy of a tenant can be printed and pasted back.
func (p Policy) MarshalYAML() (any, error) {
	m := mapping(yaml.Style(0))
	add(m, "min_changes", scalar("!!int", strconv.Itoa(p.MinChanges)))
	add(m, "hold_initial_load", scalar("!!bool", strconv.FormatBool(p.HoldInitialLoad)))
	add(m, "on_trip", scalar("!!str", string(p.OnTrip)))
	window := "off"
	if p.WindowDays > 0 {
		window = FormatWindow(p.WindowDays)
	}
	add(m, "window", scalar("!!str", window))
	add(m, "max_skipped", p.MaxSkipped.node())
	for _, t := range record.AllTypes {
		tp := p.Types[t]
		tm := mapping(yaml.FlowStyle)
		for _, op := range Ops {
			add(tm, string(op), tp.limit(op).node())
		}
		if tp.MinChanges != nil {
			add(tm, "min_changes", scalar("!!int", strconv.Itoa(*tp.MinChanges)))
		}
		add(m, t.String(), tm)
	}
	return m, nil
}

// String is the policy on one line, in YAML flow style.
func (p Policy) String() string {
	n, _ := p.MarshalYAML()
	m := n.(*yaml.Node)
	m.Style = yaml.FlowStyle
	b, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Sprintf("invalid policy: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func (l Limit) node() *yaml.Node {
	pctNode := func() *yaml.Node {
		if l.MaxPercent == nil {
			return scalar("!!str", "off")
		}
		return scalar("!!str", strconv.FormatFloat(*l.MaxPercent, 'f', -1, 64)+"%")
	}
	if l.MaxCount == nil {
		return pctNode()
	}
	m := mapping(yaml.FlowStyle)
	add(m, "max_percent", pctNode())
	add(m, "max_count", scalar("!!int", strconv.Itoa(*l.MaxCount)))
	return m
}

func mapping(style yaml.Style) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: style}
}

func scalar(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar("!!str", key), v)
}

// KeyPaths lists every key a safety block accepts, as dotted paths below "safety", so the
// README's configuration reference can be checked against the decoder.
func KeyPaths() []string {
	var out []string
	for _, k := range topKeys {
		switch k {
		case "persons", "groups", "memberships", "relations":
			for _, tk := range typeKeys {
				out = append(out, k+"."+tk)
				if tk != "min_changes" {
					for _, lk := range limitKeys {
						out = append(out, k+"."+tk+"."+lk)
					}
				}
			}
		}
		out = append(out, k)
	}
	return out
}
