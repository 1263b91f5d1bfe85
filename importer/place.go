package importer

import (
	"fmt"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
)

// NoticeUnplaced is the attention notice counting the groups put under hierarchy.unplaced.
const NoticeUnplaced = "unplaced-groups"

// placing holds the file's groups back until the file is read, so that the hierarchy rules see
// all of them (a group's children may come after it); persons and memberships go straight to
// the diff. Groups are few: the diff keeps every one of them anyway. With prefixed course
// keys, keys maps the records' group keys to the stored ones; a membership naming a group
// neither the file so far nor the store has waits in later for the rest of the file.
type placing struct {
	*diff.Differ
	groups []*record.Group
	keys   *hierarchy.Keys
	later  []*record.Membership
	// stored, when set, waits for the stored groups and memberships (stagedState.rest): the
	// first membership record needs them; persons do not, nor the groups held back here.
	stored func() error
}

func (p *placing) Group(g *record.Group) error {
	p.keys.See(g)
	p.groups = append(p.groups, g)
	return nil
}

func (p *placing) Membership(m *record.Membership) error {
	if p.stored != nil {
		if err := p.stored(); err != nil {
			return err
		}
		p.stored = nil
	}
	if !p.keys.Membership(m) {
		p.later = append(p.later, m)
		return nil
	}
	return p.Differ.Membership(m)
}

// place maps the held groups' keys, sets their parents by the rules, hands them and
// imsfeed's own nodes (then the memberships that waited) to the diff, and returns the
// notices for the attention section.
func (p *placing) place(rules hierarchy.Rules) ([]change.Notice, error) {
	var notices []change.Notice
	for _, g := range p.groups {
		p.keys.Group(g)
	}
	if !rules.Empty() {
		res, err := hierarchy.Place(p.groups, rules)
		if err != nil {
			return nil, err
		}
		p.groups = append(p.groups, res.Nodes...)
		if n := len(res.Unplaced); n > 0 {
			keys := res.Unplaced
			more := ""
			if len(keys) > 10 {
				keys, more = keys[:10], fmt.Sprintf(" and %d more", n-10)
			}
			notices = append(notices, change.Notice{Kind: NoticeUnplaced, Key: rules.Unplaced.Key,
				Message: fmt.Sprintf("%d groups have no parent in the file and were placed under %q (%s): %s%s",
					n, rules.Unplaced.Key, rules.Unplaced.Name, strings.Join(keys, ", "), more)})
		}
	}
	for _, g := range p.groups {
		if err := p.Differ.Group(g); err != nil {
			return nil, err
		}
	}
	p.groups = nil
	for _, m := range p.later {
		p.keys.Force(m)
		if err := p.Differ.Membership(m); err != nil {
			return nil, err
		}
	}
	p.later = nil
	return notices, nil
}

// finish maps the keys the reader's finish names (skipped records, empty membership lists)
// as the records' are: a skipped group may be a stored course, so both its keys are kept.
func (p *placing) finish(f *diff.Finish) {
	if p.keys == nil {
		return
	}
	alias := func(key string) string {
		if k := hierarchy.CourseKey(p.keys.Year, key); p.keys.Stored(k) {
			return k
		}
		return ""
	}
	for _, s := range f.Skipped {
		if s.Type == record.Groups {
			if k := alias(s.Key); k != "" {
				f.Skipped = append(f.Skipped, diff.Skipped{Type: s.Type, Key: k})
			}
		}
		if s.Type == record.Memberships && s.Group != "" {
			g, _ := p.keys.Ref(s.Group)
			m, _ := p.keys.Ref(s.Member)
			if g != s.Group || m != s.Member {
				f.Skipped = append(f.Skipped, diff.Skipped{Type: s.Type, Key: s.Key, Group: g, Member: m})
			}
		}
	}
	for _, g := range f.EmptyMemberships {
		if k, _ := p.keys.Ref(g); k != g {
			f.EmptyMemberships = append(f.EmptyMemberships, k)
		}
	}
}

// storedParents are the keys the tenant's active stored groups name as parents.
func storedParents(st *change.State) map[string]bool {
	out := map[string]bool{}
	for _, g := range st.Groups {
		if !g.Archived {
			for _, p := range g.Parents {
				out[p] = true
			}
		}
	}
	return out
}

// storedNodes says what the state holds under a rule node's key that is no group of the file
// (hierarchy.Held): in an event file a stored group of the SIS is left as it is, so it is the
// node, as it would be in the file; a snapshot no longer has it, and imsfeed's node takes its
// key, as the file says.
func storedNodes(st *change.State, event bool) func(string) hierarchy.Held {
	return func(key string) hierarchy.Held {
		g, ok := st.Groups[key]
		return hierarchy.StoredHeld(ok, g.Archived, g.Own, !event)
	}
}
