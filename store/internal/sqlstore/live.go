package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// The live channel's part of the store (store.Live): small reads by key and the request log.

var _ store.Live = (*Core)(nil)

// in runs query once per chunk of args, with "(VALUES (?, ?), …)" in place of IN_LIST, each
// row the tenant and one of args: the query says "(tenant, col) IN IN_LIST". Not "tenant = ?
// AND col IN (…)": PostgreSQL plans that by how many rows its statistics give the tenant, and
// for a tenant they do not know yet (loaded since the last ANALYZE, among other tenants) that is
// one row, so it read all of the tenant's rows and filtered them (a person's memberships:
// 42.8 ms for a tenant of 78,360 memberships, growing with the tenant; 0.49 ms by the index).
func in(ctx context.Context, c *Core, q querier, query string, tenant string, args []string, each func(*sql.Rows) error) error {
	const chunk = 400
	for len(args) > 0 {
		n := min(len(args), chunk)
		part := args[:n]
		args = args[n:]
		list := inList(n)
		all := make([]any, 0, 2*n)
		for _, v := range part {
			all = append(all, tenant, v)
		}
		rows, err := q.QueryContext(ctx, c.Q(strings.ReplaceAll(query, "IN_LIST", list)), all...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := each(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := closeRows(rows); err != nil {
			return err
		}
	}
	return nil
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func jsonCol[T any](b []byte, into *T) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, into)
}

// The live channel's read of persons by a list of keys (in); the memberships' are the seam's
// (liveMemberships).
const livePersons = `SELECT key, source, name, attrs, hash, status, trashed_at FROM persons WHERE (tenant, key) IN IN_LIST`

// inList is in's list of n (tenant, value) rows.
func inList(n int) string {
	return "(VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ") + ")"
}

