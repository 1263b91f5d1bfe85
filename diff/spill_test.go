package diff

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// mode is how a test's diff holds the stored memberships: as a set while the file is read, or
// (spilled) given as a source read at Finish, the file's kept by partition in memory up to a
// budget of 64 bytes and in a scratch file beyond it, so every test flushes partitions; the
// stored persons then too are given as a source (held as a change.PersonIndex), as a store
// gives both.
type mode struct {
	name    string
	spilled bool
}

var modes = []mode{{"in memory", false}, {"spilled", true}}

// New starts a diff of st in this mode (spilled: st's memberships become a source).
func (m mode) New(t *testing.T, st *change.State, o Options) *Differ {
	t.Helper()
	if m.spilled {
		st.Stored, st.Memberships = change.MembershipList{Set: st.Memberships}, nil
		o.SpillBudget, o.Scratch = 64, scratchIn(t, t.TempDir(), nil)
		x, err := change.LoadPersonIndex(change.PersonList{Persons: st.Persons}, len(st.Persons))
		if err != nil {
			t.Fatal(err)
		}
		st.StoredPersons, st.Persons = x, nil
	}
	return New(st, o)
}

// scratchIn makes scratch files in dir, counting them in made.
func scratchIn(t *testing.T, dir string, made *int) func() (Scratch, error) {
	return func() (Scratch, error) {
		if made != nil {
			*made++
		}
		f, err := os.CreateTemp(dir, "spill-*")
		if err == nil {
			t.Cleanup(func() { f.Close() })
		}
		return f, err
	}
}

// copyState is a deep copy of st, its scratch marks cleared.
func copyState(st *change.State) *change.State {
	out := apply(st, &change.Plan{})
	out.Version, out.SchoolYear = st.Version, st.SchoolYear
	return out
}

// samePlans fails the test unless two diffs gave the same plan (as stored, and its counts and
// early count), the same warnings, and the same removals report (archive.Removals, each with
// the state it was made against).
func samePlans(t *testing.T, a *change.Plan, aw []record.Warning, ast *change.State, b *change.Plan, bw []record.Warning, bst *change.State) {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(ja) != string(jb) || a.Early != b.Early {
		t.Fatalf("the spilled diff's plan differs:\n in memory: %s\n spilled:   %s", ja, jb)
	}
	if !reflect.DeepEqual(aw, bw) {
		t.Fatalf("the spilled diff's warnings differ:\n in memory: %v\n spilled:   %v", aw, bw)
	}
	if ra, rb := archive.Removals(a, ast), archive.Removals(b, bst); !reflect.DeepEqual(ra, rb) {
		t.Fatalf("the spilled diff's removals report differs:\n in memory: %+v\n spilled:   %+v", ra, rb)
	}
}

// night is a random file for a random stored state (randomNight).
type night struct {
	st   *change.State
	f    feed
	mode Mode
}

