package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store/internal/packs"
)

// The memberships' tables (migration 0028): a group's memberships packed in rows of
// membership_packs (store/internal/packs), and a row of member_groups a member, listing the
// groups it is in. Every membership change reads the floor packs of the members it edits (the
// pack with the greatest key not greater than the member's), edits them as packs.Group does,
// and writes the packs that changed and the member lists of the members that joined or left a
// group. This file holds those reads and writes; memberships.go the seam's functions on them.

const (
	packsTable = "membership_packs"
	listsTable = "member_groups"
)

var (
	packCols = []string{"tenant", "group_key", "first_member", "entries", "manual", "data"}
	listCols = []string{"tenant", "member_type", "member_key", "groups"}
)

// entryOf is a plan's membership as a pack keeps it.
func entryOf(m *record.Membership) packs.Entry {
	e := packs.Entry{Member: m.Member, Role: m.Role, Group: m.MemberType == record.MemberGroup, Hash: m.Hash}
	if s, ok := JSON(m.Attrs).(string); ok {
		e.Attrs = []byte(s)
	}
	return e
}

// checkKey refuses a membership key the memberships' table refused when they were rows (its
// CHECKs): an empty group or member key, a role not one of IMS's eight.
func checkKey(k record.MembershipKey) error {
	var bad string
	switch {
	case k.Group == "":
		bad = "an empty group key"
	case k.Member == "":
		bad = "an empty member key"
	case len(k.Role) != 2 || k.Role[0] != '0' || k.Role[1] < '1' || k.Role[1] > '8':
		bad = fmt.Sprintf("role %s, not one of 01-08", quote(k.Role))
	default:
		return nil
	}
	return fmt.Errorf("memberships: membership %s has %s", quote(k.String()), bad)
}

func memberTypeOf(group bool) int64 {
	if group {
		return 2
	}
	return 1
}

// editOp is what an edit does to its membership.
type editOp uint8

const (
	// opSyncedRemove removes the membership if it is the feed's (a plan's delete).
	opSyncedRemove editOp = iota
	// opSyncedManualize turns the feed's membership manual (an archived course's).
	opSyncedManualize
	// opSyncedPut puts the feed's membership (a plan's insert or update). A manual membership
	// is left alone, unless it has the feed's hash (not the zero hash the platform's carry):
	// an archival turned it manual, and the file has it again, so its course was restored.
	opSyncedPut
	// opManualPut makes it a manual membership of the platform's (the zero hash): a new one,
	// or the one there turned manual with its attributes kept.
	opManualPut
	// opRename moves the membership of key.Member to the member entry.Member, with
	// entry.Hash; its other fields stay.
	opRename
	// opSet makes it entry exactly (undo's restore).
	opSet
	// opRemove removes it whatever its origin (undo's restore).
	opRemove
	// opInsert adds it, and refuses it if it is there (an initial load's, as a primary key
	// refused a key given twice).
	opInsert
)

// edit is one change of a membership of a tenant.
type edit struct {
	key   record.MembershipKey
	op    editOp
	entry packs.Entry // opSyncedPut, opManualPut (its Group), opRename (Member, Hash), opSet
}

// packWriter writes the packs and member lists an edit changed.
type packWriter interface {
	putPack(group, key string, entries, manual int, data []byte) error
	deletePack(group, key string) error
	putList(memberType int64, member string, groups []byte) error
	deleteList(memberType int64, member string) error
}

// editsReadChunk is how many floor packs or member lists one statement reads.
const editsReadChunk = 400

