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
	"strings"
	"sync"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// early implements store.EarlyInserts: an initial load's persons and memberships copied into
// their tables by a goroutine of its own while the file is still being read, in the
// transaction the apply then continues and commits. The diff hands the records over in
// batches through a bounded channel; the tables' index upkeep, most of an initial load's
// apply, then runs beside the reader: in the server (PostgreSQL, COPY) or on this process's
// other core (SQLite, one prepared INSERT a row: insertRows).
//
// The plan does not keep them (change.Plan.Early): what the apply needs of them is kept here,
// compact, as they are copied: their state index entries, encoded into their buckets, and
// their undo keys ("no row before"), compressed.
type early struct {
	c       *Core
	conn    *sql.Conn // the connection tx runs on, given back to the pool after it
	tx      *sql.Tx
	tenant  string
	persons bool // the tenant had no persons: they may be written too
	pbatch  []*record.Person
	mbatch  []*record.Membership
	ch      chan earlyRecords
	done    chan struct{}
	refused bool // a person was given though persons may not be written

	// Written by the copying goroutine, read once done is closed.
	err     error
	n       change.PerType
	idx     [hashBuckets]earlyBucket // the persons' buckets' entries
	indexed bool                     // idx has entries not yet sent to the server
	held    int                      // bytes of entries and undo keys not yet sent
	seq     int                      // how many times the entries were sent
	undo    [2]earlyUndoStream       // the persons' and the memberships' undo keys

	once     sync.Once
	finished bool // the channel is closed and the goroutine done
	used     bool // an apply took the transaction over
}

// earlyRecords is one batch handed over: persons or memberships.
type earlyRecords struct {
	persons []*record.Person
	members []*record.Membership
}

func (r earlyRecords) len() int { return len(r.persons) + len(r.members) }

// earlyUndoStream is the undo keys of one table (as encodeImagesWith writes them) not yet
// sent, as a gzip stream; each part sent is a stream of its own.
type earlyUndoStream struct {
	table int // in undoTables
	seq   int // how many parts were sent
	buf   bytes.Buffer
	z     *gzip.Writer
	w     *bufio.Writer
	key   []byte // the key being encoded, written whole by none
}

func (u *earlyUndoStream) init(table int) {
	u.table = table
	u.z, _ = gzip.NewWriterLevel(&u.buf, gzip.BestSpeed)
	u.w = bufio.NewWriter(u.z)
}

// str adds one of a key's strings.
func (u *earlyUndoStream) str(s string) { u.key = appendString(u.key, s) }

// none ends the key with "no row before" and writes it: one write a row, not one a string.
// It returns the key's length.
func (u *earlyUndoStream) none() int {
	u.key = append(u.key, 0)
	u.w.Write(u.key)
	n := len(u.key)
	u.key = u.key[:0]
	return n
}

// earlyBucket is one person bucket's entries, encoded as writeInserts encodes them, in copy
// order. The entries go to the server in parts (earlyIndex), so few are held here at a time.
type earlyBucket struct {
	data    []byte // the entries not yet sent
	entries int    // all of them, sent or not
}

func (b *earlyBucket) addPerson(p *record.Person) {
	b.data = appendString(b.data, p.Key)
	b.data = appendString(b.data, p.Name)
	b.data = append(b.data, p.Hash[:]...)
	b.data = append(b.data, 0)
	b.entries++
}

// header is what the bucket's entries follow: its format and counts.
func (b *earlyBucket) header() []byte {
	out := []byte{indexFormat}
	out = binary.AppendUvarint(out, uint64(b.entries))
	return binary.AppendUvarint(out, 0) // no memberships
}

const (
	earlyBatch = 1024
	earlyDepth = 8
)

// earlyIndexHeld is how many bytes of state index entries and undo keys the copy holds before
// it sends them to the server (about 150,000 memberships' undo keys, or 100,000 persons'
// entries and keys): they would otherwise grow with the tenant.
var earlyIndexHeld = 4 << 20

// SetEarlyIndexHeld sets earlyIndexHeld until the returned function puts it back: a test's
// small tenant then sends its index entries in several parts. For tests only.
func SetEarlyIndexHeld(n int) func() {
	old := earlyIndexHeld
	earlyIndexHeld = n
	return func() { earlyIndexHeld = old }
}