// randomNight makes a stored state and a file against it with most of what a night can hold:
// persons kept, renamed, gone (to the trash can) and back from it; groups kept, gone, archived
// courses and ones that come back; memberships kept, changed, new, gone, recstatus 3 and
// status 0, manual ones (the platform's, and ones an archival turned manual), groups as
// members, keys listed twice, memberships naming unknown persons; in a snapshot or an event
// file, with skipped records.
func randomNight(rng *rand.Rand, persons, groups, memberships int) night {
	st := change.NewState("r")
	st.Version = 7
	pkey := func(i int) string { return fmt.Sprintf("p%d", i) }
	gkey := func(i int) string { return fmt.Sprintf("g%d", i) }
	roles := []string{"01", "02", "05"}
	var f feed
	line := 1
	pos := func() record.Pos { line++; return record.Pos{Line: line, Column: 1 + rng.IntN(9)} }
	for i := range persons {
		p := person(pkey(i), "Person "+pkey(i))
		if rng.IntN(10) > 0 {
			st.Persons[p.Key] = change.PersonState{Hash: p.Hash, Name: p.Name, Trashed: rng.IntN(20) == 0}
		}
		switch x := rng.IntN(20); {
		case x == 0: // gone from the file
			continue
		case x == 1:
			p = person(p.Key, "Renamed "+p.Key)
		case x == 2:
			p.RecStatus = record.StatusDelete
		}
		p.Pos = pos()
		f.persons = append(f.persons, p)
	}
	for i := range groups {
		typ := "Class"
		if i%3 == 0 {
			typ = "Course"
		}
		g := group(gkey(i), typ)
		if rng.IntN(8) > 0 {
			st.Groups[g.Key] = change.GroupState{Hash: g.Hash, Name: g.Name, Course: typ == "Course", Archived: typ == "Course" && rng.IntN(6) == 0}
		}
		if rng.IntN(15) == 0 {
			continue // gone
		}
		g.Pos = pos()
		f.groups = append(f.groups, g)
	}
	var keys []record.MembershipKey
	for range memberships {
		k := record.MembershipKey{Group: gkey(rng.IntN(groups)), Member: pkey(rng.IntN(persons + persons/20)), Role: roles[rng.IntN(len(roles))]}
		m := member(k.Group, k.Member, k.Role)
		if rng.IntN(30) == 0 {
			m = member(k.Group, gkey(rng.IntN(groups)), "04")
			m.MemberType = record.MemberGroup
			m.ComputeHash()
			k = m.MembershipKey
		}
		if rng.IntN(8) > 0 {
			s := change.MembershipState{Hash: m.Hash, MemberType: m.MemberType}
			switch rng.IntN(25) {
			case 0:
				s.Manual, s.Hash = true, record.Hash{}
			case 1:
				s.Manual = true // turned manual by an archival
			}
			st.Memberships.Set(k, s)
		}
		switch x := rng.IntN(40); {
		case x < 2:
			continue
		case x < 4:
			m.Attrs = record.Attrs{{Name: "timeframe.end", Value: "2027-07-31"}}
			m.ComputeHash()
		case x == 4:
			m.RecStatus = record.StatusDelete
		case x == 5:
			m.Inactive = true
		case x == 6:
			m.Attrs = record.Attrs{}
		}
		m.Pos = pos()
		f.memberships = append(f.memberships, m)
		keys = append(keys, k)
	}
	// Keys listed again, later in the file (duplicates: a snapshot fails on them).
	for range rng.IntN(3) {
		if len(keys) == 0 {
			break
		}
		k := keys[rng.IntN(len(keys))]
		m := member(k.Group, k.Member, k.Role)
		if rng.IntN(2) == 0 {
			m.RecStatus = record.StatusDelete
		}
		m.Pos = pos()
		f.memberships = append(f.memberships, m)
	}
	// The file's groups come after its memberships (the importer holds them back).
	mode := Snapshot
	if rng.IntN(3) == 0 {
		mode = Event
	}
	return night{st: st, f: f, mode: mode}
}

