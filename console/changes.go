package console

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// A held run's page pages and searches its changes on the server, in the store: a hold keeps
// its changes as rows beside the plan, and the removals breakdown made at the hold
// (store.HeldChanges), so a view of a hold of 500,000 changes costs a few queries and never
// reads the plan. A hold made before holds kept rows gets them on its first view (indexHeld).

// changeRow is one change as the page shows it.
type changeRow struct{ store.HeldChange }

// OpText is the op as an operator reads it: an import never deletes a person, it trashes.
func (r *changeRow) OpText() string {
	switch {
	case r.Type == record.Persons && r.Op == change.Delete:
		return "to the trash can"
	case r.Op == change.Manualize:
		return "kept as manual"
	case r.Type == record.Groups && r.Op == change.Archive:
		return "archive"
	}
	return r.Op.String()
}

// TypeText names the row's type in the singular.
func (r *changeRow) TypeText() string {
	return strings.TrimSuffix(r.Type.String(), "s")
}

// heldPage asks the store for one page of a held run's changes. A hold without rows is
// indexed once, then asked again.
func (c *Console) heldPage(ctx context.Context, run *runs.Run, q store.HeldQuery) (*store.HeldPage, error) {
	p, err := c.store.HeldChanges(ctx, run.ID, q)
	if errors.Is(err, store.ErrNotFound) {
		if err = c.indexHeld(ctx, run); err == nil {
			p, err = c.store.HeldChanges(ctx, run.ID, q)
		}
	}
	if err != nil {
		c.log.Error("console: held run's changes", "run", run.ID, "err", err)
		return nil, fmt.Errorf("the held run's changes could not be read; the log says why")
	}
	return p, nil
}

// indexing is the holds being indexed now: each is indexed once however many ask at a time.
type indexing struct {
	mu sync.Mutex
	m  map[int64]*indexJob
}

type indexJob struct {
	done chan struct{}
	err  error
}

// indexHeld has the importer keep a held run's rows (reading its plan and the state: seconds
// for a large hold, done once). The work goes on when the request that started it is gone.
func (c *Console) indexHeld(ctx context.Context, run *runs.Run) error {
	x := &c.indexing
	x.mu.Lock()
	j := x.m[run.ID]
	if j == nil {
		if x.m == nil {
			x.m = map[int64]*indexJob{}
		}
		j = &indexJob{done: make(chan struct{})}
		x.m[run.ID] = j
		go func() {
			j.err = c.im.IndexHeld(context.WithoutCancel(ctx), run.ID)
			if j.err == nil {
				c.log.Info("console: held run indexed for its page", "run", run.ID)
			}
			x.mu.Lock()
			delete(x.m, run.ID)
			x.mu.Unlock()
			close(j.done)
		}()
	}
	x.mu.Unlock()
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
