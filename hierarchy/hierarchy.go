// Package hierarchy places a file's groups in the tenant's tree, the way SIS middleware does for
// a plain export: groups the rules select go under nodes built from their attributes, groups
// with no parent go under a catch-all node, and courses go under the current school year's
// node. It is pure: group records and rules in, parents set and imsfeed's own nodes out. The
// importer applies it before the diff, so the diff and the safety filter see placed parents;
// the nodes are organisational groups like any other, removed (by the safety filter's rules)
// on the first night nothing is placed under them.
package hierarchy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// Source is the source of every group imsfeed makes; NodeType its grouptype. Both mark a group
// as imsfeed's own (reports and the platform can tell it from the school owner's).
const (
	Source   = "imsfeed"
	NodeType = "imsfeed-node"
)

// Node is one imsfeed-owned group: its key and display name.
type Node struct {
	Key  string `yaml:"key"`
	Name string `yaml:"name"`
}

// Rule builds nodes from group attributes: a group it selects goes under the node whose key is
// the value of Under and whose name is the value of Name (the key when Name is empty or has no
// value). Under may be a path of attributes (school, then level): a node for each, each in
// the one before, the group in the last; a deeper node's key is the key of the node above it,
// PathSep and its own value ("ELM/5"), so level 5 of two schools are two nodes. Attribute
// names are a record's stored attributes ("x.school" for a tenant mapping,
// "description.long") or "key", "name", "source", "type" (the first typevalue), "level".
type Rule struct {
	// Types are the grouptype typevalues the rule applies to (case-insensitive); empty: all.
	Types []string `yaml:"types"`
	// Under is the attribute (or path of attributes) whose value is the node's key; a group
	// with no value for one of them is not selected.
	Under Path `yaml:"under"`
	// Name is the attribute (or, for a path, the attributes, in the same order) whose value
	// is the node's name.
	Name Path `yaml:"name"`
	// Where is an XPath on the group's element in the file; the rule applies only where it
	// is true (a true boolean, or a node or string that is not empty). The reader evaluates
	// it into the attribute WhereAttr(i); Place reads and drops that attribute.
	Where string `yaml:"where"`
}

// PathSep joins the values of a path rule's attributes into a deeper node's key.
const PathSep = "/"

// Path is one attribute name or a list of them; YAML takes either a string or a list.
type Path []string

// UnmarshalYAML takes a string or a list of strings (the interface yaml.v3 keeps from v2, so
// this package needs no YAML library).
func (p *Path) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*p = Path{one}
		if one == "" {
			*p = nil
		}
		return nil
	}
	var list []string
	if err := unmarshal(&list); err != nil {
		return err
	}
	*p = list
	return nil
}

// At is the i-th attribute name of the path, "" past its end.
func (p Path) At(i int) string {
	if i < len(p) {
		return p[i]
	}
	return ""
}

// Rules are a tenant's placement rules. The zero value places nothing.
type Rules struct {
	// Unplaced takes the groups that have no parent and are not a root.
	Unplaced *Node
	// Place rules, in order; a group goes under the node of the first rule that selects it.
	Place []Rule
	// Year, when set, is the current school year's node: every course goes under it (in
	// addition to its parents from the file), and a rule-built node or Unplaced is not used
	// for a course.
	Year *Node
	// Archive, when set, is the node archived courses are moved under; it always exists.
	Archive *Node
	// IsCourse says which groups are courses (the tenant's courses.types).
	IsCourse func([]record.GroupType) bool
	// StoredParents are the keys the tenant's stored groups name as parents: a root's children
	// need not be in the file (a delta file updating only the school owner, say).
	StoredParents map[string]bool
	// CourseKeyYear, when set, is the school year courses' keys are prefixed with (see
	// CourseKey and Keys); Place then refuses a group that is not a course with such a key.
	CourseKeyYear string
	// Stored says what the store holds under the key of a node a rule builds, when that is no
	// group of the file (nil: nothing). RuleKeys lists the keys it may be asked for.
	Stored func(key string) Held
}

// Held is what the store holds under a rule node's key.
type Held int

