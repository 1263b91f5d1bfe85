package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/packs"
)

// The stored memberships, behind one seam: every statement on them is in this file, and the
// rest of the store reads and writes them through the functions below. They are kept packed by
// group (packstore.go: membership_packs, and member_groups to find a member's), so what a
// membership is (its columns, its before-image) is said here, not by a table.
//
// Reads: whether a tenant has any (hasMemberships), counts (countMemberships,
// membershipOrigins, countSyncedUpTo, countMembersOf, countSyncedOfGroups), the whole tenant
// (loadMemberships, eachStoredMembership), by groups in key order (eachMembershipOfGroups,
// eachGroupAsMember), the live channel's by member, group and pair (liveMemberships), the
// console's (personMemberships, groupMembers), the before-images undo keeps
// (membershipImageCols, membershipImages) and the test dump (dumpMemberships).
//
// Writes: a plan's changes row by row (rowMemberships: SQLite, and PostgreSQL's small plans)
// or set-wise (StageMemberships: PostgreSQL), each an upsert that leaves a manual membership
// alone unless it was the feed's, a removal of a synced one or a synced one turned manual; a
// person's new key (renameMember); a membership the platform made (putManualMembership); an
// initial load's copy while the file is read (earlyMembershipsTable, earlyMembershipCols,
// earlyMembershipRow); and undo's putting back of before-images (restoreMemberships).

// membershipsTable is the name Dump gives the memberships (a line a membership, as a table of
// rows would give them) and undo's before-images their table's.
const membershipsTable = "memberships"

// membershipUndo is undoTables' entry for memberships; the before-images keep a membership's
// columns by these names (the stored format, whatever keeps the memberships).
var membershipUndo = undoTable{"memberships", []string{"group_key", "member_key", "role"}, "origin", "synced", record.Memberships}

// membershipCols are a membership's columns as its before-image keeps them (the tenant's left
// out), in the order the memberships table had them.
var membershipCols = []string{"group_key", "member_key", "role", "member_type", "attrs", "hash", "origin"}

// membershipsExist reports whether tenant has any membership, read through q.
func membershipsExist(ctx context.Context, q querier, dollar bool, tenant string) (bool, error) {
	var any bool
	err := q.QueryRowContext(ctx, Rebind(dollar, `SELECT EXISTS (SELECT 1 FROM membership_packs WHERE tenant = ?)`), tenant).Scan(&any)
	return any, err
}

// hasMemberships reports whether tenant has any membership.
func (c *Core) hasMemberships(ctx context.Context, q querier, tenant string) (bool, error) {
	return membershipsExist(ctx, q, c.d.Dollar, tenant)
}

// sum runs query, a sum over packs, and gives 0 for none.
func (c *Core) sum(ctx context.Context, q querier, query string, args ...any) (int, error) {
	var n sql.NullInt64
	err := q.QueryRowContext(ctx, c.Q(query), args...).Scan(&n)
	return int(n.Int64), err
}

// countMemberships counts tenant's memberships, or only its synced ones.
func (c *Core) countMemberships(ctx context.Context, q querier, tenant string, syncedOnly bool) (int, error) {
	if syncedOnly {
		return c.sum(ctx, q, `SELECT sum(entries - manual) FROM membership_packs WHERE tenant = ?`, tenant)
	}
	return c.sum(ctx, q, `SELECT sum(entries) FROM membership_packs WHERE tenant = ?`, tenant)
}

// membershipOrigins counts tenant's synced and manual memberships.
func (c *Core) membershipOrigins(ctx context.Context, q querier, tenant string) (synced, manual int, err error) {
	var s, m sql.NullInt64
	err = q.QueryRowContext(ctx, c.Q(`SELECT sum(entries - manual), sum(manual) FROM membership_packs WHERE tenant = ?`), tenant).Scan(&s, &m)
	return int(s.Int64), int(m.Int64), err
}

