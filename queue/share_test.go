package queue

import (
	"context"
	"testing"
	"time"
)

func TestUnitsGiveBigFilesALargerShare(t *testing.T) {
	const limit = 768 << 20
	for _, c := range []struct {
		size    int64
		workers int
		want    int
	}{
		{0, 4, 1},         // never imported: no estimate
		{1 << 20, 4, 1},   // 1 MB
		{100 << 20, 4, 2}, // 100 MB needs 266 MB of a 192 MB share
		{317 << 20, 4, 4}, // the 150k-person file takes the whole process
		{2 << 30, 4, 4},   // more than the process has: all of it, still runs
		{100 << 20, 1, 1}, // one worker is one worker
	} {
		if got := units(c.size, limit, c.workers); got != c.want {
			t.Errorf("units(%d MB, %d workers) = %d, want %d", c.size>>20, c.workers, got, c.want)
		}
	}
}

// A big job waiting for the whole share is served before small jobs that come after it.
func TestShareServesInOrder(t *testing.T) {
	s := newShare(4)
	ctx := context.Background()
	small, _ := s.acquire(ctx, 1)
	got := make(chan string, 2)
	go func() {
		r, _ := s.acquire(ctx, 4)
		got <- "big"
		r()
	}()
	time.Sleep(50 * time.Millisecond)
	go func() {
		r, _ := s.acquire(ctx, 1)
		got <- "small"
		r()
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case g := <-got:
		t.Fatalf("%s ran while the first small job held a unit and the big one waited", g)
	default:
	}
	small()
	if a, b := <-got, <-got; a != "big" || b != "small" {
		t.Errorf("order %s, %s; want big, then small", a, b)
	}
	cctx, cancel := context.WithCancel(ctx)
	hold, _ := s.acquire(ctx, 4)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := s.acquire(cctx, 1); err == nil {
		t.Fatal("acquire ignored its context")
	}
	hold()
	if r, err := s.acquire(ctx, 4); err != nil {
		t.Fatal("units leaked by a cancelled wait")
	} else {
		r()
	}
}
