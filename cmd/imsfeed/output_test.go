package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// `show RUN --plan | less` reads as a document: indented, no zeroed content hashes; --raw is
// still the exact stored plan whose SHA-256 the run records. Times carry their zone.
func TestShowPlanIsReadableAndTimesCarryTheirZone(t *testing.T) {
	if _, err := os.Stat("/usr/share/zoneinfo/Europe/Oslo"); err != nil {
		t.Skip("no time zone database on this machine")
	}
	t.Setenv("TZ", "Europe/Oslo")
	dir := t.TempDir()
	n1, n3 := writeDemo(t, dir, "night1.xml"), writeDemo(t, dir, "night3.xml")
	if r := imsfeed(t, dir, "import", "--tenant", "north", n1); r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	r := imsfeed(t, dir, "import", "--tenant", "north", n3)
	if r.code != 3 {
		t.Fatalf("held import exit %d\n%s", r.code, r.stdout)
	}
	if !regexp.MustCompile(`started  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T`).MatchString(r.stdout) {
		t.Errorf("start time without its zone:\n%s", r.stdout)
	}
	id := regexp.MustCompile(`run (\d+)  north  HELD`).FindStringSubmatch(r.stdout)[1]

	plan := imsfeed(t, dir, "show", id, "--plan")
	if plan.code != 0 {
		t.Fatalf("show --plan: %d %s", plan.code, plan.stderr)
	}
	lines := strings.Split(plan.stdout, "\n")
	if len(lines) < 50 || !strings.HasPrefix(lines[1], "  \"") {
		t.Errorf("show --plan is not indented JSON:\n%.300s", plan.stdout)
	}
	for _, l := range lines {
		if len(l) > 200 {
			t.Errorf("show --plan has a %d-character line", len(l))
			break
		}
	}
	if strings.Contains(plan.stdout, `"hash"`) || strings.Contains(plan.stdout, "00000000000000000000000000000000") {
		t.Error("show --plan prints content hashes")
	}
	var p struct {
		Counts  map[string]map[string]int `json:"counts"`
		Persons []map[string]any          `json:"persons"`
	}
	if err := json.Unmarshal([]byte(plan.stdout), &p); err != nil {
		t.Fatalf("show --plan is not JSON: %v", err)
	}
	deletes := 0
	for _, x := range p.Persons {
		if x["op"] == "delete" && x["key"] != "" {
			deletes++
		}
	}
	if deletes == 0 || p.Counts["persons"]["deleted"] != deletes {
		t.Errorf("show --plan: %d person deletes, counts say %v", deletes, p.Counts["persons"])
	}

	raw := imsfeed(t, dir, "show", id, "--plan", "--raw")
	var run struct {
		PlanSHA256 string `json:"plan_sha256"`
	}
	if err := json.Unmarshal([]byte(imsfeed(t, dir, "show", id, "--json").stdout), &run); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(raw.stdout))
	if run.PlanSHA256 == "" || hex.EncodeToString(sum[:]) != run.PlanSHA256 {
		t.Errorf("show --plan --raw is not the stored plan (SHA-256 %x, run says %s)", sum, run.PlanSHA256)
	}

	if r := imsfeed(t, dir, "runs"); !regexp.MustCompile(`\d\d:\d\d CES?T`).MatchString(r.stdout) {
		t.Errorf("runs: times without their zone:\n%s", r.stdout)
	}
}
