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
	// ClaimSignIn decides whether a sign-in attempt under the keys may check its password, and
	// counts it before the check, atomically across every serve process: attempts made at the
	// same moment each see the ones before them (counted after the check, N parallel wrong
	// guesses would all pass one free attempt). wait says how long an attempt after a key's
	// failures must still wait; when no key must wait, the attempt counts as one failure under
	// every key at now and ClaimSignIn returns 0. Else nothing is counted and the longest wait
	// is returned. Failures whose last is before forgetBefore are forgotten (count from 0; the
	// old rows are deleted). A success takes its claim back (ReleaseSignIn,
	// ClearSignInFailures).
	ClaimSignIn(ctx context.Context, keys []string, now, forgetBefore time.Time, wait func(SignInFailure) time.Duration) (time.Duration, error)
	// ReleaseSignIn takes one claimed attempt back under each key: it was no failure.
	ReleaseSignIn(ctx context.Context, keys []string) error
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
