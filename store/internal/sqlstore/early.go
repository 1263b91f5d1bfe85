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
	"sync"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// early implements store.EarlyInserts: an initial load's memberships copied into their table
// (Dialect.CopyRows) by a goroutine of its own while the file is still being read, in the
// transaction the apply then continues and commits. The diff hands the records over in
// batches through a bounded channel; the table's index upkeep, most of an initial load's
// apply, then runs in the server beside the reader.
//
// The plan does not keep the memberships (change.Plan.Early): what the apply needs of them is
// kept here, compact, as they are copied: their state index entries, encoded into their
// buckets, and their undo keys ("no row before"), compressed.
type early struct {
	tx     *sql.Tx
	tenant string
	batch  []*record.Membership
	ch     chan []*record.Membership
	done   chan struct{}

	// Written by the copying goroutine, read once done is closed.
	err  error
	n    int
	idx  [hashBuckets]earlyBucket // the membership buckets' entries (bucket hashBuckets+i)
	held int                      // bytes of entries in idx not yet sent to the server
	seq  int                      // how many times they were sent
	useq int                      // how many undo parts were sent
	undo bytes.Buffer             // gzip of undo keys not yet sent (as encodeImagesWith writes them)
	uz   *gzip.Writer
	uw   *bufio.Writer

	once     sync.Once
	finished bool // the channel is closed and the goroutine done
	used     bool // an apply took the transaction over
}

// earlyBucket is one membership bucket's entries, encoded as writeInserts encodes them: runs of
// one group's memberships (the group's key, how many, then each member), in copy order. The
// entries go to the server in parts (earlyIndex), so few are held here at a time; a group's
// memberships may then come in several runs, which decoding does not mind.
type earlyBucket struct {
	data     []byte // the entries not yet sent
	members  int    // all of them, sent or not
	runs     int    // likewise
	group    string // the group of the open run
	runStart int    // where the open run's entries start in data
	runLen   int    // how many entries the open run has (0: none open)
}

func (b *earlyBucket) add(m *record.Membership) {
	if b.runLen == 0 || b.group != m.Group {
		b.closeRun()
		b.data = appendString(b.data, m.Group)
		b.group, b.runStart = m.Group, len(b.data)
		b.runs++
	}
	b.data = appendString(b.data, m.Member)
	b.data = appendString(b.data, m.Role)
	b.data = append(b.data, m.Hash[:]...)
	var f byte
	if MemberType(m.MemberType) == 2 {
		f |= flagMemberGroup
	}
	b.data = append(b.data, f)
	b.members++
	b.runLen++
}

