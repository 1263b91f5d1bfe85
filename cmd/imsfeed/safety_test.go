package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"  // polls the state version from outside the process
	_ "modernc.org/sqlite" // the same on SQLite

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// TestDataDirectoryIsOwnerOnly: after an import on the embedded default, no file under the data
// directory (state database, lock files, outbox mails with names in them) is readable by group
// or others.
func TestDataDirectoryIsOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	if r := imsfeed(t, dir, "import", "--tenant", "north", writeDemo(t, dir, "night1.xml")); r.code != 0 {
		t.Fatalf("import: exit %d\n%s", r.code, r.stderr)
	}
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		n++
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s is %v, want no access for group or others", p, perm)
		}
		return nil
	})
	if err != nil || n < 3 {
		t.Fatalf("walk: %v (%d entries)", err, n)
	}
}

// TestKillAtHoldRemovalsKeepsApplyAndHoldTogether: under on_trip hold-removals a run applies
// its inserts and updates and holds its removals. kill -9 the import the moment its apply
// becomes visible (the state version moves): the run must be held with its plan, never
// "running" with the removals neither held nor mailed. Then the hold is approvable.
func TestKillAtHoldRemovalsKeepsApplyAndHoldTogether(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tenant := tenantID("holdrm")
			storeURL, driver, dsn, query := "sqlite://"+filepath.Join(dir, "state.db"), "sqlite", filepath.Join(dir, "state.db"),
				`SELECT state_version FROM tenants WHERE id = ?`
			if kind == "postgres" {
				storeURL = postgresURL(t)
				driver, dsn, query = "postgres", storeURL, `SELECT state_version FROM tenants WHERE id = $1`
			}
			cfg := filepath.Join(dir, "imsfeed.yaml")
			if err := os.WriteFile(cfg, []byte(fmt.Sprintf("store: %q\ndata_dir: %s\ntenants:\n  - id: %s\n    safety: {on_trip: hold-removals}\n",
				storeURL, dir, tenant)), 0o600); err != nil {
				t.Fatal(err)
			}
			o := feedgen.Options{Persons: 8000, Groups: 800, MembersPerGroup: 40, Seed: 5}
			a := writeFeedFile(t, dir, "a.xml", o)
			o.Night, o.DropPercent = 3, 30 // churn brings new pupils; 30% gone
			b := writeFeedFile(t, dir, "b.xml", o)
			if r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", tenant, a); r.code != 0 {
				t.Fatalf("import A: exit %d\n%s", r.code, r.stderr)
			}
			afterA := status(t, dir, cfg, tenant)

			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			p := start(t, dir, "--config", cfg, "import", "--tenant", tenant, b)
			for {
				var v int64
				if err := db.QueryRow(query, tenant).Scan(&v); err != nil {
					t.Fatal(err)
				}
				if v != afterA.StateVersion {
					p.cmd.Process.Signal(syscall.SIGKILL)
					break
				}
				select {
				case <-p.done:
					t.Fatalf("import B ended (%v) without changing the state\n%s", p.err, p.stderr())
				case <-time.After(time.Millisecond):
				}
			}
			<-p.done
			after := status(t, dir, cfg, tenant)
			if after.StateVersion != afterA.StateVersion+1 || after.Persons.Trashed != 0 || after.Persons.Active <= afterA.Persons.Active {
				t.Fatalf("after the kill: %+v; want B's inserts applied and nothing trashed (A: %+v)", after, afterA)
			}
			r := imsfeed(t, dir, "--config", cfg, "runs", "--tenant", tenant, "--json")
			var list []struct {
				Run    int64
				Status string
			}
			if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 {
				t.Fatalf("runs: %v\n%s", err, r.stdout)
			}
			if list[0].Status != "held" {
				t.Fatalf("killed as its inserts became visible, run B is %q: its removals are neither held nor applied", list[0].Status)
			}
			id := fmt.Sprint(list[0].Run)
			if r := imsfeed(t, dir, "--config", cfg, "approve", id, "--by", "ops", "--reason", "term ended"); r.code != 0 {
				t.Fatalf("approve the held removals: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if final := status(t, dir, cfg, tenant); final.Persons.Trashed == 0 {
				t.Fatalf("after approval nothing was trashed: %+v", final)
			}
		})
	}
}
