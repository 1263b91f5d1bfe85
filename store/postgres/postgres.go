// Package postgres is the production store: tenant state in PostgreSQL through lib/pq. A plan
// is written with COPY into temporary tables and set-based statements, all in the run's one
// transaction; a tenant's run lock is a session advisory lock on a dedicated connection.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/imsfeed/imsfeed/schemas"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

type core = sqlstore.Core

// Store is a PostgreSQL store.
type Store struct {
	*core
	db *sql.DB // for the lock connections

	locks sqlstore.TenantLocks // this process's lock of each tenant (LockTenant)
}

var _ store.Store = (*Store)(nil)

// migrationLock serialises migrators of one database (pg_advisory_xact_lock's key).
const migrationLock = 0x696d73666565640 // "imsfeed" + 0

// Open connects to the database at url (postgres://...; lib/pq's default sslmode is require)
// and migrates it. Errors never repeat the URL, which may hold a password.
func Open(ctx context.Context, url string) (*Store, error) {
	where := store.RedactURL(url)
	isURL := strings.Contains(url, "://")
	// lib/pq's parse errors quote the input (and so the password): never pass them on. An
	// ambiguous URL is refused before it is dialled, since a dial error names the host it
	// wrongly took from a password.
	if isURL && where == store.NotShown {
		return nil, fmt.Errorf("postgres store %s: it does not parse as postgres://USER:PASSWORD@HOST:PORT/DATABASE?OPTIONS; percent-encode special characters in the password (%%2F for /, %%23 for #, %%40 for @, %%3F for ?, %%25 for %%, %%20 for a space)", where)
	}
	cfg, err := pq.NewConfig(url)
	if err == nil {
		// One round trip a statement with arguments instead of two (lib/pq otherwise parses and
		// describes first, then binds and executes); bytea arguments then go as bytes, not hex.
		cfg.BinaryParameters = true
	}
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		if isURL {
			return nil, fmt.Errorf("postgres store %s: the URL's options do not parse (check sslmode and the other options)", where)
		}
		return nil, fmt.Errorf("postgres store %s: the connection string does not parse as a URL or as key=value pairs", where)
	}
	db := sql.OpenDB(connector)
	db.SetMaxIdleConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres store %s: %w", where, err)
	}
	fsys, err := schemas.Migrations("postgres")
	if err == nil {
		err = sqlstore.Migrate(ctx, db, fsys, true, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres store %s: %w", where, err)
	}
	d := sqlstore.Dialect{
		Dollar:    true,
		Regex:     true,
		ForUpdate: " FOR UPDATE",
		ReadTx:    &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		Time:      func(t time.Time) any { return t },
		WritePlan: func(ctx context.Context, tx *sql.Tx, w *sqlstore.Write) error {
			// A live request's few rows: temporary tables and ANALYZE would cost more than
			// the rows themselves.
			if w.Plan.Changes() <= smallPlan && !w.Early {
				return rowWriter(ctx, tx, w)
			}
			return writePlan(ctx, tx, w)
		},
		CopyRows: copyRowsFrom,
		CopyText: copyText,
	}
	return &Store{core: sqlstore.New(db, d), db: db}, nil
}

// smallPlan is the most rows a plan may have to be written row by row.
const smallPlan = 200

var rowWriter = sqlstore.RowWriter(true)

// lockKey is the advisory lock key of a tenant's runs.
func lockKey(tenant string) int64 {
	h := fnv.New64a()
	h.Write([]byte("imsfeed:" + tenant))
	return int64(h.Sum64())
}

// LockTenant implements store.Store: first this process's lock of the tenant (its waiters are
// served in the order they came), then a session advisory lock on a connection of its own, so
// a crashed process releases it. A held advisory lock is waited for in the server, which hands
// it over the moment it is released, first come first served across processes too: polling for
// it left an SIS's concurrent live requests waiting up to a poll each, and a waiter could be
// passed over by later ones again and again (p99 of 0.9-1.7 s with 8 clients).
func (s *Store) LockTenant(ctx context.Context, tenant string, wait time.Duration) (func(), error) {
	return s.locks.Take(ctx, tenant, wait, func(deadline time.Time) (func(), error) {
		return s.advisoryLock(ctx, tenant, deadline)
	})
}

// advisoryLock takes the tenant's advisory lock by deadline, on a connection it holds until
// the returned function releases the lock.
func (s *Store) advisoryLock(ctx context.Context, tenant string, deadline time.Time) (func(), error) {
	key := lockKey(tenant)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock tenant %q: %w", tenant, err)
	}
	// drop ends the session instead of pooling it: that releases the lock (and any setting
	// left on it) for sure.
	drop := func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		drop()
		return nil, fmt.Errorf("lock tenant %q: %w", tenant, err)
	}
	if !ok {
		left := time.Until(deadline).Milliseconds()
		if left <= 0 {
			conn.Close()
			return nil, fmt.Errorf("tenant %q: %w", tenant, store.ErrLocked)
		}
		// Wait in the server, at most what is left (lock_timeout, in ms; 0 would mean no
		// limit), and put the session's setting back before anything else uses it.
		_, err := conn.ExecContext(ctx, `SELECT set_config('lock_timeout', $1, false), pg_advisory_lock($2)`,
			fmt.Sprintf("%dms", left), key)
		if _, rerr := conn.ExecContext(context.Background(), `RESET lock_timeout`); rerr != nil {
			drop() // a session that may still time out every lock wait must not be pooled
			if err == nil {
				return nil, fmt.Errorf("lock tenant %q: %w", tenant, rerr)
			}
		} else if err != nil {
			conn.Close()
		}
		var pe *pq.Error
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.As(err, &pe) && pe.Code == "55P03": // lock_not_available: lock_timeout
			return nil, fmt.Errorf("tenant %q: %w", tenant, store.ErrLocked)
		default:
			return nil, fmt.Errorf("lock tenant %q: %w", tenant, err)
		}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ok bool
		err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&ok)
		if err != nil || !ok {
			drop()
			return
		}
		conn.Close()
	}, nil
}

// MarkAlive implements store.Store: the mark goes into the run's record, whose row an import's
// transaction touches only as it commits.
func (s *Store) MarkAlive(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		return nil // the record says the rest
	}
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET data = jsonb_set(data, '{alive_at}', to_jsonb($1::text)) WHERE id = $2 AND status = 'running'`,
		at.UTC().Format(time.RFC3339Nano), id)
	if err != nil {
		return fmt.Errorf("mark run %d alive: %w", id, err)
	}
	return nil
}
