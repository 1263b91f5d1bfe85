package storeurl_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storeurl"
)

func TestSQLitePath(t *testing.T) {
	for in, want := range map[string]string{
		"///var/lib/imsfeed/state.db": "/var/lib/imsfeed/state.db",
		"//localhost/tmp/x.db":        "/tmp/x.db",
		"state.db":                    "state.db",
		"data/state.db":               "data/state.db",
		"/abs/one-slash.db":           "/abs/one-slash.db",
	} {
		got, err := storeurl.SQLitePath(in)
		if err != nil || got != want {
			t.Errorf("SQLitePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "//", "///", "//files.example.org/state.db"} {
		if got, err := storeurl.SQLitePath(in); err == nil {
			t.Errorf("SQLitePath(%q) = %q, want an error", in, got)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	abs := filepath.Join(dir, "abs.db")
	s, err := storeurl.Open(ctx, "sqlite://"+abs)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*sqlite.Store); !ok {
		t.Errorf("sqlite:// opened a %T", s)
	}
	s.Close()
	if _, err := os.Stat(abs); err != nil {
		t.Errorf("the database file was not created at %s: %v", abs, err)
	}

	t.Chdir(dir)
	s, err = storeurl.Open(ctx, "sqlite:rel.db")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "rel.db")); err != nil {
		t.Errorf("sqlite:rel.db did not create rel.db in the working directory: %v", err)
	}

	_, err = storeurl.Open(ctx, "mysql://root:hunter2@db/imsfeed")
	if err == nil || !strings.Contains(err.Error(), `"mysql"`) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unknown scheme: got %v, want an error naming the scheme and not the password", err)
	}
	// A PostgreSQL server that is not there: the error names the host, never the password.
	_, err = storeurl.Open(ctx, "postgres://imsfeed:hunter2@127.0.0.1:1/imsfeed?sslmode=disable")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable postgres: got %v, want an error naming the host and not the password", err)
	}
}

// TestOpenNeverPrintsThePassword: a store URL that does not parse, or parses ambiguously, must
// not bring its password into the error (which reaches stderr, the log and the run record).
// Each password below holds the marker Hx7 in every part a parser might split it into.
func TestOpenNeverPrintsThePassword(t *testing.T) {
	ctx := context.Background()
	for _, raw := range []string{
		"postgres://imsfeed:Hx7 Hx7@127.0.0.1:1/imsfeed",
		"postgres://imsfeed:Hx7/Hx7@127.0.0.1:1/imsfeed",
		"postgres://imsfeed:Hx7#Hx7@127.0.0.1:1/imsfeed",
		"postgres://imsfeed:Hx7?Hx7@127.0.0.1:1/imsfeed",
		"postgres://imsfeed:Hx7%zzHx7@127.0.0.1:1/imsfeed",
		"postgres://imsfeed:Hx7@Hx7@127.0.0.1:1/imsfeed",
		"postgres://imsfeed:5439/Hx7@127.0.0.1:1/imsfeed",
		"postgres://imsfeed:5439#Hx7@127.0.0.1:1/imsfeed",
		"postgres://imsfeed@127.0.0.1:1/imsfeed?password=Hx7Hx7&sslmode=disable",
		"postgres://imsfeed@127.0.0.1:1/imsfeed?password=Hx7%zzHx7",
		"postgres://imsfeed@127.0.0.1:1/imsfeed?sslmode=disable&password=Hx7 Hx7",
		"postgresql://imsfeed:Hx7Hx7@127.0.0.1:1/imsfeed?sslmode=Hx7",
		"host=127.0.0.1 port=1 user=imsfeed password=Hx7Hx7 sslmode=disable",
		"host=127.0.0.1 port=1 password=Hx7:Hx7 sslmode=disable",
		"password=Hx7:Hx7 host=127.0.0.1",
		"postgres:host=127.0.0.1 password=Hx7Hx7",
	} {
		_, err := storeurl.Open(ctx, raw)
		if err == nil {
			t.Errorf("Open(%q) succeeded", raw)
			continue
		}
		msg := err.Error() + " " + store.RedactURL(raw) + " " + config.RedactURL(raw)
		if strings.Contains(msg, "Hx7") || strings.Contains(msg, "5439") {
			t.Errorf("Open(%q) leaks the password: %s", raw, msg)
		}
	}
	// postgres.Open on its own takes keyword DSNs too; neither a bad nor a good one is shown.
	for _, raw := range []string{
		"host=127.0.0.1 port=1 password=Hx7 Hx7 sslmode=disable",
		"host=127.0.0.1 port=1 password='Hx7 Hx7' sslmode=disable",
		"host=127.0.0.1 port=1 password='Hx7",
	} {
		_, err := postgres.Open(ctx, raw)
		if err == nil || strings.Contains(err.Error(), "Hx7") {
			t.Errorf("postgres.Open(%q): %v", raw, err)
		}
	}
	// A plain URL still names its host, and a SQLite URL its file.
	for raw, want := range map[string]string{
		"postgres://imsfeed:secret@db.example.org:5433/imsfeed?sslmode=require": "postgres://db.example.org:5433/imsfeed",
		"sqlite:///var/lib/imsfeed/state.db":                                    "sqlite:///var/lib/imsfeed/state.db",
	} {
		if got := store.RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
