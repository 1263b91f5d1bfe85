package importer_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

func withNewCourse(doc, key string) string {
	g := `<group>
    <sourcedid><source>northside-sis</source><id>` + key + `</id></sourcedid>
    <grouptype><scheme>northside-sis</scheme><typevalue level="3">Course</typevalue></grouptype>
    <description><short>Mathematics 6</short></description>
    <relationship relation="1"><sourcedid><source>northside-sis</source><id>NS-ELM</id></sourcedid></relationship>
  </group>
  `
	i := strings.Index(doc, "<membership>")
	return doc[:i] + g + doc[i:]
}

// TestSchoolYearRollover: courses sit under the current year's node; `rollover` holds one
// change set archiving every one of them under the archive node with its members kept as
// manual, and touches nothing else; approved, the new year is current and the next night's
// new courses go under its node. On both stores.
func TestSchoolYearRollover(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.Hierarchy.Unplaced = nil
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
		})
		night4 := demoNight(t, "night4.xml")
		wantStatus(t, e.imp(e.write("n4.xml", []byte(night4))), runs.Completed)
		load := func() *change.State {
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		before := load()
		var courses []string
		for k, g := range before.Groups {
			if g.Course {
				courses = append(courses, k)
				if !contains(g.Parents, "school-year-2026-27") || len(g.Parents) != 2 {
					t.Errorf("course %s is under %v, want its school and school-year-2026-27", k, g.Parents)
				}
			}
		}
		if len(courses) == 0 {
			t.Fatal("night 4 has no courses")
		}

		r, err := e.im.Rollover(ctx, e.tenant, importer.RolloverParams{To: "2027-28", By: "Kari", Reason: "new school year"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Held)
		if r.Counts.Groups.Archived != len(courses) || r.Counts.Groups.Deleted != 1 {
			t.Errorf("rollover counts %+v; want %d courses archived and the year node deleted", r.Counts.Groups, len(courses))
		}
		msg, err := mailer.Render(mailer.Message{Run: r, Tenant: mailer.Tenant{ID: e.tenant.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if want := "[imsfeed] " + e.tenant.ID + ": school-year rollover 2026-27 → 2027-28 HELD — approval needed (" + itoa(len(courses)) + " courses to archive)"; msg.Subject != want {
			t.Errorf("subject %q, want %q", msg.Subject, want)
		}
		if !load().Equal(before) {
			t.Fatal("a held rollover changed the state")
		}

		if _, err := e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "Ola", Reason: "agreed"}); err != nil {
			t.Fatal(err)
		}
		after := load()
		if after.SchoolYear != "2027-28" {
			t.Errorf("school year after the rollover %q", after.SchoolYear)
		}
		for k, g := range before.Groups {
			a, ok := after.Groups[k]
			switch {
			case k == "school-year-2026-27":
				if ok {
					t.Error("the old year's node stays")
				}
			case g.Course:
				if !a.Archived || !reflect.DeepEqual(a.Parents, []string{"imsfeed-archive"}) {
					t.Errorf("course %s: archived %v under %v, want archived under imsfeed-archive", k, a.Archived, a.Parents)
				}
			case !reflect.DeepEqual(a, g):
				t.Errorf("group %s touched: %+v → %+v", k, g, a)
			}
		}
		if !reflect.DeepEqual(after.Persons, before.Persons) {
			t.Error("persons touched")
		}
		for k, m := range before.Memberships.All() {
			a, ok := after.Memberships.Get(k)
			want := m
			if before.Groups[k.Group].Course {
				want.Manual = true // kept, as manual
			}
			if !ok || a != want {
				t.Errorf("membership %s: %+v → %+v (kept %v), want %+v", k, m, a, ok, want)
			}
		}

		// The next night: a new course goes under the new year's node; the old ones stay archived.
		r = e.imp(e.write("n-next.xml", []byte(withNewCourse(night4, "MATH6"))))
		wantStatus(t, r, runs.Completed)
		next := load()
		if p := next.Groups["MATH6"].Parents; !reflect.DeepEqual(p, []string{"NS-ELM", "school-year-2027-28"}) {
			t.Errorf("new course MATH6 under %v", p)
		}
		for _, k := range courses {
			if !next.Groups[k].Archived {
				t.Errorf("old course %s active again", k)
			}
		}
	})
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	if s == "" {
		s = "0"
	}
	return s
}

