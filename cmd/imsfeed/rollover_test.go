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
