package diff

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// TestRemovalsComeAfterTheFilesChangesEachOnceSortedByKey: over several chunks of removals
// (a broken night's millions are kept in chunks), the plan's memberships are the file's
// changes in their order, less those whose key is removed too, then every removal once, sorted
// by key, its op and cascade as given. The reference is the plain way: a set and a sort.
func TestRemovalsComeAfterTheFilesChangesEachOnceSortedByKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 18))
	for _, n := range []int{0, 1, removalChunk - 1, removalChunk, 2*removalChunk + 5} {
		for _, files := range []int{0, 3, 700} {
			key := func(i int) record.MembershipKey {
				return record.MembershipKey{Group: fmt.Sprintf("g%03d", i%97), Member: fmt.Sprintf("p%06d", i), Role: "01"}
			}
			var l removals
			var want []change.Membership
			removed := map[record.MembershipKey]bool{}
			for _, i := range rng.Perm(n) {
				c := change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: key(i)}, Cascade: i%3 == 0}
				if i%5 == 0 {
					c = change.Membership{Op: change.Manualize, Membership: record.Membership{MembershipKey: key(i)}}
				}
				l.add(c)
				want = append(want, c)
				removed[c.Membership.MembershipKey] = true
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
			want = append(kept, want...)

			got := l.appendTo(changes)
			if len(got) != len(want) {
				t.Fatalf("%d removals, %d file changes: %d memberships, want %d", n, files, len(got), len(want))
			}
			for i := range want {
				if g, w := got[i], want[i]; g.Op != w.Op || g.Cascade != w.Cascade || g.Membership.MembershipKey != w.Membership.MembershipKey ||
					!slices.Equal(g.Membership.Attrs, w.Membership.Attrs) {
					t.Fatalf("%d removals, %d file changes: membership %d is %v %v cascade=%v, want %v %v cascade=%v",
						n, files, i, g.Op, g.Membership.MembershipKey, g.Cascade, w.Op, w.Membership.MembershipKey, w.Cascade)
				}
			}
		}
	}
}