// earlyIndex is the temporary table the buckets' parts wait in until the apply puts each
// bucket together (header first, then its parts in order); earlyUndo likewise for the undo
// keys of each table (gzip streams, put in the before-images' gaps by saveImages).
const (
	earlyIndex = "imsfeed_early_index"
	earlyUndo  = "imsfeed_early_undo"
)

var (
	earlyIndexCols = []string{"bucket", "seq", "data"}
	earlyUndoCols  = []string{"tbl", "seq", "data"}
)

var earlyPersonCols = []string{"tenant", "key", "source", "name", "attrs", "hash"}

// EarlyInserts implements store.EarlyWriter. On SQLite the transaction is the database's one
// write transaction from the start of the reading: an import holds it for its apply anyway
// (about as long as the reading, for a large initial load), and written beside the reading
// the apply that remains is short.
func (c *Core) EarlyInserts(ctx context.Context, tenant string, version int64) (store.EarlyInserts, error) {
	// Not bound to ctx: database/sql would roll a cancelled transaction back from a goroutine of
	// its own while lib/pq's COPY reads the same connection from another (a data race on the
	// connection). A cancelled ctx still ends the copy (its ExecContext fails), and Abort or
	// applyEarly then roll back on the goroutine that owns the transaction.
	//
	// On a connection of its own, so the copy may write COPY text to the driver directly
	// (Dialect.CopyText).
	conn, err := c.db.Conn(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	fail := func() {
		_ = tx.Rollback()
		conn.Close()
	}
	v, err := c.lockTenant(ctx, tx, tenant)
	if err != nil || v != version {
		fail()
		return nil, err
	}
	members, err := c.hasMemberships(ctx, tx, tenant)
	if err != nil || members {
		fail()
		return nil, err
	}
	var persons bool
	if err := tx.QueryRowContext(ctx, c.Q(`SELECT EXISTS (SELECT 1 FROM persons WHERE tenant = ?)`), tenant).Scan(&persons); err != nil {
		fail()
		return nil, err
	}
	creates := []string{
		`CREATE TEMP TABLE ` + earlyIndex + ` (bucket integer, seq integer, data bytea) ON COMMIT DROP`,
		`CREATE TEMP TABLE ` + earlyUndo + ` (tbl integer, seq integer, data bytea) ON COMMIT DROP`,
		// Out of line but not compressed, as state_index keeps them (migration 0022): pglz
		// gained nothing on the index entries' parts (nor on gzip streams) and cost the
		// server about 0.7 s of an initial load of the 316.8 MB feed.
		`ALTER TABLE ` + earlyIndex + ` ALTER COLUMN data SET STORAGE EXTERNAL`,
		`ALTER TABLE ` + earlyUndo + ` ALTER COLUMN data SET STORAGE EXTERNAL`,
	}
	if !c.d.Dollar {
		// SQLite drops no temporary table at commit: applyEarly drops them, and a rollback
		// takes their creation back. Indexed, so the apply reads each bucket's parts in order
		// without sorting them.
		creates = []string{
			`DROP TABLE IF EXISTS temp.` + earlyIndex,
			`DROP TABLE IF EXISTS temp.` + earlyUndo,
			`CREATE TEMP TABLE ` + earlyIndex + ` (bucket INTEGER, seq INTEGER, data BLOB)`,
			`CREATE INDEX temp.` + earlyIndex + `_order ON ` + earlyIndex + ` (bucket, seq)`,
			`CREATE TEMP TABLE ` + earlyUndo + ` (tbl INTEGER, seq INTEGER, data BLOB)`,
			`CREATE INDEX temp.` + earlyUndo + `_order ON ` + earlyUndo + ` (tbl, seq)`,
		}
	}
	for _, create := range creates {
		if _, err := tx.ExecContext(ctx, create); err != nil {
			fail()
			return nil, err
		}
	}
	e := &early{c: c, conn: conn, tx: tx, tenant: tenant, persons: !persons, ch: make(chan earlyRecords, earlyDepth), done: make(chan struct{})}
	e.undo[0].init(undoPersons)
	e.undo[1].init(undoMemberships)
	go e.copy(ctx, c.rowsOn(conn, tx))
	return e, nil
}

// insertRows fills table's columns with the rows next yields, one prepared INSERT a row
// (SQLite, in this process: a statement of several rows is no cheaper, see the README's fifth
// step). As in RowWriter, a statement runs on a context that cannot be cancelled (the driver
// would start a goroutine per statement to watch it); ctx is checked between rows instead.
func insertRows(ctx context.Context, tx *sql.Tx, table string, cols []string, next func() ([]any, bool)) error {
	st, err := tx.PrepareContext(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")+`)`)
	if err != nil {
		return err
	}
	defer st.Close()
	run := context.WithoutCancel(ctx)
	for n := 1; ; n++ {
		row, ok := next()
		if !ok {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := st.ExecContext(run, row...); err != nil {
			return fmt.Errorf("insert into %s, row %d: %w", table, n, err)
		}
	}
}

// The places of persons and memberships in undoTables.
const (
	undoPersons     = 0
	undoMemberships = 2
)

func (e *early) copy(ctx context.Context, copyRows rowsFunc) {
	defer close(e.done)
	var cur earlyRecords
	i := 0
	// next makes cur's record i the next one to copy; false at the end.
	next := func() bool {
		for i >= cur.len() {
			b, ok := <-e.ch
			if !ok {
				return false
			}
			cur, i = b, 0
		}
		return true
	}
	// One COPY until the records change table or earlyIndexHeld bytes of index entries wait,
	// then those go to the server (a connection runs one COPY at a time), then the next COPY.
	// The memberships go in as packs (earlypacks.go): a pack row is written once its group's
	// memberships have all come.
	pk := newPacker()
	defer pk.lists.close()
	var packErr error // a membership the packs refuse
	for e.err == nil && next() {
		persons := cur.persons != nil
		table, cols, u := packsTable, packCols, &e.undo[1]
		if persons {
			table, cols, u = "persons", earlyPersonCols, &e.undo[0]
		}
		e.err = copyRows(ctx, table, cols, func(r row) bool {
			if !persons {
				for len(pk.ready) == 0 {
					if e.held >= earlyIndexHeld || len(pk.late) >= earlyLateHeld || !next() || cur.persons != nil {
						return false
					}
					m := cur.members[i]
					cur.members[i] = nil
					i++
					e.kept(m, u)
					if err := pk.add(m); err != nil {
						packErr = err
						return false
					}
				}
				e.writePack(r, pk)
				return true
			}
			if e.held >= earlyIndexHeld || !next() || cur.persons == nil {
				return false
			}
			p := cur.persons[i]
			cur.persons[i] = nil
			i++
			e.keptPerson(p, u)
			r.text(e.tenant)
			r.text(p.Key)
			r.text(p.Source)
			r.text(p.Name)
			jsonValue(r, JSON(p.Attrs))
			r.bytes(p.Hash[:])
			return true
		})
		if packErr != nil {
			e.err = packErr
		}
		if e.err == nil {
			e.err = e.sendIndex(ctx, copyRows)
		}
		if e.err == nil {
			e.err = e.sendUndo(ctx, copyRows, u)
		}
		e.held = 0
		if e.err == nil && len(pk.late) >= earlyLateHeld {
			e.err = e.writeLate(ctx, pk)
		}
	}
	if e.err == nil {
		e.err = e.finishPacks(ctx, copyRows, pk)
	}
	for range e.ch { // a failed copy still lets the diff hand over the rest
	}
}

// keptPerson counts a person copied early and keeps its state index entry and its undo key.
func (e *early) keptPerson(p *record.Person, u *earlyUndoStream) {
	e.n[record.Persons]++
	b := &e.idx[personBucket(p.Key)]
	n := len(b.data)
	b.addPerson(p)
	e.held += len(b.data) - n
	e.indexed = true
	u.str(p.Key)
	e.held += u.none()
}

// kept counts a membership copied early and keeps its undo key (memberships have no state
// index entries: their packs are what the diff reads).
func (e *early) kept(m *record.Membership, u *earlyUndoStream) {
	e.n[record.Memberships]++
	u.str(m.Group)
	u.str(m.Member)
	u.str(m.Role)
	e.held += u.none()
}

// finishPacks writes, once the file is read, the memberships of groups that came back, the
// last group's packs and the member lists.
func (e *early) finishPacks(ctx context.Context, copyRows rowsFunc, pk *packer) error {
	if err := pk.flush(); err != nil {
		return err
	}
	if len(pk.ready) > 0 {
		err := copyRows(ctx, packsTable, packCols, func(r row) bool {
			if len(pk.ready) == 0 {
				return false
			}
			e.writePack(r, pk)
			return true
		})
		if err != nil {
			return err
		}
	}
	if err := e.writeLate(ctx, pk); err != nil {
		return err
	}
	if pk.err != nil {
		return pk.err
	}
	if len(pk.lists.groups) == 0 {
		return nil
	}
	var listErr error
	err := copyRows(ctx, listsTable, listCols, func(r row) bool {
		k, groups, ok, err := pk.lists.next()
		if err != nil {
			listErr = err
			return false
		}
		if !ok {
			return false
		}
		r.text(e.tenant)
		r.int(k.memberType)
		r.text(k.member)
		r.bytes(groups)
		return true
	})
	if listErr != nil {
		return fmt.Errorf("member lists: %w", listErr)
	}
	return err
}

// earlyLateHeld is how many memberships of groups that came back (after another group's) the
// copy holds before it edits them into their groups' packs: a file that gives memberships in
// no order of groups (none of the corpus does) is written more slowly, in bounded memory.
var earlyLateHeld = 1 << 16

// SetEarlyLateHeld sets earlyLateHeld until the returned function puts it back: a test's small
// tenant then has its groups that came back written while the file is read. For tests only.
func SetEarlyLateHeld(n int) func() {
	old := earlyLateHeld
	earlyLateHeld = n
	return func() { earlyLateHeld = old }
}

// writeLate edits the memberships of groups that came back into the groups' packs, already
// written (read and written a statement a pack, as any later change is); their members' lists
// are made with the others' once the file is read.
func (e *early) writeLate(ctx context.Context, pk *packer) error {
	if len(pk.late) == 0 {
		return nil
	}
	edits := make([]edit, len(pk.late))
	for i, m := range pk.late {
		edits[i] = edit{key: m.MembershipKey, op: opInsert, entry: entryOf(m)}
	}
	clear(pk.late)
	pk.late = pk.late[:0]
	w := e.c.rowPacks(ctx, e.tx, e.tenant)
	defer w.close()
	err := e.c.editPacks(ctx, e.tx, e.tenant, edits, false, w, pk.joined)
	return err
}

// writePack writes the first of pk's ready packs as a row of membership_packs.
func (e *early) writePack(r row, pk *packer) {
	x := pk.ready[0]
	pk.ready[0] = packRowOf{}
	pk.ready = pk.ready[1:]
	if len(pk.ready) == 0 {
		pk.ready = nil
	}
	r.text(e.tenant)
	r.text(x.group)
	r.text(x.Key)
	r.int(int64(x.N))
	r.int(int64(x.Manual))
	r.bytes(x.Data)
}

// sendUndo ends the gzip stream of u's undo keys written since its last one, copies it into
// earlyUndo and starts the next.
func (e *early) sendUndo(ctx context.Context, copyRows rowsFunc, u *earlyUndoStream) error {
	if err := u.w.Flush(); err != nil {
		return err
	}
	if err := u.z.Close(); err != nil {
		return err
	}
	u.seq++
	sent := false
	err := copyRows(ctx, earlyUndo, earlyUndoCols, func(r row) bool {
		if sent {
			return false
		}
		sent = true
		r.int(int64(u.table))
		r.int(int64(u.seq))
		r.bytes(u.buf.Bytes())
		return true
	})
	u.buf = bytes.Buffer{}
	u.z.Reset(&u.buf)
	u.w.Reset(u.z)
	return err
}

// sendIndex copies the index entries held into earlyIndex, one row a bucket, and lets them go.
func (e *early) sendIndex(ctx context.Context, copyRows rowsFunc) error {
	if !e.indexed {
		return nil
	}
	e.indexed = false
	e.seq++
	i := 0
	err := copyRows(ctx, earlyIndex, earlyIndexCols, func(r row) bool {
		for ; i < len(e.idx); i++ {
			b := &e.idx[i]
			if len(b.data) == 0 {
				continue
			}
			r.int(int64(i))
			r.int(int64(e.seq))
			r.bytes(b.data)
			b.data = nil // written: let it go
			i++
			return true
		}
		return false
	})
	return err
}

func (e *early) Person(p *record.Person) {
	if e.finished {
		return
	}
	if !e.persons {
		e.refused = true
		return
	}
	if len(e.mbatch) > 0 { // in file order
		e.ch <- earlyRecords{members: e.mbatch}
		e.mbatch = nil
	}
	if e.pbatch == nil {
		e.pbatch = make([]*record.Person, 0, earlyBatch)
	}
	e.pbatch = append(e.pbatch, p)
	if len(e.pbatch) == earlyBatch {
		e.ch <- earlyRecords{persons: e.pbatch}
		e.pbatch = nil
	}
}

func (e *early) Membership(m *record.Membership) {
	if e.finished {
		return
	}
	if len(e.pbatch) > 0 { // in file order
		e.ch <- earlyRecords{persons: e.pbatch}
		e.pbatch = nil
	}
	if e.mbatch == nil {
		e.mbatch = make([]*record.Membership, 0, earlyBatch)
	}
	e.mbatch = append(e.mbatch, m)
	if len(e.mbatch) == earlyBatch {
		e.ch <- earlyRecords{members: e.mbatch}
		e.mbatch = nil
	}
}

// finish hands over the last batch and waits for the copy to end.
func (e *early) finish() error {
	if !e.finished {
		e.finished = true
		if len(e.pbatch) > 0 {
			e.ch <- earlyRecords{persons: e.pbatch}
		}
		if len(e.mbatch) > 0 {
			e.ch <- earlyRecords{members: e.mbatch}
		}
		e.pbatch, e.mbatch = nil, nil
		close(e.ch)
		<-e.done
	}
	if e.err == nil && e.refused {
		return errors.New("persons were given to write early, and the tenant has persons stored")
	}
	return e.err
}

func (e *early) Done() (change.PerType, error) {
	if err := e.finish(); err != nil {
		return change.PerType{}, err
	}
	if e.used {
		return change.PerType{}, errors.New("early inserts already applied")
	}
	return e.n, nil
}

func (e *early) Abort() {
	if e.used {
		return
	}
	e.once.Do(func() {
		_ = e.finish()
		_ = e.tx.Rollback()
		e.conn.Close()
	})
}

// take hands the transaction to an apply; it must not be aborted any more (the apply ends it).
func (e *early) take() (*sql.Tx, error) {
	e.used = true
	return e.tx, e.finish()
}

// wrotePersons reports whether the plan's persons are written (the file had some).
func (e *early) wrotePersons() bool { return e != nil && e.n[record.Persons] > 0 }

// earlyOf is the store's own early inserts, checked against the plan they come with.
func earlyOf(ei store.EarlyInserts, p *change.Plan) (*early, error) {
	if ei == nil {
		if p.Early != (change.PerType{}) {
			return nil, fmt.Errorf("the plan counts %d persons and %d memberships written while the file was read, and none were given",
				p.Early[record.Persons], p.Early[record.Memberships])
		}
		return nil, nil
	}
	e, ok := ei.(*early)
	if !ok {
		return nil, errors.New("early inserts of another store")
	}
	if err := e.finish(); err != nil {
		return e, err
	}
	if p.Early[record.Groups]+p.Early[record.Relations] != 0 {
		return e, errors.New("the plan counts groups or relations written while the file was read")
	}
	if n := len(p.Memberships) + p.Early[record.Memberships]; e.n[record.Memberships] != n {
		return e, fmt.Errorf("%d memberships were written while the file was read, the plan has %d", e.n[record.Memberships], n)
	}
	for i := range p.Memberships {
		if p.Memberships[i].Op != change.Insert {
			return e, fmt.Errorf("a plan with memberships written early %ss membership %s", p.Memberships[i].Op, p.Memberships[i].Membership.MembershipKey)
		}
	}
	if e.wrotePersons() || p.Early[record.Persons] > 0 {
		if n := len(p.Persons) + p.Early[record.Persons]; e.n[record.Persons] != n {
			return e, fmt.Errorf("%d persons were written while the file was read, the plan has %d", e.n[record.Persons], n)
		}
		for i := range p.Persons {
			if p.Persons[i].Op != change.Insert {
				return e, fmt.Errorf("a plan with persons written early %ss person %s", p.Persons[i].Op, p.Persons[i].Person.Key)
			}
		}
	}
	return e, nil
}

// applyEarly runs an apply in the transaction of early inserts and commits it.
func (c *Core) applyEarly(ctx context.Context, e *early, apply func(*sql.Conn, *sql.Tx) error) error {
	defer e.conn.Close() // after the transaction ends, below
	tx, err := e.take()
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := apply(e.conn, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := ctx.Err(); err != nil { // as a transaction bound to ctx would refuse to commit
		_ = tx.Rollback()
		return err
	}
	if !c.d.Dollar { // SQLite: see EarlyInserts
		for _, t := range []string{earlyIndex, earlyUndo} {
			if _, err := tx.ExecContext(ctx, `DROP TABLE temp.`+t); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
	}
	return tx.Commit()
}

// writeEarlyBuckets stores the buckets of early inserts (the tenant had no persons): each
// bucket's header, then its parts in the order they were sent, then the count of membership
// runs (none) that ends it, put together by the server.
func (c *Core) writeEarlyBuckets(ctx context.Context, tx *sql.Tx, tenant string, e *early) error {
	if c.d.CopyRows == nil {
		return c.writeEarlyBucketsHere(ctx, tx, tenant, e)
	}
	i, footer := 0, false
	err := c.copyRows(ctx, e.conn, tx, earlyIndex, earlyIndexCols, func() ([]any, bool) {
		for ; i < len(e.idx); i++ {
			b := &e.idx[i]
			if b.entries == 0 {
				continue
			}
			if !footer {
				footer = true
				return []any{i, e.seq + 1, binary.AppendUvarint(nil, 0)}, true
			}
			footer = false
			i++
			return []any{i - 1, 0, b.header()}, true
		}
		return nil, false
	})
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, c.Q(`INSERT INTO state_index (tenant, bucket, data)
SELECT ?, bucket, string_agg(data, ''::bytea ORDER BY seq) FROM `+earlyIndex+` GROUP BY bucket`), tenant)
	return err
}

// writeEarlyBucketsHere is writeEarlyBuckets put together in this process (SQLite): 64 buckets
// at a time, each one's header, parts in the order they were sent and footer, 64 a statement
// (as writeInserts). Only those 64 buckets' parts are held at once.
func (c *Core) writeEarlyBucketsHere(ctx context.Context, tx *sql.Tx, tenant string, e *early) error {
	const step = 64
	for lo := 0; lo < hashBuckets; lo += step {
		var out [step][]byte
		some := false
		for i := lo; i < lo+step; i++ {
			if e.idx[i].entries > 0 {
				out[i-lo], some = e.idx[i].header(), true
			}
		}
		if !some {
			continue
		}
		rows, err := tx.QueryContext(ctx, `SELECT bucket, data FROM `+earlyIndex+` WHERE bucket >= ? AND bucket < ? ORDER BY bucket, seq`, lo, lo+step)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n int
			var data []byte
			if err := rows.Scan(&n, &data); err != nil {
				rows.Close()
				return err
			}
			if n < lo || n >= lo+step || out[n-lo] == nil {
				rows.Close()
				return fmt.Errorf("state index entries of bucket %d, which has no entries counted", n)
			}
			out[n-lo] = append(out[n-lo], data...)
		}
		if err := closeRows(rows); err != nil {
			return err
		}
		var args []any
		for i, b := range out {
			if b == nil {
				continue
			}
			b = binary.AppendUvarint(b, 0) // the membership runs: none
			args = append(args, tenant, lo+i, b)
		}
		q := `INSERT INTO state_index (tenant, bucket, data) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(args)/3), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}
