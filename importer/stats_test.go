package importer_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// logBuffer is a log the importer writes and a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// statsEnv is a tenant on a PostgreSQL schema of its own (its tables new, as a new
// installation's are), with the importer's log kept and a plain connection to the schema.
func statsEnv(t *testing.T) (*env, *logBuffer, *sql.DB) {
	u := storetest.PostgresSchema(t, "stats")
	e := newEnv(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, nil)
	log := &logBuffer{}
	e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Logger: slog.New(slog.NewTextHandler(log, nil))})
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return e, log, db
}

// analysed says which of the schema's tables an ANALYZE of ours (not autovacuum's) went over.
func analysed(t *testing.T, db *sql.DB, tables ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, table := range tables {
		var n int64
		err := db.QueryRow(`SELECT analyze_count FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&n)
		if err != nil {
			t.Fatalf("statistics of %s: %v", table, err)
		}
		out[table] = n > 0
	}
	return out
}

// large is a tenant whose initial load makes most of its tables' rows: 12,000 persons and
// 12,000 memberships, in 200 groups (a few: their table is left to autovacuum).
func large(e *env) string {
	e.t.Helper()
	var buf bytes.Buffer
	if err := feedgen.Write(&buf, feedgen.Options{Persons: 12000, Groups: 200, MembersPerGroup: 60, Seed: 3}); err != nil {
		e.t.Fatal(err)
	}
	return e.write("large.xml", buf.Bytes())
}

// TestInitialLoadAnalysesWhatItFilled: a tenant's initial load into new tables leaves the
// tables it filled analysed, so its next night is planned with its rows counted; a small
// tenant's initial load analyses nothing.
func TestInitialLoadAnalysesWhatItFilled(t *testing.T) {
	t.Run("large", func(t *testing.T) {
		e, log, db := statsEnv(t)
		r := e.imp(large(e))
		wantStatus(t, r, runs.Completed)
		if r.Counts.Persons.Inserted < 10000 || r.Counts.Memberships.Inserted < 10000 || r.Counts.Groups.Inserted >= 10000 {
			t.Fatalf("the feed is not what the test needs: %+v", r.Counts)
		}
		// The member lists grow with the persons (a row each); the packs hold about 32
		// memberships a row, so the tenant's 12,000 make fewer than the floor.
		got := analysed(t, db, "persons", "member_groups", "membership_packs", "groups")
		if !got["persons"] || !got["member_groups"] || got["membership_packs"] || got["groups"] {
			t.Errorf("analysed after the initial load: %v, want persons and member_groups, not membership_packs or groups", got)
		}
		if !strings.Contains(log.String(), "planner statistics refreshed") {
			t.Errorf("the log does not say the statistics were refreshed:\n%s", log)
		}
	})
	t.Run("small", func(t *testing.T) {
		e, log, db := statsEnv(t)
		r := e.imp(e.file("small.xml", feedgen.Options{}))
		wantStatus(t, r, runs.Completed)
		if got := analysed(t, db, "persons", "member_groups", "membership_packs", "groups"); got["persons"] || got["member_groups"] || got["membership_packs"] || got["groups"] {
			t.Errorf("a small tenant's initial load analysed %v", got)
		}
		if strings.Contains(log.String(), "planner statistics") {
			t.Errorf("the log of a small tenant's initial load mentions statistics:\n%s", log)
		}
	})
}

// TestStatsFailureLeavesTheImportApplied: when the ANALYZE after an initial load cannot run
// (here another session holds the member lists' table as a VACUUM would), the import is applied
// all the same, its run completed, and the log warns.
func TestStatsFailureLeavesTheImportApplied(t *testing.T) {
	e, log, db := statsEnv(t)
	ctx := context.Background()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback() //nolint:errcheck
	if _, err := holder.Exec(`LOCK TABLE member_groups IN SHARE UPDATE EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	r := e.imp(large(e))
	wantStatus(t, r, runs.Completed)
	if s := e.status(); s.Persons.Active != r.Counts.Persons.After || s.StateVersion != r.VersionAfter || s.StateVersion == 0 {
		t.Fatalf("after the import: %+v, run %+v", s, r.Counts.Persons)
	}
	var n int
	if err := db.QueryRow(`SELECT sum(entries) FROM membership_packs WHERE tenant = $1`, e.tenant.ID).Scan(&n); err != nil || n != r.Counts.Memberships.After {
		t.Fatalf("%d memberships stored (%v), want %d", n, err, r.Counts.Memberships.After)
	}
	if !strings.Contains(log.String(), "level=WARN msg=\"planner statistics not refreshed") || !strings.Contains(log.String(), "analyze member_groups") {
		t.Errorf("no warning naming the table in the log:\n%s", log)
	}
	if got := analysed(t, db, "persons", "member_groups"); !got["persons"] || got["member_groups"] {
		t.Errorf("analysed: %v, want persons (not locked) and not member_groups", got)
	}
	got, err := e.st.LastRun(ctx, e.tenant.ID)
	if err != nil || got.ID != r.ID || got.Status != runs.Completed {
		t.Fatalf("the stored run: %+v, %v; want run %d completed", got, err, r.ID)
	}
}

// TestNewTenantAmongOthersIsAnalysed: a tenant's initial load into tables that already hold
// another tenant ten times its size adds less than autovacuum analyses for, but the
// statistics, which list the other tenant, would plan the new one as a single row: its tables
// are analysed, and the planner then expects its rows.
func TestNewTenantAmongOthersIsAnalysed(t *testing.T) {
	e, log, db := statsEnv(t)
	for _, q := range []string{
		`ALTER TABLE persons SET (autovacuum_enabled = false)`,
		`ALTER TABLE member_groups SET (autovacuum_enabled = false)`,
		`INSERT INTO persons (tenant, key, hash) SELECT 'other', 'P' || i, decode(repeat('00', 16), 'hex') FROM generate_series(1, 150000) i`,
		`INSERT INTO member_groups (tenant, member_type, member_key, groups)
SELECT 'other', 1, 'P' || i, '\x00'::bytea FROM generate_series(1, 150000) i`,
		`ANALYZE persons`, `ANALYZE member_groups`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	counts := func() map[string]int64 {
		out := map[string]int64{}
		for _, table := range []string{"persons", "member_groups"} {
			var n int64
			if err := db.QueryRow(`SELECT analyze_count FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}
	expected := func(table string) float64 {
		var out []byte
		if err := db.QueryRow(`EXPLAIN (FORMAT JSON) SELECT 1 FROM `+table+` WHERE tenant = $1`, e.tenant.ID).Scan(&out); err != nil {
			t.Fatal(err)
		}
		var plans []struct {
			Plan struct {
				Rows float64 `json:"Plan Rows"`
			}
		}
		if err := json.Unmarshal(out, &plans); err != nil {
			t.Fatal(err)
		}
		return plans[0].Plan.Rows
	}
	if n := expected("persons"); n > 100 {
		t.Fatalf("before the load the planner expects %.0f persons of the tenant: the test needs it unknown", n)
	}

	before := counts()
	r := e.imp(large(e))
	wantStatus(t, r, runs.Completed)
	if 10*r.Counts.Persons.Inserted >= 150000 {
		t.Fatalf("the tenant adds %d persons: want less than a tenth of the table", r.Counts.Persons.Inserted)
	}
	after := counts()
	for _, table := range []string{"persons", "member_groups"} {
		if after[table] == before[table] {
			t.Errorf("%s not analysed after a new tenant's initial load beside another", table)
		}
	}
	if n := expected("persons"); n < float64(r.Counts.Persons.Inserted)/2 {
		t.Errorf("after the load the planner expects %.0f of the tenant's %d persons", n, r.Counts.Persons.Inserted)
	}
	if !strings.Contains(log.String(), "planner statistics refreshed") {
		t.Errorf("the log does not say the statistics were refreshed:\n%s", log)
	}
}