// LiveLoad implements store.Live.
func (c *Core) LiveLoad(ctx context.Context, tenant string, q store.LiveQuery) (*store.LiveObjects, error) {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return nil, fmt.Errorf("live read of tenant %q: %w", tenant, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	o := &store.LiveObjects{
		Persons:     map[string]store.StoredPerson{},
		Groups:      map[string]store.StoredGroup{},
		Memberships: map[record.MembershipKey]store.StoredMembership{},
		IDs:         map[string][]record.MembershipKey{},
	}
	if err := c.liveLoad(ctx, tx, tenant, q, o); err != nil {
		return nil, fmt.Errorf("live read of tenant %q: %w", tenant, err)
	}
	return o, nil
}

func (c *Core) liveLoad(ctx context.Context, tx *sql.Tx, tenant string, q store.LiveQuery, o *store.LiveObjects) error {
	var year sql.NullString
	err := tx.QueryRowContext(ctx, c.Q(`SELECT state_version, school_year FROM tenants WHERE id = ?`), tenant).Scan(&o.Version, &year)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	o.SchoolYear = year.String
	err = in(ctx, c, tx, livePersons, tenant, q.Persons, func(r *sql.Rows) error {
		var p store.StoredPerson
		var attrs, hash []byte
		var status string
		var at Time
		if err := r.Scan(&p.Key, &p.Source, &p.Name, &attrs, &hash, &status, &at); err != nil {
			return err
		}
		copy(p.Hash[:], hash)
		p.Trashed, p.TrashedAt = status == "trashed", at.T
		if err := jsonCol(attrs, &p.Attrs); err != nil {
			return fmt.Errorf("person %q: stored attributes: %w", p.Key, err)
		}
		o.Persons[p.Key] = p
		return nil
	})
	if err != nil {
		return err
	}
	scanG := func(r *sql.Rows) (store.StoredGroup, error) {
		var g store.StoredGroup
		var types, parents, attrs, hash []byte
		var status string
		if err := r.Scan(&g.Key, &g.Source, &g.Name, &types, &parents, &attrs, &hash, &status, &g.Course, &g.Template); err != nil {
			return g, err
		}
		copy(g.Hash[:], hash)
		g.Archived = status == "archived"
		if err := errors.Join(jsonCol(types, &g.Types), jsonCol(parents, &g.Parents), jsonCol(attrs, &g.Attrs)); err != nil {
			return g, fmt.Errorf("group %q: stored fields: %w", g.Key, err)
		}
		return g, nil
	}
	const gsel = `SELECT key, source, name, types, parents, attrs, hash, status, is_course, template FROM groups WHERE `
	err = in(ctx, c, tx, gsel+`(tenant, key) IN IN_LIST`, tenant, q.Groups, func(r *sql.Rows) error {
		g, err := scanG(r)
		if err != nil {
			return err
		}
		o.Groups[g.Key] = g
		return nil
	})
	if err != nil {
		return err
	}
	// The children of a group: a LIKE on the parents' JSON text finds the candidates (every
	// group with parents when the key is spelt differently in JSON), the decoded parents decide.
	for _, k := range q.ChildrenOf {
		pattern := "%"
		if plainJSON(k) {
			pattern = "%" + likeEscaper.Replace(`"`+k+`"`) + "%"
		}
		rows, err := tx.QueryContext(ctx, c.Q(gsel+`tenant = ? AND CAST(parents AS TEXT) LIKE ? ESCAPE '!'`), tenant, pattern)
		if err != nil {
			return err
		}
		for rows.Next() {
			g, err := scanG(rows)
			if err != nil {
				rows.Close()
				return err
			}
			for _, p := range g.Parents {
				if p == k {
					o.Groups[g.Key] = g
					break
				}
			}
		}
		if err := closeRows(rows); err != nil {
			return err
		}
	}
	var keys []record.MembershipKey
	if len(q.MembershipIDs) > 0 {
		err = in(ctx, c, tx, `SELECT id, group_key, member_key, role FROM live_membership_ids WHERE (tenant, id) IN IN_LIST`, tenant, q.MembershipIDs, func(r *sql.Rows) error {
			var id string
			var k record.MembershipKey
			if err := r.Scan(&id, &k.Group, &k.Member, &k.Role); err != nil {
				return err
			}
			o.IDs[id] = append(o.IDs[id], k)
			keys = append(keys, k)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if q.WithIDs {
		scanID := func(r *sql.Rows) error {
			var id string
			var k record.MembershipKey
			if err := r.Scan(&id, &k.Group, &k.Member, &k.Role); err != nil {
				return err
			}
			o.IDs[id] = append(o.IDs[id], k)
			return nil
		}
		const idCols = `SELECT id, group_key, member_key, role FROM live_membership_ids WHERE `
		if err := in(ctx, c, tx, idCols+`(tenant, member_key) IN IN_LIST`, tenant, q.MembershipsOfPersons, scanID); err != nil {
			return err
		}
		if err := in(ctx, c, tx, idCols+`(tenant, group_key) IN IN_LIST`, tenant, q.MembershipsOfGroups, scanID); err != nil {
			return err
		}
	}
	pairs := q.MembershipsOfPairs
	for _, k := range keys {
		pairs = append(pairs, [2]string{k.Group, k.Member})
	}
	return c.liveMemberships(ctx, tx, tenant, q.MembershipsOfPersons, q.MembershipsOfGroups, pairs, func(m store.StoredMembership) {
		o.Memberships[m.MembershipKey] = m
	})
}

// LiveApply implements store.Live.
func (c *Core) LiveApply(ctx context.Context, p store.LiveApplyParams) error {
	e := p.Entry
	if e == nil || e.Tenant == "" {
		return errors.New("live apply: no log entry")
	}
	plan := p.Plan
	if plan != nil && plan.Empty() {
		plan = nil
	}
	if plan != nil {
		if plan.Tenant != e.Tenant {
			return fmt.Errorf("live apply: plan of tenant %q with an entry of tenant %q", plan.Tenant, e.Tenant)
		}
		if err := Validate(plan); err != nil {
			return fmt.Errorf("live apply for tenant %q: %w", e.Tenant, err)
		}
	}
	if plan != nil && len(p.Renames) > 0 {
		return errors.New("live apply: renames and a plan in one request")
	}
	write := plan != nil || len(p.IDs) > 0 || len(p.DropIDs) > 0 || len(p.Renames) > 0
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		if write {
			v, err := c.lockTenant(ctx, tx, e.Tenant)
			if err != nil {
				return err
			}
			e.StateVersion = v
			if plan != nil {
				if v != plan.BaseVersion {
					return fmt.Errorf("tenant %q: request read state version %d, the store is at %d: %w", e.Tenant, plan.BaseVersion, v, store.ErrStateChanged)
				}
				w := &Write{Tenant: e.Tenant, Plan: plan, Now: c.d.Time(Micro(p.Now))}
				if err := c.d.WritePlan(ctx, tx, w); err != nil {
					return err
				}
				if err := c.indexApply(ctx, tx, e.Tenant, plan, v, false); err != nil {
					return err
				}
				e.StateVersion = v + 1
				if err := c.setVersion(ctx, tx, e.Tenant, v+1); err != nil {
					return err
				}
			}
			if len(p.Renames) > 0 {
				if v != p.RenameBase {
					return fmt.Errorf("tenant %q: request read state version %d, the store is at %d: %w", e.Tenant, p.RenameBase, v, store.ErrStateChanged)
				}
				if err := c.rename(ctx, tx, e.Tenant, p.Renames); err != nil {
					return err
				}
				if err := c.editIndex(ctx, tx, e.Tenant, v, v+1, renameBuckets(p.Renames), func(bs *buckets) { indexRenames(bs, p.Renames) }); err != nil {
					return fmt.Errorf("state index: %w", err)
				}
				e.StateVersion = v + 1
				if err := c.setVersion(ctx, tx, e.Tenant, v+1); err != nil {
					return err
				}
			}
			for _, id := range p.DropIDs {
				if _, err := tx.ExecContext(ctx, c.Q(`DELETE FROM live_membership_ids WHERE tenant = ? AND id = ?`), e.Tenant, id); err != nil {
					return err
				}
			}
			for _, id := range p.IDs {
				_, err := tx.ExecContext(ctx, c.Q(`INSERT INTO live_membership_ids (tenant, id, group_key, member_key, role) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tenant, id, group_key, member_key, role) DO NOTHING`), e.Tenant, id.ID, id.Key.Group, id.Key.Member, id.Key.Role)
				if err != nil {
					return err
				}
			}
		}
		var result, touched any
		if e.Result != nil {
			result = string(e.Result)
		}
		if t, ok := touchOf(plan, p); ok {
			b, err := json.Marshal(t)
			if err != nil {
				return err
			}
			touched = string(b)
		}
		return tx.QueryRowContext(ctx, c.Q(`INSERT INTO live_requests (tenant, at, dialect, operation, message_id, keys, code_major, code_minor,
  description, duration_us, state_version, removed_persons, removed_groups, removed_memberships, result,
  inserted_persons, inserted_groups, inserted_memberships, updated_persons, updated_groups, updated_memberships, restored_persons, request_hash, touched)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			e.Tenant, c.d.Time(Micro(e.At)), e.Dialect, e.Operation, e.MessageID, strings.Join(e.Keys, " "), e.CodeMajor, e.CodeMinor,
			e.Description, e.Duration.Microseconds(), e.StateVersion, e.Removed[0], e.Removed[1], e.Removed[2], result,
			e.Inserted[0], e.Inserted[1], e.Inserted[2], e.Updated[0], e.Updated[1], e.Updated[2], e.Restored, e.RequestHash, touched).Scan(&e.ID)
	})
	if err != nil {
		if errors.Is(err, store.ErrStateChanged) {
			return err
		}
		return fmt.Errorf("live request of tenant %q (nothing was changed): %w", e.Tenant, err)
	}
	return nil
}

// touchOf is what a live request touched when it changed the state: its plan (p.Plan not
// empty) or renames, and the membership identifiers it stored or dropped.
func touchOf(plan *change.Plan, p store.LiveApplyParams) (change.Touch, bool) {
	var t change.Touch
	if plan != nil {
		t = change.TouchOf(plan)
	}
	for _, r := range p.Renames {
		t.Rename(r.Old, r.New, slices.Collect(maps.Keys(r.Memberships)))
	}
	for _, id := range p.IDs {
		t.Named = append(t.Named, id.ID)
	}
	t.Named = append(t.Named, p.DropIDs...)
	return t, plan != nil || len(p.Renames) > 0
}

// LiveTouched implements store.Live.
func (c *Core) LiveTouched(ctx context.Context, tenant string, since time.Time, after, upto int64) (*change.Touched, error) {
	rows, err := c.db.QueryContext(ctx, c.Q(`SELECT id, state_version, touched FROM live_requests
WHERE tenant = ? AND at >= ? AND state_version > ? AND state_version <= ? AND touched IS NOT NULL ORDER BY id`),
		tenant, c.d.Time(Micro(since.Add(-time.Minute))), after, upto)
	if err != nil {
		return nil, err
	}
	t := &change.Touched{}
	made := map[int64]bool{}
	for rows.Next() {
		var id, v int64
		var js string
		if err := rows.Scan(&id, &v, &js); err != nil {
			rows.Close()
			return nil, err
		}
		var x change.Touch
		if err := json.Unmarshal([]byte(js), &x); err != nil {
			rows.Close()
			return nil, fmt.Errorf("live request %d: what it touched: %w", id, err)
		}
		t.Add(id, x)
		made[v] = true
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	for v := after + 1; v <= upto; v++ {
		if !made[v] {
			return nil, fmt.Errorf("tenant %q: state version %d was not made by a live request whose changes are recorded: %w", tenant, v, store.ErrStateChanged)
		}
	}
	return t, nil
}

const liveCols = `SELECT id, at, tenant, dialect, operation, message_id, keys, code_major, code_minor, description,
  duration_us, state_version, removed_persons, removed_groups, removed_memberships, result,
  inserted_persons, inserted_groups, inserted_memberships, updated_persons, updated_groups, updated_memberships, restored_persons, request_hash FROM live_requests `

func scanEntry(r interface{ Scan(...any) error }) (store.LiveEntry, error) {
	var e store.LiveEntry
	var at Time
	var keys string
	var us int64
	var result sql.NullString
	err := r.Scan(&e.ID, &at, &e.Tenant, &e.Dialect, &e.Operation, &e.MessageID, &keys, &e.CodeMajor, &e.CodeMinor, &e.Description,
		&us, &e.StateVersion, &e.Removed[0], &e.Removed[1], &e.Removed[2], &result,
		&e.Inserted[0], &e.Inserted[1], &e.Inserted[2], &e.Updated[0], &e.Updated[1], &e.Updated[2], &e.Restored, &e.RequestHash)
	e.At, e.Duration = at.T, time.Duration(us)*time.Microsecond
	e.Keys = strings.Fields(keys)
	if e.Keys == nil {
		e.Keys = []string{}
	}
	if result.Valid {
		e.Result = []byte(result.String)
	}
	return e, err
}

// LiveEntries implements store.Live.
func (c *Core) LiveEntries(ctx context.Context, p store.LiveLogParams) ([]store.LiveEntry, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	order := `ORDER BY id`
	if p.Newest {
		order = `ORDER BY id DESC`
	}
	rows, err := c.db.QueryContext(ctx, c.Q(liveCols+`WHERE tenant = ? AND at >= ? `+order+` LIMIT ?`), p.Tenant, c.d.Time(Micro(p.Since)), limit)
	if err != nil {
		return nil, fmt.Errorf("live log of tenant %q: %w", p.Tenant, err)
	}
	defer rows.Close()
	out := []store.LiveEntry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if p.Newest {
		slices.Reverse(out)
	}
	return out, rows.Err()
}

// LiveTally implements store.Live: one aggregate over the (tenant, at) index range, so the
// console's count does not grow with the rows it would otherwise read.
func (c *Core) LiveTally(ctx context.Context, tenant string, since time.Time) (requests, notSuccess int, err error) {
	err = c.db.QueryRowContext(ctx, c.Q(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN code_major <> 'success' THEN 1 ELSE 0 END), 0)
FROM live_requests WHERE tenant = ? AND at >= ?`), tenant, c.d.Time(Micro(since))).Scan(&requests, &notSuccess)
	if err != nil {
		return 0, 0, fmt.Errorf("live tally of tenant %q: %w", tenant, err)
	}
	return requests, notSuccess, nil
}

// LiveRepeat implements store.Live: the last write with the identifier and keys decides, so a
// request sent again after another change to the same objects (A, B, A) is applied again.
func (c *Core) LiveRepeat(ctx context.Context, like *store.LiveEntry, since time.Time) (*store.LiveEntry, error) {
	tenant := like.Tenant
	if like.RequestHash == "" {
		return nil, store.ErrNotFound
	}
	// message_id <> '' (never empty here) lets the store use its partial index on (tenant,
	// message_id, at), migration 0021: SQLite cannot tell that a parameter is not empty, and
	// read every request of the tenant's last 24 hours instead, on every write.
	row := c.db.QueryRowContext(ctx, c.Q(liveCols+`WHERE tenant = ? AND message_id = ? AND message_id <> '' AND keys = ?
  AND at >= ? AND result IS NOT NULL ORDER BY id DESC LIMIT 1`),
		tenant, like.MessageID, strings.Join(like.Keys, " "), c.d.Time(Micro(since)))
	e, err := scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("live log of tenant %q: %w", tenant, err)
	}
	if e.Dialect != like.Dialect || e.Operation != like.Operation || e.RequestHash != like.RequestHash {
		return nil, store.ErrNotFound
	}
	return &e, nil
}

// LiveRemovals implements store.Live.
func (c *Core) LiveRemovals(ctx context.Context, tenant string, since time.Time) ([3]int, error) {
	var n [3]int
	s := c.d.Time(Micro(since))
	err := c.db.QueryRowContext(ctx, c.Q(`SELECT COALESCE(SUM(removed_persons), 0), COALESCE(SUM(removed_groups), 0),
  COALESCE(SUM(removed_memberships), 0) FROM live_requests WHERE tenant = ? AND at >= ?`), tenant, s).Scan(&n[0], &n[1], &n[2])
	if err != nil {
		return n, fmt.Errorf("live removals of tenant %q: %w", tenant, err)
	}
	return n, nil
}

// liveActive are the counts LiveActive bounds, in its order: each statement reads at most the
// bound's rows of the tenant that qualify (by the tenant's key order, an index range), however
// large the tenant. The memberships' count is the seam's (countSyncedUpTo).
var liveActive = [2]string{
	`SELECT count(*) FROM (SELECT 1 FROM persons WHERE tenant = ? AND status = 'active' ORDER BY tenant, key LIMIT ?) b`,
	`SELECT count(*) FROM (SELECT 1 FROM groups WHERE tenant = ? AND status = 'active' ORDER BY tenant, key LIMIT ?) b`,
}

// LiveActive implements store.Live.
func (c *Core) LiveActive(ctx context.Context, tenant string, atMost [3]int) ([3]int, error) {
	var n [3]int
	for i := range n {
		if atMost[i] <= 0 {
			continue
		}
		var err error
		if i < len(liveActive) {
			err = c.db.QueryRowContext(ctx, c.Q(liveActive[i]), tenant, atMost[i]).Scan(&n[i])
		} else {
			n[i], err = c.countSyncedUpTo(ctx, c.db, tenant, atMost[i])
		}
		if err != nil {
			return n, fmt.Errorf("live delete limits' base of tenant %q: %w", tenant, err)
		}
	}
	return n, nil
}

// LiveAllow implements store.Live.
func (c *Core) LiveAllow(ctx context.Context, tenant string, n int, by, reason string, at time.Time) error {
	_, err := c.db.ExecContext(ctx, c.Q(`INSERT INTO live_allowances (tenant, at, deletes, granted_by, reason) VALUES (?, ?, ?, ?, ?)`),
		tenant, c.d.Time(Micro(at)), n, by, reason)
	if err != nil {
		return fmt.Errorf("live allowance for tenant %q: %w", tenant, err)
	}
	return nil
}

// LiveAllowance returns the deletes granted to the tenant at or after since.
func (c *Core) LiveAllowance(ctx context.Context, tenant string, since time.Time) (int, error) {
	var n int
	err := c.db.QueryRowContext(ctx, c.Q(`SELECT COALESCE(SUM(deletes), 0) FROM live_allowances WHERE tenant = ? AND at >= ?`),
		tenant, c.d.Time(Micro(since))).Scan(&n)
	return n, err
}

// LiveActivity implements store.Live: one read snapshot, so the sums and the last ids agree.
func (c *Core) LiveActivity(ctx context.Context, tenant string) (*store.LiveActivity, error) {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return nil, fmt.Errorf("live activity of tenant %q: %w", tenant, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	a := &store.LiveActivity{}
	var since Time
	err = tx.QueryRowContext(ctx, c.Q(`SELECT request_id, allowance_id, at FROM live_reports WHERE tenant = ?`), tenant).
		Scan(&a.LastRequest, &a.LastAllowance, &since)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("live activity of tenant %q: %w", tenant, err)
	}
	a.Since = since.T
	afterReq, afterAllow := a.LastRequest, a.LastAllowance
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT dialect, operation, code_major, code_minor,
  CASE WHEN description LIKE ? THEN 1 ELSE 0 END, COUNT(*), MAX(id),
  SUM(inserted_persons), SUM(inserted_groups), SUM(inserted_memberships),
  SUM(updated_persons), SUM(updated_groups), SUM(updated_memberships),
  SUM(removed_persons), SUM(removed_groups), SUM(removed_memberships), SUM(restored_persons)
FROM live_requests WHERE tenant = ? AND id > ? GROUP BY 1, 2, 3, 4, 5 ORDER BY 2, 3 DESC, 4, 5, 1`), store.LiveRepeatPrefix+"%", tenant, afterReq)
	if err != nil {
		return nil, fmt.Errorf("live activity of tenant %q: %w", tenant, err)
	}
	for rows.Next() {
		var n store.LiveCount
		var last int64
		var ins, upd, del [3]int
		var res, repeat int
		if err := rows.Scan(&n.Dialect, &n.Operation, &n.Major, &n.Minor, &repeat, &n.N, &last, &ins[0], &ins[1], &ins[2], &upd[0], &upd[1], &upd[2],
			&del[0], &del[1], &del[2], &res); err != nil {
			rows.Close()
			return nil, fmt.Errorf("live activity of tenant %q: %w", tenant, err)
		}
		n.Repeat = repeat == 1
		a.Requests = append(a.Requests, n)
		a.LastRequest = max(a.LastRequest, last)
		for i := range 3 {
			a.Created[i] += ins[i]
			a.Updated[i] += upd[i]
			a.Deleted[i] += del[i]
		}
		a.Created[0] += res
		a.Restored += res
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("live activity of tenant %q: %w", tenant, err)
	}
	rows, err = tx.QueryContext(ctx, c.Q(`SELECT id, at, deletes, granted_by, reason FROM live_allowances WHERE tenant = ? AND id > ? ORDER BY id`), tenant, afterAllow)
	if err != nil {
		return nil, fmt.Errorf("live activity of tenant %q: %w", tenant, err)
	}
	for rows.Next() {
		var al store.LiveAllowance
		var id int64
		var at Time
		if err := rows.Scan(&id, &at, &al.Deletes, &al.By, &al.Reason); err != nil {
			rows.Close()
			return nil, fmt.Errorf("live activity of tenant %q: %w", tenant, err)
		}
		al.At = at.T
		a.Allowances = append(a.Allowances, al)
		a.LastAllowance = max(a.LastAllowance, id)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("live activity of tenant %q: %w", tenant, err)
	}
	return a, nil
}

// LiveReported implements store.Live.
func (c *Core) LiveReported(ctx context.Context, tenant string, a *store.LiveActivity, at time.Time) error {
	_, err := c.db.ExecContext(ctx, c.Q(`INSERT INTO live_reports (tenant, request_id, allowance_id, at) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant) DO UPDATE SET
  request_id = CASE WHEN excluded.request_id > live_reports.request_id THEN excluded.request_id ELSE live_reports.request_id END,
  allowance_id = CASE WHEN excluded.allowance_id > live_reports.allowance_id THEN excluded.allowance_id ELSE live_reports.allowance_id END,
  at = excluded.at`), tenant, a.LastRequest, a.LastAllowance, c.d.Time(Micro(at)))
	if err != nil {
		return fmt.Errorf("live report of tenant %q: %w", tenant, err)
	}
	return nil
}

// rename moves persons to new keys with their memberships and membership identifiers.
func (c *Core) rename(ctx context.Context, tx *sql.Tx, tenant string, rs []store.LiveRename) error {
	for _, r := range rs {
		res, err := tx.ExecContext(ctx, c.Q(`UPDATE persons SET key = ?, hash = ? WHERE tenant = ? AND key = ? AND status = 'active'`), r.New, r.Hash[:], tenant, r.Old)
		if err != nil {
			return fmt.Errorf("rename person %q to %q: %w", r.Old, r.New, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("rename person %q to %q: it is no longer active: %w", r.Old, r.New, store.ErrStateChanged)
		}
		if err := c.renameMember(ctx, tx, tenant, r.New, r.Memberships); err != nil {
			return fmt.Errorf("rename person %q to %q: %w", r.Old, r.New, err)
		}
		if _, err := tx.ExecContext(ctx, c.Q(`UPDATE live_membership_ids SET member_key = ? WHERE tenant = ? AND member_key = ?`), r.New, tenant, r.Old); err != nil {
			return fmt.Errorf("rename person %q to %q: membership identifiers: %w", r.Old, r.New, err)
		}
		if err := c.renameRelations(ctx, tx, tenant, r.Old, r.New); err != nil {
			return fmt.Errorf("rename person %q to %q: relations: %w", r.Old, r.New, err)
		}
	}
	return nil
}

// renameBuckets are the index buckets renames touch: both keys of each person.
func renameBuckets(rs []store.LiveRename) map[int]bool {
	nums := map[int]bool{}
	for _, r := range rs {
		nums[personBucket(r.Old)], nums[personBucket(r.New)] = true, true
	}
	return nums
}

// indexRenames does to the index what rename does to the persons' rows: each person's entry
// moves to the new key with its new hash, keeping its flags. (Without it a
// changePersonIdentifier left the index stale, and the next night read every row.)
func indexRenames(bs *buckets, rs []store.LiveRename) {
	for _, r := range rs {
		if st, ok := bs.person(r.Old).persons[r.Old]; ok {
			delete(bs.person(r.Old).persons, r.Old)
			st.Hash = r.Hash
			bs.person(r.New).persons[r.New] = st
		}
	}
}

// renameRelations moves the person's relations (both ways) to its new key, with the hashes the
// new key makes.
func (c *Core) renameRelations(ctx context.Context, tx *sql.Tx, tenant, old, new string) error {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT person_key, related_key, type, attrs FROM relations WHERE tenant = ? AND (person_key = ? OR related_key = ?)`), tenant, old, old)
	if err != nil {
		return err
	}
	var rels []record.Relation
	for rows.Next() {
		var r record.Relation
		var attrs []byte
		if err := rows.Scan(&r.Person, &r.Related, &r.Type, &attrs); err != nil {
			rows.Close()
			return err
		}
		if err := jsonCol(attrs, &r.Attrs); err != nil {
			rows.Close()
			return err
		}
		rels = append(rels, r)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	for _, r := range rels {
		was := r.RelationKey
		if r.Person == old {
			r.Person = new
		}
		if r.Related == old {
			r.Related = new
		}
		r.ComputeHash()
		_, err := tx.ExecContext(ctx, c.Q(`UPDATE relations SET person_key = ?, related_key = ?, hash = ? WHERE tenant = ? AND person_key = ? AND related_key = ? AND type = ?`),
			r.Person, r.Related, r.Hash[:], tenant, was.Person, was.Related, was.Type)
		if err != nil {
			return err
		}
	}
	return nil
}

var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// plainJSON reports whether key is spelt the same in any JSON encoder's output (Go's escapes <,
// > and &, PostgreSQL's jsonb does not): printable ASCII without quote and backslash.
func plainJSON(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
