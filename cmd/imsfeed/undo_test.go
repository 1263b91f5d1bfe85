package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store/storetest"
	"github.com/imsfeed/imsfeed/store/storeurl"
)

// pgSchema creates a schema of its own on the test server (dropped after the test) and returns
// a URL whose search_path is that schema: its tables are this test's alone.
func pgSchema(t *testing.T) string { return storetest.PostgresSchema(t, "undo") }

// TestKillDuringUndoLeavesTheStateBefore: kill -9 an `imsfeed undo` while its one transaction
// writes (SQLite: it holds the write lock; PostgreSQL: it holds a row-exclusive lock on the
// memberships table): every table is as it was before the undo, no undo run is recorded, the
// tenant's lock is free, and the undo then goes through.
func TestKillDuringUndoLeavesTheStateBefore(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			tenant := tenantID("undokill")
			storeURL := "sqlite://" + filepath.Join(dir, "state.db")
			driver, dsn := "sqlite", filepath.Join(dir, "state.db")+"?_pragma=busy_timeout(0)"
			// writing says whether the undo's transaction is writing.
			writing := func(db *sql.DB) bool {
				conn, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
					return true // another connection holds the write lock
				}
				conn.ExecContext(ctx, "ROLLBACK") //nolint:errcheck // nothing was written
				return false
			}
			if kind == "postgres" {
				storeURL = pgSchema(t)
				driver, dsn = "postgres", storeURL
				writing = func(db *sql.DB) bool {
					var busy bool
					err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = to_regclass('membership_packs')
AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid())`).Scan(&busy)
					if err != nil {
						t.Fatal(err)
					}
					return busy
				}
			}
			cfg := writeConfig(t, dir, "imsfeed", storeURL, tenant, 10*time.Second)
			a := writeFeedFile(t, dir, "a.xml", feedgen.Options{Persons: 4000, Groups: 400, MembersPerGroup: 40, Seed: 5})
			imp := decodeRun(t, imsfeed(t, dir, "--config", cfg, "import", "--tenant", tenant, "--json", a))
			if imp.Status != "completed" {
				t.Fatalf("import: %+v", imp)
			}
			st, err := storeurl.Open(ctx, storeURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			before := storetest.Dump(t, st, tenant)
			probe, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer probe.Close()

			p := start(t, dir, "--config", cfg, "undo", fmt.Sprint(imp.ID), "--by", "ops", "--reason", "kill test")
			// The undo's transaction is under way once the write lock is held a while (a short
			// autocommit write first drops expired images).
			for seen := 0; seen < 5; {
				if writing(probe) {
					seen++
				} else {
					seen = 0
				}
				select {
				case <-p.done:
					t.Fatalf("the undo ended (%v) before it could be killed while writing: the tenant is too small for this machine\n%s", p.err, p.stderr())
				case <-time.After(time.Millisecond):
				}
			}
			p.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck // checked below
			<-p.done
			if p.stdout.Len() > 0 {
				t.Fatalf("the killed undo printed a result: %s", p.stdout.String())
			}

			storetest.SameState(t, "after the killed undo", storetest.Dump(t, st, tenant), before)
			if s := status(t, dir, cfg, tenant); s.StateVersion != 1 {
				t.Errorf("state version after the killed undo: %d, want 1", s.StateVersion)
			}
			if r := imsfeed(t, dir, "--config", cfg, "runs", "--tenant", tenant, "--json"); r.code != 0 || len(decodeRuns(t, r)) != 1 {
				t.Errorf("runs after the killed undo: %s", r.stdout)
			}
			// The lock went with the process; the undo goes through, and nothing is left.
			u := decodeRun(t, imsfeed(t, dir, "--config", cfg, "undo", fmt.Sprint(imp.ID), "--by", "ops", "--reason", "again", "--json"))
			if u.Status != "completed" {
				t.Fatalf("undo after the kill: %+v", u)
			}
			if s := status(t, dir, cfg, tenant); s.Persons.Active+s.Groups.Active+s.Memberships.Synced+s.Memberships.Manual != 0 || s.StateVersion != 2 {
				t.Errorf("after undoing the initial load: %+v", s)
			}
		})
	}
}

func decodeRuns(t *testing.T, r result) []runJSON {
	t.Helper()
	var list []runJSON
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, r.stdout)
	}
	return list
}
