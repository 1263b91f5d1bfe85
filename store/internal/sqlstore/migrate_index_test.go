package sqlstore_test

import (
	"fmt"
	"testing"

	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

// Migration 0029 deletes the state index's membership buckets (4096-8191), keeps the persons'
// (0-4095) and the pending ones (8192 up), and marks every tenant's index stale, so that an
// older imsfeed still running reads the rows rather than an index without memberships.
func TestStateIndexMigratesToPersonsOnly(t *testing.T) {
	for _, store := range []struct {
		name string
		open func(*testing.T) migrationDB
	}{{"SQLite", sqliteMigrationDB}, {"PostgreSQL", postgresMigrationDB}} {
		t.Run(store.name, func(t *testing.T) {
			m := store.open(t)
			m.migrate(t, "0029")
			q := func(query string, args ...any) {
				t.Helper()
				if _, err := m.db.Exec(sqlstore.Rebind(m.dollar, query), args...); err != nil {
					t.Fatal(err)
				}
			}
			for _, tenant := range []string{"a", "b"} {
				q(`INSERT INTO tenants (id, state_version, index_version) VALUES (?, 7, 7)`, tenant)
				for _, bucket := range []int{0, 17, 4095, 4096, 5000, 8191, 8192, 8300} {
					q(`INSERT INTO state_index (tenant, bucket, data) VALUES (?, ?, ?)`, tenant, bucket, []byte{3, 0, 0, 0})
				}
			}
			m.migrate(t, "")
			for _, tenant := range []string{"a", "b"} {
				var state, index int64
				if err := m.db.QueryRow(sqlstore.Rebind(m.dollar, `SELECT state_version, index_version FROM tenants WHERE id = ?`), tenant).Scan(&state, &index); err != nil {
					t.Fatal(err)
				}
				if state != 7 || index != -1 {
					t.Errorf("tenant %s: state version %d, index version %d; want 7 and -1 (stale)", tenant, state, index)
				}
				rows, err := m.db.Query(sqlstore.Rebind(m.dollar, `SELECT bucket FROM state_index WHERE tenant = ? ORDER BY bucket`), tenant)
				if err != nil {
					t.Fatal(err)
				}
				var kept []int
				for rows.Next() {
					var n int
					if err := rows.Scan(&n); err != nil {
						t.Fatal(err)
					}
					kept = append(kept, n)
				}
				rows.Close()
				if got, want := fmt.Sprint(kept), fmt.Sprint([]int{0, 17, 4095, 8192, 8300}); got != want {
					t.Errorf("tenant %s: buckets %s kept, want %s", tenant, got, want)
				}
			}
		})
	}
}
