package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/store"
)

// The compact state index (issue 18). What the diff needs of a tenant's persons (key, content
// hash, trashed, name) is kept packed in at most hashBuckets rows of bytes beside the rows
// themselves, so an import reads a few thousand values instead of every person's row. Groups
// are few and carry their parents: they are always read from their rows. Memberships are
// already kept packed (membership_packs, about 20 bytes a membership): the diff reads them from
// there, so the index no longer keeps them too (it did until migration 0029, in buckets
// hashBuckets..indexBuckets-1, which that migration deleted; those numbers stay unused).
//
// Every write that goes through Apply or LiveApply updates the buckets it touches in the same
// transaction, mirroring what its statements do to the persons' rows; so do the trash and
// archive commands. tenants.index_version is the state version the index
// describes. A loader trusts the index only when it equals state_version: a writer that does
// not know the index (a future one) moves state_version alone and so makes the index stale,
// never wrong; the next import then reads the rows and rebuilds it. CheckIndex compares the
// index with the rows and can rebuild it (`imsfeed check`).

// hashBuckets is how many buckets persons spread over by their key: 0..4095. A bucket of a
// 150,000-person tenant holds about 37 persons, so a live request that creates a hundred
// persons rewrites a hundred small buckets, not a third of the index. Changing the layout
// needs a new indexFormat.
const hashBuckets = 4096

// indexBuckets is where the pending buckets start (pending.go); the numbers from hashBuckets
// up to it were the memberships' (see above).
const indexBuckets = 2 * hashBuckets

// indexFormat is the first byte of every bucket. A bucket of another format is unreadable:
// the index is then stale and rebuilt from the rows. (Format 3 has a count and a section of
// memberships after the persons; both are always empty now.)
const indexFormat = 3

func hashOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % hashBuckets)
}

// personBucket is the bucket of a person's key.
func personBucket(key string) int { return hashOf(key) }

// bucket is one decoded bucket: the persons whose keys fall in it.
type bucket struct {
	persons map[string]change.PersonState
}

func newBucket() *bucket {
	return &bucket{persons: map[string]change.PersonState{}}
}

// buckets are some of a tenant's buckets by number, with the ones an edit changed.
type buckets struct {
	m     map[int]*bucket
	dirty map[int]bool
}

func (bs *buckets) at(n int) *bucket {
	b, ok := bs.m[n]
	if !ok {
		b = newBucket()
		bs.m[n] = b
	}
	bs.dirty[n] = true
	return b
}

func (bs *buckets) person(key string) *bucket { return bs.at(personBucket(key)) }

// flagTrashed is the flag bit of a trashed person's entry.
const flagTrashed = 1

// encode writes a bucket in key order, so equal contents are equal bytes.
func (b *bucket) encode() []byte {
	var out []byte
	out = append(out, indexFormat)
	out = binary.AppendUvarint(out, uint64(len(b.persons)))
	out = binary.AppendUvarint(out, 0) // no memberships
	keys := make([]string, 0, len(b.persons))
	for k := range b.persons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := b.persons[k]
		out = appendString(out, k)
		out = appendString(out, p.Name)
		out = append(out, p.Hash[:]...)
		var f byte
		if p.Trashed {
			f |= flagTrashed
		}
		out = append(out, f)
	}
	return binary.AppendUvarint(out, 0) // no memberships' groups
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// indexDecoder reads buckets. intern shares key strings between the persons' keys and the
// memberships that name them (read later, from their packs), as LoadState does with rows.
type indexDecoder struct {
	data   []byte
	err    error
	intern map[string]string
}

var errIndexFormat = errors.New("stored state index: unreadable bucket")

func (d *indexDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data)
	if n <= 0 {
		d.err = errIndexFormat
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *indexDecoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if uint64(len(d.data)) < n {
		d.err = errIndexFormat
		return nil
	}
	b := d.data[:n:n]
	d.data = d.data[n:]
	return b
}

func (d *indexDecoder) str() string {
	b := d.bytes(d.uvarint())
	if d.intern == nil {
		return string(b)
	}
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	d.intern[s] = s
	return s
}

// decode reads one bucket's bytes and hands each entry to person. A membership in it is
// damage: none is written since migration 0029.
func (d *indexDecoder) decode(data []byte, person func(string, change.PersonState)) error {
	if len(data) == 0 || data[0] != indexFormat {
		return errIndexFormat
	}
	d.data, d.err = data[1:], nil
	persons := d.uvarint()
	if d.uvarint() != 0 {
		return errIndexFormat
	}
	for n := persons; n > 0 && d.err == nil; n-- {
		key := d.str()
		var p change.PersonState
		p.Name = d.str()
		copy(p.Hash[:], d.bytes(16))
		f := d.bytes(1)
		if d.err != nil {
			break
		}
		p.Trashed = f[0]&flagTrashed != 0
		person(key, p)
	}
	if groups := d.uvarint(); d.err == nil && groups != 0 {
		d.err = errIndexFormat
	}
	if d.err == nil && len(d.data) != 0 {
		d.err = errIndexFormat
	}
	return d.err
}

