package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/imsfeed/imsfeed/record"
)

// StoredRecords' statements, with the list of keys after them (query).
const (
	storedPersons = `SELECT key, source, name, attrs FROM persons WHERE (tenant, key) IN `
	storedGroups  = `SELECT key, source, name, types, parents, attrs, template FROM groups WHERE (tenant, key) IN `
)

// StoredRecords implements store.Store, a few hundred keys per query.
func (c *Core) StoredRecords(ctx context.Context, tenant string, persons, groups []string) (map[string]record.Person, map[string]record.Group, error) {
	ps := map[string]record.Person{}
	gs := map[string]record.Group{}
	err := chunks(persons, func(keys []string) error {
		return c.query(ctx, storedPersons, tenant, keys, func(rows *sql.Rows) error {
			var p record.Person
			var attrs sql.NullString
			if err := rows.Scan(&p.Key, &p.Source, &p.Name, &attrs); err != nil {
				return err
			}
			if err := unmarshal(attrs, &p.Attrs); err != nil {
				return fmt.Errorf("person %q: stored attrs: %w", p.Key, err)
			}
			ps[p.Key] = p
			return nil
		})
	})
	if err == nil {
		err = chunks(groups, func(keys []string) error {
			return c.query(ctx, storedGroups, tenant, keys, func(rows *sql.Rows) error {
				var g record.Group
				var types, parents, attrs sql.NullString
				if err := rows.Scan(&g.Key, &g.Source, &g.Name, &types, &parents, &attrs, &g.Template); err != nil {
					return err
				}
				for _, f := range []struct {
					s sql.NullString
					v any
				}{{types, &g.Types}, {parents, &g.Parents}, {attrs, &g.Attrs}} {
					if err := unmarshal(f.s, f.v); err != nil {
						return fmt.Errorf("group %q: stored fields: %w", g.Key, err)
					}
				}
				gs[g.Key] = g
				return nil
			})
		})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read stored records of tenant %q: %w", tenant, err)
	}
	return ps, gs, nil
}

func chunks(keys []string, f func([]string) error) error {
	const size = 500
	for len(keys) > 0 {
		n := min(size, len(keys))
		if err := f(keys[:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// query runs prefix + "(VALUES (?, ?), …)", each row the tenant and one of keys (as in), and
// scans each row.
func (c *Core) query(ctx context.Context, prefix, tenant string, keys []string, scan func(*sql.Rows) error) error {
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, tenant, k)
	}
	rows, err := c.db.QueryContext(ctx, c.Q(prefix+inList(len(keys))), args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := scan(rows); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}

func unmarshal(s sql.NullString, v any) error {
	if !s.Valid || s.String == "" {
		return nil
	}
	return json.Unmarshal([]byte(s.String), v)
}
