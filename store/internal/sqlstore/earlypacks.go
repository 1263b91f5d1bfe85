package sqlstore

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store/internal/packs"
)

// packer packs an initial load's memberships as early inserts copy them: the file gives a
// group's memberships together, so a group's are gathered until the next group's come, sorted
// and cut into packs (the first keyed ""), ready to be copied. The member lists are a
// transposition of the file: each membership's (member, group) is kept as 8 bytes and the
// lists are made once the file is read. A group whose memberships come again after another
// group's is rare: those are kept aside (late) and edited into the group's stored packs at the
// end, as any later change is.
type packer struct {
	group string
	open  []packs.Entry
	ready []packRowOf
	done  map[string]uint32 // groups packed, their places in groups
	late  []*record.Membership

	groups  []string
	members []listKey
	midx    map[listKey]uint32
	pairs   []uint64 // member<<32 | group, indexes into members and groups

	gbyRank, mbyRank []uint32 // sortLists': the groups and members in their order
	cursor           int      // nextList's place in pairs
	gs               []string
	data             []byte
}

type packRowOf struct {
	group, key      string
	entries, manual int
	data            []byte
}

func newPacker() *packer {
	return &packer{done: map[string]uint32{}, midx: map[listKey]uint32{}}
}

// add takes the next membership; flush packs the open group's.
func (p *packer) add(m *record.Membership) error {
	if err := checkKey(m.MembershipKey); err != nil {
		return err
	}
	if m.Group != p.group {
		if err := p.flush(); err != nil {
			return err
		}
		if _, ok := p.done[m.Group]; ok {
			p.late = append(p.late, m)
			return nil
		}
		p.group = m.Group
	}
	p.open = append(p.open, entryOf(m))
	return nil
}

func (p *packer) flush() error {
	if len(p.open) == 0 {
		p.group = ""
		return nil
	}
	es := p.open
	slices.SortFunc(es, func(a, b packs.Entry) int { return packs.Compare(&a, &b) })
	for i := 1; i < len(es); i++ {
		if packs.Compare(&es[i-1], &es[i]) == 0 {
			return fmt.Errorf("membership %s is given twice", record.MembershipKey{Group: p.group, Member: es[i].Member, Role: es[i].Role})
		}
	}
	g := uint32(len(p.groups))
	p.group = strings.Clone(p.group) // as pair's member keys
	p.groups = append(p.groups, p.group)
	p.done[p.group] = g
	first := true
	packs.Cut(es, func(part []packs.Entry) {
		key := part[0].Member
		if first {
			key, first = "", false
		}
		p.ready = append(p.ready, packRowOf{p.group, key, len(part), 0, packs.Append(nil, part)})
	})
	prev := ""
	for i := range es {
		if i > 0 && es[i].Member == prev {
			continue // a member in two roles: once
		}
		prev = es[i].Member
		p.pair(packs.Member{Key: es[i].Member, Group: es[i].Group}, g)
	}
	clear(p.open)
	p.open = p.open[:0]
	p.group = ""
	return nil
}

// pair keeps that member m is in the group at place g of groups.
func (p *packer) pair(m packs.Member, g uint32) {
	k := listKey{memberTypeOf(m.Group), m.Key}
	mi, ok := p.midx[k]
	if !ok {
		// A copy of its own: the record's strings may share a block of the file's
		// records that would otherwise be kept whole until the file is read.
		k.member = strings.Clone(k.member)
		mi = uint32(len(p.members))
		p.midx[k] = mi
		p.members = append(p.members, k)
	}
	p.pairs = append(p.pairs, uint64(mi)<<32|uint64(g))
}

// joined keeps that m joined a group packed before (a membership of a group that came back).
func (p *packer) joined(m packs.Member, group string) { p.pair(m, p.done[group]) }

// sortLists orders the (member, group) pairs by member type and key, then group key, once
// every group is flushed; nextList then gives each member's list in that order.
func (p *packer) sortLists() {
	mrank := rank(len(p.members), func(a, b int) int {
		x, y := p.members[a], p.members[b]
		if x.memberType != y.memberType {
			return int(x.memberType - y.memberType)
		}
		return strings.Compare(x.member, y.member)
	})
	grank := rank(len(p.groups), func(a, b int) int { return strings.Compare(p.groups[a], p.groups[b]) })
	p.gbyRank = make([]uint32, len(p.groups))
	for g, r := range grank {
		p.gbyRank[r] = uint32(g)
	}
	p.mbyRank = make([]uint32, len(p.members))
	for m, r := range mrank {
		p.mbyRank[r] = uint32(m)
	}
	for i, x := range p.pairs {
		p.pairs[i] = uint64(mrank[x>>32])<<32 | uint64(grank[uint32(x)])
	}
	slices.Sort(p.pairs)
}

func (p *packer) nextList() (listKey, []byte, bool) {
	if p.cursor >= len(p.pairs) {
		return listKey{}, nil, false
	}
	m := p.pairs[p.cursor] >> 32
	p.gs = p.gs[:0]
	for ; p.cursor < len(p.pairs) && p.pairs[p.cursor]>>32 == m; p.cursor++ {
		if p.cursor > 0 && p.pairs[p.cursor] == p.pairs[p.cursor-1] {
			continue // joined again, in a block of the group that came back
		}
		p.gs = append(p.gs, p.groups[p.gbyRank[uint32(p.pairs[p.cursor])]])
	}
	p.data = packs.AppendList(p.data[:0], p.gs)
	return p.members[p.mbyRank[m]], p.data, true
}

// rank is each of n items' place in the order cmp gives them.
func rank(n int, cmp func(a, b int) int) []uint32 {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, cmp)
	r := make([]uint32, n)
	for place, i := range order {
		r[i] = uint32(place)
	}
	return r
}
