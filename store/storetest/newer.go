package storetest

import (
	"database/sql"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/imsfeed/imsfeed/store"
)

// FutureMigration is the version NewerStoreRefused lists as applied by a newer imsfeed.
const FutureMigration = "9999_from_a_newer_imsfeed"

// NewerStoreRefused checks that a store whose schema_migrations lists a version this imsfeed
// does not know (a newer imsfeed migrated it) is refused by open, with an error naming that
// version and this imsfeed's last migration (the last of known, its *.sql files), and that the
// attempt changes nothing: schema_migrations and the layout (layout: a query of one text
// column listing the store's tables, columns and indexes) read the same before and after. db
// is a plain connection to the store, migrated by the caller.
func NewerStoreRefused(t *testing.T, db *sql.DB, known fs.FS, layout string, open func() (store.Store, error)) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ('` + FutureMigration + `', '2031-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(known, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("this imsfeed's migrations: %v, %v", names, err)
	}
	last := strings.TrimSuffix(slices.Max(names), ".sql")
	snapshot := func() []string {
		t.Helper()
		var out []string
		for _, q := range []string{`SELECT version || ' ' || applied_at FROM schema_migrations ORDER BY version`, layout} {
			rows, err := db.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
		}
		return out
	}
	before := snapshot()
	s, err := open()
	if err == nil {
		s.Close()
		t.Fatalf("a store migrated by a newer imsfeed (%s) opened; want it refused", FutureMigration)
	}
	for _, want := range []string{"upgraded by a newer imsfeed", "migration " + FutureMigration, "up to " + last, "upgrade this imsfeed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("open: %v\nwant it to say %q", err, want)
		}
	}
	if after := snapshot(); !slices.Equal(after, before) {
		t.Errorf("the refused open changed the store:\nbefore %q\nafter  %q", before, after)
	}
}

// MigrationsBefore is the migrations of all named before before: those of an older imsfeed.
func MigrationsBefore(t *testing.T, all fs.FS, before string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	names, err := fs.Glob(all, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n < before {
			b, err := fs.ReadFile(all, n)
			if err != nil {
				t.Fatal(err)
			}
			out[n] = &fstest.MapFile{Data: b}
		}
	}
	return out
}