// editPacks applies edits, in their order within each group, to tenant's packs read through
// q, and writes what changed through w. empty says the tenant has no memberships (nothing is
// read). A member that joins a group is given to joined when it is set (which then keeps the
// member lists), else its list is edited.
func (c *Core) editPacks(ctx context.Context, q querier, tenant string, edits []edit, empty bool, w packWriter, joined func(packs.Member, string)) error {
	if len(edits) == 0 {
		return nil
	}
	order := make([]int32, len(edits))
	for i := range order {
		order[i] = int32(i)
		if err := checkKey(edits[i].key); err != nil {
			return err
		}
		if edits[i].op == opRename {
			if err := checkKey(record.MembershipKey{Group: edits[i].key.Group, Member: edits[i].entry.Member, Role: edits[i].key.Role}); err != nil {
				return err
			}
		}
	}
	slices.SortStableFunc(order, func(a, b int32) int { return strings.Compare(edits[a].key.Group, edits[b].key.Group) })
	lists := map[listKey]*listEdit{}
	// A chunk of groups at a time: their floor packs read, their edits applied and written.
	for lo := 0; lo < len(order); {
		hi, pairs := lo, 0
		for hi < len(order) && (pairs < editsReadChunk || edits[order[hi]].key.Group == edits[order[hi-1]].key.Group) {
			pairs++
			if edits[order[hi]].op == opRename {
				pairs++
			}
			hi++
		}
		groups := map[string]*packs.Group{}
		var want [][2]string
		for _, i := range order[lo:hi] {
			e := &edits[i]
			g := groups[e.key.Group]
			if g == nil {
				g = &packs.Group{}
				groups[e.key.Group] = g
			}
			if empty {
				continue // nothing stored to read
			}
			want = append(want, [2]string{e.key.Group, e.key.Member})
			if e.op == opRename {
				want = append(want, [2]string{e.key.Group, e.entry.Member})
			}
		}
		if !empty {
			sortPairs(want)
			want = slices.Compact(want)
			floors, whole := wholeGroups(want)
			if err := c.readFloors(ctx, q, tenant, floors, groups); err != nil {
				return err
			}
			if err := c.readGroups(ctx, q, tenant, whole, groups); err != nil {
				return err
			}
		}
		for _, i := range order[lo:hi] {
			if err := applyEdit(groups[edits[i].key.Group], &edits[i]); err != nil {
				return err
			}
		}
		// Written in the groups' order.
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ch := groups[k].Changes()
			for _, key := range ch.Deletes {
				if err := w.deletePack(k, key); err != nil {
					return fmt.Errorf("memberships of group %s: %w", quote(k), err)
				}
			}
			for _, x := range ch.Writes {
				if err := w.putPack(k, x.Key, x.N, x.Manual, x.Data); err != nil {
					return fmt.Errorf("memberships of group %s: %w", quote(k), err)
				}
			}
			for _, m := range ch.Joined {
				if joined != nil {
					joined(m, k)
					continue
				}
				listOf(lists, m).join = append(listOf(lists, m).join, k)
			}
			for _, m := range ch.Left {
				listOf(lists, m).leave = append(listOf(lists, m).leave, k)
			}
		}
		lo = hi
	}
	return c.editLists(ctx, q, tenant, lists, empty, w)
}

type listKey struct {
	memberType int64
	member     string
}

type listEdit struct{ join, leave []string }

func listOf(lists map[listKey]*listEdit, m packs.Member) *listEdit {
	k := listKey{memberTypeOf(m.Group), m.Key}
	l := lists[k]
	if l == nil {
		l = &listEdit{}
		lists[k] = l
	}
	return l
}

// applyEdit applies e to g.
func applyEdit(g *packs.Group, e *edit) error {
	k := e.key
	old, had := g.Get(k.Member, k.Role)
	switch e.op {
	case opSyncedRemove:
		if had && !old.Manual {
			g.Remove(k.Member, k.Role)
		}
	case opSyncedManualize:
		if had && !old.Manual {
			old.Manual = true
			g.Put(old)
		}
	case opSyncedPut, opInsert:
		if had && e.op == opInsert {
			return fmt.Errorf("memberships: membership %s is given twice", quote(k.String()))
		}
		if had && old.Manual && old.Hash == ZeroHash {
			return nil
		}
		x := e.entry
		x.Member, x.Role, x.Manual = k.Member, k.Role, false
		g.Put(x)
	case opManualPut:
		x := old
		if !had {
			x = packs.Entry{Member: k.Member, Role: k.Role, Group: e.entry.Group}
		}
		x.Manual, x.Hash = true, ZeroHash
		g.Put(x)
	case opRename:
		if !had || old.Group {
			return nil
		}
		g.Remove(k.Member, k.Role)
		old.Member, old.Hash = e.entry.Member, e.entry.Hash
		g.Put(old)
	case opSet:
		x := e.entry
		x.Member, x.Role = k.Member, k.Role
		g.Put(x)
	case opRemove:
		g.Remove(k.Member, k.Role)
	}
	return nil
}

