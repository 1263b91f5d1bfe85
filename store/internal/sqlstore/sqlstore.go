// Package sqlstore is the part of store.Store that PostgreSQL and SQLite share through
// database/sql: the Apply transaction frame, state loading, run records, trash, archive and
// status, plus the migrator. A Dialect supplies what differs: placeholders, time encoding,
// row locking and the writer that puts a plan's rows into the tables.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/store"
)

// Dialect is what one database needs done its own way.
type Dialect struct {
	// Dollar: placeholders are $1, $2, ... (PostgreSQL) instead of ?.
	Dollar bool
	// Regex: searches match with POSIX regular expressions (~, PostgreSQL) instead of GLOB.
	Regex bool
	// ForUpdate is appended to the statement reading a tenant's version inside a write
	// transaction (" FOR UPDATE" on PostgreSQL; SQLite's writers are serialised anyway).
	ForUpdate string
	// ReadTx are the options of LoadState's transaction: one consistent snapshot.
	ReadTx *sql.TxOptions
	// Time encodes a timestamp parameter.
	Time func(time.Time) any
	// WritePlan writes a validated, non-empty plan's rows inside tx.
	WritePlan func(ctx context.Context, tx *sql.Tx, w *Write) error
	// CopyRows, when set, fills table's columns with the rows next yields inside tx (PostgreSQL:
	// COPY); without it rows go in with multi-row INSERTs.
	CopyRows func(ctx context.Context, tx *sql.Tx, table string, cols []string, next func() ([]any, bool)) error
	// CopyText, when set, fills table's columns by COPY inside the transaction open on conn,
	// from text in COPY's format (textRow) that fill appends to its argument, a chunk at a
	// time, reporting whether more follows (PostgreSQL; early inserts' rows).
	CopyText func(ctx context.Context, conn *sql.Conn, table string, cols []string, fill func([]byte) ([]byte, bool)) error
}

// Write is one plan to write, with what its rows are stamped with.
type Write struct {
	Tenant string
	Plan   *change.Plan
	Now    any // encoded by Dialect.Time
	RunID  any // int64, or nil when Apply has no run record
	// Early: the plan's memberships are in their table already (ApplyParams.Early); the
	// writer leaves them out. Persons written early are not in Plan at all.
	Early bool
	// Progress is ApplyParams.Progress; WritePlan reports through Wrote.
	Progress func(done, total int)
	// Copy, when set, fills table's columns with the rows next yields inside the transaction
	// WritePlan is given, by COPY text on its connection (Core.copyRows).
	Copy func(table string, cols []string, next func() ([]any, bool)) error
	done int
}

// Wrote counts one change row written (or copied) and tells Progress every 1024 rows and at
// the last.
func (w *Write) Wrote() {
	if w.Progress == nil {
		return
	}
	w.done++
	total := w.Plan.Changes()
	if w.done%1024 == 0 || w.done == total {
		w.Progress(min(w.done, total), total)
	}
}

// Core implements every store.Store method except LockTenant and Close.
type Core struct {
	db *sql.DB
	d  Dialect
	// delayRest, when set, runs on a staged load's goroutine before its second stage reads
	// (DelayRest).
	delayRest atomic.Pointer[func(context.Context)]
}

// DelayRest makes every later staged load (LoadStateStaged) call f, on the goroutine of its
// second stage, before that reads the groups and memberships; f is given the load's context.
// nil ends it. For tests: f holds the window in which the reader runs ahead of the load.
func (c *Core) DelayRest(f func(context.Context)) {
	if f == nil {
		c.delayRest.Store(nil)
		return
	}
	c.delayRest.Store(&f)
}

// Close implements store.Store.
func (c *Core) Close() error { return c.db.Close() }

// New returns a Core over an open, migrated database.
func New(db *sql.DB, d Dialect) *Core { return &Core{db: db, d: d} }

// Q rewrites ? placeholders for the dialect. Our SQL never has ? inside literals.
func (c *Core) Q(s string) string { return Rebind(c.d.Dollar, s) }

