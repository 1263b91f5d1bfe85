package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

// Dump returns the tenant's rows of every table (store.Dumper), for comparing states.
func Dump(t *testing.T, s store.Store, tenant string) map[string][]string {
	t.Helper()
	d, ok := s.(store.Dumper)
	if !ok {
		t.Fatalf("%T does not implement store.Dumper", s)
	}
	m, err := d.Dump(context.Background(), tenant)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return m
}

// SameState fails the test when two dumps differ, naming the first differing rows.
func SameState(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for table, w := range want {
		g := got[table]
		for _, line := range w {
			if !slices.Contains(g, line) {
				t.Errorf("%s: %s lacks %s", what, table, line)
			}
		}
		for _, line := range g {
			if !slices.Contains(w, line) {
				t.Errorf("%s: %s has %s", what, table, line)
			}
		}
	}
	for table, g := range got {
		if _, ok := want[table]; !ok && len(g) > 0 {
			t.Errorf("%s: table %s has %d rows, want none", what, table, len(g))
		}
	}
	if !t.Failed() {
		t.Errorf("%s: dumps differ: got %v, want %v", what, got, want)
	}
}

// IndexAgrees fails the test when the tenant's state index is stale or differs from its rows.
func IndexAgrees(t *testing.T, s store.Store, tenant string) {
	t.Helper()
	ic, ok := s.(store.IndexChecker)
	if !ok {
		t.Fatalf("%T does not implement store.IndexChecker", s)
	}
	r, err := ic.CheckIndex(context.Background(), tenant, false)
	if err != nil {
		t.Fatalf("check index: %v", err)
	}
	if r.Stale() || r.Missing+r.Extra+r.Different != 0 || r.Unreadable != "" {
		t.Errorf("state index after an undo: %+v", r)
	}
}

// undo undoes a run with a fresh undo run record, as the importer does.
func undo(t *testing.T, s store.Store, tenant string, of int64, cascade bool) (*runs.Run, []int64, error) {
	t.Helper()
	run := &runs.Run{Tenant: tenant, Status: runs.Completed, Mode: runs.ModeUndo, StartedAt: now}
	run.Undo = &runs.Undo{Decision: runs.Decision{By: "ops", At: now, Reason: "test"}}
	ids, err := s.Undo(context.Background(), store.UndoParams{Tenant: tenant, Of: of, Cascade: cascade, Run: run, Now: now})
	return run, ids, err
}

func mustUndo(t *testing.T, s store.Store, tenant string, of int64, cascade bool) *runs.Run {
	t.Helper()
	run, _, err := undo(t, s, tenant, of, cascade)
	if err != nil {
		t.Fatalf("undo run %d: %v", of, err)
	}
	IndexAgrees(t, s, tenant)
	return run
}

