package sqlstore

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// A run is stored as its JSON (the --json contract) plus the columns queries filter on.

func (c *Core) runArgs(run *runs.Run) (data string, err error) {
	b, err := json.Marshal(run)
	return string(b), err
}

// CreateRun implements store.Store.
func (c *Core) CreateRun(ctx context.Context, run *runs.Run) error {
	return c.createRun(ctx, c.db, run)
}

func (c *Core) createRun(ctx context.Context, q querier, run *runs.Run) error {
	data, err := c.runArgs(run)
	if err != nil {
		return err
	}
	var id int64
	err = q.QueryRowContext(ctx, c.Q(`INSERT INTO runs (tenant, status, started_at, data) VALUES (?, ?, ?, ?) RETURNING id`),
		run.Tenant, string(run.Status), c.d.Time(Micro(run.StartedAt)), data).Scan(&id)
	if err != nil {
		return fmt.Errorf("create run of tenant %q: %w", run.Tenant, err)
	}
	run.ID = id
	return nil
}

func (c *Core) saveRun(ctx context.Context, q querier, run *runs.Run) error {
	data, err := c.runArgs(run)
	if err != nil {
		return err
	}
	res, err := q.ExecContext(ctx, c.Q(`UPDATE runs SET tenant = ?, status = ?, started_at = ?, data = ? WHERE id = ?`),
		run.Tenant, string(run.Status), c.d.Time(Micro(run.StartedAt)), data, run.ID)
	if err != nil {
		return fmt.Errorf("save run %d: %w", run.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("run %d: %w", run.ID, store.ErrNotFound)
	}
	if run.PlanSHA256 != "" && run.Status != runs.Held { // a decided hold: its page's rows go
		return c.dropHeld(ctx, q, run.ID)
	}
	return nil
}

// SaveRun implements store.Store.
func (c *Core) SaveRun(ctx context.Context, run *runs.Run) error { return c.saveRun(ctx, c.db, run) }

// HoldRun implements store.Store. It fills in run.PlanSHA256 when it is empty.
func (c *Core) HoldRun(ctx context.Context, run *runs.Run, plan store.HeldPlan, idx *store.HeldIndex) error {
	return c.inConnTx(ctx, func(conn *sql.Conn, tx *sql.Tx) error { return c.holdRun(ctx, conn, tx, run, plan, idx) })
}

// holdRun saves a held run and its plan (and the plan's rows for its page) within tx: the plan
// as run_plan_parts, one compressed part per piece it comes in.
func (c *Core) holdRun(ctx context.Context, conn *sql.Conn, tx *sql.Tx, run *runs.Run, plan store.HeldPlan, idx *store.HeldIndex) error {
	if err := c.saveRun(ctx, tx, run); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM run_plans WHERE run_id = ?`, `DELETE FROM run_plan_parts WHERE run_id = ?`} {
		if _, err := tx.ExecContext(ctx, c.Q(q), run.ID); err != nil {
			return fmt.Errorf("store plan of run %d: %w", run.ID, err)
		}
	}
	sum := sha256.New()
	var zbuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zbuf, gzip.BestSpeed)
	seq := 0
	put := func(piece []byte) error {
		sum.Write(piece)
		zbuf.Reset()
		zw.Reset(&zbuf)
		if _, err := zw.Write(piece); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, c.Q(`INSERT INTO run_plan_parts (run_id, seq, data) VALUES (?, ?, ?)`), run.ID, seq, zbuf.Bytes()); err != nil {
			return err
		}
		seq++
		return nil
	}
	err := plan(put)
	if err == nil && seq == 0 {
		err = put(nil) // an empty plan is a plan too
	}
	if err != nil {
		return fmt.Errorf("store plan of run %d: %w", run.ID, err)
	}
	if run.PlanSHA256 == "" {
		run.PlanSHA256 = hex.EncodeToString(sum.Sum(nil))
		if err := c.saveRun(ctx, tx, run); err != nil {
			return err
		}
	}
	if idx != nil {
		return c.writeHeld(ctx, conn, tx, run.ID, idx)
	}
	return c.dropHeld(ctx, tx, run.ID) // rows of another plan would mislead
}

// Plan implements store.Store: the parts of a plan held since migration 0025 one at a time,
// or the one value a plan held before it was kept as.
func (c *Core) Plan(ctx context.Context, runID int64) (io.ReadCloser, error) {
	var parts int
	if err := c.db.QueryRowContext(ctx, c.Q(`SELECT count(*) FROM run_plan_parts WHERE run_id = ?`), runID).Scan(&parts); err != nil {
		return nil, fmt.Errorf("plan of run %d: %w", runID, err)
	}
	if parts > 0 {
		return &planParts{ctx: ctx, c: c, run: runID, n: parts}, nil
	}
	var b []byte
	err := c.db.QueryRowContext(ctx, c.Q(`SELECT plan FROM run_plans WHERE run_id = ?`), runID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("plan of run %d: %w", runID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("plan of run %d: %w", runID, err)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// planParts reads a held plan's parts in order, one in memory at a time.
type planParts struct {
	ctx    context.Context
	c      *Core
	run    int64
	n, seq int
	zr     *gzip.Reader
}

func (p *planParts) Read(b []byte) (int, error) {
	for {
		if p.zr != nil {
			n, err := p.zr.Read(b)
			if err == io.EOF {
				p.zr, err = nil, nil
			}
			if n > 0 || err != nil {
				if err != nil {
					err = fmt.Errorf("stored plan of run %d, part %d: %w", p.run, p.seq-1, err)
				}
				return n, err
			}
			continue
		}
		if p.seq == p.n {
			return 0, io.EOF
		}
		var data []byte
		err := p.c.db.QueryRowContext(p.ctx, p.c.Q(`SELECT data FROM run_plan_parts WHERE run_id = ? AND seq = ?`), p.run, p.seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("stored plan of run %d: part %d of %d is missing", p.run, p.seq, p.n)
		}
		if err != nil {
			return 0, fmt.Errorf("stored plan of run %d, part %d: %w", p.run, p.seq, err)
		}
		p.seq++
		if p.zr, err = gzip.NewReader(bytes.NewReader(data)); err != nil {
			return 0, fmt.Errorf("stored plan of run %d, part %d: %w", p.run, p.seq-1, err)
		}
	}
}

func (p *planParts) Close() error { return nil }

func (c *Core) queryRuns(ctx context.Context, q querier, query string, args ...any) ([]*runs.Run, error) {
	rows, err := q.QueryContext(ctx, c.Q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*runs.Run
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, err
		}
		r := new(runs.Run)
		if err := json.Unmarshal(data, r); err != nil {
			return nil, fmt.Errorf("stored run %d: %w", id, err)
		}
		r.ID = id
		out = append(out, r)
	}
	return out, rows.Err()
}

// Run implements store.Store.
func (c *Core) Run(ctx context.Context, id int64) (*runs.Run, error) {
	rs, err := c.queryRuns(ctx, c.db, `SELECT id, data FROM runs WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", id, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("run %d: %w", id, store.ErrNotFound)
	}
	return rs[0], nil
}

