// Package hierarchy places a file's groups in the tenant's tree, the way SIS middleware does for
// a plain export: groups the rules select go under nodes built from their attributes, groups
// with no parent go under a catch-all node, and courses go under the current school year's
// node. It is pure: group records and rules in, parents set and imsfeed's own nodes out. The
// importer applies it before the diff, so the diff and the safety filter see placed parents;
// the nodes are organisational groups like any other, removed (by the safety filter's rules)
// on the first night nothing is placed under them.
package hierarchy

import (
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

// Rule builds nodes from a group attribute: a group it selects goes under the node whose key is
// the value of Under and whose name is the value of Name (the key when Name is empty or has no
// value). Attribute names are a record's stored attributes ("x.school" for a tenant mapping,
// "description.long") or "key", "name", "source", "type" (the first typevalue), "level".
type Rule struct {
	// Types are the grouptype typevalues the rule applies to (case-insensitive); empty: all.
	Types []string `yaml:"types"`
	Under string   `yaml:"under"`
	Name  string   `yaml:"name"`
	// Where is an XPath on the group's element in the file; the rule applies only where it
	// is true (a true boolean, or a node or string that is not empty). The reader evaluates
	// it into the attribute WhereAttr(i); Place reads and drops that attribute.
	Where string `yaml:"where"`
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

// Place sets the parents of groups (the file's, in file order) by the rules, recomputing each
// changed group's content hash, and returns the nodes to add. A root is a group that names
// itself as parent or that another group in the file or the store names as parent: the tops
// of the tree stay where they are.
func Place(groups []*record.Group, r Rules) Result {
	var res Result
	isCourse := r.IsCourse
	if isCourse == nil {
		isCourse = func([]record.GroupType) bool { return false }
	}
	named := map[string]bool{}
	for _, g := range groups {
		for _, p := range g.Parents {
			named[p] = true
		}
	}
	nodes := map[string]*record.Group{}
	add := func(n Node, parents []string) *record.Group {
		g, ok := nodes[n.Key]
		if !ok {
			g = &record.Group{Key: n.Key, Source: Source, Name: n.Name, Types: []record.GroupType{{Scheme: Source, Value: NodeType}}}
			nodes[n.Key] = g
		}
		for _, p := range parents {
			if !contains(g.Parents, p) {
				g.Parents = append(g.Parents, p)
			}
		}
		return g
	}
	for _, g := range groups {
		where := dropWhere(g)
		changed := where != nil
		course := isCourse(g.Types)
		switch {
		case course && r.Year != nil:
			add(*r.Year, nil)
			if !contains(g.Parents, r.Year.Key) {
				g.Parents = append(g.Parents, r.Year.Key)
				changed = true
			}
		case len(g.Parents) > 0 || g.SelfParent || named[g.Key] || r.StoredParents[g.Key]:
		default:
			if n, ok := ruleNode(g, r.Place, where); ok {
				add(n, nil)
				g.Parents = []string{n.Key}
				res.Placed++
				changed = true
			} else if r.Unplaced != nil {
				add(*r.Unplaced, nil)
				g.Parents = []string{r.Unplaced.Key}
				res.Unplaced = append(res.Unplaced, g.Key)
				changed = true
			}
		}
		if changed {
			g.ComputeHash()
		}
	}
	if r.Archive != nil {
		add(*r.Archive, nil)
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
	return res
}

// ArchiveParents are the parents an archived course gets: the archive node, or none.
func (r Rules) ArchiveParents() []string {
	if r.Archive == nil {
		return nil
	}
	return []string{r.Archive.Key}
}

// ruleNode is the node of the first rule selecting g; where holds the rules' where results.
func ruleNode(g *record.Group, rules []Rule, where map[int]string) (Node, bool) {
	for i, rl := range rules {
		if len(rl.Types) > 0 && !hasType(g.Types, rl.Types) {
			continue
		}
		if rl.Where != "" && !truthy(where[i]) {
			continue
		}
		key := Attr(g, rl.Under)
		if key == "" {
			continue
		}
		name := Attr(g, rl.Name)
		if name == "" {
			name = key
		}
		return Node{Key: key, Name: name}, true
	}
	return Node{}, false
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
	var out map[int]string
	kept := g.Attrs[:0]
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
			continue
		}
		kept = append(kept, a)
	}
	g.Attrs = kept
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
