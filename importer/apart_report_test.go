package importer

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
)

// TestReportOfAPlanWithItsRemovalsApartMailsAsTheWholePlan: a plan with more changes than the
// status mail's CSV lists (mailer.MaxCSVRows), its membership removals apart, gives as its
// report the names and the mail (subject, text, HTML, CSV) that the whole plan gives.
func TestReportOfAPlanWithItsRemovalsApartMailsAsTheWholePlan(t *testing.T) {
	const persons, groups = 3000, 60 // every person in every group: 180,000 memberships
	st := func() *change.State {
		st := change.NewState("north")
		ms := map[record.MembershipKey]change.MembershipState{}
		for p := range persons {
			key := fmt.Sprintf("P%05d", p)
			st.Persons[key] = change.PersonState{Hash: record.Hash{1}, Name: "Person " + key}
			for g := range groups {
				ms[record.MembershipKey{Group: fmt.Sprintf("G%02d", g), Member: key, Role: "01"}] = change.MembershipState{Hash: record.Hash{1}, MemberType: record.MemberPerson}
			}
		}
		for g := range groups {
			key := fmt.Sprintf("G%02d", g)
			st.Groups[key] = change.GroupState{Hash: record.Hash{1}, Name: "Group " + key}
		}
		st.Memberships = change.MembershipsOf(ms)
		return st
	}
	// Tonight's file lists half the persons (a tenth of them renamed), every group, and each
	// person's memberships of a third of the groups.
	plan := func(st *change.State) (*change.Plan, *diff.Removed) {
		d := diff.New(st, diff.Options{Courses: archive.DefaultCoursePolicy()})
		for p := 0; p < persons; p += 2 {
			key := fmt.Sprintf("P%05d", p)
			r := &record.Person{Key: key, Name: "Person " + key}
			if p%20 == 0 {
				r.Name += " renamed"
			}
			r.ComputeHash()
			if err := d.Person(r); err != nil {
				t.Fatal(err)
			}
		}
		for g := range groups {
			r := &record.Group{Key: fmt.Sprintf("G%02d", g), Name: fmt.Sprintf("Group G%02d", g)}
			r.ComputeHash()
			if err := d.Group(r); err != nil {
				t.Fatal(err)
			}
		}
		for g := 0; g < groups; g += 3 {
			for p := 0; p < persons; p += 2 {
				m := &record.Membership{MembershipKey: record.MembershipKey{Group: fmt.Sprintf("G%02d", g), Member: fmt.Sprintf("P%05d", p), Role: "01"}, MemberType: record.MemberPerson}
				m.ComputeHash()
				if err := d.Membership(m); err != nil {
					t.Fatal(err)
				}
			}
		}
		p, removed, _, err := d.FinishApart(diff.Finish{Mode: diff.Snapshot})
		if err != nil {
			t.Fatal(err)
		}
		return p, removed
	}
	wholeState, whole, apartState, p, removed := wholeAndApart(t, st, plan)
	if removed.Len() <= mailer.MaxCSVRows || len(p.Memberships) == 0 {
		t.Fatalf("%d removals apart, %d membership changes listed: want more removals than the mail lists, and listed ones", removed.Len(), len(p.Memberships))
	}
	report, err := (&planned{plan: p, removed: removed}).report()
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Memberships) >= len(whole.Memberships) {
		t.Fatalf("the report lists %d memberships of %d: want it cut", len(report.Memberships), len(whole.Memberships))
	}

	names, wantNames := change.NamesFor(report, apartState, mailer.MaxCSVRows), change.NamesFor(whole, wholeState, mailer.MaxCSVRows)
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("the report's names: %d persons, %d groups; the whole plan's: %d, %d", len(names.Persons), len(names.Groups), len(wantNames.Persons), len(wantNames.Groups))
	}
	report.Names, whole.Names = names, wantNames
	sameMail(t, runs.Held, report, whole)
}