// TestSpilledDiffPlansAsInMemory is the property: over random states and nights (in both
// modes, with and without repeated keys and skipped records), the diff against stored
// memberships given as a source, the file's spilled through a scratch file, makes exactly the
// plan, warnings, duplicate error and removals report of the diff holding them as a set.
func TestSpilledDiffPlansAsInMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2026))
	plans, dups := 0, 0
	for i := range 300 {
		n := randomNight(rng, 5+rng.IntN(60), 1+rng.IntN(30), rng.IntN(400))
		fin := Finish{Mode: n.mode}
		if rng.IntN(4) == 0 {
			fin.Skipped = []Skipped{{Type: record.Persons, Key: "p3"}, {Type: record.Memberships, Group: "g1", Member: "p2"}, {Type: record.Groups, Key: "g2"}}
			fin.EmptyMemberships = []string{"g4"}
		}
		if rng.IntN(2) == 0 {
			// Another order: memberships among the persons (the diff's order decides which
			// duplicate is the first).
			half := len(n.f.persons) / 2
			n.f.persons = append(n.f.persons[:half:half], n.f.persons[half:]...)
		}
		stA, stB := copyState(n.st), copyState(n.st)
		results := [2]struct {
			plan *change.Plan
			w    []record.Warning
			err  error
		}{}
		for j, md := range modes {
			st := stA
			if md.spilled {
				st = stB
			}
			o := opts()
			o.Courses.Types = []string{"Course"}
			d := md.New(t, st, o)
			if md.spilled {
				d.opts.SpillBudget = []int{1, 300, 1 << 20}[rng.IntN(3)]
			}
			half := len(n.f.persons) / 2
			for _, p := range n.f.persons[:half] {
				d.Person(p)
			}
			for k, m := range n.f.memberships {
				if k == len(n.f.memberships)/3 && i%2 == 0 {
					for _, p := range n.f.persons[half:] {
						d.Person(p)
					}
				}
				d.Membership(m)
			}
			if i%2 == 1 || len(n.f.memberships) == 0 {
				for _, p := range n.f.persons[half:] {
					d.Person(p)
				}
			}
			for _, g := range n.f.groups {
				d.Group(g)
			}
			results[j].plan, results[j].w, results[j].err = d.Finish(fin)
		}
		a, b := results[0], results[1]
		if a.err != nil || b.err != nil {
			var da, db *DuplicateError
			if !errors.As(a.err, &da) || !errors.As(b.err, &db) || *da != *db {
				t.Fatalf("night %d: in memory %v, spilled %v", i, a.err, b.err)
			}
			dups++
			continue
		}
		samePlans(t, a.plan, a.w, stA, b.plan, b.w, stB)
		plans++
	}
	if plans < 100 || dups < 20 {
		t.Fatalf("%d plans and %d duplicate errors compared: the nights did not exercise both", plans, dups)
	}
}

// failingSource gives n memberships of a set, then fails.
type failingSource struct {
	set *change.MembershipSet
	n   int
}

var errLost = errors.New("connection lost")

func (s failingSource) Each(fn func(record.MembershipKey, change.MembershipState) error) error {
	i := 0
	return change.MembershipList{Set: s.set}.Each(func(k record.MembershipKey, m change.MembershipState) error {
		if i == s.n {
			return errLost
		}
		i++
		return fn(k, m)
	})
}

// TestStoredMembershipsFailingPartWayMakeNoPlan: when the stored memberships cannot all be
// read, Finish makes no plan (one against a part of them would remove the rest), and says
// why.
func TestStoredMembershipsFailingPartWayMakeNoPlan(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	for _, n := range []int{0, 3, st.Memberships.Len() - 1} {
		st := copyState(st)
		st.Stored, st.Memberships = failingSource{st.Memberships, n}, nil
		d := New(st, opts())
		for _, m := range school().memberships {
			d.Membership(m)
		}
		p, _, err := d.Finish(Finish{Mode: Snapshot})
		if p != nil || !errors.Is(err, ErrStored) || !errors.Is(err, errLost) {
			t.Errorf("failing after %d memberships: plan %v, error %v", n, p, err)
		}
	}
}

// TestSpillNeedsAFileOnlyBeyondItsBudget: the file's memberships stay in memory up to the
// budget (a small tenant never makes a scratch file); beyond it the diff makes one, once, and
// the plan is the same.
func TestSpillNeedsAFileOnlyBeyondItsBudget(t *testing.T) {
	n := randomNight(rand.New(rand.NewPCG(1, 2)), 200, 40, 3000)
	var plans []*change.Plan
	for _, budget := range []int{0, 1 << 10} {
		st := copyState(n.st)
		st.Stored, st.Memberships = change.MembershipList{Set: st.Memberships}, nil
		dir, made := t.TempDir(), 0
		d := New(st, Options{Courses: opts().Courses, SpillBudget: budget, Scratch: scratchIn(t, dir, &made)})
		for _, p := range n.f.persons {
			d.Person(p)
		}
		for _, m := range n.f.memberships {
			if err := d.Membership(m); err != nil {
				t.Fatal(err)
			}
		}
		p, _, err := d.Finish(Finish{Mode: Event})
		if err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if want := map[bool]int{true: 0, false: 1}[budget == 0]; made != want || len(files) != want {
			t.Errorf("budget %d: %d scratch files made, %d in the folder; want %d", budget, made, len(files), want)
		}
		plans = append(plans, p)
	}
	a, _ := json.Marshal(plans[0])
	b, _ := json.Marshal(plans[1])
	if string(a) != string(b) {
		t.Errorf("the plans differ with the budget:\n%s\n%s", a, b)
	}
}

