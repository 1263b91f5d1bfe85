// Package storetest is the one conformance suite every store.Store passes: store/postgres and
// store/sqlite call Run from their tests. It checks what the importer and the operators rely
// on: atomic applies, state versions, the trash can and the course archive, manual
// memberships, run records and held plans, and tenant locks.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
)

// Run runs the suite. open must return a fresh, empty store for each call; Run closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s store.Store)
	}{
		{"InitialLoad", testInitialLoad},
		{"Update", testUpdate},
		{"TrashAndRestore", testTrashAndRestore},
		{"ArchiveCourse", testArchiveCourse},
		{"DeleteGroup", testDeleteGroup},
		{"UndoEachKindOfChange", testUndoEachKindOfChange},
		{"UndoRefusals", testUndoRefusals},
		{"StateVersion", testStateVersion},
		{"StaleBaseVersion", testStaleBaseVersion},
		{"Atomicity", testAtomicity},
		{"ManualMembershipsUntouched", testManualUntouched},
		{"Runs", testRuns},
		{"RunsMarkedAlive", testMarkAlive},
		{"LiveReport", testLiveReport},
		{"LiveChildren", testLiveChildren},
		{"LiveMembershipsReadWhole", testLiveMemberships},
		{"LiveRepeat", testLiveRepeat},
		{"LiveWritesKeepTheIndex", testLiveIndex},
		{"LiveActiveCountsUpToItsBounds", testLiveActive},
		{"LiveTallyCountsEveryRequestOfTheWindow", testLiveTally},
		{"LiveTouchedSumsTheRequestsSinceAVersion", testLiveTouched},
		{"HeldPlans", testHeldPlans},
		{"ApplyAndHoldInOneTransaction", testApplyAndHold},
		{"PlanInPieces", testPlanInPieces},
		{"RemovalsOfGroupsInAnyOrder", testRemovalsOfGroupsInAnyOrder},
		{"HeldChangesPagedAndSearchedInTheStore", testHeldChanges},
		{"SupersedeHeld", testSupersedeHeld},
		{"SupersedeHeldKeepsTheOtherKind", testSupersedeHeldKeepsTheOtherKind},
		{"PurgeTrash", testPurgeTrash},
		{"OperatorChangeRecordedWithItsRun", testOperatorChangeRecorded},
		{"Locks", testLocks},
		{"ApplyProgress", testApplyProgress},
		{"StoredRecords", testStoredRecords},
		{"CountRuns", testCountRuns},
		{"StateIndexAgreesWithRows", testStateIndexAgrees},
		{"NightsOfRenamesKeepTheIndex", testRenameNights},
		{"InitialIndexInBulk", testInitialIndexInBulk},
		{"EarlyInserts", testEarlyInserts},
		{"EarlyInsertsOfATenantWithPersons", testEarlyInsertsOfATenantWithPersons},
		{"EarlyInsertsTheServerRefuses", testEarlyInsertsTheServerRefuses},
		{"EarlyLoadUndo", testEarlyLoadUndo},
		{"StagedLoadIsOneSnapshot", testStagedLoad},
		{"StoredMembershipsStreamed", testStoredMemberships},
		{"ScannedMembershipsInKeyOrder", testScannedMemberships},
		{"ConsoleSessions", testConsoleSessions},
		{"ConsoleSignInFailures", testConsoleSignInFailures},
		{"SearchTrashAndArchive", testSearchTrashAndArchive},
		{"Relations", testRelations},
		{"RelationsInBulk", testRelationsInBulk},
		{"Hierarchy", testHierarchy},
		{"Objects", testObjects},
		{"UndoRollover", testUndoRollover},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.f(t, s)
		})
	}
}

// A fixed clock at the stores' precision (microseconds), so times round-trip exactly.
var now = time.Date(2026, 3, 1, 2, 0, 0, 123456000, time.UTC)

// tenantName is unique per call: PostgreSQL advisory locks are database-wide, and tests of
// several packages may share one server.
func tenantName(prefix string) string { return fmt.Sprintf("%s-%08x", prefix, rand.Uint32()) }

func person(key, name string) record.Person {
	p := record.Person{Key: key, Source: "SIS", Name: name, Attrs: record.Attrs{{Name: "email", Value: key + "@example.org"}}}
	p.ComputeHash()
	return p
}

func group(key, name string, parents ...string) record.Group {
	g := record.Group{Key: key, Source: "SIS", Name: name, Parents: parents,
		Types: []record.GroupType{{Scheme: "Unit", Value: "Class", Level: "1"}}}
	g.ComputeHash()
	return g
}

func member(g, m, role string) record.Membership {
	x := record.Membership{MembershipKey: record.MembershipKey{Group: g, Member: m, Role: role}, MemberType: record.MemberPerson}
	x.ComputeHash()
	return x
}

func mkey(g, m, role string) record.MembershipKey {
	return record.MembershipKey{Group: g, Member: m, Role: role}
}