// wholeGroupEdits is how many members of one group an edit changes from which all of the
// group's packs are read (one range of the primary key), not each member's floor pack (a step
// each): a night that renames most of a class, a school year's new memberships.
const wholeGroupEdits = 16

// wholeGroups splits want (sorted by group and member, each once) into the pairs whose floor
// packs are read and the groups read whole.
func wholeGroups(want [][2]string) (floors [][2]string, whole []string) {
	for i := 0; i < len(want); {
		j := i
		for j < len(want) && want[j][0] == want[i][0] {
			j++
		}
		if j-i >= wholeGroupEdits {
			whole = append(whole, want[i][0])
		} else {
			floors = append(floors, want[i:j]...)
		}
		i = j
	}
	return floors, whole
}

// readGroups reads into groups all the packs of the groups of whole.
func (c *Core) readGroups(ctx context.Context, q querier, tenant string, whole []string, groups map[string]*packs.Group) error {
	for lo := 0; lo < len(whole); lo += editsReadChunk {
		in, args := groupsIn(c.d.Dollar, tenant, whole[lo:min(lo+editsReadChunk, len(whole))])
		rows, err := q.QueryContext(ctx, c.Q(`SELECT group_key, first_member, data FROM membership_packs WHERE `+in), args...)
		if err != nil {
			return err
		}
		if err := readPacksInto(rows, groups); err != nil {
			return err
		}
	}
	return nil
}

// readPacksInto reads rows (columns: group_key, first_member, data) into their groups' packs.
func readPacksInto(rows *sql.Rows, groups map[string]*packs.Group) error {
	for rows.Next() {
		var g, key string
		var data []byte
		if err := rows.Scan(&g, &key, &data); err != nil {
			rows.Close()
			return err
		}
		if err := groups[g].Read(key, data); err != nil {
			rows.Close()
			return fmt.Errorf("memberships of group %s, pack %s: %w", quote(g), quote(key), err)
		}
	}
	return closeRows(rows)
}

// readFloors reads into groups the floor pack of each (group, member) of want.
func (c *Core) readFloors(ctx context.Context, q querier, tenant string, want [][2]string, groups map[string]*packs.Group) error {
	read := func(rows *sql.Rows) error { return readPacksInto(rows, groups) }
	if !c.d.Dollar {
		// SQLite: a prepared statement a member, run in this process, costs less than a
		// statement of many.
		const floor = `SELECT group_key, first_member, data FROM membership_packs
WHERE tenant = ? AND group_key = ? AND first_member <= ? ORDER BY first_member DESC LIMIT 1`
		if len(want) == 1 { // a live request's one: not worth preparing
			rows, err := q.QueryContext(ctx, floor, tenant, want[0][0], want[0][1])
			if err != nil {
				return err
			}
			return read(rows)
		}
		st, err := prepare(ctx, q, floor)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, p := range want {
			rows, err := st.QueryContext(ctx, tenant, p[0], p[1])
			if err != nil {
				return err
			}
			if err := read(rows); err != nil {
				return err
			}
		}
		return nil
	}
	for len(want) > 0 {
		n := min(len(want), editsReadChunk)
		query, args := floorQuery(tenant, want[:n])
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if err := read(rows); err != nil {
			return err
		}
		want = want[n:]
	}
	return nil
}

// floorQuery is PostgreSQL's statement reading the floor pack of each (group, member) of want
// (columns: group_key, first_member, data), a backward step of the primary key each.
func floorQuery(tenant string, want [][2]string) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 1+2*len(want))
	args = append(args, tenant)
	b.WriteString(`SELECT v.g, p.first_member, p.data FROM (VALUES `)
	for i, p := range want {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($%d::text, $%d::text)", 2+2*i, 3+2*i)
		args = append(args, p[0], p[1])
	}
	b.WriteString(`) v(g, m) CROSS JOIN LATERAL (SELECT first_member, data FROM membership_packs
WHERE tenant = $1 AND group_key = v.g AND first_member <= v.m ORDER BY first_member DESC LIMIT 1) p`)
	return b.String(), args
}

