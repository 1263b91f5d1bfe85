package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"hash/maphash"
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
type early struct {
	tx     *sql.Tx
	tenant string
	batch  []*record.Membership
	ch     chan []*record.Membership
	done   chan struct{}
	seed   maphash.Seed

	// Written by the copying goroutine, read once done is closed.
	err error
	n   int
	sum uint64

	once     sync.Once
	finished bool // the channel is closed and the goroutine done
	used     bool // an apply took the transaction over
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
		seed: maphash.MakeSeed(), batch: make([]*record.Membership, 0, earlyBatch)}
	go e.copy(ctx, c.d.CopyRows)
	return e, nil
}

func (e *early) copy(ctx context.Context, copyRows func(context.Context, *sql.Tx, string, []string, func() ([]any, bool)) error) {
	defer close(e.done)
	var cur []*record.Membership
	i := 0
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
		e.sum = e.mix(e.sum, m)
		return []any{e.tenant, m.Group, m.Member, m.Role, MemberType(m.MemberType), JSON(m.Attrs), m.Hash[:]}, true
	})
	for range e.ch { // a failed copy still lets the diff hand over the rest
	}
}

// mix adds a membership to an order-sensitive checksum of what was written.
func (e *early) mix(sum uint64, m *record.Membership) uint64 {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.WriteString(m.Group)
	h.WriteByte(0)
	h.WriteString(m.Member)
	h.WriteByte(0)
	h.WriteString(m.Role)
	h.Write(m.Hash[:])
	h.WriteByte(byte(MemberType(m.MemberType)))
	return sum*0x100000001b3 ^ h.Sum64()
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

func (e *early) Matches(p *change.Plan) bool {
	if e.finish() != nil || e.used || len(p.Memberships) != e.n || e.n == 0 {
		return false
	}
	var sum uint64
	for i := range p.Memberships {
		x := &p.Memberships[i]
		if x.Op != change.Insert {
			return false
		}
		sum = e.mix(sum, &x.Membership)
	}
	return sum == e.sum
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

// applyEarly runs an apply in the transaction of early inserts and commits it.
func (c *Core) applyEarly(ctx context.Context, ei store.EarlyInserts, apply func(*sql.Tx) error) error {
	e, ok := ei.(*early)
	if !ok {
		return errors.New("early inserts of another store")
	}
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
