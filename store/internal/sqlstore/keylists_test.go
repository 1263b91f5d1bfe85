package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	_ "github.com/lib/pq"

	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// A tenant loaded since the tables were last analysed, beside another tenant, is one
// PostgreSQL's statistics know nothing of: it plans "tenant = ?" as one row. A statement that
// finds rows by a list of keys must still look each key up, not read all of the tenant's rows
// for each (a night's before-images of 300 memberships took 6.2 s a statement that way for a
// tenant of 78,360 memberships, and grew with the tenant).
func TestKeyListsAreLookedUpKeyByKeyWhateverTheStatisticsSay(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresSchema(t, "keylists")
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Autovacuum would analyse the tables on its own within a minute of the second tenant.
	exec(`ALTER TABLE persons SET (autovacuum_enabled = false)`)
	exec(`ALTER TABLE membership_packs SET (autovacuum_enabled = false)`)
	exec(`ALTER TABLE member_groups SET (autovacuum_enabled = false)`)
	// Packs and lists the statements find by key (their bytes are never decoded here: the
	// statements are explained, not read): 400 groups of 50 packs, 2,000 members' lists.
	load := func(tenant string) {
		exec(`INSERT INTO persons (tenant, key, hash) SELECT $1, 'P' || i, decode(repeat('00', 16), 'hex') FROM generate_series(0, 1999) i`, tenant)
		exec(`INSERT INTO membership_packs (tenant, group_key, first_member, entries, manual, data)
SELECT $1, 'G' || g, CASE WHEN j = 0 THEN '' ELSE 'P' || ((g * 50 + j) % 2000) END, 1, 0, '\x00'::bytea
FROM generate_series(0, 399) g, generate_series(0, 49) j`, tenant)
		exec(`INSERT INTO member_groups (tenant, member_type, member_key, groups) SELECT $1, 1, 'P' || i, '\x00'::bytea FROM generate_series(0, 1999) i`, tenant)
	}
	load("known")
	exec(`ANALYZE persons`)
	exec(`ANALYZE membership_packs`)
	exec(`ANALYZE member_groups`)
	load("new") // 20,000 packs the statistics do not know of

	var persons []string
	var members [][3]string
	for i := range 300 {
		persons = append(persons, fmt.Sprintf("P%d", i*6))
		g := i * 4 / 3
		members = append(members, [3]string{fmt.Sprintf("G%d", g), fmt.Sprintf("P%d", (g*50+i%50)%2000), "01"})
	}

	// removed explains q (ANALYZE, in a transaction rolled back) and returns how many rows its
	// plan read and dropped again, and how many it gave.
	removed := func(q string, args []any) (dropped, rows float64) {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback() //nolint:errcheck // nothing to keep
		var out string
		if err := tx.QueryRowContext(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+sqlstore.Rebind(true, q), args...).Scan(&out); err != nil {
			t.Fatalf("%s: %v", q[:min(len(q), 120)], err)
		}
		var plans []struct{ Plan map[string]any }
		if err := json.Unmarshal([]byte(out), &plans); err != nil {
			t.Fatal(err)
		}
		var walk func(n map[string]any)
		walk = func(n map[string]any) {
			for _, k := range []string{"Rows Removed by Filter", "Rows Removed by Join Filter"} {
				if v, ok := n[k].(float64); ok {
					loops, _ := n["Actual Loops"].(float64)
					dropped += v * max(loops, 1)
				}
			}
			kids, _ := n["Plans"].([]any)
			for _, k := range kids {
				walk(k.(map[string]any))
			}
		}
		walk(plans[0].Plan)
		top := plans[0].Plan
		if top["Node Type"] == "ModifyTable" { // a DELETE gives no rows; what it deleted, its scan does
			top = top["Plans"].([]any)[0].(map[string]any)
		}
		rows, _ = top["Actual Rows"].(float64)
		return dropped, rows
	}

	// The control: the setup does make PostgreSQL misjudge the new tenant.
	var args []any
	for _, m := range members {
		args = append(args, m[0], m[1], m[2])
	}
	old := `SELECT * FROM membership_packs WHERE tenant = ? AND (group_key, first_member, '01') IN (VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(members)), ", ") + `)`
	if dropped, _ := removed(old, append([]any{"new"}, args...)); dropped < 100_000 {
		t.Fatalf("the control read and dropped %.0f rows: the statistics did not misjudge the new tenant, so this test proves nothing", dropped)
	}

	for _, l := range sqlstore.KeyLookups("new", persons, members) {
		dropped, rows := removed(l.Query, l.Args)
		t.Logf("%s: %.0f rows, %.0f read and dropped", l.Name, rows, dropped)
		if dropped > 0 {
			t.Errorf("%s: read and dropped %.0f of the tenant's rows: want each key looked up", l.Name, dropped)
		}
		if rows == 0 {
			t.Errorf("%s: found nothing: the keys are the tenant's", l.Name)
		}
	}
}

// TestKeyListsCarryEveryKeyAsItIs: a key list goes to PostgreSQL as text arrays, so the
// characters an array literal gives meaning to (quotes, backslashes, commas, braces, blanks,
// the word NULL) must come back as the same keys, not split, unquoted or null.
func TestKeyListsCarryEveryKeyAsItIs(t *testing.T) {
	url := storetest.PostgresSchema(t, "keyarrays")
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := []string{"plain", `a "quoted" key`, `back\slash`, `\`, `"`, "a,b", "{braces}", " padded ", "NULL", "null", "", "Åsa Ødegård", "tab\there", "new\nline", `\"{,}`}
	rows, err := db.QueryContext(context.Background(), `SELECT k IS NULL, coalesce(k, '') FROM unnest($1::text[]) AS k`, sqlstore.TextArray(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var null bool
		var k string
		if err := rows.Scan(&null, &k); err != nil {
			t.Fatal(err)
		}
		if null {
			t.Errorf("key %d came back NULL", len(got))
		}
		got = append(got, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != strings.Join(keys, "|") || len(got) != len(keys) {
		t.Fatalf("sent %q, PostgreSQL read %q", keys, got)
	}
}
