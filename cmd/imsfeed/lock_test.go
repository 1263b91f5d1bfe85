package main

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// Issue 5: two imsfeed processes of one tenant on one PostgreSQL never import at the same time.
// The run lock is a PostgreSQL advisory lock, so only separate processes (separate sessions)
// show that it works.

// TestSecondProcessWaitsForTheLock holds the tenant's lock in one process (a long import) and
// starts a second one with a short lock_wait: it waits, then fails clearly, and records nothing.
func TestSecondProcessWaitsForTheLock(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	dir := t.TempDir()
	tenant := tenantID("lock")
	slow := writeConfig(t, dir, "slow", url, tenant, time.Minute)
	impatient := writeConfig(t, dir, "impatient", url, tenant, 300*time.Millisecond)
	big := writeFeedFile(t, dir, "big.xml", feedgen.Options{Persons: 20_000, Groups: 2_000, MembersPerGroup: 40, Seed: 7})
	small := writeFeedFile(t, dir, "small.xml", feedgen.Options{Persons: 100, Groups: 10, MembersPerGroup: 10, Seed: 7})

	holder := start(t, dir, "--config", slow, "import", "--tenant", tenant, big)
	select {
	case <-holder.when(`msg="import started"`): // logged once the lock is held
	case <-holder.done:
		t.Fatalf("the first import exited (%v) before it started\n%s", holder.err, holder.stderr())
	case <-time.After(time.Minute):
		t.Fatalf("the first import did not start in a minute\n%s", holder.stderr())
	}

	began := time.Now()
	r := imsfeed(t, dir, "--config", impatient, "import", "--tenant", tenant, small)
	waited := time.Since(began)
	select {
	case <-holder.done:
		t.Fatalf("the first import ended before the second gave up (%v): nothing was shown; make its file bigger", waited)
	default:
	}
	if r.code != 1 || !strings.Contains(r.stdout, "another run of this tenant is in progress") || !strings.Contains(r.stdout, tenant) {
		t.Errorf("second import while the first holds the lock: exit %d, want 1 and a clear message\n%s%s", r.code, r.stdout, r.stderr)
	}
	if waited < 300*time.Millisecond {
		t.Errorf("the second import gave up after %v, before its lock_wait of 300ms", waited)
	}

	if code := holder.exitCode(); code != 0 {
		t.Fatalf("the first import: exit %d\n%s", code, holder.stderr())
	}
	// Only the first run changed anything; the second is recorded (and mailed) as failed.
	r = imsfeed(t, dir, "--config", slow, "runs", "--tenant", tenant, "--json")
	var list []struct{ Status string }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 || list[0].Status != "failed" || list[1].Status != "completed" {
		t.Errorf("runs: %v %s, want the second failed and the first completed", err, r.stdout)
	}
	if s := status(t, dir, slow, tenant); s.StateVersion != 1 {
		t.Errorf("state version %d, want 1", s.StateVersion)
	}
}

// TestConcurrentRunsTakeTurns starts two imports of one tenant at once, each with another file.
// Both complete, one after the other: the second plans against the state the first committed
// (version 1 → 2, only the renamed persons updated). Had they interleaved, both would have
// planned against the empty state and the second apply would have failed on the state
// version. The log shows the order too: one process's "import started" (lock taken) comes after
// the other's "import finished".
func TestConcurrentRunsTakeTurns(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	dir := t.TempDir()
	tenant := tenantID("turns")
	cfg := writeConfig(t, dir, "imsfeed", url, tenant, time.Minute)
	o := feedgen.Options{Persons: 20_000, Groups: 2_000, MembersPerGroup: 40, Seed: 9}
	b1 := writeFeedFile(t, dir, "b1.xml", o)
	o.RenamePercent = 10
	b2 := writeFeedFile(t, dir, "b2.xml", o)

	procs := []*proc{
		start(t, dir, "--config", cfg, "import", "--tenant", tenant, "--json", b1),
		start(t, dir, "--config", cfg, "import", "--tenant", tenant, "--json", b2),
	}
	type outcome struct {
		Status string
		Before int64 `json:"state_version_before"`
		After  int64 `json:"state_version_after"`
		Counts map[string]struct {
			Before, Inserted, Updated, Deleted, After int
		}
		started, finished time.Time
	}
	var runs []outcome
	for i, p := range procs {
		if code := p.exitCode(); code != 0 {
			t.Fatalf("import %d: exit %d\n%s\n%s", i+1, code, p.stdout.String(), p.stderr())
		}
		var o outcome
		if err := json.Unmarshal(p.stdout.Bytes(), &o); err != nil || o.Status != "completed" {
			t.Fatalf("import %d: %v %s", i+1, err, p.stdout.String())
		}
		o.started, o.finished = logTime(t, p, "import started"), logTime(t, p, "import finished")
		runs = append(runs, o)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Before < runs[j].Before })
	first, second := runs[0], runs[1]
	if first.Before != 0 || first.After != 1 || second.Before != 1 || second.After != 2 {
		t.Errorf("state versions %d→%d and %d→%d, want 0→1 and 1→2", first.Before, first.After, second.Before, second.After)
	}
	fp, sp := first.Counts["persons"], second.Counts["persons"]
	if fp.Inserted != o.Persons || sp.Before != fp.After || sp.Inserted != 0 || sp.Deleted != 0 ||
		sp.Updated == 0 || sp.Updated > o.Persons/5 {
		t.Errorf("persons: first %+v, second %+v; want the second to see the first's %d persons and update only the renamed ones", fp, sp, o.Persons)
	}
	if second.started.Before(first.finished) {
		t.Errorf("the runs overlapped: the second started (lock taken) at %s, before the first finished at %s",
			second.started.Format(time.StampMilli), first.finished.Format(time.StampMilli))
	}
	if s := status(t, dir, cfg, tenant); s.StateVersion != 2 || s.Persons.Active != o.Persons || s.Persons.Trashed != 0 {
		t.Errorf("final state %+v, want version 2 and %d active persons", s, o.Persons)
	}
}

// logTime is the time of the process's first log line with msg="what".
func logTime(t *testing.T, p *proc, what string) time.Time {
	t.Helper()
	re := regexp.MustCompile(`(?m)^time=(\S+) .*msg="` + regexp.QuoteMeta(what) + `"`)
	m := re.FindStringSubmatch(p.stderr())
	if m == nil {
		t.Fatalf("no %q log line:\n%s", what, p.stderr())
	}
	ts, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatalf("log time %q: %v", m[1], err)
	}
	return ts
}
