package importer_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
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

// TestInitialLoadWrittenWhileReadingIsTheOrdinaryApply: an initial load (whose memberships
// PostgreSQL writes while the file is still read, store.EarlyWriter, and whose plan then lists
// only a few of them) leaves the same rows and counts as the same plan applied the ordinary
// way (held, then approved), keeps its state index right, and undo takes it back whole. So
// does a file listing a membership as inactive that it never listed as active. A file whose
// plan drops a membership the diff already took (one naming an unknown person) rolls the
// early rows back and applies the plan as usual; one that fails (a duplicate key, or a key
// listed as active and then as inactive) changes nothing.
func TestInitialLoadWrittenWhileReadingIsTheOrdinaryApply(t *testing.T) {
	// The plan lists 100 of the memberships while the file is read, 40 once the persons and
	// groups are counted (the file has 600 and 60): the other 540 it only counts.
	defer importer.SetListHanded(700)()
	defer importer.SetEarlyMinSize(0)() // these files are small
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		held := newEnv(t, open, func(tn *config.Tenant) { tn.Safety.HoldInitialLoad = true })
		clean := held.file("clean.xml", feedgen.Options{})
		data, err := os.ReadFile(clean)
		if err != nil {
			t.Fatal(err)
		}
		unknown := held.write("unknown.xml", bytes.Replace(data, []byte("</enterprise>"), []byte(`  <membership>
    <sourcedid><source>feedgen</source><id>g-unknown</id></sourcedid>
    <member><sourcedid><source>feedgen</source><id>nobody</id></sourcedid><idtype>1</idtype>
      <role roletype="01"><status>1</status></role></member>
  </membership>
</enterprise>`), 1))
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

		for _, file := range []string{clean, unknown, gone} {
			// The ordinary way: held, then approved (an approval applies the stored plan).
			h := newEnv(t, open, func(tn *config.Tenant) { tn.Safety.HoldInitialLoad = true })
			r := h.imp(file)
			wantStatus(t, r, runs.Held)
			heldCounts := r.Counts
			if _, err := h.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "ops", Reason: "first load"}); err != nil {
				t.Fatal(err)
			}
			want := stateRows(t, h.st, h.tenant.ID)
			if len(want["memberships"]) < 500 {
				t.Fatalf("%s: the approved load has %d memberships", file, len(want["memberships"]))
			}

			e := newEnv(t, open, nil)
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
			early := strings.HasSuffix(t.Name(), "/postgres") // SQLite writes nothing while reading
			switch {
			case early && file != unknown && (plan.Early != 540 || len(plan.Memberships) != 40):
				t.Errorf("%s: the plan lists %d memberships and counts %d more written while reading, want 40 and 540", file, len(plan.Memberships), plan.Early)
			case (!early || file == unknown) && plan.Early != 0:
				t.Errorf("%s: the plan counts %d memberships written while reading", file, plan.Early)
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

		for _, file := range []string{dup, regone} {
			e := newEnv(t, open, nil)
			r := e.imp(file)
			wantStatus(t, r, runs.Failed)
			if r.Error == nil || !strings.Contains(r.Error.Message, "duplicate membership key") {
				t.Errorf("%s: error %+v, want a duplicate membership key", file, r.Error)
			}
			if rows := stateRows(t, e.st, e.tenant.ID); len(rows["persons"])+len(rows["memberships"]) != 0 {
				t.Fatalf("a failed initial load left %d persons, %d memberships", len(rows["persons"]), len(rows["memberships"]))
			}
			wantStatus(t, e.imp(clean), runs.Completed)
		}
	})
}
