package sqlstore

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/store"
)

// A plan applied in pieces (store.ApplyParams.Pieces: an approval of a large hold) is read
// several times within Apply's one transaction, never held whole: once to check it and count
// it, once for its before-images, then up to three times to write it (a pass with nothing to
// write is not made). The writes keep RowWriter's order where it matters: within a table,
// removals before upserts of memberships and relations and group upserts before group
// removals; person trashings (which remove the trashed persons' relations) after every
// relation change. Statements on different tables touch nothing of each other's, so the
// passes need not keep the order between tables:
//
//	pass 0: person upserts, group upserts, membership removals, relation removals
//	pass 1: group removals and archivals, membership upserts, relation upserts
//	pass 2: person trashings
//
// The state index is edited in the same passes (indexPlan: person and membership buckets
// are apart, and within each the same order holds).
const piecePasses = 3

// passOf is the pass that writes a change of the list ti of undoTables doing op.
func passOf(ti int, op change.Op) int {
	switch {
	case ti == undoPersons && op == change.Delete:
		return 2
	case ti == undoPersons:
		return 0
	case op.Removal() == (ti == undoGroups): // a group's removal, or another list's upsert
		return 1
	}
	return 0
}

// pieceOf is the part of piece that pass writes.
func pieceOf(piece *change.Plan, pass int) *change.Plan {
	out := &change.Plan{Tenant: piece.Tenant, Mode: piece.Mode, BaseVersion: piece.BaseVersion}
	for _, x := range piece.Persons {
		if passOf(undoPersons, x.Op) == pass {
			out.Persons = append(out.Persons, x)
		}
	}
	for _, x := range piece.Groups {
		if passOf(undoGroups, x.Op) == pass {
			out.Groups = append(out.Groups, x)
		}
	}
	for _, x := range piece.Memberships {
		if passOf(undoMemberships, x.Op) == pass {
			out.Memberships = append(out.Memberships, x)
		}
	}
	for _, x := range piece.Relations {
		if passOf(undoRelations, x.Op) == pass {
			out.Relations = append(out.Relations, x)
		}
	}
	return out
}

// pieceCounts is what the first pass learns of a plan given in pieces.
type pieceCounts struct {
	n          [4]int           // changes per undoTables table (the plan's lists, in the same order)
	passes     [piecePasses]int // changes per pass: a pass with none is not made
	buckets    map[int]bool
	allBuckets bool
	// trashedRelations are the relations of the persons the plan trashes (their images).
	trashedRelations [][3]string
}

func (n *pieceCounts) total() int { return n.n[0] + n.n[1] + n.n[2] + n.n[3] }

