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