const (
	// HeldNothing: no group, or one the file replaces (a snapshot's group it no longer has):
	// imsfeed makes its node.
	HeldNothing Held = iota
	// HeldNode: imsfeed's own node; it is made again as the rule says.
	HeldNode
	// HeldGroup: an active group of the SIS that the file (a delta, a live request) leaves as
	// it is: that group is the node, as a group of the file would be, and is not touched.
	HeldGroup
	// HeldArchived: an archived course, which no node can be: a *ClashError.
	HeldArchived
)

// StoredHeld is what a stored group under a rule node's key is, for Rules.Stored: found says
// the store has a group of the key, archived and own (imsfeed made it: Source) what it is. A
// snapshot replaces the SIS's groups it no longer lists; a delta file or a live request leaves
// them as they are, so such a group is the node.
func StoredHeld(found, archived, own, snapshot bool) Held {
	switch {
	case !found:
		return HeldNothing
	case archived:
		return HeldArchived
	case own:
		return HeldNode
	case snapshot:
		return HeldNothing
	}
	return HeldGroup
}

func (r Rules) held(key string) Held {
	if r.Stored == nil {
		return HeldNothing
	}
	return r.Stored(key)
}

// Empty reports whether the rules change nothing.
func (r Rules) Empty() bool {
	return r.Unplaced == nil && len(r.Place) == 0 && r.Year == nil && r.Archive == nil
}

// WherePrefix names the reader attributes that carry the rules' where results; WhereAttr(i) is
// rule i's. The mapping name has a colon, which no tenant mapping may use.
const WherePrefix = "x.imsfeed:where:"

// WhereName is the reader mapping name of rule i's where (the attribute is "x." + it).
func WhereName(i int) string { return strings.TrimPrefix(WhereAttr(i), "x.") }

// WhereAttr is the attribute rule i's where is read into.
func WhereAttr(i int) string { return WherePrefix + itoa(i) }

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// Result is what Place did.
type Result struct {
	// Nodes are the imsfeed-owned groups something is placed under (and the archive node),
	// in a stable order, ready for the diff.
	Nodes []*record.Group
	// Unplaced are the keys of the groups put under the Unplaced node.
	Unplaced []string
	// Placed counts the groups put under a rule-built node.
	Placed int
}

// ClashError is a group of the file whose key is one imsfeed keeps for its own node (or, with
// prefixed course keys, for a course): taking the group as the node would let the file
// rename, move or delete what imsfeed owns (the archive, a school year), and the other way
// round. The run fails and nothing changes; the message names the record and the node.
type ClashError struct {
	Key string
	Pos record.Pos
	// Msg says whose key it is and what to do.
	Msg string
}

func (e *ClashError) Error() string {
	return fmt.Sprintf("line %d:%d: record %s: %s", e.Pos.Line, e.Pos.Column, e.Key, e.Problem())
}

// Problem says what is wrong, without the position (the caller adds the file name to that).
func (e *ClashError) Problem() string { return e.Msg + "; nothing was changed" }

