package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/imsfeed/imsfeed/change"
)

// indexEdits are the state index edits of a plan written in pieces (an approval) or of an
// undo, kept per bucket, encoded, as indexPlan (editImages) makes them while the pieces (the
// images) are written, and applied to the buckets after the writes, a block of buckets at a time (applyIndexEdits). The buckets a large
// approval edits are most of the tenant's index: decoded all at once, and live through the
// writes, they were 145-170 MB of its 200 MB live heap; its edits are a few bytes a change:
// past editsHeld bytes they wait in a temporary table (spillEdits).
type indexEdits struct {
	logs    map[int][]byte // per bucket, its edits in the order they were made
	held    int            // bytes in logs
	spilled map[int]bool   // buckets with edits in the temporary table (older than logs')
	seq     int            // the next spill's
}

func newIndexEdits() *indexEdits { return &indexEdits{logs: map[int][]byte{}} }

// set makes log bucket n's edits.
func (e *indexEdits) set(n int, log []byte) {
	e.held += len(log) - len(e.logs[n])
	e.logs[n] = log
}

// The kinds of edit, each followed by its key and what it writes.
const (
	editSetPerson  byte = iota + 1 // key, name, hash, trashed
	editTrash                      // key
	editDropPerson                 // key: an undo's (editImages), the entry dropped
)

// person starts an edit of a person's entry: its bucket, and the bucket's log with the edit's
// kind and key appended.
func (e *indexEdits) person(kind byte, key string) (int, []byte) {
	n := personBucket(key)
	return n, appendString(append(e.logs[n], kind), key)
}

func (e *indexEdits) setPerson(key string, st change.PersonState) {
	n, b := e.person(editSetPerson, key)
	b = append(appendString(b, st.Name), st.Hash[:]...)
	var f byte
	if st.Trashed {
		f |= flagTrashed
	}
	e.set(n, append(b, f))
}

func (e *indexEdits) trash(key string) {
	n, b := e.person(editTrash, key)
	e.set(n, b)
}

// dropPerson removes a person's entry (an undo's: the row is gone).
func (e *indexEdits) dropPerson(key string) {
	n, b := e.person(editDropPerson, key)
	e.set(n, b)
}

// replay makes a bucket's edits to bs.
func replay(bs *buckets, log []byte) error {
	d := indexDecoder{data: log}
	hash := func() (h [16]byte) {
		copy(h[:], d.bytes(16))
		return h
	}
	flags := func() byte {
		if f := d.bytes(1); len(f) == 1 {
			return f[0]
		}
		return 0
	}
	for len(d.data) > 0 && d.err == nil {
		kind := d.data[0]
		d.data = d.data[1:]
		switch kind {
		case editTrash, editDropPerson:
			key := d.str()
			switch {
			case d.err != nil:
			case kind == editTrash:
				bs.trash(key)
			default:
				delete(bs.person(key).persons, key)
			}
		case editSetPerson:
			key := d.str()
			st := change.PersonState{Name: d.str(), Hash: hash()}
			st.Trashed = flags()&flagTrashed != 0
			if d.err == nil {
				bs.setPerson(key, st)
			}
		default:
			return fmt.Errorf("state index edits: unknown edit %d", kind)
		}
	}
	return d.err
}

// editsRange is how many buckets applyIndexEdits holds decoded at a time: a block of bucket
// numbers, [k*editsRange, (k+1)*editsRange). The 1 GB feed's tenant's buckets were 29 MB
// decoded 256 at a time.
const editsRange = 64

// editsHeld is about how many bytes of edits writePieces holds before it moves them to the
// temporary table (spillEdits).
var editsHeld = 8 << 20

// SetEditsHeld sets editsHeld until the returned function puts it back: 0 moves the edits to
// the temporary table after each part written. For tests only.
func SetEditsHeld(n int) func() {
	old := editsHeld
	editsHeld = n
	return func() { editsHeld = old }
}

// editsSpill is the temporary table edits wait in: a row per spill and block of editsRange
// buckets, its data each bucket's number, length and edits.
const editsSpill = "imsfeed_index_edits"

