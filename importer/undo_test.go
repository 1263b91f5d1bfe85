package importer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// world is a small school owner whose SIS changes at random from night to night: persons come
// and go (trash, restore) and are renamed, classes come and go (deleted), courses end
// (archived, their memberships turned manual), memberships change.
type world struct {
	rng     *rand.Rand
	persons map[string]int             // present persons → name variant
	groups  map[string]int             // present groups → name variant
	members map[string]map[string]bool // group → present person members
	carers  map[string]string          // person → a present person who is their guardian
}

var (
	worldPersons = []string{"P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08", "P09", "P10", "P11", "P12", "P13", "P14"}
	worldClasses = []string{"C1", "C2", "C3", "C4"}
	worldCourses = []string{"K1", "K2", "K3", "K4", "K5"}
)

func newWorld(seed uint64) *world {
	w := &world{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), persons: map[string]int{}, groups: map[string]int{}, members: map[string]map[string]bool{}, carers: map[string]string{}}
	for _, p := range worldPersons[:10] {
		w.persons[p] = 0
	}
	for _, g := range append(slices.Clone(worldClasses[:3]), worldCourses[:4]...) {
		w.groups[g] = 0
	}
	w.night()
	return w
}

// night moves the world on by one night: never more than a third of a type goes at once (the
// safety filter holds more than half whatever the policy).
func (w *world) night() {
	r := w.rng
	gone := func(present map[string]int, pool []string, pOut, pBack float64) {
		out := 0
		for _, k := range pool {
			_, in := present[k]
			switch {
			case in && r.Float64() < pOut && out < len(present)/3:
				delete(present, k)
				out++
			case !in && r.Float64() < pBack:
				present[k] = 0
			case in && r.Float64() < 0.15:
				present[k]++ // renamed: an update
			}
		}
	}
	gone(w.persons, worldPersons, 0.12, 0.4)
	gone(w.groups, append(slices.Clone(worldClasses), worldCourses...), 0.12, 0.3)
	for _, p := range sortedKeys(w.persons) {
		c, ok := w.carers[p]
		if _, here := w.persons[c]; ok && (!here || r.Float64() < 0.05) {
			delete(w.carers, p)
		} else if !ok && r.Float64() < 0.3 {
			ps := sortedKeys(w.persons)
			if c := ps[r.IntN(len(ps))]; c != p {
				w.carers[p] = c
			}
		}
	}
	for p := range w.carers {
		if _, ok := w.persons[p]; !ok {
			delete(w.carers, p)
		}
	}
	for g := range w.groups {
		m := w.members[g]
		if m == nil {
			m = map[string]bool{}
			w.members[g] = m
		}
		for p := range m {
			if _, ok := w.persons[p]; !ok || r.Float64() < 0.1 {
				delete(m, p)
			}
		}
		for p := range w.persons {
			if len(m) < 5 && r.Float64() < 0.3 {
				m[p] = true
			}
		}
	}
}

