package hierarchy

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// rolloverState is a tenant of courses under the year's node, each with synced pupils, one
// manual member and the course itself a member of a school group; a class outside the year
// with pupils of its own.
func rolloverState(courses, pupils int) *change.State {
	const year = "school-year-2026-27"
	st := &change.State{Tenant: "t1", Version: 7, Groups: map[string]change.GroupState{
		year:    {Name: "School year 2026-27", Own: true},
		"S1":    {Name: "School 1"},
		"CLASS": {Name: "Class 5A", Parents: []string{"S1"}},
	}}
	ms := map[record.MembershipKey]change.MembershipState{}
	for p := range pupils {
		ms[record.MembershipKey{Group: "CLASS", Member: fmt.Sprintf("P%05d", p), Role: "01"}] = change.MembershipState{MemberType: record.MemberPerson}
	}
	for c := range courses {
		key := fmt.Sprintf("C%04d", c)
		st.Groups[key] = change.GroupState{Name: "Course " + key, Course: true, Parents: []string{"S1", year}}
		for p := range pupils {
			ms[record.MembershipKey{Group: key, Member: fmt.Sprintf("P%05d", p), Role: "01"}] = change.MembershipState{MemberType: record.MemberPerson}
		}
		ms[record.MembershipKey{Group: key, Member: "TEACHER", Role: "02"}] = change.MembershipState{MemberType: record.MemberPerson, Manual: true}
		ms[record.MembershipKey{Group: "S1", Member: key, Role: "01"}] = change.MembershipState{MemberType: record.MemberGroup}
	}
	st.Memberships = change.MembershipsOf(ms)
	return st
}

func TestRolloverArchivesTheYearsCoursesAndKeepsTheirMembersAsManual(t *testing.T) {
	st := rolloverState(3, 4)
	plan := Rollover(st, "school-year-2026-27", []string{"imsfeed-archive"})

	var groups []string
	for _, g := range plan.Groups {
		groups = append(groups, fmt.Sprintf("%v %s %v", g.Op, g.Group.Key, g.Group.Parents))
	}
	want := []string{
		fmt.Sprintf("%v C0000 [imsfeed-archive]", change.Archive),
		fmt.Sprintf("%v C0001 [imsfeed-archive]", change.Archive),
		fmt.Sprintf("%v C0002 [imsfeed-archive]", change.Archive),
		fmt.Sprintf("%v school-year-2026-27 []", change.Delete),
	}
	if !slices.Equal(groups, want) {
		t.Errorf("groups:\n got %q\nwant %q", groups, want)
	}

	var got []string
	for _, m := range plan.Memberships {
		got = append(got, fmt.Sprintf("%v %s %s %s cascade=%v", m.Op, m.Membership.Group, m.Membership.Member, m.Membership.Role, m.Cascade))
	}
	want = nil
	for c := range 3 {
		for p := range 4 {
			want = append(want, fmt.Sprintf("%v C%04d P%05d 01 cascade=false", change.Manualize, c, p))
		}
	}
	for c := range 3 {
		want = append(want, fmt.Sprintf("%v S1 C%04d 01 cascade=true", change.Delete, c))
	}
	// The class's pupils and the courses' manual teachers are not touched.
	if !slices.Equal(got, want) {
		t.Errorf("memberships:\n got %q\nwant %q", got, want)
	}
}

// A large tenant's rollover lists most of its memberships (the 1,013.8 MB feed's: 2,351,925 of
// 4,703,925), so what it allocates for them is what its peak memory is made of: the list is
// allocated once, at its size, not grown (growing kept the old array and the new one at once:
// 726 MB live for the list where it needs 339 MB).
func TestRolloverAllocatesItsMembershipListOnce(t *testing.T) {
	st := rolloverState(40, 1000) // 40,000 memberships to turn manual
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	plan := Rollover(st, "school-year-2026-27", nil)
	runtime.ReadMemStats(&after)

	n := len(plan.Memberships)
	if n != 40*1000+40 {
		t.Fatalf("%d membership changes, want %d", n, 40*1000+40)
	}
	list := uint64(n) * uint64(unsafe.Sizeof(change.Membership{}))
	if got := after.TotalAlloc - before.TotalAlloc; got > list+list/4 {
		t.Errorf("the rollover of %d memberships allocated %d bytes; the list itself is %d", n, got, list)
	}
}