// spillEdits moves the edits held to the temporary table, made at the first spill (a rollback
// takes it back; applyIndexEdits drops it).
func (c *Core) spillEdits(ctx context.Context, tx *sql.Tx, e *indexEdits) error {
	if len(e.logs) == 0 {
		return nil
	}
	if e.spilled == nil {
		creates := []string{`CREATE TEMP TABLE ` + editsSpill + ` (block integer, seq integer, data bytea) ON COMMIT DROP`}
		if !c.d.Dollar {
			creates = []string{`DROP TABLE IF EXISTS temp.` + editsSpill,
				`CREATE TEMP TABLE ` + editsSpill + ` (block INTEGER, seq INTEGER, data BLOB)`,
				`CREATE INDEX temp.` + editsSpill + `_order ON ` + editsSpill + ` (block, seq)`}
		}
		for _, q := range creates {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("state index edits: %w", err)
			}
		}
		e.spilled = map[int]bool{}
	}
	nums := make([]int, 0, len(e.logs))
	for n := range e.logs {
		nums = append(nums, n)
		e.spilled[n] = true
	}
	slices.Sort(nums)
	var data []byte
	for i, n := range nums {
		data = binary.AppendUvarint(data, uint64(n))
		data = append(binary.AppendUvarint(data, uint64(len(e.logs[n]))), e.logs[n]...)
		if i+1 < len(nums) && nums[i+1]/editsRange == n/editsRange {
			continue
		}
		if _, err := tx.ExecContext(ctx, c.Q(`INSERT INTO `+editsSpill+` (block, seq, data) VALUES (?, ?, ?)`), n/editsRange, e.seq, data); err != nil {
			return fmt.Errorf("state index edits: %w", err)
		}
		data = data[:0]
	}
	e.seq++
	e.logs, e.held = map[int][]byte{}, 0
	return nil
}

// spilledEdits are the edits of block's buckets in the temporary table, per bucket, in order.
func (c *Core) spilledEdits(ctx context.Context, tx *sql.Tx, e *indexEdits, block int) (map[int][]byte, error) {
	if e.spilled == nil {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT data FROM `+editsSpill+` WHERE block = ? ORDER BY seq`), block)
	if err != nil {
		return nil, err
	}
	out := map[int][]byte{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return nil, err
		}
		d := indexDecoder{data: data}
		for len(d.data) > 0 && d.err == nil {
			n := int(d.uvarint())
			log := d.bytes(d.uvarint())
			out[n] = append(out[n], log...)
		}
		if d.err != nil {
			rows.Close()
			return nil, d.err
		}
	}
	return out, closeRows(rows)
}

// applyIndexEdits carries the tenant's index, which describes version v, to v+1 with the edits
// made to it: the pending entries are folded into their buckets first (as editBuckets does),
// then each bucket's edits are made (those in the temporary table, then those held), a block
// of editsRange buckets at a time. A damaged bucket marks the index stale and returns false
// (the caller rebuilds it from the rows, as editBuckets' do).
func (c *Core) applyIndexEdits(ctx context.Context, tx *sql.Tx, tenant string, v int64, e *indexEdits) (bool, error) {
	pn, pend, err := c.loadPending(ctx, tx, tenant)
	// The pending entries by their hash bucket, older first: a later one is newer.
	type entry struct {
		key string
		st  change.PersonState
	}
	pending := map[int][]entry{}
	for _, p := range pend {
		for k, st := range p.persons {
			n := personBucket(k)
			pending[n] = append(pending[n], entry{k, st})
		}
	}
	edited := map[int]bool{}
	for n := range e.logs {
		edited[n] = true
	}
	for n := range pending {
		edited[n] = true
	}
	for n := range e.spilled {
		edited[n] = true
	}
	nums := make([]int, 0, len(edited))
	for n := range edited {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for len(nums) > 0 && err == nil {
		block := nums[0] / editsRange
		end := 1
		for end < len(nums) && nums[end]/editsRange == block {
			end++
		}
		part := nums[:end]
		nums = nums[end:]
		set := make(map[int]bool, len(part))
		for _, n := range part {
			set[n] = true
		}
		var bs *buckets
		if bs, err = c.loadBuckets(ctx, tx, tenant, set); err != nil {
			break
		}
		var spilled map[int][]byte
		if spilled, err = c.spilledEdits(ctx, tx, e, block); err != nil {
			break
		}
		for _, n := range part {
			b := bs.at(n) // edited, or folded into: written (deleted when empty)
			for _, x := range pending[n] {
				b.persons[x.key] = x.st
			}
			if err = replay(bs, spilled[n]); err != nil {
				break
			}
			if err = replay(bs, e.logs[n]); err != nil {
				break
			}
			delete(e.logs, n)
		}
		if err == nil {
			err = c.writeBuckets(ctx, tx, tenant, bs)
		}
	}
	if e.spilled != nil && !c.d.Dollar && (err == nil || errors.Is(err, errIndexFormat)) {
		// SQLite drops no temporary table at commit.
		if _, derr := tx.ExecContext(ctx, `DROP TABLE temp.`+editsSpill); derr != nil {
			err = derr
		}
	}
	if err == nil && len(pn) > 0 {
		gone := &buckets{m: map[int]*bucket{}, dirty: map[int]bool{}}
		for _, n := range pn {
			gone.m[n], gone.dirty[n] = newBucket(), true // empty and dirty: deleted
		}
		err = c.writeBuckets(ctx, tx, tenant, gone)
	}
	if errors.Is(err, errIndexFormat) {
		_, err = tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = -1 WHERE id = ?`), tenant)
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("state index: %w", err)
	}
	_, err = tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = ? WHERE id = ?`), v+1, tenant)
	return err == nil, err
}
