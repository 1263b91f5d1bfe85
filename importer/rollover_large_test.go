package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// TestLargeRolloverIsThePlanOfTheWholeState: a rollover whose changes are more than one part of
// a held plan (about 1 MB) and more than one piece of an approval (8,192 changes; both smaller
// under the race detector) holds, byte for
// byte, the plan made from the tenant's whole state (hierarchy.Rollover: every course under the
// old year's node archived, its synced members kept as manual, a manual member left as it is);
// its page lists every change, each naming its group and member as the state does; approved, exactly those courses are archived and those
// memberships manual, the state index agrees with the rows, and undo gives back every row. On
// both stores.
func TestLargeRolloverIsThePlanOfTheWholeState(t *testing.T) {
	// Under the race detector (several times slower: 64 s) a smaller tenant, with held plan parts
	// and approval pieces smaller in proportion: still more than one of each.
	persons, groups, members, part, piece := 4000, 300, 100, 1<<20, 8192
	if underRace {
		persons, groups, members, part, piece = 1000, 210, 25, 64<<10, 2048
		defer importer.SetPlanPiece(part)()
		defer importer.SetHeldPiece(piece)()
	}
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			tn.Courses.ArchiveNode = &hierarchy.Node{Key: "imsfeed-archive", Name: "Courses archive"}
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
		})
		var buf bytes.Buffer
		if err := feedgen.Write(&buf, feedgen.Options{Persons: persons, Groups: groups, MembersPerGroup: members, Seed: 11}); err != nil {
			t.Fatal(err)
		}
		// Two courses (K…) and a class (C…) are members of a school: the rollover takes the
		// courses out of it.
		member := func(key string) string {
			return "<member><sourcedid><source>" + feedgen.Source + "</source><id>" + key + "</id></sourcedid><idtype>2</idtype><role roletype=\"01\"><status>1</status></role></member>"
		}
		doc := bytes.Replace(buf.Bytes(), []byte("</enterprise>"), []byte("<membership><sourcedid><source>"+feedgen.Source+"</source><id>S0001</id></sourcedid>"+
			member("K000002")+member("K000004")+member("C000001")+"</membership>\n</enterprise>"), 1)
		wantStatus(t, e.imp(e.write("night.xml", doc)), runs.Completed)
		load := func() *change.State {
			t.Helper()
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		// A member the platform added to a course: the rollover leaves it as it is.
		var course, person string
		for k, g := range load().Groups {
			if g.Course && (course == "" || k < course) {
				course = k
			}
		}
		for k := range load().Persons {
			if person == "" || k < person {
				person = k
			}
		}
		if err := e.st.AddManualMembership(ctx, e.tenant.ID, store.ManualMembership{Group: course, Member: person, Role: "04", MemberType: int(record.MemberPerson)}); err != nil {
			t.Fatal(err)
		}

		before := load()
		want := hierarchy.Rollover(before, "school-year-2026-27", []string{"imsfeed-archive"})
		want.Mode, want.SchoolYear = importer.ModeRollover, "2027-28"
		want.Counts = change.Tally(want, before.Active())
		wantBytes, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d membership changes, %d bytes, %d courses archived", len(want.Memberships), len(wantBytes), want.Counts.Groups.Archived)
		if len(want.Memberships) <= piece || len(wantBytes) <= part || want.Counts.Groups.Archived < 100 || want.Counts.Memberships.Deleted == 0 {
			t.Fatalf("the tenant is too small to test this: %d membership changes, %d bytes, counts %+v", len(want.Memberships), len(wantBytes), want.Counts)
		}
		base := storetest.Dump(t, e.st, e.tenant.ID)

		r, err := e.im.Rollover(ctx, e.tenant, importer.RolloverParams{To: "2027-28", By: "Kari", Reason: "new school year"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Held)
		if r.Counts != want.Counts {
			t.Errorf("held rollover's counts %+v, want %+v", r.Counts, want.Counts)
		}
		got, err := e.im.PlanBytes(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantBytes) {
			i := 0
			for i < len(got) && i < len(wantBytes) && got[i] == wantBytes[i] {
				i++
			}
			t.Fatalf("held plan (%d bytes) is not the whole state's (%d bytes): they differ from byte %d: %.200q against %.200q",
				len(got), len(wantBytes), i, got[i:], wantBytes[i:])
		}
		page, err := e.st.HeldChanges(ctx, r.ID, store.HeldQuery{AllTypes: true, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(want.Groups) + len(want.Memberships); page.All != n {
			t.Errorf("the hold's page lists %d changes, want %d", page.All, n)
		}
		// Its rows name each change's group and member as the state does: the names of nearly
		// every person, from the state the hold loaded (its persons an index).
		rows, wrong, named := 0, 0, map[string]bool{}
		for offset := 0; ; offset += 5000 {
			page, err := e.st.HeldChanges(ctx, r.ID, store.HeldQuery{Type: record.Memberships, Offset: offset, Limit: 5000})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Changes {
				member := before.Persons[c.Member].Name
				if g, ok := before.Groups[c.Member]; ok {
					member = g.Name
				}
				if c.Name != before.Groups[c.Key].Name || c.MemberName != member || member == "" {
					if wrong++; wrong <= 5 {
						t.Errorf("the page's membership %s/%s: %q, %q; want %q, %q", c.Key, c.Member, c.Name, c.MemberName, before.Groups[c.Key].Name, member)
					}
				}
				named[c.Member] = true
			}
			if rows += len(page.Changes); len(page.Changes) < 5000 {
				break
			}
		}
		if rows != len(want.Memberships) || len(named) < len(before.Persons)/4 {
			t.Errorf("the page's %d membership rows name %d members; want %d rows naming more than a quarter of the %d persons", rows, len(named), len(want.Memberships), len(before.Persons))
		}

		if _, err := e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "Ola", Reason: "agreed"}); err != nil {
			t.Fatal(err)
		}
		checkRolledOver(t, before, load(), want)
		checkIndex(t, e, "after the approval")

		if _, err := e.undo(r.ID, false); err != nil {
			t.Fatal(err)
		}
		storetest.SameState(t, "after undoing the rollover", storetest.Dump(t, e.st, e.tenant.ID), base)
		checkIndex(t, e, "after the undo")
	})
}

// checkIndex fails t unless the tenant's state index is current and agrees with its rows.
func checkIndex(t *testing.T, e *env, when string) {
	t.Helper()
	c, ok := e.st.(store.IndexChecker)
	if !ok {
		t.Fatalf("%T has no state index to check", e.st)
	}
	r, err := c.CheckIndex(context.Background(), e.tenant.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Errorf("state index %s: %+v", when, r)
	}
}
