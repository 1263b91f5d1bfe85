package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// Status implements store.Store.
func (c *Core) Status(ctx context.Context, tenant string) (store.TenantStatus, error) {
	return c.status(ctx, c.db, tenant)
}

// status is Status read through q (a transaction, to count what it sees).
func (c *Core) status(ctx context.Context, q querier, tenant string) (store.TenantStatus, error) {
	s := store.TenantStatus{Tenant: tenant}
	err := q.QueryRowContext(ctx, c.Q(`SELECT state_version FROM tenants WHERE id = ?`), tenant).Scan(&s.StateVersion)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("status of tenant %q: %w", tenant, err)
	}
	counts := []struct {
		query string
		into  map[string]*int
	}{
		{`SELECT status, count(*) FROM persons WHERE tenant = ? GROUP BY status`,
			map[string]*int{"active": &s.Persons.Active, "trashed": &s.Persons.Trashed}},
		{`SELECT status, count(*) FROM groups WHERE tenant = ? GROUP BY status`,
			map[string]*int{"active": &s.Groups.Active, "archived": &s.Groups.Archived}},
		{`SELECT 'active', count(*) FROM relations WHERE tenant = ?`,
			map[string]*int{"active": &s.Relations.Active}},
	}
	for _, cq := range counts {
		rows, err := q.QueryContext(ctx, c.Q(cq.query), tenant)
		if err != nil {
			return s, fmt.Errorf("status of tenant %q: %w", tenant, err)
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return s, err
			}
			if p := cq.into[k]; p != nil {
				*p = n
			}
		}
		if err := closeRows(rows); err != nil {
			return s, fmt.Errorf("status of tenant %q: %w", tenant, err)
		}
	}
	if s.Memberships.Synced, s.Memberships.Manual, err = c.membershipOrigins(ctx, q, tenant); err != nil {
		return s, fmt.Errorf("status of tenant %q: %w", tenant, err)
	}
	return s, nil
}

// StateVersion implements store.Store.
func (c *Core) StateVersion(ctx context.Context, tenant string) (int64, error) {
	var v int64
	err := c.db.QueryRowContext(ctx, c.Q(`SELECT state_version FROM tenants WHERE id = ?`), tenant).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("state version of tenant %q: %w", tenant, err)
	}
	return v, nil
}

