package diff

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// feed is one night's file, built in Go.
type feed struct {
	persons     []*record.Person
	groups      []*record.Group
	memberships []*record.Membership
	relations   []*record.Relation
}

func person(key, name string) *record.Person {
	p := &record.Person{Key: key, Name: name, Pos: record.Pos{Line: 1, Column: 1}}
	p.ComputeHash()
	return p
}

func group(key, typ string, parents ...string) *record.Group {
	g := &record.Group{Key: key, Name: key, Types: []record.GroupType{{Value: typ}}, Parents: parents, Pos: record.Pos{Line: 2, Column: 1}}
	g.ComputeHash()
	return g
}

func member(g, m, role string) *record.Membership {
	ms := &record.Membership{MembershipKey: record.MembershipKey{Group: g, Member: m, Role: role}, MemberType: record.MemberPerson, Pos: record.Pos{Line: 3, Column: 1}}
	ms.ComputeHash()
	return ms
}

func opts() Options { return Options{Courses: archive.DefaultCoursePolicy()} }

// run diffs f against st and returns the plan, feeding records in file order. It diffs f in
// both modes (modes): the stored memberships held as a set while reading, and given as a
// source with the file's spilled (through a scratch file); the two must give the same plan,
// warnings and removals report, to the byte.
func run(t *testing.T, st *change.State, f feed, fin Finish) (*change.Plan, []record.Warning) {
	t.Helper()
	spilledState := copyState(st)
	plan, w := runIn(t, modes[0], st, f, fin)
	plan2, w2 := runIn(t, modes[1], spilledState, f, fin)
	samePlans(t, plan, w, st, plan2, w2, spilledState)
	return plan, w
}