// countSyncedUpTo counts tenant's synced memberships up to atMost, reading no more packs than
// hold that many (by the key's order, ranges of the primary key), however large the tenant.
// The packs are read in growing steps, each a statement with a LIMIT: lib/pq reads a
// statement's rows to the end even when they are not wanted (a tenant of 300,000 memberships
// took 9.5 ms of the server a count, every live removal's).
func (c *Core) countSyncedUpTo(ctx context.Context, q querier, tenant string, atMost int) (int, error) {
	n, step := 0, 1
	var group, first string
	for started := false; n < atMost; started = true {
		query, args := `SELECT group_key, first_member, entries - manual FROM membership_packs WHERE tenant = ?`, []any{tenant}
		if started {
			query += ` AND (group_key, first_member) > (?, ?)`
			args = append(args, group, first)
		}
		rows, err := q.QueryContext(ctx, c.Q(query+` ORDER BY tenant, group_key, first_member LIMIT ?`), append(args, step)...)
		if err != nil {
			return 0, err
		}
		read := 0
		for rows.Next() {
			var k int
			if err := rows.Scan(&group, &first, &k); err != nil {
				rows.Close()
				return 0, err
			}
			n += k
			read++
		}
		if err := closeRows(rows); err != nil {
			return 0, err
		}
		if read < step {
			break // the tenant's last pack
		}
		step = min(4*step, 1024)
	}
	return min(n, atMost), nil
}

// countMembersOf counts the memberships of tenant's group, of either origin.
func (c *Core) countMembersOf(ctx context.Context, q querier, tenant, group string) (int, error) {
	return c.sum(ctx, q, `SELECT sum(entries) FROM membership_packs WHERE tenant = ? AND group_key = ?`, tenant, group)
}

// scanPacks is the statement of the packs' reads in key order, its condition after it, then
// scanOrder.
const (
	scanPacks = `SELECT group_key, data FROM membership_packs WHERE `
	scanOrder = ` ORDER BY group_key, first_member`
)

