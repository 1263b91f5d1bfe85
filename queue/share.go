package queue

import (
	"context"
	"sync"
)

// share is a process's import capacity, in workers: a job takes as many as its file's memory
// estimate needs, so a night of many big tenants does not run the machine out of memory.
// Waiters are served in order, so a big job is not starved by small ones behind it.
type share struct {
	mu    sync.Mutex
	free  int
	total int
	queue []*waiter
}

type waiter struct {
	n     int
	ready chan struct{}
}

func newShare(total int) *share { return &share{free: total, total: total} }

// acquire takes n units (at most all of them), waiting in line; release gives them back.
func (s *share) acquire(ctx context.Context, n int) (release func(), err error) {
	n = min(max(n, 1), s.total)
	s.mu.Lock()
	if len(s.queue) == 0 && s.free >= n {
		s.free -= n
		s.mu.Unlock()
		return func() { s.release(n) }, nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	s.queue = append(s.queue, w)
	s.mu.Unlock()
	select {
	case <-w.ready:
		return func() { s.release(n) }, nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			s.free += n
			s.wake()
		default:
			for i, q := range s.queue {
				if q == w {
					s.queue = append(s.queue[:i], s.queue[i+1:]...)
					break
				}
			}
			s.wake()
		}
		return nil, ctx.Err()
	}
}

func (s *share) release(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free += n
	s.wake()
}

// wake grants waiters in order while the first one fits. Called with mu held.
func (s *share) wake() {
	for len(s.queue) > 0 && s.queue[0].n <= s.free {
		w := s.queue[0]
		s.queue = s.queue[1:]
		s.free -= w.n
		close(w.ready)
	}
}

// units is a job's share of a process with workers units under a memory limit: an import
// holds about 2.5× its file in memory at its peak (make bench: 770 MB for a 317 MB initial
// load), plus a few MB of its own.
func units(fileSize, memLimit int64, workers int) int {
	if fileSize <= 0 || memLimit <= 0 || workers <= 1 {
		return 1
	}
	need := fileSize*5/2 + 16<<20
	per := memLimit / int64(workers)
	n := int((need + per - 1) / per)
	return min(max(n, 1), workers)
}
