package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/imsfeed/imsfeed/store"
)

// TenantLocks are a process's locks of its tenants, taken before the store's own lock (a file
// beside the SQLite database, a PostgreSQL advisory lock) so that the process's waiters are
// served in the order they came: a channel's blocked senders are woken first come, first
// served. The zero value is ready.
type TenantLocks struct {
	mu  sync.Mutex
	sem map[string]chan struct{} // per tenant: a one-slot semaphore
}

// Take takes tenant's lock, waiting at most wait; then outer, the store's own lock, by the
// same deadline. The returned function releases both, once however often it is called.
func (l *TenantLocks) Take(ctx context.Context, tenant string, wait time.Duration, outer func(deadline time.Time) (release func(), err error)) (func(), error) {
	deadline := time.Now().Add(wait)
	l.mu.Lock()
	if l.sem == nil {
		l.sem = map[string]chan struct{}{}
	}
	sem, ok := l.sem[tenant]
	if !ok {
		sem = make(chan struct{}, 1)
		l.sem[tenant] = sem
	}
	l.mu.Unlock()
	select {
	case sem <- struct{}{}: // free: take it without looking at the clock
	default:
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case sem <- struct{}{}:
		case <-timer.C:
			return nil, fmt.Errorf("tenant %q: %w", tenant, store.ErrLocked)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	release, err := outer(deadline)
	if err != nil {
		<-sem
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			release()
			<-sem
		})
	}, nil
}