// apply applies a plan with a fresh run record, as the importer does, and returns the run.
func apply(t *testing.T, s store.Store, p *change.Plan) *runs.Run {
	t.Helper()
	run := newRun(t, s, p.Tenant, runs.Running)
	run.Status = runs.Completed
	if err := s.Apply(context.Background(), store.ApplyParams{Plan: p, Run: run, Now: now}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return run
}

func newRun(t *testing.T, s store.Store, tenant string, status runs.Status) *runs.Run {
	t.Helper()
	run := &runs.Run{Tenant: tenant, Status: status, StartedAt: now, Mode: "snapshot",
		File: runs.File{Name: "night.xml", Size: 1234, SHA256: "ab12"}}
	if err := s.CreateRun(context.Background(), run); err != nil {
		t.Fatalf("create run: %v", err)
	}
	return run
}

func load(t *testing.T, s store.Store, tenant string) *change.State {
	t.Helper()
	st, err := s.LoadState(context.Background(), tenant)
	if err != nil {
		t.Fatalf("load state: %v", err)
	}
	checkIndex(t, s, tenant)
	return st
}

// checkIndex fails the test when the store's compact state index does not describe exactly
// its rows: every write must keep them together (issue 18). Every load of the suite checks it.
func checkIndex(t *testing.T, s store.Store, tenant string) {
	t.Helper()
	ic, ok := s.(store.IndexChecker)
	if !ok {
		return
	}
	r, err := ic.CheckIndex(context.Background(), tenant, false)
	if err != nil {
		t.Fatalf("check index: %v", err)
	}
	if !r.OK() {
		t.Fatalf("the state index disagrees with the rows: %+v", r)
	}
}

// initial is a small school: a school with a class (course) under it, three persons, their
// memberships and the class as a member of the school.
func initial(tenant string) *change.Plan {
	return &change.Plan{Tenant: tenant, Mode: "snapshot",
		Groups: []change.Group{
			{Op: change.Insert, Group: group("school", "North School")},
			{Op: change.Insert, Group: group("math1", "Math 1", "school"), Course: true},
		},
		Persons: []change.Person{
			{Op: change.Insert, Person: person("p1", "Ada Lovelace")},
			{Op: change.Insert, Person: person("p2", "Alan Turing")},
			{Op: change.Insert, Person: person("p3", "Grace Hopper")},
		},
		Memberships: []change.Membership{
			{Op: change.Insert, Membership: member("math1", "p1", "01")},
			{Op: change.Insert, Membership: member("math1", "p2", "01")},
			{Op: change.Insert, Membership: member("math1", "p3", "02")},
			{Op: change.Insert, Membership: func() record.Membership {
				m := record.Membership{MembershipKey: mkey("school", "math1", "04"), MemberType: record.MemberGroup}
				m.ComputeHash()
				return m
			}()},
		},
	}
}

func testInitialLoad(t *testing.T, s store.Store) {
	tenant := tenantName("north")
	empty := load(t, s, tenant)
	if empty.Version != 0 || len(empty.Persons)+len(empty.Groups)+empty.Memberships.Len() != 0 {
		t.Fatalf("a never-imported tenant: got version %d and %d/%d/%d objects, want an empty state at 0",
			empty.Version, len(empty.Persons), len(empty.Groups), empty.Memberships.Len())
	}
	p := initial(tenant)
	run := apply(t, s, p)
	if run.VersionBefore != 0 || run.VersionAfter != 1 {
		t.Errorf("run versions: got %d → %d, want 0 → 1", run.VersionBefore, run.VersionAfter)
	}
	st := load(t, s, tenant)
	if st.Version != 1 {
		t.Errorf("state version after the first apply: got %d, want 1", st.Version)
	}
	for _, c := range p.Persons {
		got, ok := st.Persons[c.Person.Key]
		want := change.PersonState{Hash: c.Person.Hash, Name: c.Person.Name}
		if !ok || got != want {
			t.Errorf("person %s: got %+v (present %v), want %+v", c.Person.Key, got, ok, want)
		}
	}
	wantGroups := map[string]change.GroupState{
		"school": {Hash: p.Groups[0].Group.Hash, Name: "North School"},
		"math1":  {Hash: p.Groups[1].Group.Hash, Name: "Math 1", Course: true, Parents: []string{"school"}},
	}
	if !reflect.DeepEqual(st.Groups, wantGroups) {
		t.Errorf("groups: got %+v, want %+v", st.Groups, wantGroups)
	}
	if st.Memberships.Len() != 4 {
		t.Errorf("memberships: got %d, want 4", st.Memberships.Len())
	}
	for _, c := range p.Memberships {
		m := c.Membership
		got, _ := st.Memberships.Get(m.MembershipKey)
		want := change.MembershipState{Hash: m.Hash, MemberType: m.MemberType}
		if got != want {
			t.Errorf("membership %s: got %+v, want %+v", m.MembershipKey, got, want)
		}
	}
	saved, err := s.Run(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Status != runs.Completed || saved.VersionBefore != 0 || saved.VersionAfter != 1 {
		t.Errorf("the run record saved with the apply: status %s, versions %d → %d; want completed, 0 → 1",
			saved.Status, saved.VersionBefore, saved.VersionAfter)
	}
	status, err := s.Status(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	if status.StateVersion != 1 || status.Persons.Active != 3 || status.Groups.Active != 2 || status.Memberships.Synced != 4 ||
		status.Persons.Trashed+status.Groups.Archived+status.Memberships.Manual != 0 {
		t.Errorf("status after the initial load: %+v", status)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	renamed := person("p1", "Ada King")
	moved := group("math1", "Mathematics 1", "school", "dept")
	m := member("math1", "p2", "01")
	m.Attrs = record.Attrs{{Name: "timeframe.end", Value: "2026-06-30"}}
	m.ComputeHash()
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Groups:      []change.Group{{Op: change.Update, Group: moved, Course: true}},
		Persons:     []change.Person{{Op: change.Update, Person: renamed}},
		Memberships: []change.Membership{{Op: change.Update, Membership: m}},
	})
	st := load(t, s, tenant)
	if got := st.Persons["p1"]; got.Name != "Ada King" || got.Hash != renamed.Hash {
		t.Errorf("renamed person: got %+v, want name Ada King and the new hash", got)
	}
	if got := st.Groups["math1"]; got.Name != "Mathematics 1" || got.Hash != moved.Hash || !slices.Equal(got.Parents, []string{"school", "dept"}) || !got.Course {
		t.Errorf("updated group: got %+v", got)
	}
	if got, _ := st.Memberships.Get(m.MembershipKey); got.Hash != m.Hash {
		t.Errorf("updated membership hash: got %v, want %v", got.Hash, m.Hash)
	}
	if st.Version != 2 {
		t.Errorf("version: got %d, want 2", st.Version)
	}
}

func testTrashAndRestore(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	run := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Persons:     []change.Person{{Op: change.Delete, Person: record.Person{Key: "p2", Name: "Alan Turing"}}},
		Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("math1", "p2", "01")}, Cascade: true}},
	})
	st := load(t, s, tenant)
	if got, ok := st.Persons["p2"]; !ok || !got.Trashed || got.Name != "Alan Turing" {
		t.Errorf("deleted person: got %+v (present %v), want kept in the store as trashed", got, ok)
	}
	if _, ok := st.Memberships.Get(mkey("math1", "p2", "01")); ok {
		t.Error("the trashed person's membership is still there")
	}
	trash, err := s.ListTrash(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Item{{Key: "p2", Name: "Alan Turing", Since: now, Run: run.ID}}
	if !reflect.DeepEqual(trash, want) {
		t.Errorf("trash: got %+v, want %+v", trash, want)
	}
	status, _ := s.Status(ctx, tenant)
	if status.Persons.Active != 2 || status.Persons.Trashed != 1 || status.Memberships.Synced != 3 {
		t.Errorf("status after trashing: %+v", status)
	}

	// The key comes back in a later file: restored with the file's fields.
	back := person("p2", "Alan M. Turing")
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 2,
		Persons:     []change.Person{{Op: change.Restore, Person: back}},
		Memberships: []change.Membership{{Op: change.Insert, Membership: member("math1", "p2", "01")}},
	})
	st = load(t, s, tenant)
	if got := st.Persons["p2"]; got.Trashed || got.Name != "Alan M. Turing" || got.Hash != back.Hash {
		t.Errorf("restored person: got %+v", got)
	}
	if trash, _ := s.ListTrash(ctx, tenant); len(trash) != 0 {
		t.Errorf("trash after the restore: %+v, want empty", trash)
	}

	// An operator restores from the trash by command: the version goes up.
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 3,
		Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: "p3"}}}})
	n, err := s.RestoreTrash(ctx, tenant, []string{"p3"}, nil)
	if err != nil || n != 1 {
		t.Fatalf("restore trash: %d, %v", n, err)
	}
	st = load(t, s, tenant)
	if st.Persons["p3"].Trashed || st.Version != 5 {
		t.Errorf("after restoring p3: trashed %v, version %d; want active at version 5", st.Persons["p3"].Trashed, st.Version)
	}
	if _, err := s.RestoreTrash(ctx, tenant, []string{"p1"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("restoring an active person: got %v, want ErrNotFound", err)
	}
	if _, err := s.RestoreTrash(ctx, tenant, []string{"nobody"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("restoring an unknown key: got %v, want ErrNotFound", err)
	}
	if v := load(t, s, tenant).Version; v != 5 {
		t.Errorf("failed restores changed the version to %d", v)
	}
}

func testArchiveCourse(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	run := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Groups: []change.Group{{Op: change.Archive, Group: record.Group{Key: "math1", Name: "Math 1"}, Course: true}},
		Memberships: []change.Membership{
			{Op: change.Manualize, Membership: record.Membership{MembershipKey: mkey("math1", "p1", "01")}},
			{Op: change.Manualize, Membership: record.Membership{MembershipKey: mkey("math1", "p2", "01")}},
			{Op: change.Manualize, Membership: record.Membership{MembershipKey: mkey("math1", "p3", "02")}},
		},
	})
	st := load(t, s, tenant)
	g := st.Groups["math1"]
	if !g.Archived || len(g.Parents) != 0 || !g.Course || g.Name != "Math 1" {
		t.Errorf("archived course: got %+v, want archived, a course, no parents", g)
	}
	for _, k := range []record.MembershipKey{mkey("math1", "p1", "01"), mkey("math1", "p2", "01"), mkey("math1", "p3", "02")} {
		if m, ok := st.Memberships.Get(k); !ok || !m.Manual {
			t.Errorf("membership %s of the archived course: got %+v (present %v), want manual", k, m, ok)
		}
	}
	archived, err := s.ListArchived(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Item{{Key: "math1", Name: "Math 1", Since: now, Run: run.ID}}; !reflect.DeepEqual(archived, want) {
		t.Errorf("archive list: got %+v, want %+v", archived, want)
	}
	status, _ := s.Status(ctx, tenant)
	if status.Groups.Archived != 1 || status.Groups.Active != 1 || status.Memberships.Manual != 3 || status.Memberships.Synced != 1 {
		t.Errorf("status after archiving: %+v", status)
	}

	// An update of the reappeared course (which the diff should not send) does not un-archive it.
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 2,
		Groups: []change.Group{{Op: change.Update, Group: group("math1", "Math 1 again", "school"), Course: true}}})
	if g := load(t, s, tenant).Groups["math1"]; !g.Archived {
		t.Errorf("an update un-archived the course: %+v", g)
	}

	n, err := s.RestoreArchived(ctx, tenant, []string{"math1"}, nil)
	if err != nil || n != 1 {
		t.Fatalf("restore archived: %d, %v", n, err)
	}
	st = load(t, s, tenant)
	if g := st.Groups["math1"]; g.Archived || len(g.Parents) != 0 {
		t.Errorf("restored course: got %+v, want active without parents", g)
	}
	if st.Version != 4 {
		t.Errorf("version after restoring the course: got %d, want 4", st.Version)
	}
	if _, err := s.RestoreArchived(ctx, tenant, []string{"school"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("restoring an active group: got %v, want ErrNotFound", err)
	}
	if items, _ := s.ListArchived(ctx, tenant); len(items) != 0 {
		t.Errorf("archive after the restore: %+v", items)
	}

	// The restored course matches no record's hash, so the next import rewrites it from the
	// file; the memberships its archival turned manual are the feed's again when the next plan
	// inserts them, while the platform's own manual membership stays manual.
	if g := st.Groups["math1"]; g.Hash != (record.Hash{}) {
		t.Errorf("restored course keeps the hash %x: the next import would not set its parents", g.Hash)
	}
	if err := s.AddManualMembership(ctx, tenant, store.ManualMembership{Group: "math1", Member: "p9", Role: "01", MemberType: 1}); err != nil {
		t.Fatal(err)
	}
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 4,
		Groups: []change.Group{{Op: change.Update, Group: group("math1", "Math 1", "school"), Course: true}},
		Memberships: []change.Membership{
			{Op: change.Insert, Membership: member("math1", "p1", "01")},
			{Op: change.Insert, Membership: member("math1", "p9", "01")},
		}})
	st = load(t, s, tenant)
	if g := st.Groups["math1"]; strings.Join(g.Parents, ",") != "school" {
		t.Errorf("restored course after the next import: parents %v, want school", g.Parents)
	}
	if m, _ := st.Memberships.Get(mkey("math1", "p1", "01")); m.Manual {
		t.Errorf("a membership the archival turned manual stays manual when the plan inserts it again")
	}
	if m, _ := st.Memberships.Get(mkey("math1", "p2", "01")); !m.Manual {
		t.Errorf("a membership the plan does not name was turned synced")
	}
	if m, _ := st.Memberships.Get(mkey("math1", "p9", "01")); !m.Manual {
		t.Errorf("the platform's manual membership was taken over by an insert")
	}
}

