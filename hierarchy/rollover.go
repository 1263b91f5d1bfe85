package hierarchy

import (
	"slices"
	"sort"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// Rollover is the change set of a school-year rollover, made against st: every active course
// under the old year's node is archived (left under archiveParents: the archive node, or
// none), as a night's archival would be: its synced memberships turned manual, its own synced
// memberships in other groups removed; and the old node, then empty, is deleted. Nothing else
// is touched. The caller sets Tenant, Mode, SchoolYear and Counts.
func Rollover(st *change.State, oldNode string, archiveParents []string) *change.Plan {
	plan, rule := RolloverGroups(st, oldNode, archiveParents)
	// A large tenant's rollover turns most of its memberships manual (the 1 GB feed's: millions),
	// so the list is counted before it is made: grown by append it would hold about a quarter
	// more than it needs, and both its old and new arrays while it grew.
	n := 0
	for k, m := range st.Memberships.All() {
		if _, ok := rule.Change(k, m); ok {
			n++
		}
	}
	plan.Memberships = make([]change.Membership, 0, n)
	for k, m := range st.Memberships.All() {
		if c, ok := rule.Change(k, m); ok {
			plan.Memberships = append(plan.Memberships, c)
		}
	}
	slices.SortFunc(plan.Memberships, func(a, b change.Membership) int {
		return a.Membership.MembershipKey.Compare(b.Membership.MembershipKey)
	})
	return plan
}

// RolloverGroups is the part of Rollover made from st's groups alone: the plan with its group
// changes (Memberships nil), and the rule that gives its change of each stored membership, so
// that the memberships can be read as a source (in key order, Rollover's order) instead of held.
func RolloverGroups(st *change.State, oldNode string, archiveParents []string) (*change.Plan, *RolloverRule) {
	plan := &change.Plan{Tenant: st.Tenant, BaseVersion: st.Version}
	var keys []string // the courses archived (a large tenant's: tens of thousands, listed once)
	for k, g := range st.Groups {
		if !g.Archived && g.Course && contains(g.Parents, oldNode) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	rule := &RolloverRule{courses: make(map[string]bool, len(keys)), sorted: keys, oldNode: oldNode}
	if len(keys) > 0 { // (none: nil, as the plan encodes it)
		plan.Groups = make([]change.Group, 0, len(keys)+1)
	}
	for _, k := range keys {
		rule.courses[k] = true
		plan.Groups = append(plan.Groups, change.Group{Op: change.Archive, Course: true,
			Group: record.Group{Key: k, Name: st.Groups[k].Name, Parents: archiveParents}})
	}
	if g, ok := st.Groups[oldNode]; ok && !g.Archived && !g.Course {
		plan.Groups = append(plan.Groups, change.Group{Op: change.Delete, Group: record.Group{Key: oldNode, Name: g.Name}})
	}
	return plan, rule
}

// RolloverRule gives a rollover's change of a stored membership.
type RolloverRule struct {
	courses map[string]bool // the courses archived
	sorted  []string        // their keys, sorted
	oldNode string
}

// Courses are the keys of the courses the rollover archives, sorted: it changes only their
// memberships and memberships whose member is a group.
func (r *RolloverRule) Courses() []string { return r.sorted }

// Manualizes reports whether group is one of the courses archived: the rule turns each of
// its synced memberships manual, and changes none of its manual ones.
func (r *RolloverRule) Manualizes(group string) bool { return r.courses[group] }

// Change is the rollover's change of stored membership k (m), and whether it makes one: a
// synced membership of an archived course turned manual; a synced membership of an archived
// course or the old node as a member of another group removed.
func (r *RolloverRule) Change(k record.MembershipKey, m change.MembershipState) (change.Membership, bool) {
	var op change.Op
	switch {
	case m.Manual:
		return change.Membership{}, false
	case r.courses[k.Group]:
		op = change.Manualize
	case m.MemberType == record.MemberGroup && (r.courses[k.Member] || k.Member == r.oldNode):
		op = change.Delete
	default:
		return change.Membership{}, false
	}
	return change.Membership{Op: op, Cascade: op == change.Delete, Membership: record.Membership{MembershipKey: k}}, true
}
