package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// LoadState implements store.Store: one query per table in one read snapshot, streamed into
// the maps. Membership keys share the strings of the person and group keys (and roles are
// constants), which keeps a 1.5M-membership state small.
func (c *Core) LoadState(ctx context.Context, tenant string) (*change.State, error) {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	st, err := c.loadState(ctx, tx, tenant)
	if err != nil {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	return st, nil
}

func (c *Core) loadState(ctx context.Context, tx *sql.Tx, tenant string) (*change.State, error) {
	st := change.NewState(tenant)
	err := tx.QueryRowContext(ctx, c.Q(`SELECT state_version FROM tenants WHERE id = ?`), tenant).Scan(&st.Version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	intern := map[string]string{}

	rows, err := tx.QueryContext(ctx, c.Q(`SELECT key, name, hash, status FROM persons WHERE tenant = ?`), tenant)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var key, name, status string
		var hash sql.RawBytes
		if err := rows.Scan(&key, &name, &hash, &status); err != nil {
			rows.Close()
			return nil, err
		}
		p := change.PersonState{Name: name, Trashed: status == "trashed"}
		copy(p.Hash[:], hash)
		st.Persons[key] = p
		intern[key] = key
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, c.Q(`SELECT key, name, hash, status, is_course, parents FROM groups WHERE tenant = ?`), tenant)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var key, name, status string
		var hash, parents sql.RawBytes
		var g change.GroupState
		if err := rows.Scan(&key, &name, &hash, &status, &g.Course, &parents); err != nil {
			rows.Close()
			return nil, err
		}
		g.Name, g.Archived = name, status == "archived"
		copy(g.Hash[:], hash)
		if len(parents) > 0 {
			if err := json.Unmarshal(parents, &g.Parents); err != nil {
				rows.Close()
				return nil, fmt.Errorf("group %q: stored parents: %w", key, err)
			}
		}
		st.Groups[key] = g
		intern[key] = key
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, c.Q(`SELECT group_key, member_key, role, hash, member_type, origin FROM memberships WHERE tenant = ?`), tenant)
	if err != nil {
		return nil, err
	}
	str := func(b sql.RawBytes) string {
		if s, ok := intern[string(b)]; ok {
			return s
		}
		s := string(b)
		intern[s] = s
		return s
	}
	for rows.Next() {
		var gk, mk, role, hash, origin sql.RawBytes
		var mt int64
		if err := rows.Scan(&gk, &mk, &role, &hash, &mt, &origin); err != nil {
			rows.Close()
			return nil, err
		}
		k := record.MembershipKey{Group: str(gk), Member: str(mk), Role: str(role)}
		m := change.MembershipState{MemberType: record.MemberType(mt), Manual: string(origin) == "manual"}
		copy(m.Hash[:], hash)
		st.Memberships[k] = m
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	return st, nil
}

func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}
