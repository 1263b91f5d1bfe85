package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// heldCols are held_changes' columns in the order writeHeld gives them.
var heldCols = []string{"run_id", "seq", "type", "op", "key", "name", "member", "member_name", "role", "course", "fields", "search"}

// heldBatch is how many rows one INSERT carries where there is no COPY (SQLite allows 32,766
// parameters per statement).
const heldBatch = 200

// writeHeld replaces the run's page rows and summary with idx, within tx.
func (c *Core) writeHeld(ctx context.Context, conn *sql.Conn, tx *sql.Tx, runID int64, idx *store.HeldIndex) error {
	if err := c.dropHeld(ctx, tx, runID); err != nil {
		return err
	}
	// The rows are made one at a time from the iterator, never all at once.
	n := 0
	var werr error
	types := map[string]*heldSpan{}
	next, stop := pullHeld(idx, runID, &n, types, &werr)
	defer stop()
	var err error
	if c.d.CopyRows != nil {
		err = c.copyRows(ctx, conn, tx, "held_changes", heldCols, next)
	} else {
		err = c.insertRows(ctx, tx, "held_changes", heldCols, next)
	}
	if err == nil {
		err = werr
	}
	if err == nil && idx.Err != nil {
		err = idx.Err()
	}
	if err != nil {
		return fmt.Errorf("store the changes of held run %d for its page: %w", runID, err)
	}
	spans, err := json.Marshal(types)
	if err != nil {
		return err
	}
	// The breakdown encoded after the rows, not held beside what makes them (a broken
	// night's: 8 MB).
	removals, err := json.Marshal(idx.Removals)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, c.Q(`INSERT INTO held_summaries (run_id, changes, types, removals) VALUES (?, ?, ?, ?)`), runID, n, string(spans), string(removals)); err != nil {
		return fmt.Errorf("store the summary of held run %d: %w", runID, err)
	}
	if c.d.Dollar && n > 1000 {
		// Statistics of the new rows, or the planner takes half a million for a few and sorts
		// them all for one page.
		if _, err := tx.ExecContext(ctx, `ANALYZE held_changes`); err != nil {
			return err
		}
	}
	return nil
}

// heldSpan is where one type's rows are: seq first to last, n of them. When n is last-first+1
// the rows are contiguous and a page of the type is a range of seq.
type heldSpan struct {
	First int `json:"first"`
	Last  int `json:"last"`
	N     int `json:"n"`
}

func (s *heldSpan) contiguous() bool { return s.N == s.Last-s.First+1 }

// pullHeld turns idx.Changes into a pull function of rows, counting them in n. A row that
// cannot be encoded stops it with *werr set.
func pullHeld(idx *store.HeldIndex, runID int64, n *int, types map[string]*heldSpan, werr *error) (next func() ([]any, bool), stop func()) {
	if idx.Changes == nil {
		return func() ([]any, bool) { return nil, false }, func() {}
	}
	pull, stop := iter.Pull(idx.Changes)
	return func() ([]any, bool) {
		ch, ok := pull()
		if !ok {
			return nil, false
		}
		var fields any // NULL when the change has none
		if len(ch.Fields) > 0 {
			b, err := json.Marshal(ch.Fields)
			if err != nil {
				*werr = err
				return nil, false
			}
			fields = string(b)
		}
		*n++
		t := strconv.Itoa(int(ch.Type))
		if sp := types[t]; sp == nil {
			types[t] = &heldSpan{First: *n, Last: *n, N: 1}
		} else {
			sp.Last, sp.N = *n, sp.N+1
		}
		return []any{runID, *n, int64(ch.Type), ch.Op.String(), ch.Key, ch.Name, ch.Member, ch.MemberName, ch.Role, ch.Course, fields, heldSearch(ch)}, true
	}, stop
}

// heldSearch is what a search looks in: the keys and names (and a renamed record's old
// name), lower-cased, one a line.
func heldSearch(ch *store.HeldChange) string {
	var b strings.Builder
	for _, s := range []string{ch.Key, ch.Name, ch.Member, ch.MemberName} {
		if s != "" {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	for _, f := range ch.Fields {
		if f.Name == "name" && f.Old != "" {
			b.WriteString(f.Old)
			b.WriteByte('\n')
		}
	}
	return strings.ToLower(b.String())
}

// heldNeedle is a search as held_changes.search is compared with it.
func heldNeedle(q string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(q), "\n", " "))
}

// insertRows inserts rows heldBatch at a time with prepared multi-row INSERTs.
func (c *Core) insertRows(ctx context.Context, tx *sql.Tx, table string, cols []string, next func() ([]any, bool)) error {
	stmt := func(rows int) string {
		one := "(?" + strings.Repeat(", ?", len(cols)-1) + ")"
		return c.Q(`INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES ` + one + strings.Repeat(", "+one, rows-1))
	}
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, heldBatch*len(cols))
	for {
		row, ok := next()
		if ok {
			args = append(args, row...)
		}
		rows := len(args) / len(cols)
		switch {
		case ok && rows == heldBatch:
			if full == nil {
				var err error
				if full, err = tx.PrepareContext(ctx, stmt(heldBatch)); err != nil {
					return err
				}
			}
			if _, err := full.ExecContext(ctx, args...); err != nil {
				return err
			}
			args = args[:0]
		case !ok:
			if rows > 0 {
				if _, err := tx.ExecContext(ctx, stmt(rows), args...); err != nil {
					return err
				}
			}
			return nil
		}
	}
}

