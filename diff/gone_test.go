package diff

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// TestPersonsGoneComeAfterTheListedOnesEachOnceSortedByKey: the persons a plan puts in the
// trash can, kept apart, are given one at a time sorted by key with the names they were given
// (none, long ones, any bytes), as often as asked; listed, they come after the plan's own
// person changes; and each is found by key, and no other key is (one between, before, after, a
// prefix). The reference is a sort of the changes.
func TestPersonsGoneComeAfterTheListedOnesEachOnceSortedByKey(t *testing.T) {
	// Keys that differ in their first 8 bytes, that all begin alike (a search among those of
	// one prefix), and that begin with the greatest 8 bytes there are.
	for _, form := range []string{"p%06d", "student-number-%06d", "\xff\xff\xff\xff\xff\xff\xff\xff%06d"} {
		t.Run(form, func(t *testing.T) { personsGoneInOrder(t, form) })
	}
}

func personsGoneInOrder(t *testing.T, form string) {
	rng := rand.New(rand.NewPCG(2, 18))
	for _, n := range []int{0, 1, 2, 700, 20000} {
		g := &gonePersons{op: change.Delete}
		var want []change.Person
		for _, i := range rng.Perm(n) {
			key := fmt.Sprintf(form, 2*i+1) // odd: the even keys are not among them
			name := fmt.Sprintf("Pupil %d", i)
			switch i % 5 {
			case 0:
				name = ""
			case 1:
				name = strings.Repeat("Å", 100+i%300) // a length of two bytes
			}
			g.add(key, name)
			want = append(want, change.Person{Op: change.Delete, Person: record.Person{Key: key, Name: name}})
		}
		g.sort()
		slices.SortFunc(want, func(a, b change.Person) int { return strings.Compare(a.Person.Key, b.Person.Key) })
		r := &Removed{&removals{persons: g}}
		for range 2 {
			var got []change.Person
			if err := r.EachPerson(func(c *change.Person) error {
				got = append(got, *c)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, func(a, b change.Person) bool {
				return a.Op == b.Op && a.Person.Key == b.Person.Key && a.Person.Name == b.Person.Name
			}) {
				t.Fatalf("%d persons gone: given %d, not the %d wanted sorted by key", n, len(got), len(want))
			}
		}
		for _, c := range want {
			if name, ok := r.Trashed(c.Person.Key); !ok || name != c.Person.Name {
				t.Fatalf("%d persons gone: %s is (%q, %v), want (%q, true)", n, c.Person.Key, name, ok, c.Person.Name)
			}
		}
		base := fmt.Sprintf(form, 0)
		others := []string{"", "p", base[:len(base)-1], base[:min(8, len(base))], base[:min(9, len(base))], base + "1", fmt.Sprintf(form, 2*n), fmt.Sprintf(form, 2*n+1), "q", "\xff\xff\xff\xff\xff\xff\xff\xff\xff"}
		for i := range min(n, 50) {
			others = append(others, fmt.Sprintf(form, 2*i), fmt.Sprintf(form, 2*i+1)+"0")
		}
		for _, key := range others {
			if _, ok := r.Trashed(key); ok {
				t.Fatalf("%d persons gone: %q is found among them", n, key)
			}
		}
		listed := []change.Person{{Op: change.Insert, Person: record.Person{Key: "p999999", Name: "New"}}, {Op: change.Update, Person: record.Person{Key: "a", Name: "Renamed"}}}
		plan := &change.Plan{Persons: slices.Clone(listed)}
		r.AppendPersonsTo(plan)
		if r.Persons() != 0 || len(plan.Persons) != len(listed)+n || !slices.EqualFunc(plan.Persons[:2], listed, func(a, b change.Person) bool { return a.Person.Key == b.Person.Key }) ||
			!slices.EqualFunc(plan.Persons[2:], want, func(a, b change.Person) bool { return a.Person.Key == b.Person.Key && a.Person.Name == b.Person.Name }) {
			t.Fatalf("%d persons gone, listed after 2 others: %d persons listed, %d left apart", n, len(plan.Persons), r.Persons())
		}
	}
}

// BenchmarkTrashedLookup: a broken night asks whether the member of each membership removal
// is among the persons trashed (75,282 of them at 316.8 MB); a lookup should not allocate.
func BenchmarkTrashedLookup(b *testing.B) {
	g := &gonePersons{op: change.Delete}
	for i := range 75000 {
		g.add(fmt.Sprintf("P%07d", 2*i), "Pupil")
	}
	g.sort()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("P%07d", i*73)
	}
	b.ReportAllocs()
	found := 0
	for i := 0; b.Loop(); i++ {
		if g.has(keys[i%len(keys)]) {
			found++
		}
	}
	if found == 0 {
		b.Fatal("no key found")
	}
}
