package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// keepImages stores the before-images of a plan about to be written by run, as the change
// from version v to v+1, inside Apply's transaction.
func (c *Core) keepImages(ctx context.Context, tx *sql.Tx, tenant string, plan *change.Plan, runID int64, v int64, now time.Time, early *early) error {
	// A table holding no row of the tenant (a first load) has "no row" for every key: those
	// are encoded straight from the plan. So have memberships and persons when the plan's
	// were written early (EarlyInserts made sure the table held none of the tenant's before):
	// their keys were encoded as they were written.
	absent := make([]*absentKeys, len(undoTables))
	for ti, t := range undoTables {
		if early != nil && (ti == undoMemberships || ti == undoPersons && early.wrotePersons()) {
			absent[ti] = &absentKeys{n: early.n[t.typ], inServer: true}
			continue
		}
		some, err := c.hasRows(ctx, tx, tenant, t)
		if err != nil {
			return fmt.Errorf("before-images of %s: %w", t.name, err)
		}
		if !some {
			absent[ti] = planAbsent(plan, ti)
		}
	}
	// The other tables' images are read as they are encoded, keyChunk keys at a time.
	lazy := make([]*lazyImages, len(undoTables))
	for ti, t := range undoTables {
		if absent[ti] != nil {
			continue
		}
		keys := planAbsent(plan, ti)
		if t.name == "relations" {
			more, err := c.trashedRelations(ctx, tx, tenant, plan)
			if err != nil {
				return err
			}
			keys = withKeys(keys, more)
		}
		var err error
		if lazy[ti], err = c.lazyTable(ctx, tx, tenant, t, keys); err != nil {
			return err
		}
	}
	year, err := c.yearBefore(ctx, tx, tenant, plan)
	if err != nil {
		return err
	}
	return c.saveImages(ctx, tx, tenant, nil, absent, lazy, year, runID, v, now)
}

// yearBefore is the tenant's school year before plan, kept with its before-images when plan
// changes it (an approved rollover), else nil.
func (c *Core) yearBefore(ctx context.Context, tx *sql.Tx, tenant string, plan *change.Plan) (*string, error) {
	if plan.SchoolYear == "" {
		return nil, nil
	}
	y, err := c.schoolYear(ctx, tx, tenant)
	return &y, err
}

// schoolYear is the school year a rollover made the tenant's current ("" when none did).
func (c *Core) schoolYear(ctx context.Context, tx *sql.Tx, tenant string) (string, error) {
	var y sql.NullString
	err := tx.QueryRowContext(ctx, c.Q(`SELECT school_year FROM tenants WHERE id = ?`), tenant).Scan(&y)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("school year of tenant %q: %w", tenant, err)
	}
	return y.String, nil
}

// saveImages keeps a change set's before-images (the tables in absent, when not nil there, as
// absentKeys, and those in lazy read as they are encoded); year, when not nil, is the school year before it (the change set makes another
// one current).
func (c *Core) saveImages(ctx context.Context, tx *sql.Tx, tenant string, imgs images, absent []*absentKeys, lazy []*lazyImages, year *string, runID, v int64, now time.Time) error {
	data, gaps, err := encodeImagesWith(imgs, absent, lazy)
	if err != nil {
		return err
	}
	return c.saveEncoded(ctx, tx, tenant, data, gaps, year, runID, v, now)
}

// saveEncoded is saveImages of images encoded already.
func (c *Core) saveEncoded(ctx context.Context, tx *sql.Tx, tenant string, data []byte, gaps []imageGap, year *string, runID, v int64, now time.Time) error {
	w := &undoWriter{c: c, ctx: ctx, tx: tx, tenant: tenant, row: undoRow{run: runID, v: v, now: now, year: year}, head: data}
	switch {
	case len(gaps) == 0:
		return w.put(0, nil)
	case !c.d.Dollar:
		// The early inserts' keys (SQLite) stay in the parts they were written in, which
		// SQLite copies into run_undo_parts after the images up to the first gap.
		return c.saveEncodedParts(w, data, gaps)
	}
	// The early inserts' keys, put in the gaps by the server (PostgreSQL).
	images, args := "?::bytea", []any{runID, tenant, v, v + 1, c.d.Time(Micro(now))}
	at := 0
	for _, g := range gaps {
		images += ` || coalesce((SELECT string_agg(data, ''::bytea ORDER BY seq) FROM ` + earlyUndo + ` WHERE tbl = ?), ''::bytea) || ?::bytea`
		args = append(args, data[at:g.at], g.table)
		at = g.at
	}
	args = append(args, data[at:], year)
	_, err := tx.ExecContext(ctx, c.Q(`INSERT INTO run_undo (run_id, tenant, version_before, version_after, at, images, school_year_before)
SELECT ?, ?, ?, ?, ?, `+images+`, ?`), args...)
	if err != nil {
		return fmt.Errorf("keep before-images: %w", err)
	}
	return nil
}

