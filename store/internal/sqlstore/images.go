package sqlstore

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// Before-images: what undo needs of the rows a change set touched. They are read with
// SELECT * and written back by column name, so a column a later migration adds to a state
// table is kept and restored without touching this code; a new state table needs a line in
// undoTables (and its keys in planAbsent). The memberships' images are read and put back
// through the seam (memberships.go: membershipImageCols, membershipImages,
// restoreMemberships, hasMemberships, countMemberships), which keeps their columns' names.

// undoTable is a state table a plan changes, its rows keyed within a tenant by key columns.
type undoTable struct {
	name string
	key  []string
	// activeCol = activeVal makes a row count as active (the run counts' before and after):
	// an active person or group, a synced membership.
	activeCol, activeVal string
	typ                  record.Type
}

var undoTables = []undoTable{
	{"persons", []string{"key"}, "status", "active", record.Persons},
	{"groups", []string{"key"}, "status", "active", record.Groups},
	membershipUndo,
	{"relations", []string{"person_key", "related_key", "type"}, "", "", record.Relations},
}

// image is one row as it was: its key values and, unless there was no row, its columns.
type image struct {
	key  []string
	cols []string // shared by the images of one table and capture
	row  []any    // nil: there was no row
}

// images are the before-images of one change set: per table of undoTables, in that order.
type images [][]image

// absentKeys are the keys a plan touches in a table where the tenant has no rows yet (its
// first load): each one's before-image is "no row". They are encoded straight from the plan,
// each key once, without a slice per key, a map of joined keys and an image per key (which
// took more memory than the plan itself on an initial load).
type absentKeys struct {
	n   int
	key func(i int) [3]string // the key columns, as many as the table has
	// inServer: the n keys are already encoded (each once, each followed by the "no row"
	// byte), compressed as gzip streams of their own, and wait in the server (early inserts):
	// the encoding leaves a gap for them (encodeImagesWith).
	inServer bool
}

// planAbsent are the keys the plan touches in table ti of undoTables.
func planAbsent(p *change.Plan, ti int) *absentKeys {
	switch undoTables[ti].name {
	case "persons":
		return &absentKeys{n: len(p.Persons), key: func(i int) [3]string { return [3]string{p.Persons[i].Person.Key} }}
	case "groups":
		return &absentKeys{n: len(p.Groups), key: func(i int) [3]string { return [3]string{p.Groups[i].Group.Key} }}
	case "memberships":
		return &absentKeys{n: len(p.Memberships), key: func(i int) [3]string {
			k := &p.Memberships[i].Membership.MembershipKey
			return [3]string{k.Group, k.Member, k.Role}
		}}
	case "relations":
		return &absentKeys{n: len(p.Relations), key: func(i int) [3]string {
			k := &p.Relations[i].Relation.RelationKey
			return [3]string{k.Person, k.Related, k.Type}
		}}
	}
	return &absentKeys{}
}

// withKeys is a's keys followed by more.
func withKeys(a *absentKeys, more [][3]string) *absentKeys {
	if len(more) == 0 {
		return a
	}
	n, key := a.n, a.key
	return &absentKeys{n: n + len(more), key: func(i int) [3]string {
		if i < n {
			return key(i)
		}
		return more[i-n]
	}}
}

// firsts marks the first of each key (a plan may name a key twice) with an open-addressing
// table of entry numbers compared by key, and returns how many there are.
func (a *absentKeys) firsts() ([]bool, int) {
	first := make([]bool, a.n)
	size := 16
	for size < 2*a.n {
		size *= 2
	}
	table, mask := make([]int32, size), size-1
	seed := maphash.MakeSeed()
	n := 0
	for i := range a.n {
		k := a.key(i)
		const mix = 0x9E3779B97F4A7C15
		h := maphash.String(seed, k[0])
		h = h*mix ^ maphash.String(seed, k[1])
		h = h*mix ^ maphash.String(seed, k[2])
		j := int(h^h>>29) & mask
		for table[j] != 0 && a.key(int(table[j]-1)) != k {
			j = (j + 1) & mask
		}
		if table[j] == 0 {
			table[j] = int32(i + 1)
			first[i] = true
			n++
		}
	}
	return first, n
}