// applyPieces is Apply of a plan given in pieces.
func (c *Core) applyPieces(ctx context.Context, p store.ApplyParams) error {
	plan := p.Plan
	tenant := plan.Tenant
	if p.Hold != nil || p.Early != nil {
		return errors.New("apply: a plan in pieces is neither held nor written early")
	}
	if !plan.Empty() {
		return errors.New("apply: a plan in pieces lists its changes in its pieces only")
	}
	var oldBefore, oldAfter int64
	if p.Run != nil {
		oldBefore, oldAfter = p.Run.VersionBefore, p.Run.VersionAfter
	}
	err := c.inConnTx(ctx, func(conn *sql.Conn, tx *sql.Tx) error {
		v, err := c.lockTenant(ctx, tx, tenant)
		if err != nil {
			return err
		}
		if v != plan.BaseVersion {
			return fmt.Errorf("tenant %q: plan made against state version %d, the store is at %d: %w", tenant, plan.BaseVersion, v, store.ErrStateChanged)
		}
		n := &pieceCounts{buckets: map[int]bool{}}
		err = p.Pieces(func(piece *change.Plan) error {
			if piece.Tenant != tenant || piece.BaseVersion != plan.BaseVersion {
				return fmt.Errorf("a piece of the plan of tenant %q at version %d is of tenant %q at version %d", tenant, plan.BaseVersion, piece.Tenant, piece.BaseVersion)
			}
			if err := Validate(piece); err != nil {
				return err
			}
			for _, x := range piece.Persons {
				n.passes[passOf(undoPersons, x.Op)]++
			}
			for _, x := range piece.Groups {
				n.passes[passOf(undoGroups, x.Op)]++
			}
			for _, x := range piece.Memberships {
				n.passes[passOf(undoMemberships, x.Op)]++
			}
			for _, x := range piece.Relations {
				n.passes[passOf(undoRelations, x.Op)]++
			}
			n.n[0] += len(piece.Persons)
			n.n[1] += len(piece.Groups)
			n.n[2] += len(piece.Memberships)
			n.n[3] += len(piece.Relations)
			if !n.allBuckets {
				nums := planBuckets(piece)
				n.allBuckets = nums == nil
				for b := range nums {
					n.buckets[b] = true
				}
			}
			more, err := c.trashedRelations(ctx, tx, tenant, piece)
			n.trashedRelations = append(n.trashedRelations, more...)
			return err
		})
		if err != nil {
			return err
		}
		after := v
		if n.total() > 0 || plan.SchoolYear != "" {
			if p.Run != nil && p.Run.ID != 0 && !p.NoUndo {
				if err := c.keepPieceImages(ctx, tx, tenant, p.Pieces, n, plan.SchoolYear != "", p.Run.ID, v, p.Now); err != nil {
					return err
				}
			}
			if n.total() > 0 {
				if err := c.writePieces(ctx, conn, tx, p, n, v); err != nil {
					return err
				}
			}
			after++
			if err := c.setVersion(ctx, tx, tenant, after); err != nil {
				return err
			}
		}
		if plan.SchoolYear != "" {
			if _, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET school_year = ? WHERE id = ?`), plan.SchoolYear, tenant); err != nil {
				return err
			}
		}
		if p.Run != nil {
			p.Run.VersionBefore, p.Run.VersionAfter = v, after
			return c.saveRun(ctx, tx, p.Run)
		}
		return nil
	})
	return applyFailed(p, tenant, oldBefore, oldAfter, err)
}

// writePieces writes the pieces in their passes and carries the state index with them, as
// indexApply does for a whole plan: buckets edited when the index describes version v, else
// (stale, or a bucket unreadable) rebuilt from the rows after the writes.
func (c *Core) writePieces(ctx context.Context, conn *sql.Conn, tx *sql.Tx, p store.ApplyParams, n *pieceCounts, v int64) error {
	tenant := p.Plan.Tenant
	var runID any
	if p.Run != nil && p.Run.ID != 0 {
		runID = p.Run.ID
	}
	now := c.d.Time(Micro(p.Now))
	done, total := 0, n.total()
	write := func(bs *buckets) error {
		for pass := range piecePasses {
			if n.passes[pass] == 0 {
				continue
			}
			err := p.Pieces(func(piece *change.Plan) error {
				part := pieceOf(piece, pass)
				if part.Empty() {
					return nil
				}
				w := &Write{Tenant: tenant, Plan: part, Now: now, RunID: runID, Copy: c.copyOn(ctx, conn, tx)}
				if p.Progress != nil {
					base := done
					w.Progress = func(d, _ int) { p.Progress(base+d, total) }
				}
				if err := c.d.WritePlan(ctx, tx, w); err != nil {
					return err
				}
				done += part.Changes()
				if bs != nil {
					indexPlan(bs, part)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	_, iv, err := c.indexVersion(ctx, tx, tenant)
	if err != nil {
		return err
	}
	if iv == v {
		nums := n.buckets
		if n.allBuckets {
			nums = nil
		}
		wrote := false
		var werr error
		ok, err := c.editBuckets(ctx, tx, tenant, v, v+1, nums, func(bs *buckets) {
			wrote, werr = true, write(bs)
		})
		if werr != nil {
			return werr
		}
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if wrote { // the index could not be written: it is stale now, rebuilt below
			return c.rebuildIndex(ctx, tx, tenant, v+1)
		}
	}
	if err := write(nil); err != nil {
		return err
	}
	return c.rebuildIndex(ctx, tx, tenant, v+1)
}

// keepPieceImages is keepImages of a plan in pieces: each table's images in the order of its
// keys in the plan (then, for relations, those of the trashed persons), read keyChunk keys at
// a time as they are encoded. A key the plan names twice is kept twice: the images are taken
// before anything is written, so both are the same, and undo reads them by key.
func (c *Core) keepPieceImages(ctx context.Context, tx *sql.Tx, tenant string, pieces func(func(*change.Plan) error) error, n *pieceCounts, rollover bool, runID, v int64, now time.Time) error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w := bufio.NewWriter(zw)
	var tmp [binary.MaxVarintLen64]byte
	uv := func(x uint64) { w.Write(tmp[:binary.PutUvarint(tmp[:], x)]) }
	str := func(s string) { uv(uint64(len(s))); w.WriteString(s) }
	w.WriteString(imagesMagic)
	uv(uint64(len(undoTables)))

	// Per table: its rows' reader, or nil when the tenant has no row in it ("no row" each).
	tables := make([]*lazyImages, len(undoTables))
	for ti, t := range undoTables {
		var one int
		err := tx.QueryRowContext(ctx, c.Q(`SELECT 1 FROM `+t.name+` WHERE tenant = ? LIMIT 1`), tenant).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("before-images of %s: %w", t.name, err)
		}
		if tables[ti], err = c.lazyTable(ctx, tx, tenant, t, nil); err != nil {
			return err
		}
	}
	cur := -1 // the table being written
	var part [][]string
	written := 0
	flush := func() error {
		if len(part) == 0 {
			return nil
		}
		t, l := undoTables[cur], tables[cur]
		var found map[string][]any
		var cols []string
		if l != nil {
			var err error
			if found, err = l.fetch(part); err != nil {
				return fmt.Errorf("before-images of %s: %w", t.name, err)
			}
			cols = l.cols
		}
		for _, k := range part {
			if err := writeImageTo(w, t, cols, image{key: k, cols: cols, row: found[joinKey(k)]}); err != nil {
				return err
			}
		}
		written += len(part)
		part = part[:0]
		return nil
	}
	// end finishes the table being written.
	end := func() error {
		if err := flush(); err != nil {
			return err
		}
		if cur >= 0 {
			if want := n.n[cur] + extraImages(cur, n); written != want {
				return fmt.Errorf("before-images of %s: %d keys, but the plan had %d when it was checked", undoTables[cur].name, written, want)
			}
		}
		return nil
	}
	// upTo ends the table being written and begins the ones up to ti.
	upTo := func(ti int) error {
		for cur < ti {
			if err := end(); err != nil {
				return err
			}
			cur, written = cur+1, 0
			t := undoTables[cur]
			str(t.name)
			if l := tables[cur]; l != nil {
				uv(uint64(len(l.cols)))
				for _, col := range l.cols {
					str(col)
				}
			} else {
				uv(0)
			}
			uv(uint64(len(t.key)))
			uv(uint64(n.n[cur] + extraImages(cur, n)))
		}
		return nil
	}
	key := func(k [3]string) error {
		part = append(part, append([]string(nil), k[:len(undoTables[cur].key)]...))
		if len(part) == keyChunk {
			return flush()
		}
		return nil
	}
	err := pieces(func(piece *change.Plan) error {
		for ti := range undoTables {
			a := planAbsent(piece, ti)
			if a.n == 0 {
				continue
			}
			if ti < cur {
				return fmt.Errorf("a piece of %s after the %s", undoTables[ti].name, undoTables[cur].name)
			}
			if err := upTo(ti); err != nil {
				return err
			}
			for i := range a.n {
				if err := key(a.key(i)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := upTo(undoRelations); err != nil {
		return err
	}
	for _, k := range n.trashedRelations {
		if err := key(k); err != nil {
			return err
		}
	}
	if err := end(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	var year *string
	if rollover {
		y, err := c.schoolYear(ctx, tx, tenant)
		if err != nil {
			return err
		}
		year = &y
	}
	return c.saveEncoded(ctx, tx, tenant, buf.Bytes(), nil, year, runID, v, now)
}

// extraImages is how many images table ti has besides the plan's keys.
func extraImages(ti int, n *pieceCounts) int {
	if ti == undoRelations {
		return len(n.trashedRelations)
	}
	return 0
}

// The places of groups and relations in undoTables.
const (
	undoGroups    = 1
	undoRelations = 3
)
