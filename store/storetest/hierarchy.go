package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// testHierarchy: a course's template is stored when it is created and kept by updates; an
// archived course is left under the plan's parents (the archive node); a plan's school year
// becomes the tenant's.
func testHierarchy(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	p := initial(tenant)
	p.Groups[1].Group.Template = "tmpl-standard"
	apply(t, s, p)
	if st := load(t, s, tenant); st.SchoolYear != "" {
		t.Errorf("school year before any rollover: %q", st.SchoolYear)
	}
	upd := group("math1", "Math 1 renamed", "school")
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1, Groups: []change.Group{{Op: change.Update, Group: upd, Course: true}}})
	if _, gs, err := s.StoredRecords(ctx, tenant, nil, []string{"math1", "school"}); err != nil {
		t.Fatal(err)
	} else if gs["math1"].Template != "tmpl-standard" || gs["school"].Template != "" {
		t.Errorf("templates after an update: math1 %q, school %q; want the one set at creation", gs["math1"].Template, gs["school"].Template)
	}
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 2, SchoolYear: "2027-28",
		Groups: []change.Group{{Op: change.Archive, Course: true, Group: record.Group{Key: "math1", Parents: []string{"archive-node"}}}}})
	st := load(t, s, tenant)
	if g := st.Groups["math1"]; !g.Archived || !reflect.DeepEqual(g.Parents, []string{"archive-node"}) {
		t.Errorf("archived course: %+v, want archived under archive-node", g)
	}
	if st.SchoolYear != "2027-28" {
		t.Errorf("school year %q after a plan that sets 2027-28", st.SchoolYear)
	}
}

// testUndoRollover: undoing an applied rollover gives back the school year before it with the
// courses it archived, undoing that undo makes the rollover's year current again, and a
// rollover with no course to archive is a change set of its own that undo reverses too.
func testUndoRollover(t *testing.T, s store.Store) {
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	base := Dump(t, s, tenant)
	year := func() string { t.Helper(); return load(t, s, tenant).SchoolYear }
	roll := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1, Mode: "rollover", SchoolYear: "2027-28",
		Groups: []change.Group{{Op: change.Archive, Course: true, Group: record.Group{Key: "math1", Parents: []string{"archive-node"}}}},
		Memberships: []change.Membership{
			{Op: change.Manualize, Membership: record.Membership{MembershipKey: mkey("math1", "p1", "01")}},
			{Op: change.Delete, Cascade: true, Membership: record.Membership{MembershipKey: mkey("school", "math1", "04")}}}})
	rolled := Dump(t, s, tenant)
	if y := year(); y != "2027-28" {
		t.Fatalf("school year after the rollover %q", y)
	}
	u := mustUndo(t, s, tenant, roll.ID, false)
	SameState(t, "after undoing the rollover", Dump(t, s, tenant), base)
	if y := year(); y != "" {
		t.Errorf("school year after undoing the rollover %q, want the config's again (none of its own)", y)
	}
	redo := mustUndo(t, s, tenant, u.ID, false)
	SameState(t, "after undoing the undo of the rollover", Dump(t, s, tenant), rolled)
	if y := year(); y != "2027-28" {
		t.Errorf("school year after undoing the undo %q, want 2027-28", y)
	}

	// The next year: nothing to archive, the year still changes and goes back on undo.
	v := load(t, s, tenant).Version
	next := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: v, Mode: "rollover", SchoolYear: "2028-29"})
	if st := load(t, s, tenant); st.SchoolYear != "2028-29" || st.Version != v+1 {
		t.Fatalf("an empty rollover: school year %q, version %d; want 2028-29 at version %d", st.SchoolYear, st.Version, v+1)
	}
	mustUndo(t, s, tenant, next.ID, false)
	if y := year(); y != "2027-28" {
		t.Errorf("school year after undoing the empty rollover %q, want 2027-28", y)
	}
	// Undoing both rollovers at once (a cascade) goes back to the year before the first.
	last, _ := s.LastRun(context.Background(), tenant)
	mustUndo(t, s, tenant, last.ID, false) // the undo of the empty rollover: 2028-29 again
	if y := year(); y != "2028-29" {
		t.Errorf("school year after undoing the undo of the empty rollover %q", y)
	}
	mustUndo(t, s, tenant, redo.ID, true)
	if y := year(); y != "" {
		t.Errorf("school year after a cascade back past both rollovers %q, want none", y)
	}
	SameState(t, "after a cascade back past both rollovers", Dump(t, s, tenant), base)
}