// Place sets the parents of groups (the file's, in file order; records going are left as they
// are) by the rules, recomputing each changed group's content hash, and returns the nodes to
// add. A root is a group that names itself as parent or that another group in the file or the
// store names as parent, or a rule places groups under: the tops of the tree stay where they
// are. A rule's node whose key is a group of the file is that group (imsfeed makes no node of
// its own). A group whose key is imsfeed's own node's (the unplaced, school-year or archive
// node) is a *ClashError, and so is a rule node with such a key; nothing is changed then.
func Place(groups []*record.Group, r Rules) (Result, error) {
	var res Result
	isCourse := r.IsCourse
	if isCourse == nil {
		isCourse = func([]record.GroupType) bool { return false }
	}
	fixed := map[string]string{}
	for _, n := range []struct {
		node *Node
		what string
	}{{r.Unplaced, "node of unplaced groups (hierarchy.unplaced)"}, {r.Year, "school-year node (school_year.node)"},
		{r.Archive, "archive node (courses.archive_node)"}} {
		if n.node != nil {
			fixed[n.node.Key] = "imsfeed's " + n.what
		}
	}
	inFile := map[string]bool{}
	goneInFile := map[string]bool{}
	named := map[string]bool{}
	wheres := make([]map[int]string, len(groups))
	for i, g := range groups {
		if what, ok := fixed[g.Key]; ok {
			return Result{}, &ClashError{Key: g.Key, Pos: g.Pos, Msg: fmt.Sprintf(
				"the group has the key of %s, which the SIS's records may not change or delete: give the node another key in the tenant's config, or the group another key in the SIS", what)}
		}
		if g.Gone() {
			goneInFile[g.Key] = true
			continue
		}
		if r.CourseKeyYear != "" && !isCourse(g.Types) {
			if _, ok := FileKey(g.Key, r.CourseKeyYear); ok {
				return Result{}, &ClashError{Key: g.Key, Pos: g.Pos, Msg: fmt.Sprintf(
					"the group is no course, but its key starts with the school year %s and %q, as a course's stored key does (school_year.prefix_course_keys): give the group another key in the SIS",
					r.CourseKeyYear, CourseKeySep)}
			}
		}
		wheres[i] = dropWhere(g)
		inFile[g.Key] = true
		for _, p := range g.Parents {
			named[p] = true
		}
	}
	loose := func(g *record.Group) bool {
		return len(g.Parents) == 0 && !g.SelfParent && !named[g.Key] && !r.StoredParents[g.Key]
	}
	// The rule nodes of loose groups first: a group of the file a rule places others under is
	// a root, not a loose group itself.
	paths := make([][]Node, len(groups))
	for i, g := range groups {
		if g.Gone() || !loose(g) || (isCourse(g.Types) && r.Year != nil) {
			continue
		}
		path, rule := ruleNodes(g, r.Place, wheres[i])
		for _, n := range path {
			if what, ok := fixed[n.Key]; ok {
				return Result{}, &ClashError{Key: g.Key, Pos: g.Pos, Msg: fmt.Sprintf(
					"hierarchy.place[%d] would place the group under %q, the key of %s: a rule's node cannot be it", rule, n.Key, what)}
			}
			if inFile[n.Key] {
				continue
			}
			// The store's group of that key: a node of imsfeed's, a group the file leaves
			// alone (the node, as a group of the file would be), or one the node cannot be.
			switch {
			case goneInFile[n.Key]:
				return Result{}, &ClashError{Key: g.Key, Pos: g.Pos, Msg: fmt.Sprintf(
					"hierarchy.place[%d] would place the group under %q, a group this file deletes: keep the group in the SIS, or give the group another %s", rule, n.Key, strings.Join(r.Place[rule].Under, ", "))}
			case r.held(n.Key) == HeldArchived:
				return Result{}, &ClashError{Key: g.Key, Pos: g.Pos, Msg: fmt.Sprintf(
					"hierarchy.place[%d] would place the group under %q, the key of an archived course, which a rule's node cannot be (it would overwrite the course): give the course or the node another key", rule, n.Key)}
			}
		}
		for _, n := range path {
			if n.Key == g.Key {
				path = nil // the rule would place the group under itself: it is the node, a root
				break
			}
		}
		paths[i] = path
		for _, n := range path {
			if inFile[n.Key] {
				named[n.Key] = true
			}
		}
	}
	nodes := map[string]*record.Group{}
	add := func(n Node, parent string, rule bool) {
		if inFile[n.Key] || (rule && r.held(n.Key) == HeldGroup) {
			return // the file's group (or the stored SIS group the file leaves alone) is the node
		}
		g, ok := nodes[n.Key]
		if !ok {
			g = &record.Group{Key: n.Key, Source: Source, Name: n.Name, Types: []record.GroupType{{Scheme: Source, Value: NodeType}}}
			nodes[n.Key] = g
		}
		if parent != "" && !contains(g.Parents, parent) {
			g.Parents = append(g.Parents, parent)
		}
	}
	for i, g := range groups {
		if g.Gone() {
			continue
		}
		changed := wheres[i] != nil
		switch {
		case isCourse(g.Types) && r.Year != nil:
			add(*r.Year, "", false)
			if !contains(g.Parents, r.Year.Key) {
				g.Parents = append(g.Parents, r.Year.Key)
				changed = true
			}
		case !loose(g):
		case len(paths[i]) > 0:
			parent := ""
			for _, n := range paths[i] {
				add(n, parent, true)
				parent = n.Key
			}
			g.Parents = []string{parent}
			res.Placed++
			changed = true
		case r.Unplaced != nil:
			add(*r.Unplaced, "", false)
			g.Parents = []string{r.Unplaced.Key}
			res.Unplaced = append(res.Unplaced, g.Key)
			changed = true
		}
		if changed {
			g.ComputeHash()
		}
	}
	if r.Archive != nil {
		add(*r.Archive, "", false)
	}
	keys := make([]string, 0, len(nodes))
	for k := range nodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := nodes[k]
		n.Attrs.Sort()
		n.ComputeHash()
		res.Nodes = append(res.Nodes, n)
	}
	return res, nil
}

