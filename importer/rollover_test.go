package importer_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
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

// membershipsFirst moves every <membership> of doc before its first <group>: a file may list a
// course's memberships before the course.
func membershipsFirst(doc string) string {
	first, last := strings.Index(doc, "<membership>"), strings.LastIndex(doc, "</membership>")+len("</membership>")
	ms := doc[first:last]
	doc = doc[:first] + doc[last:]
	i := strings.Index(doc, "<group>")
	return doc[:i] + ms + "\n  " + doc[i:]
}

// TestRolloverWithPrefixedCourseKeys: with school_year.prefix_course_keys, a course is stored as
// year:key with its memberships (listed before it in the file, even); after a rollover the same
// file is the new year's courses under new keys, last year's stay archived under the archive
// node with their members kept as manual, and nothing is reported as a reappeared course or
// skipped. On both stores.
func TestRolloverWithPrefixedCourseKeys(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.Hierarchy.Unplaced = nil
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27", PrefixCourseKeys: true}
		})
		night4 := membershipsFirst(demoNight(t, "night4.xml"))
		load := func() *change.State {
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		quiet := func(r *runs.Run) {
			t.Helper()
			if len(r.Warnings) > 0 {
				t.Errorf("run %d warns: %+v", r.ID, r.Warnings)
			}
			for _, n := range r.Attention {
				if n.Kind == change.NoticeReappearedCourse {
					t.Errorf("run %d reports a reappeared course: %s", r.ID, n.Message)
				}
			}
		}
		r := e.imp(e.write("n4.xml", []byte(night4)))
		wantStatus(t, r, runs.Completed)
		quiet(r)
		first := load()
		courses := map[string]int{} // file key → memberships
		for k, g := range first.Groups {
			if !g.Course {
				continue
			}
			key, ok := hierarchy.FileKey(k, "2026-27")
			if !ok {
				t.Errorf("course stored as %q, want 2026-27:KEY", k)
			}
			courses[key] = 0
			if !reflect.DeepEqual(g.Parents, []string{g.Parents[0], "school-year-2026-27"}) {
				t.Errorf("course %s under %v", k, g.Parents)
			}
		}
		for k := range first.Memberships.All() {
			if key, ok := hierarchy.FileKey(k.Group, "2026-27"); ok {
				courses[key]++
			} else if _, course := courses[k.Group]; course {
				t.Errorf("membership %s names the course by its file key", k)
			}
		}
		if len(courses) != 5 || courses["MATH5"] == 0 {
			t.Fatalf("courses and their memberships %v, want night 4's five with members", courses)
		}

		r, err := e.im.Rollover(ctx, e.tenant, importer.RolloverParams{To: "2027-28", By: "Kari", Reason: "new school year"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Held)
		if _, err := e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "Ola", Reason: "agreed"}); err != nil {
			t.Fatal(err)
		}

		// The same file next year: new courses, new keys; last year's stay archived.
		r = e.imp(e.write("n4-next.xml", []byte(night4)))
		if r.Status == runs.Held { // a year's courses and memberships at once may trip the safety filter
			if r, err = e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "Ola", Reason: "new year's courses"}); err != nil {
				t.Fatal(err)
			}
		}
		wantStatus(t, r, runs.Completed)
		quiet(r)
		if r.Counts.Groups.Inserted != len(courses)+1 || r.Counts.Groups.Archived != 0 || r.Counts.Groups.Deleted != 0 {
			t.Errorf("next year's groups %+v, want %d inserted (the courses and the year's node), nothing archived or deleted", r.Counts.Groups, len(courses)+1)
		}
		next := load()
		for key, n := range courses {
			old, cur := next.Groups[hierarchy.CourseKey("2026-27", key)], next.Groups[hierarchy.CourseKey("2027-28", key)]
			if !old.Archived || !reflect.DeepEqual(old.Parents, []string{"imsfeed-archive"}) {
				t.Errorf("last year's %s: archived %v under %v, want archived under imsfeed-archive", key, old.Archived, old.Parents)
			}
			if cur.Archived || !contains(cur.Parents, "school-year-2027-28") {
				t.Errorf("this year's %s: archived %v under %v", key, cur.Archived, cur.Parents)
			}
			manual, synced := 0, 0
			for k, m := range next.Memberships.All() {
				switch {
				case k.Group == hierarchy.CourseKey("2026-27", key) && m.Manual:
					manual++
				case k.Group == hierarchy.CourseKey("2027-28", key) && !m.Manual:
					synced++
				}
			}
			if manual != n || synced != n {
				t.Errorf("%s: %d members kept as manual last year, %d synced this year; want %d each", key, manual, synced, n)
			}
		}
	})
}
