package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/schemas"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "state.db")) })
}

func TestStateIndexRepair(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	defer s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) error { _, err := db.Exec(q); return err }
	storetest.IndexRepair(t, s, exec)
	// The check and the rebuild in blocks of one entry: every bucket a block of its own, each
	// read and rebuilt apart (a large tenant's are blocks of half a million entries).
	t.Run("InBlocks", func(t *testing.T) {
		defer sqlstore.SetBlockEntries(1)()
		storetest.IndexRepair(t, s, exec)
	})
	t.Run("StreamReadsPacks", func(t *testing.T) { storetest.StreamReadsPacks(t, s, exec) })
	t.Run("PiecesOverADamagedIndex", func(t *testing.T) { storetest.PiecesOverADamagedIndex(t, s, exec) })
}

// TestLockAcrossProcesses holds a tenant's lock in a real child process (this test binary run
// again), checks that this process cannot take it, kills the child with SIGKILL and checks
// that the lock is free again.
func TestLockAcrossProcesses(t *testing.T) {
	if os.Getenv("IMSFEED_LOCK_CHILD") != "" {
		return // the child's work is done in TestMain
	}
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	defer s.Close()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "IMSFEED_LOCK_CHILD="+path)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill() //nolint:errcheck // already dead when the test passes
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	ctx := context.Background()
	if _, err := s.LockTenant(ctx, "north", 200*time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("lock held by another process: got %v, want ErrLocked", err)
	}
	other, err := s.LockTenant(ctx, "south", 0)
	if err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	other()
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	release, err := s.LockTenant(ctx, "north", 5*time.Second)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	release()
}

func TestMain(m *testing.M) {
	if path := os.Getenv("IMSFEED_LOCK_CHILD"); path != "" {
		s, err := sqlite.Open(context.Background(), path)
		if err == nil {
			_, err = s.LockTenant(context.Background(), "north", time.Second)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute) // killed by the parent
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestStateFilesAreOwnerOnly: the database holds personal data, so it, its -wal and -shm files
// and the tenant lock files are created readable by their owner only, whatever the umask.
func TestStateFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "state.db"))
	defer s.Close()
	release, err := s.LockTenant(context.Background(), "north", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := s.LoadState(context.Background(), "north"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		if p == dir {
			return nil
		}
		seen = append(seen, filepath.Base(p))
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s is %v, want no access for group or others", p, perm)
		}
		return nil
	})
	if len(seen) < 4 { // state.db, state.db-wal, state.db-shm, state.db.locks, its lock file
		t.Errorf("files: %v", seen)
	}
}

// TestNewDatabaseOpenedByManyAtOnce guards against two processes (cron's run --all beside
// serve, say) opening a state database that does not exist yet at the same moment: SQLite
// answers the loser's switch to WAL with "database is locked" without waiting.
func TestNewDatabaseOpenedByManyAtOnce(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "state.db")
		errs := make(chan error, 6)
		for range cap(errs) {
			go func() {
				s, err := sqlite.Open(ctx, path)
				if err == nil {
					_, err = s.Status(ctx, "t")
					s.Close()
				}
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

// A store made before the state index (migration 0006) holds rows and no index: the upgrade
// marks the index stale, loads read the rows, and the next apply builds the index.
func TestStateIndexAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := schemas.Migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	names, _ := fs.Glob(all, "*.sql")
	for _, n := range names {
		if n < "0006" {
			b, _ := fs.ReadFile(all, n)
			older[n] = &fstest.MapFile{Data: b}
		}
	}
	if err := sqlstore.Migrate(ctx, db, older, false, ""); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO tenants (id, state_version) VALUES ('old', 3)`,
		`INSERT INTO persons (tenant, key, name, hash) VALUES ('old', 'p1', 'Ada', x'00112233445566778899aabbccddeeff')`,
		`INSERT INTO memberships (tenant, group_key, member_key, role, member_type, hash) VALUES ('old', 'g1', 'p1', '01', 1, x'00112233445566778899aabbccddeeff')`,
		// a manual membership of a tenant the old store had no tenants row for
		`INSERT INTO memberships (tenant, group_key, member_key, role, member_type, hash, origin) VALUES ('rowless', 'g1', 'p1', '02', 1, zeroblob(16), 'manual')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, path)
	defer s.Close()
	for _, tenant := range []string{"old", "rowless"} {
		st, err := s.LoadState(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if st.Memberships.Len() != 1 {
			t.Errorf("%s after the upgrade: %d memberships loaded, want the 1 in the rows", tenant, st.Memberships.Len())
		}
		r, err := s.CheckIndex(ctx, tenant, false)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Stale() || r.Memberships != 1 {
			t.Errorf("%s after the upgrade: %+v, want a stale index and 1 membership in the rows", tenant, r)
		}
	}
	st, _ := s.LoadState(ctx, "old")
	p := record.Person{Key: "p2", Name: "Alan"}
	p.ComputeHash()
	plan := &change.Plan{Tenant: "old", BaseVersion: st.Version, Persons: []change.Person{{Op: change.Insert, Person: p}}}
	if err := s.Apply(ctx, store.ApplyParams{Plan: plan, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.CheckIndex(ctx, "old", false); err != nil || !r.OK() || r.Persons != 2 {
		t.Errorf("after the first apply: %+v %v, want a current index of 2 persons", r, err)
	}
}

func TestUndoInManyParts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	defer s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.UndoInManyParts(t, s, func(q string) (n int, err error) { err = db.QueryRow(q).Scan(&n); return n, err })
}

// A store a newer imsfeed migrated is refused, naming the migration this imsfeed lacks, and the
// attempt changes nothing: not even this imsfeed's own migrations the store lacks are applied.
func TestNewerStoreRefused(t *testing.T) {
	all, err := schemas.Migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(all, "*.sql")
	const layout = `SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name`
	for _, c := range []struct {
		name string
		fsys fs.FS // the migrations applied before the newer imsfeed's; nil: a store this imsfeed opened
	}{
		{"Current", nil},
		{"LackingTheLast", storetest.MigrationsBefore(t, all, names[len(names)-1])},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if c.fsys == nil {
				open(t, path).Close()
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if c.fsys != nil {
				if err := sqlstore.Migrate(context.Background(), db, c.fsys, false, ""); err != nil {
					t.Fatal(err)
				}
			}
			storetest.NewerStoreRefused(t, db, all, layout, func() (store.Store, error) {
				return sqlite.Open(context.Background(), path)
			})
		})
	}
}
