package importer_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// stateRows is the tenant's persons, groups, memberships and relations as Dump shows them,
// with the tenant's id taken out (so that two tenants' states compare).
func stateRows(t *testing.T, s store.Store, tenant string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, lines := range storetest.Dump(t, s, tenant) {
		switch table {
		case "persons", "groups", "memberships", "relations":
			for _, l := range lines {
				out[table] = append(out[table], strings.ReplaceAll(l, tenant, "TENANT"))
			}
		}
	}
	return out
}

// TestInitialLoadWrittenWhileReadingIsTheOrdinaryApply: an initial load (whose persons and
// memberships both stores write while the file is still read, store.EarlyWriter, and whose plan
// then lists only a few of them) leaves the same rows and counts as the same plan applied the
// ordinary way (held, then approved), keeps its state index right, and undo takes it back
// whole. So does a file listing a membership as inactive that it never listed as active. A
// file whose plan drops a record the diff already took (a membership naming an unknown person,
// or a person listed as gone after memberships of it, or a person listed only as gone whom a
// membership names) rolls the early rows back and applies the plan as usual; one that fails (a
// duplicate key, or a key listed as active and then as inactive) changes nothing and says
// where, as does a file whose XML breaks after every membership was written.
func TestInitialLoadWrittenWhileReadingIsTheOrdinaryApply(t *testing.T) {
	// The plan lists 450 of the 600 persons while the file is read and none of the
	// memberships: it only counts the other 150 persons and the memberships. Under the race
	// detector (which made this test 8 times slower) half the school: 225 of 300 persons.
	o := small(feedgen.Options{})
	if underRace {
		o.Persons, o.Groups = 300, 30
	}
	listed := o.Persons * 3 / 4
	defer importer.SetListHanded(listed)()
	defer importer.SetEarlyMinSize(0)() // these files are small
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		held := newEnv(t, open, func(tn *config.Tenant) { tn.Safety.HoldInitialLoad = true })
		var buf bytes.Buffer
		if err := feedgen.Write(&buf, o); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		clean := held.write("clean.xml", data)
		before := func(tail string) []byte {
			return bytes.Replace(data, []byte("</enterprise>"), []byte(tail+"</enterprise>"), 1)
		}
		unknown := held.write("unknown.xml", before(`  <membership>
    <sourcedid><source>feedgen</source><id>g-unknown</id></sourcedid>
    <member><sourcedid><source>feedgen</source><id>nobody</id></sourcedid><idtype>1</idtype>
      <role roletype="01"><status>1</status></role></member>
  </membership>
`))
		at := bytes.LastIndex(data, []byte("<member>"))
		end := at + bytes.Index(data[at:], []byte("</member>")) + len("</member>")
		dup := held.write("dup.xml", append(append(append([]byte{}, data[:end]...), data[at:end]...), data[end:]...))
		inactive := func(m []byte) []byte {
			return bytes.Replace(m, []byte("<status>1</status>"), []byte("<status>0</status>"), 1)
		}
		regone := held.write("regone.xml", append(append(append([]byte{}, data[:end]...), inactive(data[at:end])...), data[end:]...))
		// The first group's first member, listed as inactive in the last group.
		first := bytes.Index(data, []byte("<member>"))
		firstEnd := first + bytes.Index(data[first:], []byte("</member>")) + len("</member>")
		gone := held.write("gone.xml", append(append(append([]byte{}, data[:end]...), inactive(data[first:firstEnd])...), data[end:]...))
		// The first group's first member again, this time as a person listed as gone at the
		// end of the file (in an event file: it was added, then deleted).
		memberID := func(m []byte) string {
			id := m[bytes.Index(m, []byte("<id>"))+len("<id>"):]
			return string(id[:bytes.Index(id, []byte("</id>"))])
		}
		personGone := held.write("person-gone.xml", before(`  <person recstatus="3"><sourcedid><source>feedgen</source><id>`+memberID(data[first:firstEnd])+`</id></sourcedid></person>
`))
		// A membership of a person the file lists only as gone, after the membership.
		ghost := held.write("ghost.xml", append(append(append([]byte{}, data[:end]...),
			bytes.Replace(data[at:end], []byte(">"+memberID(data[at:end])+"<"), []byte(">ghost<"), 1)...), before(`  <person recstatus="3"><sourcedid><source>feedgen</source><id>ghost</id></sourcedid></person>
`)[end:]...))
		// The last person listed twice.
		pAt := bytes.LastIndex(data, []byte("<person>"))
		pEnd := pAt + bytes.Index(data[pAt:], []byte("</person>")) + len("</person>")
		dupPerson := held.write("dup-person.xml", append(append(append([]byte{}, data[:pEnd]...), data[pAt:pEnd]...), data[pEnd:]...))
		// The last person listed again as gone (a snapshot lists each person once).
		gonePerson := []byte(`<person recstatus="3"><sourcedid><source>feedgen</source><id>` + memberID(data[pAt:pEnd]) + `</id></sourcedid></person>`)
		regonePerson := held.write("regone-person.xml", append(append(append([]byte{}, data[:pEnd]...), gonePerson...), data[pEnd:]...))
		lineOf := func(b []byte, at int) int { return bytes.Count(b[:at], []byte("\n")) + 1 }
		// Broken XML after the last membership's member: every membership was handed over.
		broken := held.write("broken.xml", append(append(append([]byte{}, data[:end]...), "\n<member><idtype>1</member></idtype>"...), data[end:]...))

		for _, c := range []struct {
			file  string
			event bool
			early bool // written while reading, not read again
		}{{clean, false, true}, {gone, false, true}, {unknown, false, false}, {personGone, true, false}, {ghost, false, false}} {
			file := c.file
			tune := func(tn *config.Tenant) {
				if c.event {
					tn.Mode = config.ModeEvent
				}
			}
			// The ordinary way: held, then approved (an approval applies the stored plan).
			h := newEnv(t, open, func(tn *config.Tenant) { tune(tn); tn.Safety.HoldInitialLoad = true })
			r := h.imp(file)
			wantStatus(t, r, runs.Held)
			heldCounts := r.Counts
			if _, err := h.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "ops", Reason: "first load"}); err != nil {
				t.Fatal(err)
			}
			want := stateRows(t, h.st, h.tenant.ID)
			if len(want["memberships"]) < o.Persons*5/6 || len(want["persons"]) < o.Persons-10 {
				t.Fatalf("%s: the approved load has %d persons, %d memberships", file, len(want["persons"]), len(want["memberships"]))
			}

			e := newEnv(t, open, tune)
			var plan *change.Plan
			r, err := e.im.ImportFile(ctx, e.tenant, file, importer.ImportOptions{Plan: func(p *change.Plan) { plan = p }})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, r, runs.Completed)
			storetest.SameState(t, file+": the initial load", stateRows(t, e.st, e.tenant.ID), want)
			if r.Counts != heldCounts {
				t.Errorf("%s: counts %+v, the ordinary way %+v", file, r.Counts, heldCounts)
			}
			persons, members := r.Counts.Persons.Inserted, r.Counts.Memberships.Inserted
			if c.early {
				if len(plan.Persons) != listed || plan.Early[record.Persons] != persons-listed || len(plan.Memberships) != 0 || plan.Early[record.Memberships] != members {
					t.Errorf("%s: the plan lists %d persons and %d memberships and counts %v more written while reading, want %d and 0, and %d and %d",
						file, len(plan.Persons), len(plan.Memberships), plan.Early, listed, persons-listed, members)
				}
			} else if plan.Early != (change.PerType{}) {
				t.Errorf("%s: the plan counts %v written while reading", file, plan.Early)
			}
			if ic, ok := e.st.(store.IndexChecker); ok {
				rep, err := ic.CheckIndex(ctx, e.tenant.ID, false)
				if err != nil || !rep.OK() {
					t.Fatalf("%s: state index after the initial load: %+v, %v", file, rep, err)
				}
			}
			if _, err := e.undo(r.ID, false); err != nil {
				t.Fatal(err)
			}
			if rows := stateRows(t, e.st, e.tenant.ID); len(rows["persons"])+len(rows["memberships"]) != 0 {
				t.Fatalf("%s: after undoing the initial load: %d persons, %d memberships", file, len(rows["persons"]), len(rows["memberships"]))
			}
			// The tenant is free again: a later run is not kept waiting by a leftover transaction.
			wantStatus(t, e.imp(clean), runs.Completed)
		}

		for _, c := range []struct {
			file, problem string
			line          int // where the file lists the key again
		}{
			{dup, "duplicate membership key", 0},
			{regone, "duplicate membership key", 0},
			{dupPerson, "duplicate person key", lineOf(data, pEnd)},
			{regonePerson, "duplicate person key", lineOf(data, pEnd)},
			{broken, "idtype", lineOf(data, end) + 1},
		} {
			e := newEnv(t, open, nil)
			r := e.imp(c.file)
			wantStatus(t, r, runs.Failed)
			if r.Error == nil || !strings.Contains(r.Error.Message, c.problem) || c.line > 0 && r.Error.Line != c.line {
				t.Errorf("%s: error %+v, want a %s at line %d", c.file, r.Error, c.problem, c.line)
			}
			if rows := stateRows(t, e.st, e.tenant.ID); len(rows["persons"])+len(rows["memberships"]) != 0 {
				t.Fatalf("a failed initial load left %d persons, %d memberships", len(rows["persons"]), len(rows["memberships"]))
			}
			wantStatus(t, e.imp(clean), runs.Completed)
		}
	})
}

