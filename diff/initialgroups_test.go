package diff

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// TestInitialLoadGroupsAreThoseOfTheOrdinaryWay: an initial load keeps its groups as the plan's
// inserts from the start (freshGroups), not as records the plan then copies. Its plan's groups
// (which, in what order, every field, the course templates), its warnings and its counts are
// those the ordinary way gives the same file against a tenant with one group the file does not
// name, in an event file (that group is left alone) and in a snapshot (it goes), whatever the
// hint of how many groups come (ExpectGroups).
func TestInitialLoadGroupsAreThoseOfTheOrdinaryWay(t *testing.T) {
	o := opts()
	o.Courses.Template = map[string]string{"course": "tmpl-course"}
	at := func(g *record.Group, line int) *record.Group {
		g.Pos = record.Pos{Line: line, Column: 3}
		return g
	}
	renamed := at(group("CLASS1", "Class", "SCH"), 30)
	renamed.Name = "Class 1, renamed"
	renamed.ComputeHash()
	gone := func(key string, line int) *record.Group {
		return &record.Group{Key: key, RecStatus: record.StatusDelete, Pos: record.Pos{Line: line, Column: 3}}
	}
	base := []*record.Group{at(group("OWNER", "SchoolOwner"), 10), at(group("SCH", "School", "OWNER"), 11),
		at(group("CLASS1", "Class", "SCH"), 12), at(group("MATH", "Course", "SCH"), 13),
		at(group("A", "Unit", "B"), 14), at(group("B", "Unit", "A"), 15), at(group("ART", "Course", "SCH"), 16)}
	event := append(append([]*record.Group{}, base[:4]...), at(group("TEMP", "Unit", "SCH"), 20), gone("CLASS1", 21),
		base[4], base[5], renamed, gone("TEMP", 31), base[6])
	persons := []*record.Person{person("P1", "Pupil 1"), person("P2", "Pupil 2")}
	memberships := []*record.Membership{member("CLASS1", "P1", "01"), member("A", "P1", "01"), member("NOPE", "P1", "01"),
		member("MATH", "P2", "01"), member("TEMP", "P2", "01")}

	stored := func() *change.State {
		st := change.NewState("north")
		st.Groups["OTHER"] = change.GroupState{Hash: record.Hash{1}, Name: "Other"}
		return st
	}
	diffed := func(md mode, st *change.State, groups []*record.Group, mode Mode, hint int) (*change.Plan, []record.Warning) {
		t.Helper()
		d := md.New(t, st, o)
		for _, p := range persons {
			if err := d.Person(p); err != nil {
				t.Fatal(err)
			}
		}
		if hint >= 0 {
			d.ExpectGroups(hint)
		}
		for _, g := range groups {
			if err := d.Group(g); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range memberships {
			if err := d.Membership(m); err != nil {
				t.Fatal(err)
			}
		}
		p, w, err := d.Finish(Finish{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return p, w
	}
	inserts := func(p *change.Plan) []change.Group {
		var out []change.Group
		for _, c := range p.Groups {
			if c.Op == change.Insert {
				out = append(out, c)
			}
		}
		return out
	}
	for _, c := range []struct {
		mode   Mode
		groups []*record.Group
	}{{Event, event}, {Snapshot, base}} {
		for _, md := range modes {
			want, wantWarn := diffed(md, stored(), c.groups, c.mode, -1)
			if c.mode == Snapshot && (len(want.Groups) == len(inserts(want)) || len(inserts(want)) == 0) {
				t.Fatalf("%s: the ordinary way's plan does not remove the stored group: %+v", c.mode, want.Groups)
			}
			var keys []string
			for _, g := range inserts(want) {
				keys = append(keys, fmt.Sprintf("%s:%s:%s:%v", g.Group.Key, g.Group.Name, g.Group.Template, g.Course))
			}
			wantKeys := "OWNER:OWNER::false SCH:SCH::false CLASS1:CLASS1::false MATH:MATH:tmpl-course:true ART:ART:tmpl-course:true"
			if c.mode == Event {
				wantKeys = strings.Replace(wantKeys, "CLASS1:CLASS1:", "CLASS1:Class 1, renamed:", 1)
			}
			if got := strings.Join(keys, " "); got != wantKeys {
				t.Errorf("%s, %s: the ordinary way inserts %s, want %s", c.mode, md.name, got, wantKeys)
			}
			for _, hint := range []int{-1, 0, 3, len(c.groups), 1000} {
				got, gotWarn := diffed(md, change.NewState("north"), c.groups, c.mode, hint)
				if !reflect.DeepEqual(got.Groups, inserts(want)) {
					t.Errorf("%s, %s, hint %d: the initial load's groups\n%+v\nwant\n%+v", c.mode, md.name, hint, got.Groups, inserts(want))
				}
				if !reflect.DeepEqual(gotWarn, wantWarn) {
					t.Errorf("%s, %s, hint %d: warnings\n%v\nwant\n%v", c.mode, md.name, hint, gotWarn, wantWarn)
				}
				if g, w := got.Counts.Groups, want.Counts.Groups; g.Inserted != w.Inserted || g.After != w.After-w.Before+w.Deleted {
					t.Errorf("%s, %s, hint %d: group counts %s, want %d inserted, as the ordinary way's %s", c.mode, md.name, hint, counts(g), w.Inserted, counts(w))
				}
				if m, w := got.Counts.Memberships, want.Counts.Memberships; m.Inserted != w.Inserted {
					t.Errorf("%s, %s, hint %d: membership counts %s, the ordinary way's %s", c.mode, md.name, hint, counts(m), counts(w))
				}
			}
		}
	}
}

// TestInitialLoadWarnsOfMembershipsOfSkippedAndUnknownGroups: a membership naming a group of
// the file that a hierarchy cycle skipped is "not active after this import"; one naming a group
// neither the file nor the store has is "unknown" (an initial load finds the file's groups in
// its list of inserts, even those it left out of the plan).
func TestInitialLoadWarnsOfMembershipsOfSkippedAndUnknownGroups(t *testing.T) {
	f := school()
	f.groups = append(f.groups, group("A", "Unit", "B"), group("B", "Unit", "A"))
	f.memberships = append(f.memberships, member("A", "P1", "01"), member("NOPE", "P1", "01"))
	_, w := run(t, change.NewState("north"), f, Finish{})
	msgs := map[string]string{}
	for _, x := range w {
		msgs[x.Key] = x.Message
	}
	if m := msgs["A/P1/01"]; !strings.Contains(m, `group "A" is not active after this import`) {
		t.Errorf("membership of a skipped group: %q", m)
	}
	if m := msgs["NOPE/P1/01"]; !strings.Contains(m, `group "NOPE" is unknown to both the file and the store`) {
		t.Errorf("membership of an unknown group: %q", m)
	}
}
