package importer_test

import (
	"bytes"
	"context"
	"reflect"
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

// TestReplannedRolloverIsThePlanOfTheStateNow: a rollover of more than one approval piece (8,192
// changes; 2,048 under the race detector) is held, then a night changes the state (pupils leave and arrive, joining courses,
// and a new course comes). Approved, the rollover is planned again from the state now, as the
// hold planned it, and what it applies is exactly hierarchy.Rollover of that state: every
// course under the old year's node archived (the night's new one too), their synced members
// manual, nothing else touched. The run's counts are that plan's and say it planned again; the
// state index agrees with the rows; undo gives back the state the night left. On both stores.
func TestReplannedRolloverIsThePlanOfTheStateNow(t *testing.T) {
	// Under the race detector a smaller tenant, with approval pieces smaller in proportion.
	persons, members, piece := 2400, 100, 8192
	if underRace {
		persons, members, piece = 1000, 25, 2048
		defer importer.SetHeldPiece(piece)()
	}
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			tn.Courses.ArchiveNode = &hierarchy.Node{Key: "imsfeed-archive", Name: "Courses archive"}
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
		})
		night := func(n int) []byte {
			var buf bytes.Buffer
			if err := feedgen.Write(&buf, feedgen.Options{Persons: persons, Groups: 220, MembersPerGroup: members, Seed: 7, Night: n}); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}
		load := func() *change.State {
			t.Helper()
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		wantStatus(t, e.imp(e.write("night1.xml", night(1))), runs.Completed)
		held, err := e.im.Rollover(ctx, e.tenant, importer.RolloverParams{To: "2027-28", By: "Kari", Reason: "new school year"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, held, runs.Held)

		// The next night: the churn of night 2, and a new course with two pupils.
		second := night(2)
		course := []byte(`<group><sourcedid><source>` + feedgen.Source + `</source><id>KNEW</id></sourcedid>` +
			`<grouptype><scheme>` + feedgen.Source + `</scheme><typevalue level="3">Course</typevalue></grouptype><description><short>New course</short></description></group>
`)
		i := bytes.Index(second, []byte("<membership>"))
		second = append(append(append([]byte{}, second[:i]...), course...), second[i:]...)
		wantStatus(t, e.imp(e.write("night2.xml", second)), runs.Completed)
		before := load()
		if g, ok := before.Groups["KNEW"]; !ok || !g.Course {
			t.Fatalf("the night's new course: %+v, %v", g, ok)
		}
		if before.Version == held.VersionBefore {
			t.Fatalf("the night left the state at version %d, the rollover's", before.Version)
		}
		want := hierarchy.Rollover(before, "school-year-2026-27", []string{"imsfeed-archive"})
		want.Counts = change.Tally(want, before.Active())
		t.Logf("%d membership changes, %d courses archived", len(want.Memberships), want.Counts.Groups.Archived)
		if len(want.Memberships) <= piece || want.Counts.Groups.Archived < 50 {
			t.Fatalf("the tenant is too small to test this: %d membership changes, counts %+v", len(want.Memberships), want.Counts)
		}
		if want.Counts == held.Counts {
			t.Fatalf("the night changed nothing the rollover does: counts %+v", want.Counts)
		}
		base := storetest.Dump(t, e.st, e.tenant.ID)

		r, err := e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "Ola", Reason: "agreed"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Counts != want.Counts {
			t.Errorf("approved rollover's counts %+v, want those of the state now %+v", r.Counts, want.Counts)
		}
		if !hasNotice(r.Attention, "rollover-replanned") {
			t.Errorf("approved rollover's attention %+v; want it to say it planned again", r.Attention)
		}
		after := load()
		checkRolledOver(t, before, after, want)
		checkIndex(t, e, "after the approval")

		if _, err := e.undo(held.ID, false); err != nil {
			t.Fatal(err)
		}
		storetest.SameState(t, "after undoing the rollover", storetest.Dump(t, e.st, e.tenant.ID), base)
		checkIndex(t, e, "after the undo")
	})
}

// checkRolledOver fails t unless after is before with exactly the rollover want applied: the
// new year current, the old year's node gone, want's courses archived under imsfeed-archive, its
// memberships turned manual or removed, and nothing else changed.
func checkRolledOver(t *testing.T, before, after *change.State, want *change.Plan) {
	t.Helper()
	if after.SchoolYear != "2027-28" {
		t.Errorf("school year after the approval %q", after.SchoolYear)
	}
	archived := map[string]bool{}
	for _, c := range want.Groups {
		archived[c.Group.Key] = c.Op == change.Archive
	}
	for k, g := range before.Groups {
		a, ok := after.Groups[k]
		switch {
		case k == "school-year-2026-27":
			if ok {
				t.Error("the old year's node stays")
			}
		case archived[k]:
			if !a.Archived || !reflect.DeepEqual(a.Parents, []string{"imsfeed-archive"}) {
				t.Errorf("course %s: archived %v under %v, want archived under imsfeed-archive", k, a.Archived, a.Parents)
			}
		case !reflect.DeepEqual(a, g):
			t.Errorf("group %s touched: %+v → %+v", k, g, a)
		}
	}
	changed := map[record.MembershipKey]change.Op{}
	for _, c := range want.Memberships {
		changed[c.Membership.MembershipKey] = c.Op
	}
	wrong := 0
	for k, m := range before.Memberships.All() {
		a, ok := after.Memberships.Get(k)
		w, kept := m, true
		switch changed[k] {
		case change.Manualize:
			w.Manual = true
		case change.Delete:
			kept = false
		}
		if ok != kept || kept && a != w {
			if wrong++; wrong <= 5 {
				t.Errorf("membership %s: %+v → %+v (kept %v), want %+v (kept %v)", k, m, a, ok, w, kept)
			}
		}
	}
	if n := after.Memberships.Len(); n != before.Memberships.Len()-want.Counts.Memberships.Deleted {
		t.Errorf("%d memberships after the approval, want %d", n, before.Memberships.Len()-want.Counts.Memberships.Deleted)
	}
}
