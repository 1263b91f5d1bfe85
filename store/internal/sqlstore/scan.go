package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// LoadStateScanned implements store.MembershipScanner: the first stage of a load (version,
// school year, persons, relations) and the groups, in one read transaction; the memberships
// are read by scan, from their rows, in the primary key's order (keys compare byte by byte
// in both stores, as record.MembershipKey.Compare does).
func (c *Core) LoadStateScanned(ctx context.Context, tenant string) (*change.State, store.ScanMemberships, error) {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return nil, nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	st, _, err := c.loadFront(ctx, tx, tenant, true, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	if st.Groups, err = c.loadGroups(ctx, tx, tenant, nil); err != nil {
		return nil, nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	st.Memberships = change.NewMembershipSet(0)
	version := st.Version
	scan := func(fn func(record.MembershipKey, change.MembershipState) error) error {
		return c.scanMemberships(ctx, tenant, version, fn)
	}
	return st, scan, nil
}

// scanRoles are the roles' strings, so that a scan makes none of its own for them.
var scanRoles = func() map[string]string {
	m := map[string]string{}
	for r := '1'; r <= '8'; r++ {
		s := "0" + string(r)
		m[s] = s
	}
	return m
}()

// scanMemberships gives the tenant's memberships in key order, read in a transaction of its own
// whose snapshot must be at version.
func (c *Core) scanMemberships(ctx context.Context, tenant string, version int64, fn func(record.MembershipKey, change.MembershipState) error) error {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return fmt.Errorf("memberships of tenant %q: %w", tenant, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var v int64
	err = tx.QueryRowContext(ctx, c.Q(`SELECT state_version FROM tenants WHERE id = ?`), tenant).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("memberships of tenant %q: %w", tenant, err)
	}
	if v != version {
		return fmt.Errorf("memberships of tenant %q: the state is at version %d, not %d as loaded: %w", tenant, v, version, store.ErrStateChanged)
	}
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT group_key, member_key, role, hash, member_type, origin FROM memberships WHERE tenant = ? ORDER BY group_key, member_key, role`), tenant)
	if err != nil {
		return fmt.Errorf("memberships of tenant %q: %w", tenant, err)
	}
	var group string // the rows of one group come together: its key is made once
	for rows.Next() {
		var gk, mk, role, hash, origin sql.RawBytes
		var mt int64
		if err := rows.Scan(&gk, &mk, &role, &hash, &mt, &origin); err != nil {
			rows.Close()
			return fmt.Errorf("memberships of tenant %q: %w", tenant, err)
		}
		if string(gk) != group {
			group = string(gk)
		}
		r, ok := scanRoles[string(role)]
		if !ok {
			r = string(role)
		}
		k := record.MembershipKey{Group: group, Member: string(mk), Role: r}
		m := change.MembershipState{MemberType: record.MemberType(mt), Manual: string(origin) == "manual"}
		copy(m.Hash[:], hash)
		if err := fn(k, m); err != nil {
			rows.Close()
			return err
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("memberships of tenant %q: %w", tenant, err)
	}
	return nil
}