// dropHeld deletes a run's page rows and summary.
func (c *Core) dropHeld(ctx context.Context, q querier, runID int64) error {
	for _, table := range []string{"held_changes", "held_summaries"} {
		if _, err := q.ExecContext(ctx, c.Q(`DELETE FROM `+table+` WHERE run_id = ?`), runID); err != nil {
			return fmt.Errorf("drop the page rows of run %d: %w", runID, err)
		}
	}
	return nil
}

// IndexHeld implements store.Store.
func (c *Core) IndexHeld(ctx context.Context, runID int64, idx *store.HeldIndex) error {
	return c.inConnTx(ctx, func(conn *sql.Conn, tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, c.Q(`SELECT status FROM runs WHERE id = ?`+c.d.ForUpdate), runID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && status != string(runs.Held)) {
			return fmt.Errorf("held run %d: %w", runID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return c.writeHeld(ctx, conn, tx, runID, idx)
	})
}

// HeldChanges implements store.Store.
func (c *Core) HeldChanges(ctx context.Context, runID int64, q store.HeldQuery) (*store.HeldPage, error) {
	var page store.HeldPage
	var types, removals string
	err := c.db.QueryRowContext(ctx, c.Q(`SELECT changes, types, removals FROM held_summaries WHERE run_id = ?`), runID).Scan(&page.All, &types, &removals)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("changes of held run %d: %w", runID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("changes of held run %d: %w", runID, err)
	}
	var spans map[string]heldSpan
	if err := json.Unmarshal([]byte(types), &spans); err != nil {
		return nil, fmt.Errorf("summary of held run %d: %w", runID, err)
	}
	if err := json.Unmarshal([]byte(removals), &page.Removals); err != nil {
		return nil, fmt.Errorf("removals of held run %d: %w", runID, err)
	}
	if page.Removals == nil {
		page.Removals = []archive.GroupRemovals{}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	offset := max(q.Offset, 0)
	needle := heldNeedle(q.Search)
	// Without a search a page is a range of seq (the rows are numbered 1… in order, and a
	// type's are usually contiguous): it costs the same on page 10,000 as on page 1. A search
	// counts its matches and skips to the page through them.
	where, args := `run_id = ?`, []any{runID}
	page.Matched = page.All
	first := 1 // the seq the page's range starts from, when paged by range
	switch {
	case needle == "" && q.AllTypes:
	case needle == "":
		sp := spans[strconv.Itoa(int(q.Type))]
		page.Matched, first = sp.N, sp.First
		if !sp.contiguous() {
			where += ` AND type = ?`
			args = append(args, int64(q.Type))
			first = 0
		}
	default:
		if !q.AllTypes {
			where += ` AND type = ?`
			args = append(args, int64(q.Type))
		}
		if c.d.Dollar {
			where += ` AND strpos(search, ?) > 0`
		} else {
			where += ` AND instr(search, ?) > 0`
		}
		args = append(args, needle)
		if err := c.db.QueryRowContext(ctx, c.Q(`SELECT COUNT(*) FROM held_changes WHERE `+where), args...).Scan(&page.Matched); err != nil {
			return nil, fmt.Errorf("count changes of held run %d: %w", runID, err)
		}
		first = 0
	}
	if offset >= page.Matched {
		return &page, nil
	}
	query := `SELECT type, op, key, name, member, member_name, role, course, fields FROM held_changes WHERE ` + where
	if first > 0 {
		query += ` AND seq >= ? ORDER BY seq LIMIT ?`
		args = append(args, first+offset, min(limit, page.Matched-offset))
	} else {
		query += ` ORDER BY seq LIMIT ? OFFSET ?`
		args = append(args, limit, offset)
	}
	rows, err := c.db.QueryContext(ctx, c.Q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("changes of held run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ch store.HeldChange
		var typ int64
		var op string
		var fields sql.NullString
		if err := rows.Scan(&typ, &op, &ch.Key, &ch.Name, &ch.Member, &ch.MemberName, &ch.Role, &ch.Course, &fields); err != nil {
			return nil, fmt.Errorf("changes of held run %d: %w", runID, err)
		}
		ch.Type = record.Type(typ)
		if err := ch.Op.UnmarshalText([]byte(op)); err != nil {
			return nil, fmt.Errorf("changes of held run %d: %w", runID, err)
		}
		if fields.Valid {
			if err := json.Unmarshal([]byte(fields.String), &ch.Fields); err != nil {
				return nil, fmt.Errorf("changes of held run %d: %w", runID, err)
			}
		}
		page.Changes = append(page.Changes, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes of held run %d: %w", runID, err)
	}
	return &page, nil
}
