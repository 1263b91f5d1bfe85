package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/packs"
)

// LoadState implements store.Store: LoadStateStaged's two stages, one after the other.
func (c *Core) LoadState(ctx context.Context, tenant string) (*change.State, error) {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	st, rl, err := c.loadFront(ctx, tx, tenant, true, nil)
	if err != nil {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	if st.Groups, st.Memberships, err = rl.load(ctx, tx); err != nil {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	return st, nil
}

// LoadStateStaged implements store.StagedLoader. Both stages read in one read transaction
// (one snapshot): the first (version, persons, relations) before it returns; then the same
// transaction goes to a goroutine of its own that reads the groups. When the tenant has
// memberships they are a source (memberStream) read from their packs in that transaction at
// the diff's end, and Close ends it; when the state index is current the persons are a
// change.PersonIndex whose source (personStream) reads them again there. The transaction is used by one
// goroutine at a time: the first stage is done when the second starts, and the second when
// Wait returns; the sources take turns (readTx).
func (c *Core) LoadStateStaged(ctx context.Context, tenant string) (*change.State, store.RestLoad, error) {
	lctx, cancel := context.WithCancel(ctx)
	tx, err := c.db.BeginTx(lctx, c.d.ReadTx)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	rt := &readTx{c: c, ctx: lctx, tx: tx, tenant: tenant}
	st, rl, err := c.loadFront(lctx, tx, tenant, true, rt)
	if err != nil {
		tx.Rollback() //nolint:errcheck // read-only
		cancel()
		return nil, nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	l := &stagedLoad{none: rl.none, cancel: cancel, done: make(chan struct{}), tx: tx}
	if !rl.none {
		// (A tenant without memberships, an initial load, gets its empty set as before.)
		l.stream = &memberStream{rt}
	}
	delay := c.delayRest.Load()
	go func() {
		defer close(l.done)
		if delay != nil {
			(*delay)(lctx)
		}
		var err error
		if l.stream != nil {
			l.groups, err = c.loadGroups(lctx, tx, tenant, nil)
		} else {
			defer cancel()
			defer tx.Rollback() //nolint:errcheck // read-only
			l.groups, l.set, err = rl.load(lctx, tx)
		}
		if err != nil {
			// Never a part of them: a diff against some of the memberships would remove the
			// rest.
			l.groups, l.set = nil, nil
			l.err = fmt.Errorf("load state of tenant %q: %w", tenant, err)
		}
	}()
	return st, l, nil
}

// stagedLoad is store.RestLoad: groups, set and err are written once, before done is closed.
type stagedLoad struct {
	none   bool
	cancel context.CancelFunc
	done   chan struct{}
	tx     *sql.Tx
	groups map[string]change.GroupState
	set    *change.MembershipSet
	stream *memberStream // instead of set: the tenant has memberships
	err    error
}

func (l *stagedLoad) None() bool { return l.none }

func (l *stagedLoad) Wait(st *change.State) error {
	<-l.done
	if l.err != nil {
		return l.err
	}
	st.Groups = l.groups
	if l.stream != nil {
		st.Stored = l.stream
	} else {
		st.Memberships = l.set
	}
	return nil
}

func (l *stagedLoad) Close() {
	l.cancel()
	<-l.done
	if l.stream != nil {
		l.stream.close()
	}
}

// readTx is a staged load's read transaction as its sources (memberStream, personStream)
// use it once the second stage is done: one at a time, until close.
type readTx struct {
	c      *Core
	ctx    context.Context
	tenant string

	mu     sync.Mutex // the transaction is one goroutine's at a time
	tx     *sql.Tx
	closed bool
	// named makes the first stage keep every person's name in its index
	// (change.LoadNamedPersonIndex), read from the rows when the index is stale: a load whose
	// persons are not read again (LoadStateScanned).
	named bool
}

func (r *readTx) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.tx.Rollback() //nolint:errcheck // read-only
	}
}

// use runs f with the transaction, or says it was closed; an error while the run was stopped
// is the context's (not how the driver saw it).
func (r *readTx) use(what string, f func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("stored %s of tenant %q: the load was closed", what, r.tenant)
	}
	err := f()
	if err != nil && r.ctx.Err() != nil {
		err = r.ctx.Err()
	}
	return err
}

