package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// heldIndex is a hold's page rows: n persons trashed (P0001 …), one renamed (Hansen → Berg),
// one with a name beyond ASCII, a course archived, and a membership per person.
func heldIndex(n int) (*store.HeldIndex, []store.HeldChange) {
	var all []store.HeldChange
	for i := 1; i <= n; i++ {
		all = append(all, store.HeldChange{Type: record.Persons, Op: change.Delete, Key: fmt.Sprintf("P%04d", i), Name: fmt.Sprintf("Pupil %d", i)})
	}
	all = append(all,
		store.HeldChange{Type: record.Persons, Op: change.Update, Key: "R1", Name: "Kari Berg",
			Fields: []change.Field{{Name: "name", Old: "Kari Hansen", New: "Kari Berg"}, {Name: "email", Old: "", New: "kari@example.org"}}},
		store.HeldChange{Type: record.Persons, Op: change.Insert, Key: "U1", Name: "Åse Østby"},
		store.HeldChange{Type: record.Groups, Op: change.Archive, Key: "C-MATH", Name: "Maths 7A", Course: true})
	for i := 1; i <= n; i++ {
		all = append(all, store.HeldChange{Type: record.Memberships, Op: change.Delete, Key: "7A", Name: "Class 7A",
			Member: fmt.Sprintf("P%04d", i), MemberName: fmt.Sprintf("Pupil %d", i), Role: "01"})
	}
	idx := &store.HeldIndex{
		Changes: func(yield func(*store.HeldChange) bool) {
			for i := range all {
				if !yield(&all[i]) {
					return
				}
			}
		},
		Removals: []archive.GroupRemovals{{Group: "7A", Name: "Class 7A", Role: "01", Gone: n, Trashed: n, Of: n + 2}},
	}
	return idx, all
}

