package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	_ "github.com/lib/pq" // the cleanup's admin connection

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/storeurl"
)

// The import cases run the real importer (importer.New + ImportFile) on FILE into a store:
//
//	<store>-initial    a new, empty tenant (PostgreSQL: in a new schema; SQLite: a new file)
//	<store>-unchanged  the file the tenant last imported, again: nothing changes
//	<store>-1pct       the other one of FILE and its 1 %-renamed twin: ~1 % person updates
//
// They run in that order (the later ones continue the tenant the last -initial made) and read
// their settings from the environment:
//
//	IMSFEED_BENCH_POSTGRES_URL  the PostgreSQL server of the pg-* cases
//	IMSFEED_BENCH_RENAMED       FILE's twin with 1 % of the persons renamed (default FILE-rename1.xml)
//	IMSFEED_BENCH_STATE_DIR     where the tenant's state (and SQLite files) live (default FILE's folder)
//	IMSFEED_BENCH_CPUPROFILE    a folder: each import case writes CASE.pprof there
//	IMSFEED_BENCH_MEMPROFILE    a folder: each import case writes CASE.heap there, the live heap
//	                            as the apply starts (an initial load's peak), and, when it loads
//	                            a stored state, CASE.loaded.heap as the load's second stage ends
//	                            (while the file is read: the stored state as a re-import holds it,
//	                            with the reading's records in flight); each costs a GC, so time
//	                            figures of such a run are a little off
//
// The safety filter is off for the bench tenant: it must not hold a measured run.

const (
	envPostgres   = "IMSFEED_BENCH_POSTGRES_URL"
	envRenamed    = "IMSFEED_BENCH_RENAMED"
	envStateDir   = "IMSFEED_BENCH_STATE_DIR"
	envCPUProfile = "IMSFEED_BENCH_CPUPROFILE"
	envMemProfile = "IMSFEED_BENCH_MEMPROFILE"
)

// importCases are appended to cases (cases.go) by init.
func importCases() []benchCase {
	var cs []benchCase
	for _, kind := range []string{"pg", "sqlite"} {
		for _, step := range []struct{ name, about string }{
			{"initial", "importer.ImportFile into a new empty tenant"},
			{"unchanged", "the same file again (run after -initial)"},
			{"1pct", "the file with 1% of persons renamed (run after -initial)"},
		} {
			name := kind + "-" + step.name
			cs = append(cs, benchCase{name: name, about: step.about + " on " + kind,
				phased: func(ctx context.Context, f *os.File) (map[string]int, map[string]float64, error) {
					return importCase(ctx, name, kind, step.name, f.Name())
				}})
		}
	}
	return cs
}

// importState is what the -initial case leaves for the later ones, one file per store kind.
type importState struct {
	Tenant  string   `json:"tenant"`
	URL     string   `json:"url"`     // the store URL (with the schema, for PostgreSQL)
	Last    string   `json:"last"`    // the file last imported
	Schemas []string `json:"schemas"` // every PostgreSQL schema made so far, for cleanup
	Files   []string `json:"files"`   // every SQLite file made so far, for cleanup
}

func statePath(kind, file string) string {
	dir := os.Getenv(envStateDir)
	if dir == "" {
		dir = filepath.Dir(file)
	}
	return filepath.Join(dir, "bench-import-"+kind+".json")
}