// memberStream is change.StoredMemberships read from their packs in a staged load's
// transaction: the groups sorted by their bucket (change.MemberBucket), their packs read in
// that order, a stretch of groups a statement, one stretch read ahead.
type memberStream struct{ *readTx }

// personStream is change.StoredPersons read from the state index in a staged load's
// transaction: the person buckets in bucket order, then the pending ones (pending.go), oldest
// first, whose entries replace the ones before them. The first read (the PersonIndex, in the
// first stage) falls back to the rows when a bucket is damaged; a later one, of the same
// snapshot, fails.
type personStream struct{ *readTx }

// personRows is change.StoredPersons read from the persons' rows in a load's transaction, in
// key order (only is not used: every person is given).
type personRows struct{ *readTx }

// Each implements change.StoredPersons.
func (s personRows) Each(_ map[string]bool, fn func(string, change.PersonState) error) error {
	return s.use("persons", func() error { return s.c.eachPersonRow(s.ctx, s.tx, s.tenant, " ORDER BY key", fn) })
}

// eachPersonRow hands fn each of the tenant's person rows as the diff sees a person, in order
// (an ORDER BY clause, or "").
func (c *Core) eachPersonRow(ctx context.Context, tx *sql.Tx, tenant, order string, fn func(string, change.PersonState) error) error {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT key, name, hash, status FROM persons WHERE tenant = ?`+order), tenant)
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
		if err := fn(key, p); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}

// Each implements change.StoredPersons.
func (s personStream) Each(only map[string]bool, fn func(string, change.PersonState) error) error {
	return s.use("persons", func() error { return s.each(only, fn) })
}

func (s personStream) each(only map[string]bool, fn func(string, change.PersonState) error) error {
	c := s.c
	query, args := `SELECT data FROM state_index WHERE tenant = ? AND `+personBucketsWhere+` ORDER BY bucket`,
		[]any{s.tenant, hashBuckets, indexBuckets}
	if only != nil {
		// Only the buckets of those keys (and the pending ones, which may hold any key), when
		// they are a few.
		nums := map[int]bool{}
		for k := range only {
			if nums[personBucket(k)] = true; len(nums) > hashBuckets/4 {
				nums = nil
				break
			}
		}
		if nums != nil {
			in := make([]string, 0, len(nums))
			args = []any{s.tenant}
			for n := range nums {
				in, args = append(in, "?"), append(args, n)
			}
			args = append(args, indexBuckets)
			query = `SELECT data FROM state_index WHERE tenant = ? AND (bucket IN (` + strings.Join(in, ", ") + `) OR bucket >= ?) ORDER BY bucket`
		}
	}
	rows, err := s.tx.QueryContext(s.ctx, c.Q(query), args...)
	if err != nil {
		return err
	}
	type entry struct {
		key string
		p   change.PersonState
	}
	var entries []entry
	d := indexDecoder{}
	for rows.Next() {
		if err := s.ctx.Err(); err != nil {
			rows.Close()
			return err
		}
		var data sql.RawBytes
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return err
		}
		entries = entries[:0]
		if err := d.decode(data, func(k string, p change.PersonState) { entries = append(entries, entry{k, p}) }); err != nil {
			rows.Close()
			return err
		}
		for i := range entries {
			if err := fn(entries[i].key, entries[i].p); err != nil {
				rows.Close()
				return err
			}
		}
	}
	return closeRows(rows)
}

// storedEntry is one stored membership.
type storedEntry struct {
	k record.MembershipKey
	m change.MembershipState
}

// Each implements change.StoredMemberships.
func (s *memberStream) Each(fn func(record.MembershipKey, change.MembershipState) error) error {
	return s.use("memberships", func() error { return s.each(fn) })
}

// streamGroups is how many groups the stream reads the packs of in one statement.
var streamGroups = 512

// SetStreamGroups sets streamGroups until the returned function puts it back: a test's small
// tenant then is read in several statements. For tests only.
func SetStreamGroups(n int) func() {
	old := streamGroups
	streamGroups = n
	return func() { streamGroups = old }
}

// streamQuery reads the packs of tenant's groups in the order given (then by first member).
func streamQuery(tenant string, groups []string) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 2*len(groups)+1)
	b.WriteString(`SELECT p.group_key, p.data FROM (VALUES `)
	for i, g := range groups {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(CAST(? AS integer), ?)`)
		args = append(args, i, g)
	}
	b.WriteString(`) AS v JOIN membership_packs p ON p.tenant = ? AND p.group_key = v.column2 ORDER BY v.column1, p.first_member`)
	return b.String(), append(args, tenant)
}

