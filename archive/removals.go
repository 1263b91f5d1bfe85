package archive

import (
	"fmt"
	"iter"
	"slices"
	"sort"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// GroupRemovals is what a plan takes out of one group for one role: "Northside Upper School:
// 412 of 430 learners gone". One lost school is the commonest broken export, and it shows here
// as one group losing nearly everyone while the others lose a few.
type GroupRemovals struct {
	Group  string `json:"group"`
	Name   string `json:"name"`
	Course bool   `json:"course,omitempty"`
	Role   string `json:"role"` // "01".."08"
	// Gone counts the person memberships of the group and role the plan removes; Trashed, how
	// many of those persons the plan also puts in the trash can.
	Gone    int `json:"gone"`
	Trashed int `json:"trashed"`
	// Of is how many synced person memberships of the group and role there are now.
	Of int `json:"of"`
}

// Removals groups a plan's removals of persons from groups by group and role, largest first,
// counted against the state the plan was made from (its memberships, or the plan's RemovalBase
// when the diff read them as a source). Memberships of group members and those an archival
// turns manual (they stay) are not removals of persons. It is pure, for the console and the
// status mail alike.
func Removals(p *change.Plan, s *change.State) []GroupRemovals {
	return RemovalsOf(p, slices.Values(p.Memberships), nil, s)
}

// RemovalsOf is Removals of a plan whose membership changes are memberships rather than its
// list, and whose persons going to the trash can are, when trashedApart is not nil, those it
// lists and those trashedApart reports (a plan whose removals the diff kept apart).
func RemovalsOf(p *change.Plan, memberships iter.Seq[change.Membership], trashedApart func(key string) bool, s *change.State) []GroupRemovals {
	listed := map[string]bool{}
	for _, c := range p.Persons {
		if c.Op == change.Delete {
			listed[c.Person.Key] = true
		}
	}
	trashed := func(key string) bool { return listed[key] || (trashedApart != nil && trashedApart(key)) }
	type gr struct{ group, role string }
	rows := map[gr]*GroupRemovals{}
	for c := range memberships {
		if c.Op != change.Delete {
			continue
		}
		k := c.Membership.MembershipKey
		if b := p.RemovalBase; b != nil {
			if b.GroupMembers[k] {
				continue
			}
		} else if st, ok := s.Memberships.Get(k); ok && st.MemberType == record.MemberGroup {
			continue
		} else if !ok && c.Membership.MemberType == record.MemberGroup {
			continue
		}
		row := rows[gr{k.Group, k.Role}]
		if row == nil {
			g := s.Groups[k.Group]
			row = &GroupRemovals{Group: k.Group, Name: g.Name, Course: g.Course, Role: k.Role}
			rows[gr{k.Group, k.Role}] = row
		}
		row.Gone++
		if trashed(k.Member) {
			row.Trashed++
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if b := p.RemovalBase; b != nil {
		for k, row := range rows {
			row.Of = b.Synced[change.GroupRole{Group: k.group, Role: k.role}]
		}
	} else {
		for k, m := range s.Memberships.All() {
			if m.Manual || m.MemberType == record.MemberGroup {
				continue
			}
			if row := rows[gr{k.Group, k.Role}]; row != nil {
				row.Of++
			}
		}
	}
	out := make([]GroupRemovals, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Gone != b.Gone {
			return a.Gone > b.Gone
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Role < b.Role
	})
	return out
}

// String is the row as a person reads it: "Northside Upper School (NUS): 412 of 430 learners
// gone, 400 of them to the trash can".
func (g GroupRemovals) String() string {
	name := g.Group
	if g.Name != "" && g.Name != g.Group {
		name = g.Name + " (" + g.Group + ")"
	}
	role := roleNoun(g.Role, g.Gone)
	var b strings.Builder
	if g.Of > 0 {
		fmt.Fprintf(&b, "%s: %d of %d %s gone", name, g.Gone, g.Of, roleNoun(g.Role, g.Of))
	} else {
		fmt.Fprintf(&b, "%s: %d %s gone", name, g.Gone, role)
	}
	switch {
	case g.Trashed == 0:
		b.WriteString(", none of them to the trash can")
	case g.Trashed == g.Gone:
		b.WriteString(", all to the trash can")
	default:
		fmt.Fprintf(&b, ", %d of them to the trash can", g.Trashed)
	}
	return b.String()
}

// Percent is the share of the group and role that goes, 0 when the group had none.
func (g GroupRemovals) Percent() float64 {
	if g.Of == 0 {
		return 0
	}
	return 100 * float64(g.Gone) / float64(g.Of)
}

// More says what a list cut after its first rows leaves out, for "… and 6 more (from 5
// groups), none losing more": a row is one group and role, so the rows left out may come from
// fewer groups (5A's learners and its instructor are two rows). "" when nothing is left out.
func More(rest []GroupRemovals) string {
	if len(rest) == 0 {
		return ""
	}
	groups := map[string]bool{}
	for _, g := range rest {
		groups[g.Group] = true
	}
	noun := "groups"
	if len(groups) == 1 {
		noun = "group"
	}
	return fmt.Sprintf("%d more (from %d %s)", len(rest), len(groups), noun)
}

func roleNoun(code string, n int) string {
	name := strings.ToLower(record.RoleName(code))
	switch code {
	case "03":
		name = "content developer"
	case "08":
		name = "teaching assistant"
	}
	if n == 1 {
		return name
	}
	return name + "s"
}
