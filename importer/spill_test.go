package importer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// TestMain runs the whole suite with a re-import's diff keeping at most 4 KiB of the file's
// memberships in memory: every re-import of a feedgen file writes its scratch file, a small
// scenario's does not.
func TestMain(m *testing.M) {
	restore := importer.SetSpillBudget(4 << 10)
	code := m.Run()
	restore()
	os.Exit(code)
}

// planOf makes tenant t's plan of path with im (a dry run), as stored and with its run's
// warnings, counts and error, the clock's fields cleared, and the stored names it keeps for
// the reports.
func planOf(t *testing.T, im *importer.Importer, tn *config.Tenant, path string) string {
	t.Helper()
	var p *change.Plan
	r, err := im.ImportFile(context.Background(), tn, path, importer.ImportOptions{DryRun: true, Plan: func(x *change.Plan) { p = x }})
	if err != nil {
		t.Fatalf("plan %s: %v", path, err)
	}
	r.StartedAt, r.FinishedAt, r.DurationSeconds = time.Time{}, nil, nil
	var names change.Names
	if p != nil {
		names = p.Names
	}
	b, err := json.Marshal(struct {
		Plan  *change.Plan
		Names change.Names
		Run   *runs.Run
	}{p, names, r})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// samePlanBothWays fails the test unless the plan of path made against the stored memberships
// and persons as a set and a map (the whole state loaded first) and the one made against them
// read at the diff's end and held as an index (the state index current) are the same, to the
// byte.
func samePlanBothWays(t *testing.T, e *env, path string) {
	t.Helper()
	serial := importer.New(importer.Params{Config: e.cfg, Store: serialStore{e.st}, Mailer: mailer.New(nil, e.cfg.Outbox, nil)})
	want, got := planOf(t, serial, e.tenant, path), planOf(t, e.im, e.tenant, path)
	if got != want {
		t.Fatalf("%s: the plan made against the stored memberships read at the end differs from the one made against them as a set:\n got %s\nwant %s",
			filepath.Base(path), got, want)
	}
}

// The corpus of real files (/work/shared/corpus, when present), all imported into one tenant,
// first as event files (so their memberships pile up), then as snapshots: before each import,
// the plan made the spilled way is the in-memory one, to the byte; so are the failures.
func TestSpilledPlansOfTheCorpus(t *testing.T) {
	const corpus = "/work/shared/corpus"
	files, _ := filepath.Glob(filepath.Join(corpus, "*", "*.xml"))
	if len(files) == 0 {
		t.Skip("no corpus at " + corpus)
	}
	sort.Strings(files)
	defer importer.SetSpillBudget(64)()
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		all := 100.0
		e := newEnv(t, open, func(tn *config.Tenant) {
			tn.Courses.Types = []string{"Course", "course", "CourseSection", "Section"}
			tn.Lenient = true
			tn.Safety.MinChanges = 1 << 20
			tn.Safety.WindowDays = 0
			tn.Safety.MaxSkipped = safety.Limit{MaxPercent: &all}
		})
		compared := 0
		for _, mode := range []string{config.ModeEvent, config.ModeSnapshot} {
			e.tenant.Mode = mode
			for _, f := range append(files, files...) {
				if e.status().Memberships.Synced > 0 {
					samePlanBothWays(t, e, f)
					compared++
				}
				if r := e.imp(f); r.Status == runs.Held {
					if _, err := e.im.Approve(context.Background(), importer.Decision{RunID: r.ID, By: "ops", Reason: "test"}); err != nil {
						t.Fatalf("%s: approve: %v", f, err)
					}
				}
			}
		}
		if compared < len(files) {
			t.Fatalf("only %d imports of the %d corpus files were planned against stored memberships", compared, len(files))
		}
	})
}

