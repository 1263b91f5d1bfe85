package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

// testEarlyInserts: an initial load whose memberships were written while the file was read
// (store.EarlyWriter; a store that cannot gives none and is not tested here), with a plan that
// lists only five of them and counts the rest, leaves the same rows as the whole plan applied
// the ordinary way, a state index that agrees with them (its membership buckets were sent to
// the server in parts as the rows were copied, one group's memberships split over several),
// and an undo that takes it all back. Aborted, it leaves nothing.
func testEarlyInserts(t *testing.T, s store.Store) {
	ctx := context.Background()
	ew, ok := s.(store.EarlyWriter)
	if !ok {
		t.Skip("the store does not write while reading")
	}
	defer sqlstore.SetEarlyIndexHeld(300)()
	plan := func(tenant string) *change.Plan {
		p := &change.Plan{Tenant: tenant, Mode: "snapshot"}
		for g := range 12 {
			p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: group(fmt.Sprintf("g%d", g), "Class")})
		}
		for i := range 150 {
			p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(fmt.Sprintf("p%03d", i), "P")})
		}
		// In file order, each group's members in two blocks, with other groups between.
		for half := range 2 {
			for g := range 12 {
				for i := half * 75; i < half*75+75; i++ {
					if (i+g)%3 != 0 {
						m := member(fmt.Sprintf("g%d", g), fmt.Sprintf("p%03d", i), "01")
						p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: m})
					}
				}
			}
		}
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: func() record.Membership {
			m := record.Membership{MembershipKey: mkey("g0", "g1", "04"), MemberType: record.MemberGroup}
			m.ComputeHash()
			return m
		}()})
		p.Counts = change.Tally(p, change.PerType{})
		return p
	}
	ordinary := tenantName("ordinary")
	apply(t, s, plan(ordinary))
	want := load(t, s, ordinary)

	write := func(tenant string) (*change.Plan, store.EarlyInserts) {
		p := plan(tenant)
		e, err := ew.EarlyInserts(ctx, tenant, 0)
		if err != nil {
			t.Fatalf("early inserts: %v", err)
		}
		if e == nil {
			t.Skip("the store does not write while reading (SQLite: one writer)")
		}
		for i := range p.Memberships {
			m := p.Memberships[i].Membership
			e.Membership(&m)
		}
		n, err := e.Done()
		if err != nil || n != len(p.Memberships) {
			t.Fatalf("written while reading: %d, %v; want %d", n, err, len(p.Memberships))
		}
		p.Early = len(p.Memberships) - 5
		p.Memberships = p.Memberships[:5]
		return p, e
	}

	aborted := tenantName("aborted")
	_, e := write(aborted)
	e.Abort()
	if st := load(t, s, aborted); st.Memberships.Len() != 0 || len(st.Persons) != 0 {
		t.Fatalf("an aborted early load left %d memberships, %d persons", st.Memberships.Len(), len(st.Persons))
	}

	tenant := tenantName("early")
	p, e := write(tenant)
	run := newRun(t, s, tenant, "running")
	run.Status = "completed"
	if err := s.Apply(ctx, store.ApplyParams{Plan: p, Run: run, Now: now, Early: e}); err != nil {
		t.Fatal(err)
	}
	e.Abort()                 // nothing once applied
	got := load(t, s, tenant) // checks the index against the rows
	got.Tenant, got.Version = want.Tenant, want.Version
	if !got.Equal(want) {
		t.Fatalf("the early load's state differs from the ordinary one's")
	}
	u := mustUndo(t, s, tenant, run.ID, false)
	if c := u.Counts.Memberships; c.Deleted != 1+12*100 {
		t.Errorf("undo of the early load deleted %d memberships, want %d", c.Deleted, 1+12*100)
	}
	if st := load(t, s, tenant); st.Memberships.Len() != 0 || len(st.Persons) != 0 {
		t.Fatalf("after undoing the early load: %d memberships, %d persons", st.Memberships.Len(), len(st.Persons))
	}
}