// Rebind turns ? placeholders into $1, $2, ... when dollar is set.
func Rebind(dollar bool, s string) string {
	if !dollar || !strings.Contains(s, "?") {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Micro rounds a time to what both databases store (microseconds, UTC).
func Micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// SQLiteTime is the fixed-width UTC text SQLite stores times as, so that they sort as text.
const SQLiteTime = "2006-01-02T15:04:05.000000Z"

// Time scans a timestamp column stored either as a timestamp or as SQLiteTime text.
type Time struct {
	T     time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = Time{}
	case time.Time:
		*t = Time{T: v.UTC(), Valid: true}
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("cannot read %T as a time", src)
	}
	return nil
}

func (t *Time) parse(s string) error {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("stored time %q: %w", s, err)
	}
	*t = Time{T: v.UTC(), Valid: true}
	return nil
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs f in a transaction, committing when f returns nil and ctx is not done. The
// transaction is not bound to ctx: database/sql would roll a cancelled one back from a
// goroutine of its own while lib/pq's COPY may still read the connection (a data race). f's
// statements get ctx (a cancelled one stops them), and a cancelled ctx rolls the transaction
// back here, on the goroutine that owns it, with an error that is ctx's.
func (c *Core) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	return c.inConnTx(ctx, func(_ *sql.Conn, tx *sql.Tx) error { return f(tx) })
}

// inConnTx is inTx with the connection the transaction runs on, a connection of its own, given
// to f too: COPY text goes to the driver on it (copyRows).
func (c *Core) inConnTx(ctx context.Context, f func(conn *sql.Conn, tx *sql.Tx) error) error {
	conn, err := c.db.Conn(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	defer conn.Close() // back to the pool once the transaction has ended
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	err = f(conn, tx)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		if err == nil {
			err = cerr
		} else {
			err = fmt.Errorf("%w (%v)", cerr, err) // PostgreSQL's "canceling statement due to user request"
		}
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// lockTenant makes sure the tenant has a row, locks it for the transaction (PostgreSQL) and
// returns its state version. Every write transaction starts here, so they serialise per tenant.
func (c *Core) lockTenant(ctx context.Context, tx *sql.Tx, tenant string) (int64, error) {
	if _, err := tx.ExecContext(ctx, c.Q(`INSERT INTO tenants (id) VALUES (?) ON CONFLICT (id) DO NOTHING`), tenant); err != nil {
		return 0, err
	}
	var v int64
	err := tx.QueryRowContext(ctx, c.Q(`SELECT state_version FROM tenants WHERE id = ?`+c.d.ForUpdate), tenant).Scan(&v)
	return v, err
}

func (c *Core) setVersion(ctx context.Context, tx *sql.Tx, tenant string, v int64) error {
	_, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET state_version = ? WHERE id = ?`), v, tenant)
	return err
}

// Apply implements store.Store.
func (c *Core) Apply(ctx context.Context, p store.ApplyParams) error {
	plan := p.Plan
	if plan == nil {
		return errors.New("apply: no plan")
	}
	tenant := plan.Tenant
	if tenant == "" {
		return errors.New("apply: the plan names no tenant")
	}
	if p.Hold != nil && p.Run == nil {
		return errors.New("apply: a plan to hold needs its run")
	}
	if p.Run != nil && p.Run.Tenant != "" && p.Run.Tenant != tenant {
		return fmt.Errorf("apply: plan of tenant %q given with run %d of tenant %q", tenant, p.Run.ID, p.Run.Tenant)
	}
	if p.Pieces != nil {
		return c.applyPieces(ctx, p)
	}
	if err := Validate(plan); err != nil {
		return fmt.Errorf("apply plan of tenant %q: %w", tenant, err)
	}
	var oldBefore, oldAfter int64
	if p.Run != nil {
		oldBefore, oldAfter = p.Run.VersionBefore, p.Run.VersionAfter
	}
	early, err := earlyOf(p.Early, plan)
	if err != nil {
		if early != nil {
			early.Abort()
		}
		return fmt.Errorf("apply plan of tenant %q (nothing was changed): %w", tenant, err)
	}
	apply := func(conn *sql.Conn, tx *sql.Tx) error {
		v, err := c.lockTenant(ctx, tx, tenant)
		if err != nil {
			return err
		}
		if v != plan.BaseVersion {
			return fmt.Errorf("tenant %q: plan made against state version %d, the store is at %d: %w", tenant, plan.BaseVersion, v, store.ErrStateChanged)
		}
		after := v
		// A rollover with no course to archive still changes the school year: a change set
		// of its own, so that undo gives the year back.
		if !plan.Empty() || plan.SchoolYear != "" {
			w := &Write{Tenant: tenant, Plan: plan, Now: c.d.Time(Micro(p.Now)), Progress: p.Progress, Early: p.Early != nil, Copy: c.copyOn(ctx, conn, tx)}
			if early.wrotePersons() {
				rest := *plan // the persons are in their table already
				rest.Persons = nil
				w.Plan = &rest
			}
			if p.Run != nil && p.Run.ID != 0 {
				w.RunID = p.Run.ID
			}
			if p.Run != nil && p.Run.ID != 0 && !p.NoUndo {
				if err := c.keepImages(ctx, tx, tenant, plan, p.Run.ID, v, p.Now, early); err != nil {
					return err
				}
			}
			if !plan.Empty() {
				if err := c.d.WritePlan(ctx, tx, w); err != nil {
					return err
				}
			}
			if early != nil {
				err = c.indexEarly(ctx, tx, tenant, plan, v, early)
			} else {
				err = c.indexApply(ctx, tx, tenant, plan, v, true)
			}
			if err != nil {
				return err
			}
			after++
			if err := c.setVersion(ctx, tx, tenant, after); err != nil {
				return err
			}
		}
		if plan.SchoolYear != "" { // an approved rollover
			if _, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET school_year = ? WHERE id = ?`), plan.SchoolYear, tenant); err != nil {
				return err
			}
		}
		if p.Run != nil {
			p.Run.VersionBefore, p.Run.VersionAfter = v, after
			if p.Hold != nil {
				return c.holdRun(ctx, conn, tx, p.Run, p.Hold, p.HoldIndex)
			}
			return c.saveRun(ctx, tx, p.Run)
		}
		return nil
	}
	if early != nil {
		err = c.applyEarly(ctx, early, apply)
	} else {
		err = c.inConnTx(ctx, apply)
	}
	return applyFailed(p, tenant, oldBefore, oldAfter, err)
}

