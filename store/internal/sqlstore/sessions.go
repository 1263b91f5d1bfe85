package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/imsfeed/imsfeed/store"
)

var _ store.Sessions = (*Core)(nil)

// CreateSession implements store.Sessions. Times are Unix seconds: a session needs no more.
func (c *Core) CreateSession(ctx context.Context, s store.Session) error {
	if _, err := c.db.ExecContext(ctx, c.Q(`DELETE FROM console_sessions WHERE expires_unix < ?`), s.Created.Unix()); err != nil {
		return fmt.Errorf("console sessions: %w", err)
	}
	_, err := c.db.ExecContext(ctx, c.Q(`INSERT INTO console_sessions (id, operator, created_unix, expires_unix) VALUES (?, ?, ?, ?)`),
		s.ID, s.Operator, s.Created.Unix(), s.Expires.Unix())
	if err != nil {
		return fmt.Errorf("console session: %w", err)
	}
	return nil
}

// Session implements store.Sessions.
func (c *Core) Session(ctx context.Context, id string, now time.Time) (*store.Session, error) {
	s := store.Session{ID: id}
	var created, expires int64
	err := c.db.QueryRowContext(ctx, c.Q(`SELECT operator, created_unix, expires_unix FROM console_sessions WHERE id = ? AND expires_unix > ?`),
		id, now.Unix()).Scan(&s.Operator, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("console session: %w", err)
	}
	s.Created, s.Expires = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	return &s, nil
}

// DeleteSession implements store.Sessions.
func (c *Core) DeleteSession(ctx context.Context, id string) error {
	if _, err := c.db.ExecContext(ctx, c.Q(`DELETE FROM console_sessions WHERE id = ?`), id); err != nil {
		return fmt.Errorf("console session: %w", err)
	}
	return nil
}

// ConsoleKey implements store.Sessions: the first process to store a key wins.
func (c *Core) ConsoleKey(ctx context.Context, name, newKey string) (string, error) {
	if _, err := c.db.ExecContext(ctx, c.Q(`INSERT INTO console_keys (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, newKey); err != nil {
		return "", fmt.Errorf("console key: %w", err)
	}
	var v string
	if err := c.db.QueryRowContext(ctx, c.Q(`SELECT value FROM console_keys WHERE name = ?`), name).Scan(&v); err != nil {
		return "", fmt.Errorf("console key: %w", err)
	}
	return v, nil
}

// SignInFailures implements store.Sessions.
func (c *Core) SignInFailures(ctx context.Context, keys []string, since time.Time) ([]store.SignInFailure, error) {
	var out []store.SignInFailure
	for _, k := range keys {
		f := store.SignInFailure{Key: k}
		var last int64
		err := c.db.QueryRowContext(ctx, c.Q(`SELECT failures, last_ms FROM console_signin_failures WHERE key = ? AND last_ms >= ?`),
			k, since.UnixMilli()).Scan(&f.Failures, &last)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("console sign-in failures: %w", err)
		}
		f.Last = time.UnixMilli(last).UTC()
		out = append(out, f)
	}
	return out, nil
}

// FailSignIn implements store.Sessions. One statement per key counts atomically, so failures
// at the same moment on two processes both count.
func (c *Core) FailSignIn(ctx context.Context, keys []string, now, forgetBefore time.Time) error {
	return c.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, c.Q(`DELETE FROM console_signin_failures WHERE last_ms < ?`), forgetBefore.UnixMilli()); err != nil {
			return fmt.Errorf("console sign-in failures: %w", err)
		}
		for _, k := range keys {
			_, err := tx.ExecContext(ctx, c.Q(`INSERT INTO console_signin_failures (key, failures, last_ms) VALUES (?, 1, ?)
ON CONFLICT (key) DO UPDATE SET
  failures = CASE WHEN console_signin_failures.last_ms < ? THEN 1 ELSE console_signin_failures.failures + 1 END,
  last_ms = excluded.last_ms`), k, now.UnixMilli(), forgetBefore.UnixMilli())
			if err != nil {
				return fmt.Errorf("console sign-in failure: %w", err)
			}
		}
		return nil
	})
}

// ClearSignInFailures implements store.Sessions.
func (c *Core) ClearSignInFailures(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if _, err := c.db.ExecContext(ctx, c.Q(`DELETE FROM console_signin_failures WHERE key = ?`), k); err != nil {
			return fmt.Errorf("console sign-in failures: %w", err)
		}
	}
	return nil
}