// closeRun puts the open run's length before its entries.
func (b *earlyBucket) closeRun() {
	if b.runLen == 0 {
		return
	}
	var v [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(v[:], uint64(b.runLen))
	end := len(b.data)
	b.data = append(b.data, v[:n]...)
	copy(b.data[b.runStart+n:], b.data[b.runStart:end])
	copy(b.data[b.runStart:], v[:n])
	b.runLen = 0
}

// header is what a bucket's entries follow: its format and counts.
func (b *earlyBucket) header() []byte {
	out := []byte{indexFormat}
	out = binary.AppendUvarint(out, 0)
	out = binary.AppendUvarint(out, uint64(b.members))
	return binary.AppendUvarint(out, uint64(b.runs))
}

const (
	earlyBatch = 1024
	earlyDepth = 8
)

// earlyIndexHeld is how many bytes of state index entries the copy holds before it sends them
// to the server (about 130,000 memberships' worth): the index of an initial load is about 32
// bytes a membership, and would otherwise grow with the tenant.
var earlyIndexHeld = 4 << 20

// SetEarlyIndexHeld sets earlyIndexHeld until the returned function puts it back: a test's
// small tenant then sends its index entries in several parts. For tests only.
func SetEarlyIndexHeld(n int) func() {
	old := earlyIndexHeld
	earlyIndexHeld = n
	return func() { earlyIndexHeld = old }
}

// earlyIndex is the temporary table the membership buckets' parts wait in until the apply
// puts each bucket together (header first, then its parts in order); earlyUndo likewise for
// the undo keys (gzip streams, put in the before-images' gap by saveImages).
const (
	earlyIndex = "imsfeed_early_index"
	earlyUndo  = "imsfeed_early_undo"
)

var earlyIndexCols = []string{"bucket", "seq", "data"}

var earlyCols = []string{"tenant", "group_key", "member_key", "role", "member_type", "attrs", "hash"}

// EarlyInserts implements store.EarlyWriter where the dialect can COPY (PostgreSQL).
func (c *Core) EarlyInserts(ctx context.Context, tenant string, version int64) (store.EarlyInserts, error) {
	if c.d.CopyRows == nil {
		return nil, nil
	}
	// Not bound to ctx: database/sql would roll a cancelled transaction back from a goroutine of
	// its own while lib/pq's COPY reads the same connection from another (a data race on the
	// connection). A cancelled ctx still ends the copy (its ExecContext fails), and Abort or
	// applyEarly then roll back on the goroutine that owns the transaction.
	tx, err := c.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return nil, err
	}
	v, err := c.lockTenant(ctx, tx, tenant)
	if err != nil || v != version {
		_ = tx.Rollback()
		return nil, err
	}
	var any bool
	if err := tx.QueryRowContext(ctx, c.Q(`SELECT EXISTS (SELECT 1 FROM memberships WHERE tenant = ?)`), tenant).Scan(&any); err != nil || any {
		_ = tx.Rollback()
		return nil, err
	}
	for _, create := range []string{
		`CREATE TEMP TABLE ` + earlyIndex + ` (bucket integer, seq integer, data bytea) ON COMMIT DROP`,
		`CREATE TEMP TABLE ` + earlyUndo + ` (seq integer, data bytea) ON COMMIT DROP`,
	} {
		if _, err := tx.ExecContext(ctx, create); err != nil {
			_ = tx.Rollback()
			return nil, err
		}
	}
	e := &early{tx: tx, tenant: tenant, ch: make(chan []*record.Membership, earlyDepth), done: make(chan struct{}),
		batch: make([]*record.Membership, 0, earlyBatch)}
	e.uz, _ = gzip.NewWriterLevel(&e.undo, gzip.BestSpeed)
	e.uw = bufio.NewWriter(e.uz)
	go e.copy(ctx, c.d.CopyRows)
	return e, nil
}

func (e *early) copy(ctx context.Context, copyRows func(context.Context, *sql.Tx, string, []string, func() ([]any, bool)) error) {
	defer close(e.done)
	var cur []*record.Membership
	i := 0
	var tmp [binary.MaxVarintLen64]byte
	str := func(s string) {
		e.uw.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(s)))])
		e.uw.WriteString(s)
	}
	// One COPY until earlyIndexHeld bytes of index entries wait, then those go to the
	// server (a connection runs one COPY at a time), then the next COPY.
	for more := true; more && e.err == nil; {
		more = false
		e.err = copyRows(ctx, e.tx, "memberships", earlyCols, func() ([]any, bool) {
			if e.held >= earlyIndexHeld {
				more = true
				return nil, false
			}
			for i >= len(cur) {
				b, ok := <-e.ch
				if !ok {
					return nil, false
				}
				cur, i = b, 0
			}
			m := cur[i]
			cur[i] = nil
			i++
			e.n++
			b := &e.idx[change.MemberBucket(m.Group)]
			n := len(b.data)
			b.add(m)
			e.held += len(b.data) - n
			str(m.Group)
			str(m.Member)
			str(m.Role)
			e.uw.WriteByte(0) // no row before
			return []any{e.tenant, m.Group, m.Member, m.Role, MemberType(m.MemberType), JSON(m.Attrs), m.Hash[:]}, true
		})
		if e.err == nil {
			e.err = e.sendIndex(ctx, copyRows)
		}
		if e.err == nil {
			e.err = e.sendUndo(ctx, copyRows)
		}
	}
	for range e.ch { // a failed copy still lets the diff hand over the rest
	}
}