// trashedRelations lists the relations, either way, of the persons the plan trashes: the
// writers remove them all (PersonRelationsDelete), named in the plan or not.
func (c *Core) trashedRelations(ctx context.Context, q querier, tenant string, p *change.Plan) ([][3]string, error) {
	var trashed []string
	for _, x := range p.Persons {
		if x.Op == change.Delete {
			trashed = append(trashed, x.Person.Key)
		}
	}
	var out [][3]string
	for len(trashed) > 0 {
		n := min(keyChunk, len(trashed))
		part := trashed[:n]
		trashed = trashed[n:]
		list := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
		args := []any{tenant}
		for range 2 {
			for _, k := range part {
				args = append(args, k)
			}
		}
		rows, err := q.QueryContext(ctx, c.Q(`SELECT person_key, related_key, type FROM relations WHERE tenant = ? AND (person_key IN `+list+` OR related_key IN `+list+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("before-images of relations: %w", err)
		}
		for rows.Next() {
			var k [3]string
			if err := rows.Scan(&k[0], &k[1], &k[2]); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, k)
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lazyImages are the before-images of one table's keys, read fetchChunk keys at a time while
// they are encoded: only a chunk's rows are held, not the change set's (the images of a held
// plan of 500,000 changes, each row as a slice of values, took more memory than the plan).
type lazyImages struct {
	keys  *absentKeys // each encoded once, the first time it comes
	cols  []string    // the table's columns as SELECT * gives them, the tenant's left out
	fetch func(keys [][]string) (map[string][]any, error)
	chunk int // keys a fetch at most
}

// lazyTable reads table t's rows of the given keys within q, as capture does.
func (c *Core) lazyTable(ctx context.Context, q querier, tenant string, t undoTable, keys *absentKeys) (*lazyImages, error) {
	cols, fetch := c.tableCols, c.tableImages
	if t.typ == record.Memberships {
		cols = func(ctx context.Context, q querier, tenant string, _ undoTable) ([]string, error) {
			return c.membershipImageCols(ctx, q, tenant)
		}
		fetch = func(ctx context.Context, q querier, tenant string, _ undoTable, keys [][]string) (map[string][]any, error) {
			return c.membershipImages(ctx, q, tenant, keys)
		}
	}
	cs, err := cols(ctx, q, tenant, t)
	if err != nil {
		return nil, fmt.Errorf("before-images of %s: %w", t.name, err)
	}
	return &lazyImages{keys: keys, cols: cs, chunk: c.fetchChunk(), fetch: func(part [][]string) (map[string][]any, error) {
		return fetch(ctx, q, tenant, t, part)
	}}, nil
}

// tableCols are the columns of table t's rows as SELECT * gives them, the tenant's left out.
func (c *Core) tableCols(ctx context.Context, q querier, tenant string, t undoTable) ([]string, error) {
	rows, err := q.QueryContext(ctx, c.Q(`SELECT * FROM `+t.name+` WHERE tenant = ? AND 1 = 0`), tenant)
	if err != nil {
		return nil, err
	}
	return scanImages(rows, t, nil)
}

// tableImages reads tenant's rows of table t with the given keys, by joinKey.
func (c *Core) tableImages(ctx context.Context, q querier, tenant string, t undoTable, keys [][]string) (map[string][]any, error) {
	query, args := c.keyRows(false, t, tenant, keys)
	rows, err := q.QueryContext(ctx, c.Q(query), args...)
	if err != nil {
		return nil, err
	}
	found := make(map[string][]any, len(keys))
	_, err = scanImages(rows, t, found)
	return found, err
}

// hasRows reports whether tenant has a row in table t.
func (c *Core) hasRows(ctx context.Context, q querier, tenant string, t undoTable) (bool, error) {
	if t.typ == record.Memberships {
		return c.hasMemberships(ctx, q, tenant)
	}
	var one int
	err := q.QueryRowContext(ctx, c.Q(`SELECT 1 FROM `+t.name+` WHERE tenant = ? LIMIT 1`), tenant).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// countActive counts tenant's active rows of table t (all of them when t has no activeCol).
func (c *Core) countActive(ctx context.Context, q querier, tenant string, t undoTable) (int, error) {
	if t.typ == record.Memberships {
		return c.countMemberships(ctx, q, tenant, true)
	}
	query, args := `SELECT count(*) FROM `+t.name+` WHERE tenant = ?`, []any{tenant}
	if t.activeCol != "" {
		query, args = query+` AND `+t.activeCol+` = ?`, append(args, t.activeVal)
	}
	var n int
	err := q.QueryRowContext(ctx, c.Q(query), args...).Scan(&n)
	return n, err
}

// encode writes the table's images as encodeImagesWith writes a list of them.
func (l *lazyImages) encode(t undoTable, str func(string), uv func(uint64), write func(undoTable, []string, image) error) error {
	first, n := l.keys.firsts()
	str(t.name)
	uv(uint64(len(l.cols)))
	for _, c := range l.cols {
		str(c)
	}
	uv(uint64(len(t.key)))
	uv(uint64(n))
	part := make([][]string, 0, l.chunk)
	flush := func() error {
		if len(part) == 0 {
			return nil
		}
		found, err := l.fetch(part)
		if err != nil {
			return fmt.Errorf("before-images of %s: %w", t.name, err)
		}
		for _, k := range part {
			if err := write(t, l.cols, image{key: k, cols: l.cols, row: found[joinKey(k)]}); err != nil {
				return err
			}
		}
		part = part[:0]
		return nil
	}
	for i := range l.keys.n {
		if !first[i] {
			continue
		}
		k := l.keys.key(i)
		part = append(part, append([]string(nil), k[:len(t.key)]...))
		if len(part) == l.chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func joinKey(k []string) string { return strings.Join(k, "\x00") }

// keyChunk is how many keys one statement names.
const keyChunk = 300

// keyCond is "(tenant, key) IN (VALUES (?, ?), …)" or "(tenant, a, b, c) IN (VALUES (?, ?, ?, ?),
// …)" for n keys of one tenant (keyArgs). The tenant is in every row of the list, not a
// condition of its own: PostgreSQL plans "tenant = ? AND (a, b, c) IN (…)" by how many rows its
// statistics give the tenant, and for a tenant they do not know yet (loaded since the last
// ANALYZE, in a table of other tenants) that is one row: it then read all the tenant's rows
// for each key of the list (6.2 s a statement of 300 keys for a tenant of 78,360 memberships;
// 3.3 ms as one primary key lookup a key, which this form always is).
func keyCond(t undoTable, n int) string {
	one := "(?" + strings.Repeat(", ?", len(t.key)) + ")"
	return "(tenant, " + strings.Join(t.key, ", ") + ") IN (VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", n), ", ") + ")"
}

// keyArgs are keyCond's arguments: each key after the tenant.
func keyArgs(tenant string, keys [][]string) []any {
	var args []any
	for _, k := range keys {
		args = append(args, tenant)
		for _, v := range k {
			args = append(args, v)
		}
	}
	return args
}

// keyRows is the statement that reads (or, del, deletes) tenant's rows of table t with the
// given keys, and its arguments: keyCond's list on SQLite. PostgreSQL is sent the list as one
// array a column, the tenant's too, joined with the table: each key looked up by the primary
// key whatever the statistics say (the tenant is again in every row), in a statement of 4
// parameters instead of 1,200 to parse and plan, and of up to fetchChunk keys instead of
// keyChunk. Reading 734,962 memberships by key: 8.5-9.5 s as lists of 300, 3.5-4.4 s as arrays
// of 2,000 (both sides, one connection, lib/pq).
func (c *Core) keyRows(del bool, t undoTable, tenant string, keys [][]string) (string, []any) {
	if !c.d.Dollar {
		verb := "SELECT * FROM "
		if del {
			verb = "DELETE FROM "
		}
		return verb + t.name + " WHERE " + keyCond(t, len(keys)), keyArgs(tenant, keys)
	}
	cols := make([][]string, len(t.key)+1)
	for j := range cols {
		cols[j] = make([]string, 0, len(keys))
	}
	for _, k := range keys {
		cols[0] = append(cols[0], tenant)
		for j, v := range k {
			cols[j+1] = append(cols[j+1], v)
		}
	}
	args := make([]any, len(cols))
	arrays, names := make([]string, len(cols)), make([]string, len(cols))
	for j, col := range cols {
		args[j] = textArray(col)
		arrays[j], names[j] = "?::text[]", "k"+strconv.Itoa(j)
	}
	list := "unnest(" + strings.Join(arrays, ", ") + ") AS k(" + strings.Join(names, ", ") + ")"
	on := "(x.tenant, x." + strings.Join(t.key, ", x.") + ") = (k." + strings.Join(names, ", k.") + ")"
	if del {
		return "DELETE FROM " + t.name + " x USING " + list + " WHERE " + on, args
	}
	return "SELECT x.* FROM " + t.name + " x JOIN " + list + " ON " + on, args
}

// fetchChunk is how many keys one statement of keyRows reads.
func (c *Core) fetchChunk() int {
	if c.d.Dollar {
		return 2000
	}
	return keyChunk
}

// textArray is PostgreSQL's text form of a text[] of vals: each element quoted, a backslash or
// a double quote in it escaped with a backslash.
func textArray(vals []string) string {
	var b strings.Builder
	n := 2
	for _, v := range vals {
		n += len(v) + 3 + strings.Count(v, `"`) + strings.Count(v, `\`)
	}
	b.Grow(n)
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// scanImages reads rows of SELECT * into found by key, the tenant column left out, and
// returns the column names.
func scanImages(rows *sql.Rows, t undoTable, found map[string][]any) ([]string, error) {
	all, err := rows.Columns()
	if err != nil {
		rows.Close()
		return nil, err
	}
	var cols []string
	tenantAt := -1
	keyAt := make([]int, len(t.key))
	for i, c := range all {
		if c == "tenant" {
			tenantAt = i
			continue
		}
		cols = append(cols, c)
	}
	for j, k := range t.key {
		keyAt[j] = -1
		for i, c := range cols {
			if c == k {
				keyAt[j] = i
			}
		}
		if keyAt[j] < 0 {
			rows.Close()
			return nil, fmt.Errorf("no column %s", k)
		}
	}
	vals := make([]any, len(all))
	ptrs := make([]any, len(all))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, err
		}
		row := make([]any, 0, len(cols))
		for i, v := range vals {
			if i != tenantAt {
				row = append(row, v)
			}
		}
		k := make([]string, len(t.key))
		for j, at := range keyAt {
			k[j] = asString(row[at])
		}
		if found != nil {
			found[joinKey(k)] = row
		}
	}
	return cols, closeRows(rows)
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// The encoding of images: gzip over a magic line and, per table, its name, columns, key
// width and images; each value tagged with its type.
const imagesMagic = "imsfeed-undo 1\n"

const (
	tagNil byte = iota
	tagInt
	tagString
	tagBytes
	tagFalse
	tagTrue
	tagTime
	tagFloat
)

// imageGap is where the keys of a table in the server (early inserts) go in encoded images.
type imageGap struct {
	at    int // a byte offset
	table int // in undoTables
}

// encodeImagesWith encodes imgs, the tables in absent (when not nil there) as absentKeys:
// the same bytes as their images would be, and the tables in lazy (when not nil there) read
// as they are encoded. gaps, in order, are where the keys of the tables in absent that are in
// the server (early inserts) go.
func encodeImagesWith(imgs images, absent []*absentKeys, lazy []*lazyImages) (_ []byte, gaps []imageGap, _ error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w := bufio.NewWriter(zw)
	var tmp [binary.MaxVarintLen64]byte
	uv := func(x uint64) { w.Write(tmp[:binary.PutUvarint(tmp[:], x)]) }
	str := func(s string) { uv(uint64(len(s))); w.WriteString(s) }
	writeImage := func(t undoTable, cols []string, im image) error { return writeImageTo(w, t, cols, im) }
	w.WriteString(imagesMagic)
	uv(uint64(len(undoTables)))
	for ti, t := range undoTables {
		if absent != nil && absent[ti] != nil {
			a := absent[ti]
			str(t.name)
			uv(0) // no columns: no image has a row
			uv(uint64(len(t.key)))
			if a.inServer {
				// gzip streams one after the other read as one (decodeImages): the keys'
				// streams go between this one and the next.
				uv(uint64(a.n))
				if err := w.Flush(); err != nil {
					return nil, nil, err
				}
				if err := zw.Close(); err != nil {
					return nil, nil, err
				}
				gaps = append(gaps, imageGap{at: buf.Len(), table: ti})
				zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
				w.Reset(zw)
				continue
			}
			first, n := a.firsts()
			uv(uint64(n))
			for i := range a.n {
				if !first[i] {
					continue
				}
				k := a.key(i)
				for _, v := range k[:len(t.key)] {
					str(v)
				}
				w.WriteByte(0)
			}
			continue
		}
		if lazy != nil && lazy[ti] != nil {
			if err := lazy[ti].encode(t, str, uv, writeImage); err != nil {
				return nil, nil, err
			}
			continue
		}
		list := imgs[ti]
		str(t.name)
		var cols []string
		for _, im := range list {
			if im.cols != nil {
				cols = im.cols
				break
			}
		}
		uv(uint64(len(cols)))
		for _, c := range cols {
			str(c)
		}
		uv(uint64(len(t.key)))
		uv(uint64(len(list)))
		for _, im := range list {
			if err := writeImage(t, cols, im); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := w.Flush(); err != nil {
		return nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), gaps, nil
}

// writeImageTo writes one image as encodeImagesWith does.
func writeImageTo(w *bufio.Writer, t undoTable, cols []string, im image) error {
	var tmp [binary.MaxVarintLen64]byte
	uv := func(x uint64) { w.Write(tmp[:binary.PutUvarint(tmp[:], x)]) }
	str := func(s string) { uv(uint64(len(s))); w.WriteString(s) }
	for _, k := range im.key {
		str(k)
	}
	if im.row == nil {
		return w.WriteByte(0)
	}
	if len(im.row) != len(cols) {
		return fmt.Errorf("before-image of %s %q: %d values for %d columns", t.name, joinKey(im.key), len(im.row), len(cols))
	}
	w.WriteByte(1)
	for _, v := range im.row {
		switch x := v.(type) {
		case nil:
			w.WriteByte(tagNil)
		case int64:
			w.WriteByte(tagInt)
			w.Write(tmp[:binary.PutVarint(tmp[:], x)])
		case string:
			w.WriteByte(tagString)
			str(x)
		case []byte:
			w.WriteByte(tagBytes)
			str(string(x))
		case bool:
			if x {
				w.WriteByte(tagTrue)
			} else {
				w.WriteByte(tagFalse)
			}
		case time.Time:
			w.WriteByte(tagTime)
			w.Write(tmp[:binary.PutVarint(tmp[:], x.UnixMicro())])
		case float64:
			w.WriteByte(tagFloat)
			uv(math.Float64bits(x))
		default:
			return fmt.Errorf("before-image of %s %q: cannot keep a %T", t.name, joinKey(im.key), v)
		}
	}
	return nil
}

// imageDecoder reads the encoding of images (encodeImagesWith, pieceImages) as it comes: a
// table's header, then its images one at a time, so no more than one image is held.
type imageDecoder struct {
	r   *bufio.Reader
	err error // the first error
}

func (d *imageDecoder) uv() uint64 {
	x, e := binary.ReadUvarint(d.r)
	if e != nil && d.err == nil {
		d.err = e
	}
	return x
}

func (d *imageDecoder) str() string {
	n := d.uv()
	if d.err != nil || n > 1<<30 {
		if d.err == nil {
			d.err = errors.New("a value too long")
		}
		return ""
	}
	b := make([]byte, n)
	if _, e := io.ReadFull(d.r, b); e != nil && d.err == nil {
		d.err = e
	}
	return string(b)
}

// row reads what writeImageTo writes after an image's key: its row of len(cols) values, or
// nil when there was none.
func (d *imageDecoder) row(cols []string) []any {
	present, e := d.r.ReadByte()
	if e != nil || present != 1 {
		if e != nil && d.err == nil {
			d.err = e
		}
		return nil
	}
	row := make([]any, len(cols))
	for j := range row {
		tag, e := d.r.ReadByte()
		if e != nil {
			if d.err == nil {
				d.err = e
			}
			return nil
		}
		switch tag {
		case tagNil:
		case tagInt:
			x, e := binary.ReadVarint(d.r)
			if e != nil && d.err == nil {
				d.err = e
			}
			row[j] = x
		case tagString:
			row[j] = d.str()
		case tagBytes:
			row[j] = []byte(d.str())
		case tagFalse:
			row[j] = false
		case tagTrue:
			row[j] = true
		case tagTime:
			x, e := binary.ReadVarint(d.r)
			if e != nil && d.err == nil {
				d.err = e
			}
			row[j] = time.UnixMicro(x).UTC()
		case tagFloat:
			row[j] = math.Float64frombits(d.uv())
		default:
			if d.err == nil {
				d.err = fmt.Errorf("unknown value tag %d", tag)
			}
			return nil
		}
	}
	return row
}

// eachImage reads the encoded images from r (gzip streams one after the other, as
// encodeImagesWith and pieceImages write them) and gives each in turn with its table (in
// undoTables); each image is its own.
func eachImage(r io.Reader, each func(ti int, im image) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("stored before-images: %w", err)
	}
	var failed error // each's, returned as it is
	err = decodeEach(bufio.NewReader(zr), func(ti int, im image) error {
		failed = each(ti, im)
		return failed
	})
	if failed != nil {
		return failed
	}
	if err != nil {
		return fmt.Errorf("stored before-images: %w", err)
	}
	return nil
}

func decodeEach(r *bufio.Reader, each func(ti int, im image) error) error {
	magic := make([]byte, len(imagesMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != imagesMagic {
		return errors.New("not imsfeed's undo encoding")
	}
	d := &imageDecoder{r: r}
	nt := d.uv()
	if d.err != nil {
		return d.err
	}
	for range nt {
		name := d.str()
		ti := -1
		for i, t := range undoTables {
			if t.name == name {
				ti = i
			}
		}
		cols := make([]string, d.uv())
		for i := range cols {
			cols[i] = d.str()
		}
		width := d.uv()
		n := d.uv()
		if d.err != nil {
			return d.err
		}
		if ti < 0 {
			return fmt.Errorf("unknown table %q", name)
		}
		if int(width) != len(undoTables[ti].key) {
			return fmt.Errorf("table %s: keys of %d columns", name, width)
		}
		for range n {
			im := image{key: make([]string, width), cols: cols}
			for j := range im.key {
				im.key[j] = d.str()
			}
			im.row = d.row(cols)
			if d.err != nil {
				return d.err
			}
			if err := each(ti, im); err != nil {
				return err
			}
		}
	}
	return d.err
}