func (c *Core) listItems(ctx context.Context, query, tenant string, args ...any) ([]store.Item, error) {
	rows, err := c.db.QueryContext(ctx, c.Q(query), append([]any{tenant}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Item{}
	for rows.Next() {
		var it store.Item
		var since Time
		var run sql.NullInt64
		if err := rows.Scan(&it.Key, &it.Name, &since, &run); err != nil {
			return nil, err
		}
		it.Since, it.Run = since.T, run.Int64
		out = append(out, it)
	}
	return out, rows.Err()
}

// ListTrash implements store.Store.
func (c *Core) ListTrash(ctx context.Context, tenant string) ([]store.Item, error) {
	items, err := c.listItems(ctx, `SELECT key, name, trashed_at, trashed_run FROM persons
WHERE tenant = ? AND status = 'trashed' ORDER BY trashed_at, key`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list trash of tenant %q: %w", tenant, err)
	}
	return items, nil
}

// ListArchived implements store.Store.
func (c *Core) ListArchived(ctx context.Context, tenant string) ([]store.Item, error) {
	items, err := c.listItems(ctx, `SELECT key, name, archived_at, archived_run FROM groups
WHERE tenant = ? AND status = 'archived' ORDER BY archived_at, key`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list archived courses of tenant %q: %w", tenant, err)
	}
	return items, nil
}

// SearchTrash implements store.Store.
func (c *Core) SearchTrash(ctx context.Context, tenant string, q store.ItemQuery) ([]store.Item, int, error) {
	items, n, err := c.searchItems(ctx, `SELECT key, name, trashed_at, trashed_run FROM persons
WHERE tenant = ? AND status = 'trashed'`, `ORDER BY trashed_at, key`, tenant, q)
	if err != nil {
		return nil, 0, fmt.Errorf("search trash of tenant %q: %w", tenant, err)
	}
	return items, n, nil
}

// SearchArchived implements store.Store.
func (c *Core) SearchArchived(ctx context.Context, tenant string, q store.ItemQuery) ([]store.Item, int, error) {
	items, n, err := c.searchItems(ctx, `SELECT key, name, archived_at, archived_run FROM groups
WHERE tenant = ? AND status = 'archived'`, `ORDER BY archived_at, key`, tenant, q)
	if err != nil {
		return nil, 0, fmt.Errorf("search archived courses of tenant %q: %w", tenant, err)
	}
	return items, n, nil
}

// searchItems runs selectWhere (one tenant placeholder) with q's search and page, and counts
// the matches. lower() folds ASCII letters alike in both databases (PostgreSQL folds more
// under a locale that knows them); the search is also matched as typed, so "Øystein" finds
// Øystein either way.
func (c *Core) searchItems(ctx context.Context, selectWhere, order, tenant string, q store.ItemQuery) ([]store.Item, int, error) {
	var args []any
	if s := strings.TrimSpace(q.Search); s != "" {
		like := "%" + likeEscaper.Replace(s) + "%"
		selectWhere += ` AND (lower(key) LIKE ? ESCAPE '!' OR lower(name) LIKE ? ESCAPE '!' OR key LIKE ? ESCAPE '!' OR name LIKE ? ESCAPE '!')`
		args = append(args, strings.ToLower(like), strings.ToLower(like), like, like)
	}
	var n int
	count := `SELECT count(*) FROM (` + selectWhere + `) AS matched`
	if err := c.db.QueryRowContext(ctx, c.Q(count), append([]any{tenant}, args...)...).Scan(&n); err != nil {
		return nil, 0, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = math.MaxInt32
	}
	items, err := c.listItems(ctx, selectWhere+" "+order+" LIMIT ? OFFSET ?", tenant, append(args, limit, max(q.Offset, 0))...)
	return items, n, err
}

// byKeys runs one statement per key in a tenant write transaction; every key must hit a row
// (else ErrNotFound naming it, and nothing changes). The state version goes up when any did,
// and the state index follows: edit, when set, does to a person's entry what query did to its
// row (a statement on groups changes no entry).
func (c *Core) byKeys(ctx context.Context, what, tenant string, keys []string, rec *store.RunRecord, edit func(p *change.PersonState) (keep bool), query string, args ...any) (int, error) {
	n := 0
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		v, err := c.lockTenant(ctx, tx, tenant)
		if err != nil {
			return err
		}
		before, err := c.statusFor(ctx, tx, tenant, rec)
		if err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, c.Q(query))
		if err != nil {
			return err
		}
		defer st.Close()
		for _, k := range keys {
			res, err := st.ExecContext(ctx, append(args[:len(args):len(args)], tenant, k)...)
			if err != nil {
				return err
			}
			if m, err := res.RowsAffected(); err != nil {
				return err
			} else if m == 0 {
				return fmt.Errorf("%s %q: %w", what, k, store.ErrNotFound)
			}
			n++
		}
		if n == 0 {
			return nil
		}
		if err := c.setVersion(ctx, tx, tenant, v+1); err != nil {
			return err
		}
		if err := c.editIndex(ctx, tx, tenant, v, v+1, personBuckets(keys, edit), func(bs *buckets) { editPersons(bs, keys, edit) }); err != nil {
			return err
		}
		return c.record(ctx, tx, tenant, rec, keys, v, before)
	})
	if err != nil {
		return 0, fmt.Errorf("tenant %q: %w", tenant, err)
	}
	return n, nil
}

// personBuckets are the buckets of the keys (none when edit is nil: nothing to change).
func personBuckets(keys []string, edit func(*change.PersonState) bool) map[int]bool {
	nums := map[int]bool{}
	if edit != nil {
		for _, k := range keys {
			nums[personBucket(k)] = true
		}
	}
	return nums
}

// editPersons applies edit to each key's index entry, dropping it when edit says so.
func editPersons(bs *buckets, keys []string, edit func(*change.PersonState) bool) {
	if edit == nil {
		return
	}
	for _, k := range keys {
		b := bs.person(k)
		p, ok := b.persons[k]
		if !ok {
			continue
		}
		if edit(&p) {
			b.persons[k] = p
		} else {
			delete(b.persons, k)
		}
	}
}

// RestoreTrash implements store.Store.
func (c *Core) RestoreTrash(ctx context.Context, tenant string, keys []string, rec *store.RunRecord) (int, error) {
	restore := func(p *change.PersonState) bool { p.Trashed = false; return true }
	return c.byKeys(ctx, "trashed person", tenant, keys, rec, restore, `UPDATE persons SET status = 'active', trashed_at = NULL, trashed_run = NULL
WHERE tenant = ? AND key = ? AND status = 'trashed'`)
}

