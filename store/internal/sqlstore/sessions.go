package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
		err := c.db.QueryRowContext(ctx, c.Q(`SELECT failures, last_ms FROM console_signin_failures WHERE key = ? AND last_ms >= ? AND failures > 0`),
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

// ClaimSignIn implements store.Sessions. The keys' rows are locked (PostgreSQL: FOR UPDATE, in
// key order so two claims cannot deadlock; SQLite: its transactions are immediate, one writer
// at a time) from reading the failures to counting the attempt, so no parallel attempt reads
// the count between.
func (c *Core) ClaimSignIn(ctx context.Context, keys []string, now, forgetBefore time.Time, wait func(store.SignInFailure) time.Duration) (time.Duration, error) {
	if _, err := c.db.ExecContext(ctx, c.Q(`DELETE FROM console_signin_failures WHERE last_ms < ?`), forgetBefore.UnixMilli()); err != nil {
		return 0, fmt.Errorf("console sign-in failures: %w", err)
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var d time.Duration
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		d = 0
		counts := make([]int, len(keys))
		for i, k := range keys {
			if _, err := tx.ExecContext(ctx, c.Q(`INSERT INTO console_signin_failures (key, failures, last_ms) VALUES (?, 0, ?) ON CONFLICT (key) DO NOTHING`),
				k, now.UnixMilli()); err != nil {
				return err
			}
			var last int64
			if err := tx.QueryRowContext(ctx, c.Q(`SELECT failures, last_ms FROM console_signin_failures WHERE key = ?`+c.d.ForUpdate), k).Scan(&counts[i], &last); err != nil {
				return err
			}
			if last < forgetBefore.UnixMilli() {
				counts[i] = 0
			}
			if counts[i] > 0 {
				d = max(d, wait(store.SignInFailure{Key: k, Failures: counts[i], Last: time.UnixMilli(last).UTC()}))
			}
		}
		if d > 0 {
			return nil // rows inserted with no failures change nothing
		}
		for i, k := range keys {
			if _, err := tx.ExecContext(ctx, c.Q(`UPDATE console_signin_failures SET failures = ?, last_ms = ? WHERE key = ?`),
				counts[i]+1, now.UnixMilli(), k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("console sign-in attempt: %w", err)
	}
	return d, nil
}

// ReleaseSignIn implements store.Sessions. The last failure's time stays: the claim's, which
// is at worst a little later than the failure before it.
func (c *Core) ReleaseSignIn(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if _, err := c.db.ExecContext(ctx, c.Q(`UPDATE console_signin_failures SET failures = failures - 1 WHERE key = ? AND failures > 0`), k); err != nil {
			return fmt.Errorf("console sign-in failures: %w", err)
		}
	}
	return nil
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