// read reads the packs of a stretch of groups, in its order. PostgreSQL: one statement.
// SQLite, which planned that statement as a scan of the tenant's packs for each group: a
// prepared statement a group (*one, made at the first call), in this process.
func (s *memberStream) read(groups []string, one **sql.Stmt) ([]streamedPack, error) {
	var stretch []streamedPack
	scan := func(rows *sql.Rows) error {
		return eachPackRow(rows, func(group string, data []byte) error {
			stretch = append(stretch, streamedPack{group, slices.Clone(data)})
			return nil
		})
	}
	if s.c.d.Dollar {
		q, args := streamQuery(s.tenant, groups)
		rows, err := s.tx.QueryContext(s.ctx, s.c.Q(q), args...)
		if err != nil {
			return nil, err
		}
		return stretch, scan(rows)
	}
	if *one == nil {
		st, err := s.tx.PrepareContext(s.ctx, `SELECT group_key, data FROM membership_packs WHERE tenant = ? AND group_key = ? ORDER BY first_member`)
		if err != nil {
			return nil, err
		}
		*one = st
	}
	for _, g := range groups {
		rows, err := (*one).QueryContext(s.ctx, s.tenant, g)
		if err != nil {
			return nil, err
		}
		if err := scan(rows); err != nil {
			return nil, err
		}
	}
	return stretch, nil
}

// streamedPack is a pack row the stream read, its bytes its own.
type streamedPack struct {
	group string
	data  []byte
}