// failingPersons is a stored persons source whose reads after the first fail after n persons.
type failingPersons struct {
	list  change.PersonList
	n     int
	reads *int
}

func (s failingPersons) Each(only map[string]bool, fn func(string, change.PersonState) error) error {
	*s.reads++
	i := 0
	return s.list.Each(only, func(k string, p change.PersonState) error {
		if *s.reads > 1 && i == s.n {
			return errLost
		}
		i++
		return fn(k, p)
	})
}

// TestStoredPersonsFailingPartWayMakeNoPlan: when the stored persons, read again at Finish for
// the ones going to the trash can, cannot all be read, Finish makes no plan (it would not know
// who goes), and says why.
func TestStoredPersonsFailingPartWayMakeNoPlan(t *testing.T) {
	st := apply(change.NewState("north"), must(run(t, change.NewState("north"), school(), Finish{})))
	for _, n := range []int{0, 1, len(st.Persons) - 1} {
		st := copyState(st)
		reads := 0
		x, err := change.LoadPersonIndex(failingPersons{change.PersonList{Persons: st.Persons}, n, &reads}, 0)
		if err != nil {
			t.Fatal(err)
		}
		st.StoredPersons, st.Persons = x, nil
		st.Stored, st.Memberships = change.MembershipList{Set: st.Memberships}, nil
		d := New(st, opts())
		f := school()
		for _, p := range f.persons[1:] { // one gone: the trash can needs its name
			d.Person(p)
		}
		p, _, err := d.Finish(Finish{Mode: Snapshot})
		if p != nil || !errors.Is(err, ErrStored) || !errors.Is(err, errLost) || !strings.HasPrefix(err.Error(), "stored persons: ") {
			t.Errorf("failing after %d persons: plan %v, error %v", n, p, err)
		}
	}
}

// unreadableScratch is a scratch file whose contents cannot be read back.
type unreadableScratch struct{ *os.File }

var errDiskGone = errors.New("disk gone")

func (unreadableScratch) ReadAt([]byte, int64) (int, error) { return 0, errDiskGone }

// TestUnreadableScratchMakesNoPlan: when the file's memberships cannot be read back from the
// scratch file, Finish makes no plan and says so (the comparison stops, and so does the
// reading of the stored memberships beside it).
func TestUnreadableScratchMakesNoPlan(t *testing.T) {
	n := randomNight(rand.New(rand.NewPCG(5, 6)), 200, 40, 3000)
	st := copyState(n.st)
	st.Stored, st.Memberships = change.MembershipList{Set: st.Memberships}, nil
	open := scratchIn(t, t.TempDir(), nil)
	d := New(st, Options{Courses: opts().Courses, SpillBudget: 1 << 10, Scratch: func() (Scratch, error) {
		f, err := open()
		if err != nil {
			return nil, err
		}
		return unreadableScratch{f.(*os.File)}, nil
	}})
	for _, m := range n.f.memberships {
		if err := d.Membership(m); err != nil {
			t.Fatal(err)
		}
	}
	p, _, err := d.Finish(Finish{Mode: Event})
	if p != nil || !errors.Is(err, errDiskGone) || errors.Is(err, ErrStored) {
		t.Fatalf("plan %v, error %v; want no plan and the scratch file's error", p, err)
	}
}