// testUndoEachKindOfChange: each kind of change a run makes is put back exactly (every column
// of every table), and undoing the undo gives the state after the run again.
func testUndoEachKindOfChange(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	empty := Dump(t, s, tenant)
	first := apply(t, s, initial(tenant))
	afterFirst := Dump(t, s, tenant)
	if err := s.AddManualMembership(ctx, tenant, store.ManualMembership{Group: "math1", Member: "p9", Role: "01", MemberType: 1}); err != nil {
		t.Fatal(err)
	}
	// AddManualMembership does not move the version: the chain of runs is unbroken.
	base := Dump(t, s, tenant)
	renamed := person("p1", "Ada King")
	plans := map[string]*change.Plan{
		"update": {Persons: []change.Person{{Op: change.Update, Person: renamed}},
			Groups: []change.Group{{Op: change.Update, Group: group("math1", "Mathematics 1", "school", "dept"), Course: true}}},
		"trash": {Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: "p2"}}},
			Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("math1", "p2", "01")}, Cascade: true}}},
		"archive": {Groups: []change.Group{{Op: change.Archive, Group: record.Group{Key: "math1"}, Course: true}},
			Memberships: []change.Membership{
				{Op: change.Manualize, Membership: record.Membership{MembershipKey: mkey("math1", "p1", "01")}},
				{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("school", "math1", "04")}, Cascade: true}}},
		"delete group": {Groups: []change.Group{{Op: change.Delete, Group: record.Group{Key: "school"}}},
			Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("school", "math1", "04")}, Cascade: true}}},
		"insert over manual": {Persons: []change.Person{{Op: change.Insert, Person: person("p4", "Edsger Dijkstra")}},
			Memberships: []change.Membership{{Op: change.Insert, Membership: member("math1", "p4", "01")}, {Op: change.Insert, Membership: member("math1", "p9", "01")}}},
	}
	for _, name := range []string{"update", "trash", "archive", "delete group", "insert over manual"} {
		p := plans[name]
		v := load(t, s, tenant).Version
		p.Tenant, p.BaseVersion = tenant, v
		run := apply(t, s, p)
		after := Dump(t, s, tenant)
		if reflect.DeepEqual(after, base) {
			t.Fatalf("%s: the run changed nothing", name)
		}
		u := mustUndo(t, s, tenant, run.ID, false)
		SameState(t, "after undoing the "+name, Dump(t, s, tenant), base)
		if st := load(t, s, tenant); st.Version != v+2 || u.VersionBefore != v+1 || u.VersionAfter != v+2 {
			t.Errorf("%s: version %d, undo run %d → %d; want %d, %d → %d", name, st.Version, u.VersionBefore, u.VersionAfter, v+2, v+1, v+2)
		}
		if r, _ := s.Run(ctx, run.ID); r.UndoneBy != u.ID {
			t.Errorf("%s: the undone run's undone_by is %d, want %d", name, r.UndoneBy, u.ID)
		}
		if saved, _ := s.Run(ctx, u.ID); saved.Undo == nil || !slices.Equal(saved.Undo.Runs, []int64{run.ID}) || saved.VersionAfter != v+2 {
			t.Errorf("%s: the undo's run record: %+v", name, saved)
		}
		mustUndo(t, s, tenant, u.ID, false)
		SameState(t, "after undoing the undo of the "+name, Dump(t, s, tenant), after)
		// Back to the base for the next kind.
		redo, _ := s.LastRun(ctx, tenant)
		mustUndo(t, s, tenant, redo.ID, false)
		SameState(t, "after undoing the redo of the "+name, Dump(t, s, tenant), base)
	}
	// The counts of an undo: the trash run undone restores one person and inserts one membership.
	p := &change.Plan{Tenant: tenant, BaseVersion: load(t, s, tenant).Version,
		Persons:     []change.Person{{Op: change.Delete, Person: record.Person{Key: "p2"}}},
		Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("math1", "p2", "01")}, Cascade: true}}}
	run := apply(t, s, p)
	u := mustUndo(t, s, tenant, run.ID, false)
	if c := u.Counts; c.Persons.Restored != 1 || c.Persons.Before != 2 || c.Persons.After != 3 || c.Memberships.Inserted != 1 || c.Memberships.After != 4 {
		t.Errorf("undo counts: %+v", c)
	}
	// The initial load is undone by cascade to an empty tenant (the manual membership the
	// platform made after it stays: no run made it).
	if _, _, err := undo(t, s, tenant, first.ID, false); !isLater(err) {
		t.Fatalf("undo of the first run with later runs: got %v, want a LaterChangesError", err)
	}
	mustUndo(t, s, tenant, first.ID, true)
	got := Dump(t, s, tenant)
	want := map[string][]string{}
	for k, v := range empty {
		want[k] = v
	}
	for table, rows := range base {
		if table == "memberships" {
			for _, r := range rows {
				if !slices.Contains(afterFirst[table], r) {
					want[table] = append(want[table], r)
				}
			}
		}
	}
	SameState(t, "after undoing everything", got, want)
}

func isLater(err error) bool {
	var l *store.LaterChangesError
	return errors.As(err, &l)
}