// groupsIn is a statement's condition on the packs of tenant's groups of chunk, with its
// arguments. PostgreSQL (dollar) gets (tenant, group_key) pairs, as in's: looked up a group at
// a time whatever the statistics say of the tenant. SQLite gets the keys as one list, which it
// reads in the primary key's order: of the pairs it sorted each statement's rows again (a
// temporary B-tree for the ORDER BY).
func groupsIn(dollar bool, tenant string, chunk []string) (string, []any) {
	if dollar {
		args := make([]any, 0, 2*len(chunk))
		for _, g := range chunk {
			args = append(args, tenant, g)
		}
		return `(tenant, group_key) IN ` + inList(len(chunk)), args
	}
	args := make([]any, 0, 1+len(chunk))
	args = append(args, tenant)
	for _, g := range chunk {
		args = append(args, g)
	}
	return `tenant = ? AND group_key IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `)`, args
}

// countSyncedOfGroups counts the synced memberships of tenant's groups (one statement: the
// caller bounds how many groups).
func (c *Core) countSyncedOfGroups(ctx context.Context, q querier, tenant string, groups []string) (int, error) {
	in, args := groupsIn(c.d.Dollar, tenant, groups)
	return c.sum(ctx, q, `SELECT sum(entries - manual) FROM membership_packs WHERE `+in, args...)
}

// stateOf is an entry as the diff compares it.
func stateOf(e *packs.Entry) change.MembershipState {
	t := record.MemberPerson
	if e.Group {
		t = record.MemberGroup
	}
	return change.MembershipState{MemberType: t, Manual: e.Manual, Hash: e.Hash}
}

// eachEntry runs query (its columns: group_key, data of packs, in key order) and gives fn each
// membership in the packs' order.
func (c *Core) eachEntry(ctx context.Context, q querier, query string, args []any, fn func(record.MembershipKey, change.MembershipState) error) error {
	return eachPack(ctx, q, c.Q(query), args, func(group string, es []packs.Entry) error {
		for i := range es {
			if err := fn(record.MembershipKey{Group: group, Member: es[i].Member, Role: es[i].Role}, stateOf(&es[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachMembershipOfGroups gives fn the memberships of tenant's groups in key order (group,
// member, role; keys compare byte by byte in both stores, as record.MembershipKey.Compare
// does), in one statement: the caller bounds how many groups.
func (c *Core) eachMembershipOfGroups(ctx context.Context, tx *sql.Tx, tenant string, groups []string, fn func(record.MembershipKey, change.MembershipState) error) error {
	in, args := groupsIn(c.d.Dollar, tenant, groups)
	return c.eachEntry(ctx, tx, scanPacks+in+scanOrder, args, fn)
}

// eachGroupAsMember gives fn, in key order, tenant's memberships whose member is a group (a
// hierarchy's few): their groups from the member lists, then their floor packs.
func (c *Core) eachGroupAsMember(ctx context.Context, tx *sql.Tx, tenant string, fn func(record.MembershipKey, change.MembershipState) error) error {
	pairs, err := c.listPairs(ctx, tx, tenant, 2, nil, true)
	if err != nil {
		return err
	}
	return c.floorEntries(ctx, tx, tenant, pairs, func(group string, e packs.Entry) error {
		if !e.Group {
			return nil
		}
		return fn(record.MembershipKey{Group: group, Member: e.Member, Role: e.Role}, stateOf(&e))
	})
}

// listPairs are the (group, member) pairs of the member lists of tenant's members of
// memberType, those of members only (all of that type when all is set), sorted.
func (c *Core) listPairs(ctx context.Context, q querier, tenant string, memberType int64, members []string, all bool) ([][2]string, error) {
	var pairs [][2]string
	scan := func(rows *sql.Rows) error {
		for rows.Next() {
			var m string
			var data []byte
			if err := rows.Scan(&m, &data); err != nil {
				rows.Close()
				return err
			}
			gs, err := packs.DecodeList(data)
			if err != nil {
				rows.Close()
				return fmt.Errorf("groups of member %s: %w", quote(m), err)
			}
			for _, g := range gs {
				pairs = append(pairs, [2]string{g, m})
			}
		}
		return closeRows(rows)
	}
	if all {
		rows, err := q.QueryContext(ctx, c.Q(`SELECT member_key, groups FROM member_groups WHERE tenant = ? AND member_type = ?`), tenant, memberType)
		if err != nil {
			return nil, err
		}
		if err := scan(rows); err != nil {
			return nil, err
		}
	}
	for lo := 0; lo < len(members); lo += editsReadChunk {
		query, args := listsQuery(tenant, memberType, members[lo:min(lo+editsReadChunk, len(members))])
		rows, err := q.QueryContext(ctx, c.Q(query), args...)
		if err != nil {
			return nil, err
		}
		if err := scan(rows); err != nil {
			return nil, err
		}
	}
	sortPairs(pairs)
	return slices.Compact(pairs), nil
}

func sortPairs(pairs [][2]string) {
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
}

// eachStoredMembership gives fn each of tenant's memberships as the state index holds them, in
// no particular order.
func (c *Core) eachStoredMembership(ctx context.Context, tx *sql.Tx, tenant string, fn func(record.MembershipKey, change.MembershipState) error) error {
	return c.eachEntry(ctx, tx, `SELECT group_key, data FROM membership_packs WHERE tenant = ?`, []any{tenant}, fn)
}

// loadMemberships reads tenant's memberships whole into a set, their keys' strings shared
// through intern (with the persons' and groups' keys read before them).
func (c *Core) loadMemberships(ctx context.Context, tx *sql.Tx, tenant string, intern map[string]string) (*change.MembershipSet, error) {
	str := func(s string) string {
		if x, ok := intern[s]; ok {
			return x
		}
		intern[s] = s
		return s
	}
	set := change.NewMembershipSet(0)
	err := eachPack(ctx, tx, c.Q(`SELECT group_key, data FROM membership_packs WHERE tenant = ?`), []any{tenant}, func(group string, es []packs.Entry) error {
		g := str(group)
		for i := range es {
			set.Set(record.MembershipKey{Group: g, Member: str(es[i].Member), Role: str(es[i].Role)}, stateOf(&es[i]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	set.Loaded()
	return set, nil
}

// storedOf is an entry of group as the live channel reads it.
func storedOf(group string, e *packs.Entry) (store.StoredMembership, error) {
	m := store.StoredMembership{}
	m.Group, m.Member, m.Role = group, e.Member, e.Role
	st := stateOf(e)
	m.MemberType, m.Manual, m.Hash = st.MemberType, st.Manual, st.Hash
	if err := jsonCol(e.Attrs, &m.Attrs); err != nil {
		return m, fmt.Errorf("membership %s: stored attributes: %w", m.MembershipKey, err)
	}
	return m, nil
}

// livePacksOfGroups is the live channel's read of groups' packs by a list of keys (in).
const livePacksOfGroups = `SELECT group_key, data FROM membership_packs WHERE (tenant, group_key) IN IN_LIST`

// liveMemberships gives fn, whole, tenant's memberships of the persons (as members), of the
// groups (as the group, and as a member) and of each (group, member) pair, read in tx; a
// membership may come more than once.
func (c *Core) liveMemberships(ctx context.Context, tx *sql.Tx, tenant string, persons, groups []string, pairs [][2]string, fn func(store.StoredMembership)) error {
	give := func(group string, e packs.Entry) error {
		m, err := storedOf(group, &e)
		if err == nil {
			fn(m)
		}
		return err
	}
	of := func(group bool) func(string, packs.Entry) error {
		return func(g string, e packs.Entry) error {
			if e.Group != group {
				return nil
			}
			return give(g, e)
		}
	}
	ps, err := c.listPairs(ctx, tx, tenant, 1, persons, false)
	if err != nil {
		return err
	}
	if err := c.floorEntries(ctx, tx, tenant, ps, of(false)); err != nil {
		return err
	}
	if len(groups) > 0 {
		if err := in(ctx, c, tx, livePacksOfGroups, tenant, groups, func(rows *sql.Rows) error {
			var g string
			var data []byte
			if err := rows.Scan(&g, &data); err != nil {
				return err
			}
			es, err := packs.Decode(data)
			if err != nil {
				return fmt.Errorf("memberships of group %s: %w", quote(g), err)
			}
			for _, e := range es {
				if err := give(g, e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		gs, err := c.listPairs(ctx, tx, tenant, 2, groups, false)
		if err != nil {
			return err
		}
		if err := c.floorEntries(ctx, tx, tenant, gs, of(true)); err != nil {
			return err
		}
	}
	if len(pairs) > 0 {
		want := slices.Clone(pairs)
		sortPairs(want)
		want = slices.Compact(want)
		return c.floorEntries(ctx, tx, tenant, want, give)
	}
	return nil
}

// names are the names of tenant's persons (table persons) or groups of keys, by key.
func (c *Core) names(ctx context.Context, q querier, tenant, table string, keys []string) (map[string]string, error) {
	out := map[string]string{}
	err := in(ctx, c, q, `SELECT key, name FROM `+table+` WHERE (tenant, key) IN IN_LIST`, tenant, keys, func(rows *sql.Rows) error {
		var k, n string
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		out[k] = n
		return nil
	})
	return out, err
}

// personMemberships are the memberships of tenant's person, with their groups' names, by
// group and role.
func (c *Core) personMemberships(ctx context.Context, q querier, tenant, person string) ([]store.MembershipDetail, error) {
	pairs, err := c.listPairs(ctx, q, tenant, 1, []string{person}, false)
	if err != nil {
		return nil, err
	}
	out := []store.MembershipDetail{}
	err = c.floorEntries(ctx, q, tenant, pairs, func(group string, e packs.Entry) error {
		if !e.Group {
			out = append(out, detailOf(group, &e))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	groups := make([]string, 0, len(out))
	for _, m := range out {
		groups = append(groups, m.Group)
	}
	names, err := c.names(ctx, q, tenant, "groups", slices.Compact(groups))
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Name = names[out[i].Group]
	}
	return out, nil
}

func detailOf(group string, e *packs.Entry) store.MembershipDetail {
	var m store.MembershipDetail
	m.Group, m.Member, m.Role = group, e.Member, e.Role
	st := stateOf(e)
	m.MemberType, m.Manual = st.MemberType, st.Manual
	return m
}

// groupMembers are up to limit memberships of tenant's group after the given member and role,
// with their members' names, by member and role.
func (c *Core) groupMembers(ctx context.Context, q querier, tenant, group string, after record.MembershipKey, limit int) ([]store.MembershipDetail, error) {
	out := []store.MembershipDetail{}
	if limit <= 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, c.Q(`SELECT data FROM membership_packs WHERE tenant = ? AND group_key = ?