// listQuery builds the filtered, newest-first run query.
func listQuery(tenant string, statuses []runs.Status, limit int) (string, []any) {
	var where []string
	var args []any
	if tenant != "" {
		where = append(where, "tenant = ?")
		args = append(args, tenant)
	}
	if len(statuses) > 0 {
		where = append(where, "status IN (?"+strings.Repeat(", ?", len(statuses)-1)+")")
		for _, s := range statuses {
			args = append(args, string(s))
		}
	}
	q := `SELECT id, data FROM runs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	return q, append(args, limit)
}

// ListRuns implements store.Store.
func (c *Core) ListRuns(ctx context.Context, p store.ListRunsParams) ([]*runs.Run, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	q, args := listQuery(p.Tenant, p.Status, limit)
	rs, err := c.queryRuns(ctx, c.db, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return rs, nil
}

// CountRuns implements store.RunCounter.
func (c *Core) CountRuns(ctx context.Context) ([]store.RunCount, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT tenant, status, COUNT(*) FROM runs GROUP BY tenant, status ORDER BY tenant, status`)
	if err != nil {
		return nil, fmt.Errorf("count runs: %w", err)
	}
	defer rows.Close()
	var out []store.RunCount
	for rows.Next() {
		var n store.RunCount
		var status string
		if err := rows.Scan(&n.Tenant, &status, &n.N); err != nil {
			return nil, fmt.Errorf("count runs: %w", err)
		}
		n.Status = runs.Status(status)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count runs: %w", err)
	}
	return out, nil
}

// LastRun implements store.Store.
func (c *Core) LastRun(ctx context.Context, tenant string, statuses ...runs.Status) (*runs.Run, error) {
	q, args := listQuery(tenant, statuses, 1)
	rs, err := c.queryRuns(ctx, c.db, q, args...)
	if err != nil {
		return nil, fmt.Errorf("last run of tenant %q: %w", tenant, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("last run of tenant %q: %w", tenant, store.ErrNotFound)
	}
	return rs[0], nil
}

// SupersedeHeld implements store.Store.
func (c *Core) SupersedeHeld(ctx context.Context, tenant string, newer int64, reason string) ([]*runs.Run, error) {
	var out []*runs.Run
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		rs, err := c.queryRuns(ctx, tx, `SELECT id, data FROM runs WHERE tenant = ? AND status = ? AND id < ? ORDER BY id`+c.d.ForUpdate,
			tenant, string(runs.Held), newer)
		if err != nil {
			return err
		}
		nr, err := c.queryRuns(ctx, tx, `SELECT id, data FROM runs WHERE id = ?`, newer)
		if err != nil {
			return err
		}
		rollover := len(nr) == 1 && nr[0].Mode == runs.ModeRollover
		kept := rs[:0]
		for _, r := range rs {
			if (r.Mode == runs.ModeRollover) != rollover {
				continue // a night and a rollover are different questions: both stay open
			}
			r.Status, r.Reason = runs.Superseded, reason
			if err := c.saveRun(ctx, tx, r); err != nil {
				return err
			}
			kept = append(kept, r)
		}
		out = kept
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("supersede held runs of tenant %q: %w", tenant, err)
	}
	return out, nil
}
