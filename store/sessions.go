package store

import (
	"context"
	"time"
)

// Sessions keep the operator console's sign-ins in the store, so that a restart of serve signs
// nobody out and every serve process behind one load balancer knows every session; a
// sign-out deletes the session for all of them. Both stores implement it.
type Sessions interface {
	// CreateSession stores a session and forgets the expired ones.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with this id when it has not expired at now; ErrNotFound if
	// there is none.
	Session(ctx context.Context, id string, now time.Time) (*Session, error)
	// DeleteSession forgets a session (sign-out); an unknown id is no error.
	DeleteSession(ctx context.Context, id string) error
	// ConsoleKey returns the secret stored under name, storing newKey as it when there is none
	// yet: every process gets the first one stored.
	ConsoleKey(ctx context.Context, name, newKey string) (string, error)
}

// Session is one operator's sign-in. ID is a hash of the cookie's token, never the token.
type Session struct {
	ID       string
	Operator string // the operator's name in the config
	Created  time.Time
	Expires  time.Time
}
