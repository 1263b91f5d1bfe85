package hierarchy

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

func grp(key, typ string, parents ...string) *record.Group {
	line++
	g := &record.Group{Pos: record.Pos{Line: line, Column: 3}, Key: key, Name: "name " + key, Types: []record.GroupType{{Value: typ}}, Parents: parents}
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
	byschool := []Rule{{Types: []string{"class"}, Under: Path{"x.school"}, Name: Path{"x.schoolname"}}}
	for _, tc := range []struct {
		name    string
		groups  []*record.Group
		rules   Rules
		parents map[string][]string // the groups' parents after; unlisted: as given
		nodes   []string            // "key=name<parents"
		unplace []string
		clash   string // the key of the record a *ClashError names; nothing changes then
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
			rules:   Rules{Place: []Rule{{Under: Path{"x.school"}, Where: "grouptype/typevalue/@level = '3'"}}},
			parents: map[string][]string{"5B": {"ELM"}},
			nodes:   []string{"ELM=ELM<"}},
		{name: "courses go under the year node, beside their file parents",
			groups:  []*record.Group{grp("S", "School"), grp("C1", "Course", "S"), grp("C2", "Course")},
			rules:   Rules{Unplaced: unplaced, Year: year, IsCourse: courses},
			parents: map[string][]string{"C1": {"S", "year-2026-27"}, "C2": {"year-2026-27"}},
			nodes:   []string{"year-2026-27=2026-27<"}},
		{name: "a path builds a node in a node: school, then level; two schools' level 5 are two nodes",
			groups: []*record.Group{withAttrs(grp("E5A", "Class"), "x.school", "ELM", "x.schoolname", "Elm School", "x.level", "5"),
				withAttrs(grp("E6A", "Class"), "x.school", "ELM", "x.level", "6", "x.levelname", "Year 6"),
				withAttrs(grp("O5A", "Class"), "x.school", "OAK", "x.level", "5"),
				withAttrs(grp("NOLEVEL", "Class"), "x.school", "OAK")},
			rules: Rules{Unplaced: unplaced, Place: []Rule{{Under: Path{"x.school", "x.level"}, Name: Path{"x.schoolname", "x.levelname"}},
				{Under: Path{"x.school"}}}},
			parents: map[string][]string{"E5A": {"ELM/5"}, "E6A": {"ELM/6"}, "O5A": {"OAK/5"}, "NOLEVEL": {"OAK"}},
			nodes:   []string{"ELM=Elm School<", "ELM/5=5<ELM", "ELM/6=Year 6<ELM", "OAK=OAK<", "OAK/5=5<OAK"}},
		{name: "a rule's node that is a group of the file is that group, a root, not unplaced",
			groups: []*record.Group{grp("ELM", "School"), withAttrs(grp("5A", "Class"), "x.school", "ELM", "x.level", "5"),
				withAttrs(grp("6A", "Class"), "x.school", "ELM", "x.level", "6"), grp("ELM/6", "Level")},
			rules:   Rules{Unplaced: unplaced, Place: []Rule{{Types: []string{"Class"}, Under: Path{"x.school", "x.level"}}}},
			parents: map[string][]string{"5A": {"ELM/5"}, "6A": {"ELM/6"}},
			nodes:   []string{"ELM/5=5<ELM"}},
		{name: "a rule placing a group under itself leaves it where it is",
			groups:  []*record.Group{withAttrs(grp("ELM", "School"), "x.school", "ELM"), withAttrs(grp("5A", "Class"), "x.school", "ELM")},
			rules:   Rules{Unplaced: unplaced, Place: []Rule{{Under: Path{"x.school"}}}},
			parents: map[string][]string{"5A": {"ELM"}}},
		{name: "a group with the unplaced node's key is a clash",
			groups: []*record.Group{grp("OWN", "Owner"), grp("imsfeed-groups", "Club", "OWN")},
			rules:  Rules{Unplaced: unplaced}, clash: "imsfeed-groups"},
		{name: "a group with the year node's key is a clash, even going",
			groups: []*record.Group{grp("OWN", "Owner"), gone(grp("year-2026-27", "Club"))},
			rules:  Rules{Year: year, IsCourse: courses}, clash: "year-2026-27"},
		{name: "a rule node with the archive node's key is a clash naming the group",
			groups: []*record.Group{withAttrs(grp("5A", "Class"), "x.school", "arch")},
			rules:  Rules{Place: byschool, Archive: &Node{Key: "arch", Name: "Archive"}}, clash: "5A"},
		{name: "with prefixed course keys, a group that is no course with a course key of the year is a clash",
			groups: []*record.Group{grp("C1", "Course"), grp("2026-27:C1", "Club")},
			rules:  Rules{Year: year, IsCourse: courses, CourseKeyYear: "2026-27"}, clash: "2026-27:C1"},
		{name: "with prefixed course keys, another year's prefix is a key like any other",
			groups:  []*record.Group{grp("2025-26:C1", "Club")},
			rules:   Rules{Unplaced: unplaced, Year: year, IsCourse: courses, CourseKeyYear: "2026-27"},
			parents: map[string][]string{"2025-26:C1": {"imsfeed-groups"}},
			nodes:   []string{"imsfeed-groups=Groups<"}, unplace: []string{"2025-26:C1"}},
		{name: "a rule node that is a stored group of the SIS the file leaves alone (a delta) is that group: no node, not overwritten",
			groups:  []*record.Group{withAttrs(grp("5A", "Class"), "x.school", "ELM", "x.schoolname", "Elm School")},
			rules:   Rules{Unplaced: unplaced, Place: byschool, Stored: held(map[string]Held{"ELM": HeldGroup})},
			parents: map[string][]string{"5A": {"ELM"}}},
		{name: "a rule node that is imsfeed's stored node is made again",
			groups:  []*record.Group{withAttrs(grp("5A", "Class"), "x.school", "ELM", "x.schoolname", "Elm School")},
			rules:   Rules{Place: byschool, Stored: held(map[string]Held{"ELM": HeldNode})},
			parents: map[string][]string{"5A": {"ELM"}},
			nodes:   []string{"ELM=Elm School<"}},
		{name: "a path's deeper node goes under a stored SIS group that is the path's first node",
			groups:  []*record.Group{withAttrs(grp("5A", "Class"), "x.school", "ELM", "x.level", "5")},
			rules:   Rules{Place: []Rule{{Under: Path{"x.school", "x.level"}}}, Stored: held(map[string]Held{"ELM": HeldGroup})},
			parents: map[string][]string{"5A": {"ELM/5"}},
			nodes:   []string{"ELM/5=5<ELM"}},
		{name: "a rule node that is a stored archived course is a clash naming the group",
			groups: []*record.Group{withAttrs(grp("5A", "Class"), "x.school", "OLDCOURSE")},
			rules:  Rules{Place: byschool, Stored: held(map[string]Held{"OLDCOURSE": HeldArchived})}, clash: "5A"},
		{name: "a rule node that is a group the file deletes is a clash naming the group",
			groups: []*record.Group{gone(grp("ELM", "School")), withAttrs(grp("5A", "Class"), "x.school", "ELM")},
			rules:  Rules{Place: byschool, Stored: held(map[string]Held{"ELM": HeldGroup})}, clash: "5A"},
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
			res, err := Place(tc.groups, tc.rules)
			if tc.clash != "" {
				var ce *ClashError
				if !errors.As(err, &ce) || ce.Key != tc.clash || ce.Pos.Line == 0 {
					t.Fatalf("error %v, want a clash naming %s at its line", err, tc.clash)
				}
				for _, g := range tc.groups {
					if !reflect.DeepEqual(g.Parents, before[g.Key].Parents) {
						t.Errorf("%s: parents changed to %v by a run that failed", g.Key, g.Parents)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
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

var line int

func held(m map[string]Held) func(string) Held { return func(k string) Held { return m[k] } }

func gone(g *record.Group) *record.Group {
	g.RecStatus = record.StatusDelete
	return g
}

// TestCourseKeys: with prefixed course keys, a course is stored as year:key, and the records
// naming it (a membership, a group member, a child's parent) follow it, whether the file or
// only the store has it; every other key is as given.
func TestCourseKeys(t *testing.T) {
	stored := map[string]bool{"2026-27:OLD": true, "TEAM": true, "2025-26:C1": true}
	k := Rules{CourseKeyYear: "2026-27", IsCourse: courses}.Keys(func(key string) bool { return stored[key] })
	c1, sect, club := grp("C1", "Course"), grp("C1-A", "Section", "C1"), grp("CLUB", "Club", "OLD")
	for _, g := range []*record.Group{c1, sect, club} {
		k.See(g)
	}
	member := func(group, member string, mt record.MemberType) *record.Membership {
		m := &record.Membership{MembershipKey: record.MembershipKey{Group: group, Member: member, Role: "01"}, MemberType: mt}
		m.ComputeHash()
		return m
	}
	for _, tc := range []struct {
		m      *record.Membership
		group  string
		member string
		known  bool
	}{
		{member("C1", "p1", record.MemberPerson), "2026-27:C1", "p1", true},
		{member("OLD", "p1", record.MemberPerson), "2026-27:OLD", "p1", true},
		{member("TEAM", "C1", record.MemberGroup), "TEAM", "2026-27:C1", true},
		{member("CLUB", "p1", record.MemberPerson), "CLUB", "p1", true},
		{member("LATER", "p1", record.MemberPerson), "LATER", "p1", false},
	} {
		before, was := tc.m.Hash, tc.m.Group+"/"+tc.m.Member
		known := k.Membership(tc.m)
		if known != tc.known || tc.m.Group != tc.group || tc.m.Member != tc.member {
			t.Errorf("membership → %s/%s known %v, want %s/%s %v", tc.m.Group, tc.m.Member, known, tc.group, tc.member, tc.known)
		}
		if moved := was != tc.m.Group+"/"+tc.m.Member; moved == (before == tc.m.Hash) {
			t.Errorf("%s: hash not recomputed", tc.m.Group)
		}
	}
	for _, g := range []*record.Group{c1, sect, club} {
		k.Group(g)
	}
	if c1.Key != "2026-27:C1" || sect.Key != "C1-A" || !reflect.DeepEqual(sect.Parents, []string{"2026-27:C1"}) ||
		!reflect.DeepEqual(club.Parents, []string{"2026-27:OLD"}) {
		t.Errorf("groups: %s, %s<%v, %s<%v", c1.Key, sect.Key, sect.Parents, club.Key, club.Parents)
	}
	if key, ok := FileKey(c1.Key, "2026-27"); !ok || key != "C1" {
		t.Errorf("FileKey(%s) = %q %v", c1.Key, key, ok)
	}
	if _, ok := FileKey("2025-26:C1", "2026-27"); ok {
		t.Error("FileKey takes another year's key")
	}
	var none *Keys
	g := grp("C1", "Course")
	none.Group(g)
	if g.Key != "C1" || (Rules{}).Keys(nil) != nil {
		t.Error("without a year, keys are as given")
	}
}

// TestRuleKeys: the node keys the rules may build for groups with no parent (each path's
// nodes), for a caller to read from the store before Place; the groups are not changed.
func TestRuleKeys(t *testing.T) {
	a := withAttrs(grp("5A", "Class"), "x.school", "ELM", "x.level", "5", WhereAttr(0), "true")
	b := withAttrs(grp("5B", "Class", "ELM"), "x.school", "OAK", "x.level", "5")
	c := withAttrs(grp("6A", "Class"), "x.school", "ELM", "x.level", "6", WhereAttr(0), "false")
	r := Rules{Place: []Rule{{Under: Path{"x.school", "x.level"}, Where: "true()"}, {Under: Path{"x.school"}}}}
	if got := RuleKeys([]*record.Group{a, b, c}, r); !reflect.DeepEqual(got, []string{"ELM", "ELM/5"}) {
		t.Errorf("rule keys %q, want ELM and ELM/5 (5B has a parent; 6A's where is false: its rule is the second, ELM)", got)
	}
	if len(a.Attrs) != 3 {
		t.Errorf("RuleKeys changed the group: %v", a.Attrs)
	}
}

// What a stored group under a rule node's key is: the nightly snapshot and the delta/live
// channels decide the same way but for the SIS's groups the input no longer lists.
func TestStoredHeld(t *testing.T) {
	for _, c := range []struct {
		found, archived, own, snapshot bool
		want                           Held
	}{
		{false, false, false, true, HeldNothing},
		{false, false, false, false, HeldNothing},
		{true, true, false, true, HeldArchived},
		{true, true, true, false, HeldArchived},
		{true, false, true, true, HeldNode},
		{true, false, true, false, HeldNode},
		{true, false, false, true, HeldNothing}, // the snapshot replaces the SIS's group
		{true, false, false, false, HeldGroup},  // a delta or live request leaves it: it is the node
	} {
		if got := StoredHeld(c.found, c.archived, c.own, c.snapshot); got != c.want {
			t.Errorf("StoredHeld(found %v, archived %v, own %v, snapshot %v) = %v, want %v", c.found, c.archived, c.own, c.snapshot, got, c.want)
		}
	}
}
