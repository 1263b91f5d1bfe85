package mailer

import (
	"fmt"
	"slices"
	"time"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
)

// Runs and plans are built by hand, as the importer would record them.

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

var northside = Tenant{ID: "northside", Name: "Northside school district", Subscribers: []string{"IT Desk <it@northside.example.org>"}}

func baseRun(status runs.Status) *runs.Run {
	fin := t0.Add(12300 * time.Millisecond)
	return &runs.Run{
		ID: 17, Tenant: "northside", Status: status, Mode: "snapshot",
		File:      runs.File{Name: "northside-2026-03-02.xml", Size: 1234567, SHA256: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"},
		StartedAt: t0, FinishedAt: &fin, VersionBefore: 4, VersionAfter: 5,
		Verdict: safety.Verdict{Passed: true},
	}
}

// smallPlan: persons +3 ~2 -1, groups +1 and one course archived, memberships +4 -2 (one a
// cascade) and one turned manual.
func smallPlan() *change.Plan {
	p := &change.Plan{Tenant: "northside", Mode: "snapshot", BaseVersion: 4}
	for i, op := range []change.Op{change.Insert, change.Insert, change.Insert, change.Update, change.Update, change.Delete} {
		p.Persons = append(p.Persons, change.Person{Op: op, Person: record.Person{Key: fmt.Sprintf("P%04d", i+1), Name: fmt.Sprintf("Person %d", i+1)}})
	}
	p.Groups = []change.Group{
		{Op: change.Insert, Group: record.Group{Key: "C-MATH-7B", Name: "Mathematics 7B"}, Course: true},
		{Op: change.Archive, Group: record.Group{Key: "C-HIST-6A", Name: "History 6A"}, Course: true},
	}
	for i := 0; i < 4; i++ {
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "C-MATH-7B", Member: fmt.Sprintf("P%04d", i+1), Role: "01"}}})
	}
	p.Memberships = append(p.Memberships,
		change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "C-ART-7B", Member: "P0006", Role: "01"}}, Cascade: true},
		change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "C-ART-7B", Member: "P0007", Role: "02"}}},
		change.Membership{Op: change.Manualize, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "C-HIST-6A", Member: "P0008", Role: "02"}}},
	)
	p.Counts = change.Tally(p, [4]int{60, 8, 200})
	return p
}

// bigDeletePlan deletes 15 of 60 persons: 25% > 10%.
func bigDeletePlan() *change.Plan {
	p := &change.Plan{Tenant: "northside", Mode: "snapshot", BaseVersion: 4}
	for i := 0; i < 15; i++ {
		p.Persons = append(p.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: fmt.Sprintf("P%04d", 100+i), Name: fmt.Sprintf("Leaver %d", i)}})
	}
	p.Counts = change.Tally(p, [4]int{60, 8, 200})
	return p
}

func ptr[T any](v T) *T { return &v }

func warnings(n int) []record.Warning {
	var ws []record.Warning
	for i := 0; i < n; i++ {
		ws = append(ws, record.Warning{Line: 100 + 7*i, Column: 5, Key: fmt.Sprintf("M%03d", i), Message: "membership member unknown to the file and the store: skipped"})
	}
	return ws
}

var attention = []change.Notice{
	{Kind: change.NoticeReappearedCourse, Key: "C-HIST-5A", Line: 812, Message: `archived course "C-HIST-5A" is in the file again; restore it with imsfeed archive restore`},
	{Kind: change.NoticeKeptRecord, Key: "P0031", Message: `person "P0031" was skipped in the file; the stored person is kept unchanged`},
	{Kind: change.NoticeOrphanedGroup, Key: "CLASS-9X", Line: 400, Message: `group "CLASS-9X" lost its only parent`},
	{Kind: change.NoticeStaleSource, Message: "no new file for 3 days (last: northside-2026-02-27.xml)"},
}

