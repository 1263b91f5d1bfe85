package lis

import (
	"context"
	"slices"
	"testing"

	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/store"
)

// TestLISGroupsArePlaced: over LIS 2.0, Banner ILP's term with no parent goes under the
// tenant's unplaced node and its course section under the current school year's node, both
// created; the term leaves the unplaced node once the section names it (a root, as a nightly
// file would have it). On both stores.
func TestLISGroupsArePlaced(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.tenant.Placement = func(string) hierarchy.Rules {
			return hierarchy.Rules{Unplaced: &hierarchy.Node{Key: "imsfeed-unplaced", Name: "Unplaced groups"},
				Year: &hierarchy.Node{Key: "school-year-2026-27", Name: "School year 2026-27"}, IsCourse: e.tenant.Courses.IsCourse}
		}
		groups := func() map[string]store.StoredGroup {
			t.Helper()
			o, err := e.st.(store.Live).LiveLoad(context.Background(), e.tenant.ID, store.LiveQuery{
				Groups: []string{"201740", "44654.201740", "imsfeed-unplaced", "school-year-2026-27"}})
			if err != nil {
				t.Fatal(err)
			}
			return o.Groups
		}
		e.post(corpus(t, "lis2-banner-ilp/term_replace.xml")).want(t, "term replace", "success", "")
		gs := groups()
		if p := gs["201740"].Parents; !slices.Equal(p, []string{"imsfeed-unplaced"}) {
			t.Errorf("term under %v, want imsfeed-unplaced", p)
		}
		if n, ok := gs["imsfeed-unplaced"]; !ok || n.Source != hierarchy.Source {
			t.Errorf("unplaced node %+v (stored %v)", n, ok)
		}
		e.post(corpus(t, "lis2-banner-ilp/section_replace.xml")).want(t, "section replace", "success", "")
		gs = groups()
		if p := gs["44654.201740"].Parents; !slices.Contains(p, "school-year-2026-27") {
			t.Errorf("course section under %v, want the school year's node among its parents", p)
		}
		if _, ok := gs["school-year-2026-27"]; !ok {
			t.Error("the school-year node was not created")
		}
		if p := gs["201740"].Parents; len(p) != 0 {
			t.Errorf("term named by its section still under %v, want a root", p)
		}
		// A read names the term and offering, never the school year's node.
		e.post(lisReq("replaceCourseSection", sectionRec("S2", "S2", "201740"))).want(t, "section with only a term", "success", "")
		for _, c := range [][3]string{{"44654.201740", "201740", "ENG.3705"}, {"S2", "201740", ""}} {
			a := e.post(lisReq("readCourseSection", sid(c[0])))
			cs := a.root.Path("Body", "readCourseSectionResponse", "courseSectionRecord", "courseSection")
			if text(cs.Child("academicSession")) != c[1] || cs.Child("parentOfferingId").Str() != c[2] {
				t.Errorf("readCourseSection %s: want academicSession %q, parentOfferingId %q\n%s", c[0], c[1], c[2], a.raw)
			}
		}
	})
}
