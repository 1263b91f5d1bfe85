package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// testMarkAlive: a running run's last sign of life is what ListRuns gives as its AliveAt, the
// latest mark; marking does not wait for another import's write transaction; a run no longer
// running keeps its record as it was saved.
func testMarkAlive(t *testing.T, s store.Store) {
	ctx := context.Background()
	tenant := tenantName("alive")
	run := newRun(t, s, tenant, runs.Running)
	alive := func() *time.Time {
		t.Helper()
		list, err := s.ListRuns(ctx, store.ListRunsParams{Tenant: tenant, Status: []runs.Status{runs.Running}})
		if err != nil || len(list) != 1 {
			t.Fatalf("list running runs: %v, %d runs", err, len(list))
		}
		return list[0].AliveAt
	}
	if at := alive(); at != nil {
		t.Errorf("a run never marked has a sign of life at %s", at)
	}
	for _, d := range []time.Duration{2 * time.Second, 4 * time.Second} {
		if err := s.MarkAlive(ctx, run.ID, now.Add(d)); err != nil {
			t.Fatal(err)
		}
		if at := alive(); at == nil || !at.Equal(now.Add(d)) {
			t.Errorf("marked alive at %s, ListRuns says %v", now.Add(d), at)
		}
	}

	// Another tenant's initial load writing while it reads holds the database's one write
	// transaction on SQLite: the mark is made all the same, at once.
	if ew, ok := s.(store.EarlyWriter); ok {
		e, err := ew.EarlyInserts(ctx, tenantName("loading"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if e != nil {
			defer e.Abort()
			p := person("p1", "P")
			e.Person(&p)
			quick, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := s.MarkAlive(quick, run.ID, now.Add(6*time.Second))
			cancel()
			if err != nil {
				t.Errorf("mark alive during another tenant's write transaction: %v", err)
			}
			e.Abort()
			if at := alive(); at == nil || !at.Equal(now.Add(6*time.Second)) {
				t.Errorf("marked alive during a write transaction at %s, ListRuns says %v", now.Add(6*time.Second), at)
			}
		}
	}

	run.Status = runs.Completed
	finished := now.Add(10 * time.Second)
	run.FinishedAt = &finished
	if err := s.SaveRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkAlive(ctx, run.ID, now.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkAlive(ctx, run.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != runs.Completed || got.AliveAt != nil {
		t.Errorf("a completed run marked alive: status %s, alive at %v; want its record as saved", got.Status, got.AliveAt)
	}
}
