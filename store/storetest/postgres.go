package storetest

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	_ "github.com/lib/pq" // the schema helper talks to the server itself
)

// PostgresURL is the test server's URL: IMSFEED_TEST_POSTGRES_URL, which `make test` sets.
// Without it a test skips, except under CI=true, where it fails: there the PostgreSQL half of
// every test must run.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("IMSFEED_TEST_POSTGRES_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("IMSFEED_TEST_POSTGRES_URL is not set under CI: the PostgreSQL tests must run (make test starts a server)")
		}
		tb.Skip("IMSFEED_TEST_POSTGRES_URL not set; `make test` starts a PostgreSQL server")
	}
	return u
}

// PostgresSchema creates an empty schema on the test server, named after prefix and dropped
// after the test, and returns a URL whose search_path is that schema: its tables are this
// test's alone.
func PostgresSchema(tb testing.TB, prefix string) string {
	tb.Helper()
	return PostgresSchemaOn(tb, PostgresURL(tb), prefix)
}

// PostgresSchemaOn is PostgresSchema in the database base names.
func PostgresSchemaOn(tb testing.TB, base, prefix string) string {
	tb.Helper()
	admin := adminDB(tb, base)
	schema := fmt.Sprintf("imsfeed_%s_%016x", prefix, rand.Uint64())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresLinguisticDatabase creates a database on the test server whose own collation is a
// linguistic one, as initdb makes it by default from the system's locale (the test server is
// made with LC_COLLATE C): ICU's en-US, else the C library's C.utf8. It is dropped after the
// test; the URL returned names it. A server that has neither fails the test.
func PostgresLinguisticDatabase(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL(tb)
	admin := adminDB(tb, base)
	name := fmt.Sprintf("imsfeed_linguistic_%016x", rand.Uint64())
	var errs []error
	var err error
	for _, with := range []string{
		// ICU's en-US first: C.utf8 orders by code point, as bytes compare, so keys in it
		// sort as in "C" and a comparison in the wrong collation would not show.
		`LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LC_COLLATE 'C' LC_CTYPE 'C'`,
		`LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'`,
	} {
		if _, err = admin.Exec("CREATE DATABASE " + name + " TEMPLATE template0 " + with); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if err != nil {
		tb.Fatalf("no database with a linguistic collation on the test server: %v", errs)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// adminDB is a connection to the database base names for creating and dropping what a test
// uses, closed after the test.
func adminDB(tb testing.TB, base string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("postgres", base)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
