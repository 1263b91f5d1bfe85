package diff

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// TestRemovalsComeAfterTheFilesChangesEachOnceSortedByKey: over several partitions of
// removals (a spilled diff writes each partition's as it ends; one not spilled writes all at
// once), the plan's memberships are the file's changes in their order, less those whose key is
// removed too, then every removal once, sorted by key, its op and cascade as given; and the
// removals given one at a time are the same, each time they are asked for. The reference is
// the plain way: a set and a sort. Also with the removals moved to a scratch file as they are
// written (a small budget: after every partition, between the partitions' own bytes).
func TestRemovalsComeAfterTheFilesChangesEachOnceSortedByKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 18))
	for _, n := range []int{0, 1, 700, 20000} {
		for _, parts := range []int{1, 7, 256} {
			for _, files := range []int{0, 3, 700} {
				for _, budget := range []int{0, 4, 4096} {
					name := fmt.Sprintf("%d removals in %d partitions, %d file changes, scratch budget %d", n, parts, files, budget)
					key := func(i int) record.MembershipKey {
						// Roles beyond the ones written by index (maxRoles) are written whole.
						return record.MembershipKey{Group: fmt.Sprintf("g%03d", i%97), Member: fmt.Sprintf("p%06d", i/3), Role: fmt.Sprintf("%02d", i%3+(i%89)*(i%2))}
					}
					var l removals
					made := 0
					if budget > 0 {
						l.sp = &spiller{budget: budget, open: scratchIn(t, t.TempDir(), &made)}
					}
					var want []change.Membership
					removed := map[record.MembershipKey]bool{}
					byPart := make([][]change.Membership, parts)
					for _, i := range rng.Perm(n) {
						c := change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: key(i)}, Cascade: i%3 == 0}
						if i%5 == 0 {
							c = change.Membership{Op: change.Manualize, Membership: record.Membership{MembershipKey: key(i)}}
						}
						p := (i % 97) % parts // a group's removals in one partition
						byPart[p] = append(byPart[p], c)
						want = append(want, c)
						removed[c.Membership.MembershipKey] = true
					}
					for _, p := range rng.Perm(parts) {
						for _, c := range byPart[p] {
							l.add(c)
						}
						if l.sp != nil && l.sp.scratch != nil {
							// The file's memberships go to the same scratch file.
							if _, err := l.sp.write([]byte("other bytes")); err != nil {
								t.Fatal(err)
							}
						}
						l.endPart()
					}
					if wantFile := n > 0 && (budget == 4 || budget > 0 && n >= 700); (l.segs != nil) != wantFile || (made > 0) != wantFile {
						t.Fatalf("%s: %d segments of removals in %d scratch files; want them there: %v", name, len(l.segs), made, wantFile)
					}
					var changes []change.Membership
					for j := range files {
						// Keys among the removed ones (cascaded away) and beyond them.
						i := rng.IntN(n + files)
						changes = append(changes, change.Membership{Op: change.Update, Membership: record.Membership{MembershipKey: key(i), MemberType: record.MemberPerson,
							Attrs: record.Attrs{{Name: "n", Value: fmt.Sprint(j)}}}})
					}
					var kept []change.Membership
					for _, c := range changes {
						if !removed[c.Membership.MembershipKey] {
							kept = append(kept, c)
						}
					}
					slices.SortFunc(want, func(a, b change.Membership) int {
						return a.Membership.MembershipKey.Compare(b.Membership.MembershipKey)
					})
					wantAll := append(slices.Clone(kept), want...)

					fileChanges, err := l.dropRemoved(changes)
					if err != nil {
						t.Fatal(err)
					}
					plan := &change.Plan{Memberships: fileChanges}
					if err := (&Removed{&l}).AppendTo(plan); err != nil {
						t.Fatal(err)
					}
					sameMemberships(t, name+": plan", plan.Memberships, wantAll)
					for range 2 {
						var each []change.Membership
						if err := (&Removed{&l}).Each(func(c *change.Membership) error {
							each = append(each, *c)
							return nil
						}); err != nil {
							t.Fatal(err)
						}
						sameMemberships(t, name+": one at a time", each, want)
					}
					var c change.Counts
					l.count(&c)
					wc := change.Tally(&change.Plan{Memberships: want}, change.PerType{})
					if c != wc {
						t.Fatalf("%s: counts %+v, want %+v", name, c.Memberships, wc.Memberships)
					}
				}
			}
		}
	}
}

func sameMemberships(t *testing.T, what string, got, want []change.Membership) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d memberships, want %d", what, len(got), len(want))
	}
	for i := range want {
		if g, w := got[i], want[i]; g.Op != w.Op || g.Cascade != w.Cascade || g.Membership.MembershipKey != w.Membership.MembershipKey ||
			g.Membership.MemberType != w.Membership.MemberType || !slices.Equal(g.Membership.Attrs, w.Membership.Attrs) {
			t.Fatalf("%s: membership %d is %v %v cascade=%v, want %v %v cascade=%v",
				what, i, g.Op, g.Membership.MembershipKey, g.Cascade, w.Op, w.Membership.MembershipKey, w.Cascade)
		}
	}
}
