package importer_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// Groups sent live, as elements of a nightly file: a course under the elementary school, a
// team with no parent, and a club the place rule puts under its school's node.
const (
	liveCourse = `<group>
    <sourcedid><source>northside-sis</source><id>LIVE-MATH</id></sourcedid>
    <grouptype><scheme>northside-sis</scheme><typevalue level="3">Course</typevalue></grouptype>
    <description><short>Live mathematics</short></description>
    <relationship relation="1"><sourcedid><source>northside-sis</source><id>NS-ELM</id></sourcedid></relationship>
  </group>
  `
	liveTeam = `<group>
    <sourcedid><source>northside-sis</source><id>LIVE-TEAM</id></sourcedid>
    <grouptype><scheme>northside-sis</scheme><typevalue level="4">Team</typevalue></grouptype>
    <description><short>Football team</short></description>
  </group>
  `
	liveClub = `<group>
    <sourcedid><source>northside-sis</source><id>LIVE-CLUB</id></sourcedid>
    <grouptype><scheme>northside-sis</scheme><typevalue level="3">Club</typevalue></grouptype>
    <description><short>Chess club</short></description>
    <extension><schoolcode>SCH-EAST</schoolcode><schoolname>East school</schoolname></extension>
  </group>
  `
)

// liveGroups reads group elements into the records a live request carries.
func liveGroups(t *testing.T, elems ...string) []live.Item {
	t.Helper()
	var h heldRecords
	if _, err := ims.Read(context.Background(), strings.NewReader("<enterprise>"+strings.Join(elems, "")+"</enterprise>"), "live.xml",
		ims.Options{Mode: ims.ModeEvent}, &h); err != nil {
		t.Fatal(err)
	}
	var items []live.Item
	for _, g := range h.groups {
		g.Pos = record.Pos{}
		items = append(items, live.Item{Key: g.Key, Group: g})
	}
	return items
}

type heldRecords struct{ groups []*record.Group }

func (h *heldRecords) Person(*record.Person) error         { return nil }
func (h *heldRecords) Membership(*record.Membership) error { return nil }
func (h *heldRecords) Group(g *record.Group) error         { h.groups = append(h.groups, g); return nil }

