package importer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// slowMembers is a store whose staged loads (store.StagedLoader) hand the groups and
// memberships over only after delay, or fail them with fail: the reader and the diff run far ahead of the load,
// as on a large tenant. It passes the early writing of an initial load on.
type slowMembers struct {
	store.Store
	delay         time.Duration
	fail          error
	waits, closes atomic.Int32
}

func (s *slowMembers) LoadStateStaged(ctx context.Context, tenant string) (*change.State, store.RestLoad, error) {
	st, inner, err := s.Store.(store.StagedLoader).LoadStateStaged(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	return st, &slowLoad{s: s, inner: inner, ready: time.Now().Add(s.delay)}, nil
}

func (s *slowMembers) EarlyInserts(ctx context.Context, tenant string, version int64) (store.EarlyInserts, error) {
	if ew, ok := s.Store.(store.EarlyWriter); ok {
		return ew.EarlyInserts(ctx, tenant, version)
	}
	return nil, nil
}

type slowLoad struct {
	s     *slowMembers
	inner store.RestLoad
	ready time.Time
}

func (l *slowLoad) None() bool { return l.inner.None() }

func (l *slowLoad) Wait(st *change.State) error {
	l.s.waits.Add(1)
	time.Sleep(time.Until(l.ready))
	if l.s.fail != nil {
		return l.s.fail
	}
	return l.inner.Wait(st)
}

func (l *slowLoad) Close() {
	l.inner.Close()
	l.s.closes.Add(1)
}

// serialStore hides the staged load: the importer loads the whole state before reading.
type serialStore struct{ store.Store }

// The stored groups and memberships load while the file's persons are read (issue 18), and the
// diff must never see them missing or in part: a diff against none of them would insert every
// membership again and remove none. With them handed over long after the reader started,
// every kind of night plans exactly as with the state loaded first, on both stores.
func TestDelayedMembershipsPlanAsIfLoadedFirst(t *testing.T) {
	defer importer.SetEarlyMinSize(0)() // the early copy's initial loads too, on small files
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		slow := &slowMembers{Store: e.st, delay: 60 * time.Millisecond}
		staged := importer.New(importer.Params{Config: e.cfg, Store: slow, Mailer: mailer.New(nil, e.cfg.Outbox, nil)})
		serial := importer.New(importer.Params{Config: e.cfg, Store: serialStore{e.st}, Mailer: mailer.New(nil, e.cfg.Outbox, nil)})
		ctx := context.Background()

		night1 := e.file("night1.xml", feedgen.Options{})
		r, err := staged.ImportFile(ctx, e.tenant, night1, importer.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Completed)
		if r.Counts.Persons.Inserted != 600 || r.Counts.Memberships.Inserted == 0 || e.status().Memberships.Synced != r.Counts.Memberships.Inserted {
			t.Fatalf("initial load: %+v, status %+v", r.Counts, e.status())
		}

		plan := func(im *importer.Importer, path string) []byte {
			t.Helper()
			var p *change.Plan
			r, err := im.ImportFile(ctx, e.tenant, path, importer.ImportOptions{DryRun: true, Plan: func(x *change.Plan) { p = x }})
			if err != nil || p == nil {
				t.Fatalf("plan %s: %v (run %+v)", path, err, r.Error)
			}
			r.StartedAt, r.FinishedAt, r.DurationSeconds = time.Time{}, nil, nil // the clock's
			b, err := json.Marshal(struct {
				Plan *change.Plan
				Run  *runs.Run
			}{p, r})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		persons := e.write("persons.xml", []byte(strings.Join(strings.SplitAfter(string(read(t, night1)), "</person>")[:3], "")+"\n</enterprise>\n"))
		files := []string{night1, e.file("renamed.xml", feedgen.Options{RenamePercent: 1}), e.file("drop.xml", feedgen.Options{DropPercent: 5}),
			e.file("night2.xml", feedgen.Options{Night: 2}), persons}
		for _, mode := range []string{config.ModeSnapshot, config.ModeEvent} {
			e.tenant.Mode = mode
			for _, f := range files {
				waits := slow.waits.Load()
				want, got := plan(serial, f), plan(staged, f)
				if string(got) != string(want) {
					t.Fatalf("%s in %s mode: the plan made while the groups and memberships loaded differs from the one made after:\n got %s\nwant %s", f, mode, got, want)
				}
				if slow.waits.Load() == waits {
					t.Fatalf("%s: the diff never waited for the groups and memberships", f)
				}
			}
		}
		e.tenant.Mode = config.ModeSnapshot

		// And applied: an unchanged night changes nothing, a dropped share is removed.
		v := e.status().StateVersion
		r, err = staged.ImportFile(ctx, e.tenant, night1, importer.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Completed)
		if c := r.Counts.Memberships; c.Inserted+c.Deleted+c.Updated != 0 || e.status().StateVersion != v {
			t.Fatalf("an unchanged night changed memberships: %+v", c)
		}
	})
}

// A membership load that fails fails the run with the store's error: never a plan against the
// memberships loaded so far (it would remove the rest), never an error blamed on the file.
func TestMembershipLoadFailureFailsTheRun(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		night1 := e.file("night1.xml", feedgen.Options{})
		wantStatus(t, e.imp(night1), runs.Completed)
		before := e.status()

		slow := &slowMembers{Store: e.st, delay: 50 * time.Millisecond, fail: errors.New("the disk under the database is gone")}
		im := importer.New(importer.Params{Config: e.cfg, Store: slow, Mailer: mailer.New(nil, e.cfg.Outbox, nil)})
		r, err := im.ImportFile(context.Background(), e.tenant, e.file("drop.xml", feedgen.Options{DropPercent: 5}), importer.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Failed)
		if r.FileFault() || !strings.HasPrefix(r.Error.Message, "load state: ") || !strings.Contains(r.Error.Message, "the disk under the database is gone") {
			t.Fatalf("the failed load's run error: %+v", r.Error)
		}
		if after := e.status(); after != before {
			t.Fatalf("a run whose memberships did not load changed the state: %+v, before %+v", after, before)
		}
		if slow.closes.Load() != 1 {
			t.Fatalf("the load was closed %d times, want once", slow.closes.Load())
		}

		// A file broken among its persons fails before the memberships are needed: the load
		// is stopped, not left running.
		slow.fail = nil
		data := strings.Replace(string(read(t, night1)), "</person>", "</person><person><", 1)
		r, err = im.ImportFile(context.Background(), e.tenant, e.write("broken.xml", []byte(data)), importer.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Failed)
		if !r.FileFault() || slow.closes.Load() != 2 {
			t.Fatalf("a broken file: error %+v, loads closed %d, want 2", r.Error, slow.closes.Load())
		}
	})
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
