package mailer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// A big tenant's numbers, a long config path and long SIS text still fit 78 columns; the
// approve command stays one shell command (continued with a backslash, never cut in a quote).
func TestTextFits78ColumnsForBigTenants(t *testing.T) {
	t.Parallel()
	msg := kinds()["held"]
	msg.Run.Counts.Memberships.Before = 10524225
	msg.Run.Counts.Memberships.Deleted = 524225
	msg.Run.Counts.Memberships.Archived = 104400
	msg.Run.Counts.Memberships.After = 9895600
	msg.ApproveCommand = `imsfeed --config '/etc/imsfeed/tenants/northside school district.yaml' approve 17 --by "$USER" --reason "..."`
	msg.Run.Attention = attention
	msg.Run.Warnings = append(msg.Run.Warnings, record.Warning{Line: 9, Column: 1, Key: strings.Repeat("K", 120), Message: "person without a name; skipped"})
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	checkWidth(t, "big held", r.Text)
	if !strings.Contains(r.Text, "(ins inserted, upd updated, del deleted, rest restored, arch archived)") {
		t.Errorf("the abbreviated counts table has no key:\n%s", r.Text)
	}
	if !strings.Contains(flat(r.Text), "memberships 10524225 0 0 524225 0 104400 9895600") {
		t.Errorf("the abbreviated table lacks the memberships numbers:\n%s", r.Text)
	}
	want := "  imsfeed --config '/etc/imsfeed/tenants/northside school district.yaml' \\\n      approve 17 --by \"$USER\" --reason \"...\"\n"
	if !strings.Contains(r.Text, want) {
		t.Errorf("approve command not continued as one shell command:\n%s", r.Text)
	}
}

// A lenient repair is not a skipped record: each has its own section, and the repair does not
// claim that anything was skipped.
func TestRepairsAndSkippedRecordsAreSeparateSections(t *testing.T) {
	t.Parallel()
	msg := kinds()["completed"]
	msg.Run.Warnings = []record.Warning{
		{Line: 12, Column: 40, Key: "P0007", Message: "repaired: bare '&' read as a literal '&'", Kind: record.WarnRepaired},
		{Line: 30, Column: 3, Key: "P0009", Message: "person without sourcedid/id; skipped", Kind: record.WarnSkipped},
		{Line: 2, Column: 1, Message: "DOCTYPE ignored: no DTD or external entity is read"}, // recorded before Kind existed
	}
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	for _, part := range strings.Split(r.Text, "\n\n") {
		head, body, _ := strings.Cut(part, "\n")
		sections[head] = body
	}
	for head, want := range map[string]string{
		"Records skipped, their stored counterparts kept (1):": "P0009",
		"Repaired in lenient mode, nothing skipped (1):":       "P0007",
		"Ignored, the records themselves were read (1):":       "DOCTYPE",
	} {
		body, ok := sections[head]
		if !ok || !strings.Contains(body, want) || strings.Count(body, "\n  - ") > 0 {
			t.Errorf("section %q = %q, want exactly the warning %s", head, body, want)
		}
		if !strings.Contains(r.HTML, strings.TrimSuffix(head, ":")) {
			t.Errorf("HTML lacks section %q", head)
		}
	}
}

// The mail's times are in the tenant's zone and say which zone that is.
func TestMailTimesAreInTheTenantsZone(t *testing.T) {
	t.Parallel()
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	msg := kinds()["approved"]
	msg.Tenant.Location = oslo
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Started    2026-03-02 03:00:00 CET", "at 2026-03-02 10:00:00 CET"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, r.Text)
		}
	}
}

// The approve command is a block of its own under its label (an inline box with padding hid the
// label's last line), and the HTML part is checked against a golden file.
func TestHTMLGolden(t *testing.T) {
	t.Parallel()
	r, err := Render(kinds()["held"])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<br><code") || !strings.Contains(r.HTML, "To apply exactly this change set:</p>\n<pre ") {
		t.Error("the approve command is not a block below its label")
	}
	golden(t, filepath.Join("testdata", "held.html.golden"), r.HTML)
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./mailer -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./mailer -update to accept):\n%s", path, got)
	}
}

// storedNames stands in for the tenant's state: the names of persons and groups a membership
// change names only by key.
type storedNames map[string]string

func (n storedNames) PersonName(k string) string { return n["p:"+k] }
func (n storedNames) GroupName(k string) string  { return n["g:"+k] }

// The CSV opens in a spreadsheet as people read it: a BOM (UTF-8 names intact), roles as words
// beside their codes, memberships with names, updates with their fields old → new, and persons
// trashed (restorable), memberships of an archived course kept as manual.
func TestCSVGolden(t *testing.T) {
	t.Parallel()
	p := smallPlan()
	p.Names = storedNames{"g:C-ART-7B": "Art 7B", "g:C-HIST-6A": "History 6A", "p:P0007": "Kari Østby", "p:P0008": "Ola Berg", "p:P0005": "Person Five"}
	p.Persons[3].Old = &record.Person{Key: "P0004", Name: "Person 4", Attrs: record.Attrs{{Name: "email", Value: "p4@old.example.org"}, {Name: "userid", Value: "p4"}}}
	p.Persons[3].Person.Attrs = record.Attrs{{Name: "email", Value: "p4@new.example.org"}, {Name: "userid", Value: "p4"}}
	// Preferred names, as a nightly file's <nickname> or a LIS 2.0 preferred-name block store them.
	p.Persons[0].Person.Attrs = record.Attrs{{Name: record.PreferredLast, Value: "Eins"}, {Name: record.PreferredFirst, Value: "Uno"}}
	b, err := renderCSV(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "\ufeff") {
		t.Error("the CSV does not start with a UTF-8 BOM")
	}
	got := string(b)
	for _, want := range []string{
		"\ufefftype,op,key,name,group,group_name,member,member_name,role,role_name,changes,preferred_first,preferred_last\r\n",
		"person,insert,P0001,Person 1,,,,,,,,Uno,Eins\r\n",
		"person,update,P0004,Person 4,,,,,,,email: p4@old.example.org → p4@new.example.org,,\r\n",
		"person,update,P0005,Person 5,,,,,,,name: Person Five → Person 5,,\r\n",
		"person,trashed (restorable),P0006,",
		"membership,delete,,,C-ART-7B,Art 7B,P0007,Kari Østby,02,Instructor,,,\r\n",
		"membership,kept as manual,,,C-HIST-6A,History 6A,P0008,Ola Berg,02,Instructor,,,\r\n",
		"membership,insert,,,C-MATH-7B,Mathematics 7B,P0001,Person 1,01,Learner,,,\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("CSV lacks %q", want)
		}
	}
	golden(t, filepath.Join("testdata", "completed.csv.golden"), got)
}

// Every entry of the Attention list reads as prose: a held run the new run replaces is not
// listed under the importer's code "superseded-hold:".
func TestAttentionEntriesReadAsProse(t *testing.T) {
	t.Parallel()
	msg := kinds()["completed"]
	msg.Run.Attention = append(msg.Run.Attention,
		change.Notice{Kind: "superseded-hold", Message: "held run 12 can no longer be approved: this run replaces it"},
		change.Notice{Kind: "some-new-kind", Message: "something"})
	r, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{r.Text, r.HTML} {
		if !strings.Contains(body, "hold replaced: held run 12 can no longer be approved") || !strings.Contains(body, "some new kind: something") ||
			strings.Contains(body, "superseded-hold") || strings.Contains(body, "some-new-kind") {
			t.Errorf("the Attention list shows a notice's code, not its words:\n%s", body)
		}
	}
}
