package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRolloverCommand: `imsfeed rollover` as an operator types it holds the school year's
// archival (exit 3, the held run's JSON counting the courses to archive and the old year's
// node), `approve` applies it, and the next night's file puts a new course under the new
// year's node; without --by it is a usage error (exit 2) that changes nothing.
func TestRolloverCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte("store: sqlite://"+filepath.Join(dir, "state.db")+"\ndata_dir: "+dir+
		"\ntenants:\n  - id: north\n    courses: {types: [Course], archive: true, archive_node: {key: imsfeed-archive, name: Courses archive}}\n"+
		"    school_year: {current: \"2026-27\"}\n"), 0o600)
	cli := func(args ...string) result { return imsfeed(t, dir, append([]string{"--config", cfg}, args...)...) }
	if r := cli("import", "--tenant", "north", writeDemo(t, dir, "night4.xml")); r.code != 0 {
		t.Fatalf("import: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli("rollover", "--tenant", "north", "--to", "2027-28", "--reason", "new school year"); r.code != 2 || !strings.Contains(r.stderr, "--by") {
		t.Fatalf("rollover without --by: exit %d, %s", r.code, r.stderr)
	}
	r := cli("rollover", "--tenant", "north", "--to", "2027-28", "--by", "Kari", "--reason", "new school year", "--json")
	var run struct {
		ID     int64  `json:"run"`
		Status string `json:"status"`
		Counts struct {
			Groups struct{ Archived, Deleted, Inserted, Updated int } `json:"groups"`
		} `json:"counts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil || r.code != 3 || run.Status != "held" {
		t.Fatalf("rollover: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if g := run.Counts.Groups; g.Archived == 0 || g.Deleted != 1 || g.Inserted+g.Updated != 0 {
		t.Errorf("rollover plans %+v, want the courses archived and the old year's node deleted, nothing else", g)
	}
	if r := cli("approve", strconv.FormatInt(run.ID, 10), "--by", "Ola", "--reason", "agreed"); r.code != 0 {
		t.Fatalf("approve: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	night := strings.Replace(string(mustRead(t, filepath.Join(dir, "night4.xml"))), "<membership>", `<group>
    <sourcedid><source>northside-sis</source><id>MATH6</id></sourcedid>
    <grouptype><scheme>northside-sis</scheme><typevalue level="3">Course</typevalue></grouptype>
    <description><short>Mathematics 6</short></description>
  </group>
  <membership>`, 1)
	os.WriteFile(filepath.Join(dir, "next.xml"), []byte(night), 0o644)
	r = cli("import", "--tenant", "north", "--json", filepath.Join(dir, "next.xml"))
	var next struct {
		Counts struct {
			Groups struct{ Inserted, Archived, Deleted int } `json:"groups"`
		} `json:"counts"`
	}
	// The new course and the new year's node it goes under are new; nothing else moves.
	if err := json.Unmarshal([]byte(r.stdout), &next); err != nil || r.code != 0 || next.Counts.Groups != (struct{ Inserted, Archived, Deleted int }{2, 0, 0}) {
		t.Errorf("the next night: exit %d, %v, groups %+v\n%s%s", r.code, err, next.Counts.Groups, r.stdout, r.stderr)
	}
	if r := cli("archive", "list", "--tenant", "north"); r.code != 0 || !strings.Contains(r.stdout, "MATH5") {
		t.Errorf("archive list after the rollover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRolloverSaysItIsARollover: what `rollover`, `show` and `approve` print, and the mails
// they send, say what happened: a school-year rollover, held for an operator's approval as
// every rollover is (not by the safety filter), with no file line, for there is no file.
func TestRolloverSaysItIsARollover(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte("store: sqlite://"+filepath.Join(dir, "state.db")+"\ndata_dir: "+dir+
		"\ntenants:\n  - id: north\n    courses: {types: [Course], archive: true}\n    school_year: {current: \"2026-27\"}\n"), 0o600)
	cli := func(args ...string) result { return imsfeed(t, dir, append([]string{"--config", cfg}, args...)...) }
	if r := cli("import", "--tenant", "north", writeDemo(t, dir, "night4.xml")); r.code != 0 {
		t.Fatalf("import: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	noFile := func(what, out string) {
		t.Helper()
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], "file") {
				t.Errorf("%s has a file line, but a rollover has no file: %q\n%s", what, line, out)
			}
		}
		if strings.Contains(out, "safety filter") {
			t.Errorf("%s blames the safety filter for a rollover's hold:\n%s", what, out)
		}
	}
	held := cli("rollover", "--tenant", "north", "--to", "2027-28", "--by", "Kari", "--reason", "new school year")
	if held.code != 3 || !strings.Contains(held.stdout, "school-year rollover 2026-27 → 2027-28") ||
		!strings.Contains(held.stdout, "Held for an operator's approval, as every school-year rollover is: nothing was applied.") {
		t.Errorf("rollover: exit %d, want 3 and the rollover held for approval:\n%s%s", held.code, held.stdout, held.stderr)
	}
	noFile("rollover's output", held.stdout)
	if r := cli("show", "1"); r.code != 0 || !strings.Contains(r.stdout, "night4.xml") {
		t.Errorf("show of the night: exit %d, want its file line:\n%s", r.code, r.stdout)
	}
	if r := cli("show", "2"); r.code != 0 {
		t.Errorf("show of the rollover: exit %d %s%s", r.code, r.stdout, r.stderr)
	} else {
		noFile("show of the rollover", r.stdout)
	}
	approved := cli("approve", "2", "--by", "Ola", "--reason", "agreed")
	if approved.code != 0 {
		t.Fatalf("approve: exit %d %s%s", approved.code, approved.stdout, approved.stderr)
	}
	noFile("approve of the rollover", approved.stdout)

	texts := map[string]string{} // the tenant's mails by subject
	files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	for _, f := range files {
		subject, text := mailText(t, string(mustRead(t, f)))
		texts[subject] = text
	}
	for _, m := range []struct{ subject, says string }{
		{"[imsfeed] north: school-year rollover 2026-27 → 2027-28 HELD — approval needed (5 courses to archive)",
			"School-year rollover HELD: every rollover waits for an operator. Nothing was applied."},
		{"[imsfeed] north: school-year rollover 2026-27 → 2027-28 approved and applied (+0 ~0 -0 persons, +0 ~0 -6 groups, +0 ~0 -0 memberships (93 kept as manual))",
			"The held school-year rollover 2026-27 → 2027-28 was approved and its change set applied."},
	} {
		text, ok := texts[m.subject]
		if !ok {
			t.Errorf("no mail %q among %d", m.subject, len(texts))
			continue
		}
		if !strings.Contains(strings.Join(strings.Fields(text), " "), m.says) { // as read, not as wrapped
			t.Errorf("mail %q does not say %q:\n%s", m.subject, m.says, text)
		}
		noFile("mail "+m.subject, text)
	}
}
