package importer_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// allHeld reads every page row a held run keeps.
func allHeld(t *testing.T, s store.Store, id int64) *store.HeldPage {
	t.Helper()
	p, err := s.HeldChanges(context.Background(), id, store.HeldQuery{AllTypes: true, Limit: 1 << 20})
	if err != nil {
		t.Fatalf("changes of held run %d: %v", id, err)
	}
	return p
}

// TestHoldKeepsItsChangesForThePageUntilDecided: a held run keeps its plan's changes as rows
// (with the removals breakdown) in the hold's transaction, in the plan's order, each update
// with its fields old → new; hold-removals keeps only the held part; a hold without rows gets
// the same rows from IndexHeld; a decision drops them.
func TestHoldKeepsItsChangesForThePageUntilDecided(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		held := e.imp(e.file("broken.xml", feedgen.Options{DropPercent: 30, RenamePercent: 10}))
		wantStatus(t, held, runs.Held)
		data, err := e.im.PlanBytes(ctx, held.ID)
		if err != nil {
			t.Fatal(err)
		}
		var plan change.Plan
		if err := json.Unmarshal(data, &plan); err != nil {
			t.Fatal(err)
		}
		page := allHeld(t, e.st, held.ID)
		if want := len(plan.Persons) + len(plan.Groups) + len(plan.Memberships); page.All != want || len(page.Changes) != want {
			t.Fatalf("held run keeps %d rows (%d read), its plan has %d changes", page.All, len(page.Changes), want)
		}
		if len(page.Removals) == 0 || page.Removals[0].Gone == 0 {
			t.Errorf("no removals breakdown kept: %+v", page.Removals)
		}
		renamed := 0
		for i, c := range plan.Persons {
			r := page.Changes[i]
			if r.Type != record.Persons || r.Key != c.Person.Key || r.Op != c.Op {
				t.Fatalf("row %d: %+v, plan has %s %s", i, r, c.Op, c.Person.Key)
			}
			if c.Op == change.Update && c.Old != nil && c.Old.Name != c.Person.Name {
				renamed++
				if len(r.Fields) == 0 || r.Fields[0] != (change.Field{Name: "name", Old: c.Old.Name, New: c.Person.Name}) {
					t.Errorf("renamed %s: fields %+v", c.Person.Key, r.Fields)
				}
			}
		}
		if renamed == 0 {
			t.Error("the broken night renames nobody")
		}
		m := page.Changes[len(page.Changes)-1]
		if m.Type != record.Memberships || m.Name == "" || m.MemberName == "" {
			t.Errorf("a membership row without its group's or member's name: %+v", m)
		}

		// A hold from before holds kept rows: the same rows come from IndexHeld.
		if err := e.st.HoldRun(ctx, held, store.WholePlan(data), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.HeldChanges(ctx, held.ID, store.HeldQuery{AllTypes: true}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("held again without rows: %v", err)
		}
		if err := e.im.IndexHeld(ctx, held.ID); err != nil {
			t.Fatal(err)
		}
		if again := allHeld(t, e.st, held.ID); !reflect.DeepEqual(again, page) {
			t.Errorf("IndexHeld made other rows than the hold (%d, %d)", again.All, page.All)
		}

		if _, err := e.im.Reject(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "broken export"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.HeldChanges(ctx, held.ID, store.HeldQuery{AllTypes: true}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a rejected run keeps its rows: %v", err)
		}
		if err := e.im.IndexHeld(ctx, held.ID); !errors.Is(err, importer.ErrNotHeld) {
			t.Errorf("IndexHeld of a rejected run: %v", err)
		}
	})
}

// TestHoldRemovalsKeepsTheHeldPartsRows: hold-removals applies inserts and updates and keeps
// rows only for the removals it holds; approval drops them.
func TestHoldRemovalsKeepsTheHeldPartsRows(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Safety.OnTrip = safety.HoldRemovals })
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		r := e.imp(e.file("n3.xml", feedgen.Options{Night: 3, DropPercent: 30, RenamePercent: 1}))
		wantStatus(t, r, runs.Held)
		page := allHeld(t, e.st, r.ID)
		want := r.Counts.Persons.Deleted + r.Counts.Groups.Deleted + r.Counts.Groups.Archived + r.Counts.Memberships.Deleted + r.Counts.Memberships.Archived
		if page.All != want || want == 0 {
			t.Errorf("held part: %d rows, want the %d removals", page.All, want)
		}
		for _, c := range page.Changes {
			if !c.Op.Removal() {
				t.Fatalf("an applied change kept as held: %+v", c)
			}
		}
		if _, err := e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "ops", Reason: "term ended"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.HeldChanges(ctx, r.ID, store.HeldQuery{AllTypes: true}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an approved run keeps its rows: %v", err)
		}
	})
}
