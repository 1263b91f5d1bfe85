package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"unicode/utf8"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// JSON encodes a stored JSON column: nil (SQL NULL) for an empty value, so the common case
// costs nothing.
func JSON[T any](v []T) any {
	if len(v) == 0 {
		return nil
	}
	if a, ok := any(v).([]record.Attr); ok {
		return attrsJSON(a)
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings always marshal
	}
	return string(b)
}

// attrsJSON is json.Marshal(a), written without reflection: an initial load writes 150,000
// persons' attributes, and json.Marshal took about a quarter of the copy's CPU.
func attrsJSON(a []record.Attr) string {
	n := 2
	for _, x := range a {
		n += len(x.Name) + len(x.Value) + 14
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, x := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"n":`...)
		b = appendJSONString(b, x.Name)
		b = append(b, `,"v":`...)
		b = appendJSONString(b, x.Value)
		b = append(b, '}')
	}
	b = append(b, ']')
	return string(b)
}

// appendJSONString appends s as encoding/json writes a string: quoted as it is when nothing in
// it is escaped (no control character, quote, backslash, <, > or &, no invalid UTF-8, no U+2028
// or U+2029), else by json.Marshal itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return appendMarshalled(b, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			return appendMarshalled(b, s)
		}
		i += size
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendMarshalled(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return append(b, q...)
}

// MemberType is the stored member type: a person unless the record says group.
func MemberType(t record.MemberType) int64 {
	if t == record.MemberGroup {
		return 2
	}
	return 1
}

// The statements a plan is written with, row by row (SQLite) or set-wise from a temporary
// table (PostgreSQL uses its own set-based forms, in the same order). The memberships' are the
// seam's (memberships.go).
const (
	PersonUpsert = `INSERT INTO persons (tenant, key, source, name, attrs, hash, status, trashed_at, trashed_run)
VALUES (?, ?, ?, ?, ?, ?, 'active', NULL, NULL)
ON CONFLICT (tenant, key) DO UPDATE SET source = excluded.source, name = excluded.name,
  attrs = excluded.attrs, hash = excluded.hash, status = 'active', trashed_at = NULL, trashed_run = NULL`
	PersonTrash = `UPDATE persons SET status = 'trashed', trashed_at = ?, trashed_run = ?
WHERE tenant = ? AND key = ? AND status = 'active'`
	// A group update keeps the group's status: an archived course stays archived.
	// The template is set when the course is created only.
	GroupUpsert = `INSERT INTO groups (tenant, key, source, name, types, parents, attrs, hash, is_course, template)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, key) DO UPDATE SET source = excluded.source, name = excluded.name,
  types = excluded.types, parents = excluded.parents, attrs = excluded.attrs, hash = excluded.hash,
  is_course = excluded.is_course`
	GroupDelete = `DELETE FROM groups WHERE tenant = ? AND key = ?`
	// An archived course is left under the tenant's archive node (the plan's parents), or none.
	GroupArchive = `UPDATE groups SET status = 'archived', archived_at = ?, archived_run = ?, parents = ?
WHERE tenant = ? AND key = ? AND status = 'active'`
	RelationUpsert = `INSERT INTO relations (tenant, person_key, related_key, type, attrs, hash)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, person_key, related_key, type) DO UPDATE SET attrs = excluded.attrs, hash = excluded.hash`
	RelationDelete = `DELETE FROM relations WHERE tenant = ? AND person_key = ? AND related_key = ? AND type = ?`
	// A trashed person has no relations, either way: the diff removes them (counted), and this
	// makes sure of it for a plan that did not know them (a live request's).
	PersonRelationsDelete = `DELETE FROM relations WHERE tenant = ? AND (person_key = ? OR related_key = ?)`
)

// ZeroHash is the hash of a membership the platform made (AddManualMembership): the import
// never takes it over. Manual memberships with another hash were the feed's.
var ZeroHash record.Hash

// RowWriter is a Dialect.WritePlan that writes row by row with prepared statements, in the
// order that keeps references sensible: group upserts, person upserts, membership removals,
// membership upserts, relation removals and upserts, group removals and archivals, person
// trashings (with any relation left to the person).
func RowWriter(dollar bool) func(ctx context.Context, tx *sql.Tx, w *Write) error {
	return func(ctx context.Context, tx *sql.Tx, w *Write) error {
		rw := rowWriter{ctx: ctx, tx: tx, dollar: dollar, w: w}
		defer rw.close()
		t, p := w.Tenant, w.Plan
		for _, x := range p.Groups {
			if x.Op == change.Insert || x.Op == change.Update {
				g := &x.Group
				if err := rw.exec(GroupUpsert, t, g.Key, g.Source, g.Name, JSON(g.Types), JSON(g.Parents), JSON(g.Attrs), g.Hash[:], x.Course, g.Template); err != nil {
					return recordErr("group", g.Key, err)
				}
			}
		}
		for _, x := range p.Persons {
			if x.Op != change.Delete {
				r := &x.Person
				if err := rw.exec(PersonUpsert, t, r.Key, r.Source, r.Name, JSON(r.Attrs), r.Hash[:]); err != nil {
					return recordErr("person", r.Key, err)
				}
			}
		}
		memberships := p.Memberships
		if w.Early {
			memberships = nil // in their table already (EarlyInserts): the plan lists some
		}
		if err := rowMemberships(&rw, t, memberships); err != nil {
			return err
		}
		if err := writeRelations(rw.exec, t, p.Relations); err != nil {
			return err
		}
		for _, x := range p.Groups {
			var err error
			switch x.Op {
			case change.Delete:
				err = rw.exec(GroupDelete, t, x.Group.Key)
			case change.Archive:
				err = rw.exec(GroupArchive, w.Now, w.RunID, JSON(x.Group.Parents), t, x.Group.Key)
			}
			if err != nil {
				return recordErr("group", x.Group.Key, err)
			}
		}
		for _, x := range p.Persons {
			if x.Op == change.Delete {
				if err := rw.exec(PersonTrash, w.Now, w.RunID, t, x.Person.Key); err != nil {
					return recordErr("person", x.Person.Key, err)
				}
				if err := rw.execQuiet(PersonRelationsDelete, t, x.Person.Key, x.Person.Key); err != nil {
					return recordErr("person", x.Person.Key, err)
				}
			}
		}
		return nil
	}
}

type rowWriter struct {
	ctx    context.Context
	tx     *sql.Tx
	dollar bool
	stmts  map[string]*sql.Stmt
	w      *Write
}

// writeRelations writes a plan's relation changes, removals first.
func writeRelations(exec func(string, ...any) error, tenant string, rs []change.Relation) error {
	for _, x := range rs {
		if k := x.Relation.RelationKey; x.Op == change.Delete {
			if err := exec(RelationDelete, tenant, k.Person, k.Related, k.Type); err != nil {
				return recordErr("relation", k.String(), err)
			}
		}
	}
	for _, x := range rs {
		if r := &x.Relation; x.Op == change.Insert || x.Op == change.Update {
			if err := exec(RelationUpsert, tenant, r.Person, r.Related, r.Type, JSON(r.Attrs), r.Hash[:]); err != nil {
				return recordErr("relation", r.RelationKey.String(), err)
			}
		}
	}
	return nil
}

func (w *rowWriter) exec(query string, args ...any) error {
	err := w.execQuiet(query, args...)
	w.w.Wrote()
	return err
}

// execQuiet is exec for a statement that is not a change of the plan (not counted as written).
func (w *rowWriter) execQuiet(query string, args ...any) error {
	st, ok := w.stmts[query]
	if !ok {
		var err error
		if st, err = w.tx.PrepareContext(w.ctx, Rebind(w.dollar, query)); err != nil {
			return err
		}
		if w.stmts == nil {
			w.stmts = map[string]*sql.Stmt{}
		}
		w.stmts[query] = st
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	// SQLite: a statement of the write transaction never waits for a lock (BEGIN IMMEDIATE
	// took it), and modernc.org/sqlite starts a goroutine per statement to watch a context
	// that can be cancelled (about a tenth of an initial load's apply, which runs a statement
	// per row): the context is checked above instead, between statements.
	ctx := w.ctx
	if !w.dollar {
		ctx = context.WithoutCancel(ctx)
	}
	_, err := st.ExecContext(ctx, args...)
	return err
}

func (w *rowWriter) close() {
	for _, st := range w.stmts {
		_ = st.Close()
	}
}

type recordError struct {
	kind, key string
	err       error
}

func (e *recordError) Error() string { return e.kind + " " + quote(e.key) + ": " + e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// recordErr names the record a database error happened on.
func recordErr(kind, key string, err error) error { return &recordError{kind, key, err} }
