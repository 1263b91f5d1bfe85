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