AND first_member >= COALESCE((SELECT max(first_member) FROM membership_packs WHERE tenant = ? AND group_key = ? AND first_member <= ?), '')
ORDER BY first_member`), tenant, group, tenant, group, after.Member)
	if err != nil {
		return nil, err
	}
	for len(out) < limit && rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return nil, err
		}
		es, err := packs.Decode(data)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("memberships of group %s: %w", quote(group), err)
		}
		for i := range es {
			e := &es[i]
			if len(out) == limit || e.Member < after.Member || (e.Member == after.Member && e.Role <= after.Role) {
				continue
			}
			out = append(out, detailOf(group, e))
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	var ps, gs []string
	for _, m := range out {
		if m.MemberType == record.MemberGroup {
			gs = append(gs, m.Member)
		} else {
			ps = append(ps, m.Member)
		}
	}
	pn, err := c.names(ctx, q, tenant, "persons", slices.Compact(ps))
	if err != nil {
		return nil, err
	}
	gn, err := c.names(ctx, q, tenant, "groups", slices.Compact(gs))
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].MemberType == record.MemberGroup {
			out[i].Name = gn[out[i].Member]
		} else {
			out[i].Name = pn[out[i].Member]
		}
	}
	return out, nil
}

// membershipImageCols are the columns of a membership's before-image (the tenant's left out),
// in their order.
func (c *Core) membershipImageCols(ctx context.Context, q querier, tenant string) ([]string, error) {
	return membershipCols, nil
}

// imageOf is an entry of group as a before-image keeps it (membershipCols).
func imageOf(group string, e *packs.Entry) []any {
	var attrs any
	if e.Attrs != nil {
		attrs = string(e.Attrs)
	}
	origin := "synced"
	if e.Manual {
		origin = "manual"
	}
	return []any{group, e.Member, e.Role, memberTypeOf(e.Group), attrs, e.Hash[:], origin}
}

// entryOfImage is a before-image's membership (cols its columns) as a pack keeps it. Images
// made from the rows of the memberships table before packs are read the same way.
func entryOfImage(cols []string, row []any) (packs.Entry, error) {
	var e packs.Entry
	for i, col := range cols {
		v := row[i]
		str := func() (string, error) {
			switch x := v.(type) {
			case string:
				return x, nil
			case []byte:
				return string(x), nil
			}
			return "", fmt.Errorf("column %s: a %T", col, v)
		}
		var err error
		switch col {
		case "member_key":
			e.Member, err = str()
		case "role":
			e.Role, err = str()
		case "member_type":
			n, ok := v.(int64)
			if !ok {
				return e, fmt.Errorf("column member_type: a %T", v)
			}
			e.Group = n == 2
		case "attrs":
			if v != nil {
				var s string
				s, err = str()
				e.Attrs = []byte(s)
			}
		case "hash":
			var s string
			s, err = str()
			copy(e.Hash[:], s)
		case "origin":
			var s string
			s, err = str()
			e.Manual = s == "manual"
		}
		if err != nil {
			return e, err
		}
	}
	return e, nil
}

// membershipImages reads the memberships of the given keys (group, member, role) as
// before-images, by joinKey; a key without a membership is not there.
func (c *Core) membershipImages(ctx context.Context, q querier, tenant string, keys [][]string) (map[string][]any, error) {
	want := make([][2]string, 0, len(keys))
	roles := map[[2]string][]string{}
	for _, k := range keys {
		p := [2]string{k[0], k[1]}
		want = append(want, p)
		roles[p] = append(roles[p], k[2])
	}
	sortPairs(want)
	want = slices.Compact(want)
	found := make(map[string][]any, len(keys))
	err := c.floorEntries(ctx, q, tenant, want, func(group string, e packs.Entry) error {
		if slices.Contains(roles[[2]string{group, e.Member}], e.Role) {
			found[joinKey([]string{group, e.Member, e.Role})] = imageOf(group, &e)
		}
		return nil
	})
	return found, err
}

// dumpMemberships are tenant's memberships as Dump gives them: a line a membership, its
// columns as a row of the memberships table had them.
func (c *Core) dumpMemberships(ctx context.Context, tenant string) ([]string, error) {
	var lines []string
	err := eachPack(ctx, c.db, c.Q(`SELECT group_key, data FROM membership_packs WHERE tenant = ?`), []any{tenant}, func(group string, es []packs.Entry) error {
		for i := range es {
			lines = append(lines, dumpLine(membershipCols, imageOf(group, &es[i])))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dump memberships: %w", err)
	}
	slices.Sort(lines)
	return lines, nil
}

// MembershipStats are the tables PostgreSQL's statistics of the stored memberships are kept
// on, the columns statements filter each on (store/postgres's RefreshStats), and what their
// rows grow with: the packs with the memberships, about 32 a row (37 in the 316.8 MB feed), the
// member lists with the persons, a row each.
var MembershipStats = []struct {
	Table, Columns, Kind string
	PerRow               int
}{
	{packsTable, "tenant, group_key, first_member", "memberships", 32},
	{listsTable, "tenant, member_type, member_key", "persons", 1},
}

// statementsOnly is a Core for writers given only a transaction: its statements' dialect,
// no database.
func statementsOnly(dollar bool) *Core { return &Core{d: Dialect{Dollar: dollar}} }

// planEdits are a plan's membership changes as edits: the removals and those turned manual,
// then the upserts (a group's edits are applied in this order).
func planEdits(ms []change.Membership) []edit {
	edits := make([]edit, 0, len(ms))
	for i := range ms {
		x := &ms[i]
		switch x.Op {
		case change.Delete:
			edits = append(edits, edit{key: x.Membership.MembershipKey, op: opSyncedRemove})
		case change.Manualize:
			edits = append(edits, edit{key: x.Membership.MembershipKey, op: opSyncedManualize})
		}
	}
	for i := range ms {
		if x := &ms[i]; x.Op == change.Insert || x.Op == change.Update {
			edits = append(edits, edit{key: x.Membership.MembershipKey, op: opSyncedPut, entry: entryOf(&x.Membership)})
		}
	}
	return edits
}

// rowMemberships writes a plan's membership changes through rw, a statement a pack and
// member list changed.
func rowMemberships(rw *rowWriter, tenant string, ms []change.Membership) error {
	if len(ms) == 0 {
		return nil
	}
	c := statementsOnly(rw.dollar)
	empty := false
	if len(ms) >= 1000 {
		some, err := membershipsExist(rw.ctx, rw.tx, rw.dollar, tenant)
		if err != nil {
			return err
		}
		empty = !some
	}
	w := c.rowPacks(rw.ctx, rw.tx, tenant)
	defer w.close()
	if err := c.editPacks(rw.ctx, rw.tx, tenant, planEdits(ms), empty, w, nil); err != nil {
		return err
	}
	for range ms {
		rw.w.Wrote()
	}
	return nil
}

// SetCopy are PostgreSQL's ways of filling a table by COPY inside a plan's write, given to
// StageMemberships by store/postgres.
type SetCopy struct {
	// Into fills table's columns with n rows, row(i) the i-th, each counted as written.
	Into func(table string, cols []string, n int, row func(int) []any) error
	// Temp creates a temporary table (create, named table) and fills it as Into does; with
	// index, key (its key columns) is indexed.
	Temp func(create, table, key string, index bool, cols []string, n int, row func(int) []any) error
}

// SetStep is one set-based statement of a plan's write: what it does (for its error), the
// statement ($n placeholders) and its arguments.
type SetStep struct {
	What, Query string
	Args        []any
}

// setPacks is a packWriter that keeps what it is given, to be copied in at once (setWrite).
type setPacks struct {
	packs []packPut
	lists []listPut
}

type packPut struct {
	group, key      string
	entries, manual int // no entries: delete
	data            []byte
}

type listPut struct {
	memberType int64
	member     string
	groups     []byte // empty: delete
}

func (s *setPacks) putPack(group, key string, entries, manual int, data []byte) error {
	s.packs = append(s.packs, packPut{group, key, entries, manual, data})
	return nil
}

func (s *setPacks) deletePack(group, key string) error {
	s.packs = append(s.packs, packPut{group: group, key: key})
	return nil
}

func (s *setPacks) putList(memberType int64, member string, groups []byte) error {
	s.lists = append(s.lists, listPut{memberType, member, groups})
	return nil
}

func (s *setPacks) deleteList(memberType int64, member string) error {
	s.lists = append(s.lists, listPut{memberType: memberType, member: member, groups: []byte{}})
	return nil
}

// StageMemberships writes w's membership changes set-wise (PostgreSQL): the packs they change
// are read and edited here, then copied in, straight into their tables when the tenant had no
// membership, else into temporary tables that the returned statements apply, to be run at the
// memberships' place among the plan's other tables. Memberships written early (w.Early) are
// left out.
func StageMemberships(ctx context.Context, tx *sql.Tx, w *Write, cp SetCopy) ([]SetStep, error) {
	c := statementsOnly(true)
	ms := w.Plan.Memberships
	if len(ms) == 0 || w.Early {
		return nil, nil
	}
	some, err := membershipsExist(ctx, tx, true, w.Tenant)
	if err != nil {
		return nil, err
	}
	var s setPacks
	if err := c.editPacks(ctx, tx, w.Tenant, planEdits(ms), !some, &s, nil); err != nil {
		return nil, err
	}
	for range ms {
		w.Wrote()
	}
	packRow := func(i int) []any {
		p := &s.packs[i]
		return []any{w.Tenant, p.group, p.key, int64(p.entries), int64(p.manual), p.data}
	}
	listRow := func(i int) []any {
		l := &s.lists[i]
		return []any{w.Tenant, l.memberType, l.member, l.groups}
	}
	if !some { // nothing to replace or delete
		if err := cp.Into(packsTable, packCols, len(s.packs), packRow); err != nil {
			return nil, err
		}
		return nil, cp.Into(listsTable, listCols, len(s.lists), listRow)
	}
	if err := cp.Temp(`CREATE TEMP TABLE imsfeed_packs (tenant text, group_key text, first_member text, entries integer, manual integer, data bytea) ON COMMIT DROP`,
		"imsfeed_packs", "", false, packCols, len(s.packs), packRow); err != nil {
		return nil, err
	}
	if err := cp.Temp(`CREATE TEMP TABLE imsfeed_lists (tenant text, member_type smallint, member_key text, groups bytea) ON COMMIT DROP`,
		"imsfeed_lists", "", false, listCols, len(s.lists), listRow); err != nil {
		return nil, err
	}
	t := w.Tenant
	return []SetStep{
		{"membership packs emptied", `DELETE FROM membership_packs x USING imsfeed_packs t