// testHeldChanges: a hold keeps its changes as rows its page pages and searches in the store
// (in the hold's transaction), and a decided hold drops them.
func testHeldChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("north")
	const n = 230 // over one INSERT batch of rows
	idx, all := heldIndex(n)
	run := newRun(t, s, tenant, runs.Running)
	run.Status = runs.Held
	if err := s.HoldRun(ctx, run, store.WholePlan([]byte(`{"tenant":"north"}`)), idx); err != nil {
		t.Fatal(err)
	}
	get := func(q store.HeldQuery) *store.HeldPage {
		t.Helper()
		p, err := s.HeldChanges(ctx, run.ID, q)
		if err != nil {
			t.Fatalf("HeldChanges(%+v): %v", q, err)
		}
		return p
	}
	p := get(store.HeldQuery{AllTypes: true})
	if p.All != len(all) || p.Matched != len(all) || len(p.Changes) != 50 {
		t.Fatalf("first page: %d of %d (%d matched); want 50 of %d", len(p.Changes), p.All, p.Matched, len(all))
	}
	if !reflect.DeepEqual(p.Changes, all[:50]) {
		t.Errorf("first page: got %+v…, want %+v…", p.Changes[0], all[0])
	}
	if !reflect.DeepEqual(p.Removals, idx.Removals) {
		t.Errorf("removals: got %+v, want %+v", p.Removals, idx.Removals)
	}
	// The page around the person changes' end: the update keeps its fields.
	p = get(store.HeldQuery{AllTypes: true, Offset: n - 1, Limit: 5})
	if !reflect.DeepEqual(p.Changes, all[n-1:n+4]) {
		t.Errorf("page at %d: got %+v, want %+v", n-1, p.Changes, all[n-1:n+4])
	}
	if p = get(store.HeldQuery{AllTypes: true, Offset: len(all)}); len(p.Changes) != 0 || p.Matched != len(all) {
		t.Errorf("page past the end: %d changes, %d matched", len(p.Changes), p.Matched)
	}
	for _, c := range []struct {
		name  string
		q     store.HeldQuery
		count int
		first string
	}{
		{"groups", store.HeldQuery{Type: record.Groups}, 1, "C-MATH"},
		{"memberships", store.HeldQuery{Type: record.Memberships, Limit: 500}, n, "7A"},
		{"key, any case", store.HeldQuery{AllTypes: true, Search: " p0017 "}, 2, "P0017"}, // the person and its membership
		{"name", store.HeldQuery{AllTypes: true, Search: "pupil 22"}, 2 * 11, "P0022"},    // 22, 220…229
		{"old name", store.HeldQuery{AllTypes: true, Search: "HANSEN"}, 1, "R1"},
		{"name beyond ASCII, any case", store.HeldQuery{AllTypes: true, Search: "ØSTBY"}, 1, "U1"},
		{"type and search", store.HeldQuery{Type: record.Persons, Search: "P0017"}, 1, "P0017"},
		{"no match", store.HeldQuery{AllTypes: true, Search: "nobody"}, 0, ""},
	} {
		p := get(c.q)
		if p.Matched != c.count || p.All != len(all) || len(p.Changes) != min(c.count, max(c.q.Limit, 50)) {
			t.Errorf("%s: %d matched, %d on the page, %d in all; want %d matched", c.name, p.Matched, len(p.Changes), p.All, c.count)
			continue
		}
		if c.count > 0 && p.Changes[0].Key != c.first {
			t.Errorf("%s: first %q, want %q", c.name, p.Changes[0].Key, c.first)
		}
	}

	// Holding again replaces the rows.
	idx2, all2 := heldIndex(3)
	if err := s.HoldRun(ctx, run, store.WholePlan([]byte(`{"tenant":"north"}`)), idx2); err != nil {
		t.Fatal(err)
	}
	if p := get(store.HeldQuery{AllTypes: true}); p.All != len(all2) || !reflect.DeepEqual(p.Changes, all2) {
		t.Errorf("held again: %d changes, want %d", p.All, len(all2))
	}

	// Decided: rejected, superseded or approved (in the approval's transaction), the rows go.
	run.Status = runs.Rejected
	if err := s.SaveRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HeldChanges(ctx, run.ID, store.HeldQuery{AllTypes: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected hold's changes: %v, want ErrNotFound", err)
	}
	if err := s.IndexHeld(ctx, run.ID, idx2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IndexHeld of a rejected run: %v, want ErrNotFound", err)
	}

	old := newRun(t, s, tenant, runs.Running)
	old.Status = runs.Held
	if err := s.HoldRun(ctx, old, store.WholePlan([]byte("{}")), idx2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SupersedeHeld(ctx, tenant, old.ID+1, "superseded by a newer run"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HeldChanges(ctx, old.ID, store.HeldQuery{AllTypes: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a superseded hold's changes: %v, want ErrNotFound", err)
	}

	apply(t, s, initial(tenant))
	insert := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 1,
		Persons: []change.Person{{Op: change.Insert, Person: person("p4", "New Pupil")}}}
	held := newRun(t, s, tenant, runs.Running)
	held.Status = runs.Held
	// A refused apply and hold (stale version) keeps no rows either.
	stale := *insert
	stale.BaseVersion = 0
	if err := s.Apply(ctx, store.ApplyParams{Plan: &stale, Run: held, Now: now, Hold: store.WholePlan([]byte("{}")), HoldIndex: idx2}); !errors.Is(err, store.ErrStateChanged) {
		t.Fatalf("stale apply and hold: %v", err)
	}
	if _, err := s.HeldChanges(ctx, held.ID, store.HeldQuery{AllTypes: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused hold kept its changes: %v", err)
	}
	if err := s.Apply(ctx, store.ApplyParams{Plan: insert, Run: held, Now: now, Hold: store.WholePlan([]byte("{}")), HoldIndex: idx2}); err != nil {
		t.Fatal(err)
	}
	if p := get2(t, s, held.ID); p.All != len(all2) {
		t.Errorf("apply and hold: %d changes kept, want %d", p.All, len(all2))
	}
	held.Status = runs.Completed
	if err := s.Apply(ctx, store.ApplyParams{Plan: &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 2}, Run: held, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HeldChanges(ctx, held.ID, store.HeldQuery{AllTypes: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an approved hold's changes: %v, want ErrNotFound", err)
	}

	// A hold made without rows (before holds kept them) gets them from IndexHeld.
	bare := newRun(t, s, tenant, runs.Running)
	bare.Status = runs.Held
	if err := s.HoldRun(ctx, bare, store.WholePlan([]byte("{}")), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HeldChanges(ctx, bare.ID, store.HeldQuery{AllTypes: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a hold without rows: %v, want ErrNotFound", err)
	}
	if err := s.IndexHeld(ctx, bare.ID, idx2); err != nil {
		t.Fatal(err)
	}
	if p := get2(t, s, bare.ID); p.All != len(all2) || !reflect.DeepEqual(p.Changes, all2) {
		t.Errorf("indexed later: %d changes, want %d", p.All, len(all2))
	}

	// Types given interleaved are paged by type all the same.
	mixed := []store.HeldChange{
		{Type: record.Persons, Op: change.Delete, Key: "A"}, {Type: record.Memberships, Op: change.Delete, Key: "G", Member: "A"},
		{Type: record.Persons, Op: change.Delete, Key: "B"}, {Type: record.Persons, Op: change.Delete, Key: "C"},
	}
	if err := s.IndexHeld(ctx, bare.ID, &store.HeldIndex{Changes: func(yield func(*store.HeldChange) bool) {
		for i := range mixed {
			if !yield(&mixed[i]) {
				return
			}
		}
	}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    store.HeldQuery
		want []store.HeldChange
	}{
		{store.HeldQuery{Type: record.Persons, Limit: 2}, []store.HeldChange{mixed[0], mixed[2]}},
		{store.HeldQuery{Type: record.Persons, Offset: 2}, []store.HeldChange{mixed[3]}},
		{store.HeldQuery{Type: record.Memberships}, []store.HeldChange{mixed[1]}},
		{store.HeldQuery{Type: record.Groups}, nil},
		{store.HeldQuery{AllTypes: true, Offset: 1, Limit: 2}, mixed[1:3]},
	} {
		p, err := s.HeldChanges(ctx, bare.ID, c.q)
		if err != nil || !reflect.DeepEqual(p.Changes, c.want) || p.All != len(mixed) {
			t.Errorf("interleaved types, %+v: %+v, %v; want %+v", c.q, p, err, c.want)
		}
	}
}

func get2(t *testing.T, s store.Store, id int64) *store.HeldPage {
	t.Helper()
	p, err := s.HeldChanges(context.Background(), id, store.HeldQuery{AllTypes: true})
	if err != nil {
		t.Fatalf("HeldChanges(run %d): %v", id, err)
	}
	return p
}