// count reads how many persons a bucket holds from its header (its first bytes are enough).
func (d *indexDecoder) count(data []byte) (persons int, err error) {
	if len(data) == 0 || data[0] != indexFormat {
		return 0, errIndexFormat
	}
	d.data, d.err = data[1:], nil
	p, m := d.uvarint(), d.uvarint()
	// Each entry takes at least 18 bytes: a count beyond what a bucket could hold is damage.
	if d.err != nil || p > 1<<28 || m != 0 {
		return 0, errIndexFormat
	}
	return int(p), nil
}

func decodeBucket(data []byte) (*bucket, error) {
	// Its maps made at the size its header gives (grown from empty, they were 372 MB of the
	// 3.4 GB a broken night of the 316.8 MB feed allocated), never beyond what its bytes could
	// hold (a damaged header).
	d := indexDecoder{}
	persons, err := d.count(data)
	if err != nil {
		return nil, err
	}
	b := &bucket{persons: make(map[string]change.PersonState, min(persons, len(data)/18))}
	err = d.decode(data, func(k string, p change.PersonState) { b.persons[k] = p })
	return b, err
}

// indexVersion returns the tenant's state version and the one its index describes (-1: none,
// also for a tenant without a row; a new tenant's row starts with an empty, current index).
func (c *Core) indexVersion(ctx context.Context, q querier, tenant string) (state, index int64, err error) {
	err = q.QueryRowContext(ctx, c.Q(`SELECT state_version, index_version FROM tenants WHERE id = ?`), tenant).Scan(&state, &index)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, -1, nil
	}
	return state, index, err
}

// loadBuckets reads the given buckets of a tenant's index (all of them when nums is nil),
// without the pending ones (pending.go).
func (c *Core) loadBuckets(ctx context.Context, q querier, tenant string, nums map[int]bool) (*buckets, error) {
	bs := &buckets{m: map[int]*bucket{}, dirty: map[int]bool{}}
	// The persons' buckets only: not the memberships' an older imsfeed may have left (4096 up), which
	// would read as damage and make the index stale.
	query, args := `SELECT bucket, data FROM state_index WHERE tenant = ? AND bucket < ?`, []any{tenant, hashBuckets}
	if nums != nil && len(nums) < hashBuckets/4 {
		if len(nums) == 0 {
			return bs, nil
		}
		ph := make([]string, 0, len(nums))
		for n := range nums {
			ph = append(ph, "?")
			args = append(args, n)
		}
		query += ` AND bucket IN (` + strings.Join(ph, ", ") + `)`
	}
	rows, err := q.QueryContext(ctx, c.Q(query), args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n int
		var data sql.RawBytes
		if err := rows.Scan(&n, &data); err != nil {
			rows.Close()
			return nil, err
		}
		if nums != nil && !nums[n] {
			continue
		}
		b, err := decodeBucket(data)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("bucket %d: %w", n, err)
		}
		bs.m[n] = b
	}
	return bs, closeRows(rows)
}

// writeBuckets stores the buckets an edit changed; an empty one is deleted. A few statements
// for all of them, not two per bucket: a live request that creates a hundred persons touches
// dozens of buckets.
func (c *Core) writeBuckets(ctx context.Context, tx *sql.Tx, tenant string, bs *buckets) error {
	var gone []any
	var put []any
	flush := func() error {
		if len(put) == 0 {
			return nil
		}
		q := `INSERT INTO state_index (tenant, bucket, data) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(put)/3), ", ") +
			` ON CONFLICT (tenant, bucket) DO UPDATE SET data = excluded.data`
		_, err := tx.ExecContext(ctx, c.Q(q), put...)
		put = put[:0]
		return err
	}
	for n := range bs.dirty {
		b := bs.m[n]
		if len(b.persons) == 0 {
			gone = append(gone, n)
			continue
		}
		put = append(put, tenant, n, b.encode())
		if len(put) == 3*64 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if len(gone) > 0 {
		q := `DELETE FROM state_index WHERE tenant = ? AND bucket IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(gone)), ", ") + `)`
		if _, err := tx.ExecContext(ctx, c.Q(q), append([]any{tenant}, gone...)...); err != nil {
			return err
		}
	}
	return nil
}

