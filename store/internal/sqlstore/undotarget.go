package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// undoTarget is what an undo puts back: per key of each table, the image it goes back to, the
// one of the oldest change set of the chain that has it. Read from the change sets' stored
// images a part at a time (imagesReader), the images wait in a temporary table keyed by table
// and key, so an undo holds a part and keyChunk images, never the change sets' images whole
// (decoded, with a map of their keys, they were most of the 816-880 MB an undo of the approval
// of a 316.8 MB feed's broken night took).
type undoTarget struct {
	c   *Core
	ctx context.Context
	tx  *sql.Tx
	// cols are the columns of the images of each change set of the chain (by its place in it),
	// per table: a row of the temporary table says its change set, and its values are in that
	// order.
	cols [][][]string
	// year is the school year before the oldest change set that changed it (nil: none did).
	year *string

	batch []any          // the rows waiting to be inserted, their arguments
	at    map[string]int // where in batch each key is (a key named twice in a change set)
	buf   bytes.Buffer
	w     *bufio.Writer
}

// undoImages is the temporary table of undoTarget: per table (tbl, in undoTables) and key (k1,
// k2, k3, unused columns ”), cs the change set of the chain the image is of and img its row
// as writeImageTo writes it after the key.
const undoImages = "imsfeed_undo_images"

// undoTarget reads the images of the chain's change sets (newest first) into the temporary
// table, the older one's image of a key taking the place of the newer's.
func (c *Core) undoTarget(ctx context.Context, tx *sql.Tx, chain []undoHeader) (*undoTarget, error) {
	creates := []string{`CREATE TEMP TABLE ` + undoImages + ` (tbl integer, k1 text COLLATE "C", k2 text COLLATE "C", k3 text COLLATE "C", cs integer, img bytea,
	PRIMARY KEY (tbl, k1, k2, k3)) ON COMMIT DROP`}
	if !c.d.Dollar {
		// SQLite drops no temporary table at commit: drop does, and a rollback takes it back.
		creates = []string{`DROP TABLE IF EXISTS temp.` + undoImages,
			`CREATE TEMP TABLE ` + undoImages + ` (tbl INTEGER, k1 TEXT, k2 TEXT, k3 TEXT, cs INTEGER, img BLOB,
	PRIMARY KEY (tbl, k1, k2, k3)) WITHOUT ROWID`}
	}
	for _, q := range creates {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("undo: %w", err)
		}
	}
	u := &undoTarget{c: c, ctx: ctx, tx: tx, at: map[string]int{}}
	u.w = bufio.NewWriter(&u.buf)
	for cs, h := range chain {
		var headN int64
		var y sql.NullString
		err := tx.QueryRowContext(ctx, c.Q(`SELECT coalesce(length(images), 0), school_year_before FROM run_undo WHERE run_id = ? AND version_after = ?`),
			h.run, h.after).Scan(&headN, &y)
		if err != nil {
			return nil, fmt.Errorf("before-images of run %d: %w", h.run, err)
		}
		if y.Valid {
			u.year = &y.String
		}
		cols := make([][]string, len(undoTables))
		r := &imagesReader{c: c, ctx: ctx, tx: tx, run: h.run, after: h.after, headN: headN, seq: -1}
		err = eachImage(r, func(ti int, im image) error {
			cols[ti] = im.cols
			return u.add(ti, cs, im)
		})
		if err == nil {
			err = u.flush()
		}
		if err != nil {
			return nil, fmt.Errorf("before-images of run %d: %w", h.run, err)
		}
		u.cols = append(u.cols, cols)
	}
	return u, nil
}

// targetCols are the columns of a row of the temporary table.
const targetCols = 6

// add puts im, an image of table ti of change set cs, in the batch, in the place of an image of
// its key there.
func (u *undoTarget) add(ti, cs int, im image) error {
	u.buf.Reset()
	if err := writeImageTo(u.w, undoTables[ti], im.cols, image{cols: im.cols, row: im.row}); err != nil {
		return err
	}
	if err := u.w.Flush(); err != nil {
		return err
	}
	var k [3]string
	copy(k[:], im.key)
	args := []any{ti, k[0], k[1], k[2], cs, bytes.Clone(u.buf.Bytes())}
	j := fmt.Sprint(ti) + "\x00" + joinKey(k[:])
	if i, ok := u.at[j]; ok {
		copy(u.batch[i:i+targetCols], args)
		return nil
	}
	u.at[j] = len(u.batch)
	u.batch = append(u.batch, args...)
	if len(u.batch) == keyChunk*targetCols {
		return u.flush()
	}
	return nil
}

