package diff

import (
	"slices"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// removals collects the stored memberships a run removes. A broken night removes millions (the
// 1 GB feed's tenant losing half its persons: 2,354,144), and as one growing slice of changes,
// then a set of their keys, then a copy after the file's updates, they took 800 MB of live
// heap for a plan of 300 MB. Here each is a key and its op, in fixed chunks (nothing is copied
// as they grow), made into the plan's changes once, at the plan's exact size.
type removals struct {
	chunks [][]removal
	n      int
}

// removal is a membership removal's whole change: removals name only the key (removal,
// membershipRemoval).
type removal struct {
	k       record.MembershipKey
	op      change.Op
	cascade bool
}

const removalChunk = 1 << 13

func (l *removals) add(c change.Membership) {
	if l.n%removalChunk == 0 {
		l.chunks = append(l.chunks, make([]removal, 0, removalChunk))
	}
	last := &l.chunks[len(l.chunks)-1]
	*last = append(*last, removal{c.Membership.MembershipKey, c.Op, c.Cascade})
	l.n++
}

// appendTo returns changes followed by the removals sorted by key, less any of changes whose
// key is removed too (a membership updated in the file but cascaded away is a removal, not an
// update). The chunks are released as they are copied.
func (l *removals) appendTo(changes []change.Membership) []change.Membership {
	if l.n == 0 {
		return changes
	}
	gone := make([]change.Membership, 0, l.n)
	for i, c := range l.chunks {
		for _, r := range c {
			gone = append(gone, change.Membership{Op: r.op, Membership: record.Membership{MembershipKey: r.k}, Cascade: r.cascade})
		}
		l.chunks[i] = nil
	}
	l.chunks, l.n = nil, 0
	slices.SortFunc(gone, func(a, b change.Membership) int {
		return a.Membership.MembershipKey.Compare(b.Membership.MembershipKey)
	})
	kept := changes[:0]
	for _, c := range changes {
		if _, removed := slices.BinarySearchFunc(gone, c.Membership.MembershipKey, func(g change.Membership, k record.MembershipKey) int {
			return g.Membership.MembershipKey.Compare(k)
		}); !removed {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return gone
	}
	// The file's changes first, as before: in the room gone has or gets, not a third list.
	n, m := len(gone), len(kept)
	gone = slices.Grow(gone, m)[:n+m]
	copy(gone[m:], gone[:n])
	copy(gone, kept)
	return gone
}