// TestInitialLoadsAtOnce: two tenants' initial loads, both written while their files are read,
// at once in one process on one store. On SQLite the early writing holds the database's one
// writer, so each run's other writes (its run record, the other's apply) wait for it: both
// complete, each with its whole state and a state index that agrees with it.
func TestInitialLoadsAtOnce(t *testing.T) {
	defer importer.SetListHanded(0)()   // the plans list none: Early counts them all
	defer importer.SetEarlyMinSize(0)() // these files are small
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		second := *e.tenant
		second.ID += "-2"
		e.cfg.Tenants = append(e.cfg.Tenants, second)
		im := importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mailer.New(nil, e.cfg.Outbox, nil)})
		file := e.file("night.xml", feedgen.Options{})
		var wg sync.WaitGroup
		got := make([]*runs.Run, 2)
		plans := make([]*change.Plan, 2)
		errs := make([]error, 2)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = im.ImportFile(ctx, &e.cfg.Tenants[i], file, importer.ImportOptions{Plan: func(p *change.Plan) { plans[i] = p }})
			}()
		}
		wg.Wait()
		var want map[string][]string
		for i, tn := range e.cfg.Tenants {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			wantStatus(t, got[i], runs.Completed)
			if c := got[i].Counts; c.Persons.Inserted != 600 || c.Memberships.Inserted == 0 || plans[i].Early[record.Memberships] != c.Memberships.Inserted {
				t.Errorf("tenant %s: counts %+v, written while reading %v", tn.ID, c, plans[i].Early)
			}
			rows := stateRows(t, e.st, tn.ID)
			if want == nil {
				want = rows
			} else {
				storetest.SameState(t, "the second tenant's load", rows, want)
			}
			rep, err := e.st.(store.IndexChecker).CheckIndex(ctx, tn.ID, false)
			if err != nil || !rep.OK() {
				t.Errorf("tenant %s: state index %+v, %v", tn.ID, rep, err)
			}
		}
	})
}
