package hierarchy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

func grp(key, typ string, parents ...string) *record.Group {
	g := &record.Group{Key: key, Name: "name " + key, Types: []record.GroupType{{Value: typ}}, Parents: parents}
	g.ComputeHash()
	return g
}

func withAttrs(g *record.Group, kv ...string) *record.Group {
	for i := 0; i+1 < len(kv); i += 2 {
		g.Attrs = append(g.Attrs, record.Attr{Name: kv[i], Value: kv[i+1]})
	}
	g.Attrs.Sort()
	g.ComputeHash()
	return g
}

func courses(types []record.GroupType) bool {
	return len(types) > 0 && types[0].Value == "Course"
}

// TestPlace: groups + rules → parents, and the nodes imsfeed adds.
func TestPlace(t *testing.T) {
	unplaced := &Node{Key: "imsfeed-groups", Name: "Groups"}
	year := &Node{Key: "year-2026-27", Name: "2026-27"}
	byschool := []Rule{{Types: []string{"class"}, Under: "x.school", Name: "x.schoolname"}}
	for _, tc := range []struct {
		name    string
		groups  []*record.Group
		rules   Rules
		parents map[string][]string // the groups' parents after; unlisted: as given
		nodes   []string            // "key=name<parents"
		unplace []string
	}{
		{name: "no rules change nothing",
			groups: []*record.Group{grp("A", "School"), grp("B", "Class", "A")}},
		{name: "a loose group goes under unplaced; a root and its children stay",
			groups:  []*record.Group{grp("OWN", "Owner"), grp("S", "School", "OWN"), grp("LOOSE", "Club"), selfRoot("TOP")},
			rules:   Rules{Unplaced: unplaced},
			parents: map[string][]string{"LOOSE": {"imsfeed-groups"}, "OWN": nil, "TOP": nil},
			nodes:   []string{"imsfeed-groups=Groups<"}, unplace: []string{"LOOSE"}},
		{name: "a group the stored groups name as parent is a root (a delta file)",
			groups: []*record.Group{grp("OWN", "Owner")},
			rules:  Rules{Unplaced: unplaced, StoredParents: map[string]bool{"OWN": true}}},
		{name: "no loose group: no unplaced node",
			groups: []*record.Group{grp("OWN", "Owner"), grp("S", "School", "OWN")},
			rules:  Rules{Unplaced: unplaced}},
		{name: "a rule builds a node from attributes; the rest go under unplaced",
			groups: []*record.Group{withAttrs(grp("5A", "Class"), "x.school", "ELM", "x.schoolname", "Elm School"),
				withAttrs(grp("5B", "class"), "x.school", "ELM"), grp("8A", "Class"), withAttrs(grp("CLUB", "Club"), "x.school", "ELM")},
			rules:   Rules{Unplaced: unplaced, Place: byschool},
			parents: map[string][]string{"5A": {"ELM"}, "5B": {"ELM"}, "8A": {"imsfeed-groups"}, "CLUB": {"imsfeed-groups"}},
			nodes:   []string{"ELM=Elm School<", "imsfeed-groups=Groups<"}, unplace: []string{"8A", "CLUB"}},
		{name: "where selects; its attribute is dropped",
			groups: []*record.Group{withAttrs(grp("5A", "Class"), "x.school", "ELM", WhereAttr(0), "false"),
				withAttrs(grp("5B", "Class"), "x.school", "ELM", WhereAttr(0), "true")},
			rules:   Rules{Place: []Rule{{Under: "x.school", Where: "grouptype/typevalue/@level = '3'"}}},
			parents: map[string][]string{"5B": {"ELM"}},
			nodes:   []string{"ELM=ELM<"}},
		{name: "courses go under the year node, beside their file parents",
			groups:  []*record.Group{grp("S", "School"), grp("C1", "Course", "S"), grp("C2", "Course")},
			rules:   Rules{Unplaced: unplaced, Year: year, IsCourse: courses},
			parents: map[string][]string{"C1": {"S", "year-2026-27"}, "C2": {"year-2026-27"}},
			nodes:   []string{"year-2026-27=2026-27<"}},
		{name: "the archive node always exists",
			groups: []*record.Group{grp("S", "School")},
			rules:  Rules{Archive: &Node{Key: "arch", Name: "Archive"}},
			nodes:  []string{"arch=Archive<"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]record.Group{}
			for _, g := range tc.groups {
				before[g.Key] = *g
			}
			res := Place(tc.groups, tc.rules)
			for _, g := range tc.groups {
				want, ok := tc.parents[g.Key]
				if !ok {
					want = before[g.Key].Parents
				}
				if !reflect.DeepEqual(g.Parents, want) {
					t.Errorf("%s: parents %v, want %v", g.Key, g.Parents, want)
				}
				for _, a := range g.Attrs {
					if strings.HasPrefix(a.Name, WherePrefix) {
						t.Errorf("%s keeps the where attribute %s", g.Key, a.Name)
					}
				}
				check := *g
				check.ComputeHash()
				if check.Hash != g.Hash {
					t.Errorf("%s: hash not recomputed", g.Key)
				}
				if _, placed := tc.parents[g.Key]; !placed && len(g.Attrs) == len(before[g.Key].Attrs) && g.Hash != before[g.Key].Hash {
					t.Errorf("%s: unplaced group's hash changed", g.Key)
				}
			}
			var nodes []string
			for _, n := range res.Nodes {
				if n.Source != Source || n.Types[0].Value != NodeType {
					t.Errorf("node %s is not marked as imsfeed's", n.Key)
				}
				nodes = append(nodes, n.Key+"="+n.Name+"<"+strings.Join(n.Parents, ","))
			}
			if !reflect.DeepEqual(nodes, tc.nodes) {
				t.Errorf("nodes %q, want %q", nodes, tc.nodes)
			}
			if !reflect.DeepEqual(res.Unplaced, tc.unplace) {
				t.Errorf("unplaced %q, want %q", res.Unplaced, tc.unplace)
			}
		})
	}
}

func selfRoot(key string) *record.Group {
	g := grp(key, "Owner")
	g.SelfParent = true
	g.ComputeHash()
	return g
}