// TestLiveGroupsArePlacedAsTheNightlyPlacesThem: over the live channel (either dialect: the
// semantics are live.Service's), a new course goes under the current school year's node with
// its template, a group with no parent under hierarchy.unplaced, a group a place rule selects
// (its where XPath and mapped attributes evaluated on the live record) under its rule's node,
// created as imsfeed's own; the next nightly file with the same groups changes no group; a
// course deleted live is archived under courses.archive_node. On both stores.
func TestLiveGroupsArePlacedAsTheNightlyPlacesThem(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
			tn.Mappings = map[string]map[string]string{"groups": {
				"school_code": "string(extension/schoolcode)", "school_name": "string(extension/schoolname)"}}
			tn.Hierarchy.Place = []hierarchy.Rule{{Types: []string{"Club"}, Under: hierarchy.Path{"x.school_code"}, Name: hierarchy.Path{"x.school_name"},
				Where: "grouptype/typevalue/@level = '3'"}}
		})
		night4 := demoNight(t, "night4.xml")
		wantStatus(t, e.imp(e.write("n4.xml", []byte(night4))), runs.Completed)

		m, err := ims.NewMapper(e.tenant.ReaderMappings())
		if err != nil {
			t.Fatal(err)
		}
		svc := &live.Service{Store: e.st}
		lt := &live.Tenant{ID: e.tenant.ID, Courses: e.tenant.Courses, Safety: e.tenant.Safety, Mapper: m, Placement: e.tenant.Placement}
		send := func(a live.Action, items []live.Item) {
			t.Helper()
			res := svc.Do(ctx, lt, &live.Request{Dialect: "test", Operation: string(a), Type: record.Groups, Action: a, Plural: true, Items: items})
			for i, st := range res.Statuses {
				if !st.OK() {
					t.Fatalf("%s %s: %+v", a, items[i].Key, st)
				}
			}
		}
		send(live.Create, liveGroups(t, liveCourse, liveTeam, liveClub))

		_, gs, err := e.st.StoredRecords(ctx, e.tenant.ID, nil, []string{"LIVE-MATH", "LIVE-TEAM", "LIVE-CLUB", "SCH-EAST"})
		if err != nil {
			t.Fatal(err)
		}
		if g := gs["LIVE-MATH"]; !reflect.DeepEqual(g.Parents, []string{"NS-ELM", "school-year-2026-27"}) || g.Template != "tmpl-standard" {
			t.Errorf("live course under %v with template %q; want NS-ELM and school-year-2026-27, tmpl-standard", g.Parents, g.Template)
		}
		if p := gs["LIVE-TEAM"].Parents; !reflect.DeepEqual(p, []string{"imsfeed-unplaced"}) {
			t.Errorf("live group with no parent under %v, want imsfeed-unplaced", p)
		}
		if p := gs["LIVE-CLUB"].Parents; !reflect.DeepEqual(p, []string{"SCH-EAST"}) {
			t.Errorf("live club under %v, want its rule's node SCH-EAST", p)
		}
		if n, ok := gs["SCH-EAST"]; !ok || n.Name != "East school" || n.Source != hierarchy.Source {
			t.Errorf("rule node SCH-EAST (created %v): %+v", ok, n)
		}
		for _, a := range gs["LIVE-CLUB"].Attrs {
			if strings.HasPrefix(a.Name, hierarchy.WherePrefix) {
				t.Errorf("the where result is stored with the live group: %v", a)
			}
		}

		// The next night has the same groups: nothing about them changes.
		i := strings.Index(night4, "<membership>")
		next := night4[:i] + liveCourse + liveTeam + liveClub + night4[i:]
		r := e.imp(e.write("n4-live.xml", []byte(next)))
		wantStatus(t, r, runs.Completed)
		if c := r.Counts.Groups; c.Inserted+c.Updated+c.Deleted+c.Archived+c.Restored != 0 {
			t.Errorf("the nightly file after the live groups changes groups: %+v", c)
		}

		// A live delete of the course archives it under the archive node.
		send(live.Delete, []live.Item{{Key: "LIVE-MATH"}})
		st, err := e.st.LoadState(ctx, e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g := st.Groups["LIVE-MATH"]; !g.Archived || !reflect.DeepEqual(g.Parents, []string{"imsfeed-archive"}) {
			t.Errorf("live-deleted course: archived %v under %v, want archived under imsfeed-archive", g.Archived, g.Parents)
		}

		// An update of the club's school (not of its parents) moves it under the other
		// school's node, as the next nightly file would.
		club := &record.Group{Key: "LIVE-CLUB", Attrs: record.Attrs{{Name: "extension.schoolcode", Value: "SCH-WEST"}, {Name: "extension.schoolname", Value: "West school"}}}
		send(live.Update, []live.Item{{Key: "LIVE-CLUB", Group: club, Carried: []string{"extension"}}})
		if _, gs, err = e.st.StoredRecords(ctx, e.tenant.ID, nil, []string{"LIVE-CLUB", "SCH-WEST"}); err != nil {
			t.Fatal(err)
		}
		if p := gs["LIVE-CLUB"].Parents; !reflect.DeepEqual(p, []string{"SCH-WEST"}) {
			t.Errorf("club after a live update of its school under %v, want SCH-WEST", p)
		}
		if n, ok := gs["SCH-WEST"]; !ok || n.Name != "West school" {
			t.Errorf("rule node SCH-WEST (created %v): %+v", ok, n)
		}

		// A plural update naming the club three times, its school, its name, its school again:
		// each item applies on top of the one before, and the club is placed once, as the last
		// left it (no node for the school it was moved to and away from in the same request).
		school := func(code, name string) *record.Group {
			return &record.Group{Key: "LIVE-CLUB", Attrs: record.Attrs{{Name: "extension.schoolcode", Value: code}, {Name: "extension.schoolname", Value: name}}}
		}
		renamed := &record.Group{Key: "LIVE-CLUB", Name: "Chess and go club", Attrs: record.Attrs{{Name: "description.short", Value: "Chess and go club"}}}
		send(live.Update, []live.Item{{Key: "LIVE-CLUB", Group: school("SCH-NORTH", "North school"), Carried: []string{"extension"}},
			{Key: "LIVE-CLUB", Group: renamed, Carried: []string{"@name", "description"}},
			{Key: "LIVE-CLUB", Group: school("SCH-SOUTH", "South school"), Carried: []string{"extension"}}})
		if _, gs, err = e.st.StoredRecords(ctx, e.tenant.ID, nil, []string{"LIVE-CLUB", "SCH-NORTH", "SCH-SOUTH"}); err != nil {
			t.Fatal(err)
		}
		if g := gs["LIVE-CLUB"]; !reflect.DeepEqual(g.Parents, []string{"SCH-SOUTH"}) || g.Name != "Chess and go club" {
			t.Errorf("club after a plural update of its school, its name, its school: %q under %v, want \"Chess and go club\" under SCH-SOUTH", g.Name, g.Parents)
		}
		if n, ok := gs["SCH-SOUTH"]; !ok || n.Name != "South school" {
			t.Errorf("rule node SCH-SOUTH (created %v): %+v", ok, n)
		}
		if n, ok := gs["SCH-NORTH"]; ok {
			t.Errorf("rule node SCH-NORTH created for the school the club left in the same request: %+v", n)
		}
	})
}

