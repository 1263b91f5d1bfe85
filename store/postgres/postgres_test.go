package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/schemas"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// serverURL is the test server's URL (see storetest.PostgresURL).
func serverURL(tb testing.TB) string { return storetest.PostgresURL(tb) }

// freshSchema creates an empty schema, dropped after the test, and returns a URL whose
// search_path points at it.
func freshSchema(tb testing.TB) string { return storetest.PostgresSchema(tb, "test") }

func open(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), freshSchema(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// openWithDB opens a store on a fresh schema (migrated) and a plain connection to the same
// schema, for tests that reach past the store; both are closed when the test ends.
func openWithDB(t *testing.T) (*postgres.Store, *sql.DB) {
	t.Helper()
	u := freshSchema(t)
	s, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestStateIndexRepair(t *testing.T) {
	s, db := openWithDB(t)
	exec := func(q string) error { _, err := db.Exec(q); return err }
	storetest.IndexRepair(t, s, exec)
	// The check and the rebuild in blocks of one entry: every bucket a block of its own, each
	// read and rebuilt apart (a large tenant's are blocks of half a million entries).
	t.Run("InBlocks", func(t *testing.T) {
		defer sqlstore.SetBlockEntries(1)()
		storetest.IndexRepair(t, s, exec)
	})
	t.Run("StreamReadsPacks", func(t *testing.T) { storetest.StreamReadsPacks(t, s, exec) })
	t.Run("PiecesOverADamagedIndex", func(t *testing.T) { storetest.PiecesOverADamagedIndex(t, s, exec) })
}

// TestRefusedEarlyLoadsGiveTheirConnectionsBack: an early load the table refuses rolls back and
// gives its connection (a *sql.Conn of its own, for COPY) back to the pool: after more refused
// loads than the pool keeps idle, the server has no more of the store's connections than the
// pool may keep. A connection kept by each would end a serve process's connection slots.
func TestRefusedEarlyLoadsGiveTheirConnectionsBack(t *testing.T) {
	s, db := openWithDB(t)
	ctx := context.Background()
	conns := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := conns()
	for i := range 8 {
		tenant := fmt.Sprintf("refused-%d", i)
		e, err := s.EarlyInserts(ctx, tenant, 0)
		if err != nil || e == nil {
			t.Fatalf("early inserts: %v, %v", e, err)
		}
		for j := range 2000 {
			r := record.Membership{MembershipKey: record.MembershipKey{Group: "g", Member: fmt.Sprintf("p%d", j), Role: "01"}}
			if j == 1500 {
				r.Role = "09" // no IMS role: the table refuses it
			}
			r.ComputeHash()
			e.Membership(&r)
		}
		if _, err := e.Done(); err == nil {
			t.Fatal("an early load with a role the table refuses: no error")
		}
		e.Abort()
	}
	if after := conns(); after > before+4 { // SetMaxIdleConns(4)
		t.Errorf("after 8 refused early loads the store holds %d connections, %d before", after, before)
	}
}

// In a database whose own collation is linguistic (initdb's default on most systems), the
// store works as in the test server's C database, and the key columns compare byte by byte
// (migration 0026): names keep the database's collation.
func TestOnADatabaseWithALinguisticCollation(t *testing.T) {
	base := storetest.PostgresLinguisticDatabase(t)
	open := func(t *testing.T) *postgres.Store {
		s, err := postgres.Open(context.Background(), storetest.PostgresSchemaOn(t, base, "ling"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })

	u := storetest.PostgresSchemaOn(t, base, "cols")
	s, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT c.table_name, c.column_name, COALESCE(c.collation_name, '')
FROM information_schema.columns c
WHERE c.table_schema = current_schema() AND c.table_name IN ('persons', 'groups', 'membership_packs', 'member_groups', 'relations')
  AND c.data_type = 'text' ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := map[string]bool{"tenant": true, "key": true, "group_key": true, "member_key": true, "first_member": true,
		"person_key": true, "related_key": true, "type": true}
	n := 0
	for rows.Next() {
		var table, col, coll string
		if err := rows.Scan(&table, &col, &coll); err != nil {
			t.Fatal(err)
		}
		if keys[col] != (coll == "C") {
			t.Errorf("%s.%s has collation %q", table, col, coll)
		}
		if keys[col] {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 13 {
		t.Errorf("%d key columns, want 13", n)
	}
}

func TestUndoInManyParts(t *testing.T) {
	s, db := openWithDB(t)
	storetest.UndoInManyParts(t, s, func(q string) (n int, err error) { err = db.QueryRow(q).Scan(&n); return n, err })
}

// Another process's waiter waits in the server's lock queue (first come, first served across
// processes, handed the lock the moment it is released), gives up at its wait with ErrLocked,
// and at once when its context ends.
func TestTenantLockWaitsInTheServer(t *testing.T) {
	u := freshSchema(t)
	ctx := context.Background()
	a, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, u) // another process
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A tenant of this test's own: advisory locks are the whole server's, and other packages'
	// tests (their stores in schemas of the same database) lock tenants named tenant too.
	tenant := fmt.Sprintf("lockwait%d", time.Now().UnixNano())
	h := fnv.New64a()
	h.Write([]byte("imsfeed:" + tenant)) // postgres.go's lockKey
	key := h.Sum64()

	hold, err := a.LockTenant(ctx, tenant, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	var gotAt time.Time
	go func() {
		r, err := b.LockTenant(ctx, tenant, 20*time.Second)
		gotAt = time.Now()
		if err == nil {
			defer r()
		}
		got <- err
	}()
	waiting := 0
	for range 100 { // until b waits in the server
		time.Sleep(20 * time.Millisecond)
		// The tenant's lock only (a bigint key is its high and low halves).
		if err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
AND classid = $1 AND objid = $2 AND objsubid = 1`, int64(key>>32), int64(key&0xffffffff)).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
	}
	if waiting != 1 {
		t.Fatalf("%d waits for the tenant's advisory lock in the server, want b's one", waiting)
	}
	releasedAt := time.Now()
	hold()
	if err := <-got; err != nil {
		t.Fatalf("b, once a released the lock: %v", err)
	}
	if gotAt.Before(releasedAt) {
		t.Error("b got the lock before a released it")
	}

	hold, err = b.LockTenant(ctx, tenant, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	if _, err := a.LockTenant(ctx, tenant, 150*time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Errorf("a's wait of 150ms on b's lock: %v, want ErrLocked", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	if _, err := a.LockTenant(cctx, tenant, 20*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a's wait whose context ended: %v, want its context's error", err)
	}
}

// A store a newer imsfeed migrated is refused, naming the migration this imsfeed lacks, and the
// attempt changes nothing: not even this imsfeed's own migrations the store lacks are applied.
func TestNewerStoreRefused(t *testing.T) {
	all, err := schemas.Migrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(all, "*.sql")
	const layout = `SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns WHERE table_schema = current_schema()
		UNION ALL SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
		ORDER BY 1`
	for _, c := range []struct {
		name string
		fsys fs.FS // the migrations applied before the newer imsfeed's; nil: a store this imsfeed opened
	}{
		{"Current", nil},
		{"LackingTheLast", storetest.MigrationsBefore(t, all, names[len(names)-1])},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := freshSchema(t)
			if c.fsys == nil {
				s, err := postgres.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
			}
			db, err := sql.Open("postgres", u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if c.fsys != nil {
				if err := sqlstore.Migrate(context.Background(), db, c.fsys, true, ""); err != nil {
					t.Fatal(err)
				}
			}
			storetest.NewerStoreRefused(t, db, all, layout, func() (store.Store, error) {
				return postgres.Open(context.Background(), u)
			})
		})
	}
}
