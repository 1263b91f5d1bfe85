package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// Issue 13: the unchanged-file check ran before the tenant lock, so a second process that
// fetched the same file while the first imported it imported it again ("completed +0") and
// mailed twice. Two real processes racing one tenant's new file: one import, one mail.
func TestTwoProcessesRacingOneFileImportItOnce(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			storeURL := "sqlite://" + filepath.Join(dir, "state.db")
			if kind == "postgres" {
				storeURL = postgresURL(t)
			}
			tenant := tenantID("race")
			folder := filepath.Join(dir, "sis")
			if err := os.MkdirAll(folder, 0o755); err != nil {
				t.Fatal(err)
			}
			// Big enough that the import outlasts the second process's fetch.
			writeFeedFile(t, folder, "export.xml", feedgen.Options{Persons: 5_000, Groups: 500, MembersPerGroup: 30, Seed: 13})
			off := "{inserts: off, updates: off, deletes: off}"
			cfg := filepath.Join(dir, "imsfeed.yaml")
			os.WriteFile(cfg, []byte(fmt.Sprintf(`store: %q
data_dir: %s
lock_wait: 2m
tenants:
  - id: %s
    source: {url: "file://%s", settle: -1s}
    safety: {persons: %s, groups: %s, memberships: %s}
`, storeURL, dir, tenant, folder, off, off, off)), 0o600)

			a := start(t, dir, "--config", cfg, "run", "--tenant", tenant)
			b := start(t, dir, "--config", cfg, "run", "--tenant", tenant)
			for i, p := range []*proc{a, b} {
				if code := p.exitCode(); code != 0 {
					t.Fatalf("process %d: exit %d\n%s\n%s", i+1, code, p.stdout.String(), p.stderr())
				}
			}
			if got := runStatuses(t, dir, cfg, tenant); len(got) != 1 || got[0] != "completed" {
				t.Errorf("runs: %v, want one completed import\n%s\n%s", got, a.stderr(), b.stderr())
			}
			mails, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
			if len(mails) != 1 {
				t.Errorf("%d status mails in the outbox, want 1: %v", len(mails), mails)
			}
			if s := status(t, dir, cfg, tenant); s.StateVersion != 1 {
				t.Errorf("state version %d, want 1 (one import)", s.StateVersion)
			}
		})
	}
}