// Random nights (the undo property's world, with memberships turned manual by the platform):
// each night's plan is the same both ways, then it is applied (approved when held).
func TestSpilledPlansOfRandomNights(t *testing.T) {
	defer importer.SetSpillBudget(64)()
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			tn.Courses.Types = []string{"Course"}
			tn.Safety.MinChanges = 1000
			tn.Safety.WindowDays = 0
		})
		w := newWorld(1812)
		made := importer.ScratchFilesMade()
		for night := range 25 {
			if night > 0 && night%4 == 0 {
				g := sortedKeys(w.groups)
				_ = e.st.AddManualMembership(ctx, e.tenant.ID, store.ManualMembership{Group: g[w.rng.IntN(len(g))], Member: worldPersons[w.rng.IntN(len(worldPersons))], Role: "03", MemberType: 1})
			}
			path := e.write(fmt.Sprintf("night%02d.xml", night), w.xml())
			if night > 0 {
				samePlanBothWays(t, e, path)
			}
			r := e.imp(path)
			w.night()
			if r.Status == runs.Held {
				if _, err := e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "ops", Reason: "test"}); err != nil {
					t.Fatalf("night %d: approve: %v", night, err)
				}
			}
		}
		if importer.ScratchFilesMade() == made {
			t.Fatal("no night wrote a scratch file: the spilled way was not exercised")
		}
	})
}

// The scratch file a re-import writes its memberships to is gone after the run, whatever
// became of it: completed, failed on a bad file, or interrupted while reading.
func TestScratchFileIsGoneAfterTheRun(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp) // where the scratch files go
		night1 := e.file("night1.xml", feedgen.Options{})
		wantStatus(t, e.imp(night1), runs.Completed)
		left := func(what string) {
			t.Helper()
			if files, _ := os.ReadDir(tmp); len(files) != 0 {
				t.Fatalf("%s: %d files left in the temporary folder (%s)", what, len(files), files[0].Name())
			}
		}
		made := importer.ScratchFilesMade()
		r := e.imp(e.file("renamed.xml", feedgen.Options{RenamePercent: 1}))
		wantStatus(t, r, runs.Completed)
		if r.Counts.Persons.Updated == 0 || importer.ScratchFilesMade() == made {
			t.Fatalf("the re-import wrote no scratch file (%d made) or changed nothing: %+v", importer.ScratchFilesMade()-made, r.Counts)
		}
		left("completed")

		// A snapshot listing a membership twice fails at the diff's end, after spilling.
		data := string(read(t, night1))
		i := strings.LastIndex(data, "<member>")
		j := strings.Index(data[i:], "</member>") + i + len("</member>")
		made = importer.ScratchFilesMade()
		r = e.imp(e.write("twice.xml", []byte(data[:j]+data[i:j]+data[j:])))
		wantStatus(t, r, runs.Failed)
		if !r.FileFault() || !strings.Contains(r.Error.Message, "duplicate membership key") || importer.ScratchFilesMade() == made {
			t.Fatalf("a membership listed twice: %+v (%d scratch files)", r.Error, importer.ScratchFilesMade()-made)
		}
		left("failed")

		// Interrupted (Ctrl-C) as soon as the scratch file is made.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		defer importer.OnScratchFile(cancel)()
		before := e.status()
		made = importer.ScratchFilesMade()
		r, err := e.im.ImportFile(ctx, e.tenant, e.file("drop.xml", feedgen.Options{DropPercent: 5}), importer.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Failed)
		if r.Error.Message != importer.Interrupted || importer.ScratchFilesMade() == made {
			t.Fatalf("interrupted: %+v (%d scratch files)", r.Error, importer.ScratchFilesMade()-made)
		}
		if after := e.status(); after != before {
			t.Fatalf("an interrupted run changed the state: %+v, before %+v", after, before)
		}
		left("interrupted")
	})
}

// failingMembers is a store whose staged loads' stored memberships (read at the diff's end)
// fail after n; with persons, their stored persons do (read again at the diff's end).
type failingMembers struct {
	store.Store
	n       int
	persons bool
}