// RestoreArchived implements store.Store.
func (c *Core) RestoreArchived(ctx context.Context, tenant string, keys []string, rec *store.RunRecord) (int, error) {
	// The zero hash differs from any record's: the next import updates the course from the
	// file (its parents) and hands its memberships back to the feed.
	return c.byKeys(ctx, "archived course", tenant, keys, rec, nil, `UPDATE groups SET status = 'active', archived_at = NULL, archived_run = NULL, parents = NULL, hash = ?
WHERE tenant = ? AND key = ? AND status = 'archived'`, ZeroHash[:])
}

// PurgeTrash implements store.Store. Named keys that are not in the trash are ErrNotFound.
func (c *Core) PurgeTrash(ctx context.Context, tenant string, p store.PurgeParams) (int, error) {
	purge := func(*change.PersonState) bool { return false }
	if len(p.Keys) > 0 {
		return c.byKeys(ctx, "trashed person", tenant, p.Keys, p.Record, purge, `DELETE FROM persons WHERE tenant = ? AND key = ? AND status = 'trashed'`)
	}
	if p.Before.IsZero() {
		return 0, nil
	}
	var n int64
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		v, err := c.lockTenant(ctx, tx, tenant)
		if err != nil {
			return err
		}
		before, err := c.statusFor(ctx, tx, tenant, p.Record)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, c.Q(`DELETE FROM persons WHERE tenant = ? AND status = 'trashed' AND trashed_at < ? RETURNING key`),
			tenant, c.d.Time(Micro(p.Before)))
		if err != nil {
			return err
		}
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		if err := closeRows(rows); err != nil {
			return err
		}
		if n = int64(len(keys)); n == 0 {
			return nil
		}
		if err := c.setVersion(ctx, tx, tenant, v+1); err != nil {
			return err
		}
		if err := c.editIndex(ctx, tx, tenant, v, v+1, personBuckets(keys, purge), func(bs *buckets) { editPersons(bs, keys, purge) }); err != nil {
			return err
		}
		return c.record(ctx, tx, tenant, p.Record, keys, v, before)
	})
	if err != nil {
		return 0, fmt.Errorf("purge trash of tenant %q: %w", tenant, err)
	}
	return int(n), nil
}

// statusFor is the tenant's status in tx when rec will want it.
func (c *Core) statusFor(ctx context.Context, tx *sql.Tx, tenant string, rec *store.RunRecord) (store.TenantStatus, error) {
	if rec == nil {
		return store.TenantStatus{}, nil
	}
	return c.status(ctx, tx, tenant)
}

// record inserts rec's run in tx, after an operator's change of keys moved the state from
// version v to v+1.
func (c *Core) record(ctx context.Context, tx *sql.Tx, tenant string, rec *store.RunRecord, keys []string, v int64, before store.TenantStatus) error {
	if rec == nil {
		return nil
	}
	after, err := c.status(ctx, tx, tenant)
	if err != nil {
		return err
	}
	rec.Run.VersionBefore, rec.Run.VersionAfter = v, v+1
	if rec.Describe != nil {
		rec.Describe(rec.Run, keys, before, after)
	}
	return c.createRun(ctx, tx, rec.Run)
}

// AddManualMembership implements store.Store. A synced membership with the same key becomes
// manual.
func (c *Core) AddManualMembership(ctx context.Context, tenant string, m store.ManualMembership) error {
	role, ok := record.NormalizeRole(m.Role)
	if !ok {
		return fmt.Errorf("manual membership %s/%s: unknown role %q", m.Group, m.Member, m.Role)
	}
	if m.Group == "" || m.Member == "" {
		return fmt.Errorf("manual membership %s/%s/%s: group and member are required", m.Group, m.Member, role)
	}
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := c.lockTenant(ctx, tx, tenant); err != nil {
			return err
		}
		k := record.MembershipKey{Group: m.Group, Member: m.Member, Role: role}
		// The state version stays (the import never touches a manual membership).
		return c.putManualMembership(ctx, tx, tenant, k, MemberType(record.MemberType(m.MemberType)))
	})
	if err != nil {
		return fmt.Errorf("manual membership %s/%s/%s of tenant %q: %w", m.Group, m.Member, role, tenant, err)
	}
	return nil
}
