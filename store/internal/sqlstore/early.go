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
	undo bytes.Buffer             // gzip of the undo keys, as encodeImagesWith writes them
	uz   *gzip.Writer
	uw   *bufio.Writer

	once     sync.Once
	finished bool // the channel is closed and the goroutine done
	used     bool // an apply took the transaction over
}

// earlyBucket is one membership bucket's entries, encoded as writeInserts encodes them: runs of
// one group's memberships (the group's key, how many, then each member), in copy order.
type earlyBucket struct {
	data     []byte
	members  int
	runs     int
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

// encode is the whole bucket (after closeRun).
func (b *earlyBucket) encode() []byte {
	out := make([]byte, 0, len(b.data)+16)
	out = append(out, indexFormat)
	out = binary.AppendUvarint(out, 0)
	out = binary.AppendUvarint(out, uint64(b.members))
	out = binary.AppendUvarint(out, uint64(b.runs))
	return append(out, b.data...)
}

const (
	earlyBatch = 1024
	earlyDepth = 8
)

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
	e.err = copyRows(ctx, e.tx, "memberships", earlyCols, func() ([]any, bool) {
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
		e.idx[hashOf(m.Group)].add(m)
		str(m.Group)
		str(m.Member)
		str(m.Role)
		e.uw.WriteByte(0) // no row before
		return []any{e.tenant, m.Group, m.Member, m.Role, MemberType(m.MemberType), JSON(m.Attrs), m.Hash[:]}, true
	})
	for range e.ch { // a failed copy still lets the diff hand over the rest
	}
	for i := range e.idx {
		e.idx[i].closeRun()
	}
	if err := e.uw.Flush(); err != nil && e.err == nil {
		e.err = err
	}
	if err := e.uz.Close(); err != nil && e.err == nil {
		e.err = err
	}
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

// writeEarlyBuckets stores the membership buckets of early inserts (the tenant had none).
func (c *Core) writeEarlyBuckets(ctx context.Context, tx *sql.Tx, tenant string, e *early) error {
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		q := `INSERT INTO state_index (tenant, bucket, data) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(batch)/3), ", ")
		_, err := tx.ExecContext(ctx, c.Q(q), batch...)
		batch = batch[:0]
		return err
	}
	for i := range e.idx {
		b := &e.idx[i]
		if b.members == 0 {
			continue
		}
		batch = append(batch, tenant, hashBuckets+i, b.encode())
		b.data = nil
		if len(batch) == 3*64 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
