package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
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
		var one int
		err := tx.QueryRowContext(ctx, c.Q(`SELECT 1 FROM `+t.name+` WHERE tenant = ? LIMIT 1`), tenant).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			absent[ti] = planAbsent(plan, ti)
		} else if err != nil {
			return fmt.Errorf("before-images of %s: %w", t.name, err)
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

// undoParts appends the parts of change set (run, after) of the images to data, in order.
func (c *Core) undoParts(ctx context.Context, tx *sql.Tx, run, after int64, data []byte) ([]byte, error) {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT data FROM run_undo_parts WHERE run_id = ? AND version_after = ? ORDER BY seq`), run, after)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var part []byte
		if err := rows.Scan(&part); err != nil {
			rows.Close()
			return nil, err
		}
		data = append(data, part...)
	}
	return data, closeRows(rows)
}

// undoHeader is one stored change set with before-images.
type undoHeader struct {
	run           int64
	before, after int64
}

// Undo implements store.Store.
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
		// What each row goes back to: its image from the oldest change set of the chain.
		target := make([]map[string]image, len(undoTables))
		order := make([][]string, len(undoTables))
		for i := range target {
			target[i] = map[string]image{}
		}
		// The school year goes back to the one before the oldest change set that changed it.
		var year *string
		for _, h := range chain {
			var data []byte
			var y sql.NullString
			err := tx.QueryRowContext(ctx, c.Q(`SELECT images, school_year_before FROM run_undo WHERE run_id = ? AND version_after = ?`), h.run, h.after).Scan(&data, &y)
			if err == nil {
				data, err = c.undoParts(ctx, tx, h.run, h.after, data)
			}
			if err != nil {
				return fmt.Errorf("before-images of run %d: %w", h.run, err)
			}
			if y.Valid {
				year = &y.String
			}
			imgs, err := decodeImages(data)
			if err != nil {
				return fmt.Errorf("run %d: %w", h.run, err)
			}
			for ti, list := range imgs {
				for _, im := range list {
					k := joinKey(im.key)
					if _, ok := target[ti][k]; !ok {
						order[ti] = append(order[ti], k)
					}
					target[ti][k] = im
				}
			}
			if !slices.Contains(undone, h.run) {
				undone = append(undone, h.run)
			}
		}
		want := make(images, len(undoTables))
		keys := make([][][]string, len(undoTables))
		for ti := range undoTables {
			for _, k := range order[ti] {
				im := target[ti][k]
				want[ti] = append(want[ti], im)
				keys[ti] = append(keys[ti], im.key)
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
		// The undo's own before-images: the state it leaves, so that it can be undone too.
		now, err := c.capture(ctx, tx, p.Tenant, keys)
		if err != nil {
			return err
		}
		counts, err := c.undoCounts(ctx, tx, p.Tenant, now, want)
		if err != nil {
			return err
		}
		if err := c.restore(ctx, tx, p.Tenant, want); err != nil {
			return err
		}
		var yearNow *string
		if year != nil {
			y, err := c.schoolYear(ctx, tx, p.Tenant)
			if err != nil {
				return err
			}
			yearNow = &y
			if _, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET school_year = ? WHERE id = ?`), nullString(*year), p.Tenant); err != nil {
				return fmt.Errorf("undo the school year: %w", err)
			}
		}
		if err := c.setVersion(ctx, tx, p.Tenant, v+1); err != nil {
			return err
		}
		if err := c.editIndex(ctx, tx, p.Tenant, v, v+1, imageBuckets(want), func(bs *buckets) { indexImages(bs, want) }); err != nil {
			return err
		}
		if err := c.saveImages(ctx, tx, p.Tenant, now, nil, nil, yearNow, p.Run.ID, v, p.Now); err != nil {
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

// undoCounts counts what going from the rows now to the rows want does, per type, as a run's
// counts: a row that becomes active is inserted (or restored when it was there, inactive),
// an active one that goes is deleted (or archived: a group archived, a membership turned
// manual), an active one that stays but differs is updated.
func (c *Core) undoCounts(ctx context.Context, tx *sql.Tx, tenant string, now, want images) (change.Counts, error) {
	var counts change.Counts
	for ti, t := range undoTables {
		tc := counts.Of(t.typ)
		q, args := `SELECT count(*) FROM `+t.name+` WHERE tenant = ?`, []any{tenant}
		if t.activeCol != "" {
			q, args = q+` AND `+t.activeCol+` = ?`, append(args, t.activeVal)
		}
		err := tx.QueryRowContext(ctx, c.Q(q), args...).Scan(&tc.Before)
		if err != nil {
			return counts, err
		}
		cur := map[string]image{}
		for _, im := range now[ti] {
			cur[joinKey(im.key)] = im
		}
		for _, w := range want[ti] {
			n := cur[joinKey(w.key)]
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
		tc.After = tc.Before + tc.Inserted + tc.Restored - tc.Deleted - tc.Archived
	}
	return counts, nil
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

// imageBuckets are the state index's buckets of the persons and memberships in imgs.
func imageBuckets(imgs images) map[int]bool {
	nums := map[int]bool{}
	for ti, t := range undoTables {
		for _, im := range imgs[ti] {
			switch t.typ {
			case record.Persons:
				nums[personBucket(im.key[0])] = true
			case record.Memberships:
				nums[memberBucket(im.key[0])] = true
			}
		}
	}
	return nums
}

// indexImages does to the state index what restoring imgs did to the rows.
func indexImages(bs *buckets, imgs images) {
	for ti, t := range undoTables {
		for _, im := range imgs[ti] {
			var hash record.Hash
			if im.row != nil {
				h, _ := im.col("hash").([]byte)
				copy(hash[:], h)
			}
			switch t.typ {
			case record.Persons:
				b := bs.person(im.key[0])
				if im.row == nil {
					delete(b.persons, im.key[0])
					continue
				}
				b.persons[im.key[0]] = change.PersonState{Hash: hash, Name: asString(im.col("name")), Trashed: asString(im.col("status")) == "trashed"}
			case record.Memberships:
				k := record.MembershipKey{Group: im.key[0], Member: im.key[1], Role: im.key[2]}
				b := bs.membership(k)
				if im.row == nil {
					delete(b.members, k)
					continue
				}
				mt, _ := im.col("member_type").(int64) // as loadState reads it
				b.members[k] = change.MembershipState{Hash: hash, MemberType: record.MemberType(mt), Manual: asString(im.col("origin")) == "manual"}
			}
		}
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