// ArchiveParents are the parents an archived course gets: the archive node, or none.
func (r Rules) ArchiveParents() []string {
	if r.Archive == nil {
		return nil
	}
	return []string{r.Archive.Key}
}

// ruleNodes are the nodes, outermost first, of the first rule selecting g, and the rule's
// index; where holds the rules' where results.
func ruleNodes(g *record.Group, rules []Rule, where map[int]string) ([]Node, int) {
next:
	for i, rl := range rules {
		if len(rl.Types) > 0 && !hasType(g.Types, rl.Types) {
			continue
		}
		if rl.Where != "" && !truthy(where[i]) {
			continue
		}
		path := make([]Node, 0, len(rl.Under))
		key := ""
		for j, attr := range rl.Under {
			v := Attr(g, attr)
			if v == "" {
				continue next
			}
			name := Attr(g, rl.Name.At(j))
			if name == "" {
				name = v
			}
			if key != "" {
				key += PathSep
			}
			key += v
			path = append(path, Node{Key: key, Name: name})
		}
		if len(path) > 0 {
			return path, i
		}
	}
	return nil, -1
}

// Attr is a group's value of a rule attribute name.
func Attr(g *record.Group, name string) string {
	switch name {
	case "":
		return ""
	case "key":
		return g.Key
	case "name":
		return g.Name
	case "source":
		return g.Source
	case "type", "level":
		if len(g.Types) == 0 {
			return ""
		}
		if name == "type" {
			return strings.TrimSpace(g.Types[0].Value)
		}
		return strings.TrimSpace(g.Types[0].Level)
	}
	return strings.TrimSpace(g.Attrs.Get(name))
}

func hasType(types []record.GroupType, want []string) bool {
	for _, t := range types {
		for _, w := range want {
			if strings.EqualFold(strings.TrimSpace(t.Value), w) {
				return true
			}
		}
	}
	return false
}

func truthy(v string) bool { return v != "" && v != "false" }

// dropWhere takes the where results off g (they are not the group's fields: they must not be
// stored or hashed) and returns them by rule index; nil when g had none.
func dropWhere(g *record.Group) map[int]string {
	out := whereOf(g)
	if out == nil {
		return nil
	}
	kept := g.Attrs[:0]
	for _, a := range g.Attrs {
		if !strings.HasPrefix(a.Name, WherePrefix) {
			kept = append(kept, a)
		}
	}
	g.Attrs = kept
	return out
}

// whereOf are g's where results by rule index, nil when it has none.
func whereOf(g *record.Group) map[int]string {
	var out map[int]string
	for _, a := range g.Attrs {
		if rest, ok := strings.CutPrefix(a.Name, WherePrefix); ok {
			if out == nil {
				out = map[int]string{}
			}
			n := 0
			for _, c := range rest {
				n = n*10 + int(c-'0')
			}
			out[n] = a.Value
		}
	}
	return out
}

// RuleKeys are the keys of the nodes the rules may build for these groups, for a caller that
// reads the store's groups of those keys for Rules.Stored before Place. It changes nothing.
func RuleKeys(groups []*record.Group, r Rules) []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range groups {
		if g.Gone() || len(g.Parents) > 0 || g.SelfParent {
			continue
		}
		path, _ := ruleNodes(g, r.Place, whereOf(g))
		for _, n := range path {
			if !seen[n.Key] {
				seen[n.Key] = true
				out = append(out, n.Key)
			}
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