func (w *world) xml() []byte {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<enterprise>\n<properties><datasource>sis</datasource></properties>\n")
	for _, p := range sortedKeys(w.persons) {
		carer := ""
		if c, ok := w.carers[p]; ok {
			carer = fmt.Sprintf(`<extension><pifu_hasContactPerson type="guardian"><sourcedid><source>sis</source><id>%s</id></sourcedid></pifu_hasContactPerson></extension>`, c)
		}
		fmt.Fprintf(&b, "<person><sourcedid><source>sis</source><id>%s</id></sourcedid><name><fn>Person %s v%d</fn></name><email>%s@example.org</email>%s</person>\n",
			p, p, w.persons[p], strings.ToLower(p), carer)
	}
	group := func(key, typ, name, parent string) {
		fmt.Fprintf(&b, "<group><sourcedid><source>sis</source><id>%s</id></sourcedid><grouptype><scheme>sis</scheme><typevalue level=\"1\">%s</typevalue></grouptype>"+
			"<description><short>%s</short></description><relationship relation=\"1\"><sourcedid><source>sis</source><id>%s</id></sourcedid><label>x</label></relationship></group>\n",
			key, typ, name, parent)
	}
	group("OWNER", "SchoolOwner", "The owner", "OWNER")
	group("S1", "School", "School one", "OWNER")
	for _, g := range sortedKeys(w.groups) {
		typ := "Class"
		if strings.HasPrefix(g, "K") {
			typ = "Course"
		}
		group(g, typ, fmt.Sprintf("Group %s v%d", g, w.groups[g]), "S1")
	}
	member := func(id string, idtype int, role string) {
		fmt.Fprintf(&b, "<member><sourcedid><source>sis</source><id>%s</id></sourcedid><idtype>%d</idtype><role roletype=%q><status>1</status></role></member>", id, idtype, role)
	}
	b.WriteString("<membership><sourcedid><source>sis</source><id>S1</id></sourcedid>")
	for _, g := range sortedKeys(w.groups) {
		member(g, 2, "01")
	}
	b.WriteString("</membership>\n")
	for _, g := range sortedKeys(w.groups) {
		ms := sortedKeys(w.members[g])
		if len(ms) == 0 {
			continue
		}
		fmt.Fprintf(&b, "<membership><sourcedid><source>sis</source><id>%s</id></sourcedid>", g)
		for i, p := range ms {
			role := "01"
			if i == 0 {
				role = "02"
			}
			member(p, 1, role)
		}
		b.WriteString("</membership>\n")
	}
	b.WriteString("</enterprise>\n")
	return []byte(b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (e *env) undo(id int64, cascade bool) (*runs.Run, error) {
	return e.im.Undo(context.Background(), importer.UndoRequest{RunID: id, By: "ops", Reason: "test", Cascade: cascade})
}

// TestUndoGivesBackTheStateBefore is the property: over random sequences of nightly files
// (inserts, updates, trashes, restores, archivals, group deletions, memberships turned
// manual, relations between persons), after each run, undo gives back exactly the state before it (every table and
// column but the state version), and undoing the undo gives back the state after it.
func TestUndoGivesBackTheStateBefore(t *testing.T) {
	seed := uint64(20261130)
	if s := os.Getenv("IMSFEED_UNDO_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		t.Logf("seed %d (IMSFEED_UNDO_SEED repeats it)", seed)
		e := newEnv(t, open, func(tn *config.Tenant) {
			tn.Courses.Types = []string{"Course"}
			tn.Safety.MinChanges = 1000 // a small school: only the more-than-half rule holds
			tn.Safety.WindowDays = 0
		})
		w := newWorld(seed)
		var seen [4][7]int // what the runs did, per type and count column
		undone := 0
		for night := range 25 {
			if night > 0 && w.rng.Float64() < 0.2 {
				// The platform adds a manual membership (no state version, no run).
				g := sortedKeys(w.groups)
				p := worldPersons[w.rng.IntN(len(worldPersons))]
				if len(g) > 0 {
					_ = e.st.AddManualMembership(ctx, e.tenant.ID, store.ManualMembership{Group: g[w.rng.IntN(len(g))], Member: p, Role: "03", MemberType: 1})
				}
			}
			before := storetest.Dump(t, e.st, e.tenant.ID)
			r := e.imp(e.write(fmt.Sprintf("night%02d.xml", night), w.xml()))
			w.night()
			if r.Status == runs.Held {
				// Held by the more-than-half rule: approved, so the world and the state go on
				// together (and an approved run is undone like any).
				var err error
				if r, err = e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "ops", Reason: "test"}); err != nil {
					t.Fatalf("night %d: approve: %v", night, err)
				}
			}
			if r.Status != runs.Completed || r.VersionAfter == r.VersionBefore {
				continue // nothing changed
			}
			for i, c := range []*[7]int{&seen[0], &seen[1], &seen[2], &seen[3]} {
				tc := r.Counts.Of(record.AllTypes[i])
				for j, n := range []int{tc.Before, tc.Inserted, tc.Updated, tc.Deleted, tc.Restored, tc.Archived, tc.After} {
					c[j] += n
				}
			}
			after := storetest.Dump(t, e.st, e.tenant.ID)
			u, err := e.undo(r.ID, false)
			if err != nil {
				t.Fatalf("night %d: undo run %d: %v", night, r.ID, err)
			}
			storetest.SameState(t, fmt.Sprintf("night %d: after undoing run %d", night, r.ID), storetest.Dump(t, e.st, e.tenant.ID), before)
			storetest.IndexAgrees(t, e.st, e.tenant.ID)
			if _, err := e.undo(u.ID, false); err != nil {
				t.Fatalf("night %d: undo the undo %d: %v", night, u.ID, err)
			}
			storetest.SameState(t, fmt.Sprintf("night %d: after undoing undo %d", night, u.ID), storetest.Dump(t, e.st, e.tenant.ID), after)
			storetest.IndexAgrees(t, e.st, e.tenant.ID)
			if t.Failed() {
				t.FailNow()
			}
			undone++
		}
		// The sequence did what the property is about.
		const inserted, updated, deleted, restored, archived = 1, 2, 3, 4, 5
		for _, c := range []struct {
			what string
			n    int
		}{{"runs undone", undone}, {"person updates", seen[0][updated]}, {"persons trashed", seen[0][deleted]}, {"persons restored", seen[0][restored]},
			{"courses archived", seen[1][archived]}, {"groups deleted", seen[1][deleted]}, {"memberships turned manual", seen[2][archived]},
			{"memberships inserted", seen[2][inserted]}, {"memberships deleted", seen[2][deleted]},
			{"relations inserted", seen[3][inserted]}, {"relations deleted", seen[3][deleted]}} {
			if c.n == 0 {
				t.Errorf("the random nights had no %s: the property was not exercised", c.what)
			}
		}
	})
}

