package main

import (
	"os"
	"path/filepath"
	"testing"
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