// saveEncodedParts keeps images encoded with gaps (SQLite) through w: run_undo.images the
// images up to the first gap, and run_undo_parts after them: the early inserts' keys of each
// gap, as the parts they were sent in, copied by SQLite, and the images between and after the
// gaps. The images are never one value in memory (migration 0024).
func (c *Core) saveEncodedParts(w *undoWriter, data []byte, gaps []imageGap) error {
	w.head = data[:gaps[0].at:gaps[0].at]
	if err := w.put(0, nil); err != nil {
		return err
	}
	piece := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		return w.put(w.next(), b)
	}
	at := gaps[0].at
	for _, g := range gaps {
		if err := piece(data[at:g.at]); err != nil {
			return err
		}
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO run_undo_parts (run_id, version_after, seq, data)
SELECT ?, ?, ? + row_number() OVER (ORDER BY seq) - 1, data FROM `+earlyUndo+` WHERE tbl = ?`, w.row.run, w.row.v+1, w.seq, g.table)
		if err != nil {
			return fmt.Errorf("keep before-images: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("keep before-images: %w", err)
		}
		w.seq += n
		at = g.at
	}
	return piece(data[at:])
}

// imagesReader reads a change set's stored images as they were written (undoWriter,
// saveEncoded): run_undo.images, then the parts of run_undo_parts in the order of their seq,
// a slice of imagePart bytes or a part at a time.
type imagesReader struct {
	c             *Core
	ctx           context.Context
	tx            *sql.Tx
	run, after    int64
	headAt, headN int64 // run_undo.images: bytes read, and its length
	seq           int64 // the last part's read (-1: none yet)
	buf           []byte
	done          bool
}

func (r *imagesReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// next reads the next slice of the head, or the next part.
func (r *imagesReader) next() error {
	if r.headAt < r.headN {
		n := min(r.headN-r.headAt, int64(imagePart))
		err := r.tx.QueryRowContext(r.ctx, r.c.Q(`SELECT substr(images, ?, ?) FROM run_undo WHERE run_id = ? AND version_after = ?`),
			r.headAt+1, n, r.run, r.after).Scan(&r.buf)
		r.headAt += n
		return err
	}
	err := r.tx.QueryRowContext(r.ctx, r.c.Q(`SELECT seq, data FROM run_undo_parts WHERE run_id = ? AND version_after = ? AND seq > ? ORDER BY seq LIMIT 1`),
		r.run, r.after, r.seq).Scan(&r.seq, &r.buf)
	if errors.Is(err, sql.ErrNoRows) {
		r.done = true
		return nil
	}
	return err
}

// undoHeader is one stored change set with before-images.
type undoHeader struct {
	run           int64
	before, after int64
}

// Undo implements store.Store. The change sets' images are never held whole: they are read a
// part at a time into a temporary table, a row per key holding the image it goes back to
// (undoTarget), which is then read in key order, keyChunk keys at a time (undoRows).
func (c *Core) Undo(ctx context.Context, p store.UndoParams) ([]int64, error) {
	if p.Run == nil || p.Run.ID != 0 {
		return nil, errors.New("undo: the undo needs its own new run record")
	}
	var undone []int64
	var oldBefore, oldAfter = p.Run.VersionBefore, p.Run.VersionAfter
	oldCounts := p.Run.Counts
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		v, err := c.lockTenant(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		chain, err := c.undoChain(ctx, tx, p, v)
		if err != nil {
			return err
		}
		target, err := c.undoTarget(ctx, tx, chain)
		if err != nil {
			return err
		}
		for _, h := range chain {
			if !slices.Contains(undone, h.run) {
				undone = append(undone, h.run)
			}
		}
		// The undo's run record is made here, so that a refused undo leaves none.
		data, err := c.runArgs(p.Run)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, c.Q(`INSERT INTO runs (tenant, status, started_at, data) VALUES (?, ?, ?, ?) RETURNING id`),
			p.Tenant, string(p.Run.Status), c.d.Time(Micro(p.Run.StartedAt)), data).Scan(&p.Run.ID)
		if err != nil {
			return err
		}
		var yearNow *string
		if target.year != nil {
			y, err := c.schoolYear(ctx, tx, p.Tenant)
			if err != nil {
				return err
			}
			yearNow = &y
		}
		// The undo keeps its own before-images (the state it leaves), so that it can be undone too.
		counts, err := c.undoRows(ctx, tx, p.Tenant, v, target, undoRow{run: p.Run.ID, v: v, now: p.Now, year: yearNow})
		if err != nil {
			return err
		}
		if target.year != nil {
			if _, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET school_year = ? WHERE id = ?`), nullString(*target.year), p.Tenant); err != nil {
				return fmt.Errorf("undo the school year: %w", err)
			}
		}
		if err := c.setVersion(ctx, tx, p.Tenant, v+1); err != nil {
			return err
		}
		p.Run.VersionBefore, p.Run.VersionAfter, p.Run.Counts = v, v+1, counts
		if p.Run.Undo == nil {
			p.Run.Undo = &runs.Undo{}
		}
		p.Run.Undo.Runs = undone
		if err := c.saveRun(ctx, tx, p.Run); err != nil {
			return err
		}
		for _, id := range undone {
			rs, err := c.queryRuns(ctx, tx, `SELECT id, data FROM runs WHERE id = ?`, id)
			if err != nil {
				return err
			}
			for _, r := range rs {
				r.UndoneBy = p.Run.ID
				if err := c.saveRun(ctx, tx, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		p.Run.VersionBefore, p.Run.VersionAfter, p.Run.Counts, p.Run.ID = oldBefore, oldAfter, oldCounts, 0
		var later *store.LaterChangesError
		if errors.As(err, &later) || errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("undo run %d of tenant %q (nothing was changed): %w", p.Of, p.Tenant, err)
	}
	return undone, nil
}

// undoRows makes the tenant's rows of the keys in target what target says, keyChunk keys at a
// time: the rows as they are now are read first, counted against their images (the undo's
// counts) and kept as the undo's own before-images (stored as they are taken, with row); the
// state index, when it describes version v, is carried to v+1 with the edits kept as an
// approval's are (edits.go).
func (c *Core) undoRows(ctx context.Context, tx *sql.Tx, tenant string, v int64, target *undoTarget, row undoRow) (change.Counts, error) {
	var counts change.Counts
	for _, t := range undoTables {
		n, err := c.countActive(ctx, tx, tenant, t)
		if err != nil {
			return counts, err
		}
		counts.Of(t.typ).Before = n
	}
	out, err := c.newPieceImages(ctx, tx, tenant, row)
	if err != nil {
		return counts, err
	}
	_, iv, err := c.indexVersion(ctx, tx, tenant)
	if err != nil {
		return counts, err
	}
	var edits *indexEdits // nil: the index does not describe v, and stays stale
	if iv == v {
		edits = newIndexEdits()
	}
	for ti, t := range undoTables {
		if err := out.upTo(ti); err != nil {
			return counts, err
		}
		err := target.each(ti, func(want []image) error {
			keys := make([][]string, len(want))
			for i, im := range want {
				keys[i] = im.key
			}
			found, err := out.fetch(keys)
			if err != nil {
				return err
			}
			countImages(counts.Of(t.typ), t, out.cols(), found, want)
			if err := out.write(keys, found); err != nil {
				return err
			}
			if err := c.restore(ctx, tx, tenant, t, want); err != nil {
				return err
			}
			if edits != nil {
				editImages(edits, t, want)
				if edits.held > editsHeld {
					return c.spillEdits(ctx, tx, edits)
				}
			}
			return nil
		})
		if err != nil {
			return counts, err
		}
	}
	if err := out.end(); err != nil {
		return counts, err
	}
	if err := target.drop(); err != nil {
		return counts, err
	}
	for _, t := range undoTables {
		tc := counts.Of(t.typ)
		tc.After = tc.Before + tc.Inserted + tc.Restored - tc.Deleted - tc.Archived
	}
	if edits != nil {
		// A damaged bucket leaves the index stale (applyIndexEdits marks it).
		if _, err := c.applyIndexEdits(ctx, tx, tenant, v, edits); err != nil {
			return counts, err
		}
	}
	return counts, nil
}

// undoChain returns the change sets to undo, newest first: from the tenant's state version v
// down to the one before run p.Of's first, each one's version_before the next one's
// version_after.
func (c *Core) undoChain(ctx context.Context, tx *sql.Tx, p store.UndoParams, v int64) ([]undoHeader, error) {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT run_id, version_before, version_after FROM run_undo WHERE tenant = ? ORDER BY version_after DESC`), p.Tenant)
	if err != nil {
		return nil, err
	}
	var all []undoHeader
	for rows.Next() {
		var h undoHeader
		if err := rows.Scan(&h.run, &h.before, &h.after); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, h)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	first := int64(-1) // version_before of the run's oldest change set
	for _, h := range all {
		if h.run == p.Of {
			first = h.before
		}
	}
	if first < 0 {
		return nil, fmt.Errorf("run %d of tenant %q has no before-images: %w", p.Of, p.Tenant, store.ErrNotFound)
	}
	var chain []undoHeader
	var later []int64
	at := v
	for _, h := range all {
		if at == first {
			break
		}
		if h.after > at {
			continue // cannot happen: versions only grow
		}
		if h.after != at {
			break // a change without before-images
		}
		chain = append(chain, h)
		if h.run != p.Of && !slices.Contains(later, h.run) {
			later = append(later, h.run)
		}
		at = h.before
	}
	if at != first {
		return nil, &store.LaterChangesError{Run: p.Of, Later: later, Unrecorded: true}
	}
	if len(later) > 0 && !p.Cascade {
		return nil, &store.LaterChangesError{Run: p.Of, Later: later}
	}
	return chain, nil
}

// countImages counts what going from the rows now (found, of columns cols) to the rows want
// does to a table, as a run's counts: a row that becomes active is inserted (or restored when
// it was there, inactive), an active one that goes is deleted (or archived: a group archived, a
// membership turned manual), an active one that stays but differs is updated.
func countImages(tc *change.TypeCounts, t undoTable, cols []string, found map[string][]any, want []image) {
	for _, w := range want {
		n := image{key: w.key, cols: cols, row: found[joinKey(w.key)]}
		wasActive, isActive := t.active(n), t.active(w)
		switch {
		case !wasActive && isActive && n.row == nil:
			tc.Inserted++
		case !wasActive && isActive:
			tc.Restored++
		case wasActive && !isActive && (w.row == nil || t.typ == record.Persons):
			tc.Deleted++
		case wasActive && !isActive:
			tc.Archived++
		case wasActive && isActive && !sameRow(n, w):
			tc.Updated++
		}
	}
}

func (t undoTable) active(im image) bool {
	if im.row == nil || t.activeCol == "" {
		return im.row != nil
	}
	for i, c := range im.cols {
		if c == t.activeCol {
			return asString(im.row[i]) == t.activeVal
		}
	}
	return false
}

func sameRow(a, b image) bool {
	if len(a.row) != len(b.row) || !slices.Equal(a.cols, b.cols) {
		return false
	}
	for i := range a.row {
		x, y := a.row[i], b.row[i]
		switch xv := x.(type) {
		case []byte:
			yv, ok := y.([]byte)
			if !ok || !bytes.Equal(xv, yv) {
				return false
			}
		case time.Time:
			yv, ok := y.(time.Time)
			if !ok || !xv.Equal(yv) {
				return false
			}
		default:
			if x != y {
				return false
			}
		}
	}
	return true
}

// DropUndo implements store.Store.
func (c *Core) DropUndo(ctx context.Context, tenant string, before time.Time) (int, error) {
	res, err := c.db.ExecContext(ctx, c.Q(`DELETE FROM run_undo WHERE (tenant = ? OR ? = '') AND at < ?`), tenant, tenant, c.d.Time(Micro(before)))
	if err != nil {
		return 0, fmt.Errorf("drop expired before-images: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// UndoSize implements store.Store.
func (c *Core) UndoSize(ctx context.Context, run int64) (int64, error) {
	var n int64
	err := c.db.QueryRowContext(ctx, c.Q(`SELECT COALESCE((SELECT SUM(length(images)) FROM run_undo WHERE run_id = ?), 0)
	+ COALESCE((SELECT SUM(length(data)) FROM run_undo_parts WHERE run_id = ?), 0)`), run, run).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("size of run %d's before-images: %w", run, err)
	}
	return n, nil
}

// editImages keeps the state index's edits of restoring the images want of table t: each
// person's entry what its row now is, or gone with it (memberships have no entries).
func editImages(e *indexEdits, t undoTable, want []image) {
	if t.typ != record.Persons {
		return
	}
	for _, im := range want {
		var hash record.Hash
		if im.row != nil {
			h, _ := im.col("hash").([]byte)
			copy(hash[:], h)
		}
		if im.row == nil {
			e.dropPerson(im.key[0])
			continue
		}
		e.setPerson(im.key[0], change.PersonState{Hash: hash, Name: asString(im.col("name")), Trashed: asString(im.col("status")) == "trashed"})
	}
}

// col is the value of the named column of the image's row (nil when there is none).
func (im image) col(name string) any {
	for i, c := range im.cols {
		if c == name && im.row != nil {
			return im.row[i]
		}
	}
	return nil
}

// nullString is s, or NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