// An undo is refused while a later run stands, names it, and --cascade undoes both.
func TestUndoRefusesAnOlderRunAndCascades(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Courses.Types = []string{"Course"} })
		w := newWorld(1)
		e.imp(e.write("n0.xml", w.xml()))
		base := storetest.Dump(t, e.st, e.tenant.ID)
		w.persons["P01"]++
		r1 := e.imp(e.write("n1.xml", w.xml()))
		w.persons["P02"]++
		r2 := e.imp(e.write("n2.xml", w.xml()))
		wantStatus(t, r2, runs.Completed)
		_, err := e.undo(r1.ID, false)
		if !errors.Is(err, importer.ErrNotUndoable) || !strings.Contains(err.Error(), fmt.Sprintf("run %d (completed", r2.ID)) || !strings.Contains(err.Error(), "--cascade") {
			t.Fatalf("undo of an older run: %v", err)
		}
		u, err := e.undo(r1.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(u.Undo.Runs, []int64{r2.ID, r1.ID}) || u.Mode != runs.ModeUndo || u.Status != runs.Completed || u.Counts.Persons.Updated != 2 {
			t.Errorf("cascade undo run: %+v", u)
		}
		storetest.SameState(t, "after the cascade", storetest.Dump(t, e.st, e.tenant.ID), base)
		if _, err := e.undo(r1.ID, false); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("undone already, by run %d", u.ID)) {
			t.Errorf("undo of an undone run: %v", err)
		}
		// The mail says what happened.
		if r, _ := e.st.Run(context.Background(), u.ID); r.Mail == "" {
			t.Errorf("the undo was not mailed: %+v", r)
		}
		// The same file again is imported (an undo read no file): the state after run 2 returns.
		r3 := e.imp(e.write("n2-again.xml", w.xml()))
		wantStatus(t, r3, runs.Completed)
		if r3.Counts.Persons.Updated != 2 {
			t.Errorf("the file of the undone run, imported again: %+v", r3.Counts.Persons)
		}
	})
}
