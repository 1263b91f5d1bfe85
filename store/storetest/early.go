package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

// testEarlyInserts: an initial load whose memberships were written while the file was read
// (store.EarlyWriter, which both stores are), with a plan that lists only five of them and
// counts the rest, leaves the same rows as the whole plan applied the ordinary way, a state
// index that agrees with them (its buckets were sent to a temporary table in parts as the
// rows were written, one group's memberships split over several), and an undo that takes it
// all back. Aborted, it leaves nothing. Some keys, names and attributes hold what COPY's text
// format escapes (backslashes, tabs, line ends) and what JSON escapes, written early as text
// the store encodes itself (PostgreSQL) and the ordinary way by the driver.
func testEarlyInserts(t *testing.T, s store.Store) {
	ctx := context.Background()
	ew, ok := s.(store.EarlyWriter)
	if !ok {
		t.Skip("the store does not write while reading")
	}
	defer sqlstore.SetEarlyIndexHeld(300)()
	// The second block of each group's members comes after other groups': those memberships
	// are edited into the group's packs already written, some while the file is read.
	defer sqlstore.SetEarlyLateHeld(40)()
	// The member lists merged from runs written aside, not one run sorted in memory.
	defer sqlstore.SetListRun(50)()
	key := func(i int) string {
		if i%10 == 7 {
			return fmt.Sprintf("p%03d\\\t\\N", i) // a backslash, a tab, and what reads as NULL unescaped
		}
		return fmt.Sprintf("p%03d", i)
	}
	plan := func(tenant string) *change.Plan {
		p := &change.Plan{Tenant: tenant, Mode: "snapshot"}
		for g := range 12 {
			p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: group(fmt.Sprintf("g%d", g), "Class")})
		}
		for i := range 150 {
			r := person(key(i), "P")
			if i%10 == 3 {
				r.Name = "Ann\tMarie \\ O'Neil\r\nÅsa ☃\\"
				r.Attrs = record.Attrs{{Name: "email", Value: `a"b\c\\` + "\t\n" + r.Key}}
				r.ComputeHash()
			}
			p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: r})
		}
		// In file order, each group's members in two blocks, with other groups between.
		for half := range 2 {
			for g := range 12 {
				for i := half * 75; i < half*75+75; i++ {
					if (i+g)%3 != 0 {
						m := member(fmt.Sprintf("g%d", g), key(i), "01")
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

	// The persons and memberships written while the file is read, in file order: most
	// persons first, then some memberships, the other persons, the other memberships (the copy
	// goes from one table to the other and back). The plan lists five of each.
	write := func(tenant string) (*change.Plan, store.EarlyInserts) {
		p := plan(tenant)
		e, err := ew.EarlyInserts(ctx, tenant, 0)
		if err != nil {
			t.Fatalf("early inserts: %v", err)
		}
		if e == nil {
			t.Fatal("no early inserts for a tenant with nothing stored")
		}
		person := func(from, to int) {
			for i := from; i < to; i++ {
				r := p.Persons[i].Person
				e.Person(&r)
			}
		}
		member := func(from, to int) {
			for i := from; i < to; i++ {
				m := p.Memberships[i].Membership
				e.Membership(&m)
			}
		}
		person(0, 120)
		member(0, 500)
		person(120, len(p.Persons))
		member(500, len(p.Memberships))
		n, err := e.Done()
		if want := (change.PerType{record.Persons: len(p.Persons), record.Memberships: len(p.Memberships)}); err != nil || n != want {
			t.Fatalf("written while reading: %v, %v; want %v", n, err, want)
		}
		p.Early[record.Persons] = len(p.Persons) - 5
		p.Early[record.Memberships] = len(p.Memberships) - 5
		p.Persons, p.Memberships = p.Persons[:5], p.Memberships[:5]
		return p, e
	}

	aborted := tenantName("aborted")
	_, e := write(aborted)
	e.Abort()
	if st := load(t, s, aborted); st.Memberships.Len() != 0 || len(st.Persons) != 0 {
		t.Fatalf("an aborted early load left %d memberships, %d persons", st.Memberships.Len(), len(st.Persons))
	}

	tenant := tenantName("early")
	run := newRun(t, s, tenant, "running") // first: on SQLite the early inserts hold the one writer
	p, e := write(tenant)
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
	// Found by member too (the member lists), as the ordinary apply's are.
	if lv, ok := s.(store.Live); ok {
		var persons []string
		for _, x := range plan(tenant).Persons {
			persons = append(persons, x.Person.Key)
		}
		byMember := func(tenant string) map[record.MembershipKey]bool {
			o, err := lv.LiveLoad(ctx, tenant, store.LiveQuery{MembershipsOfPersons: persons, MembershipsOfGroups: []string{"g1"}})
			if err != nil {
				t.Fatal(err)
			}
			out := map[record.MembershipKey]bool{}
			for k := range o.Memberships {
				out[k] = true
			}
			return out
		}
		if e, o := byMember(tenant), byMember(ordinary); !reflect.DeepEqual(e, o) || len(o) < 1000 {
			t.Errorf("read by member: %d memberships of the early load, %d of the ordinary one", len(e), len(o))
		}
	}
	// The persons whose text COPY escapes, read back as they were given.
	var keys []string
	byKey := map[string]record.Person{}
	for _, x := range plan(tenant).Persons {
		if x.Person.Name != "P" || x.Person.Key != fmt.Sprintf("p%s", x.Person.Key[1:4]) {
			keys = append(keys, x.Person.Key)
			byKey[x.Person.Key] = x.Person
		}
	}
	stored, _, err := s.StoredRecords(ctx, tenant, keys, nil)
	if err != nil || len(keys) != 30 || len(stored) != len(keys) {
		t.Fatalf("stored records of %d persons with escaped text: %d, %v", len(keys), len(stored), err)
	}
	for k, want := range byKey {
		got := stored[k]
		got.ComputeHash() // of all it holds
		if got.Key != want.Key || got.Name != want.Name || !reflect.DeepEqual(got.Attrs, want.Attrs) || got.Hash != want.Hash {
			t.Errorf("person %q written early reads back as %q %q %v, want %q %v", k, got.Key, got.Name, got.Attrs, want.Name, want.Attrs)
		}
	}
	u := mustUndo(t, s, tenant, run.ID, false)
	if c := u.Counts.Memberships; c.Deleted != 1+12*100 {
		t.Errorf("undo of the early load deleted %d memberships, want %d", c.Deleted, 1+12*100)
	}
	if c := u.Counts.Persons; c.Deleted != 150 {
		t.Errorf("undo of the early load deleted %d persons, want 150", c.Deleted)
	}
	if st := load(t, s, tenant); st.Memberships.Len() != 0 || len(st.Persons) != 0 {
		t.Fatalf("after undoing the early load: %d memberships, %d persons", st.Memberships.Len(), len(st.Persons))
	}
}

// testEarlyInsertsOfATenantWithPersons: a tenant with persons stored but no memberships still
// has its memberships written while the file is read, its persons by the apply (the plan's
// updates); a person given to write early is refused (Done fails, and nothing is written).
func testEarlyInsertsOfATenantWithPersons(t *testing.T, s store.Store) {
	ctx := context.Background()
	ew, ok := s.(store.EarlyWriter)
	if !ok {
		t.Skip("the store does not write while reading")
	}
	defer sqlstore.SetEarlyIndexHeld(300)()
	tenant := tenantName("persons")
	first := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	for i := range 20 {
		first.Persons = append(first.Persons, change.Person{Op: change.Insert, Person: person(fmt.Sprintf("p%02d", i), "P")})
	}
	first.Counts = change.Tally(first, change.PerType{})
	apply(t, s, first)

	p := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 1}
	p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: group("g", "Class")})
	p.Persons = append(p.Persons, change.Person{Op: change.Update, Person: person("p00", "Renamed")})
	for i := range 20 {
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: member("g", fmt.Sprintf("p%02d", i), "01")})
	}
	run := newRun(t, s, tenant, "running") // first: on SQLite the early inserts hold the one writer
	refused, err := ew.EarlyInserts(ctx, tenant, 1)
	if err != nil {
		t.Fatalf("early inserts: %v", err)
	}
	if refused == nil {
		t.Fatal("no early inserts for a tenant without memberships")
	}
	r := p.Persons[0].Person
	refused.Person(&r)
	if _, err := refused.Done(); err == nil {
		t.Errorf("a person written early into a tenant with persons stored: no error")
	}
	refused.Abort()

	e, err := ew.EarlyInserts(ctx, tenant, 1)
	if err != nil || e == nil {
		t.Fatalf("early inserts: %v, %v", e, err)
	}
	for i := range p.Memberships {
		m := p.Memberships[i].Membership
		e.Membership(&m)
	}
	if n, err := e.Done(); err != nil || n != (change.PerType{record.Memberships: 20}) {
		t.Fatalf("written while reading: %v, %v", n, err)
	}
	p.Early[record.Memberships] = 18
	p.Memberships = p.Memberships[:2]
	p.Counts = change.Tally(p, change.PerType{record.Persons: 20})
	run.Status = "completed"
	if err := s.Apply(ctx, store.ApplyParams{Plan: p, Run: run, Now: now, Early: e}); err != nil {
		t.Fatal(err)
	}
	st := load(t, s, tenant) // checks the index against the rows
	if len(st.Persons) != 20 || st.Memberships.Len() != 20 || st.Persons["p00"].Name != "Renamed" {
		t.Fatalf("after the early load: %d persons, %d memberships, p00 named %q", len(st.Persons), st.Memberships.Len(), st.Persons["p00"].Name)
	}
	mustUndo(t, s, tenant, run.ID, false)
	st = load(t, s, tenant)
	if len(st.Persons) != 20 || st.Memberships.Len() != 0 || st.Persons["p00"].Name != "P" {
		t.Fatalf("after undoing the early load: %d persons, %d memberships, p00 named %q", len(st.Persons), st.Memberships.Len(), st.Persons["p00"].Name)
	}
}