func runIn(t *testing.T, m mode, st *change.State, f feed, fin Finish) (*change.Plan, []record.Warning) {
	t.Helper()
	d := m.New(t, st, opts())
	for _, p := range f.persons {
		if err := d.Person(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range f.groups {
		if err := d.Group(g); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range f.memberships {
		if err := d.Membership(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range f.relations {
		if err := d.Relation(r); err != nil {
			t.Fatal(err)
		}
	}
	plan, w, err := d.Finish(fin)
	if err != nil {
		t.Fatal(err)
	}
	return plan, w
}

// apply plays a plan onto a copy of st the way the stores do, so scenarios can chain nights.
func apply(st *change.State, p *change.Plan) *change.State {
	out := change.NewState(st.Tenant)
	out.Version = st.Version
	for k, v := range st.Persons {
		v.Seen = false
		out.Persons[k] = v
	}
	for k, v := range st.Groups {
		v.Seen = false
		out.Groups[k] = v
	}
	for k, v := range st.Memberships.All() {
		v.Seen = false
		out.Memberships.Set(k, v)
	}
	for k, v := range st.Relations {
		v.Seen = false
		out.Relations[k] = v
	}
	for _, c := range p.Relations {
		switch c.Op {
		case change.Insert, change.Update:
			out.Relations[c.Relation.RelationKey] = change.RelationState{Hash: c.Relation.Hash}
		case change.Delete:
			delete(out.Relations, c.Relation.RelationKey)
		}
	}
	for _, c := range p.Persons {
		switch c.Op {
		case change.Insert, change.Update, change.Restore:
			out.Persons[c.Person.Key] = change.PersonState{Hash: c.Person.Hash, Name: c.Person.Name}
		case change.Delete:
			v := out.Persons[c.Person.Key]
			v.Trashed = true
			out.Persons[c.Person.Key] = v
		}
	}
	for _, c := range p.Groups {
		switch c.Op {
		case change.Insert, change.Update:
			out.Groups[c.Group.Key] = change.GroupState{Hash: c.Group.Hash, Name: c.Group.Name, Course: c.Course, Parents: c.Group.Parents}
		case change.Archive:
			v := out.Groups[c.Group.Key]
			v.Archived, v.Parents = true, nil
			out.Groups[c.Group.Key] = v
		case change.Delete:
			delete(out.Groups, c.Group.Key)
		}
	}
	for _, c := range p.Memberships {
		k := c.Membership.MembershipKey
		switch c.Op {
		case change.Insert, change.Update:
			out.Memberships.Set(k, change.MembershipState{Hash: c.Membership.Hash, MemberType: c.Membership.MemberType})
		case change.Delete:
			out.Memberships.Delete(k)
		case change.Manualize:
			v, _ := out.Memberships.Get(k)
			v.Manual = true
			out.Memberships.Set(k, v)
		}
	}
	if !p.Empty() {
		out.Version++
	}
	return out
}

// school is a small school owner: an owner, a school, a class, a course, 4 pupils and a teacher.
func school() feed {
	f := feed{
		groups: []*record.Group{group("OWNER", "SchoolOwner"), group("SCH", "School", "OWNER"),
			group("CLASS1", "Class", "SCH"), group("MATH", "Course", "SCH")},
	}
	for i := 1; i <= 4; i++ {
		k := fmt.Sprintf("P%d", i)
		f.persons = append(f.persons, person(k, "Pupil "+k))
		f.memberships = append(f.memberships, member("CLASS1", k, "01"), member("MATH", k, "01"))
	}
	f.persons = append(f.persons, person("T1", "Teacher"))
	f.memberships = append(f.memberships, member("MATH", "T1", "02"))
	return f
}

func without(f feed, drop func(key string) bool) feed {
	var out feed
	for _, p := range f.persons {
		if !drop(p.Key) {
			out.persons = append(out.persons, p)
		}
	}
	for _, g := range f.groups {
		if !drop(g.Key) {
			out.groups = append(out.groups, g)
		}
	}
	for _, m := range f.memberships {
		if !drop(m.Group) && !drop(m.Member) {
			out.memberships = append(out.memberships, m)
		}
	}
	for _, r := range f.relations {
		if !drop(r.Person) { // a relation is part of its person's record
			out.relations = append(out.relations, r)
		}
	}
	return out
}

func counts(c change.TypeCounts) string {
	return fmt.Sprintf("before=%d ins=%d upd=%d del=%d res=%d arc=%d after=%d", c.Before, c.Inserted, c.Updated, c.Deleted, c.Restored, c.Archived, c.After)
}

func wantCounts(t *testing.T, p *change.Plan, persons, groups, memberships string) {
	t.Helper()
	for _, c := range []struct{ name, got, want string }{
		{"persons", counts(p.Counts.Persons), persons},
		{"groups", counts(p.Counts.Groups), groups},
		{"memberships", counts(p.Counts.Memberships), memberships},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestInitialLoadThenSameFileChangesNothing(t *testing.T) {
	st := change.NewState("north")
	p, w := run(t, st, school(), Finish{Mode: Snapshot})
	if len(w) != 0 {
		t.Fatalf("warnings: %v", w)
	}
	wantCounts(t, p, "before=0 ins=5 upd=0 del=0 res=0 arc=0 after=5",
		"before=0 ins=4 upd=0 del=0 res=0 arc=0 after=4",
		"before=0 ins=9 upd=0 del=0 res=0 arc=0 after=9")
	for _, g := range p.Groups {
		if g.Course != (g.Group.Key == "MATH") {
			t.Errorf("group %s: course=%v", g.Group.Key, g.Course)
		}
	}
	st = apply(st, p)
	again, _ := run(t, st, school(), Finish{Mode: Snapshot})
	if !again.Empty() {
		t.Fatalf("same file again changed something: %+v", again)
	}
}

func TestRenameIsAnUpdate(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	f := school()
	f.persons[1] = person("P2", "Renamed Pupil")
	p, _ := run(t, st, f, Finish{})
	wantCounts(t, p, "before=5 ins=0 upd=1 del=0 res=0 arc=0 after=5",
		"before=4 ins=0 upd=0 del=0 res=0 arc=0 after=4",
		"before=9 ins=0 upd=0 del=0 res=0 arc=0 after=9")
	if p.Persons[0].Person.Name != "Renamed Pupil" {
		t.Errorf("update carries the new name, got %q", p.Persons[0].Person.Name)
	}
}

func must(p *change.Plan, _ []record.Warning) *change.Plan { return p }

func TestPersonGoneToTrashThenRestored(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	gone := without(school(), func(k string) bool { return k == "P3" })
	p, _ := run(t, st, gone, Finish{})
	wantCounts(t, p, "before=5 ins=0 upd=0 del=1 res=0 arc=0 after=4",
		"before=4 ins=0 upd=0 del=0 res=0 arc=0 after=4",
		"before=9 ins=0 upd=0 del=2 res=0 arc=0 after=7")
	for _, m := range p.Memberships {
		if !m.Cascade || m.Membership.Member != "P3" {
			t.Errorf("want only P3's memberships, cascaded: %+v", m)
		}
	}
	st = apply(st, p)
	if !st.Persons["P3"].Trashed {
		t.Fatal("P3 not in the trash can")
	}
	back, _ := run(t, st, school(), Finish{})
	wantCounts(t, back, "before=4 ins=0 upd=0 del=0 res=1 arc=0 after=5",
		"before=4 ins=0 upd=0 del=0 res=0 arc=0 after=4",
		"before=7 ins=2 upd=0 del=0 res=0 arc=0 after=9")
	if back.Persons[0].Op != change.Restore {
		t.Errorf("want restore, got %v", back.Persons[0].Op)
	}
}

func TestCourseGoneArchivedThenReappearsStaysArchived(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	st.Memberships.Set(record.MembershipKey{Group: "MATH", Member: "P9", Role: "02"}, change.MembershipState{Manual: true})
	gone := without(school(), func(k string) bool { return k == "MATH" })
	p, _ := run(t, st, gone, Finish{})
	wantCounts(t, p, "before=5 ins=0 upd=0 del=0 res=0 arc=0 after=5",
		"before=4 ins=0 upd=0 del=0 res=0 arc=1 after=3",
		"before=9 ins=0 upd=0 del=0 res=0 arc=5 after=4")
	for _, m := range p.Memberships {
		if m.Op != change.Manualize || m.Membership.Group != "MATH" {
			t.Errorf("want MATH's synced memberships turned manual: %+v", m)
		}
		if m.Membership.Member == "P9" {
			t.Error("a manual membership was touched")
		}
	}
	st = apply(st, p)
	back, w := run(t, st, school(), Finish{})
	if !back.Empty() {
		t.Errorf("reappeared archived course changed state: %+v", back)
	}
	if len(w) != 0 {
		t.Errorf("memberships of an archived course are reported once, not warned each: %v", w)
	}
	if len(back.Attention) != 1 || back.Attention[0].Kind != change.NoticeReappearedCourse || !strings.Contains(back.Attention[0].Message, "5 of its memberships") {
		t.Errorf("want one reappeared-course notice, got %+v", back.Attention)
	}
}

func TestOrgGroupGoneDeletedWithMembershipsAndOrphansReported(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	gone := without(school(), func(k string) bool { return k == "SCH" || k == "CLASS1" })
	// MATH stays, but its only parent SCH goes.
	p, _ := run(t, st, gone, Finish{})
	wantCounts(t, p, "before=5 ins=0 upd=0 del=0 res=0 arc=0 after=5",
		"before=4 ins=0 upd=0 del=2 res=0 arc=0 after=2",
		"before=9 ins=0 upd=0 del=4 res=0 arc=0 after=5")
	var orphans []string
	for _, n := range p.Attention {
		if n.Kind == change.NoticeOrphanedGroup {
			orphans = append(orphans, n.Key)
		}
	}
	if strings.Join(orphans, ",") != "MATH" {
		t.Errorf("orphans: got %v, want [MATH]", orphans)
	}
}

func TestEventModeOnlyWhatIsInTheFileChanges(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	del := person("P1", "")
	del.RecStatus = record.StatusDelete
	m := member("MATH", "P2", "01")
	m.RecStatus = record.StatusDelete
	inactive := member("CLASS1", "P4", "01")
	inactive.Inactive = true
	p, _ := run(t, st, feed{persons: []*record.Person{del, person("P5", "New")}, memberships: []*record.Membership{m, inactive, member("MATH", "P5", "01")}}, Finish{Mode: Event})
	wantCounts(t, p, "before=5 ins=1 upd=0 del=1 res=0 arc=0 after=5",
		"before=4 ins=0 upd=0 del=0 res=0 arc=0 after=4",
		"before=9 ins=1 upd=0 del=4 res=0 arc=0 after=6")
}

func TestMembershipOnlyEventFile(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	p, w := run(t, st, feed{memberships: []*record.Membership{member("CLASS1", "T1", "02"), member("CLASS1", "NOBODY", "01")}}, Finish{Mode: Event})
	wantCounts(t, p, "before=5 ins=0 upd=0 del=0 res=0 arc=0 after=5",
		"before=4 ins=0 upd=0 del=0 res=0 arc=0 after=4",
		"before=9 ins=1 upd=0 del=0 res=0 arc=0 after=10")
	if len(w) != 1 || w[0].Key != "CLASS1/NOBODY/01" || !strings.Contains(w[0].Message, "unknown to both") {
		t.Errorf("want one unknown-person warning, got %v", w)
	}
}

func TestSnapshotStatusZeroRemoves(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	f := school()
	f.memberships[0] = member("CLASS1", "P1", "01")
	f.memberships[0].Inactive = true
	p, _ := run(t, st, f, Finish{})
	if len(p.Memberships) != 1 || p.Memberships[0].Op != change.Delete || p.Memberships[0].Membership.MembershipKey.String() != "CLASS1/P1/01" {
		t.Fatalf("want CLASS1/P1/01 deleted, got %+v", p.Memberships)
	}
}

func TestSkippedRecordsKeepTheirStoredCounterparts(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	f := without(school(), func(k string) bool { return k == "P2" })
	// The reader skipped P2 (say, a bad record) and read MATH's membership list as empty.
	var ms []*record.Membership
	for _, m := range f.memberships {
		if m.Group != "MATH" {
			ms = append(ms, m)
		}
	}
	f.memberships = ms
	p, _ := run(t, st, f, Finish{Skipped: []Skipped{{Type: record.Persons, Key: "P2"}}, EmptyMemberships: []string{"MATH"}})
	if !p.Empty() {
		t.Fatalf("a skipped record or an empty member list removed something: %+v", p)
	}
	if len(p.Attention) != 2 {
		t.Errorf("want two kept-record notices, got %+v", p.Attention)
	}
}

func TestHierarchyCycleSkipsTheGroupsAndWarns(t *testing.T) {
	f := school()
	f.groups = append(f.groups, group("A", "Unit", "B"), group("B", "Unit", "A"))
	f.memberships = append(f.memberships, member("A", "P1", "01"))
	p, w := run(t, change.NewState("north"), f, Finish{})
	if p.Counts.Groups.Inserted != 4 {
		t.Errorf("cycle groups inserted: %+v", p.Counts.Groups)
	}
	var keys []string
	for _, x := range w {
		keys = append(keys, x.Key)
	}
	if strings.Join(keys, ",") != "A,B,A/P1/01" {
		t.Errorf("warnings: %v", w)
	}
}

func TestSelfParentIsARootNotACycle(t *testing.T) {
	f := school()
	f.groups[0].SelfParent = true
	_, w := run(t, change.NewState("north"), f, Finish{})
	if len(w) != 0 {
		t.Errorf("self-parent warned: %v", w)
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	gone := without(school(), func(k string) bool { return k == "P1" || k == "P2" || k == "CLASS1" })
	a, _ := run(t, apply(st, &change.Plan{}), gone, Finish{})
	b, _ := run(t, apply(st, &change.Plan{}), gone, Finish{})
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("two diffs of the same input differ:\n%v\n%v", a, b)
	}
}

func TestSnapshotDuplicateKeysFailEventFilesMayRepeat(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	for _, c := range []struct {
		name string
		add  func(f *feed)
		key  string
	}{
		{"stored person", func(f *feed) { f.persons = append(f.persons, person("P2", "Pupil P2")) }, "P2"},
		{"new person", func(f *feed) { f.persons = append(f.persons, person("N1", "x"), person("N1", "y")) }, "N1"},
		{"group", func(f *feed) { f.groups = append(f.groups, group("MATH", "Course", "SCH")) }, "MATH"},
		{"membership", func(f *feed) { f.memberships = append(f.memberships, member("MATH", "T1", "02")) }, "MATH/T1/02"},
	} {
		f := school()
		c.add(&f)
		for _, md := range modes {
			for _, mode := range []Mode{Snapshot, Event} {
				d := md.New(t, apply(st, &change.Plan{}), opts())
				for _, p := range f.persons {
					d.Person(p)
				}
				for _, g := range f.groups {
					d.Group(g)
				}
				for _, m := range f.memberships {
					d.Membership(m)
				}
				_, _, err := d.Finish(Finish{Mode: mode})
				var de *DuplicateError
				if mode == Snapshot && (!errors.As(err, &de) || de.Key != c.key || de.Pos.Line == 0) {
					t.Errorf("%s, %s, snapshot: want a duplicate error for %s, got %v", c.name, md.name, c.key, err)
				}
				if mode == Event && err != nil {
					t.Errorf("%s, %s, event: %v", c.name, md.name, err)
				}
			}
		}
	}
}

// TestManyNewMembershipsKeepFileOrderAcrossChunks: an event file adding more memberships than
// one chunk of the diff's store of new ones holds, one of them listed again with a new role
// attribute and one added then deleted, plans each once, in file order, with the later record.
func TestManyNewMembershipsKeepFileOrderAcrossChunks(t *testing.T) {
	for _, md := range modes {
		t.Run(md.name, func(t *testing.T) {
			d := md.New(t, change.NewState("t"), opts())
			if err := d.Group(group("G", "Class")); err != nil {
				t.Fatal(err)
			}
			const n = 2*freshChunk + 100
			for i := range n {
				if err := d.Person(person(fmt.Sprintf("p%d", i), "P")); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				if err := d.Membership(member("G", fmt.Sprintf("p%d", i), "01")); err != nil {
					t.Fatal(err)
				}
			}
			again := member("G", "p5", "01")
			again.Attrs = record.Attrs{{Name: "timeframe.end", Value: "2027-07-31"}}
			again.ComputeHash()
			gone := member("G", fmt.Sprintf("p%d", freshChunk+7), "01")
			gone.RecStatus = record.StatusDelete
			for _, m := range []*record.Membership{again, gone} {
				if err := d.Membership(m); err != nil {
					t.Fatal(err)
				}
			}
			p, _, err := d.Finish(Finish{Mode: Event})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Memberships) != n-1 {
				t.Fatalf("%d membership changes, want %d", len(p.Memberships), n-1)
			}
			for i, j := 0, 0; i < n; i++ {
				if i == freshChunk+7 {
					continue
				}
				c := p.Memberships[j]
				if c.Op != change.Insert || c.Membership.Member != fmt.Sprintf("p%d", i) {
					t.Fatalf("change %d: %s %s, want an insert of p%d", j, c.Op, c.Membership.MembershipKey, i)
				}
				if i == 5 && c.Membership.Hash != again.Hash {
					t.Errorf("p5's membership is the first record, not the later one")
				}
				j++
			}
		})
	}
}

// TestHandedOverMembershipsAreCountedNotListed: with Options.Handover the diff hands each new
// membership over in file order and keeps none: the plan lists what a report has room for and
// counts the rest, and the counts are those of the plan made the ordinary way. A membership
// the ordinary plan would drop (its person unknown), or a key listed again as gone, makes
// Finish answer ErrHandover; a gone key never handed over does not.
func TestHandedOverMembershipsAreCountedNotListed(t *testing.T) {
	mode, later := Snapshot, []*record.Person(nil)
	run := func(handover bool, extra ...*record.Membership) (*change.Plan, []*record.Membership, error) {
		o := opts()
		var handed []*record.Membership
		if handover {
			o.Handover = func(m *record.Membership) { handed = append(handed, m) }
			o.ListHanded = 5 + 2 + 1 // room for one after 5 persons and 2 groups
		}
		d := New(change.NewState("t"), o)
		for i := range 5 {
			if err := d.Person(person(fmt.Sprintf("p%d", i), "P")); err != nil {
				t.Fatal(err)
			}
		}
		for _, g := range []string{"G", "H"} {
			if err := d.Group(group(g, "Class")); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 5 {
			for _, g := range []string{"G", "H"} {
				if err := d.Membership(member(g, fmt.Sprintf("p%d", i), "01")); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, m := range extra {
			if err := d.Membership(m); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range later {
			if err := d.Person(p); err != nil {
				t.Fatal(err)
			}
		}
		p, _, err := d.Finish(Finish{Mode: mode})
		return p, handed, err
	}
	ordinary, _, err := run(false)
	if err != nil {
		t.Fatal(err)
	}
	p, handed, err := run(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(handed) != 10 || handed[1].Group != "H" || handed[1].Member != "p0" {
		t.Fatalf("handed over %d memberships, the second %v", len(handed), handed[1].MembershipKey)
	}
	if len(p.Memberships) != 1 || p.Early[record.Memberships] != 9 || p.Memberships[0].Membership.MembershipKey != ordinary.Memberships[0].Membership.MembershipKey {
		t.Fatalf("the plan lists %d memberships and counts %d more, want the first one and 9", len(p.Memberships), p.Early[record.Memberships])
	}
	if p.Counts != ordinary.Counts || p.Counts.Memberships.Inserted != 10 {
		t.Fatalf("counts %+v, the ordinary plan's %+v", p.Counts, ordinary.Counts)
	}

	gone := func(g, m string) *record.Membership {
		x := member(g, m, "01")
		x.RecStatus = record.StatusDelete
		return x
	}
	if _, _, err := run(true, gone("G", "p4")); !errors.Is(err, ErrHandover) {
		t.Errorf("a key handed over, then listed as gone: %v, want ErrHandover", err)
	}
	if _, _, err := run(true, member("G", "nobody", "01")); !errors.Is(err, ErrHandover) {
		t.Errorf("a membership of an unknown person: %v, want ErrHandover", err)
	}
	if p, _, err := run(true, gone("G", "p9")); err != nil || p.Early[record.Memberships]+len(p.Memberships) != 10 {
		t.Errorf("a key listed only as gone: %v", err)
	}
	// An event file that lists a person as gone after memberships of it were handed over.
	goneP := person("p3", "P")
	goneP.RecStatus = record.StatusDelete
	mode, later = Event, []*record.Person{goneP}
	if _, _, err := run(true); !errors.Is(err, ErrHandover) {
		t.Errorf("a person gone after its memberships were handed over: %v, want ErrHandover", err)
	}
}

// TestHandedOverPersonsAreCountedNotListed: with Options.HandoverPerson the diff hands each new
// person over in file order and keeps only a hash of its key: the plan lists the first ones
// (persons first, then memberships, as the report has room), counts the rest, and has the
// counts of the plan made the ordinary way; memberships and relations naming a person handed
// over are valid. A person listed twice, or listed as gone after being handed over, makes
// Finish answer ErrHandover (before any duplicate: the ordinary way reports the first). A
// state with persons hands none over.
func TestHandedOverPersonsAreCountedNotListed(t *testing.T) {
	mode := Snapshot
	run := func(st *change.State, list int, handover bool, later ...*record.Person) (*change.Plan, []*record.Person, error) {
		o := opts()
		var handed []*record.Person
		if handover {
			o.Handover = func(*record.Membership) {}
			o.HandoverPerson = func(p *record.Person) { handed = append(handed, p) }
			o.ListHanded = list
		}
		d := New(st, o)
		for i := range 5 {
			// Every field of a person, as the plan must list it.
			p := &record.Person{Key: fmt.Sprintf("p%d", i), Source: "SIS", Name: "P", Pos: record.Pos{Line: 10 + i, Column: 3}, RecStatus: record.RecStatus(i % 3), Secret: "digest"}
			p.Attrs.Add("email", p.Key+"@example.org")
			p.Attrs.Add("userid", p.Key)
			p.ComputeHash()
			if i == 0 {
				p.Attrs, p.Source = nil, ""
				p.ComputeHash()
			}
			if err := d.Person(p); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []record.RelationKey{{Person: "p0", Related: "p1", Type: "parent"}, {Person: "p2", Related: "nobody", Type: "parent"}} {
			rel := &record.Relation{RelationKey: r}
			rel.ComputeHash()
			if err := d.Relation(rel); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Group(group("G", "Class")); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := d.Membership(member("G", fmt.Sprintf("p%d", i), "01")); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range later {
			if err := d.Person(p); err != nil {
				t.Fatal(err)
			}
		}
		p, _, err := d.Finish(Finish{Mode: mode})
		return p, handed, err
	}
	ordinary, _, err := run(change.NewState("t"), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ordinary.Relations) != 1 {
		t.Fatalf("the ordinary plan has %d relations, want 1 (the other names an unknown person)", len(ordinary.Relations))
	}
	for _, c := range []struct {
		list, persons, members int // listed
	}{{3, 3, 0}, {5 + 1 + 1, 5, 1}, {100, 5, 5}} {
		p, handed, err := run(change.NewState("t"), c.list, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(handed) != 5 || handed[4].Key != "p4" {
			t.Fatalf("handed over %d persons", len(handed))
		}
		if len(p.Persons) != c.persons || p.Early[record.Persons] != 5-c.persons || len(p.Memberships) != c.members || p.Early[record.Memberships] != 5-c.members {
			t.Errorf("room for %d: the plan lists %d persons, %d memberships and counts %v more, want %d and %d", c.list, len(p.Persons), len(p.Memberships), p.Early, c.persons, c.members)
		}
		for i := range p.Persons {
			if !reflect.DeepEqual(p.Persons[i], ordinary.Persons[i]) {
				t.Errorf("room for %d: person %d is %v, the ordinary plan's %v", c.list, i, p.Persons[i], ordinary.Persons[i])
			}
		}
		if p.Counts != ordinary.Counts || !reflect.DeepEqual(p.Relations, ordinary.Relations) {
			t.Errorf("room for %d: counts %+v and relations %v, the ordinary plan's %+v and %v", c.list, p.Counts, p.Relations, ordinary.Counts, ordinary.Relations)
		}
	}

	if _, _, err := run(change.NewState("t"), 100, true, person("p1", "P")); !errors.Is(err, ErrHandover) {
		t.Errorf("a person listed twice: %v, want ErrHandover", err)
	}
	gone := person("p3", "P")
	gone.RecStatus = record.StatusDelete
	if _, _, err := run(change.NewState("t"), 100, true, gone); !errors.Is(err, ErrHandover) {
		t.Errorf("a person listed as gone after being handed over: %v, want ErrHandover", err)
	}
	mode = Event
	if _, _, err := run(change.NewState("t"), 100, true, gone); !errors.Is(err, ErrHandover) {
		t.Errorf("an event file's person gone after being handed over: %v, want ErrHandover", err)
	}
	mode = Snapshot
	st := change.NewState("t")
	st.Persons["p0"] = change.PersonState{Hash: person("p0", "P").Hash} // another hash: an update
	p, handed, err := run(st, 100, true)
	if err != nil || len(handed) != 0 || len(p.Persons) != 5 || p.Persons[0].Op != change.Update || p.Early[record.Persons] != 0 {
		t.Errorf("a state with persons: %v, handed over %d, the plan lists %d and counts %d more", err, len(handed), len(p.Persons), p.Early[record.Persons])
	}
}
