package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/lib/pq"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

// writePlan copies the plan's rows into temporary tables (dropped at commit) and applies them
// with one set-based statement per kind of change, in the order of sqlstore.RowWriter.
func writePlan(ctx context.Context, tx *sql.Tx, w *sqlstore.Write) error {
	p := w.Plan
	// Which kinds of change the plan has: a statement for a kind it lacks is not run at all.
	// (With statistics stale for a new tenant, PostgreSQL may loop over the temporary table
	// once per stored row; skipping empty steps and indexing the key of removals avoids it.)
	// (has[2] and direct[2] stay unset: the memberships are the store's seam's,
	// sqlstore.StageMemberships.)
	var has [4][7]bool
	for i := range p.Groups {
		has[0][p.Groups[i].Op] = true
	}
	for i := range p.Persons {
		has[1][p.Persons[i].Op] = true
	}
	for i := range p.Relations {
		has[3][p.Relations[i].Op] = true
	}
	removals := func(t int) bool { return has[t][change.Delete] || has[t][change.Archive] || has[t][change.Manualize] }
	// An initial load (only inserts, into a table holding nothing of the tenant) is copied
	// straight into the table: no temporary table, no conflict checks. It halves the work of
	// the biggest apply there is.
	onlyInserts := func(t int) bool {
		for op, ok := range has[t] {
			if ok && change.Op(op) != change.Insert {
				return false
			}
		}
		return true
	}
	empty := func(table string) (bool, error) {
		var any bool
		err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE tenant = $1)", w.Tenant).Scan(&any)
		return !any, err
	}
	var direct [4]bool
	for _, t := range []struct {
		i     int
		table string
		n     int
	}{{0, "groups", len(p.Groups)}, {1, "persons", len(p.Persons)}, {3, "relations", len(p.Relations)}} {
		if t.n < 1000 || !onlyInserts(t.i) {
			continue
		}
		ok, err := empty(t.table)
		if err != nil {
			return err
		}
		direct[t.i] = ok
	}
	if direct[0] {
		err := copyInto(ctx, tx, w, "groups", []string{"tenant", "key", "source", "name", "types", "parents", "attrs", "hash", "is_course", "template"},
			len(p.Groups), func(i int) []any {
				x := &p.Groups[i]
				g := &x.Group
				return []any{w.Tenant, g.Key, g.Source, g.Name, sqlstore.JSON(g.Types), sqlstore.JSON(g.Parents), sqlstore.JSON(g.Attrs), g.Hash[:], x.Course, g.Template}
			})
		if err != nil {
			return err
		}
		has[0] = [7]bool{}
	}
	if direct[1] {
		err := copyInto(ctx, tx, w, "persons", []string{"tenant", "key", "source", "name", "attrs", "hash"},
			len(p.Persons), func(i int) []any {
				r := &p.Persons[i].Person
				return []any{w.Tenant, r.Key, r.Source, r.Name, sqlstore.JSON(r.Attrs), r.Hash[:]}
			})
		if err != nil {
			return err
		}
		has[1] = [7]bool{}
	}
	if direct[3] {
		err := copyInto(ctx, tx, w, "relations", []string{"tenant", "person_key", "related_key", "type", "attrs", "hash"},
			len(p.Relations), func(i int) []any {
				r := &p.Relations[i].Relation
				return []any{w.Tenant, r.Person, r.Related, r.Type, sqlstore.JSON(r.Attrs), r.Hash[:]}
			})
		if err != nil {
			return err
		}
		has[3] = [7]bool{}
	}
	if len(p.Groups) > 0 && !direct[0] {
		err := copyRows(ctx, tx, w, `CREATE TEMP TABLE imsfeed_g (op smallint, key text, source text, name text,
  types jsonb, parents jsonb, attrs jsonb, hash bytea, is_course boolean, template text) ON COMMIT DROP`,
			"imsfeed_g", "key", removals(0), []string{"op", "key", "source", "name", "types", "parents", "attrs", "hash", "is_course", "template"},
			len(p.Groups), func(i int) []any {
				x := &p.Groups[i]
				g := &x.Group
				return []any{int64(x.Op), g.Key, g.Source, g.Name, sqlstore.JSON(g.Types), sqlstore.JSON(g.Parents), sqlstore.JSON(g.Attrs), g.Hash[:], x.Course, g.Template}
			})
		if err != nil {
			return err
		}
	}
	if len(p.Persons) > 0 && !direct[1] {
		err := copyRows(ctx, tx, w, `CREATE TEMP TABLE imsfeed_p (op smallint, key text, source text, name text,
  attrs jsonb, hash bytea) ON COMMIT DROP`,
			"imsfeed_p", "key", removals(1), []string{"op", "key", "source", "name", "attrs", "hash"},
			len(p.Persons), func(i int) []any {
				x := &p.Persons[i]
				r := &x.Person
				return []any{int64(x.Op), r.Key, r.Source, r.Name, sqlstore.JSON(r.Attrs), r.Hash[:]}
			})
		if err != nil {
			return err
		}
	}
	// The memberships are the store's seam's to write: copied in now, their statements run
	// at their place below.
	// Their rows are packs and member lists, not changes: StageMemberships counts the
	// changes written, not the copies.
	quiet := *w
	quiet.Progress = nil
	msteps, err := sqlstore.StageMemberships(ctx, tx, w, sqlstore.SetCopy{
		Into: func(table string, cols []string, n int, row func(int) []any) error {
			return copyInto(ctx, tx, &quiet, table, cols, n, row)
		},
		Temp: func(create, table, key string, index bool, cols []string, n int, row func(int) []any) error {
			return copyRows(ctx, tx, &quiet, create, table, key, index, cols, n, row)
		},
	})
	if err != nil {
		return err
	}
	if len(p.Relations) > 0 && !direct[3] {
		err := copyRows(ctx, tx, w, `CREATE TEMP TABLE imsfeed_r (op smallint, person_key text, related_key text, type text,
  attrs jsonb, hash bytea) ON COMMIT DROP`,
			"imsfeed_r", "person_key, related_key, type", removals(3), []string{"op", "person_key", "related_key", "type", "attrs", "hash"},
			len(p.Relations), func(i int) []any {
				x := &p.Relations[i]
				r := &x.Relation
				return []any{int64(x.Op), r.Person, r.Related, r.Type, sqlstore.JSON(r.Attrs), r.Hash[:]}
			})
		if err != nil {
			return err
		}
	}

	type step struct {
		when  bool
		what  string
		query string
		args  []any
	}
	t := w.Tenant
	g, ps, r := has[0], has[1], has[3]
	steps := []step{
		{g[change.Insert] || g[change.Update], "group upserts", `INSERT INTO groups (tenant, key, source, name, types, parents, attrs, hash, is_course, template)
SELECT $1, key, source, name, types, parents, attrs, hash, is_course, template FROM imsfeed_g WHERE op IN (1, 2)
ON CONFLICT (tenant, key) DO UPDATE SET source = excluded.source, name = excluded.name,
  types = excluded.types, parents = excluded.parents, attrs = excluded.attrs, hash = excluded.hash,
  is_course = excluded.is_course`, []any{t}},
		{ps[change.Insert] || ps[change.Update] || ps[change.Restore], "person upserts", `INSERT INTO persons (tenant, key, source, name, attrs, hash, status, trashed_at, trashed_run)
SELECT $1, key, source, name, attrs, hash, 'active', NULL, NULL FROM imsfeed_p WHERE op IN (1, 2, 4)
ON CONFLICT (tenant, key) DO UPDATE SET source = excluded.source, name = excluded.name,
  attrs = excluded.attrs, hash = excluded.hash, status = 'active', trashed_at = NULL, trashed_run = NULL`, []any{t}},
	}
	for _, m := range msteps { // the memberships', in their place
		steps = append(steps, step{true, m.What, m.Query, m.Args})
	}
	steps = append(steps, []step{
		{r[change.Delete], "relation deletes", `DELETE FROM relations x USING imsfeed_r t
WHERE t.op = 3 AND x.tenant = $1 AND x.person_key = t.person_key AND x.related_key = t.related_key
  AND x.type = t.type`, []any{t}},
		{r[change.Insert] || r[change.Update], "relation upserts", `INSERT INTO relations (tenant, person_key, related_key, type, attrs, hash)
SELECT $1, person_key, related_key, type, attrs, hash FROM imsfeed_r WHERE op IN (1, 2)
ON CONFLICT (tenant, person_key, related_key, type) DO UPDATE SET attrs = excluded.attrs, hash = excluded.hash`, []any{t}},
		{g[change.Delete], "group deletes", `DELETE FROM groups x USING imsfeed_g t WHERE t.op = 3 AND x.tenant = $1 AND x.key = t.key`, []any{t}},
		{g[change.Archive], "group archivals", `UPDATE groups x SET status = 'archived', archived_at = $2, archived_run = $3, parents = t.parents
FROM imsfeed_g t WHERE t.op = 5 AND x.tenant = $1 AND x.key = t.key AND x.status = 'active'`, []any{t, w.Now, w.RunID}},
		{ps[change.Delete], "person trashings", `UPDATE persons x SET status = 'trashed', trashed_at = $2, trashed_run = $3
FROM imsfeed_p t WHERE t.op = 3 AND x.tenant = $1 AND x.key = t.key AND x.status = 'active'`, []any{t, w.Now, w.RunID}},
		// A trashed person has no relations, either way (see sqlstore.PersonRelationsDelete).
		{ps[change.Delete], "relations of trashed persons", `DELETE FROM relations x USING imsfeed_p t
WHERE t.op = 3 AND x.tenant = $1 AND x.person_key = t.key`, []any{t}},
		{ps[change.Delete], "relations naming trashed persons", `DELETE FROM relations x USING imsfeed_p t
WHERE t.op = 3 AND x.tenant = $1 AND x.related_key = t.key`, []any{t}},
	}...)
	for _, s := range steps {
		if !s.when {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// copyInto fills a table with COPY: as text on the transaction's connection where the core
// gives a way to (Write.Copy), else a row at a time through database/sql.
func copyInto(ctx context.Context, tx *sql.Tx, w *sqlstore.Write, table string, cols []string, n int, row func(int) []any) error {
	if w.Copy != nil {
		i := 0
		return w.Copy(table, cols, func() ([]any, bool) {
			if i == n {
				return nil, false
			}
			i++
			w.Wrote()
			return row(i - 1), true
		})
	}
	st, err := tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return err
	}
	for i := range n {
		if _, err := st.ExecContext(ctx, row(i)...); err != nil {
			st.Close()
			return fmt.Errorf("copy %s row %d: %w", table, i+1, err)
		}
		w.Wrote()
	}
	if _, err := st.ExecContext(ctx); err != nil {
		st.Close()
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return st.Close()
}

// copyRowsFrom fills a table with COPY from the rows next yields (a held run's page rows).
func copyRowsFrom(ctx context.Context, tx *sql.Tx, table string, cols []string, next func() ([]any, bool)) error {
	st, err := tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return err
	}
	for n := 1; ; n++ {
		row, ok := next()
		if !ok {
			break
		}
		if _, err := st.ExecContext(ctx, row...); err != nil {
			st.Close()
			return fmt.Errorf("copy %s row %d: %w", table, n, err)
		}
	}
	if _, err := st.ExecContext(ctx); err != nil {
		st.Close()
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return st.Close()
}

// copyText fills table's columns by COPY from the text fill makes (sqlstore.Dialect.CopyText):
// the chunks go to lib/pq's CopyData as they are, on the driver's connection, instead of a row
// at a time through database/sql, which converted and checked every argument and then had
// lib/pq escape it again (in the 316.8 MB feed's initial load about 2.3 s of the copying
// goroutine's 3.2 s of CPU).
func copyText(ctx context.Context, conn *sql.Conn, table string, cols []string, fill func([]byte) ([]byte, bool)) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("copy %s: the driver's connection is a %T", table, dc)
		}
		st, err := c.Prepare(pq.CopyIn(table, cols...))
		if err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		defer st.Close()
		cd, ok := st.(interface {
			CopyData(context.Context, string) (driver.Result, error)
		})
		if !ok {
			return fmt.Errorf("copy %s: lib/pq's COPY statement has no CopyData", table)
		}
		// Not bound to ctx: lib/pq would watch it with a goroutine per call. It is checked
		// between chunks instead, and the caller's rollback ends the COPY's work.
		run := context.WithoutCancel(ctx)
		buf := make([]byte, 0, 64<<10)
		for more := true; more; {
			if err := ctx.Err(); err != nil {
				return err
			}
			buf, more = fill(buf[:0])
			if len(buf) == 0 {
				continue
			}
			if buf[len(buf)-1] != '\n' {
				return fmt.Errorf("copy %s: a chunk of rows does not end a row", table)
			}
			// CopyData appends a newline to what it is given, and copies it before it returns:
			// the string may share buf's bytes.
			if _, err := cd.CopyData(run, unsafe.String(&buf[0], len(buf)-1)); err != nil {
				return copyErr(table, err)
			}
		}
		if _, err := st.Exec(nil); err != nil { //nolint:staticcheck // lib/pq ends a COPY with Exec(nil)
			return copyErr(table, err)
		}
		return nil
	})
}