func testDeleteGroup(t *testing.T, s store.Store) {
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Groups: []change.Group{{Op: change.Delete, Group: record.Group{Key: "school"}}},
		Memberships: []change.Membership{
			{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("school", "math1", "04")}, Cascade: true}},
	})
	st := load(t, s, tenant)
	if _, ok := st.Groups["school"]; ok {
		t.Error("the deleted organisational group is still stored")
	}
	if _, ok := st.Memberships.Get(mkey("school", "math1", "04")); ok {
		t.Error("the deleted group's membership is still stored")
	}
	if len(st.Groups) != 1 || st.Memberships.Len() != 3 {
		t.Errorf("left: %d groups, %d memberships; want 1 and 3", len(st.Groups), st.Memberships.Len())
	}
}

func testStateVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	run := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1})
	if run.VersionBefore != 1 || run.VersionAfter != 1 {
		t.Errorf("empty plan: run versions %d → %d, want 1 → 1", run.VersionBefore, run.VersionAfter)
	}
	if v := load(t, s, tenant).Version; v != 1 {
		t.Errorf("an empty plan moved the version to %d", v)
	}
	if saved, _ := s.Run(ctx, run.ID); saved == nil || saved.Status != runs.Completed {
		t.Errorf("the empty plan's run record was not saved: %+v", saved)
	}
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Persons: []change.Person{{Op: change.Insert, Person: person("p4", "Edsger Dijkstra")}}})
	if v := load(t, s, tenant).Version; v != 2 {
		t.Errorf("version after a change: %d, want 2", v)
	}
	if v, err := s.StateVersion(ctx, tenant); v != 2 || err != nil {
		t.Errorf("StateVersion after a change: %d, %v; want 2", v, err)
	}
	if v, err := s.StateVersion(ctx, tenantName("never")); v != 0 || err != nil {
		t.Errorf("StateVersion of an unknown tenant: %d, %v; want 0", v, err)
	}
	// Tenants are separate.
	other := tenantName("south")
	if v := load(t, s, other).Version; v != 0 {
		t.Errorf("another tenant's version: %d, want 0", v)
	}
}

func testStaleBaseVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	before := load(t, s, tenant)
	run := newRun(t, s, tenant, runs.Held)
	err := s.Apply(ctx, store.ApplyParams{Run: run, Now: now, Plan: &change.Plan{Tenant: tenant, BaseVersion: 0,
		Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: "p1"}}}}})
	if !errors.Is(err, store.ErrStateChanged) {
		t.Fatalf("apply with a stale base version: got %v, want ErrStateChanged", err)
	}
	if after := load(t, s, tenant); !before.Equal(after) {
		t.Errorf("a refused apply changed the state:\nbefore %+v\nafter  %+v", before, after)
	}
	if saved, _ := s.Run(ctx, run.ID); saved.Status != runs.Held {
		t.Errorf("a refused apply saved the run record: status %s", saved.Status)
	}
}

func testAtomicity(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	before := load(t, s, tenant)
	bad := func() *change.Plan {
		return &change.Plan{Tenant: tenant, BaseVersion: 1,
			Groups:  []change.Group{{Op: change.Insert, Group: group("art", "Art")}},
			Persons: []change.Person{{Op: change.Update, Person: person("p1", "Changed")}, {Op: change.Delete, Person: record.Person{Key: "p2"}}},
			Memberships: []change.Membership{
				{Op: change.Insert, Membership: member("art", "p1", "01")},
				// A role the schema refuses: the apply fails after the groups and persons were written.
				{Op: change.Insert, Membership: record.Membership{MembershipKey: mkey("art", "p3", "99"), MemberType: record.MemberPerson}},
			},
		}
	}
	run := newRun(t, s, tenant, runs.Running)
	err := s.Apply(ctx, store.ApplyParams{Plan: bad(), Run: run, Now: now})
	if err == nil || errors.Is(err, store.ErrStateChanged) {
		t.Fatalf("apply of a plan with an invalid row: got %v, want a database error", err)
	}
	if after := load(t, s, tenant); !before.Equal(after) {
		t.Errorf("a failed apply left changes behind:\nbefore %+v\nafter  %+v", before, after)
	}
	if run.VersionBefore != 0 || run.VersionAfter != 0 {
		t.Errorf("a failed apply set the run's versions to %d → %d", run.VersionBefore, run.VersionAfter)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	p := bad()
	p.Memberships = p.Memberships[:1]
	if err := s.Apply(cancelled, store.ApplyParams{Plan: p, Run: run, Now: now}); err == nil {
		t.Fatal("apply with a cancelled context succeeded")
	}
	if after := load(t, s, tenant); !before.Equal(after) {
		t.Errorf("a cancelled apply left changes behind")
	}
	// The same plan applies cleanly afterwards: nothing was half-done.
	if err := s.Apply(ctx, store.ApplyParams{Plan: p, Run: run, Now: now}); err != nil {
		t.Fatalf("apply after the failures: %v", err)
	}
	if st := load(t, s, tenant); st.Version != 2 || st.Persons["p1"].Name != "Changed" {
		t.Errorf("after the good apply: version %d, p1 %+v", st.Version, st.Persons["p1"])
	}
}

func testManualUntouched(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	for _, m := range []store.ManualMembership{
		{Group: "math1", Member: "teacher9", Role: "Instructor", MemberType: 1},
		{Group: "math1", Member: "p1", Role: "02", MemberType: 1},
	} {
		if err := s.AddManualMembership(ctx, tenant, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddManualMembership(ctx, tenant, store.ManualMembership{Group: "math1", Member: "x", Role: "Janitor"}); err == nil {
		t.Error("a manual membership with an unknown role was accepted")
	}
	manual := []record.MembershipKey{mkey("math1", "teacher9", "02"), mkey("math1", "p1", "02")}
	synced := member("math1", "p1", "02")
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Memberships: []change.Membership{
			{Op: change.Insert, Membership: synced},
			{Op: change.Update, Membership: member("math1", "teacher9", "02")},
			{Op: change.Delete, Membership: record.Membership{MembershipKey: manual[0]}},
			{Op: change.Manualize, Membership: record.Membership{MembershipKey: manual[1]}},
		}})
	st := load(t, s, tenant)
	for _, k := range manual {
		m, ok := st.Memberships.Get(k)
		if !ok || !m.Manual || m.Hash != (record.Hash{}) {
			t.Errorf("manual membership %s after an apply touching it: %+v (present %v), want untouched", k, m, ok)
		}
	}
	status, _ := s.Status(ctx, tenant)
	if status.Memberships.Manual != 2 || status.Memberships.Synced != 4 {
		t.Errorf("status: %+v, want 2 manual and 4 synced memberships", status.Memberships)
	}
}

func testRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	north, south := tenantName("north"), tenantName("south")
	finished := now.Add(90 * time.Second)
	maxP := 10.0
	first := &runs.Run{Tenant: north, Status: runs.Running, Mode: "snapshot", StartedAt: now,
		File: runs.File{Name: "2026-03-01.xml", Size: 99, SHA256: "00ff"}}
	if err := s.CreateRun(ctx, first); err != nil {
		t.Fatal(err)
	}
	if first.ID == 0 {
		t.Fatal("CreateRun did not set the run's ID")
	}
	first.Status, first.FinishedAt = runs.Failed, &finished
	first.Error = &runs.Error{Line: 3, Column: 9, Message: "unexpected EOF"}
	first.Warnings = []record.Warning{{Line: 12, Column: 5, Key: "P001", Message: "no name"}}
	first.Verdict = safety.Verdict{Tripped: []safety.Trip{{Type: "persons", Op: safety.Deletes, Count: 180, Base: 600, Percent: 30, MaxPercent: &maxP}}}
	first.Counts.Persons = change.TypeCounts{Before: 600, Deleted: 180, After: 420}
	first.Approval = &runs.Decision{By: "ops", At: finished, Reason: "term ended"}
	if err := s.SaveRun(ctx, first); err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, first) {
		t.Errorf("run round trip:\ngot  %+v\nwant %+v", got, first)
	}
	if err := s.SaveRun(ctx, &runs.Run{ID: first.ID + 1000, Tenant: north}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("saving an unknown run: got %v, want ErrNotFound", err)
	}
	if _, err := s.Run(ctx, first.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reading an unknown run: got %v, want ErrNotFound", err)
	}

	second := newRun(t, s, north, runs.Completed)
	third := newRun(t, s, south, runs.Held)
	fourth := newRun(t, s, north, runs.Skipped)
	ids := func(rs []*runs.Run) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, c := range []struct {
		p    store.ListRunsParams
		want []int64
	}{
		{store.ListRunsParams{}, []int64{fourth.ID, third.ID, second.ID, first.ID}},
		{store.ListRunsParams{Tenant: north}, []int64{fourth.ID, second.ID, first.ID}},
		{store.ListRunsParams{Tenant: north, Limit: 2}, []int64{fourth.ID, second.ID}},
		{store.ListRunsParams{Status: []runs.Status{runs.Failed, runs.Held}}, []int64{third.ID, first.ID}},
		{store.ListRunsParams{Tenant: south, Status: []runs.Status{runs.Completed}}, nil},
	} {
		rs, err := s.ListRuns(ctx, c.p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(rs), c.want) {
			t.Errorf("ListRuns(%+v): got runs %v, want %v", c.p, ids(rs), c.want)
		}
	}
	last, err := s.LastRun(ctx, north)
	if err != nil || last.ID != fourth.ID {
		t.Errorf("LastRun(north): got %v, %v; want run %d", last, err, fourth.ID)
	}
	last, err = s.LastRun(ctx, north, runs.Completed, runs.Failed)
	if err != nil || last.ID != second.ID {
		t.Errorf("LastRun(north, completed|failed): got %v, %v; want run %d", last, err, second.ID)
	}
	if _, err := s.LastRun(ctx, south, runs.Completed); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastRun with no match: got %v, want ErrNotFound", err)
	}
}

