package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSafetyBacktestOnDemoNights: the demo's six nights on SQLite (night 3 held and rejected,
// night 6 held and approved) replayed through the tenant's policy change nothing and suggest
// limits that hold the rejected night; a proposed policy that lets removals through lists both
// held nights as passing, with the limits they crossed.
func TestSafetyBacktestOnDemoNights(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte("store: sqlite://"+filepath.Join(dir, "state.db")+"\ndata_dir: "+dir+
		"\ntenants:\n  - id: north\n    courses: {types: [Course], archive: true}\n    safety: {min_changes: 10}\n"), 0o600)
	cli := func(args ...string) result { return imsfeed(t, dir, append([]string{"--config", cfg}, args...)...) }
	for i, n := range []string{"night1.xml", "night2.xml", "night3.xml", "night4.xml", "night5.xml", "night6.xml"} {
		r := cli("import", "--tenant", "north", "--json", writeDemo(t, dir, n))
		var run struct {
			ID     int64  `json:"run"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
			t.Fatalf("%s: exit %d %v\n%s", n, r.code, err, r.stderr)
		}
		switch i {
		case 2:
			if run.Status != "held" || cli("reject", strconv.FormatInt(run.ID, 10), "--by", "Kari", "--reason", "lost half the pupils").code != 0 {
				t.Fatalf("night 3: %s, or reject failed", run.Status)
			}
		case 5:
			if run.Status != "held" || cli("approve", strconv.FormatInt(run.ID, 10), "--by", "Kari", "--reason", "graduation").code != 0 {
				t.Fatalf("night 6: %s, or approve failed", run.Status)
			}
		}
	}

	r := cli("safety", "backtest", "--tenant", "north")
	// Night 3 removed 45.16% of the persons; the normal nights at most 1.67%, night 6 (approved) 45%.
	words := strings.Join(strings.Fields(r.stdout), " ")
	if r.code != 0 || !strings.Contains(words, "6 runs of north replayed through the tenant's policy; 0 would change") ||
		!strings.Contains(words, "persons deletes 5 1.67% 45.16% 45.16% 45.16% 10% 45% 3 none") ||
		!strings.Contains(words, "rejected or undone runs passed none") {
		t.Fatalf("backtest: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	policy := filepath.Join(dir, "loose.yaml")
	os.WriteFile(policy, []byte("safety:\n  min_changes: 25\n  persons: {deletes: 60%}\n  memberships: {deletes: off}\n  groups: {deletes: off}\n"), 0o644)
	r = cli("safety", "backtest", "--tenant", "north", "--policy", policy, "--json")
	var out struct {
		Runs    int `json:"runs"`
		Changed []struct {
			Run     int64  `json:"run"`
			Outcome string `json:"outcome"`
			WasHeld bool   `json:"was_held"`
			Held    bool   `json:"held"`
			Was     []struct {
				Type string `json:"type"`
			} `json:"was_tripped"`
		} `json:"changed"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("backtest --json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if out.Runs != 6 || len(out.Changed) != 2 || out.Changed[0].Outcome != "rejected" || out.Changed[1].Outcome != "approved" ||
		!out.Changed[0].WasHeld || out.Changed[0].Held || len(out.Changed[0].Was) == 0 {
		t.Errorf("backtest --policy: %s", r.stdout)
	}
	if r := cli("safety", "backtest", "--tenant", "north", "--policy", filepath.Join(dir, "none.yaml")); r.code != 2 {
		t.Errorf("a missing policy file: exit %d, want 2", r.code)
	}
}