WHERE t.entries = 0 AND x.tenant = $1 AND x.group_key = t.group_key AND x.first_member = t.first_member`, []any{t}},
		{"membership packs", `INSERT INTO membership_packs (tenant, group_key, first_member, entries, manual, data)
SELECT $1, group_key, first_member, entries, manual, data FROM imsfeed_packs WHERE entries > 0
ON CONFLICT (tenant, group_key, first_member) DO UPDATE SET entries = excluded.entries, manual = excluded.manual, data = excluded.data`, []any{t}},
		{"member lists emptied", `DELETE FROM member_groups x USING imsfeed_lists t
WHERE length(t.groups) = 0 AND x.tenant = $1 AND x.member_type = t.member_type AND x.member_key = t.member_key`, []any{t}},
		{"member lists", `INSERT INTO member_groups (tenant, member_type, member_key, groups)
SELECT $1, member_type, member_key, groups FROM imsfeed_lists WHERE length(groups) > 0
ON CONFLICT (tenant, member_type, member_key) DO UPDATE SET groups = excluded.groups`, []any{t}},
	}, nil
}

// renameMember moves tenant's memberships ms (keys of the old member, a person) to the member
// newKey, each with its new hash.
func (c *Core) renameMember(ctx context.Context, tx *sql.Tx, tenant, newKey string, ms map[record.MembershipKey]record.Hash) error {
	edits := make([]edit, 0, len(ms))
	for k, h := range ms {
		edits = append(edits, edit{key: k, op: opRename, entry: packs.Entry{Member: newKey, Hash: h}})
	}
	err := c.editMemberships(ctx, tx, tenant, edits)
	return err
}

// putManualMembership makes k a manual membership of the platform's (the zero hash, which the
// import never takes over): a new one of memberType, or the one there turned manual.
func (c *Core) putManualMembership(ctx context.Context, tx *sql.Tx, tenant string, k record.MembershipKey, memberType int64) error {
	err := c.editMemberships(ctx, tx, tenant, []edit{{key: k, op: opManualPut, entry: packs.Entry{Group: memberType == 2}}})
	return err
}

// restoreMemberships makes the memberships of the images want (at most keyChunk) what they
// say (undo): gone where there was none, else as the image's columns say.
func (c *Core) restoreMemberships(ctx context.Context, tx *sql.Tx, tenant string, want []image) error {
	edits := make([]edit, 0, len(want))
	for _, im := range want {
		k := record.MembershipKey{Group: im.key[0], Member: im.key[1], Role: im.key[2]}
		if im.row == nil {
			edits = append(edits, edit{key: k, op: opRemove})
			continue
		}
		e, err := entryOfImage(im.cols, im.row)
		if err != nil {
			return fmt.Errorf("undo memberships: before-image of %s: %w", k, err)
		}
		edits = append(edits, edit{key: k, op: opSet, entry: e})
	}
	if err := c.editMemberships(ctx, tx, tenant, edits); err != nil {
		return fmt.Errorf("undo memberships: %w", err)
	}
	return nil
}