// listsQuery is the statement reading the member lists (columns: member_key, groups) of
// tenant's members of memberType (at most editsReadChunk), ? placeholders.
func listsQuery(tenant string, memberType int64, members []string) (string, []any) {
	args := make([]any, 0, 1+2*len(members))
	args = append(args, memberType)
	for _, m := range members {
		args = append(args, tenant, m)
	}
	// The tenant in every row of the list, as in's: PostgreSQL then looks each member up
	// whatever its statistics say of the tenant.
	return `SELECT member_key, groups FROM member_groups WHERE member_type = ? AND (tenant, member_key) IN ` + inList(len(members)), args
}

// prepare prepares query on q (a transaction or a connection).
func prepare(ctx context.Context, q querier, query string) (*sql.Stmt, error) {
	p, ok := q.(interface {
		PrepareContext(context.Context, string) (*sql.Stmt, error)
	})
	if !ok {
		return nil, fmt.Errorf("cannot prepare on %T", q)
	}
	return p.PrepareContext(ctx, query)
}

// editLists applies the joins and leaves of lists to the member lists (read through q unless
// the tenant had no memberships) and writes them through w.
func (c *Core) editLists(ctx context.Context, q querier, tenant string, lists map[listKey]*listEdit, empty bool, w packWriter) error {
	keys := make([]listKey, 0, len(lists))
	for k := range lists {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b listKey) int {
		if a.memberType != b.memberType {
			return int(a.memberType - b.memberType)
		}
		return strings.Compare(a.member, b.member)
	})
	stored := map[listKey][]string{}
	for lo := 0; lo < len(keys) && !empty; {
		// One member type a statement: its keys as a plain list, compared as text.
		hi := lo
		for hi < len(keys) && hi-lo < editsReadChunk && keys[hi].memberType == keys[lo].memberType {
			hi++
		}
		chunk := keys[lo:hi]
		lo = hi
		members := make([]string, len(chunk))
		for i, k := range chunk {
			members[i] = k.member
		}
		query, args := listsQuery(tenant, chunk[0].memberType, members)
		rows, err := q.QueryContext(ctx, c.Q(query), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			k := listKey{memberType: chunk[0].memberType}
			var data []byte
			if err := rows.Scan(&k.member, &data); err != nil {
				rows.Close()
				return err
			}
			gs, err := packs.DecodeList(data)
			if err != nil {
				rows.Close()
				return fmt.Errorf("groups of member %s: %w", quote(k.member), err)
			}
			stored[k] = gs
		}
		if err := closeRows(rows); err != nil {
			return err
		}
	}
	for _, k := range keys {
		gs, had := stored[k]
		l := lists[k]
		for _, g := range l.leave {
			gs = packs.Leave(gs, g)
		}
		for _, g := range l.join {
			gs = packs.Join(gs, g)
		}
		var err error
		switch {
		case len(gs) > 0:
			err = w.putList(k.memberType, k.member, packs.AppendList(nil, gs))
		case had:
			err = w.deleteList(k.memberType, k.member)
		}
		if err != nil {
			return fmt.Errorf("groups of member %s: %w", quote(k.member), err)
		}
	}
	return nil
}

// rowPacks is a packWriter of a statement a row, prepared once (SQLite, and PostgreSQL's
// small edits).
type rowPacks struct {
	ctx    context.Context
	q      querier
	tenant string
	c      *Core
	stmts  map[string]*sql.Stmt
	ran    map[string]bool // run straight once, not prepared yet
}

func (c *Core) rowPacks(ctx context.Context, q querier, tenant string) *rowPacks {
	return &rowPacks{ctx: ctx, q: q, tenant: tenant, c: c}
}

// exec runs query: straight the first time, prepared from the second on (a live request's
// edit writes a pack and a list once each, and a statement prepared is a round trip more and
// one to close it; a night's many are prepared once).
func (r *rowPacks) exec(query string, args ...any) error {
	st, ok := r.stmts[query]
	if !ok {
		if !r.ran[query] {
			if r.ran == nil {
				r.ran = map[string]bool{}
			}
			r.ran[query] = true
			_, err := r.q.ExecContext(r.ctx, r.c.Q(query), args...)
			return err
		}
		var err error
		if st, err = prepare(r.ctx, r.q, r.c.Q(query)); err != nil {
			return err
		}
		if r.stmts == nil {
			r.stmts = map[string]*sql.Stmt{}
		}
		r.stmts[query] = st
	}
	_, err := st.ExecContext(r.ctx, args...)
	return err
}