// testEarlyInsertsTheServerRefuses: a row the table refuses in the middle of an early load (a
// role the schema does not allow, which the reader never lets through) fails the load: Done
// says which table, nothing of the tenant is written, and the store goes on working on the
// same connections (the copy's connection is given back in a usable state).
func testEarlyInsertsTheServerRefuses(t *testing.T, s store.Store) {
	ctx := context.Background()
	ew, ok := s.(store.EarlyWriter)
	if !ok {
		t.Skip("the store does not write while reading")
	}
	for try := range 3 { // more tries than a pool keeps idle connections by default
		tenant := tenantName(fmt.Sprintf("refused%d", try))
		e, err := ew.EarlyInserts(ctx, tenant, 0)
		if err != nil || e == nil {
			t.Fatalf("early inserts: %v, %v", e, err)
		}
		for i := range 3000 {
			p := person(fmt.Sprintf("p%04d", i), "P")
			e.Person(&p)
		}
		for i := range 3000 {
			role := "01"
			if i == 2000 {
				role = "09"
			}
			m := member("g", fmt.Sprintf("p%04d", i), role)
			e.Membership(&m)
		}
		_, err = e.Done()
		if err == nil || !strings.Contains(err.Error(), "memberships") {
			t.Fatalf("an early load with a row the table refuses: %v, want an error naming memberships", err)
		}
		e.Abort()
		if st := load(t, s, tenant); st.Memberships.Len() != 0 || len(st.Persons) != 0 {
			t.Fatalf("a refused early load left %d memberships, %d persons", st.Memberships.Len(), len(st.Persons))
		}
	}
	// The store still writes and reads, early and the ordinary way.
	p := &change.Plan{Tenant: tenantName("after-refused"), Mode: "snapshot"}
	p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person("p1", "P")})
	p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: member("g", "p1", "01")})
	p.Counts = change.Tally(p, change.PerType{})
	apply(t, s, p)
	if st := load(t, s, p.Tenant); st.Memberships.Len() != 1 || len(st.Persons) != 1 {
		t.Fatalf("after refused early loads, an apply left %d memberships, %d persons", st.Memberships.Len(), len(st.Persons))
	}
	e, err := ew.EarlyInserts(ctx, tenantName("early-after-refused"), 0)
	if err != nil || e == nil {
		t.Fatalf("early inserts after refused ones: %v, %v", e, err)
	}
	e.Abort()
}