// TestReportOfAPlanWithItsPersonsApartMailsAsTheWholePlan: a plan that puts more persons in the
// trash can than the status mail's CSV lists, kept apart, gives as its report the names, the
// mail (subject, text, HTML, CSV), the persons whose stored names are read and the breakdown
// of removals that the whole plan gives.
func TestReportOfAPlanWithItsPersonsApartMailsAsTheWholePlan(t *testing.T) {
	persons := mailer.MaxCSVRows + 20000
	st := func() *change.State {
		st := change.NewState("north")
		ms := map[record.MembershipKey]change.MembershipState{}
		for p := range persons {
			key := fmt.Sprintf("P%06d", p)
			name := "Person " + key
			if p%7 == 0 {
				name = "" // a person stored without a name
			}
			st.Persons[key] = change.PersonState{Hash: record.Hash{1}, Name: name}
			g := fmt.Sprintf("G%02d", p%10)
			ms[record.MembershipKey{Group: g, Member: key, Role: "01"}] = change.MembershipState{Hash: record.Hash{1}, MemberType: record.MemberPerson}
		}
		for g := range 10 {
			key := fmt.Sprintf("G%02d", g)
			st.Groups[key] = change.GroupState{Hash: record.Hash{1}, Name: "Group " + key}
		}
		st.Memberships = change.MembershipsOf(ms)
		return st
	}
	// Tonight's file lists every 40th person (a tenth of them renamed), every group, and the
	// persons' memberships: the others go to the trash can, their memberships with them.
	plan := func(st *change.State) (*change.Plan, *diff.Removed) {
		d := diff.New(st, diff.Options{Courses: archive.DefaultCoursePolicy()})
		for p := 0; p < persons; p += 40 {
			key := fmt.Sprintf("P%06d", p)
			r := &record.Person{Key: key, Name: "Person " + key}
			if p%400 == 0 {
				r.Name += " renamed"
			}
			r.ComputeHash()
			if err := d.Person(r); err != nil {
				t.Fatal(err)
			}
		}
		for g := range 10 {
			r := &record.Group{Key: fmt.Sprintf("G%02d", g), Name: fmt.Sprintf("Group G%02d", g)}
			r.ComputeHash()
			if err := d.Group(r); err != nil {
				t.Fatal(err)
			}
		}
		for p := 0; p < persons; p += 40 {
			m := &record.Membership{MembershipKey: record.MembershipKey{Group: fmt.Sprintf("G%02d", p%10), Member: fmt.Sprintf("P%06d", p), Role: "01"}, MemberType: record.MemberPerson}
			m.ComputeHash()
			if err := d.Membership(m); err != nil {
				t.Fatal(err)
			}
		}
		p, removed, _, err := d.FinishApart(diff.Finish{Mode: diff.Snapshot})
		if err != nil {
			t.Fatal(err)
		}
		return p, removed
	}
	wholeState, whole, apartState, p, removed := wholeAndApart(t, st, plan)
	if removed.Persons() <= mailer.MaxCSVRows || len(p.Persons) == 0 || len(p.Persons)+removed.Persons() != len(whole.Persons) || p.Counts != whole.Counts {
		t.Fatalf("%d persons apart, %d listed, %d in the whole plan, counts %+v (whole: %+v): want more apart than the mail lists, listed ones, and the whole plan's counts",
			removed.Persons(), len(p.Persons), len(whole.Persons), p.Counts.Persons, whole.Counts.Persons)
	}
	x := &planned{plan: p, removed: removed}
	keys, err := x.personKeys()
	if err != nil {
		t.Fatal(err)
	}
	if want, err := (&planned{plan: whole}).personKeys(); err != nil || !reflect.DeepEqual(keys, want) {
		t.Errorf("the persons whose stored names are read: %d; the whole plan's: %d (%v)", len(keys), len(want), err)
	}
	var failed error
	if got, want := archive.RemovalsOf(p, x.each(&failed), x.trashedApart, apartState), archive.Removals(whole, wholeState); failed != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("the breakdown of removals: %v; the whole plan's: %v (%v)", got, want, failed)
	}
	report, err := x.report()
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Persons) >= len(whole.Persons) {
		t.Fatalf("the report lists %d persons of %d: want it cut", len(report.Persons), len(whole.Persons))
	}

	// The stored names of the persons the plan trashes are not read (personKeys): theirs come
	// from the plan, those the report does not list from apart.
	unread := change.NewState("north")
	unread.Groups = apartState.Groups
	for k := range apartState.Persons {
		unread.Persons[k] = change.PersonState{}
	}
	names, wantNames := change.NamesForApart(p, x.each(&failed), x.trashed, unread, mailer.MaxCSVRows), change.NamesFor(whole, unread, mailer.MaxCSVRows)
	inReport := map[string]bool{}
	for _, c := range report.Persons {
		inReport[c.Person.Key] = true
	}
	notInReport := 0
	for k := range names.Persons {
		if !inReport[k] {
			notInReport++
		}
	}
	if !reflect.DeepEqual(names, wantNames) || notInReport == 0 {
		t.Errorf("the report's names, the stored ones not read: %d persons (%d not in its list), %d groups; the whole plan's: %d, %d",
			len(names.Persons), notInReport, len(names.Groups), len(wantNames.Persons), len(wantNames.Groups))
	}
	names, wantNames = change.NamesForApart(p, x.each(&failed), x.trashed, apartState, mailer.MaxCSVRows), change.NamesFor(whole, wholeState, mailer.MaxCSVRows)
	if !reflect.DeepEqual(names, wantNames) || len(names.Persons) == 0 || failed != nil {
		t.Errorf("the report's names: %d persons, %d groups; the whole plan's: %d, %d", len(names.Persons), len(names.Groups), len(wantNames.Persons), len(wantNames.Groups))
	}
	report.Names, whole.Names = names, wantNames
	sameMail(t, runs.Completed, report, whole)
}

