package importer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// pifuFile is a PIFU-IMS file (the profile's default namespace) of the given pupils and
// guardians; carers maps a pupil to "type:KEY" entries of their pifu_hasContactPerson.
func pifuFile(pupils, guardians []string, carers map[string][]string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<enterprise xmlns="http://pifu.no/xsd/pifu-ims_sas/pifu-ims_sas-1.1">
<properties><datasource>sis@owner.example</datasource></properties>
`)
	for _, k := range append(append([]string{}, pupils...), guardians...) {
		fmt.Fprintf(&b, "<person><sourcedid><source>sis@owner.example</source><id>%s</id></sourcedid><name><fn>Name of %s</fn></name>", k, k)
		if cs := carers[k]; len(cs) > 0 {
			b.WriteString("<extension>")
			for _, c := range cs {
				typ, key, _ := strings.Cut(c, ":")
				fmt.Fprintf(&b, `<pifu_hasContactPerson type="%s"><sourcedid><source>sis@owner.example</source><id>%s</id></sourcedid></pifu_hasContactPerson>`, typ, key)
			}
			b.WriteString("</extension>")
		}
		b.WriteString("</person>\n")
	}
	b.WriteString("<group><sourcedid><id>SCH</id></sourcedid><grouptype><typevalue level=\"1\">School</typevalue></grouptype><description><short>School</short></description></group>\n")
	b.WriteString("<membership><sourcedid><id>SCH</id></sourcedid>")
	for _, k := range pupils {
		fmt.Fprintf(&b, "<member><sourcedid><id>%s</id></sourcedid><idtype>1</idtype><role roletype=\"01\"><status>1</status></role></member>", k)
	}
	b.WriteString("</membership>\n</enterprise>\n")
	return []byte(b.String())
}

func relationKeys(t *testing.T, st store.Store, tenant string) string {
	t.Helper()
	rs, err := st.ListRelations(context.Background(), tenant, store.ListRelationsParams{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.Person+"/"+r.Related+"/"+r.Type)
	}
	return strings.Join(out, " ")
}

func relationCounts(c change.TypeCounts) string {
	return fmt.Sprintf("before=%d ins=%d del=%d after=%d", c.Before, c.Inserted, c.Deleted, c.After)
}

// TestRelationsNightAfterNight: pupils with guardians are imported from the PIFU-IMS extension;
// a guardian removed from a pupil's record is removed the next night; a pupil who leaves the
// file goes to the trash can with their relations, and they come back with the pupil. A
// relation naming a person nobody knows is skipped with a warning. On both stores.
func TestRelationsNightAfterNight(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		// A school this small trips the rolling window (3 of 5 relations removed in 7 days);
		// TestRelationsAreGuarded covers the filter.
		e := newEnv(t, open, func(t *config.Tenant) { t.Safety.WindowDays = 0 })
		pupils, guardians := []string{"P1", "P2", "P3"}, []string{"G1", "G2", "G3"}
		carers := map[string][]string{
			"P1": {"guardian:G1", "guardian:G2"},
			"P2": {"guardian:G1", "nextOfKin:G3"},
			"P3": {"guardian:G3", "guardian:NOBODY"},
		}
		night := func(name string, pupils []string, carers map[string][]string, want string, counts string) *runs.Run {
			t.Helper()
			r := e.imp(e.write(name, pifuFile(pupils, guardians, carers)))
			if r.Status != runs.Completed {
				t.Fatalf("%s: %s (%v, %+v)", name, r.Status, r.Error, r.Verdict)
			}
			if got := relationKeys(t, e.st, e.tenant.ID); got != want {
				t.Errorf("%s: relations %s, want %s", name, got, want)
			}
			if got := relationCounts(r.Counts.Relations); got != counts {
				t.Errorf("%s: relation counts %s, want %s", name, got, counts)
			}
			return r
		}

		r := night("1.xml", pupils, carers, "P1/G1/guardian P1/G2/guardian P2/G1/guardian P2/G3/nextOfKin P3/G3/guardian",
			"before=0 ins=5 del=0 after=5")
		warned := false
		for _, w := range r.Warnings {
			warned = warned || (w.Key == "P3/NOBODY/guardian" && strings.Contains(w.Message, `related person "NOBODY" is unknown to both the file and the store`))
		}
		if !warned {
			t.Errorf("no warning for the unknown related person: %+v", r.Warnings)
		}
		if s := e.status(); s.Relations.Active != 5 {
			t.Errorf("status relations %+v, want 5 active", s.Relations)
		}

		// The next file no longer names G2 as P1's guardian.
		carers["P1"] = []string{"guardian:G1"}
		night("2.xml", pupils, carers, "P1/G1/guardian P2/G1/guardian P2/G3/nextOfKin P3/G3/guardian", "before=5 ins=0 del=1 after=4")

		// P2 leaves the file: to the trash can, their relations removed.
		r = night("3.xml", []string{"P1", "P3"}, carers, "P1/G1/guardian P3/G3/guardian", "before=4 ins=0 del=2 after=2")
		if r.Counts.Persons.Deleted != 1 {
			t.Errorf("persons deleted %d, want P2 trashed", r.Counts.Persons.Deleted)
		}

		// P2 is back: restored, with their relations.
		r = night("4.xml", pupils, carers, "P1/G1/guardian P2/G1/guardian P2/G3/nextOfKin P3/G3/guardian", "before=2 ins=2 del=0 after=4")
		if r.Counts.Persons.Restored != 1 {
			t.Errorf("persons restored %d, want P2 back", r.Counts.Persons.Restored)
		}
	})
}

// TestRelationsAreGuarded: a file that drops most relations is held like one that drops most
// memberships, and the verdict names the relations limit.
func TestRelationsAreGuarded(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		var pupils []string
		carers := map[string][]string{}
		for i := range 40 {
			p := fmt.Sprintf("P%02d", i)
			pupils = append(pupils, p)
			carers[p] = []string{"guardian:G1"}
		}
		guardians := []string{"G1"}
		if r := e.imp(e.write("1.xml", pifuFile(pupils, guardians, carers))); r.Status != runs.Completed || r.Counts.Relations.Inserted != 40 {
			t.Fatalf("initial load: %s, %+v", r.Status, r.Counts.Relations)
		}
		r := e.imp(e.write("2.xml", pifuFile(pupils, guardians, nil)))
		if r.Status != runs.Held || len(r.Verdict.Tripped) == 0 || r.Verdict.Tripped[0].Type != "relations" || r.Verdict.Tripped[0].Count != 40 {
			t.Fatalf("a file without relations: %s, %+v; want held on relations deletes", r.Status, r.Verdict)
		}
		if s := e.status(); s.Relations.Active != 40 {
			t.Errorf("a held run changed the relations: %+v", s.Relations)
		}
	})
}