// TestLiveOnlyTenantGetsItsNodes: a tenant fed only live gets imsfeed's nodes from its live
// requests: the archive node and the school-year node are created with the first ones; a group
// created with no parent is under the unplaced node until a group names it as parent (a root
// then, as a nightly file would have it); an update that does not carry the parents keeps the
// course under its year's node; a live delete archives it under the archive node. On both
// stores.
func TestLiveOnlyTenantGetsItsNodes(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
		})
		svc := &live.Service{Store: e.st}
		lt := &live.Tenant{ID: e.tenant.ID, Courses: e.tenant.Courses, Safety: e.tenant.Safety, Placement: e.tenant.Placement}
		send := func(a live.Action, it live.Item) {
			t.Helper()
			if it.Group != nil {
				it.Group.ComputeHash()
			}
			res := svc.Do(ctx, lt, &live.Request{Dialect: "test", Operation: string(a), Type: record.Groups, Action: a, Items: []live.Item{it}})
			if st := res.First(); !st.OK() {
				t.Fatalf("%s %s: %+v", a, it.Key, st)
			}
		}
		parents := func() map[string][]string {
			t.Helper()
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string][]string{}
			for k, g := range st.Groups {
				out[k] = append([]string{}, g.Parents...)
				if g.Archived {
					out[k] = append(out[k], "(archived)")
				}
			}
			return out
		}
		school := &record.Group{Key: "SCHOOL", Source: "sis", Name: "North school", Types: []record.GroupType{{Scheme: "sis", Value: "School"}}}
		send(live.Create, live.Item{Key: "SCHOOL", Group: school})
		p := parents()
		if !reflect.DeepEqual(p["SCHOOL"], []string{"imsfeed-unplaced"}) {
			t.Errorf("a lone school under %v, want imsfeed-unplaced", p["SCHOOL"])
		}
		if _, ok := p["imsfeed-archive"]; !ok {
			t.Error("the archive node was not created")
		}
		course := &record.Group{Key: "C1", Source: "sis", Name: "Maths", Types: []record.GroupType{{Scheme: "sis", Value: "Course"}}, Parents: []string{"SCHOOL"}}
		send(live.Create, live.Item{Key: "C1", Group: course})
		p = parents()
		if !reflect.DeepEqual(p["C1"], []string{"SCHOOL", "school-year-2026-27"}) || len(p["SCHOOL"]) != 0 {
			t.Errorf("course under %v, school under %v; want SCHOOL and the year's node, the school a root", p["C1"], p["SCHOOL"])
		}
		if _, ok := p["school-year-2026-27"]; !ok {
			t.Error("the school-year node was not created")
		}
		send(live.Update, live.Item{Key: "C1", Group: &record.Group{Key: "C1", Name: "Mathematics"}, Carried: []string{"@name"}})
		if p = parents(); !reflect.DeepEqual(p["C1"], []string{"SCHOOL", "school-year-2026-27"}) {
			t.Errorf("course after an update of its name under %v", p["C1"])
		}
		send(live.Delete, live.Item{Key: "C1"})
		if p = parents(); !reflect.DeepEqual(p["C1"], []string{"imsfeed-archive", "(archived)"}) {
			t.Errorf("live-deleted course: %v, want archived under imsfeed-archive", p["C1"])
		}
	})
}