// applyFailed is an apply's end: nil when err is, else the run's versions as they were before
// (its transaction rolled back) and err, said to have changed nothing.
func applyFailed(p store.ApplyParams, tenant string, oldBefore, oldAfter int64, err error) error {
	if err == nil {
		return nil
	}
	if p.Run != nil {
		p.Run.VersionBefore, p.Run.VersionAfter = oldBefore, oldAfter
	}
	if errors.Is(err, store.ErrStateChanged) || errors.Is(err, store.ErrNotFound) {
		return err
	}
	return fmt.Errorf("apply plan of tenant %q (nothing was changed): %w", tenant, err)
}

// Validate checks that every change's op fits its type and that keys are present, so a bad
// plan is refused before anything is written.
func Validate(p *change.Plan) error {
	for _, x := range p.Persons {
		switch x.Op {
		case change.Insert, change.Update, change.Restore, change.Delete:
		default:
			return fmt.Errorf("person %q: %s is not a person change", x.Person.Key, x.Op)
		}
		if x.Person.Key == "" {
			return fmt.Errorf("a person %s without a key", x.Op)
		}
	}
	for _, x := range p.Groups {
		switch x.Op {
		case change.Insert, change.Update, change.Delete, change.Archive:
		default:
			return fmt.Errorf("group %q: %s is not a group change", x.Group.Key, x.Op)
		}
		if x.Group.Key == "" {
			return fmt.Errorf("a group %s without a key", x.Op)
		}
	}
	for _, x := range p.Memberships {
		switch x.Op {
		case change.Insert, change.Update, change.Delete, change.Manualize:
		default:
			return fmt.Errorf("membership %s: %s is not a membership change", x.Membership.MembershipKey, x.Op)
		}
	}
	for _, x := range p.Relations {
		switch x.Op {
		case change.Insert, change.Update, change.Delete:
		default:
			return fmt.Errorf("relation %s: %s is not a relation change", x.Relation.RelationKey, x.Op)
		}
		if k := x.Relation.RelationKey; k.Person == "" || k.Related == "" || k.Type == "" {
			return fmt.Errorf("relation %s: %s without a person, a related person or a type", k, x.Op)
		}
	}
	return nil
}