// editIndex carries the tenant's index from state version from to to inside tx: edit changes
// the loaded buckets (nums: the ones it touches) as the transaction changed the rows. An index
// that did not describe version from stays as it is: stale, and so unused.
func (c *Core) editIndex(ctx context.Context, tx *sql.Tx, tenant string, from, to int64, nums map[int]bool, edit func(*buckets)) error {
	_, iv, err := c.indexVersion(ctx, tx, tenant)
	if err != nil || iv != from {
		return err
	}
	_, err = c.editBuckets(ctx, tx, tenant, from, to, nums, edit)
	return err
}

// editBuckets is editIndex on an index known to describe version from; it folds the pending
// entries into their buckets first. A damaged bucket marks the index stale (nobody reads it
// then; a night's apply rebuilds it) and returns false.
func (c *Core) editBuckets(ctx context.Context, tx *sql.Tx, tenant string, from, to int64, nums map[int]bool, edit func(*buckets)) (bool, error) {
	pn, pend, err := c.loadPending(ctx, tx, tenant)
	var bs *buckets
	if err == nil {
		bs, err = c.loadBuckets(ctx, tx, tenant, pendingBuckets(nums, pend))
	}
	if err == nil {
		foldPending(bs, pn, pend)
	}
	if errors.Is(err, errIndexFormat) {
		_, err = tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = -1 WHERE id = ?`), tenant)
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("state index: %w", err)
	}
	if edit != nil {
		edit(bs)
	}
	if err := c.writeBuckets(ctx, tx, tenant, bs); err != nil {
		return false, fmt.Errorf("state index: %w", err)
	}
	if from != to {
		_, err = tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = ? WHERE id = ?`), to, tenant)
	}
	return err == nil, err
}

// planBuckets are the buckets a plan's persons fall in.
func planBuckets(p *change.Plan) map[int]bool {
	nums := map[int]bool{}
	for i := range p.Persons {
		nums[personBucket(p.Persons[i].Person.Key)] = true
		if len(nums) == hashBuckets {
			return nil
		}
	}
	return nums
}

// indexPlan does to the buckets what RowWriter (and the PostgreSQL set-based writer) does to
// the persons' rows, in the same order (to buckets, or to the edits kept for them: edits.go).
func indexPlan(bs indexEditor, p *change.Plan) {
	for _, x := range p.Persons {
		if x.Op != change.Delete {
			r := &x.Person
			bs.setPerson(r.Key, change.PersonState{Hash: r.Hash, Name: r.Name})
		}
	}
	for _, x := range p.Persons {
		if x.Op == change.Delete {
			bs.trash(x.Person.Key)
		}
	}
}

// indexEditor is what indexPlan does to a tenant's index.
type indexEditor interface {
	setPerson(key string, st change.PersonState)
	trash(key string)
}

// setPerson writes a person's entry (an upsert's: not trashed).
func (bs *buckets) setPerson(key string, st change.PersonState) { bs.person(key).persons[key] = st }

// trash marks a person's entry trashed.
func (bs *buckets) trash(key string) {
	b := bs.person(key)
	if st, ok := b.persons[key]; ok && !st.Trashed {
		st.Trashed = true
		b.persons[key] = st
	}
}

// indexApply carries the index through a plan written in tx at version v (now v+1). A stale
// index is rebuilt from the rows when rebuild is set (a night's import: it read every row
// anyway), else left stale (a live request must stay cheap). A live request's created and
// replaced persons go to a pending bucket (pending.go).
func (c *Core) indexApply(ctx context.Context, tx *sql.Tx, tenant string, p *change.Plan, v int64, rebuild bool) error {
	_, err := c.indexApplied(ctx, tx, tenant, p, v, rebuild)
	return err
}

// indexEarly is indexApply for a plan whose memberships were written early (e): the persons'
// entries as indexApply writes them (unless they were written early too), the early ones'
// buckets (the tenant had none) as e encoded them while copying. An index rebuilt from the rows has them already.
func (c *Core) indexEarly(ctx context.Context, tx *sql.Tx, tenant string, p *change.Plan, v int64, e *early) error {
	rest := *p
	rest.Memberships, rest.Early = nil, change.PerType{}
	if e.wrotePersons() {
		rest.Persons = nil
	}
	rebuilt, err := c.indexApplied(ctx, tx, tenant, &rest, v, true)
	if err != nil || rebuilt {
		return err
	}
	_, iv, err := c.indexVersion(ctx, tx, tenant)
	if err != nil || iv != v+1 {
		return err
	}
	return c.writeEarlyBuckets(ctx, tx, tenant, e)
}