func testHeldPlans(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for _, pieces := range [][][]byte{
		{[]byte(`{"tenant":"north","persons":[]}`)},
		{{0x00, 0xff, 0xfe, '\\', 'x', '\n', 0x80}}, // not UTF-8, with a NUL and a backslash
		{big},
		{big[:1000], nil, big[1000:300000], {}, big[300000:]}, // in parts, empty ones too
		{},
	} {
		run := newRun(t, s, tenant, runs.Running)
		run.Status = runs.Held
		plan := bytes.Join(pieces, nil)
		err := s.HoldRun(ctx, run, func(yield func([]byte) error) error {
			for _, p := range pieces {
				if err := yield(p); err != nil {
					return err
				}
			}
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := readPlan(t, s, run.ID)
		if !bytes.Equal(got, plan) {
			t.Errorf("plan of run %d: got %d bytes, want the %d bytes stored", run.ID, len(got), len(plan))
		}
		saved, _ := s.Run(ctx, run.ID)
		sum := sha256.Sum256(plan)
		if saved.Status != runs.Held || saved.PlanSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("held run record: status %s, plan sha %q, want the SHA-256 of the %d bytes", saved.Status, saved.PlanSHA256, len(plan))
		}
	}
	plain := newRun(t, s, tenant, runs.Completed)
	if _, err := s.Plan(ctx, plain.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("plan of a run that stored none: got %v, want ErrNotFound", err)
	}
	if err := s.HoldRun(ctx, &runs.Run{ID: plain.ID + 1000, Tenant: tenant, Status: runs.Held}, store.WholePlan([]byte("x")), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("holding an unknown run: got %v, want ErrNotFound", err)
	}
	// A plan that fails while it is given is not held, nor is the run.
	failing := newRun(t, s, tenant, runs.Running)
	failing.Status = runs.Held
	err := s.HoldRun(ctx, failing, func(yield func([]byte) error) error {
		if err := yield(big); err != nil {
			return err
		}
		return errors.New("encoding failed")
	}, nil)
	if err == nil {
		t.Fatal("a plan whose encoding failed was held")
	}
	if _, err := s.Plan(ctx, failing.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("plan of a hold that failed: got %v, want ErrNotFound", err)
	}
	if saved, _ := s.Run(ctx, failing.ID); saved.Status != runs.Running {
		t.Errorf("run of a hold that failed: %s, want it as it was (running)", saved.Status)
	}
}

// readPlan reads a held run's stored plan.
func readPlan(t *testing.T, s store.Store, id int64) []byte {
	t.Helper()
	r, err := s.Plan(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testApplyAndHold: on_trip hold-removals applies part of a plan and holds the rest in one
// transaction (ApplyParams.Hold): both commit, or neither.
func testApplyAndHold(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	insert := func(key string) *change.Plan {
		return &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 1,
			Persons: []change.Person{{Op: change.Insert, Person: person(key, "New Pupil")}}}
	}
	heldBytes := []byte(`{"tenant":"north","persons":[{"op":"trash"}]}`)
	held := store.WholePlan(heldBytes)

	run := newRun(t, s, tenant, runs.Running)
	run.Status = runs.Held
	if err := s.Apply(ctx, store.ApplyParams{Plan: insert("p4"), Run: run, Now: now, Hold: held}); err != nil {
		t.Fatal(err)
	}
	if st := load(t, s, tenant); st.Version != 2 || len(st.Persons) != 4 {
		t.Fatalf("after apply and hold: version %d, %d persons; want 2, 4", st.Version, len(st.Persons))
	}
	if got := readPlan(t, s, run.ID); !bytes.Equal(got, heldBytes) {
		t.Fatalf("held plan: %q", got)
	}
	if saved, _ := s.Run(ctx, run.ID); saved.Status != runs.Held || saved.PlanSHA256 == "" || saved.VersionAfter != 2 {
		t.Fatalf("held run record: %+v", saved)
	}

	// Stale: neither the apply nor the hold.
	stale := newRun(t, s, tenant, runs.Running)
	stale.Status = runs.Held
	if err := s.Apply(ctx, store.ApplyParams{Plan: insert("p5"), Run: stale, Now: now, Hold: held}); !errors.Is(err, store.ErrStateChanged) {
		t.Fatalf("stale apply and hold: %v", err)
	}
	if _, err := s.Plan(ctx, stale.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused apply stored its held plan: %v", err)
	}
	// The hold fails (no such run): the apply is rolled back with it.
	ghost := &runs.Run{ID: stale.ID + 1000, Tenant: tenant, Status: runs.Held}
	p := insert("p6")
	p.BaseVersion = 2
	if err := s.Apply(ctx, store.ApplyParams{Plan: p, Run: ghost, Now: now, Hold: held}); err == nil {
		t.Fatal("holding with an unknown run succeeded")
	}
	if st := load(t, s, tenant); st.Version != 2 || len(st.Persons) != 4 {
		t.Fatalf("a failed hold left its apply: version %d, %d persons", st.Version, len(st.Persons))
	}
}

func testSupersedeHeld(t *testing.T, s store.Store) {
	ctx := context.Background()
	north, south := tenantName("north"), tenantName("south")
	old1 := newRun(t, s, north, runs.Held)
	done := newRun(t, s, north, runs.Completed)
	old2 := newRun(t, s, north, runs.Held)
	otherTenant := newRun(t, s, south, runs.Held)
	newer := newRun(t, s, north, runs.Held)
	got, err := s.SupersedeHeld(ctx, north, newer.ID, fmt.Sprintf("superseded by run %d", newer.ID))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range got {
		ids = append(ids, r.ID)
		if r.Status != runs.Superseded || r.Reason != fmt.Sprintf("superseded by run %d", newer.ID) {
			t.Errorf("returned run %d: status %s reason %q", r.ID, r.Status, r.Reason)
		}
	}
	if want := []int64{old1.ID, old2.ID}; !slices.Equal(ids, want) {
		t.Errorf("superseded runs: got %v, want %v", ids, want)
	}
	for id, want := range map[int64]runs.Status{old1.ID: runs.Superseded, old2.ID: runs.Superseded,
		done.ID: runs.Completed, otherTenant.ID: runs.Held, newer.ID: runs.Held} {
		if r, _ := s.Run(ctx, id); r == nil || r.Status != want {
			t.Errorf("run %d after SupersedeHeld: %v, want %s", id, r, want)
		}
	}
	if again, err := s.SupersedeHeld(ctx, north, newer.ID, "again"); err != nil || len(again) != 0 {
		t.Errorf("second SupersedeHeld: %v, %v; want nothing", again, err)
	}
}

// testSupersedeHeldKeepsTheOtherKind: a held rollover and a held night are different questions:
// a night supersedes only nights, a rollover only rollovers.
func testSupersedeHeldKeepsTheOtherKind(t *testing.T, s store.Store) {
	ctx := context.Background()
	north := tenantName("north")
	rollover := func() *runs.Run {
		r := &runs.Run{Tenant: north, Status: runs.Held, StartedAt: now, Mode: runs.ModeRollover,
			File: runs.File{Name: "rollover 2026-27 → 2027-28"}}
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	night1, roll1 := newRun(t, s, north, runs.Held), rollover()
	night2 := newRun(t, s, north, runs.Held)
	got, err := s.SupersedeHeld(ctx, north, night2.ID, "superseded by a night")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != night1.ID {
		t.Errorf("a night superseded %v; want only the older night %d", got, night1.ID)
	}
	roll2 := rollover()
	if got, err = s.SupersedeHeld(ctx, north, roll2.ID, "superseded by a rollover"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != roll1.ID {
		t.Errorf("a rollover superseded %v; want only the older rollover %d", got, roll1.ID)
	}
	for id, want := range map[int64]runs.Status{night1.ID: runs.Superseded, roll1.ID: runs.Superseded,
		night2.ID: runs.Held, roll2.ID: runs.Held} {
		if r, _ := s.Run(ctx, id); r == nil || r.Status != want {
			t.Errorf("run %d: %v, want %s", id, r, want)
		}
	}
}

func testPurgeTrash(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	trash := func(version int64, keys ...string) {
		p := &change.Plan{Tenant: tenant, BaseVersion: version}
		for _, k := range keys {
			p.Persons = append(p.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: k}})
		}
		run := newRun(t, s, tenant, runs.Running)
		if err := s.Apply(ctx, store.ApplyParams{Plan: p, Run: run, Now: now.Add(time.Duration(version) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	trash(1, "p1")       // trashed at now+1h
	trash(2, "p2", "p3") // trashed at now+2h
	if _, err := s.PurgeTrash(ctx, tenant, store.PurgeParams{Keys: []string{"p1", "nobody"}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purging an unknown key: got %v, want ErrNotFound", err)
	}
	if st := load(t, s, tenant); len(st.Persons) != 3 || st.Version != 3 {
		t.Errorf("a refused purge changed the store: %d persons, version %d", len(st.Persons), st.Version)
	}
	n, err := s.PurgeTrash(ctx, tenant, store.PurgeParams{Before: now.Add(90 * time.Minute)})
	if err != nil || n != 1 {
		t.Fatalf("purge before now+90m: %d, %v; want 1", n, err)
	}
	st := load(t, s, tenant)
	if _, ok := st.Persons["p1"]; ok || len(st.Persons) != 2 || st.Version != 4 {
		t.Errorf("after purging p1: persons %v, version %d", st.Persons, st.Version)
	}
	n, err = s.PurgeTrash(ctx, tenant, store.PurgeParams{Keys: []string{"p3"}})
	if err != nil || n != 1 {
		t.Fatalf("purge p3: %d, %v", n, err)
	}
	if n, err := s.PurgeTrash(ctx, tenant, store.PurgeParams{Before: now}); err != nil || n != 0 {
		t.Errorf("purge with nothing old enough: %d, %v", n, err)
	}
	st = load(t, s, tenant)
	if len(st.Persons) != 1 || !st.Persons["p2"].Trashed || st.Version != 5 {
		t.Errorf("after purging p3: persons %+v, version %d; want only p2 (trashed), version 5", st.Persons, st.Version)
	}
}

// testOperatorChangeRecorded: a restore or purge given a RunRecord inserts the run in its own
// transaction, with the versions it moved between and the counts it saw; a refused one and one
// that finds nothing record nothing.
func testOperatorChangeRecorded(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: "p2"}}, {Op: change.Delete, Person: record.Person{Key: "p3"}}}})
	runsNow := func() []*runs.Run {
		t.Helper()
		rs, err := s.ListRuns(ctx, store.ListRunsParams{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	var described []string // the keys Describe was given last
	record := func() (*store.RunRecord, *[3]int) {
		seen := &[3]int{-1, -1, -1}
		run := &runs.Run{Tenant: tenant, Status: runs.Completed, Mode: runs.ModeRestore, StartedAt: now}
		return &store.RunRecord{Run: run, Describe: func(run *runs.Run, keys []string, before, after store.TenantStatus) {
			seen[0], seen[1], seen[2] = len(keys), before.Persons.Active, after.Persons.Active
			described = keys
			run.Reason = "restored by ada"
		}}, seen
	}
	had := len(runsNow())

	rec, seen := record()
	if _, err := s.RestoreTrash(ctx, tenant, []string{"p2", "nobody"}, rec); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("restoring an unknown key: %v, want ErrNotFound", err)
	}
	if got := len(runsNow()); got != had || rec.Run.ID != 0 || seen[0] != -1 {
		t.Errorf("a refused restore recorded a run: %d runs (had %d), id %d, described %v", got, had, rec.Run.ID, seen)
	}

	rec, seen = record()
	n, err := s.RestoreTrash(ctx, tenant, []string{"p2"}, rec)
	if err != nil || n != 1 {
		t.Fatalf("restore p2: %d, %v", n, err)
	}
	if *seen != [3]int{1, 1, 2} || !slices.Equal(described, []string{"p2"}) {
		t.Errorf("Describe saw n, active before, active after = %v, keys %v, want [1 1 2] and [p2]", *seen, described)
	}
	rs := runsNow()
	if len(rs) != had+1 || rec.Run.ID == 0 || rs[0].ID != rec.Run.ID {
		t.Fatalf("the restore's run is not the latest recorded: %d runs (had %d), id %d", len(rs), had, rec.Run.ID)
	}
	if r := rs[0]; r.VersionBefore != 2 || r.VersionAfter != 3 || r.Reason != "restored by ada" || r.Mode != runs.ModeRestore {
		t.Errorf("recorded run: versions %d→%d, reason %q, mode %q; want 2→3, the description, restore", r.VersionBefore, r.VersionAfter, r.Reason, r.Mode)
	}

	rec, _ = record()
	if n, err := s.PurgeTrash(ctx, tenant, store.PurgeParams{Before: now.Add(-time.Hour), Record: rec}); err != nil || n != 0 {
		t.Fatalf("purge with nothing old enough: %d, %v", n, err)
	}
	rec2, seen := record()
	if n, err := s.PurgeTrash(ctx, tenant, store.PurgeParams{Keys: []string{"p3"}, Record: rec2}); err != nil || n != 1 {
		t.Fatalf("purge p3: %d, %v", n, err)
	}
	if got := len(runsNow()); got != had+2 || rec.Run.ID != 0 || rec2.Run.ID == 0 || *seen != [3]int{1, 2, 2} {
		t.Errorf("after an empty purge and a purge of p3: %d runs (want %d), ids %d and %d, described %v", got, had+2, rec.Run.ID, rec2.Run.ID, *seen)
	}
	if !slices.Equal(described, []string{"p3"}) {
		t.Errorf("the purge of p3 described keys %v", described)
	}
}

func testLocks(t *testing.T, s store.Store) {
	ctx := context.Background()
	north, south := tenantName("north"), tenantName("south")
	release, err := s.LockTenant(ctx, north, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := s.LockTenant(ctx, north, 300*time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second lock of a locked tenant: got %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("the second lock gave up after %v, before its 300ms wait", waited)
	}
	other, err := s.LockTenant(ctx, south, 0)
	if err != nil {
		t.Fatalf("another tenant is blocked by north's lock: %v", err)
	}
	other()

	// A waiter gets the lock once it is released, and not before.
	var wg sync.WaitGroup
	var got time.Time
	var waitErr error
	released := make(chan time.Time, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, err := s.LockTenant(ctx, north, 10*time.Second)
		got, waitErr = time.Now(), err
		if err == nil {
			r()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	released <- time.Now()
	release()
	wg.Wait()
	if waitErr != nil {
		t.Fatalf("waiter: %v", waitErr)
	}
	if at := <-released; got.Before(at) {
		t.Error("the waiter got the lock before it was released")
	}
	again, err := s.LockTenant(ctx, north, 0)
	if err != nil {
		t.Fatalf("lock after all releases: %v", err)
	}
	again()

	// Waiters are served in the order they came (an SIS's concurrent live requests): none is
	// passed over by one that came later.
	hold, err := s.LockTenant(ctx, north, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.LockTenant(ctx, north, 20*time.Second)
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond) // a request's work
			r()
		}()
		time.Sleep(100 * time.Millisecond) // waiter i is waiting before waiter i+1 comes
	}
	hold()
	wg.Wait()
	if !slices.Equal(order, []int{0, 1, 2, 3}) {
		t.Errorf("waiters got the lock in the order %v, want the order they came: [0 1 2 3]", order)
	}
}

// Apply tells its progress as it writes (a progress display shows the apply moving), ending at
// all of the plan's changes, for a bulk initial load and for a mixed plan alike.
func testApplyProgress(t *testing.T, s store.Store) {
	tenant := tenantName("progress")
	big := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	for i := range 2500 {
		big.Persons = append(big.Persons, change.Person{Op: change.Insert, Person: person(fmt.Sprintf("p%04d", i), "Pupil")})
	}
	mixed := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 1,
		Persons: []change.Person{
			{Op: change.Update, Person: person("p0001", "Renamed Pupil")},
			{Op: change.Delete, Person: record.Person{Key: "p0002"}},
			{Op: change.Insert, Person: person("new", "New Pupil")},
		}}
	for _, p := range []*change.Plan{big, mixed} {
		var calls [][2]int
		run := newRun(t, s, tenant, runs.Running)
		run.Status = runs.Completed
		err := s.Apply(context.Background(), store.ApplyParams{Plan: p, Run: run, Now: now,
			Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }})
		if err != nil {
			t.Fatal(err)
		}
		n := len(p.Persons)
		if len(calls) == 0 || calls[len(calls)-1] != [2]int{n, n} {
			t.Fatalf("apply of %d changes: progress %v, want it to end at %d of %d", n, calls, n, n)
		}
		for i := 1; i < len(calls); i++ {
			if calls[i][0] < calls[i-1][0] {
				t.Errorf("progress went back: %v", calls)
			}
		}
		if n > 2000 && len(calls) < 2 {
			t.Errorf("apply of %d changes told its progress only %d times", n, len(calls))
		}
	}
}

// StoredRecords gives back the stored fields of the keys asked for (what an update replaces),
// for keys beyond one query's worth too, and leaves out keys it does not have.
func testStoredRecords(t *testing.T, s store.Store) {
	tenant := tenantName("stored")
	p := initial(tenant)
	var keys []string
	for i := range 600 {
		k := fmt.Sprintf("x%04d", i)
		p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(k, "Pupil "+k)})
		keys = append(keys, k)
	}
	apply(t, s, p)
	ps, gs, err := s.StoredRecords(context.Background(), tenant, append(keys, "p1", "nobody"), []string{"math1", "nothing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 601 || len(gs) != 1 {
		t.Fatalf("got %d persons and %d groups, want 601 and 1", len(ps), len(gs))
	}
	want := person("p1", "Ada Lovelace")
	if got := ps["p1"]; got.Name != want.Name || got.Source != want.Source || len(got.Attrs) != 1 || got.Attrs[0] != want.Attrs[0] {
		t.Errorf("stored person p1 = %+v, want the fields of %+v", got, want)
	}
	g := gs["math1"]
	if g.Name != "Math 1" || len(g.Parents) != 1 || g.Parents[0] != "school" || len(g.Types) != 1 || g.Types[0].Value != "Class" {
		t.Errorf("stored group math1 = %+v", g)
	}
	if ps, gs, err := s.StoredRecords(context.Background(), "no-such-tenant", []string{"p1"}, nil); err != nil || len(ps)+len(gs) != 0 {
		t.Errorf("another tenant's records: %v %v %v", ps, gs, err)
	}
}

// testCountRuns: /metrics counts runs by tenant and status, a decision moving a run between
// statuses.
func testCountRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	rc, ok := s.(store.RunCounter)
	if !ok {
		t.Fatal("the store does not implement store.RunCounter")
	}
	a, b := tenantName("count-a"), tenantName("count-b")
	newRun(t, s, a, runs.Completed)
	newRun(t, s, a, runs.Completed)
	held := newRun(t, s, a, runs.Held)
	newRun(t, s, b, runs.Failed)
	held.Status = runs.Rejected
	if err := s.SaveRun(ctx, held); err != nil {
		t.Fatal(err)
	}
	counts, err := rc.CountRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, n := range counts {
		if n.Tenant == a || n.Tenant == b {
			got[n.Tenant+" "+string(n.Status)] = n.N
		}
	}
	want := map[string]int{a + " completed": 2, a + " rejected": 1, b + " failed": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("CountRuns: %v, want %v", got, want)
	}
}

// testStateIndexAgrees runs random nights (made by the real diff from random files) and every
// operator command that changes a tenant's rows, and checks after each step that the compact
// state index and the rows agree, and that the state loaded is the rows' state.
func testStateIndexAgrees(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("index")
	rng := rand.New(rand.NewPCG(18, 6))
	pick := func(n int) string { return fmt.Sprint(rng.IntN(n)) }
	for step := range 14 {
		st := load(t, s, tenant)
		// A night's file: some of 12 persons, some of 5 groups (g0, g1 courses under g4), and
		// memberships among them, with a changing name or role now and then.
		d := diff.New(st, diff.Options{Courses: archive.CoursePolicy{Types: []string{"Course"}, Archive: true}})
		persons := map[string]bool{}
		for i := range 12 {
			if rng.IntN(5) == 0 {
				continue
			}
			key := fmt.Sprintf("p%d", i)
			persons[key] = true
			p := person(key, "Person "+key+" "+pick(2))
			if err := d.Person(&p); err != nil {
				t.Fatal(err)
			}
		}
		groups := []string{"g4"}
		for i := range 4 {
			if step > 0 && rng.IntN(4) == 0 {
				continue
			}
			groups = append(groups, fmt.Sprintf("g%d", i))
		}
		for _, key := range groups {
			g := group(key, "Group "+key, "g4")
			if key == "g4" {
				g = group(key, "School")
			}
			if key == "g0" || key == "g1" {
				g.Types = []record.GroupType{{Scheme: "Unit", Value: "Course"}}
				g.ComputeHash()
			}
			if err := d.Group(&g); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[record.MembershipKey]bool{}
		for range 20 {
			p := fmt.Sprintf("p%d", rng.IntN(12))
			m := member(groups[rng.IntN(len(groups))], p, "0"+fmt.Sprint(1+rng.IntN(2)))
			if !persons[p] || seen[m.MembershipKey] {
				continue
			}
			seen[m.MembershipKey] = true
			if rng.IntN(3) == 0 {
				m.Attrs = record.Attrs{{Name: "timeframe.end", Value: "2026-0" + pick(9) + "-30"}}
				m.ComputeHash()
			}
			if err := d.Membership(&m); err != nil {
				t.Fatal(err)
			}
		}
		plan, _, err := d.Finish(diff.Finish{Mode: diff.Snapshot})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		apply(t, s, plan)
		checkIndex(t, s, tenant)

		// What operators and the platform do between nights.
		switch step % 4 {
		case 0:
			if err := s.AddManualMembership(ctx, tenant, store.ManualMembership{Group: "g" + pick(4), Member: "p" + pick(12), Role: "02"}); err != nil {
				t.Fatal(err)
			}
		case 1:
			if trash, err := s.ListTrash(ctx, tenant); err != nil {
				t.Fatal(err)
			} else if len(trash) > 0 {
				if _, err := s.RestoreTrash(ctx, tenant, []string{trash[0].Key}, nil); err != nil {
					t.Fatal(err)
				}
			}
		case 2:
			if archived, err := s.ListArchived(ctx, tenant); err != nil {
				t.Fatal(err)
			} else if len(archived) > 0 {
				if _, err := s.RestoreArchived(ctx, tenant, []string{archived[0].Key}, nil); err != nil {
					t.Fatal(err)
				}
			}
		case 3:
			if trash, err := s.ListTrash(ctx, tenant); err != nil {
				t.Fatal(err)
			} else if len(trash) > 1 {
				if _, err := s.PurgeTrash(ctx, tenant, store.PurgeParams{Keys: []string{trash[1].Key}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.PurgeTrash(ctx, tenant, store.PurgeParams{Before: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		checkIndex(t, s, tenant)
	}
	st := load(t, s, tenant)
	if len(st.Persons) == 0 || st.Memberships.Len() == 0 {
		t.Fatalf("the random nights left %d persons and %d memberships: the test tests nothing", len(st.Persons), st.Memberships.Len())
	}
}

// testRenameNights: nights that only rename persons leave their state index entries pending
// (a bucket of their own) until they are many, then fold them into their buckets; a night
// that trashes one folds them at once. After every night the index agrees with the rows and a
// load gives each person's latest name and hash.
func testRenameNights(t *testing.T, s store.Store) {
	tenant := tenantName("renames")
	const persons = 40
	first := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	want := map[string]record.Person{}
	for i := range persons {
		p := person(fmt.Sprintf("p%02d", i), fmt.Sprintf("Person %d", i))
		first.Persons = append(first.Persons, change.Person{Op: change.Insert, Person: p})
		want[p.Key] = p
	}
	first.Counts = change.Tally(first, change.PerType{})
	apply(t, s, first)
	for night := 1; night <= 24; night++ {
		p := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: int64(night)}
		for i := range 30 { // more than the pending entries allowed every few nights
			key := fmt.Sprintf("p%02d", (night*7+i)%persons)
			if _, ok := want[key]; !ok {
				continue
			}
			r := person(key, fmt.Sprintf("Person %s night %d", key, night))
			p.Persons = append(p.Persons, change.Person{Op: change.Update, Person: r})
			want[key] = r
		}
		if night == 17 {
			gone := p.Persons[0].Person
			p.Persons[0] = change.Person{Op: change.Delete, Person: gone}
			delete(want, gone.Key)
		}
		p.Counts = change.Tally(p, change.PerType{record.Persons: len(want)})
		apply(t, s, p)
		st := load(t, s, tenant) // checks the index against the rows
		for key, r := range want {
			if got := st.Persons[key]; got.Name != r.Name || got.Hash != r.Hash || got.Trashed {
				t.Fatalf("night %d: person %s loaded as %+v, want %q", night, key, got, r.Name)
			}
		}
		if night >= 17 {
			if got := st.Persons["p"+fmt.Sprintf("%02d", (17*7)%persons)]; !got.Trashed {
				t.Fatalf("night %d: the person trashed on night 17 loaded as %+v", night, got)
			}
		}
	}
}

// testInitialIndexInBulk: an initial load large enough to fill many of the index's buckets (so
// the bulk writer batches them) leaves an index that agrees with the rows, and the next night
// reads the state from it. Undone, it leaves the empty tenant, its counts each row once (its
// before-images were written straight from the plan: no rows yet).
func testInitialIndexInBulk(t *testing.T, s store.Store) {
	tenant := tenantName("bulkindex")
	empty := Dump(t, s, tenant)
	p := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	for i := range 40 {
		p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: group(fmt.Sprintf("g%d", i), fmt.Sprintf("Group %d", i))})
	}
	for i := range 1500 {
		key := fmt.Sprintf("p%d", i)
		p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(key, "Person "+key)})
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: member(fmt.Sprintf("g%d", i%40), key, "01")})
	}
	run := apply(t, s, p)
	st := load(t, s, tenant) // checks the index against the rows
	if len(st.Persons) != 1500 || st.Memberships.Len() != 1500 {
		t.Fatalf("loaded %d persons and %d memberships, want 1500 and 1500", len(st.Persons), st.Memberships.Len())
	}
	if m, ok := st.Memberships.Get(mkey("g7", "p1447", "01")); !ok || m.Hash != member("g7", "p1447", "01").Hash {
		t.Errorf("membership g7/p1447/01 loaded as %+v, %v", m, ok)
	}
	u := mustUndo(t, s, tenant, run.ID, false)
	SameState(t, "after undoing the initial load", Dump(t, s, tenant), empty)
	IndexAgrees(t, s, tenant)
	if c := u.Counts; c.Persons.Deleted != 1500 || c.Groups.Deleted != 40 || c.Memberships.Deleted != 1500 || c.Persons.After != 0 {
		t.Errorf("the undo's counts: %+v", c)
	}
}

// IndexRepair damages a tenant's compact state index behind the store's back (exec runs SQL on
// the store's database) and checks that loads still give the rows' state, that CheckIndex
// reports each damage and repairs it, and that a night's apply rebuilds a stale index.
func IndexRepair(t *testing.T, s store.Store, exec func(query string) error) {
	ctx := context.Background()
	ic, ok := s.(store.IndexChecker)
	if !ok {
		t.Fatalf("%T does not implement store.IndexChecker", s)
	}
	tenant := tenantName("repair")
	apply(t, s, initial(tenant))
	want := load(t, s, tenant)
	check := func(what string, repair bool) *store.IndexReport {
		t.Helper()
		r, err := ic.CheckIndex(ctx, tenant, repair)
		if err != nil {
			t.Fatalf("%s: check index: %v", what, err)
		}
		return r
	}
	same := func(what string) {
		t.Helper()
		got, err := s.LoadState(ctx, tenant)
		if err != nil {
			t.Fatalf("%s: load state: %v", what, err)
		}
		if !got.Equal(want) {
			t.Fatalf("%s: the state loaded is not the rows' state:\n got %+v\nwant %+v", what, got, want)
		}
		got, rest, err := s.(store.StagedLoader).LoadStateStaged(ctx, tenant)
		if err != nil {
			t.Fatalf("%s: staged load: %v", what, err)
		}
		err = rest.Wait(got)
		if err == nil {
			err = collect(got)
		}
		rest.Close()
		if err != nil {
			t.Fatalf("%s: staged load: groups and memberships: %v", what, err)
		}
		if !got.Equal(want) {
			t.Fatalf("%s: the state a staged load gives is not the rows' state:\n got %+v\nwant %+v", what, got, want)
		}
	}

	for _, damage := range []struct {
		what, sql string
		report    func(*store.IndexReport) bool
	}{
		{"a bucket deleted", "DELETE FROM state_index WHERE tenant = '" + tenant + "' AND bucket = (SELECT min(bucket) FROM state_index WHERE tenant = '" + tenant + "')",
			func(r *store.IndexReport) bool { return r.Missing > 0 && !r.Stale() }},
		// An older imsfeed kept memberships in buckets 4096 to 8191 (it rebuilds a stale index
		// with them): nothing reads them now, a check counts them, a repair deletes them.
		{"a membership bucket left by an older imsfeed", "INSERT INTO state_index (tenant, bucket, data) SELECT tenant, 5000, data FROM state_index WHERE tenant = '" + tenant + "' AND bucket = (SELECT min(bucket) FROM state_index WHERE tenant = '" + tenant + "')",
			func(r *store.IndexReport) bool { return r.Extra == 1 && r.Missing+r.Different == 0 && !r.Stale() }},
		{"the person buckets unreadable", "UPDATE state_index SET data = data || data WHERE tenant = '" + tenant + "' AND bucket < 4096",
			func(r *store.IndexReport) bool { return r.Unreadable != "" }},
		{"every bucket unreadable", "UPDATE state_index SET data = data || data WHERE tenant = '" + tenant + "'",
			func(r *store.IndexReport) bool { return r.Unreadable != "" }},
		{"the index marked stale", "UPDATE tenants SET index_version = -1 WHERE id = '" + tenant + "'",
			func(r *store.IndexReport) bool { return r.Stale() && r.Missing+r.Extra+r.Different == 0 }},
	} {
		if err := exec(damage.sql); err != nil {
			t.Fatalf("%s: %v", damage.what, err)
		}
		if r := check(damage.what, false); r.OK() || !damage.report(r) || r.Repaired {
			t.Fatalf("%s: check reports %+v", damage.what, r)
		}
		if damage.what != "a bucket deleted" { // a current index is trusted: that is the point
			same(damage.what)
		}
		if r := check(damage.what, true); !r.Repaired {
			t.Fatalf("%s: repair: %+v", damage.what, r)
		}
		if r := check(damage.what+", repaired", false); !r.OK() {
			t.Fatalf("%s: after the repair: %+v", damage.what, r)
		}
		same(damage.what + ", repaired")
	}

	// A stale index is read around and rebuilt by the next night's apply.
	if err := exec("UPDATE tenants SET index_version = -1 WHERE id = '" + tenant + "'"); err != nil {
		t.Fatal(err)
	}
	same("stale")
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1, Persons: []change.Person{{Op: change.Update, Person: person("p1", "Ada King")}}})
	if r := check("rebuilt by an apply", false); !r.OK() {
		t.Fatalf("after an apply on a stale index: %+v", r)
	}
}

