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
	plan := &change.Plan{Tenant: st.Tenant, BaseVersion: st.Version}
	courses := map[string]bool{}
	keys := make([]string, 0, len(st.Groups))
	for k := range st.Groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := st.Groups[k]
		if g.Archived || !g.Course || !contains(g.Parents, oldNode) {
			continue
		}
		courses[k] = true
		plan.Groups = append(plan.Groups, change.Group{Op: change.Archive, Course: true,
			Group: record.Group{Key: k, Name: g.Name, Parents: archiveParents}})
	}
	if g, ok := st.Groups[oldNode]; ok && !g.Archived && !g.Course {
		plan.Groups = append(plan.Groups, change.Group{Op: change.Delete, Group: record.Group{Key: oldNode, Name: g.Name}})
	}
	// A large tenant's rollover turns most of its memberships manual (the 1 GB feed's: millions),
	// so the list is counted before it is made: grown by append it would hold about a quarter
	// more than it needs, and both its old and new arrays while it grew.
	op := func(k record.MembershipKey, m change.MembershipState) (change.Op, bool) {
		switch {
		case m.Manual:
		case courses[k.Group]:
			return change.Manualize, true
		case m.MemberType == record.MemberGroup && (courses[k.Member] || k.Member == oldNode):
			return change.Delete, true
		}
		return 0, false
	}
	n := 0
	for k, m := range st.Memberships.All() {
		if _, ok := op(k, m); ok {
			n++
		}
	}
	plan.Memberships = make([]change.Membership, 0, n)
	for k, m := range st.Memberships.All() {
		if o, ok := op(k, m); ok {
			plan.Memberships = append(plan.Memberships, change.Membership{Op: o, Cascade: o == change.Delete, Membership: record.Membership{MembershipKey: k}})
		}
	}
	slices.SortFunc(plan.Memberships, func(a, b change.Membership) int {
		return a.Membership.MembershipKey.Compare(b.Membership.MembershipKey)
	})
	return plan
}