func loadImportState(path string) (*importState, error) {
	var st importState
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

func (st *importState) save(path string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func renamedFile(file string) string {
	if f := os.Getenv(envRenamed); f != "" {
		return f
	}
	return strings.TrimSuffix(file, ".xml") + "-rename1.xml"
}

// importCase prepares the tenant for step, imports, checks the run did what the step means,
// and returns counts and the time of each phase (seconds).
func importCase(ctx context.Context, name, kind, step, file string) (map[string]int, map[string]float64, error) {
	sp := statePath(kind, file)
	st, err := loadImportState(sp)
	if err != nil {
		return nil, nil, err
	}
	target := file
	switch step {
	case "initial":
		st.Tenant = fmt.Sprintf("bench-%08x", rand.Uint32())
		if st.URL, err = newStoreURL(ctx, kind, sp, st); err != nil {
			return nil, nil, err
		}
	case "unchanged":
		if st.Tenant == "" {
			return nil, nil, fmt.Errorf("%s: no bench tenant yet: run %s-initial first", name, kind)
		}
		if st.Last != "" {
			target = st.Last
		}
	case "1pct":
		if st.Tenant == "" {
			return nil, nil, fmt.Errorf("%s: no bench tenant yet: run %s-initial first", name, kind)
		}
		// Alternate between the file and its twin: each is a 1 % rename of the other.
		if st.Last != renamedFile(file) {
			target = renamedFile(file)
		}
		if _, err := os.Stat(target); err != nil {
			return nil, nil, fmt.Errorf("%s: the 1%%-renamed twin of %s: %w (set %s, or generate it with feedgen -rename 1)", name, file, err, envRenamed)
		}
	}

	if dir := os.Getenv(envCPUProfile); dir != "" {
		pf, err := os.Create(filepath.Join(dir, name+".pprof"))
		if err != nil {
			return nil, nil, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return nil, nil, err
		}
		defer pprof.StopCPUProfile()
	}

	phases := map[string]float64{}
	t0 := time.Now()
	s, err := storeurl.Open(ctx, st.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: open store: %w", name, err)
	}
	defer s.Close()
	phases["open"] = time.Since(t0).Seconds()

	ts := &timingStore{Store: s}
	if dir := os.Getenv(envMemProfile); dir != "" {
		ts.heapProfile = filepath.Join(dir, name+".heap")
	}
	tenant := config.DefaultTenant(st.Tenant)
	tenant.Safety = safety.Policy{} // every limit off: the bench must not be held
	cfg := &config.Config{LockWait: time.Minute, Tenants: []config.Tenant{tenant}}
	im := importer.New(importer.Params{Config: cfg, Store: ts})
	t1 := time.Now()
	run, err := im.ImportFile(ctx, &tenant, target, importer.ImportOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	end := time.Now()
	if run.Status != runs.Completed {
		msg := ""
		if run.Error != nil {
			msg = run.Error.Message
		}
		return nil, nil, fmt.Errorf("%s: run %d of %s is %s, want completed %s", name, run.ID, target, run.Status, msg)
	}
	phases["import"] = end.Sub(t1).Seconds()
	phases["loadstate"] = ts.loadState.Seconds()
	phases["rest-load"] = ts.restLoad.Seconds()
	phases["rest-wait"] = ts.restWait.Seconds()
	phases["apply"] = ts.apply.Seconds()
	if ts.stats > 0 {
		phases["stats"] = ts.stats.Seconds()
	}
	applyStart := end
	if !ts.applyStart.IsZero() {
		applyStart = ts.applyStart
	}
	// read+diff is everything between the state being loaded and the apply starting: reading
	// the XML into the diff, finishing the plan and the safety check.
	phases["read+diff"] = applyStart.Sub(ts.loadEnd).Seconds()

	c := run.Counts
	counts := map[string]int{
		"persons": c.Persons.After, "groups": c.Groups.After, "memberships": c.Memberships.After,
		"inserted": c.Persons.Inserted + c.Groups.Inserted + c.Memberships.Inserted,
		"updated":  c.Persons.Updated + c.Groups.Updated + c.Memberships.Updated,
		"deleted":  c.Persons.Deleted + c.Groups.Deleted + c.Memberships.Deleted,
	}
	// What undo keeps of the run (its before-images), and the store's size beside it.
	if n, err := s.UndoSize(ctx, run.ID); err == nil {
		counts["undo_KiB"] = int(n >> 10)
	}
	if n, err := storeSize(ctx, st.URL); err == nil {
		counts["store_KiB"] = int(n >> 10)
	}
	// A run that did something else than its step means measures the wrong thing.
	switch {
	case step == "initial" && (c.Persons.Before != 0 || counts["inserted"] == 0):
		return nil, nil, fmt.Errorf("%s: not an initial load: %+v", name, c)
	case step == "unchanged" && counts["inserted"]+counts["updated"]+counts["deleted"] != 0:
		return nil, nil, fmt.Errorf("%s: the same file changed something: %+v", name, c)
	case step == "1pct" && (c.Persons.Updated == 0 || c.Persons.Updated > c.Persons.Before/50):
		return nil, nil, fmt.Errorf("%s: %d of %d persons updated, want about 1%%", name, c.Persons.Updated, c.Persons.Before)
	}
	st.Last = target
	if err := st.save(sp); err != nil {
		return nil, nil, err
	}
	return counts, phases, nil
}

// newStoreURL makes a new empty store for an initial load: a schema of its own on PostgreSQL
// (so the tables and their indexes start empty), a new file for SQLite.
func newStoreURL(ctx context.Context, kind, statePath string, st *importState) (string, error) {
	switch kind {
	case "sqlite":
		f, err := filepath.Abs(filepath.Join(filepath.Dir(statePath), st.Tenant+".db"))
		if err != nil {
			return "", err
		}
		st.Files = append(st.Files, f)
		return "sqlite://" + f, st.save(statePath)
	case "pg":
		base := os.Getenv(envPostgres)
		if base == "" {
			return "", fmt.Errorf("pg cases: set %s (scripts/bench.sh starts a throwaway server when it is unset)", envPostgres)
		}
		schema := "imsfeed_bench_" + strings.TrimPrefix(st.Tenant, "bench-")
		db, err := sql.Open("postgres", base)
		if err != nil {
			return "", err
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			return "", fmt.Errorf("create schema: %w", err)
		}
		st.Schemas = append(st.Schemas, schema)
		if err := st.save(statePath); err != nil {
			return "", err
		}
		u, err := url.Parse(base)
		if err != nil {
			return "", fmt.Errorf("%s is not a URL", envPostgres)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return "", fmt.Errorf("unknown store kind %q", kind)
}

// cleanupImports drops what the import cases made next to file (schemas on the server pgURL,
// SQLite files, state).
func cleanupImports(ctx context.Context, file, pgURL string) error {
	var errs []error
	for _, kind := range []string{"pg", "sqlite"} {
		sp := statePath(kind, file)
		st, err := loadImportState(sp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(st.Schemas) > 0 {
			db, err := sql.Open("postgres", pgURL)
			if err == nil {
				for _, s := range st.Schemas {
					if _, err := db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+s+" CASCADE"); err != nil {
						errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
					}
				}
				db.Close()
			} else {
				errs = append(errs, err)
			}
		}
		for _, f := range st.Files {
			for _, suffix := range []string{"", "-wal", "-shm", "-journal", ".locks"} {
				os.RemoveAll(f + suffix)
			}
		}
		os.Remove(sp)
	}
	return errors.Join(errs...)
}

// timingStore measures the store's share of an import: LoadState and Apply.
type timingStore struct {
	store.Store
	loadState, apply time.Duration
	stats            time.Duration // refreshing the planner's statistics after the apply
	restLoad         time.Duration // a staged load's second stage, from its first stage's end
	restWait         time.Duration // how long the import waited for it
	loadEnd          time.Time
	applyStart       time.Time
	heapProfile      string // written as Apply starts, when set
}

func (s *timingStore) LoadState(ctx context.Context, tenant string) (*change.State, error) {
	t := time.Now()
	st, err := s.Store.LoadState(ctx, tenant)
	s.loadEnd = time.Now()
	s.loadState += s.loadEnd.Sub(t)
	if err == nil && s.heapProfile != "" {
		// The loaded state is most of a re-import's live heap: its profile shows what it is made of.
		if err := writeHeapProfile(strings.TrimSuffix(s.heapProfile, ".heap") + ".loaded.heap"); err != nil {
			return nil, err
		}
	}
	return st, err
}

// writeHeapProfile writes the live heap (after a GC) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	err = pprof.WriteHeapProfile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// LoadStateStaged passes the store's staged load on (store.StagedLoader): loadstate is then
// its first stage, restLoad how long its second (groups and memberships) took beside the
// reading, and restWait how long the diff stood waiting for it.
func (s *timingStore) LoadStateStaged(ctx context.Context, tenant string) (*change.State, store.RestLoad, error) {
	l := &timedLoad{s: s, done: make(chan struct{})}
	sl, ok := s.Store.(store.StagedLoader)
	if !ok {
		st, err := s.LoadState(ctx, tenant)
		if err != nil {
			return nil, nil, err
		}
		l.rest = &change.State{Groups: st.Groups, Memberships: st.Memberships}
		st.Groups, st.Memberships = nil, nil
		close(l.done)
		return st, l, nil
	}
	t := time.Now()
	st, inner, err := sl.LoadStateStaged(ctx, tenant)
	s.loadEnd = time.Now()
	s.loadState += s.loadEnd.Sub(t)
	if err != nil {
		return nil, nil, err
	}
	l.inner, l.rest = inner, &change.State{}
	go func() {
		defer close(l.done)
		l.err = inner.Wait(l.rest)
		s.restLoad += time.Since(s.loadEnd)
		if l.err == nil && s.heapProfile != "" {
			// The same path as an unprofiled run: a state whose memberships come as a source
			// (change.State.Stored) is profiled as the diff holds it, not loaded whole.
			l.err = writeHeapProfile(strings.TrimSuffix(s.heapProfile, ".heap") + ".loaded.heap")
		}
	}()
	return st, l, nil
}

// timedLoad is a store.RestLoad that times the waiting for it.
type timedLoad struct {
	s     *timingStore
	inner store.RestLoad
	done  chan struct{}
	rest  *change.State // its groups and memberships
	err   error
}

func (l *timedLoad) None() bool {
	if l.inner == nil {
		return l.rest.Memberships.Len() == 0
	}
	return l.inner.None()
}

func (l *timedLoad) Wait(st *change.State) error {
	t := time.Now()
	<-l.done
	l.s.restWait += time.Since(t)
	if l.err != nil {
		return l.err
	}
	st.Groups, st.Memberships, st.Stored = l.rest.Groups, l.rest.Memberships, l.rest.Stored
	return nil
}

func (l *timedLoad) Close() {
	if l.inner != nil {
		l.inner.Close()
	}
	<-l.done
}

// EarlyInserts passes the store's early writing of an initial load on (store.EarlyWriter).
func (s *timingStore) EarlyInserts(ctx context.Context, tenant string, version int64) (store.EarlyInserts, error) {
	if ew, ok := s.Store.(store.EarlyWriter); ok {
		return ew.EarlyInserts(ctx, tenant, version)
	}
	return nil, nil
}

func (s *timingStore) Apply(ctx context.Context, p store.ApplyParams) error {
	if s.heapProfile != "" {
		if err := writeHeapProfile(s.heapProfile); err != nil {
			return err
		}
	}
	s.applyStart = time.Now()
	err := s.Store.Apply(ctx, p)
	s.apply += time.Since(s.applyStart)
	return err
}

// RefreshStats passes the importer's call after a committed apply on (store.PlannerStats), as
// a user's store gets it, and times it.
func (s *timingStore) RefreshStats(ctx context.Context, tenant string, added map[string]int) ([]string, error) {
	ps, ok := s.Store.(store.PlannerStats)
	if !ok {
		return nil, nil
	}
	t := time.Now()
	defer func() { s.stats += time.Since(t) }()
	return ps.RefreshStats(ctx, tenant, added)
}

// storeSize is the bench store's size on disk: the SQLite file with its WAL, or the tables and
// indexes of the PostgreSQL schema.
func storeSize(ctx context.Context, url string) (int64, error) {
	if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
		var n int64
		for _, f := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(f); err == nil {
				n += fi.Size()
			}
		}
		return n, nil
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = current_schema() AND c.relkind = 'r'`).Scan(&n)
	return n, err
}