// indexApplied is indexApply; it also says whether it rebuilt the index from the rows.
func (c *Core) indexApplied(ctx context.Context, tx *sql.Tx, tenant string, p *change.Plan, v int64, rebuild bool) (bool, error) {
	_, iv, err := c.indexVersion(ctx, tx, tenant)
	if err != nil {
		return false, err
	}
	if iv == v && len(p.Persons) == 0 {
		// No entry changes (the index keeps persons only): it describes the new version as it
		// is. (A live membership change read the pending buckets and more for nothing.)
		_, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = ? WHERE id = ?`), v+1, tenant)
		return false, err
	}
	if iv == v && insertsOnly(p) {
		// Whether the index is empty, not how large: a count read every bucket of the tenant
		// and made each live createPersons cost more the larger the tenant.
		var n int
		err := tx.QueryRowContext(ctx, c.Q(`SELECT 1 FROM state_index WHERE tenant = ? LIMIT 1`), tenant).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return false, c.writeInserts(ctx, tx, tenant, p, v+1)
		}
		if err != nil {
			return false, err
		}
	}
	if iv == v && pendable(p) {
		// A live request's persons, and a night's few: a pending bucket (pending.go).
		maxEntries := -1
		if rebuild {
			maxEntries = nightPending(p)
		}
		ok, err := c.pendPersons(ctx, tx, tenant, p, v, maxEntries)
		if err != nil || ok {
			return false, err
		}
	}
	if iv == v {
		ok, err := c.editBuckets(ctx, tx, tenant, v, v+1, planBuckets(p), func(bs *buckets) { indexPlan(bs, p) })
		if err != nil || ok {
			return false, err
		}
	}
	if !rebuild {
		return false, nil
	}
	return true, c.rebuildIndex(ctx, tx, tenant, v+1)
}

// maxExamples is how many differing keys a report names.
const maxExamples = 10

// compareIndex counts and names, entry by entry, where the buckets got (the stored index) differ
// from want (built from the rows). An entry stored in the wrong bucket is counted by
// checkDigests, which reads every bucket.
func compareIndex(r *store.IndexReport, want, got *buckets) {
	example := func(kind, key, what string) {
		if len(r.Examples) < maxExamples {
			r.Examples = append(r.Examples, fmt.Sprintf("%s %s: %s", kind, key, what))
		}
	}
	all := func(bs *buckets) map[string]change.PersonState {
		ps := map[string]change.PersonState{}
		for _, b := range bs.m {
			for k, p := range b.persons {
				ps[k] = p
			}
		}
		return ps
	}
	wp, gp := all(want), all(got)
	for _, k := range sortedKeys(wp) {
		g, ok := gp[k]
		switch {
		case !ok:
			r.Missing++
			example("person", k, "missing from the index")
		case g != wp[k]:
			r.Different++
			example("person", k, "differs")
		}
	}
	for _, k := range sortedKeys(gp) {
		if _, ok := wp[k]; !ok {
			r.Extra++
			example("person", k, "in the index, not in the rows")
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// insertsOnly reports whether a plan only inserts persons (its memberships are not the
// index's).
func insertsOnly(p *change.Plan) bool {
	for i := range p.Persons {
		if p.Persons[i].Op != change.Insert {
			return false
		}
	}
	return true
}

// writeInserts stores the index of a tenant whose index was empty and whose plan only inserts
// persons (an initial load): each bucket is encoded straight from the plan, with no maps and
// no sorting, so the largest apply there is pays little for its index. Entries are in plan
// order; a key the plan repeats is decoded last-wins, as the upserts wrote it.
func (c *Core) writeInserts(ctx context.Context, tx *sql.Tx, tenant string, p *change.Plan, version int64) error {
	var persons [hashBuckets][]int32
	for i := range p.Persons {
		b := hashOf(p.Persons[i].Person.Key)
		persons[b] = append(persons[b], int32(i))
	}
	// 64 buckets a statement: one round trip per bucket made the index a third of an initial
	// load's apply on a small tenant.
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		q := `INSERT INTO state_index (tenant, bucket, data) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(batch)/3), ", ")
		_, err := tx.ExecContext(ctx, c.Q(q), batch...)
		batch = batch[:0]
		return err
	}
	put := func(n int, data []byte) error {
		batch = append(batch, tenant, n, data)
		if len(batch) == 3*64 {
			return flush()
		}
		return nil
	}
	var out []byte
	for _, list := range persons {
		if len(list) == 0 {
			continue
		}
		out = []byte{indexFormat} // a new buffer: the batch holds the last one until its flush
		out = binary.AppendUvarint(out, uint64(len(list)))
		out = binary.AppendUvarint(out, 0)
		for _, i := range list {
			r := &p.Persons[i].Person
			out = appendString(out, r.Key)
			out = appendString(out, r.Name)
			out = append(out, r.Hash[:]...)
			out = append(out, 0)
		}
		out = binary.AppendUvarint(out, 0)
		if err := put(personBucket(p.Persons[list[0]].Person.Key), out); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = ? WHERE id = ?`), version, tenant)
	return err
}