func (r *rowPacks) close() {
	for _, st := range r.stmts {
		_ = st.Close()
	}
}

func (r *rowPacks) putPack(group, key string, entries, manual int, data []byte) error {
	return r.exec(`INSERT INTO membership_packs (tenant, group_key, first_member, entries, manual, data) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, group_key, first_member) DO UPDATE SET entries = excluded.entries, manual = excluded.manual, data = excluded.data`,
		r.tenant, group, key, entries, manual, data)
}

func (r *rowPacks) deletePack(group, key string) error {
	return r.exec(`DELETE FROM membership_packs WHERE tenant = ? AND group_key = ? AND first_member = ?`, r.tenant, group, key)
}

func (r *rowPacks) putList(memberType int64, member string, groups []byte) error {
	return r.exec(`INSERT INTO member_groups (tenant, member_type, member_key, groups) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant, member_type, member_key) DO UPDATE SET groups = excluded.groups`, r.tenant, memberType, member, groups)
}

func (r *rowPacks) deleteList(memberType int64, member string) error {
	return r.exec(`DELETE FROM member_groups WHERE tenant = ? AND member_type = ? AND member_key = ?`, r.tenant, memberType, member)
}

// editMemberships applies edits to tenant's memberships in tx, a statement a pack and member
// list written.
func (c *Core) editMemberships(ctx context.Context, tx querier, tenant string, edits []edit) error {
	if len(edits) == 0 {
		return nil
	}
	w := c.rowPacks(ctx, tx, tenant)
	defer w.close()
	return c.editPacks(ctx, tx, tenant, edits, false, w, nil)
}

// eachPack gives fn, decoded, the packs query reads (columns: group_key, data), in its order.
func eachPack(ctx context.Context, q querier, query string, args []any, fn func(group string, es []packs.Entry) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	return eachPackRow(rows, func(group string, data []byte) error {
		es, err := packs.Decode(data)
		if err != nil {
			return fmt.Errorf("memberships of group %s: %w", quote(group), err)
		}
		return fn(group, es)
	})
}

// eachPackRow gives fn each pack row of rows (columns: group_key, data), its data the driver's
// until the next row, and closes them.
func eachPackRow(rows *sql.Rows, fn func(group string, data []byte) error) error {
	var group string // the packs of one group come together: its key is made once
	for rows.Next() {
		var g, data sql.RawBytes
		if err := rows.Scan(&g, &data); err != nil {
			rows.Close()
			return err
		}
		if string(g) != group {
			group = string(g)
		}
		if err := fn(group, data); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}

// memberGroups are the groups tenant's member (of memberType) is in, sorted.
func (c *Core) memberGroups(ctx context.Context, q querier, tenant string, memberType int64, member string) ([]string, error) {
	var data []byte
	err := q.QueryRowContext(ctx, c.Q(`SELECT groups FROM member_groups WHERE tenant = ? AND member_type = ? AND member_key = ?`), tenant, memberType, member).Scan(&data)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	gs, err := packs.DecodeList(data)
	if err != nil {
		return nil, fmt.Errorf("groups of member %s: %w", quote(member), err)
	}
	return gs, nil
}

// floorEntries gives fn the entries of each (group, member) pair of want (sorted by group and
// member, each once), read from their floor packs through q.
func (c *Core) floorEntries(ctx context.Context, q querier, tenant string, want [][2]string, fn func(group string, e packs.Entry) error) error {
	for lo := 0; lo < len(want); lo += editsReadChunk {
		chunk := want[lo:min(lo+editsReadChunk, len(want))]
		groups := map[string]*packs.Group{}
		for _, p := range chunk {
			if groups[p[0]] == nil {
				groups[p[0]] = &packs.Group{}
			}
		}
		if err := c.readFloors(ctx, q, tenant, chunk, groups); err != nil {
			return err
		}
		for _, p := range chunk {
			for _, e := range groups[p[0]].Entries(p[1]) {
				if err := fn(p[0], e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
