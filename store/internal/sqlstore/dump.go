package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Dump implements store.Dumper: tables are found in the catalogue, so a table a later
// migration adds is in the dump without a change here. The state index is left out: it is
// derived from the rows (store.IndexChecker compares the two).
func (c *Core) Dump(ctx context.Context, tenant string) (map[string][]string, error) {
	q := `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid`
	if c.d.Dollar {
		q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
	}
	rows, err := c.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	withTenant := map[string]bool{}
	for rows.Next() {
		var t, col string
		if err := rows.Scan(&t, &col); err != nil {
			rows.Close()
			return nil, err
		}
		if col == "tenant" && t != "runs" && t != "run_undo" && t != "state_index" && t != packsTable && t != listsTable {
			withTenant[t] = true
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	// The memberships are the seam's: a line a membership, whatever packs hold them.
	withTenant[membershipsTable] = true
	for t := range withTenant {
		var lines []string
		if t == membershipsTable {
			lines, err = c.dumpMemberships(ctx, tenant)
		} else {
			lines, err = c.dumpTable(ctx, t, tenant)
		}
		if err != nil {
			return nil, err
		}
		out[t] = lines
	}
	return out, nil
}

// dumpTable is tenant's rows of table as Dump gives them, sorted.
func (c *Core) dumpTable(ctx context.Context, t, tenant string) ([]string, error) {
	rows, err := c.db.QueryContext(ctx, c.Q(`SELECT * FROM `+t+` WHERE tenant = ?`), tenant)
	if err != nil {
		return nil, fmt.Errorf("dump %s: %w", t, err)
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var lines []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, err
		}
		lines = append(lines, dumpLine(cols, vals))
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	slices.Sort(lines)
	return lines, nil
}

// dumpLine is a row as Dump gives it: each column's name and value.
func dumpLine(cols []string, vals []any) string {
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(cols[i] + "=")
		switch x := v.(type) {
		case nil:
			b.WriteString("NULL")
		case []byte:
			fmt.Fprintf(&b, "%q", x)
		case time.Time:
			b.WriteString(x.UTC().Format(time.RFC3339Nano))
		default:
			fmt.Fprintf(&b, "%v", x)
		}
	}
	return b.String()
}
