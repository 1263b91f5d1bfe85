package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/store"
)

// Migrate applies the *.sql files of fsys that schema_migrations does not list, in name
// order, all in one transaction; a version with a Go step (steps) runs it after its SQL. lockSQL, when set, runs first in that transaction to
// serialise concurrent migrators (PostgreSQL: a transaction-scoped advisory lock). A store that
// lists a version fsys lacks is refused, changing nothing (see newerStore).
func Migrate(ctx context.Context, db *sql.DB, fsys fs.FS, dollar bool, lockSQL string) error {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if lockSQL != "" {
		if _, err := tx.ExecContext(ctx, lockSQL); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	applied := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := newerStore(applied, names); err != nil {
		return err
	}
	for _, name := range names {
		version := strings.TrimSuffix(name, ".sql")
		if applied[version] {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if step := steps[version]; step != nil {
			if err := step(ctx, tx, dollar); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, Rebind(dollar, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
			version, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return tx.Commit()
}

// newerStore refuses a store whose schema_migrations lists versions that names (this
// imsfeed's migrations) lack: a newer imsfeed migrated it, and this one would read and write a
// layout it does not know (a newer release may stop keeping rows this one relies on).
func newerStore(applied map[string]bool, names []string) error {
	known := make(map[string]bool, len(names))
	for _, name := range names {
		known[strings.TrimSuffix(name, ".sql")] = true
	}
	var unknown []string
	for version := range applied {
		if !known[version] {
			unknown = append(unknown, version)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	which := "migration " + unknown[0]
	if len(unknown) > 1 {
		which = "migrations " + strings.Join(unknown, ", ")
	}
	last := "none"
	if len(names) > 0 {
		last = strings.TrimSuffix(names[len(names)-1], ".sql")
	}
	return fmt.Errorf("%w (%s); this imsfeed knows migrations up to %s: upgrade this imsfeed", store.ErrNewerStore, which, last)
}