// testUndoRefusals: only the latest applied change is undone; a cascade undoes the later runs
// first in one transaction; a change that kept no before-images stops even a cascade; images
// expire.
func testUndoRefusals(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	base := Dump(t, s, tenant)
	r1 := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1, Persons: []change.Person{{Op: change.Update, Person: person("p1", "Ada King")}}})
	r2 := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 2, Persons: []change.Person{{Op: change.Insert, Person: person("p4", "Edsger Dijkstra")}}})
	empty := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 3}) // changed nothing
	r3 := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 3, Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: "p3"}}}})
	before := Dump(t, s, tenant)
	recorded, _ := s.ListRuns(ctx, store.ListRunsParams{Tenant: tenant})

	_, _, err := undo(t, s, tenant, r1.ID, false)
	var later *store.LaterChangesError
	if !errors.As(err, &later) || !slices.Equal(later.Later, []int64{r3.ID, r2.ID}) || later.Unrecorded {
		t.Fatalf("undo of an older run: got %v, want refused naming runs %d, %d", err, r3.ID, r2.ID)
	}
	if _, _, err := undo(t, s, tenant, empty.ID, false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("undo of a run that changed nothing: got %v, want ErrNotFound", err)
	}
	SameState(t, "after refused undos", Dump(t, s, tenant), before)
	if now, _ := s.ListRuns(ctx, store.ListRunsParams{Tenant: tenant}); len(now) != len(recorded) {
		t.Errorf("refused undos left run records: %d runs, were %d", len(now), len(recorded))
	}
	if v := load(t, s, tenant).Version; v != 4 {
		t.Errorf("refused undos moved the version to %d", v)
	}

	u, ids, err := undo(t, s, tenant, r1.ID, true)
	if err != nil || !slices.Equal(ids, []int64{r3.ID, r2.ID, r1.ID}) {
		t.Fatalf("cascade: %v, %v", ids, err)
	}
	SameState(t, "after the cascade", Dump(t, s, tenant), base)
	for _, id := range ids {
		if r, _ := s.Run(ctx, id); r.UndoneBy != u.ID {
			t.Errorf("run %d: undone_by %d, want %d", id, r.UndoneBy, u.ID)
		}
	}
	// The cascade is one change: one undo gives back the state before it.
	mustUndo(t, s, tenant, u.ID, false)
	SameState(t, "after undoing the cascade", Dump(t, s, tenant), before)

	// A change without before-images (an operator's trash restore) stops the chain.
	if _, err := s.RestoreTrash(ctx, tenant, []string{"p3"}, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = undo(t, s, tenant, r3.ID, true)
	if !errors.As(err, &later) || !later.Unrecorded {
		t.Fatalf("undo across a trash restore: got %v, want refused as unrecorded", err)
	}

	// An apply with NoUndo keeps nothing; DropUndo drops what is older than its time.
	r5 := newRun(t, s, tenant, runs.Completed)
	err = s.Apply(ctx, store.ApplyParams{Run: r5, Now: now, NoUndo: true,
		Plan: &change.Plan{Tenant: tenant, BaseVersion: load(t, s, tenant).Version, Persons: []change.Person{{Op: change.Update, Person: person("p1", "Ada L.")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.UndoSize(ctx, r5.ID); err != nil || n != 0 {
		t.Errorf("NoUndo kept %d bytes (%v)", n, err)
	}
	if _, _, err := undo(t, s, tenant, r5.ID, false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("undo of a run under NoUndo: got %v, want ErrNotFound", err)
	}
	r6 := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: load(t, s, tenant).Version, Persons: []change.Person{{Op: change.Update, Person: person("p1", "Ada")}}})
	if n, err := s.UndoSize(ctx, r6.ID); err != nil || n == 0 {
		t.Errorf("a run's before-images: %d bytes (%v)", n, err)
	}
	other := tenantName("south")
	o := apply(t, s, initial(other))
	if n, err := s.DropUndo(ctx, tenant, now); err != nil || n != 0 {
		t.Errorf("drop before the images' time: %d, %v", n, err)
	}
	if n, err := s.DropUndo(ctx, tenant, now.Add(time.Microsecond)); err != nil || n == 0 {
		t.Errorf("drop after the images' time: %d, %v", n, err)
	}
	if _, _, err := undo(t, s, tenant, r6.ID, false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("undo after the images expired: got %v, want ErrNotFound", err)
	}
	if n, _ := s.UndoSize(ctx, o.ID); n == 0 {
		t.Error("dropping one tenant's images dropped another's")
	}
}

// testEarlyLoadUndo: the before-images of an initial load written while it was read (on
// SQLite, the keys written early are kept in the parts they were written in, beside the rest)
// count whole in UndoSize and undo the load whole; once expired they go whole (UndoSize 0,
// the undo refused).
func testEarlyLoadUndo(t *testing.T, s store.Store) {
	ctx := context.Background()
	ew, ok := s.(store.EarlyWriter)
	if !ok {
		t.Skip("the store does not write while reading")
	}
	const n = 400
	early := func(tenant string) *runs.Run {
		t.Helper()
		p := &change.Plan{Tenant: tenant, Mode: "snapshot"}
		p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: group("g", "Class")})
		run := newRun(t, s, tenant, "running") // first: on SQLite the early inserts hold the one writer
		e, err := ew.EarlyInserts(ctx, tenant, 0)
		if err != nil || e == nil {
			t.Fatalf("early inserts: %v, %v", e, err)
		}
		for i := range n {
			r := person(fmt.Sprintf("p%04d", i), "P")
			e.Person(&r)
			m := member("g", r.Key, "01")
			e.Membership(&m)
		}
		if got, err := e.Done(); err != nil || got != (change.PerType{record.Persons: n, record.Memberships: n}) {
			t.Fatalf("written while reading: %v, %v", got, err)
		}
		p.Early[record.Persons], p.Early[record.Memberships] = n, n
		p.Counts = change.Tally(p, change.PerType{})
		run.Status = "completed"
		if err := s.Apply(ctx, store.ApplyParams{Plan: p, Run: run, Now: now, Early: e}); err != nil {
			t.Fatal(err)
		}
		if size, err := s.UndoSize(ctx, run.ID); err != nil || size < 2*n {
			t.Fatalf("the early load's before-images: %d bytes (%v), for %d keys", size, err, 2*n)
		}
		return run
	}

	undone := tenantName("undone")
	u := mustUndo(t, s, undone, early(undone).ID, false)
	if c := u.Counts; c.Persons.Deleted != n || c.Memberships.Deleted != n || c.Groups.Deleted != 1 {
		t.Errorf("undo of the early load deleted %d persons, %d memberships, %d groups; want %d, %d, 1",
			c.Persons.Deleted, c.Memberships.Deleted, c.Groups.Deleted, n, n)
	}
	if st := load(t, s, undone); len(st.Persons)+len(st.Groups)+st.Memberships.Len() != 0 {
		t.Fatalf("after undoing the early load: %d persons, %d groups, %d memberships", len(st.Persons), len(st.Groups), st.Memberships.Len())
	}

	expired := tenantName("expired")
	run := early(expired)
	if dropped, err := s.DropUndo(ctx, expired, now.Add(time.Microsecond)); err != nil || dropped == 0 {
		t.Fatalf("drop the early load's images: %d, %v", dropped, err)
	}
	if size, err := s.UndoSize(ctx, run.ID); err != nil || size != 0 {
		t.Errorf("an expired early load's before-images still hold %d bytes (%v)", size, err)
	}
	if _, _, err := undo(t, s, expired, run.ID, false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("undo after the images expired: got %v, want ErrNotFound", err)
	}
}

// UndoInManyParts: an undo whose before-images span many parts (parts of a few hundred bytes
// here, of about 1 MB in use) gives back exactly the state before, rows and state index, and
// the undo of that undo the state after. The tenant has 3,000 persons (2,000 under the race
// detector: the approval's images still in 12 parts, 14 at 3,000) in 30 groups, three
// memberships each, and relations; an approval in pieces trashes half of them with their
// memberships and relations (the implied ones too), renames a sixth, removes a membership and
// inserts it again (a key named twice); a night after it, applied whole (its images in one
// value, read in slices), touches some of the same keys again. Undone together (cascade), each
// key goes back to its image before the approval. query counts with a statement on the store's
// database.
func UndoInManyParts(t *testing.T, s store.Store, query func(q string) (int, error)) {
	ctx := context.Background()
	tenant := tenantName("parts")
	defer sqlstore.SetImagePart(300)()
	count := func(q string, args ...any) int {
		t.Helper()
		n, err := query(fmt.Sprintf(q, args...))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	persons, groups := 3000, 30
	if underRace {
		persons = 2000
	}
	mk := func(i, role int) record.MembershipKey {
		return mkey(fmt.Sprintf("g%d", (i+7*role)%groups), fmt.Sprintf("p%d", i), fmt.Sprintf("0%d", 1+role))
	}
	first := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	for i := range groups {
		first.Groups = append(first.Groups, change.Group{Op: change.Insert, Group: group(fmt.Sprintf("g%d", i), fmt.Sprintf("Group %d", i))})
	}
	for i := range persons {
		key := fmt.Sprintf("p%d", i)
		first.Persons = append(first.Persons, change.Person{Op: change.Insert, Person: person(key, "Person "+key)})
		for role := range 3 {
			k := mk(i, role)
			first.Memberships = append(first.Memberships, change.Membership{Op: change.Insert, Membership: member(k.Group, k.Member, k.Role)})
		}
		if i%5 == 0 { // of a person the approval trashes (i even) or keeps
			first.Relations = append(first.Relations, change.Relation{Op: change.Insert, Relation: relation(key, fmt.Sprintf("p%d", i+2), "carer")})
		}
	}
	apply(t, s, first)
	base := Dump(t, s, tenant)

	// The approval, in pieces of 100 changes.
	night := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 1}
	trashed, renamed := 0, 0
	for i := range persons {
		key := fmt.Sprintf("p%d", i)
		switch {
		case i%2 == 0:
			trashed++
			night.Persons = append(night.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: key, Name: "Person " + key}})
			for role := range 3 {
				night.Memberships = append(night.Memberships, change.Membership{Op: change.Delete, Cascade: true, Membership: record.Membership{MembershipKey: mk(i, role)}})
			}
		case i%6 == 1:
			renamed++
			night.Persons = append(night.Persons, change.Person{Op: change.Update, Person: person(key, "Renamed "+key)})
		}
	}
	again := mk(1, 1)
	readded := member(again.Group, again.Member, again.Role)
	readded.Attrs = record.Attrs{{Name: "note", Value: "again"}}
	readded.ComputeHash()
	night.Memberships = append(night.Memberships, change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: again}},
		change.Membership{Op: change.Insert, Membership: readded})
	night.Groups = []change.Group{{Op: change.Insert, Group: group("gnew", "New group")}, {Op: change.Update, Group: group("g1", "Group one")}}
	night.Relations = []change.Relation{{Op: change.Insert, Relation: relation("p1", "p3", "mentor")},
		{Op: change.Delete, Relation: record.Relation{RelationKey: rkey("p15", "p17", "carer")}}}
	head, give := inPieces(night, 100)
	approval := newRun(t, s, tenant, runs.Running)
	approval.Status = runs.Completed
	if err := s.Apply(ctx, store.ApplyParams{Plan: head, Run: approval, Now: now, Pieces: give}); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM run_undo_parts WHERE run_id = %d`, approval.ID); n < 10 {
		t.Fatalf("the approval's images are in %d parts: the test needs many", n)
	}
	// The night after, over some of the same keys.
	next := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 2,
		Persons: []change.Person{{Op: change.Update, Person: person("p1", "Renamed again")}, {Op: change.Update, Person: person("p3", "Renamed p3")},
			{Op: change.Insert, Person: person("p9000", "Person p9000")}},
		Groups:      []change.Group{{Op: change.Update, Group: group("gnew", "Newer group")}},
		Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{MembershipKey: again}}, {Op: change.Insert, Membership: member("gnew", "p1", "01")}},
	}
	for i := 5; i < persons; i += 2 { // p1 and p3 above
		key := fmt.Sprintf("p%d", i)
		next.Persons = append(next.Persons, change.Person{Op: change.Update, Person: person(key, "Later "+key)})
	}
	later := apply(t, s, next)
	after := Dump(t, s, tenant)
	if n := count(`SELECT length(images) FROM run_undo WHERE run_id = %d`, later.ID); n < 10*300 {
		t.Fatalf("the later night's images are %d bytes: the test needs many slices of them", n)
	}

	// Both undone, the index edits moved out of memory as they are made.
	restoreEdits := sqlstore.SetEditsHeld(100)
	u := mustUndo(t, s, tenant, approval.ID, true)
	restoreEdits()
	SameState(t, "after undoing the approval and the night after it", Dump(t, s, tenant), base)
	if n := count(`SELECT count(*) FROM run_undo_parts WHERE run_id = %d`, u.ID); n < 10 {
		t.Errorf("the undo's own images are in %d parts: the test needs many", n)
	}
	c := u.Counts
	if c.Persons.Before != persons+1-trashed || c.Persons.After != persons || c.Persons.Restored != trashed || c.Persons.Deleted != 1 ||
		c.Persons.Updated != persons/2 || c.Memberships.Inserted != 3*trashed+1 || c.Memberships.Deleted != 1 || c.Memberships.After != 3*persons ||
		c.Groups.Deleted != 1 || c.Groups.Updated != 1 {
		t.Errorf("the undo's counts: %+v", c)
	}

	// The undo undone gives the state after both nights, from images the undo kept in parts.
	mustUndo(t, s, tenant, u.ID, false)
	SameState(t, "after undoing the undo", Dump(t, s, tenant), after)
}