func (s *failingMembers) LoadStateStaged(ctx context.Context, tenant string) (*change.State, store.RestLoad, error) {
	st, inner, err := s.Store.(store.StagedLoader).LoadStateStaged(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	if x := st.StoredPersons; x != nil && s.persons {
		// The store's persons, given again by a source that fails after n on every read but
		// the first (the index's). (Read once the rest is loaded: the load's transaction is
		// one goroutine's at a time.)
		if err := inner.Wait(st); err != nil {
			return nil, nil, err
		}
		all := map[string]change.PersonState{}
		if err := x.EachOnce(func(k string, p change.PersonState) error { all[k] = p; return nil }); err != nil {
			return nil, nil, err
		}
		reads := 0
		if st.StoredPersons, err = change.LoadPersonIndex(failingPersons{change.PersonList{Persons: all}, s.n, &reads}, len(all)); err != nil {
			return nil, nil, err
		}
		return st, inner, nil
	}
	return st, failingLoad{inner, s.n}, nil
}

type failingLoad struct {
	store.RestLoad
	n int
}

func (l failingLoad) Wait(st *change.State) error {
	if err := l.RestLoad.Wait(st); err != nil {
		return err
	}
	if st.Stored != nil {
		st.Stored = failingSource{st.Stored, l.n}
	}
	return nil
}

type failingPersons struct {
	inner change.PersonList
	n     int
	reads *int
}

func (s failingPersons) Each(only map[string]bool, fn func(string, change.PersonState) error) error {
	*s.reads++
	i := 0
	return s.inner.Each(only, func(k string, p change.PersonState) error {
		if *s.reads > 1 && i == s.n {
			return errors.New("the connection to the database was lost")
		}
		i++
		return fn(k, p)
	})
}

type failingSource struct {
	inner change.StoredMemberships
	n     int
}

func (s failingSource) Each(fn func(record.MembershipKey, change.MembershipState) error) error {
	i := 0
	return s.inner.Each(func(k record.MembershipKey, m change.MembershipState) error {
		if i == s.n {
			return errors.New("the connection to the database was lost")
		}
		i++
		return fn(k, m)
	})
}

// Stored memberships that fail to read part-way fail the run with the store's error and
// change nothing: a plan against the ones read so far would remove the rest.
func TestStoredMembershipsFailingPartWayFailTheRun(t *testing.T) {
	failingPartWayFailsTheRun(t, false, func(e *env) int { return e.status().Memberships.Synced })
}

// Stored persons that fail to read part-way when read again at the diff's end (for the ones
// going to the trash can) fail the run with the store's error and change nothing.
func TestStoredPersonsFailingPartWayFailTheRun(t *testing.T) {
	failingPartWayFailsTheRun(t, true, func(e *env) int { return e.status().Persons.Active })
}

// failingPartWayFailsTheRun re-imports with the stored memberships (or persons) failing after
// 0, 100 and all but one of stored of them: each run fails as "load state: ..." with the
// store's error, and the state is as before.
func failingPartWayFailsTheRun(t *testing.T, persons bool, stored func(*env) int) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		wantStatus(t, e.imp(e.file("night1.xml", feedgen.Options{})), runs.Completed)
		before := storetest.Dump(t, e.st, e.tenant.ID)
		for _, n := range []int{0, 100, stored(e) - 1} {
			im := importer.New(importer.Params{Config: e.cfg, Store: &failingMembers{e.st, n, persons}, Mailer: mailer.New(nil, e.cfg.Outbox, nil)})
			r, err := im.ImportFile(context.Background(), e.tenant, e.file("drop.xml", feedgen.Options{DropPercent: 5}), importer.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, r, runs.Failed)
			if r.FileFault() || !strings.HasPrefix(r.Error.Message, "load state: ") || !strings.Contains(r.Error.Message, "connection to the database was lost") {
				t.Fatalf("failing after %d: the run's error %+v", n, r.Error)
			}
			storetest.SameState(t, fmt.Sprintf("failing after %d", n), storetest.Dump(t, e.st, e.tenant.ID), before)
		}
	})
}
