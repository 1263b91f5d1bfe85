package archive

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// school builds a state: groups with n learners each (persons g-0, g-1, ...), one teacher in
// each, and a class nested in the first school as a group member.
func school(groups map[string]int) *change.State {
	s := change.NewState("t")
	for g, n := range groups {
		s.Groups[g] = change.GroupState{Name: strings.ToUpper(g[:1]) + g[1:] + " School"}
		for i := 0; i < n; i++ {
			p := fmt.Sprintf("%s-%d", g, i)
			s.Persons[p] = change.PersonState{Name: p}
			s.Memberships.Set(record.MembershipKey{Group: g, Member: p, Role: "01"}, change.MembershipState{MemberType: record.MemberPerson})
		}
		s.Memberships.Set(record.MembershipKey{Group: g, Member: g + "-teacher", Role: "02"}, change.MembershipState{MemberType: record.MemberPerson})
		s.Memberships.Set(record.MembershipKey{Group: g, Member: g + "-manual", Role: "01"}, change.MembershipState{MemberType: record.MemberPerson, Manual: true})
	}
	return s
}

// gone removes n learners of a group: trashed persons (with their membership as a cascade) or
// only their membership (moved to another class).
func gone(p *change.Plan, group string, from, n int, trash bool) {
	for i := from; i < from+n; i++ {
		key := fmt.Sprintf("%s-%d", group, i)
		if trash {
			p.Persons = append(p.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: key}})
		}
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Delete, Cascade: trash,
			Membership: record.Membership{MembershipKey: record.MembershipKey{Group: group, Member: key, Role: "01"}}})
	}
}

func TestRemovalsGroupsByGroupAndRoleLargestFirst(t *testing.T) {
	cases := []struct {
		name  string
		state *change.State
		plan  func(p *change.Plan, s *change.State)
	}{
		{"nothing removed", school(map[string]int{"north": 5}), func(p *change.Plan, s *change.State) {}},
		{"one school lost", school(map[string]int{"north": 430, "south": 300, "east": 200}), func(p *change.Plan, s *change.State) {
			gone(p, "north", 0, 412, true)
			gone(p, "south", 0, 3, true)
			gone(p, "east", 0, 2, false) // moved away, not trashed
			gone(p, "east", 2, 1, true)
		}},
		{"ties sort by name; a teacher is its own row", school(map[string]int{"b": 4, "a": 4}), func(p *change.Plan, s *change.State) {
			gone(p, "b", 0, 2, true)
			gone(p, "a", 0, 2, true)
			p.Persons = append(p.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: "a-teacher"}})
			p.Memberships = append(p.Memberships, change.Membership{Op: change.Delete, Cascade: true,
				Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "a", Member: "a-teacher", Role: "02"}}})
		}},
		{"group members, archivals and inserts are not removals of persons", school(map[string]int{"north": 3}), func(p *change.Plan, s *change.State) {
			k := record.MembershipKey{Group: "north", Member: "class-1", Role: "04"}
			s.Memberships.Set(k, change.MembershipState{MemberType: record.MemberGroup})
			p.Memberships = append(p.Memberships,
				change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: k}},
				change.Membership{Op: change.Manualize, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "north", Member: "north-0", Role: "01"}}},
				change.Membership{Op: change.Insert, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "north", Member: "new", Role: "01"}, MemberType: record.MemberPerson}})
		}},
		{"a group the state does not know", school(map[string]int{}), func(p *change.Plan, s *change.State) {
			p.Memberships = append(p.Memberships, change.Membership{Op: change.Delete,
				Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "ghost", Member: "p1", Role: "01"}}})
		}},
	}
	var out strings.Builder
	for _, c := range cases {
		p := &change.Plan{}
		c.plan(p, c.state)
		fmt.Fprintf(&out, "== %s\n", c.name)
		for _, r := range Removals(p, c.state) {
			fmt.Fprintf(&out, "%s\n", r)
		}
	}
	golden := filepath.Join("testdata", "removals.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("removals differ from %s (go test ./archive -update rewrites it):\n%s", golden, out.String())
	}
}

// More counts the rows a list leaves out and the groups they come from: a group's learners and
// its instructor are two rows of one group.
func TestMoreCountsRowsAndTheirGroups(t *testing.T) {
	row := func(group, role string) GroupRemovals { return GroupRemovals{Group: group, Role: role, Gone: 1} }
	for _, c := range []struct {
		rest []GroupRemovals
		want string
	}{
		{nil, ""},
		{[]GroupRemovals{row("5A", "02")}, "1 more (from 1 group)"},
		{[]GroupRemovals{row("5A", "01"), row("5A", "02")}, "2 more (from 1 group)"},
		{[]GroupRemovals{row("5A", "02"), row("5B", "01"), row("5B", "02")}, "3 more (from 2 groups)"},
	} {
		if got := More(c.rest); got != c.want {
			t.Errorf("More(%v) = %q, want %q", c.rest, got, c.want)
		}
	}
}