// testConsoleSessions: a session is found until it expires or is deleted, an expired one is
// forgotten when the next is made, and the console key is the first one stored, for every
// caller (issue 12: sessions survive a restart and hold across serve processes).
func testConsoleSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	ss, ok := s.(store.Sessions)
	if !ok {
		t.Fatalf("%T does not keep console sessions", s)
	}
	id := tenantName("session")
	old := tenantName("session-old")
	if err := ss.CreateSession(ctx, store.Session{ID: old, Operator: "Ola", Created: now.Add(-13 * time.Hour), Expires: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := ss.CreateSession(ctx, store.Session{ID: id, Operator: "Kari Nordmann", Created: now, Expires: now.Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := ss.Session(ctx, id, now.Add(time.Hour))
	if err != nil || got.Operator != "Kari Nordmann" || !got.Expires.Equal(now.Add(12*time.Hour).Truncate(time.Second)) {
		t.Fatalf("session: %+v, %v", got, err)
	}
	if _, err := ss.Session(ctx, id, now.Add(13*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session: %v, want ErrNotFound", err)
	}
	if _, err := ss.Session(ctx, old, now.Add(-2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a session expired when the next was made is still there: %v", err)
	}
	if err := ss.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Session(ctx, id, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted session: %v, want ErrNotFound", err)
	}
	if err := ss.DeleteSession(ctx, id); err != nil {
		t.Fatalf("deleting an unknown session: %v", err)
	}
	name := tenantName("key")
	k1, err := ss.ConsoleKey(ctx, name, "first")
	if err != nil || k1 != "first" {
		t.Fatalf("console key: %q, %v", k1, err)
	}
	if k2, err := ss.ConsoleKey(ctx, name, "second"); err != nil || k2 != "first" {
		t.Fatalf("console key asked again: %q, %v; want the first", k2, err)
	}
}

// testConsoleSignInFailures: sign-in attempts add up per key in the store (every serve process
// counts into the same rows), are counted when claimed (before the password is checked), count
// from 0 again once the last is old, are taken back or forgotten at a success, and old rows go
// at the next attempt (issue 12: the slow-down holds across processes behind a load balancer).
func testConsoleSignInFailures(t *testing.T, s store.Store) {
	ctx := context.Background()
	ss := s.(store.Sessions)
	name, addr, old := tenantName("name"), tenantName("ip"), tenantName("old")
	forget := time.Hour
	at := func(d time.Duration) time.Time { return now.Add(d) }
	// The policy under test: three free attempts, then wait a second after the last.
	policy := func(f store.SignInFailure, d time.Duration) time.Duration {
		if f.Failures < 3 {
			return 0
		}
		return max(f.Last.Add(time.Second).Sub(at(d)), 0)
	}
	claim := func(d time.Duration, keys ...string) time.Duration {
		t.Helper()
		wait, err := ss.ClaimSignIn(ctx, keys, at(d), at(d-forget), func(f store.SignInFailure) time.Duration { return policy(f, d) })
		if err != nil {
			t.Fatal(err)
		}
		return wait
	}
	got := func(d time.Duration, keys ...string) map[string]store.SignInFailure {
		t.Helper()
		fs, err := ss.SignInFailures(ctx, keys, at(d-forget))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]store.SignInFailure{}
		for _, f := range fs {
			m[f.Key] = f
		}
		return m
	}
	if m := got(0, name, addr); len(m) != 0 {
		t.Fatalf("failures before any: %+v", m)
	}
	claim(-2*forget, old)
	claim(0, name, addr)
	claim(time.Second, name, addr)
	claim(2*time.Second+5*time.Millisecond, addr)
	m := got(3*time.Second, name, addr, old)
	if m[name].Failures != 2 || m[addr].Failures != 3 || !m[addr].Last.Equal(at(2*time.Second+5*time.Millisecond).Truncate(time.Millisecond)) {
		t.Fatalf("after 2 attempts under the name and 3 under the address: %+v", m)
	}
	if _, ok := m[old]; ok {
		t.Fatalf("an attempt older than the forget time is still counted: %+v", m[old])
	}
	// The address must wait: nothing is counted, under the name neither.
	if wait := claim(2*time.Second+500*time.Millisecond, name, addr); wait < 500*time.Millisecond || wait > 510*time.Millisecond {
		t.Fatalf("an attempt within the wait: waits %v, want about 505ms", wait)
	}
	if m := got(3*time.Second, name, addr); m[name].Failures != 2 || m[addr].Failures != 3 {
		t.Fatalf("a refused attempt was counted: %+v", m)
	}
	// The old row was deleted by the attempts after it: claiming it again counts 1.
	claim(3*time.Second, old)
	if m := got(3*time.Second, old); m[old].Failures != 1 {
		t.Fatalf("an old key failing again: %+v, want 1 failure", m[old])
	}
	// A success takes its claim back under the address and forgets the name.
	claim(4*time.Second, name, addr)
	if err := ss.ReleaseSignIn(ctx, []string{addr}); err != nil {
		t.Fatal(err)
	}
	if err := ss.ClearSignInFailures(ctx, []string{name, tenantName("never")}); err != nil {
		t.Fatal(err)
	}
	if m := got(4*time.Second, name, addr); m[addr].Failures != 3 || len(m) != 1 {
		t.Fatalf("after a success: %+v, want the name forgotten and the address at 3", m)
	}
	// Past the forget time a key counts from 1 again.
	claim(forget+5*time.Second, name)
	if m := got(forget+5*time.Second, name, addr); m[name].Failures != 1 || len(m) != 1 {
		t.Fatalf("failing after the forget time: %+v, want the name at 1 and the address forgotten", m)
	}
	// Attempts at the same moment, from many goroutines (processes), each see the ones
	// claimed before them: exactly the three free ones get through, whatever the timing.
	burst, other := tenantName("burst"), tenantName("burst-ip")
	var wg sync.WaitGroup
	var mu sync.Mutex
	through := 0
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := []string{burst, other}
			if i%2 == 1 {
				keys = []string{other, burst} // either order: no deadlock
			}
			wait, err := ss.ClaimSignIn(ctx, keys, at(0), at(-forget), func(f store.SignInFailure) time.Duration { return policy(f, 0) })
			if err != nil {
				t.Error(err)
				return
			}
			if wait == 0 {
				mu.Lock()
				through++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if m := got(0, burst, other); through != 3 || m[burst].Failures != 3 || m[other].Failures != 3 {
		t.Fatalf("12 attempts at once: %d got through (want 3), counted %+v", through, m)
	}
}

// testSearchTrashAndArchive: the trash can and the archive are paged and searched in the
// store, in ListTrash's order: a page of Limit from Offset, how many match in all, a search
// of key or name ignoring the case of ASCII letters, and "%" or "_" meaning themselves (issue
// 12: a tenant can have 50,000 persons in the trash can).
func testSearchTrashAndArchive(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	apply(t, s, initial(tenant))
	ins := &change.Plan{Tenant: tenant, BaseVersion: 1}
	del := &change.Plan{Tenant: tenant, BaseVersion: 2,
		Groups: []change.Group{{Op: change.Archive, Group: record.Group{Key: "math1", Name: "Math 1"}, Course: true}}}
	names := map[string]string{"x1": "Øystein Hansen", "x2": "50% Sale", "x3": "Ola Nordmann"}
	for i := 0; i < 30; i++ {
		names[fmt.Sprintf("k%02d", i)] = fmt.Sprintf("Pupil %02d", i)
	}
	for k, n := range names {
		ins.Persons = append(ins.Persons, change.Person{Op: change.Insert, Person: person(k, n)})
		del.Persons = append(del.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: k, Name: n}})
	}
	apply(t, s, ins)
	apply(t, s, del)
	keys := func(items []store.Item) string {
		var ks []string
		for _, it := range items {
			ks = append(ks, it.Key)
		}
		return strings.Join(ks, " ")
	}
	for _, c := range []struct {
		q        store.ItemQuery
		n        int
		wantKeys string
	}{
		{store.ItemQuery{Limit: 3}, 33, "k00 k01 k02"},
		{store.ItemQuery{Offset: 31, Limit: 5}, 33, "x2 x3"},
		{store.ItemQuery{Offset: 40, Limit: 5}, 33, ""},
		{store.ItemQuery{Offset: 30}, 33, "x1 x2 x3"},
		{store.ItemQuery{Search: "HANSEN"}, 1, "x1"},
		{store.ItemQuery{Search: " Øystein "}, 1, "x1"},
		{store.ItemQuery{Search: "K1", Limit: 4}, 10, "k10 k11 k12 k13"},
		{store.ItemQuery{Search: "pupil 2", Offset: 8, Limit: 4}, 10, "k28 k29"},
		{store.ItemQuery{Search: "50%"}, 1, "x2"},
		{store.ItemQuery{Search: "%"}, 1, "x2"},
		{store.ItemQuery{Search: "_"}, 0, ""},
		{store.ItemQuery{Search: "nobody"}, 0, ""},
	} {
		items, n, err := s.SearchTrash(ctx, tenant, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if n != c.n || keys(items) != c.wantKeys {
			t.Errorf("SearchTrash(%+v): %d match, page %q; want %d, %q", c.q, n, keys(items), c.n, c.wantKeys)
		}
	}
	all, _ := s.ListTrash(ctx, tenant)
	if page, n, _ := s.SearchTrash(ctx, tenant, store.ItemQuery{}); !reflect.DeepEqual(page, all) || n != len(all) {
		t.Errorf("SearchTrash without a query differs from ListTrash: %d items, %d match; want %d", len(page), n, len(all))
	}
	if items, n, err := s.SearchArchived(ctx, tenant, store.ItemQuery{Search: "math", Limit: 10}); err != nil || n != 1 || keys(items) != "math1" || items[0].Name != "Math 1" {
		t.Errorf("SearchArchived(math): %+v, %d, %v", items, n, err)
	}
	if items, n, _ := s.SearchArchived(ctx, tenant, store.ItemQuery{Search: "school"}); n != 0 || len(items) != 0 {
		t.Errorf("SearchArchived(school), an active group: %+v, %d", items, n)
	}
}

func relation(p, related, typ string, attrs ...string) record.Relation {
	r := record.Relation{RelationKey: record.RelationKey{Person: p, Related: related, Type: typ}}
	for i := 0; i+1 < len(attrs); i += 2 {
		r.Attrs.Add(attrs[i], attrs[i+1])
	}
	r.ComputeHash()
	return r
}

func rkey(p, related, typ string) record.RelationKey {
	return record.RelationKey{Person: p, Related: related, Type: typ}
}

// testRelations: relations between persons are stored, loaded, updated, deleted, listed with
// both persons' names and counted; a trashed person keeps no relation either way, even when
// the plan trashing them did not name them (a live request's).
func testRelations(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("rel")
	p := initial(tenant)
	p.Relations = []change.Relation{
		{Op: change.Insert, Relation: relation("p1", "p3", "guardian", "source", "SIS")},
		{Op: change.Insert, Relation: relation("p2", "p3", "mentor")},
		{Op: change.Insert, Relation: relation("p2", "p1", "nextOfKin")},
	}
	apply(t, s, p)
	st := load(t, s, tenant)
	if len(st.Relations) != 3 || st.Relations[rkey("p1", "p3", "guardian")].Hash != p.Relations[0].Relation.Hash {
		t.Fatalf("loaded relations %+v", st.Relations)
	}
	status, _ := s.Status(ctx, tenant)
	if status.Relations.Active != 3 {
		t.Errorf("status relations %+v, want 3 active", status.Relations)
	}
	all, err := s.ListRelations(ctx, tenant, store.ListRelationsParams{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Relation{
		{Person: "p1", PersonName: "Ada Lovelace", Related: "p3", RelatedName: "Grace Hopper", Type: "guardian", Attrs: record.Attrs{{Name: "source", Value: "SIS"}}},
		{Person: "p2", PersonName: "Alan Turing", Related: "p1", RelatedName: "Ada Lovelace", Type: "nextOfKin"},
		{Person: "p2", PersonName: "Alan Turing", Related: "p3", RelatedName: "Grace Hopper", Type: "mentor"},
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("relations:\n%+v\nwant\n%+v", all, want)
	}
	if of, _ := s.ListRelations(ctx, tenant, store.ListRelationsParams{Person: "p3"}); len(of) != 2 || of[0].Person != "p1" || of[1].Person != "p2" {
		t.Errorf("relations naming p3: %+v, want p1's and p2's", of)
	}

	// An update replaces the attributes; a delete removes exactly that relation.
	upd := relation("p1", "p3", "guardian", "source", "SIS2")
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1, Relations: []change.Relation{
		{Op: change.Update, Relation: upd},
		{Op: change.Delete, Relation: record.Relation{RelationKey: rkey("p2", "p3", "mentor")}},
	}})
	st = load(t, s, tenant)
	if len(st.Relations) != 2 || st.Relations[rkey("p1", "p3", "guardian")].Hash != upd.Hash {
		t.Errorf("after update and delete: %+v", st.Relations)
	}

	// A bad plan is refused whole.
	err = s.Apply(ctx, store.ApplyParams{Now: now, Plan: &change.Plan{Tenant: tenant, BaseVersion: 2,
		Persons:   []change.Person{{Op: change.Insert, Person: person("p9", "New")}},
		Relations: []change.Relation{{Op: change.Archive, Relation: relation("p1", "p9", "guardian")}}}})
	if err == nil || load(t, s, tenant).Version != 2 {
		t.Errorf("a relation archival was applied (err %v)", err)
	}

	// Trashing p1 leaves no relation naming p1, though the plan names none.
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 2,
		Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: "p1"}}}})
	if st := load(t, s, tenant); len(st.Relations) != 0 {
		t.Errorf("relations of a trashed person left: %+v", st.Relations)
	}
	if status, _ := s.Status(ctx, tenant); status.Relations.Active != 0 {
		t.Errorf("status relations %+v after the trashing", status.Relations)
	}
}

