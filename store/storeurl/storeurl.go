// Package storeurl opens a store.Store by URL scheme, so configuration names a store with one
// string: postgres:// or postgresql:// for PostgreSQL, sqlite:///abs/path.db or
// sqlite:relative.db for SQLite. It lives apart from package store because it imports both
// implementations, which import store.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// Open opens (and migrates) the store the URL names. Errors never repeat the URL, which may
// hold a password.
func Open(ctx context.Context, url string) (store.Store, error) {
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok {
		return nil, errors.New("store URL has no scheme: want postgres://..., postgresql://... or sqlite:PATH")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return postgres.Open(ctx, url)
	case "sqlite", "sqlite3":
		path, err := SQLitePath(rest)
		if err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, path)
	}
	if store.RedactURL(url) == store.NotShown {
		// Not a URL at all (a keyword DSN, say): the "scheme" may be part of a password.
		return nil, errors.New("store URL has no scheme: want postgres://..., postgresql://... or sqlite:PATH")
	}
	return nil, fmt.Errorf("unknown store URL scheme %q: want postgres://, postgresql:// or sqlite:", scheme)
}

// SQLitePath reads the part of a sqlite: URL after the colon (see store.SQLitePath).
func SQLitePath(rest string) (string, error) { return store.SQLitePath(rest) }