// kinds are the runs of every kind the mail reports, with the plan the lead passes.
func kinds() map[string]Message {
	m := map[string]Message{}

	completed := baseRun(runs.Completed)
	plan := smallPlan()
	completed.Counts = plan.Counts
	completed.Warnings = warnings(2)
	completed.Attention = attention
	m["completed"] = Message{Run: completed, Plan: plan, Tenant: northside}

	held := baseRun(runs.Held)
	hp := bigDeletePlan()
	held.Counts = hp.Counts
	held.Verdict = safety.Verdict{Passed: false, OnTrip: safety.Stop, Tripped: []safety.Trip{
		{Type: "persons", Op: safety.Deletes, Count: 15, Base: 60, Percent: 25, MaxPercent: ptr(10.0)},
	}}
	held.Warnings = warnings(23)
	held.PlanSHA256 = "ab12"
	// One lost school tops the breakdown; eleven classes losing one pupil each follow.
	removals := []archive.GroupRemovals{{Group: "NUS", Name: "Northside Upper School", Role: "01", Gone: 14, Trashed: 14, Of: 15}}
	for i := range 11 {
		removals = append(removals, archive.GroupRemovals{Group: fmt.Sprintf("C%03d", i+1), Name: fmt.Sprintf("Class %d", i+1), Role: "01", Gone: 1, Of: 20})
	}
	removals[1].Role, removals[1].Of = "02", 2 // a teacher leaving class 1
	// Class 10's teacher leaves too: the three rows not listed come from two groups.
	removals = slices.Insert(removals, 11, archive.GroupRemovals{Group: "C010", Name: "Class 10", Role: "02", Gone: 1, Of: 2})
	m["held"] = Message{Run: held, Plan: hp, Tenant: northside, Removals: removals, ConsoleURL: "https://imsfeed.example.org/runs/17",
		ApproveCommand: `imsfeed approve 17 --by NAME --reason "why"`, RejectCommand: `imsfeed reject 17 --by NAME --reason "why"`}

	failed := baseRun(runs.Failed)
	// As the importer records a reader error: the message repeats file, position and record.
	failed.Error = &runs.Error{Line: 3, Column: 9, Key: "P0042", Message: "northside-2026-03-02.xml:3:9: record P0042: XML syntax error: element <person> closed by </persn>"}
	failed.Counts = change.Counts{Persons: change.TypeCounts{Before: 60, After: 60}, Groups: change.TypeCounts{Before: 8, After: 8}, Memberships: change.TypeCounts{Before: 200, After: 200}}
	m["failed"] = Message{Run: failed, Tenant: northside}

	skipped := baseRun(runs.Skipped)
	skipped.Reason = "unchanged file: same SHA-256 as run 16"
	skipped.Counts = failed.Counts
	m["skipped"] = Message{Run: skipped, Tenant: northside}

	approved := baseRun(runs.Completed)
	approved.Counts = hp.Counts
	approved.Verdict = held.Verdict
	approved.Approval = &runs.Decision{By: "alice", At: t0.Add(7 * time.Hour), Reason: "end of term: leavers confirmed by the school office"}
	m["approved"] = Message{Run: approved, Plan: hp, Tenant: northside}

	rejected := baseRun(runs.Rejected)
	rejected.Counts = hp.Counts
	rejected.Verdict = held.Verdict
	rejected.Rejection = &runs.Decision{By: "bob", At: t0.Add(7 * time.Hour), Reason: "export was cut short by the SIS"}
	m["rejected"] = Message{Run: rejected, Plan: hp, Tenant: northside}

	planned := baseRun(runs.Planned)
	planned.Counts = plan.Counts
	m["planned"] = Message{Run: planned, Plan: plan, Tenant: northside}

	superseded := baseRun(runs.Superseded)
	superseded.Counts = hp.Counts
	superseded.Verdict = held.Verdict
	superseded.Reason = "run 18 imported a newer file"
	m["superseded"] = Message{Run: superseded, Plan: hp, Tenant: northside}
	return m
}
