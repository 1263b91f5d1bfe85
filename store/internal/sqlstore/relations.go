package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/imsfeed/imsfeed/store"
)

// ListRelations implements store.Store.
func (c *Core) ListRelations(ctx context.Context, tenant string, p store.ListRelationsParams) ([]store.Relation, error) {
	q := `SELECT r.person_key, COALESCE(a.name, ''), r.related_key, COALESCE(b.name, ''), r.type, r.attrs
FROM relations r
LEFT JOIN persons a ON a.tenant = r.tenant AND a.key = r.person_key
LEFT JOIN persons b ON b.tenant = r.tenant AND b.key = r.related_key
WHERE r.tenant = ?`
	args := []any{tenant}
	if p.Person != "" {
		q += ` AND (r.person_key = ? OR r.related_key = ?)`
		args = append(args, p.Person, p.Person)
	}
	q += ` ORDER BY r.person_key, r.related_key, r.type`
	rows, err := c.db.QueryContext(ctx, c.Q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list relations of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	out := []store.Relation{}
	for rows.Next() {
		var r store.Relation
		var attrs []byte
		if err := rows.Scan(&r.Person, &r.PersonName, &r.Related, &r.RelatedName, &r.Type, &attrs); err != nil {
			return nil, fmt.Errorf("list relations of tenant %q: %w", tenant, err)
		}
		if len(attrs) > 0 {
			if err := json.Unmarshal(attrs, &r.Attrs); err != nil {
				return nil, fmt.Errorf("relation %s/%s/%s: stored attributes: %w", r.Person, r.Related, r.Type, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list relations of tenant %q: %w", tenant, err)
	}
	return out, nil
}
