package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

// Planner statistics after a large write (store.PlannerStats). A tenant's initial load into
// tables that held little before leaves them unanalysed until autovacuum comes around; a
// re-import started before that (the tenant's second night, a catch-up of queued files) has
// its statements planned as if the rows were not there: each before-image lookup of 300
// persons by key read every row of the tenant's 150,000 (the 317 MB feed's 1 % night: its
// apply 0.25-0.38 s instead of 0.06-0.08 s).

// analyzeFloor is the fewest rows a write must add to a table for RefreshStats to analyse it.
// Below it the tenant is small: its statements are cheap whatever the plan, and its initial
// load pays nothing (the 2.4 MB feed adds 3,000 persons and 7,325 memberships).
const analyzeFloor = 10_000

// analyzeShare is the share of a table's rows a write must add: autovacuum's default
// autovacuum_analyze_scale_factor. A table that grew by it is one autovacuum analyses anyway,
// within its naptime, so RefreshStats adds no work for the server, it only does it before the
// tenant's next night. A new tenant among others in a shared table adds less than that; it is
// analysed when the statistics do not know it (unknownTenant).
const analyzeShare = 0.1

// unknownShare: a table is analysed after a write that added less than analyzeShare when the
// planner expects fewer than this share of the rows the write gave the tenant. Among tenants
// of which the statistics list every one (up to the statistics target, 100), one loaded since
// is planned as a single row, and a statement like "tenant = ? AND member_key IN (...)" then
// reads all of the tenant's rows (a tenant of 78,360 memberships beside eight of 1.47 million).
// Among thousands of tenants alike the statistics list none, and the planner expects an
// average tenant: no ANALYZE.
const unknownShare = 0.1

// analyzeLockWait is how long an ANALYZE waits for another session vacuuming or analysing the
// same table (another tenant's initial load, autovacuum): that one's statistics are coming.
const analyzeLockWait = "2s"

// analyzeTimeout bounds one table's ANALYZE, which samples a fixed number of rows (30,000 at
// the default statistics target) whatever the table's size.
const analyzeTimeout = "5min"

// statsTables are the tables an import fills, each with the kind of record whose count in
// RefreshStats's added it grows by and the columns imsfeed's statements filter on: the only
// ones analysed (the memberships' table is the store's seam's, sqlstore.MembershipStats). The others (names,
// attributes, hashes) are never in a WHERE clause, and their statistics (the JSON attributes'
// above all) were half of an ANALYZE's time: the 316.8 MB feed's persons and memberships
// 0.45-0.57 s whole, 0.21-0.27 s on these columns.
var statsTables = func() []statsTable {
	t := []statsTable{
		{"persons", "persons", "tenant, key, status", 1},
		{"groups", "groups", "tenant, key, status, is_course", 1},
		{"relations", "relations", "tenant, person_key, related_key, type", 1},
	}
	for _, m := range sqlstore.MembershipStats {
		t = append(t, statsTable{m.Kind, m.Table, m.Columns, m.PerRow})
	}
	return t
}()

type statsTable struct {
	kind, name, columns string
	perRow              int // records of kind a row holds
}

// needsAnalyze says whether a table that held about reltuples rows as last counted (-1: never
// analysed or vacuumed) needs an ANALYZE now that a write added added rows to it.
func needsAnalyze(added int, reltuples float64) bool {
	if added < analyzeFloor {
		return false
	}
	return reltuples < 0 || float64(added) >= analyzeShare*reltuples
}

// RefreshStats implements store.PlannerStats: each table in its own short transaction,
// after the write's own has committed, two at a time (the server samples each table on a core
// of its own; one after the other, the four of an initial load took 0.3 s of the 316.8 MB
// feed's load, while the process waited).
func (s *Store) RefreshStats(ctx context.Context, tenant string, added map[string]int) ([]string, error) {
	done := make([]bool, len(statsTables))
	errs := make([]error, len(statsTables))
	slots := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, t := range statsTables {
		n := added[t.kind] / t.perRow
		if n < analyzeFloor {
			continue
		}
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			done[i], errs[i] = s.refresh(ctx, tenant, t, n)
		}()
	}
	wg.Wait()
	var analysed []string
	for i, t := range statsTables {
		if done[i] {
			analysed = append(analysed, t.name)
		}
	}
	return analysed, errors.Join(errs...)
}

// refresh analyses table t, to which n rows of tenant were added, when the planner's figures
// need it, and says whether it did.
func (s *Store) refresh(ctx context.Context, tenant string, t statsTable, n int) (bool, error) {
	table := t.name
	var tuples sql.NullFloat64
	if err := s.db.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&tuples); err != nil {
		return false, fmt.Errorf("analyze %s: %w", table, err)
	}
	if !needsAnalyze(n, tuples.Float64) {
		known, err := s.expected(ctx, table, tenant)
		if err != nil {
			return false, fmt.Errorf("analyze %s: %w", table, err)
		}
		if known >= unknownShare*float64(n) {
			return false, nil
		}
	}
	if err := s.analyze(ctx, table, t.columns); err != nil {
		return false, fmt.Errorf("analyze %s: %w", table, err)
	}
	return true, nil
}

// expected is how many rows of tenant the planner expects in table.
func (s *Store) expected(ctx context.Context, table, tenant string) (float64, error) {
	var out []byte
	if err := s.db.QueryRowContext(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM `+table+` WHERE tenant = $1`, tenant).Scan(&out); err != nil {
		return 0, err
	}
	var plans []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) == 0 {
		return 0, fmt.Errorf("the planner's estimate: %s: %v", out, err)
	}
	return plans[0].Plan.Rows, nil
}

func (s *Store) analyze(ctx context.Context, table, columns string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after a commit it does nothing
	for _, q := range []string{
		"SET LOCAL lock_timeout = '" + analyzeLockWait + "'",
		"SET LOCAL statement_timeout = '" + analyzeTimeout + "'",
		"ANALYZE " + table + " (" + columns + ")",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}