// TestHeldRolloverOutlivesANight: nights go on while a rollover waits for its approval. A night
// does not supersede the held rollover, and the approval archives what is under the old year's
// node then, the course the night added too, saying it planned again. On both stores.
func TestHeldRolloverOutlivesANight(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.Hierarchy.Unplaced = nil
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
		})
		night4 := demoNight(t, "night4.xml")
		wantStatus(t, e.imp(e.write("n4.xml", []byte(night4))), runs.Completed)
		held, err := e.im.Rollover(ctx, e.tenant, importer.RolloverParams{To: "2027-28", By: "Kari", Reason: "new school year"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, held, runs.Held)

		night := e.imp(e.write("n5.xml", []byte(withNewCourse(night4, "MATH6"))))
		wantStatus(t, night, runs.Completed)
		if r, err := e.st.Run(ctx, held.ID); err != nil || r.Status != runs.Held {
			t.Fatalf("the held rollover after a night: %v, %v; want still held", r, err)
		}

		r, err := e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "Ola", Reason: "agreed"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Counts.Groups.Archived != held.Counts.Groups.Archived+1 {
			t.Errorf("approved rollover archived %d courses; want the %d held plus the night's new one", r.Counts.Groups.Archived, held.Counts.Groups.Archived)
		}
		if !hasNotice(r.Attention, "rollover-replanned") {
			t.Errorf("approved rollover's attention %+v; want it to say it planned again", r.Attention)
		}
		st, err := e.st.LoadState(ctx, e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.SchoolYear != "2027-28" || !st.Groups["MATH6"].Archived {
			t.Errorf("after approval: year %q, MATH6 %+v; want 2027-28 and MATH6 archived", st.SchoolYear, st.Groups["MATH6"])
		}
	})
}

func hasNotice(ns []change.Notice, kind string) bool {
	for _, n := range ns {
		if n.Kind == kind {
			return true
		}
	}
	return false
}

// TestUndoRolloverGivesBackTheOldSchoolYearAndItsCourses: `imsfeed undo` of an approved
// rollover makes the old year current again, with its node and its courses active under it and
// their members synced; the next night places new courses under the old year's node. On both
// stores.
func TestUndoRolloverGivesBackTheOldSchoolYearAndItsCourses(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.Hierarchy.Unplaced = nil
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
		})
		night4 := demoNight(t, "night4.xml")
		wantStatus(t, e.imp(e.write("n4.xml", []byte(night4))), runs.Completed)
		load := func() *change.State {
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		before := load()
		r, err := e.im.Rollover(ctx, e.tenant, importer.RolloverParams{To: "2027-28", By: "Kari", Reason: "new school year"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "Ola", Reason: "agreed"}); err != nil {
			t.Fatal(err)
		}
		if y := load().SchoolYear; y != "2027-28" {
			t.Fatalf("school year after the rollover %q", y)
		}
		if _, err := e.undo(r.ID, false); err != nil {
			t.Fatal(err)
		}
		after := load()
		if after.SchoolYear != before.SchoolYear {
			t.Errorf("school year after undoing the rollover %q, want %q (the config's 2026-27)", after.SchoolYear, before.SchoolYear)
		}
		after.Version = before.Version
		if !after.Equal(before) {
			for k, g := range before.Groups {
				if a := after.Groups[k]; !reflect.DeepEqual(a, g) {
					t.Errorf("group %s after the undo: %+v, want %+v", k, a, g)
				}
			}
			t.Error("the undo did not give back the state before the rollover")
		}
		r = e.imp(e.write("n-next.xml", []byte(withNewCourse(night4, "MATH6"))))
		wantStatus(t, r, runs.Completed)
		if p := load().Groups["MATH6"].Parents; !reflect.DeepEqual(p, []string{"NS-ELM", "school-year-2026-27"}) {
			t.Errorf("new course MATH6 under %v after the undo, want NS-ELM and the old year's node", p)
		}
		if r.Counts.Groups.Inserted != 1 || r.Counts.Groups.Updated != 0 || r.Counts.Groups.Archived != 0 {
			t.Errorf("the night after the undo: groups %+v; want MATH6 inserted and nothing else", r.Counts.Groups)
		}
	})
}
