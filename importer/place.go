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
// the diff. Groups are few: the diff keeps every one of them anyway.
type placing struct {
	*diff.Differ
	groups []*record.Group
}

func (p *placing) Group(g *record.Group) error {
	p.groups = append(p.groups, g)
	return nil
}

// place sets the held groups' parents by the rules, hands them and imsfeed's own nodes to the
// diff, and returns the notices for the attention section.
func (p *placing) place(rules hierarchy.Rules) ([]change.Notice, error) {
	var notices []change.Notice
	if !rules.Empty() {
		active := make([]*record.Group, 0, len(p.groups))
		for _, g := range p.groups {
			if !g.Gone() {
				active = append(active, g)
			}
		}
		res := hierarchy.Place(active, rules)
		for _, n := range res.Nodes {
			p.groups = append(p.groups, n)
		}
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
	return notices, nil
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
