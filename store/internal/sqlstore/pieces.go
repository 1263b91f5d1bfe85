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
// within Apply's one transaction, never held whole: once to check it, count it and keep its
// before-images, then once to write it. The writes keep RowWriter's order where it matters:
// within a table, removals before upserts of memberships and relations and group upserts
// before group removals; person trashings (which remove the trashed persons' relations) after
// every relation change. Statements on different tables touch nothing of each other's, so the
// passes need not keep the order between tables:
//
//	pass 0: person upserts, group upserts, membership removals, relation removals
//	pass 1: group removals and archivals, membership upserts, relation upserts
//	pass 2: person trashings
//
// Pass 0 is written as the plan is read; passes 1 and 2 are kept from that read when they are
// small (keptChanges together), else each is read again (a pass with nothing to write is not
// made). The state index is edited in the same passes (indexPlan: its person buckets, in the
// same order).
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

// pieceOf is the part of piece that pass writes. A list whose changes are all the pass's is
// shared, not copied (a piece of a broken night is 16,384 membership removals, all of pass 0:
// the copies were 441 MB of the 3.4 GB the 316.8 MB feed's night allocated).
func pieceOf(piece *change.Plan, pass int) *change.Plan {
	return &change.Plan{
		Tenant: piece.Tenant, Mode: piece.Mode, BaseVersion: piece.BaseVersion,
		Persons:     passPart(piece.Persons, pass, func(x *change.Person) int { return passOf(undoPersons, x.Op) }),
		Groups:      passPart(piece.Groups, pass, func(x *change.Group) int { return passOf(undoGroups, x.Op) }),
		Memberships: passPart(piece.Memberships, pass, func(x *change.Membership) int { return passOf(undoMemberships, x.Op) }),
		Relations:   passPart(piece.Relations, pass, func(x *change.Relation) int { return passOf(undoRelations, x.Op) }),
	}
}