// each reads the stretches' packs on a goroutine of its own (the transaction is this stream's
// until each returns) while the caller's fn takes the entries of the stretch before: the
// server's work on a stretch (a B-tree descent a group, then a sort) overlaps the diff's.
func (s *memberStream) each(fn func(record.MembershipKey, change.MembershipState) error) error {
	type group struct {
		key    string
		bucket int
	}
	var groups []group
	// The groups with memberships (not those with a first pack, keyed '': an edit that
	// empties it deletes it and keeps the group's later packs).
	rows, err := s.tx.QueryContext(s.ctx, s.c.Q(`SELECT DISTINCT group_key FROM membership_packs WHERE tenant = ?`), s.tenant)
	if err != nil {
		return err
	}
	for rows.Next() {
		var g group
		if err := rows.Scan(&g.key); err != nil {
			rows.Close()
			return err
		}
		g.bucket = change.MemberBucket(g.key)
		groups = append(groups, g)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	slices.SortFunc(groups, func(a, b group) int {
		if a.bucket != b.bucket {
			return a.bucket - b.bucket
		}
		return strings.Compare(a.key, b.key)
	})

	stretches := make(chan []streamedPack, 1)
	stop := make(chan struct{})
	var readErr error
	var one *sql.Stmt // SQLite's statement of a group's packs
	go func() {
		defer close(stretches)
		defer func() {
			if one != nil {
				one.Close()
			}
		}()
		names := make([]string, 0, min(len(groups), streamGroups))
		for lo := 0; lo < len(groups); lo += streamGroups {
			names = names[:0]
			for _, g := range groups[lo:min(lo+streamGroups, len(groups))] {
				names = append(names, g.key)
			}
			stretch, err := s.read(names, &one)
			if err != nil {
				readErr = err
				return
			}
			select {
			case stretches <- stretch:
			case <-stop:
				return
			}
		}
	}()
	give := func(stretch []streamedPack) error {
		for _, p := range stretch {
			if err := s.ctx.Err(); err != nil {
				return err // the rows were read already: nothing else would see it
			}
			es, err := packs.Decode(p.data)
			if err != nil {
				return fmt.Errorf("memberships of group %s: %w", quote(p.group), err)
			}
			for i := range es {
				if err := fn(record.MembershipKey{Group: p.group, Member: es[i].Member, Role: es[i].Role}, stateOf(&es[i])); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for stretch := range stretches {
		if err = give(stretch); err != nil {
			close(stop)
			for range stretches { // the reader ends after the statement it runs
			}
			return err
		}
	}
	return readErr // (read after stretches is closed: the reader's last write)
}

// restLoad is the second stage of a load, read in the first stage's transaction: the groups
// and the memberships.
type restLoad struct {
	c      *Core
	tenant string
	none   bool // the tenant has no memberships at all
	intern map[string]string
}

// loadFront is a load's first stage, in tx: the version and school year, the relations, and
// the persons from the compact state index (index.go) when it describes the current state
// version (and index is true), else from their rows. st.Groups and st.Memberships are nil:
// they are the second stage's. Membership keys share the strings of the person and group keys
// (and roles are constants), which keeps a 1.5M-membership state small. With source (a staged
// load's transaction), when the index is current and the tenant has memberships, the persons
// are st.StoredPersons, read from source (st.Persons is nil).
func (c *Core) loadFront(ctx context.Context, tx *sql.Tx, tenant string, index bool, source *readTx) (*change.State, *restLoad, error) {
	v, iv, err := c.indexVersion(ctx, tx, tenant)
	if err != nil {
		return nil, nil, err
	}
	st := change.NewState(tenant)
	st.Groups, st.Memberships = nil, nil
	var year sql.NullString
	err = tx.QueryRowContext(ctx, c.Q(`SELECT state_version, school_year FROM tenants WHERE id = ?`), tenant).Scan(&st.Version, &year)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, err
	}
	st.SchoolYear = year.String
	some, err := c.hasMemberships(ctx, tx, tenant)
	if err != nil {
		return nil, nil, err
	}
	rl := &restLoad{c: c, tenant: tenant, none: !some, intern: map[string]string{}}

	fromIndex := index && iv == v
	if fromIndex {
		err := c.decodePersons(ctx, tx, st, rl, source)
		if errors.Is(err, errIndexFormat) {
			// A damaged index is not a reason to fail a night: the rows are the truth (the
			// night's apply rebuilds the index; `imsfeed check` reports it).
			fromIndex = false
			st.Persons, st.StoredPersons = map[string]change.PersonState{}, nil
			clear(rl.intern)
		} else if err != nil {
			return nil, nil, err
		}
	}
	if !fromIndex {
		if source != nil && source.named {
			x, err := change.LoadNamedPersonIndex(personRows{source}, 0)
			if err != nil {
				return nil, nil, err
			}
			st.Persons, st.StoredPersons = nil, x
		} else if err := c.loadPersons(ctx, tx, st, rl.intern); err != nil {
			return nil, nil, err
		}
	}
	if err := c.loadRelations(ctx, tx, st, rl.intern); err != nil {
		return nil, nil, err
	}
	return st, rl, nil
}

// load is the second stage: the groups from their rows, and the memberships whole from their
// packs.
func (rl *restLoad) load(ctx context.Context, tx *sql.Tx) (map[string]change.GroupState, *change.MembershipSet, error) {
	c := rl.c
	groups, err := c.loadGroups(ctx, tx, rl.tenant, rl.intern)
	if err != nil {
		return nil, nil, err
	}
	set, err := c.loadMemberships(ctx, tx, rl.tenant, rl.intern)
	return groups, set, err
}

func (c *Core) loadGroups(ctx context.Context, tx *sql.Tx, tenant string, intern map[string]string) (map[string]change.GroupState, error) {
	// The map made at its size: grown entry by entry, a 1 GB feed's 64,000 groups took 12 MB
	// of table, about twice what they need.
	var n int
	if err := tx.QueryRowContext(ctx, c.Q(`SELECT count(*) FROM groups WHERE tenant = ?`), tenant).Scan(&n); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT key, name, hash, status, is_course, parents, source FROM groups WHERE tenant = ?`), tenant)
	if err != nil {
		return nil, err
	}
	groups := make(map[string]change.GroupState, n)
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
		groups[key] = g
		if intern != nil { // (nil: nothing read after the groups shares their keys)
			if k, ok := intern[key]; ok {
				key = k // a person's key too
			}
			intern[key] = key
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	return groups, nil
}

func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

func (c *Core) loadPersons(ctx context.Context, tx *sql.Tx, st *change.State, intern map[string]string) error {
	return c.eachPersonRow(ctx, tx, st.Tenant, "", func(key string, p change.PersonState) error {
		st.Persons[key] = p
		intern[key] = key
		return nil
	})
}

// interner gives a row's key as a string, the same string for the same bytes (the persons',
// groups' and memberships' keys share theirs).
func interner(intern map[string]string) func(sql.RawBytes) string {
	return func(b sql.RawBytes) string {
		if s, ok := intern[string(b)]; ok {
			return s
		}
		s := string(b)
		intern[s] = s
		return s
	}
}

// loadRelations reads the tenant's relations between persons from their rows (they are few:
// the state index holds persons only).
func (c *Core) loadRelations(ctx context.Context, tx *sql.Tx, st *change.State, intern map[string]string) error {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT person_key, related_key, type, hash FROM relations WHERE tenant = ?`), st.Tenant)
	if err != nil {
		return err
	}
	str := interner(intern)
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

// personBucketsWhere is the condition on a state_index row of the persons' buckets: the hash
// buckets and the pending ones (pending.go), not the memberships' an older imsfeed may have
// left (index.go).
const personBucketsWhere = `(bucket < ? OR bucket >= ?)`

// decodePersons fills st's persons from the tenant's state index. The buckets' headers are
// read first, so that the maps are made at their final size (a map that grows holds its old
// and new tables at once), then each bucket is decoded straight from the row. A membership in
// a bucket is damage. With source, when the tenant has memberships, the persons go into
// st.StoredPersons instead.
func (c *Core) decodePersons(ctx context.Context, tx *sql.Tx, st *change.State, rl *restLoad, source *readTx) error {
	d := indexDecoder{intern: rl.intern}
	var persons int
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT substr(data, 1, 21) FROM state_index WHERE tenant = ? AND `+personBucketsWhere),
		st.Tenant, hashBuckets, indexBuckets)
	if err != nil {
		return err
	}
	for rows.Next() {
		var head sql.RawBytes
		if err := rows.Scan(&head); err != nil {
			rows.Close()
			return err
		}
		p, err := d.count(head)
		if err != nil {
			rows.Close()
			return err
		}
		persons += p
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	if source != nil && (!rl.none || source.named) {
		load := change.LoadPersonIndex
		if source.named {
			load = change.LoadNamedPersonIndex
		}
		x, err := load(personStream{source}, persons)
		if err != nil {
			return err
		}
		st.Persons, st.StoredPersons = nil, x
		return nil
	}
	st.Persons = make(map[string]change.PersonState, persons)
	// In bucket order: the pending buckets (pending.go) come last, oldest first, and their
	// entries replace the ones read before them.
	rows, err = tx.QueryContext(ctx, c.Q(`SELECT data FROM state_index WHERE tenant = ? AND `+personBucketsWhere+` ORDER BY bucket`),
		st.Tenant, hashBuckets, indexBuckets)
	if err != nil {
		return err
	}
	for rows.Next() {
		var data sql.RawBytes
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return err
		}
		if err := d.decode(data, func(k string, p change.PersonState) { st.Persons[k] = p }); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}
