package change

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// TestNamesForTakesTheTrashedPersonsNamesFromThePlan: the stored names of the persons a plan
// puts in the trash can need not be read (a broken night's quarter of a million): NamesFor
// gives the same names for a state that has them as for one that lacks them, from the plan's
// changes; a person the plan does not trash, whose name was not read, has none.
func TestNamesForTakesTheTrashedPersonsNamesFromThePlan(t *testing.T) {
	read := &State{Persons: map[string]PersonState{}, Groups: map[string]GroupState{"g1": {Name: "Class 1"}}}
	unread := &State{Persons: map[string]PersonState{}, Groups: read.Groups}
	p := &Plan{}
	for i := range 40 {
		key, name := fmt.Sprintf("p%03d", 97*i%40), fmt.Sprintf("Pupil %d", i)
		read.Persons[key] = PersonState{Name: name}
		unread.Persons[key] = PersonState{}
		if i%4 != 0 {
			p.Persons = append(p.Persons, Person{Op: Delete, Person: record.Person{Key: key, Name: name}})
		}
		p.Memberships = append(p.Memberships, Membership{Op: Delete, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "g1", Member: key, Role: "01"}}})
	}
	want := NamesFor(p, read, 100)
	if len(want.Persons) != 40 {
		t.Fatalf("%d names with every stored name read, want 40", len(want.Persons))
	}
	got := NamesFor(p, unread, 100)
	if len(got.Persons) != 30 {
		t.Fatalf("%d names without the stored names read, want the 30 the plan trashes", len(got.Persons))
	}
	for k, name := range got.Persons {
		if want.Persons[k] != name {
			t.Errorf("person %s: %q, want %q", k, name, want.Persons[k])
		}
	}
	if !reflect.DeepEqual(got.Groups, want.Groups) {
		t.Errorf("groups %v, want %v", got.Groups, want.Groups)
	}
}
