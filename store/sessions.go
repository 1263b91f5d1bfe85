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

	// Failed sign-ins are counted here, not in a process, so that an attacker spreading
	// attempts over the serve processes behind a load balancer is slowed down by all of them.
	// Keys are opaque to the store (the console passes hashes of a name or an address).

	// SignInFailures returns the failures counted under the keys whose last failure is not
	// before since; keys without such failures are left out.
	SignInFailures(ctx context.Context, keys []string, since time.Time) ([]SignInFailure, error)
	// FailSignIn counts one failed sign-in under each key at now. A key whose last failure is
	// before forgetBefore counts from 1 again, and every such old row is deleted.
	FailSignIn(ctx context.Context, keys []string, now, forgetBefore time.Time) error
	// ClearSignInFailures forgets the keys' failures (a successful sign-in).
	ClearSignInFailures(ctx context.Context, keys []string) error
}

// SignInFailure is how often sign-in failed under one key, and when it last did.
type SignInFailure struct {
	Key      string
	Failures int
	Last     time.Time // millisecond precision
}

// Session is one operator's sign-in. ID is a hash of the cookie's token, never the token.
type Session struct {
	ID       string
	Operator string // the operator's name in the config
	Created  time.Time
	Expires  time.Time
}
