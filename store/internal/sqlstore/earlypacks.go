package sqlstore

import (
	"fmt"
	"slices"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store/internal/packs"
)

// packer packs an initial load's memberships as early inserts copy them: the file gives a
// group's memberships together, so a group's are gathered until the next group's come, sorted
// and cut into packs (the first keyed ""), ready to be copied. The member lists are a
// transposition of the file: each membership's (member, group) goes to a listSort, which gives
// the lists back by member once the file is read. A group whose memberships come again after another
// group's is rare: those are kept aside (late) and edited into the group's stored packs at the
// end, as any later change is.
type packer struct {
	group string
	open  []packs.Entry
	ready []packRowOf
	done  map[string]uint32 // groups packed, their places in groups
	late  []*record.Membership

	lists listSort // and its groups: the groups packed, in order
	err   error    // of joined
}

// packRowOf is a pack ready to be copied, with its group.
type packRowOf struct {
	group string
	packs.Row
}

func newPacker() *packer {
	return &packer{done: map[string]uint32{}}
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
	g := uint32(len(p.lists.groups))
	p.lists.groups = append(p.lists.groups, p.group)
	p.done[p.group] = g
	first := true
	packs.Cut(es, func(part []packs.Entry) {
		key := part[0].Member
		if first {
			key, first = "", false
		}
		p.ready = append(p.ready, packRowOf{p.group, packs.RowOf(key, part)})
	})
	prev := ""
	for i := range es {
		if i > 0 && es[i].Member == prev {
			continue // a member in two roles: once
		}
		prev = es[i].Member
		if err := p.lists.add(memberTypeOf(es[i].Group), es[i].Member, g); err != nil {
			return err
		}
	}
	clear(p.open)
	p.open = p.open[:0]
	p.group = ""
	return nil
}

// joined keeps that m joined a group packed before (a membership of a group that came back).
func (p *packer) joined(m packs.Member, group string) {
	if err := p.lists.add(memberTypeOf(m.Group), m.Key, p.done[group]); err != nil && p.err == nil {
		p.err = err
	}
}
