package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
)

// row is where the columns of one row being written go, in order: COPY's text format
// (textRow, PostgreSQL) or a statement's arguments (argRow, SQLite). Early inserts write their
// rows through it, so each row is said once for both stores.
type row interface {
	text(s string)
	bytes(b []byte)
	int(i int64)
	null()
}

// jsonValue writes v, a value of JSON: its text, or NULL.
func jsonValue(r row, v any) {
	if s, ok := v.(string); ok {
		r.text(s)
		return
	}
	r.null()
}

// textRow appends rows in the text format of PostgreSQL's COPY ... FROM STDIN: columns
// separated by tabs, each row ended by a newline, backslash, tab, newline and carriage return
// escaped with a backslash, \N for NULL, bytea as \\x and hex. It is what lib/pq makes of a
// row's arguments, made here without database/sql's per-row conversions and allocations.
type textRow struct {
	b    []byte
	cols int // columns written in the open row
}

func (r *textRow) sep() {
	if r.cols > 0 {
		r.b = append(r.b, '\t')
	}
	r.cols++
}

func (r *textRow) text(s string) {
	r.sep()
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > '\r' && c != '\\' {
			continue
		}
		var esc byte
		switch c {
		case '\\':
			esc = '\\'
		case '\t':
			esc = 't'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		default:
			continue
		}
		r.b = append(r.b, s[start:i]...)
		r.b = append(r.b, '\\', esc)
		start = i + 1
	}
	r.b = append(r.b, s[start:]...)
}

func (r *textRow) bytes(b []byte) {
	r.sep()
	r.b = append(r.b, '\\', '\\', 'x')
	r.b = hex.AppendEncode(r.b, b)
}

func (r *textRow) int(i int64) {
	r.sep()
	r.b = strconv.AppendInt(r.b, i, 10)
}

func (r *textRow) null() {
	r.sep()
	r.b = append(r.b, '\\', 'N')
}

// end ends the open row.
func (r *textRow) end() {
	r.b = append(r.b, '\n')
	r.cols = 0
}

// argRow is a row's columns as statement arguments.
type argRow []any

func (a *argRow) text(s string)  { *a = append(*a, s) }
func (a *argRow) bytes(b []byte) { *a = append(*a, b) }
func (a *argRow) int(i int64)    { *a = append(*a, i) }
func (a *argRow) null()          { *a = append(*a, nil) }

// textChunk is about how many bytes of COPY text go to the driver at a time (lib/pq sends a
// CopyData message at 63 KiB).
const textChunk = 60 << 10

// rowsFunc fills table's columns with the rows next writes, until it reports there are no
// more.
type rowsFunc = func(ctx context.Context, table string, cols []string, next func(row) bool) error

// rowsOn is how early inserts fill a table inside tx, a transaction on conn: COPY text
// handed to the driver in chunks where the dialect can (PostgreSQL, Dialect.CopyText), else
// insertRows. A row next gives up on (false) after writing some of its columns is dropped.
func (c *Core) rowsOn(conn *sql.Conn, tx *sql.Tx) rowsFunc {
	if c.d.CopyText != nil {
		return func(ctx context.Context, table string, cols []string, next func(row) bool) error {
			var r textRow
			return c.d.CopyText(ctx, conn, table, cols, func(buf []byte) ([]byte, bool) {
				r.b = buf
				for len(r.b) < textChunk {
					start := len(r.b)
					if !next(&r) {
						r.cols = 0
						return r.b[:start], false
					}
					r.end()
				}
				return r.b, true
			})
		}
	}
	return func(ctx context.Context, table string, cols []string, next func(row) bool) error {
		var a argRow
		return insertRows(ctx, tx, table, cols, func() ([]any, bool) {
			a = a[:0] // insertRows is done with the last row's arguments
			if !next(&a) {
				return nil, false
			}
			return a, true
		})
	}
}

// putValues writes a row's arguments, as database/sql would give them to the driver, into r:
// the types the store's rows are made of.
func putValues(r row, vals []any) error {
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
			r.null()
		case string:
			r.text(v)
		case []byte:
			r.bytes(v)
		case int64:
			r.int(v)
		case int:
			r.int(int64(v))
		case bool:
			if v {
				r.text("t")
			} else {
				r.text("f")
			}
		default:
			return fmt.Errorf("column %d: no COPY text for a %T", i+1, v)
		}
	}
	return nil
}

// copyRows fills table's columns with the rows next yields inside tx, a transaction on conn:
// as rowsOn does where the dialect can copy text (CopyText) and conn is known, else by the
// dialect's CopyRows.
func (c *Core) copyRows(ctx context.Context, conn *sql.Conn, tx *sql.Tx, table string, cols []string, next func() ([]any, bool)) error {
	if c.d.CopyText == nil || conn == nil {
		return c.d.CopyRows(ctx, tx, table, cols, next)
	}
	var verr error
	n := 0
	err := c.rowsOn(conn, tx)(ctx, table, cols, func(r row) bool {
		vals, ok := next()
		if !ok {
			return false
		}
		n++
		verr = putValues(r, vals)
		return verr == nil
	})
	if err == nil && verr != nil {
		err = fmt.Errorf("copy %s row %d: %w", table, n, verr)
	}
	return err
}

// copyOn is Write.Copy for a plan written inside tx on conn.
func (c *Core) copyOn(ctx context.Context, conn *sql.Conn, tx *sql.Tx) func(string, []string, func() ([]any, bool)) error {
	if c.d.CopyText == nil {
		return nil
	}
	return func(table string, cols []string, next func() ([]any, bool)) error {
		return c.copyRows(ctx, conn, tx, table, cols, next)
	}
}
