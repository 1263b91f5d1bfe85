package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/store"
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