// sendUndo ends the gzip stream of the undo keys written since the last one, copies it into
// earlyUndo and starts the next.
func (e *early) sendUndo(ctx context.Context, copyRows func(context.Context, *sql.Tx, string, []string, func() ([]any, bool)) error) error {
	if err := e.uw.Flush(); err != nil {
		return err
	}
	if err := e.uz.Close(); err != nil {
		return err
	}
	e.useq++
	sent := false
	err := copyRows(ctx, e.tx, earlyUndo, []string{"seq", "data"}, func() ([]any, bool) {
		if sent {
			return nil, false
		}
		sent = true
		return []any{e.useq, e.undo.Bytes()}, true
	})
	e.undo = bytes.Buffer{}
	e.uz.Reset(&e.undo)
	e.uw.Reset(e.uz)
	return err
}

// sendIndex copies the index entries held into earlyIndex, one row a bucket, and lets them go.
func (e *early) sendIndex(ctx context.Context, copyRows func(context.Context, *sql.Tx, string, []string, func() ([]any, bool)) error) error {
	if e.held == 0 {
		return nil
	}
	e.seq++
	i := 0
	err := copyRows(ctx, e.tx, earlyIndex, earlyIndexCols, func() ([]any, bool) {
		for ; i < len(e.idx); i++ {
			b := &e.idx[i]
			if len(b.data) == 0 {
				continue
			}
			b.closeRun()
			row := []any{hashBuckets + i, e.seq, b.data}
			b.data = nil // the driver may keep the row until the COPY ends
			i++
			return row, true
		}
		return nil, false
	})
	e.held = 0
	return err
}

func (e *early) Membership(m *record.Membership) {
	if e.finished {
		return
	}
	e.batch = append(e.batch, m)
	if len(e.batch) == earlyBatch {
		e.ch <- e.batch
		e.batch = make([]*record.Membership, 0, earlyBatch)
	}
}

// finish hands over the last batch and waits for the copy to end.
func (e *early) finish() error {
	if !e.finished {
		e.finished = true
		if len(e.batch) > 0 {
			e.ch <- e.batch
		}
		e.batch = nil
		close(e.ch)
		<-e.done
	}
	return e.err
}

func (e *early) Done() (int, error) {
	if err := e.finish(); err != nil {
		return 0, err
	}
	if e.used {
		return 0, errors.New("early inserts already applied")
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
	})
}

// take hands the transaction to an apply; it must not be aborted any more (the apply ends it).
func (e *early) take() (*sql.Tx, error) {
	e.used = true
	return e.tx, e.finish()
}

// earlyOf is the store's own early inserts, checked against the plan they come with.
func earlyOf(ei store.EarlyInserts, p *change.Plan) (*early, error) {
	if ei == nil {
		if p.Early > 0 {
			return nil, fmt.Errorf("the plan counts %d memberships written while the file was read, and none were given", p.Early)
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
	if n := len(p.Memberships) + p.Early; e.n != n {
		return e, fmt.Errorf("%d memberships were written while the file was read, the plan has %d", e.n, n)
	}
	for i := range p.Memberships {
		if p.Memberships[i].Op != change.Insert {
			return e, fmt.Errorf("a plan with memberships written early %ss membership %s", p.Memberships[i].Op, p.Memberships[i].Membership.MembershipKey)
		}
	}
	return e, nil
}

// applyEarly runs an apply in the transaction of early inserts and commits it.
func (c *Core) applyEarly(ctx context.Context, e *early, apply func(*sql.Tx) error) error {
	tx, err := e.take()
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := apply(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := ctx.Err(); err != nil { // as a transaction bound to ctx would refuse to commit
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// writeEarlyBuckets stores the membership buckets of early inserts (the tenant had none): each
// bucket's header, then its parts in the order they were sent, put together by the server.
func (c *Core) writeEarlyBuckets(ctx context.Context, tx *sql.Tx, tenant string, e *early) error {
	i := 0
	err := c.d.CopyRows(ctx, tx, earlyIndex, earlyIndexCols, func() ([]any, bool) {
		for ; i < len(e.idx); i++ {
			if b := &e.idx[i]; b.members > 0 {
				i++
				return []any{hashBuckets + i - 1, 0, b.header()}, true
			}
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