// wholeAndApart makes the plan twice, each from a state of its own: whole, with its removals
// listed (what Finish makes), and p with them apart.
func wholeAndApart(t *testing.T, st func() *change.State, plan func(*change.State) (*change.Plan, *diff.Removed)) (wholeState *change.State, whole *change.Plan, apartState *change.State, p *change.Plan, removed *diff.Removed) {
	t.Helper()
	wholeState = st()
	whole, all := plan(wholeState)
	if err := all.AppendTo(whole); err != nil {
		t.Fatal(err)
	}
	apartState = st()
	p, removed = plan(apartState)
	return wholeState, whole, apartState, p, removed
}

// sameMail fails the test unless a run of that status mails report as it mails the whole plan
// (subject, text, HTML, CSV), and the CSV is full (mailer.MaxCSVRows changes).
func sameMail(t *testing.T, status runs.Status, report, whole *change.Plan) {
	t.Helper()
	run := &runs.Run{ID: 7, Tenant: "north", Status: status, Mode: "snapshot", Counts: whole.Counts, StartedAt: time.Date(2026, 8, 14, 2, 0, 0, 0, time.UTC)}
	got, err := mailer.Render(mailer.Message{Run: run, Plan: report})
	if err != nil {
		t.Fatal(err)
	}
	want, err := mailer.Render(mailer.Message{Run: run, Plan: whole})
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != want.Subject || got.Text != want.Text || got.HTML != want.HTML || got.CSVName != want.CSVName {
		t.Errorf("the report's mail differs from the whole plan's:\n%s\nwant\n%s", got.Text, want.Text)
	}
	if !bytes.Equal(got.CSV, want.CSV) || bytes.Count(want.CSV, []byte("\n")) != mailer.MaxCSVRows+1 {
		t.Errorf("the report's CSV (%d bytes, %d lines) differs from the whole plan's (%d bytes, %d lines)",
			len(got.CSV), bytes.Count(got.CSV, []byte("\n")), len(want.CSV), bytes.Count(want.CSV, []byte("\n")))
	}
}
