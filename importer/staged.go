package importer

import (
	"context"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/store"
)

// stagedState is a tenant's state whose groups and memberships may still be loading
// (store.StagedLoader): the reader and the diff go through a file's persons meanwhile, and
// the diff waits for the rest when it first needs it (the first membership record, or the end
// of the file: the file's groups are held back until then, see placing). Until then
// st.Groups and st.Memberships are nil; they are only ever set to all of them. When the
// tenant has memberships stored, st.Stored is set in place of st.Memberships: the diff reads
// them at its end, in the load's snapshot, which close then ends.
//
// rest is called by one goroutine at a time: the diff's while the file is read, then the
// caller's once ims.Read has returned (which orders the two).
type stagedState struct {
	st   *change.State
	load store.RestLoad // nil when the store loaded the state whole
	done bool           // st is whole
	err  error          // the load's failure, once rest saw it
}

// loadState loads a tenant's state, staged when the store can.
func (im *Importer) loadState(ctx context.Context, tenant string) (*stagedState, error) {
	if sl, ok := im.store.(store.StagedLoader); ok {
		st, load, err := sl.LoadStateStaged(ctx, tenant)
		if err != nil {
			return nil, err
		}
		return &stagedState{st: st, load: load}, nil
	}
	st, err := im.store.LoadState(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return &stagedState{st: st, done: true}, nil
}

// none reports, without waiting, whether the state holds no memberships (an initial load).
func (s *stagedState) none() bool {
	if s.done {
		return s.st.Memberships.Len() == 0
	}
	return s.load.None()
}

// rest waits until st holds every stored group and membership.
func (s *stagedState) rest() error {
	if s.done {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	if err := s.load.Wait(s.st); err != nil {
		s.err = err
		return err
	}
	s.done = true
	return nil
}

// close stops a load still running (a run that failed before it needed the rest) and waits
// for it: no goroutine or read transaction outlives the plan.
func (s *stagedState) close() {
	if s.load != nil {
		s.load.Close()
	}
}
