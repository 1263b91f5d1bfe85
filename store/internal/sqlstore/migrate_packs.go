package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/imsfeed/imsfeed/store/internal/packs"
)

// steps are the Go parts of migrations: the step of a version runs right after its SQL, in the
// same transaction, for what SQL alone cannot build.
var steps = map[string]func(ctx context.Context, tx *sql.Tx, dollar bool) error{
	"0028_membership_packs": packMemberships,
}

// migratePage is how many rows the move of the memberships reads a statement. lib/pq cannot
// run a statement while another's rows are open, so the rows are read in pages by key, with
// the writes between them; memory stays a page's whatever the database holds.
var migratePage = 20000

// insertBatch is how many rows one INSERT of the move writes.
const insertBatch = 500

// packMemberships moves every tenant's memberships rows into membership_packs (a group's
// entries sorted and cut as the stores' writers keep them) and member_groups (each member's
// groups), then drops the memberships table.
func packMemberships(ctx context.Context, tx *sql.Tx, dollar bool) error {
	if dollar {
		// An older imsfeed still running waits until the table is gone: none of its rows is
		// written behind the pages already read. The lock the DROP needs is taken now, not
		// after the pages: a reader of theirs waiting to write would deadlock with the upgrade.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE memberships IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
	}
	if err := movePacks(ctx, tx, dollar); err != nil {
		return fmt.Errorf("memberships into packs: %w", err)
	}
	if err := moveMemberGroups(ctx, tx, dollar); err != nil {
		return fmt.Errorf("memberships into member lists: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE memberships`); err != nil {
		return err
	}
	if !dollar {
		return nil
	}
	// The planner knows the new tables from the first statement on, not from autovacuum's
	// first pass (a new database's are empty: nothing to know).
	var some bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM membership_packs)`).Scan(&some); err != nil || !some {
		return err
	}
	_, err := tx.ExecContext(ctx, `ANALYZE membership_packs, member_groups`)
	return err
}

// membershipRow is a memberships row as a pack entry, with its tenant and group.
type membershipRow struct {
	tenant, group string
	entry         packs.Entry
}

func movePacks(ctx context.Context, tx *sql.Tx, dollar bool) error {
	attrs := "attrs"
	if dollar {
		attrs = "attrs::text" // jsonb's text, as the stores read it
	}
	cols := `SELECT tenant, group_key, member_key, role, member_type, ` + attrs + `, hash, origin FROM memberships `
	const order = ` ORDER BY tenant, group_key, member_key, role LIMIT ?`
	first := Rebind(dollar, cols+order)
	next := Rebind(dollar, cols+`WHERE (tenant, group_key, member_key, role) > (?, ?, ?, ?)`+order)
	b := packBuilder{out: newInserter(ctx, tx, dollar, "membership_packs", "tenant, group_key, first_member, entries, manual, data", 6)}
	var page []membershipRow
	for {
		var rows *sql.Rows
		var err error
		if page == nil {
			rows, err = tx.QueryContext(ctx, first, migratePage)
		} else {
			last := &page[len(page)-1]
			rows, err = tx.QueryContext(ctx, next, last.tenant, last.group, last.entry.Member, last.entry.Role, migratePage)
		}
		if err != nil {
			return err
		}
		page = page[:0]
		for rows.Next() {
			var r membershipRow
			var memberType int
			var attrs sql.NullString
			var hash []byte
			var origin string
			if err := rows.Scan(&r.tenant, &r.group, &r.entry.Member, &r.entry.Role, &memberType, &attrs, &hash, &origin); err != nil {
				rows.Close()
				return err
			}
			r.entry.Group = memberType == 2
			r.entry.Manual = origin == "manual"
			copy(r.entry.Hash[:], hash) // as the stores read it
			if attrs.Valid {
				r.entry.Attrs = []byte(attrs.String)
			}
			page = append(page, r)
		}
		if err := closeRows(rows); err != nil {
			return err
		}
		for i := range page {
			if err := b.add(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < migratePage {
			break
		}
		// A large group's packs but its last are written now: rows to come cannot change them.
		if err := b.flush(false); err != nil {
			return err
		}
	}
	if err := b.flush(true); err != nil {
		return err
	}
	return b.out.flush()
}

// packBuilder cuts one group's entries, arriving sorted, into packs as packs.Cut does.
type packBuilder struct {
	out           *inserter
	tenant, group string
	written       bool // a pack of the group was written: the next is keyed by its first member
	entries       []packs.Entry
}

func (b *packBuilder) add(r *membershipRow) error {
	if r.tenant != b.tenant || r.group != b.group {
		if err := b.flush(true); err != nil {
			return err
		}
		b.tenant, b.group, b.written = r.tenant, r.group, false
	}
	b.entries = append(b.entries, r.entry)
	return nil
}

// flush writes the group's packs: all of them at the group's end, else all but the last, which
// entries still to come may grow. Cut closes a pack only when the member after it does not fit,
// and more entries of that member would fit even less, so the packs before the last are final;
// the last cut again from its start is cut as it would have been.
func (b *packBuilder) flush(end bool) error {
	var cut [][]packs.Entry
	packs.Cut(b.entries, func(es []packs.Entry) { cut = append(cut, es) })
	keep := 0
	if !end && len(cut) > 0 {
		keep = 1
	}
	for _, es := range cut[:len(cut)-keep] {
		key := ""
		if b.written {
			key = es[0].Member
		}
		r := packs.RowOf(key, es)
		if err := b.out.add(b.tenant, b.group, r.Key, r.N, r.Manual, r.Data); err != nil {
			return err
		}
		b.written = true
	}
	var rest []packs.Entry
	if keep == 1 {
		rest = cut[len(cut)-1]
	}
	n := len(b.entries)
	b.entries = append(b.entries[:0], rest...)
	clear(b.entries[len(b.entries):n]) // let go of the written entries' attributes
	return nil
}

func moveMemberGroups(ctx context.Context, tx *sql.Tx, dollar bool) error {
	// The pages are read in this index's order; it goes with the table.
	if _, err := tx.ExecContext(ctx, `CREATE INDEX memberships_migrate_member_groups ON memberships (tenant, member_type, member_key, group_key)`); err != nil {
		return err
	}
	const cols = `SELECT DISTINCT tenant, member_type, member_key, group_key FROM memberships `
	const order = ` ORDER BY tenant, member_type, member_key, group_key LIMIT ?`
	first := Rebind(dollar, cols+order)
	next := Rebind(dollar, cols+`WHERE (tenant, member_type, member_key, group_key) > (?, ?, ?, ?)`+order)
	out := newInserter(ctx, tx, dollar, "member_groups", "tenant, member_type, member_key, groups", 4)
	type pair struct {
		tenant     string
		memberType int
		member     string
		group      string
	}
	var cur pair // the member whose groups are gathered
	var groups []string
	emit := func() error {
		if len(groups) == 0 {
			return nil
		}
		err := out.add(cur.tenant, cur.memberType, cur.member, packs.AppendList(nil, groups))
		groups = groups[:0]
		return err
	}
	var page []pair
	for {
		var rows *sql.Rows
		var err error
		if page == nil {
			rows, err = tx.QueryContext(ctx, first, migratePage)
		} else {
			last := &page[len(page)-1]
			rows, err = tx.QueryContext(ctx, next, last.tenant, last.memberType, last.member, last.group, migratePage)
		}
		if err != nil {
			return err
		}
		page = page[:0]
		for rows.Next() {
			var p pair
			if err := rows.Scan(&p.tenant, &p.memberType, &p.member, &p.group); err != nil {
				rows.Close()
				return err
			}
			page = append(page, p)
		}
		if err := closeRows(rows); err != nil {
			return err
		}
		for _, p := range page {
			if p.tenant != cur.tenant || p.memberType != cur.memberType || p.member != cur.member {
				if err := emit(); err != nil {
					return err
				}
				cur = p
			}
			groups = append(groups, p.group)
		}
		if len(page) < migratePage {
			break
		}
	}
	if err := emit(); err != nil {
		return err
	}
	return out.flush()
}

// inserter writes rows to a table in multi-row INSERTs of insertBatch rows.
type inserter struct {
	ctx    context.Context
	tx     *sql.Tx
	dollar bool
	table  string
	cols   string
	width  int
	args   []any
}

func newInserter(ctx context.Context, tx *sql.Tx, dollar bool, table, cols string, width int) *inserter {
	return &inserter{ctx: ctx, tx: tx, dollar: dollar, table: table, cols: cols, width: width}
}

func (w *inserter) add(row ...any) error {
	w.args = append(w.args, row...)
	if len(w.args) >= insertBatch*w.width {
		return w.flush()
	}
	return nil
}

func (w *inserter) flush() error {
	n := len(w.args) / w.width
	if n == 0 {
		return nil
	}
	row := "(?" + strings.Repeat(", ?", w.width-1) + ")"
	q := `INSERT INTO ` + w.table + ` (` + w.cols + `) VALUES ` + row + strings.Repeat(", "+row, n-1)
	if _, err := w.tx.ExecContext(w.ctx, Rebind(w.dollar, q), w.args...); err != nil {
		return err
	}
	clear(w.args)
	w.args = w.args[:0]
	return nil
}