// flush inserts the batch: a key already in the table is of a newer change set, which gives
// way to the older one.
func (u *undoTarget) flush() error {
	n := len(u.batch) / targetCols
	if n == 0 {
		return nil
	}
	q := `INSERT INTO ` + undoImages + ` (tbl, k1, k2, k3, cs, img) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", ") +
		` ON CONFLICT (tbl, k1, k2, k3) DO UPDATE SET cs = excluded.cs, img = excluded.img`
	if _, err := u.tx.ExecContext(u.ctx, u.c.Q(q), u.batch...); err != nil {
		return err
	}
	clear(u.batch)
	u.batch = u.batch[:0]
	clear(u.at)
	return nil
}

// each gives table ti's images in the order of their keys, keyChunk at a time.
func (u *undoTarget) each(ti int, f func(want []image) error) error {
	t := undoTables[ti]
	var last [3]string
	br := bufio.NewReader(nil)
	for first := true; ; first = false {
		q, args := `SELECT k1, k2, k3, cs, img FROM `+undoImages+` WHERE tbl = ?`, []any{ti}
		if !first {
			q, args = q+` AND (k1, k2, k3) > (?, ?, ?)`, append(args, last[0], last[1], last[2])
		}
		rows, err := u.tx.QueryContext(u.ctx, u.c.Q(q+` ORDER BY k1, k2, k3 LIMIT ?`), append(args, keyChunk)...)
		if err != nil {
			return fmt.Errorf("undo %s: %w", t.name, err)
		}
		var want []image
		for rows.Next() {
			var k [3]string
			var cs int
			var img []byte
			if err := rows.Scan(&k[0], &k[1], &k[2], &cs, &img); err != nil {
				rows.Close()
				return fmt.Errorf("undo %s: %w", t.name, err)
			}
			if cs < 0 || cs >= len(u.cols) {
				rows.Close()
				return fmt.Errorf("undo %s: an image of change set %d of %d", t.name, cs, len(u.cols))
			}
			cols := u.cols[cs][ti]
			br.Reset(bytes.NewReader(img))
			d := &imageDecoder{r: br}
			im := image{key: append([]string(nil), k[:len(t.key)]...), cols: cols, row: d.row(cols)}
			if d.err != nil {
				rows.Close()
				return fmt.Errorf("undo %s: stored before-image of %q: %w", t.name, joinKey(im.key), d.err)
			}
			want = append(want, im)
			last = k
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("undo %s: %w", t.name, err)
		}
		if len(want) == 0 {
			return nil
		}
		if err := f(want); err != nil {
			return err
		}
		if len(want) < keyChunk {
			return nil
		}
	}
}

// drop drops the temporary table (SQLite's: PostgreSQL's goes at commit).
func (u *undoTarget) drop() error {
	if u.c.d.Dollar {
		return nil
	}
	_, err := u.tx.ExecContext(u.ctx, `DROP TABLE temp.`+undoImages)
	return err
}

// restore makes table t's rows of the images want (at most keyChunk) what they say, by key:
// deleted where there was no row, written back column by column where there was one, the rows
// of one column list (a change set's) in one statement.
func (c *Core) restore(ctx context.Context, tx *sql.Tx, tenant string, t undoTable, want []image) error {
	if t.typ == record.Memberships {
		return c.restoreMemberships(ctx, tx, tenant, want)
	}
	return c.restoreRows(ctx, tx, tenant, t, want)
}

// bindable is an image's value of col as a statement's argument: the bytes of a JSON column
// as text (PostgreSQL's connections send []byte arguments in binary format, and jsonb's is not
// its text), a hash's as bytes.
func bindable(col string, v any) any {
	if b, ok := v.([]byte); ok && col != "hash" {
		return string(b)
	}
	return v
}

// restoreRows is restore of a table of rows whose columns are the images'.
func (c *Core) restoreRows(ctx context.Context, tx *sql.Tx, tenant string, t undoTable, want []image) error {
	keys := make([][]string, len(want))
	for i, im := range want {
		keys[i] = im.key
	}
	query, args := c.keyRows(true, t, tenant, keys)
	if _, err := tx.ExecContext(ctx, c.Q(query), args...); err != nil {
		return fmt.Errorf("undo %s: %w", t.name, err)
	}
	done := make([]bool, len(want))
	for i, im := range want {
		if done[i] || im.row == nil {
			continue
		}
		cols := strings.Join(im.cols, ", ")
		one := "(?" + strings.Repeat(", ?", len(im.cols)) + ")"
		var values strings.Builder
		var args []any
		for j := i; j < len(want); j++ {
			if w := want[j]; !done[j] && w.row != nil && slices.Equal(w.cols, im.cols) {
				if len(args) > 0 {
					values.WriteString(", ")
				}
				values.WriteString(one)
				args = append(args, tenant)
				for k, v := range w.row {
					args = append(args, bindable(w.cols[k], v))
				}
				done[j] = true
			}
		}
		if _, err := tx.ExecContext(ctx, c.Q(`INSERT INTO `+t.name+` (tenant, `+cols+`) VALUES `+values.String()), args...); err != nil {
			return fmt.Errorf("undo %s: %w", t.name, err)
		}
	}
	return nil
}
