package diff

import (
	"errors"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// TestDuplicateKeySaysWhereTheFileFirstListedIt: the README's troubleshooting promises
// "duplicate key … first at line N", for keys the store has and keys it does not.
func TestDuplicateKeySaysWhereTheFileFirstListedIt(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	gone := member("MATH", "P4", "01")
	gone.RecStatus = record.StatusDelete
	for _, c := range []struct {
		name string
		add  func(f *feed)
		key  string
	}{
		{"stored person", func(f *feed) { f.persons = append(f.persons, person("P2", "Pupil P2")) }, "P2"},
		{"new person", func(f *feed) { f.persons = append(f.persons, person("N1", "x"), person("N1", "y")) }, "N1"},
		{"group", func(f *feed) { f.groups = append(f.groups, group("MATH", "Course", "SCH")) }, "MATH"},
		{"stored membership", func(f *feed) { f.memberships = append(f.memberships, member("MATH", "T1", "02")) }, "MATH/T1/02"},
		{"new membership", func(f *feed) {
			f.memberships = append(f.memberships, member("MATH", "P4", "01"), member("MATH", "P4", "01"))
		}, "MATH/P4/01"},
		{"removed then listed", func(f *feed) { f.memberships = append(f.memberships, gone, member("MATH", "P4", "01")) }, "MATH/P4/01"},
	} {
		for _, md := range modes {
			f := school()
			c.add(&f)
			// Every record on a line of its own, the first of each key remembered.
			line, first := 10, 0
			d := md.New(t, apply(st, &change.Plan{}), opts())
			for _, p := range f.persons {
				line++
				p.Pos.Line = line
				if p.Key == c.key && first == 0 {
					first = line
				}
				d.Person(p)
			}
			for _, g := range f.groups {
				line++
				g.Pos.Line = line
				if g.Key == c.key && first == 0 {
					first = line
				}
				d.Group(g)
			}
			for _, m := range f.memberships {
				line++
				m.Pos.Line = line
				if m.MembershipKey.String() == c.key && first == 0 {
					first = line
				}
				d.Membership(m)
			}
			_, _, err := d.Finish(Finish{Mode: Snapshot})
			var de *DuplicateError
			if !errors.As(err, &de) || de.Key != c.key || de.FirstLine != first || de.FirstLine >= de.Pos.Line ||
				!strings.Contains(de.Problem(), "first at line ") {
				t.Errorf("%s, %s: want a duplicate of %s first at line %d, got %v", c.name, md.name, c.key, first, err)
			}
		}
	}
}
