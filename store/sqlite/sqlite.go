// Package sqlite is the embedded default store: tenant state in one SQLite file through
// modernc.org/sqlite (pure Go, no cgo). Writers are serialised by SQLite itself (WAL, immediate
// transactions, a busy timeout); a tenant's run lock is an in-process lock plus a file lock, so
// two processes on one file never interleave runs of a tenant.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/imsfeed/imsfeed/schemas"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

type core = sqlstore.Core

// Store is a SQLite store.
type Store struct {
	*core
	path string

	locks sqlstore.TenantLocks
}

var _ store.Store = (*Store)(nil)

// busyTimeout is how long a statement waits for another connection's write lock.
const busyTimeout = 30 * time.Second

// Open opens (creating if needed) and migrates the SQLite database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite store: no database path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite store %s: the path may not contain ? or #", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// The database holds personal data: create it readable by its owner only. SQLite gives its
	// -wal and -shm files the database file's mode.
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("sqlite store %s: %w", abs, err)
	}
	dsn := abs + fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate",
		busyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", abs, err)
	}
	fsys, err := schemas.Migrations("sqlite")
	if err == nil {
		err = migrate(ctx, db, fsys, abs)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", abs, err)
	}
	d := sqlstore.Dialect{
		ReadTx:    &sql.TxOptions{ReadOnly: true},
		Time:      func(t time.Time) any { return t.UTC().Format(sqlstore.SQLiteTime) },
		WritePlan: sqlstore.RowWriter(false),
	}
	return &Store{core: sqlstore.New(db, d), path: abs}, nil
}

// migrate migrates the database while holding a file lock beside it. Two processes opening a
// new database at the same moment would otherwise race on switching it to WAL, which SQLite
// answers with SQLITE_BUSY at once, without waiting out the busy timeout.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, abs string) error {
	unlock, err := lockFile(ctx, abs, "\x00open", time.Now().Add(busyTimeout))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer unlock()
	return sqlstore.Migrate(ctx, db, fsys, false, "")
}

// LockTenant implements store.Store: first this process's lock of the tenant, then the
// tenant's lock file beside the database (for other processes).
func (s *Store) LockTenant(ctx context.Context, tenant string, wait time.Duration) (func(), error) {
	return s.locks.Take(ctx, tenant, wait, func(deadline time.Time) (func(), error) {
		unlockFile, err := lockFile(ctx, s.path, tenant, deadline)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", tenant, err)
		}
		return unlockFile, nil
	})
}