// copyErr says which table a COPY failed in and, where the server says it, at which line and
// column (not the column's value, which the server quotes after them).
func copyErr(table string, err error) error {
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Where != "" {
		where, _, _ := strings.Cut(pe.Where, ": ")
		return fmt.Errorf("copy %s (%s): %w", table, where, err)
	}
	return fmt.Errorf("copy %s: %w", table, err)
}

// copyRows creates a temporary table and fills it with COPY. When the rows include removals,
// their key is indexed, so a removal finds its row by index whichever way the planner joins;
// statistics let it choose hash joins for big tables.
func copyRows(ctx context.Context, tx *sql.Tx, w *sqlstore.Write, create, table, key string, index bool, cols []string, n int, row func(int) []any) error {
	// An approval writes its plan a piece at a time in one transaction (ApplyParams.Pieces):
	// the last piece's table is still there.
	if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return err
	}
	if err := copyInto(ctx, tx, w, table, cols, n, row); err != nil {
		return err
	}
	if index {
		if _, err := tx.ExecContext(ctx, "CREATE INDEX ON "+table+" ("+key+")"); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "ANALYZE "+table); err != nil {
		return err
	}
	return nil
}

// The op numbers the statements above use; these fail to compile if change.Op is renumbered.
var (
	_ [0]int = [change.Insert - 1]int{}
	_ [0]int = [change.Update - 2]int{}
	_ [0]int = [change.Delete - 3]int{}
	_ [0]int = [change.Restore - 4]int{}
	_ [0]int = [change.Archive - 5]int{}
	_ [0]int = [change.Manualize - 6]int{}
)
