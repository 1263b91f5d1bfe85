package live

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/imsfeed/imsfeed/safety"
)

// The live delete limits count the base only up to removalBounds: the verdict must be the one
// the whole counts give, for any policy, window and tenant.
func TestBoundedBaseGivesTheVerdictOfTheWholeCounts(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 33))
	percents := []float64{0, 0.5, 1, 3, 7.5, 10, 12.5, 33, 50, 100}
	bounded, crossed := 0, 0
	for n := 0; n < 200000; n++ {
		var p safety.Policy
		p.MinChanges = r.IntN(30)
		for i := 0; i < 3; i++ {
			tp := &p.Types[i]
			if r.IntN(4) > 0 {
				v := percents[r.IntN(len(percents))]
				tp.Deletes.MaxPercent = &v
			}
			if r.IntN(3) == 0 {
				c := r.IntN(2000)
				tp.Deletes.MaxCount = &c
			}
			if r.IntN(5) == 0 {
				mc := r.IntN(40)
				tp.MinChanges = &mc
			}
		}
		var done, now, active [3]int
		for i := range done {
			done[i] = r.IntN(1 << r.IntN(12))
			now[i] = r.IntN(1 << r.IntN(8))
			active[i] = r.IntN(1 << r.IntN(20))
		}
		deletes := liveDeletes(done, now, r.IntN(1<<r.IntN(10)), p)
		whole := liveTrips(deletes, active, done, p)
		bounds, ok := removalBounds(deletes, done, p)
		if !ok {
			continue
		}
		bounded++
		var counted [3]int
		for i := range counted {
			counted[i] = min(active[i], bounds[i])
		}
		got := liveTrips(deletes, counted, done, p)
		if (len(got) == 0) != (len(whole) == 0) {
			t.Fatalf("policy %+v, done %v, deletes %v, active %v counted to %v: %d trips counted, %d on the whole counts (%v)",
				p.Types, done, deletes, active, bounds, len(got), len(whole), whole)
		}
		if len(whole) > 0 {
			crossed++
		}
	}
	// The draw must exercise both verdicts on the bounded path, or the test proves nothing.
	if bounded < 50000 || crossed < 1000 || bounded-crossed < 1000 {
		t.Fatalf("only %d draws took the bounded path, %d of them refused", bounded, crossed)
	}
}

func TestBaseIsNotCountedUnderMinChanges(t *testing.T) {
	ten := 10.0
	var p safety.Policy
	p.MinChanges = 25
	for i := range p.Types {
		p.Types[i].Deletes.MaxPercent = &ten
	}
	deletes := liveDeletes([3]int{10, 0, 20}, [3]int{1, 0, 4}, 0, p)
	if deletes != [3]int{} {
		t.Fatalf("removals under min_changes count %v, want none (nothing to count)", deletes)
	}
	// 30 membership removals under 10 %: the tenant's memberships matter only up to 302.
	deletes = liveDeletes([3]int{0, 0, 26}, [3]int{0, 0, 4}, 0, p)
	bounds, ok := removalBounds(deletes, [3]int{0, 0, 26}, p)
	if want := [3]int{0, 0, 276}; !ok || !reflect.DeepEqual(bounds, want) {
		t.Fatalf("bounds %v (ok %v), want %v", bounds, ok, want)
	}
}

// A refusal's figures read as an operator would write them.
func TestCountedSaysOneAndMany(t *testing.T) {
	if got := Counted([3]int{1, 0, 2}); got != "1 person, 0 groups and 2 memberships" {
		t.Fatalf("Counted: %q", got)
	}
}
