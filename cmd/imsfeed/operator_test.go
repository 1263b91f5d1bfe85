package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// `plan` is for the person who typed it: it prints the verdict, mails nobody and leaves no run
// in the history; its JSON says status planned with run 0.
func TestPlanMailsNobodyAndLeavesNoRun(t *testing.T) {
	dir := t.TempDir()
	n1 := writeDemo(t, dir, "night1.xml")
	r := imsfeed(t, dir, "plan", "--tenant", "north", "--json", n1)
	var run map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil || r.code != 0 {
		t.Fatalf("plan --json: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if run["status"] != "planned" || run["run"] != 0.0 {
		t.Errorf("plan --json: status %v, run %v; want planned, 0", run["status"], run["run"])
	}
	if r := imsfeed(t, dir, "plan", "--tenant", "north", n1); r.code != 0 || !strings.Contains(r.stdout, "dry run  north  PLANNED") {
		t.Errorf("plan: exit %d\n%s", r.code, r.stdout)
	}
	if mails, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*.eml")); len(mails) != 0 {
		t.Errorf("plan mailed the subscribers: %v", mails)
	}
	if r := imsfeed(t, dir, "runs", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("plan left runs in the history:\n%s", r.stdout)
	}
}