// passPart is the changes of list that pass writes: list itself (capped, so nothing appended
// to it writes into list) when they all are, else a copy of those that are.
func passPart[T any](list []T, pass int, passOf func(*T) int) []T {
	n := 0
	for i := range list {
		if passOf(&list[i]) == pass {
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case len(list):
		return list[:n:n]
	}
	out := make([]T, 0, n)
	for i := range list {
		if passOf(&list[i]) == pass {
			out = append(out, list[i])
		}
	}
	return out
}

// keptChanges is how many changes of passes 1 and 2 the writing read keeps for them, so that
// they are not read again: a held night's trashings (the persons it leaves out, Key and Name
// each) are tens of thousands; its membership removals, which may be hundreds of thousands,
// are written in pass 0.
var keptChanges = 1 << 17

// SetKeptChanges sets keptChanges until the returned function puts it back: 0 makes every
// pass after the first read the plan again. For tests only.
func SetKeptChanges(n int) func() {
	old := keptChanges
	keptChanges = n
	return func() { keptChanges = old }
}

// pieceCounts is what the first pass learns of a plan given in pieces.
type pieceCounts struct {
	n      [4]int           // changes per undoTables table (the plan's lists, in the same order)
	passes [piecePasses]int // changes per pass: a pass with none is not made
	// trashedRelations are the relations of the persons the plan trashes (their images).
	trashedRelations [][3]string
}

func (n *pieceCounts) total() int { return n.n[0] + n.n[1] + n.n[2] + n.n[3] }

// count checks a piece and counts it in.
func (n *pieceCounts) count(piece *change.Plan, plan *change.Plan) error {
	if piece.Tenant != plan.Tenant || piece.BaseVersion != plan.BaseVersion {
		return fmt.Errorf("a piece of the plan of tenant %q at version %d is of tenant %q at version %d", plan.Tenant, plan.BaseVersion, piece.Tenant, piece.BaseVersion)
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
	return nil
}

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
		// The first read: checked, counted, and the before-images taken (nothing is written yet).
		n := &pieceCounts{}
		var images *pieceImages
		if p.Run != nil && p.Run.ID != 0 && !p.NoUndo {
			year, err := c.yearBefore(ctx, tx, tenant, plan)
			if err != nil {
				return err
			}
			if images, err = c.newPieceImages(ctx, tx, tenant, undoRow{run: p.Run.ID, v: v, now: p.Now, year: year}); err != nil {
				return err
			}
		}
		err = p.Pieces(func(piece *change.Plan) error {
			if err := n.count(piece, plan); err != nil {
				return err
			}
			more, err := c.trashedRelations(ctx, tx, tenant, piece)
			n.trashedRelations = append(n.trashedRelations, more...)
			if err != nil || images == nil {
				return err
			}
			return images.add(piece)
		})
		if err != nil {
			return err
		}
		after := v
		if n.total() > 0 || plan.SchoolYear != "" {
			if images != nil {
				if err := images.finish(n.trashedRelations); err != nil {
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
// indexApply does for a whole plan: the edits kept as they are written and made to the buckets
// after (applyIndexEdits) when the index describes version v, else (stale, or a bucket
// unreadable) the index rebuilt from the rows after the writes.
func (c *Core) writePieces(ctx context.Context, conn *sql.Conn, tx *sql.Tx, p store.ApplyParams, n *pieceCounts, v int64) error {
	tenant := p.Plan.Tenant
	var runID any
	if p.Run != nil && p.Run.ID != 0 {
		runID = p.Run.ID
	}
	now := c.d.Time(Micro(p.Now))
	done, total := 0, n.total()
	writePart := func(edits *indexEdits, part *change.Plan) error {
		w := &Write{Tenant: tenant, Plan: part, Now: now, RunID: runID, Copy: c.copyOn(ctx, conn, tx)}
		if p.Progress != nil {
			base := done
			w.Progress = func(d, _ int) { p.Progress(base+d, total) }
		}
		if err := c.d.WritePlan(ctx, tx, w); err != nil {
			return err
		}
		done += part.Changes()
		if edits != nil {
			indexPlan(edits, part)
			if edits.held > editsHeld {
				return c.spillEdits(ctx, tx, edits)
			}
		}
		return nil
	}
	write := func(edits *indexEdits) error {
		// Pass 0 as the plan is read, the later passes' parts kept while they are few.
		var kept [piecePasses][]*change.Plan
		keep := n.passes[1]+n.passes[2] <= keptChanges
		if n.passes[0] == 0 && !keep {
			return nil // nothing to write or keep: each pass reads the plan
		}
		err := p.Pieces(func(piece *change.Plan) error {
			for pass := range piecePasses {
				if n.passes[pass] == 0 || (pass > 0 && !keep) {
					continue
				}
				part := pieceOf(piece, pass)
				switch {
				case part.Empty():
				case pass == 0:
					if err := writePart(edits, part); err != nil {
						return err
					}
				default:
					kept[pass] = append(kept[pass], part)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for pass := 1; pass < piecePasses; pass++ {
			if n.passes[pass] == 0 {
				continue
			}
			if keep {
				for i, part := range kept[pass] {
					kept[pass][i] = nil
					if err := writePart(edits, part); err != nil {
						return err
					}
				}
				continue
			}
			err := p.Pieces(func(piece *change.Plan) error {
				if part := pieceOf(piece, pass); !part.Empty() {
					return writePart(edits, part)
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
	if iv != v {
		if err := write(nil); err != nil {
			return err
		}
		return c.rebuildIndex(ctx, tx, tenant, v+1)
	}
	edits := newIndexEdits()
	if err := write(edits); err != nil {
		return err
	}
	ok, err := c.applyIndexEdits(ctx, tx, tenant, v, edits)
	if err != nil || ok {
		return err
	}
	return c.rebuildIndex(ctx, tx, tenant, v+1) // a bucket was damaged: the index is stale now
}

// pieceImages are the before-images of a plan given in pieces, read and encoded as the
// pieces come in the first read (before anything is written), and stored as they are encoded
// (undoWriter): each table's images in the order of its keys in the plan (then, for relations,
// those of the trashed persons), read fetchChunk keys at a time. A key the plan names twice is
// kept twice: the images are taken before anything is written, so both are the same, and undo
// reads them by key. A table's header says how many images follow, which is known at its end
// only: each table's images are a gzip stream of their own, after the one of its header (gzip
// streams one after the other read as one, decodeImages), whose part's place is kept for it
// when the table begins and filled when it ends.
type pieceImages struct {
	tables  []*lazyImages // per table of undoTables: its rows' reader, nil when the tenant has none
	out     *undoWriter
	cur     int          // the table being written (-1: none yet)
	head    int64        // the part its header goes in
	imgs    *imageStream // its images
	written int
	part    [][]string
	chunk   int // keys a fetch at most (fetchChunk)
}

// imageStream is one gzip stream of the encoding of images.
type imageStream struct {
	buf bytes.Buffer
	zw  *gzip.Writer
	w   *bufio.Writer
	tmp [binary.MaxVarintLen64]byte
}

func newImageStream() *imageStream {
	s := &imageStream{}
	s.zw, _ = gzip.NewWriterLevel(&s.buf, gzip.BestSpeed)
	s.w = bufio.NewWriter(s.zw)
	return s
}

func (s *imageStream) uv(x uint64)  { s.w.Write(s.tmp[:binary.PutUvarint(s.tmp[:], x)]) }
func (s *imageStream) str(v string) { s.uv(uint64(len(v))); s.w.WriteString(v) }

func (s *imageStream) close() ([]byte, error) {
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	if err := s.zw.Close(); err != nil {
		return nil, err
	}
	return s.buf.Bytes(), nil
}

// imagePart is about how many bytes of encoded images a part of run_undo_parts holds: what
// an approval keeps of its images in memory, and an undo reads of them at a time.
var imagePart = 1 << 20

// SetImagePart sets imagePart until the returned function puts it back. For tests only.
func SetImagePart(n int) func() {
	old := imagePart
	imagePart = n
	return func() { imagePart = old }
}

// undoRow is what a change set's run_undo row says besides its images.
type undoRow struct {
	run, v int64 // the change set goes from version v to v+1 of run's
	now    time.Time
	year   *string // the school year before it, when it changes it
}

// undoWriter stores a change set's images (as they are encoded, for a plan in pieces; in the
// parts around the early inserts' keys, saveEncodedParts), within Apply's transaction:
// run_undo.images is the encoding's head, run_undo_parts the rest in the order of their seq
// (migration 0024). The run_undo row is written with the first part (a change set that ends
// up without images has none).
type undoWriter struct {
	c       *Core
	ctx     context.Context
	tx      *sql.Tx
	tenant  string
	row     undoRow
	head    []byte
	seq     int64 // the next part's
	written bool  // the run_undo row
}

// next reserves the next part's place.
func (w *undoWriter) next() int64 {
	w.seq++
	return w.seq - 1
}

// put writes data as the part at seq (nothing when empty); data may be reused after.
func (w *undoWriter) put(seq int64, data []byte) error {
	if !w.written {
		_, err := w.tx.ExecContext(w.ctx, w.c.Q(`INSERT INTO run_undo (run_id, tenant, version_before, version_after, at, images, school_year_before) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			w.row.run, w.tenant, w.row.v, w.row.v+1, w.c.d.Time(Micro(w.row.now)), w.head, w.row.year)
		if err != nil {
			return fmt.Errorf("keep before-images: %w", err)
		}
		w.written = true
	}
	if len(data) == 0 {
		return nil
	}
	_, err := w.tx.ExecContext(w.ctx, w.c.Q(`INSERT INTO run_undo_parts (run_id, version_after, seq, data) VALUES (?, ?, ?, ?)`), w.row.run, w.row.v+1, seq, data)
	if err != nil {
		return fmt.Errorf("keep before-images: %w", err)
	}
	return nil
}

// newPieceImages starts the images of a plan in pieces of tenant's, kept as row says.
func (c *Core) newPieceImages(ctx context.Context, tx *sql.Tx, tenant string, row undoRow) (*pieceImages, error) {
	pi := &pieceImages{tables: make([]*lazyImages, len(undoTables)), cur: -1, chunk: c.fetchChunk()}
	for ti, t := range undoTables {
		some, err := c.hasRows(ctx, tx, tenant, t)
		if err != nil {
			return nil, fmt.Errorf("before-images of %s: %w", t.name, err)
		}
		if !some {
			continue
		}
		if pi.tables[ti], err = c.lazyTable(ctx, tx, tenant, t, nil); err != nil {
			return nil, err
		}
	}
	head := newImageStream()
	head.w.WriteString(imagesMagic)
	head.uv(uint64(len(undoTables)))
	data, err := head.close()
	if err != nil {
		return nil, err
	}
	pi.out = &undoWriter{c: c, ctx: ctx, tx: tx, tenant: tenant, row: row, head: data}
	return pi, nil
}

// add takes the images of a piece's keys.
func (pi *pieceImages) add(piece *change.Plan) error {
	for ti := range undoTables {
		a := planAbsent(piece, ti)
		if a.n == 0 {
			continue
		}
		if ti < pi.cur {
			return fmt.Errorf("a piece of %s after the %s", undoTables[ti].name, undoTables[pi.cur].name)
		}
		if err := pi.upTo(ti); err != nil {
			return err
		}
		for i := range a.n {
			if err := pi.key(a.key(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish takes the images of the trashed persons' relations and stores the rest.
func (pi *pieceImages) finish(trashedRelations [][3]string) error {
	if err := pi.upTo(undoRelations); err != nil {
		return err
	}
	for _, k := range trashedRelations {
		if err := pi.key(k); err != nil {
			return err
		}
	}
	return pi.end()
}

// upTo ends the table being written and begins the ones up to ti.
func (pi *pieceImages) upTo(ti int) error {
	for pi.cur < ti {
		if err := pi.end(); err != nil {
			return err
		}
		pi.cur, pi.written, pi.imgs, pi.head = pi.cur+1, 0, newImageStream(), pi.out.next()
	}
	return nil
}

func (pi *pieceImages) key(k [3]string) error {
	pi.part = append(pi.part, append([]string(nil), k[:len(undoTables[pi.cur].key)]...))
	if len(pi.part) == pi.chunk {
		return pi.flush()
	}
	return nil
}

// flush reads and encodes the images of the keys gathered.
func (pi *pieceImages) flush() error {
	if len(pi.part) == 0 {
		return nil
	}
	found, err := pi.fetch(pi.part)
	if err == nil {
		err = pi.write(pi.part, found)
	}
	pi.part = pi.part[:0]
	return err
}

// fetch reads the rows of the given keys of the table being written, by joined key (none when
// the tenant had no row in it).
func (pi *pieceImages) fetch(keys [][]string) (map[string][]any, error) {
	l := pi.tables[pi.cur]
	if l == nil {
		return nil, nil
	}
	found, err := l.fetch(keys)
	if err != nil {
		return nil, fmt.Errorf("before-images of %s: %w", undoTables[pi.cur].name, err)
	}
	return found, nil
}

// cols are the columns of the images of the table being written (nil: it has no rows).
func (pi *pieceImages) cols() []string {
	if l := pi.tables[pi.cur]; l != nil {
		return l.cols
	}
	return nil
}

// write encodes the images of keys of the table being written, their rows in found (fetch),
// and stores what the compression made of them each time it is a part's worth: checked after
// every image, not once a fetch (PostgreSQL's fetch is of 2,000 keys, whose images may be
// more than a part).
func (pi *pieceImages) write(keys [][]string, found map[string][]any) error {
	t, cols := undoTables[pi.cur], pi.cols()
	for _, k := range keys {
		if err := writeImageTo(pi.imgs.w, t, cols, image{key: k, cols: cols, row: found[joinKey(k)]}); err != nil {
			return err
		}
		pi.written++
		if buf := &pi.imgs.buf; buf.Len() >= imagePart {
			if err := pi.out.put(pi.out.next(), buf.Bytes()); err != nil {
				return err
			}
			buf.Reset()
		}
	}
	return nil
}

// end finishes the table being written: its header, in the part kept for it, then the rest of
// its images.
func (pi *pieceImages) end() error {
	if pi.cur < 0 {
		return nil
	}
	if err := pi.flush(); err != nil {
		return err
	}
	t := undoTables[pi.cur]
	h := newImageStream()
	h.str(t.name)
	h.uv(uint64(len(pi.cols())))
	for _, col := range pi.cols() {
		h.str(col)
	}
	h.uv(uint64(len(t.key)))
	h.uv(uint64(pi.written))
	head, err := h.close()
	if err != nil {
		return err
	}
	if err := pi.out.put(pi.head, head); err != nil {
		return err
	}
	imgs, err := pi.imgs.close()
	if err != nil {
		return err
	}
	if err := pi.out.put(pi.out.next(), imgs); err != nil {
		return err
	}
	pi.imgs = nil
	return nil
}

// The places of groups and relations in undoTables.
const (
	undoGroups    = 1
	undoRelations = 3
)
