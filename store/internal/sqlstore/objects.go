package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// The console's reads of single objects (store.Objects): a search walking the primary key in
// order with LIMIT, one object by key, and a group's members by the primary key's prefix.

var _ store.Objects = (*Core)(nil)

const defaultObjectLimit = 50

// SearchObjects implements store.Objects. The match is a case-insensitive pattern built here
// (a POSIX regular expression on PostgreSQL, a GLOB on SQLite) with every letter spelt in all
// its cases, so "ødegård" finds "Ødegård" whatever the database's locale; ILIKE and LIKE fold
// ASCII only under the C locale. Neither can use an index for a substring, so the query walks
// the tenant's rows in key order and stops at the page's last hit.
func (c *Core) SearchObjects(ctx context.Context, p store.SearchParams) ([]store.Object, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultObjectLimit
	}
	var q string
	switch p.Type {
	case record.Persons:
		q = `SELECT key, name, status, 0 = 1 FROM persons WHERE tenant = ? AND key > ?`
	case record.Groups:
		q = `SELECT key, name, status, is_course FROM groups WHERE tenant = ? AND key > ?`
	default:
		return nil, fmt.Errorf("search: %s are not searched", p.Type)
	}
	args := []any{p.Tenant, p.After}
	if s := strings.TrimSpace(p.Query); s != "" {
		op, pat := "GLOB", caseGlob(s)
		if c.d.Regex {
			op, pat = "~", caseRegex(s)
		}
		q += ` AND (key ` + op + ` ? OR name ` + op + ` ?)`
		args = append(args, pat, pat)
	}
	q += ` ORDER BY key LIMIT ?`
	args = append(args, limit)
	rows, err := c.db.QueryContext(ctx, c.Q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("search %s of tenant %q: %w", p.Type, p.Tenant, err)
	}
	defer rows.Close()
	out := []store.Object{}
	for rows.Next() {
		var o store.Object
		if err := rows.Scan(&o.Key, &o.Name, &o.Status, &o.Course); err != nil {
			return nil, fmt.Errorf("search %s of tenant %q: %w", p.Type, p.Tenant, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search %s of tenant %q: %w", p.Type, p.Tenant, err)
	}
	return out, nil
}

// foldSet is every case of r (its simple case-folding orbit), r first; one rune when r has no
// other case.
func foldSet(r rune) []rune {
	set := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		set = append(set, f)
	}
	return set
}

// caseRegex is a PostgreSQL regular expression matching s anywhere, in any case.
func caseRegex(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch set := foldSet(r); {
		case len(set) > 1:
			b.WriteString("[" + string(set) + "]")
		case r < 0x80 && !('0' <= r && r <= '9'):
			b.WriteString(`\` + string(r)) // an escaped non-alphanumeric is itself
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// caseGlob is an SQLite GLOB pattern matching s anywhere, in any case.
func caseGlob(s string) string {
	var b strings.Builder
	b.WriteByte('*')
	for _, r := range s {
		switch set := foldSet(r); {
		case len(set) > 1:
			b.WriteString("[" + string(set) + "]")
		case r == '*' || r == '?' || r == '[':
			b.WriteString("[" + string(r) + "]")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('*')
	return b.String()
}

// StoredPerson implements store.Objects.
func (c *Core) StoredPerson(ctx context.Context, tenant, key string) (*store.PersonDetail, error) {
	var p store.PersonDetail
	err := c.readTx(ctx, func(tx *sql.Tx) error {
		var attrs, hash []byte
		var status string
		var at Time
		var run sql.NullInt64
		err := tx.QueryRowContext(ctx, c.Q(`SELECT key, source, name, attrs, hash, status, trashed_at, trashed_run FROM persons WHERE tenant = ? AND key = ?`), tenant, key).
			Scan(&p.Key, &p.Source, &p.Name, &attrs, &hash, &status, &at, &run)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("person %q: %w", key, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		copy(p.Hash[:], hash)
		p.Trashed, p.TrashedAt, p.TrashedRun = status == "trashed", at.T, run.Int64
		if err := jsonCol(attrs, &p.Attrs); err != nil {
			return fmt.Errorf("person %q: stored attributes: %w", key, err)
		}
		p.Memberships, err = c.personMemberships(ctx, tx, tenant, key)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("read person %q of tenant %q: %w", key, tenant, err)
	}
	return &p, nil
}

// StoredGroup implements store.Objects.
func (c *Core) StoredGroup(ctx context.Context, tenant, key string) (*store.GroupDetail, error) {
	var g store.GroupDetail
	err := c.readTx(ctx, func(tx *sql.Tx) error {
		var types, parents, attrs, hash []byte
		var status string
		var at Time
		var run sql.NullInt64
		err := tx.QueryRowContext(ctx, c.Q(`SELECT key, source, name, types, parents, attrs, hash, status, is_course, template, archived_at, archived_run
FROM groups WHERE tenant = ? AND key = ?`), tenant, key).
			Scan(&g.Key, &g.Source, &g.Name, &types, &parents, &attrs, &hash, &status, &g.Course, &g.Template, &at, &run)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("group %q: %w", key, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		copy(g.Hash[:], hash)
		g.Archived, g.ArchivedAt, g.ArchivedRun = status == "archived", at.T, run.Int64
		if err := errors.Join(jsonCol(types, &g.Types), jsonCol(parents, &g.Parents), jsonCol(attrs, &g.Attrs)); err != nil {
			return fmt.Errorf("group %q: stored fields: %w", key, err)
		}
		g.Members, err = c.countMembersOf(ctx, tx, tenant, key)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("read group %q of tenant %q: %w", key, tenant, err)
	}
	return &g, nil
}

// GroupMembers implements store.Objects.
func (c *Core) GroupMembers(ctx context.Context, p store.MembersParams) ([]store.MembershipDetail, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultObjectLimit
	}
	out, err := c.groupMembers(ctx, c.db, p.Tenant, p.Group, p.After, limit)
	if err != nil {
		return nil, fmt.Errorf("members of group %q of tenant %q: %w", p.Group, p.Tenant, err)
	}
	return out, nil
}

// readTx runs f in one read snapshot.
func (c *Core) readTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	return f(tx)
}
