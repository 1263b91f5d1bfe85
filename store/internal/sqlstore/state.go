package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
)

// LoadState implements store.Store: in one read snapshot, the groups from their rows and the
// persons and memberships from the compact state index (index.go) when it describes the
// current state version, else from their rows. Membership keys share the strings of the person
// and group keys (and roles are constants), which keeps a 1.5M-membership state small.
func (c *Core) LoadState(ctx context.Context, tenant string) (*change.State, error) {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	v, iv, err := c.indexVersion(ctx, tx, tenant)
	if err != nil {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	st, err := c.loadState(ctx, tx, tenant, iv == v)
	if errors.Is(err, errIndexFormat) {
		// A damaged index is not a reason to fail a night: the rows are the truth (the
		// night's apply rebuilds the index; `imsfeed check` reports it).
		st, err = c.loadState(ctx, tx, tenant, false)
	}
	if err != nil {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	return st, nil
}

// loadState reads a tenant's state in tx; fromIndex reads persons and memberships from the
// state index instead of their rows.
func (c *Core) loadState(ctx context.Context, tx *sql.Tx, tenant string, fromIndex bool) (*change.State, error) {
	st := change.NewState(tenant)
	var year sql.NullString
	err := tx.QueryRowContext(ctx, c.Q(`SELECT state_version, school_year FROM tenants WHERE id = ?`), tenant).Scan(&st.Version, &year)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	st.SchoolYear = year.String
	intern := map[string]string{}

	if !fromIndex {
		if err := c.loadPersons(ctx, tx, st, intern); err != nil {
			return nil, err
		}
	}

	rows, err := tx.QueryContext(ctx, c.Q(`SELECT key, name, hash, status, is_course, parents, source FROM groups WHERE tenant = ?`), tenant)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var key, name, status, source string
		var hash, parents sql.RawBytes
		var g change.GroupState
		if err := rows.Scan(&key, &name, &hash, &status, &g.Course, &parents, &source); err != nil {
			rows.Close()
			return nil, err
		}
		g.Name, g.Archived, g.Own = name, status == "archived", source == hierarchy.Source
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

	if err := c.loadRelations(ctx, tx, st, intern); err != nil {
		return nil, err
	}
	if fromIndex {
		return st, c.decodeIndex(ctx, tx, st, intern)
	}
	if err := c.loadMemberships(ctx, tx, st, intern); err != nil {
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

func (c *Core) loadPersons(ctx context.Context, tx *sql.Tx, st *change.State, intern map[string]string) error {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT key, name, hash, status FROM persons WHERE tenant = ?`), st.Tenant)
	if err != nil {
		return err
	}
	for rows.Next() {
		var key, name, status string
		var hash sql.RawBytes
		if err := rows.Scan(&key, &name, &hash, &status); err != nil {
			rows.Close()
			return err
		}
		p := change.PersonState{Name: name, Trashed: status == "trashed"}
		copy(p.Hash[:], hash)
		st.Persons[key] = p
		intern[key] = key
	}
	return closeRows(rows)
}

func (c *Core) loadMemberships(ctx context.Context, tx *sql.Tx, st *change.State, intern map[string]string) error {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT group_key, member_key, role, hash, member_type, origin FROM memberships WHERE tenant = ?`), st.Tenant)
	if err != nil {
		return err
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
			return err
		}
		k := record.MembershipKey{Group: str(gk), Member: str(mk), Role: str(role)}
		m := change.MembershipState{MemberType: record.MemberType(mt), Manual: string(origin) == "manual"}
		copy(m.Hash[:], hash)
		st.Memberships.Set(k, m)
	}
	st.Memberships.Loaded()
	return closeRows(rows)
}

// loadRelations reads the tenant's relations between persons from their rows (they are few:
// the state index holds persons and memberships only).
func (c *Core) loadRelations(ctx context.Context, tx *sql.Tx, st *change.State, intern map[string]string) error {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT person_key, related_key, type, hash FROM relations WHERE tenant = ?`), st.Tenant)
	if err != nil {
		return err
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
		var pk, rk, typ, hash sql.RawBytes
		if err := rows.Scan(&pk, &rk, &typ, &hash); err != nil {
			rows.Close()
			return err
		}
		var r change.RelationState
		copy(r.Hash[:], hash)
		st.Relations[record.RelationKey{Person: str(pk), Related: str(rk), Type: str(typ)}] = r
	}
	return closeRows(rows)
}

// decodeIndex fills st's persons and memberships from the tenant's state index. The buckets'
// headers are read first, so that the maps are made at their final size (a map that grows
// holds its old and new tables at once), then each bucket is decoded straight from the row.
func (c *Core) decodeIndex(ctx context.Context, tx *sql.Tx, st *change.State, intern map[string]string) error {
	d := indexDecoder{intern: intern}
	var persons, members int
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT substr(data, 1, 21) FROM state_index WHERE tenant = ?`), st.Tenant)
	if err != nil {
		return err
	}
	for rows.Next() {
		var head sql.RawBytes
		if err := rows.Scan(&head); err != nil {
			rows.Close()
			return err
		}
		p, m, err := d.count(head)
		if err != nil {
			rows.Close()
			return err
		}
		persons, members = persons+p, members+m
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	st.Persons = make(map[string]change.PersonState, persons)
	st.Memberships = change.NewMembershipSet(members)
	d.set = st.Memberships
	// In bucket order: the pending buckets (pending.go) come last, oldest first, and their
	// entries replace the ones read before them.
	rows, err = tx.QueryContext(ctx, c.Q(`SELECT data FROM state_index WHERE tenant = ? ORDER BY bucket`), st.Tenant)
	if err != nil {
		return err
	}
	for rows.Next() {
		var data sql.RawBytes
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return err
		}
		err := d.decode(data, func(k string, p change.PersonState) { st.Persons[k] = p },
			func(k record.MembershipKey, m change.MembershipState) { st.Memberships.Set(k, m) })
		if err != nil {
			rows.Close()
			return err
		}
	}
	st.Memberships.Loaded()
	return closeRows(rows)
}