// testRelationsInBulk: a plan too big for row-by-row writing (PostgreSQL copies it) stores
// and removes relations the same way.
func testRelationsInBulk(t *testing.T, s store.Store) {
	tenant := tenantName("relbulk")
	p := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	for i := range 1100 {
		pupil := fmt.Sprintf("pupil%04d", i)
		p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(pupil, "Pupil")})
		p.Relations = append(p.Relations, change.Relation{Op: change.Insert, Relation: relation(pupil, fmt.Sprintf("carer%03d", i%300), "guardian")})
	}
	apply(t, s, p)
	if n := len(load(t, s, tenant).Relations); n != 1100 {
		t.Fatalf("%d relations stored, want 1100", n)
	}
	next := &change.Plan{Tenant: tenant, BaseVersion: 1}
	for i := range 250 {
		next.Relations = append(next.Relations, change.Relation{Op: change.Delete, Relation: record.Relation{RelationKey: rkey(fmt.Sprintf("pupil%04d", i), fmt.Sprintf("carer%03d", i%300), "guardian")}})
	}
	next.Relations = append(next.Relations, change.Relation{Op: change.Insert, Relation: relation("pupil1099", "carer000", "mentor")})
	next.Persons = []change.Person{{Op: change.Delete, Person: record.Person{Key: "pupil1000"}}}
	apply(t, s, next)
	st := load(t, s, tenant)
	if n := len(st.Relations); n != 1100-250+1-1 {
		t.Errorf("%d relations after the second plan, want %d", n, 1100-250)
	}
	if _, ok := st.Relations[rkey("pupil1099", "carer000", "mentor")]; !ok {
		t.Error("the inserted relation is missing")
	}
	if _, ok := st.Relations[rkey("pupil1000", "carer100", "guardian")]; ok {
		t.Error("the trashed pupil's relation is still there")
	}
}
