package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// The stored memberships, behind one seam: every statement on them is in this file, and the
// rest of the store reads and writes them through the functions below. They are kept as a row
// each in the memberships table, keyed by (tenant, group_key, member_key, role), with an index
// by member; how they are kept may change here (and in a migration) without the callers.
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

// membershipsTable is the table the memberships are rows of.
const membershipsTable = "memberships"

// membershipUndo is undoTables' entry for memberships; the before-images keep a membership's
// columns by these names (the stored format, whatever keeps the memberships).
var membershipUndo = undoTable{"memberships", []string{"group_key", "member_key", "role"}, "origin", "synced", record.Memberships}

// membershipsExist reports whether tenant has any membership, read through q.
func membershipsExist(ctx context.Context, q querier, dollar bool, tenant string) (bool, error) {
	var any bool
	err := q.QueryRowContext(ctx, Rebind(dollar, `SELECT EXISTS (SELECT 1 FROM memberships WHERE tenant = ?)`), tenant).Scan(&any)
	return any, err
}

// hasMemberships reports whether tenant has any membership.
func (c *Core) hasMemberships(ctx context.Context, q querier, tenant string) (bool, error) {
	return membershipsExist(ctx, q, c.d.Dollar, tenant)
}

// countMemberships counts tenant's memberships, or only its synced ones.
func (c *Core) countMemberships(ctx context.Context, q querier, tenant string, syncedOnly bool) (int, error) {
	query := `SELECT count(*) FROM memberships WHERE tenant = ?`
	if syncedOnly {
		query += ` AND origin = 'synced'`
	}
	var n int
	err := q.QueryRowContext(ctx, c.Q(query), tenant).Scan(&n)
	return n, err
}

// membershipOrigins counts tenant's synced and manual memberships.
func (c *Core) membershipOrigins(ctx context.Context, q querier, tenant string) (synced, manual int, err error) {
	rows, err := q.QueryContext(ctx, c.Q(`SELECT origin, count(*) FROM memberships WHERE tenant = ? GROUP BY origin`), tenant)
	if err != nil {
		return 0, 0, err
	}
	for rows.Next() {
		var origin string
		var n int
		if err := rows.Scan(&origin, &n); err != nil {
			rows.Close()
			return 0, 0, err
		}
		switch origin {
		case "synced":
			synced = n
		case "manual":
			manual = n
		}
	}
	return synced, manual, closeRows(rows)
}

// countSyncedUpTo counts tenant's synced memberships up to atMost, reading no more than that
// many of them (by the key's order, an index range), however large the tenant.
func (c *Core) countSyncedUpTo(ctx context.Context, q querier, tenant string, atMost int) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, c.Q(`SELECT count(*) FROM (SELECT 1 FROM memberships WHERE tenant = ? AND origin = 'synced' ORDER BY tenant, group_key, member_key, role LIMIT ?) b`),
		tenant, atMost).Scan(&n)
	return n, err
}

// countMembersOf counts the memberships of tenant's group, of either origin.
func (c *Core) countMembersOf(ctx context.Context, q querier, tenant, group string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, c.Q(`SELECT count(*) FROM memberships WHERE tenant = ? AND group_key = ?`), tenant, group).Scan(&n)
	return n, err
}

// scanCourses is the statement of eachMembershipOfGroups, its condition on the groups
// (groupsIn) and its order (scanOrder) after it.
const (
	scanCourses = `SELECT group_key, member_key, role, hash, member_type, origin FROM memberships WHERE `
	scanOrder   = ` ORDER BY group_key, member_key, role`
)

// groupsIn is a statement's condition on the memberships of tenant's groups of chunk, with its
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
	var n int
	err := q.QueryRowContext(ctx, c.Q(`SELECT count(*) FROM memberships WHERE `+in+` AND origin = 'synced'`), args...).Scan(&n)
	return n, err
}

// eachMembershipOfGroups gives fn the memberships of tenant's groups in key order (group,
// member, role; keys compare byte by byte in both stores, as record.MembershipKey.Compare
// does), in one statement: the caller bounds how many groups.
func (c *Core) eachMembershipOfGroups(ctx context.Context, tx *sql.Tx, tenant string, groups []string, fn func(record.MembershipKey, change.MembershipState) error) error {
	in, args := groupsIn(c.d.Dollar, tenant, groups)
	return c.eachMembership(ctx, tx, scanCourses+in+scanOrder, args, fn)
}

// eachGroupAsMember gives fn, in key order, tenant's memberships whose member is a group (a
// hierarchy's few).
func (c *Core) eachGroupAsMember(ctx context.Context, tx *sql.Tx, tenant string, fn func(record.MembershipKey, change.MembershipState) error) error {
	return c.eachMembership(ctx, tx, scanCourses+`tenant = ? AND member_type = ?`+scanOrder, []any{tenant, int(record.MemberGroup)}, fn)
}

// eachStoredMembership gives fn each of tenant's memberships as the state index holds them, in
// no particular order.
func (c *Core) eachStoredMembership(ctx context.Context, tx *sql.Tx, tenant string, fn func(record.MembershipKey, change.MembershipState) error) error {
	return c.eachMembership(ctx, tx, scanCourses+`tenant = ?`, []any{tenant}, fn)
}

// scanRoles are the roles' strings, so that a scan makes none of its own for them.
var scanRoles = func() map[string]string {
	m := map[string]string{}
	for r := '1'; r <= '8'; r++ {
		s := "0" + string(r)
		m[s] = s
	}
	return m
}()

// eachMembership runs query (its columns: group_key, member_key, role, hash, member_type,
// origin) in tx and gives each row to fn; fn's first error ends it and is returned.
func (c *Core) eachMembership(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(record.MembershipKey, change.MembershipState) error) error {
	rows, err := tx.QueryContext(ctx, c.Q(query), args...)
	if err != nil {
		return err
	}
	var group string // the rows of one group come together: its key is made once
	for rows.Next() {
		var gk, mk, role, hash, origin sql.RawBytes
		var mt int64
		if err := rows.Scan(&gk, &mk, &role, &hash, &mt, &origin); err != nil {
			rows.Close()
			return err
		}
		if string(gk) != group {
			group = string(gk)
		}
		r, ok := scanRoles[string(role)]
		if !ok {
			r = string(role)
		}
		k := record.MembershipKey{Group: group, Member: string(mk), Role: r}
		m := change.MembershipState{MemberType: record.MemberType(mt), Manual: string(origin) == "manual"}
		copy(m.Hash[:], hash)
		if err := fn(k, m); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}

// loadMemberships reads tenant's memberships whole into a set, their keys' strings shared
// through intern (with the persons' and groups' keys read before them).
func (c *Core) loadMemberships(ctx context.Context, tx *sql.Tx, tenant string, intern map[string]string) (*change.MembershipSet, error) {
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT group_key, member_key, role, hash, member_type, origin FROM memberships WHERE tenant = ?`), tenant)
	if err != nil {
		return nil, err
	}
	str := interner(intern)
	set := change.NewMembershipSet(0)
	for rows.Next() {
		var gk, mk, role, hash, origin sql.RawBytes
		var mt int64
		if err := rows.Scan(&gk, &mk, &role, &hash, &mt, &origin); err != nil {
			rows.Close()
			return nil, err
		}
		k := record.MembershipKey{Group: str(gk), Member: str(mk), Role: str(role)}
		m := change.MembershipState{MemberType: record.MemberType(mt), Manual: string(origin) == "manual"}
		copy(m.Hash[:], hash)
		set.Set(k, m)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	set.Loaded()
	return set, nil
}

// The live channel's reads of memberships by a list of keys (in).
const (
	liveMembershipCols       = `SELECT group_key, member_key, role, member_type, attrs, hash, origin FROM memberships WHERE `
	liveMembershipsOfPersons = liveMembershipCols + `(tenant, member_key) IN IN_LIST AND member_type = 1`
	liveMembershipsOfGroups  = liveMembershipCols + `(tenant, group_key) IN IN_LIST`
	liveGroupsAsMembers      = liveMembershipCols + `(tenant, member_key) IN IN_LIST AND member_type = 2`
)

// liveMemberships gives fn, whole, tenant's memberships of the persons (as members), of the
// groups (as the group, and as a member) and of each (group, member) pair, read in tx; a
// membership may come more than once.
func (c *Core) liveMemberships(ctx context.Context, tx *sql.Tx, tenant string, persons, groups []string, pairs [][2]string, fn func(store.StoredMembership)) error {
	scan := func(r *sql.Rows) error {
		var m store.StoredMembership
		var attrs, hash []byte
		var mt int64
		var origin string
		if err := r.Scan(&m.Group, &m.Member, &m.Role, &mt, &attrs, &hash, &origin); err != nil {
			return err
		}
		m.MemberType = record.MemberType(mt)
		m.Manual = origin == "manual"
		copy(m.Hash[:], hash)
		if err := jsonCol(attrs, &m.Attrs); err != nil {
			return fmt.Errorf("membership %s: stored attributes: %w", m.MembershipKey, err)
		}
		fn(m)
		return nil
	}
	if err := in(ctx, c, tx, liveMembershipsOfPersons, tenant, persons, scan); err != nil {
		return err
	}
	if err := in(ctx, c, tx, liveMembershipsOfGroups, tenant, groups, scan); err != nil {
		return err
	}
	if err := in(ctx, c, tx, liveGroupsAsMembers, tenant, groups, scan); err != nil {
		return err
	}
	for _, p := range pairs {
		rows, err := tx.QueryContext(ctx, c.Q(liveMembershipCols+`tenant = ? AND group_key = ? AND member_key = ?`), tenant, p[0], p[1])
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := closeRows(rows); err != nil {
			return err
		}
	}
	return nil
}

// personMemberships are the memberships of tenant's person, with their groups' names, by
// group and role.
func (c *Core) personMemberships(ctx context.Context, q querier, tenant, person string) ([]store.MembershipDetail, error) {
	return c.membershipDetails(ctx, q, `SELECT m.group_key, m.member_key, m.role, m.member_type, m.origin, COALESCE(g.name, '')
FROM memberships m LEFT JOIN groups g ON g.tenant = m.tenant AND g.key = m.group_key
WHERE m.tenant = ? AND m.member_key = ? AND m.member_type = 1 ORDER BY m.group_key, m.role`, tenant, person)
}

// groupMembers are up to limit memberships of tenant's group after the given member and role,
// with their members' names, by member and role.
func (c *Core) groupMembers(ctx context.Context, q querier, tenant, group string, after record.MembershipKey, limit int) ([]store.MembershipDetail, error) {
	return c.membershipDetails(ctx, q, `SELECT m.group_key, m.member_key, m.role, m.member_type, m.origin, COALESCE(p.name, g.name, '')
FROM memberships m
LEFT JOIN persons p ON m.member_type = 1 AND p.tenant = m.tenant AND p.key = m.member_key
LEFT JOIN groups g ON m.member_type = 2 AND g.tenant = m.tenant AND g.key = m.member_key
WHERE m.tenant = ? AND m.group_key = ? AND (m.member_key, m.role) > (?, ?)
ORDER BY m.member_key, m.role LIMIT ?`, tenant, group, after.Member, after.Role, limit)
}

func (c *Core) membershipDetails(ctx context.Context, q querier, query string, args ...any) ([]store.MembershipDetail, error) {
	rows, err := q.QueryContext(ctx, c.Q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.MembershipDetail{}
	for rows.Next() {
		var m store.MembershipDetail
		var mt int64
		var origin string
		if err := rows.Scan(&m.Group, &m.Member, &m.Role, &mt, &origin, &m.Name); err != nil {
			return nil, err
		}
		m.MemberType, m.Manual = record.MemberType(mt), origin == "manual"
		out = append(out, m)
	}
	return out, rows.Err()
}

// membershipImageCols are the columns of a membership's before-image (the tenant's left out),
// in their order.
func (c *Core) membershipImageCols(ctx context.Context, q querier, tenant string) ([]string, error) {
	return c.tableCols(ctx, q, tenant, membershipUndo)
}

// membershipImages reads the memberships of the given keys (group, member, role) as
// before-images, by joinKey; a key without a membership is not there.
func (c *Core) membershipImages(ctx context.Context, q querier, tenant string, keys [][]string) (map[string][]any, error) {
	return c.tableImages(ctx, q, tenant, membershipUndo, keys)
}

// dumpMemberships are tenant's memberships as Dump gives them: a line a row.
func (c *Core) dumpMemberships(ctx context.Context, tenant string) ([]string, error) {
	return c.dumpTable(ctx, membershipsTable, tenant)
}

// MembershipStats is the table PostgreSQL's statistics of the stored memberships are kept
// on, and the columns statements filter it on (store/postgres's RefreshStats).
var MembershipStats = struct{ Table, Columns string }{membershipsTable, "tenant, group_key, member_key, role, member_type, origin"}

// The statements a plan's memberships are written with row by row. Only synced memberships
// are ever changed; an insert meeting a manual membership leaves it alone. A manual membership
// with the feed's hash (an archival turned it manual; the last argument is the zero hash the
// platform's own carry) is the feed's again once the file has it: its course was restored.
const (
	membershipUpsert = `INSERT INTO memberships (tenant, group_key, member_key, role, member_type, attrs, hash, origin)
VALUES (?, ?, ?, ?, ?, ?, ?, 'synced')
ON CONFLICT (tenant, group_key, member_key, role) DO UPDATE SET member_type = excluded.member_type,
  attrs = excluded.attrs, hash = excluded.hash, origin = 'synced'
WHERE memberships.origin = 'synced' OR memberships.hash <> ?`
	membershipDelete = `DELETE FROM memberships
WHERE tenant = ? AND group_key = ? AND member_key = ? AND role = ? AND origin = 'synced'`
	membershipManualize = `UPDATE memberships SET origin = 'manual'
WHERE tenant = ? AND group_key = ? AND member_key = ? AND role = ? AND origin = 'synced'`
)

// rowMemberships writes a plan's membership changes a statement each through rw: the removals
// and those turned manual, then the upserts.
func rowMemberships(rw *rowWriter, tenant string, ms []change.Membership) error {
	for _, x := range ms {
		k := x.Membership.MembershipKey
		var err error
		switch x.Op {
		case change.Delete:
			err = rw.exec(membershipDelete, tenant, k.Group, k.Member, k.Role)
		case change.Manualize:
			err = rw.exec(membershipManualize, tenant, k.Group, k.Member, k.Role)
		}
		if err != nil {
			return recordErr("membership", k.String(), err)
		}
	}
	for _, x := range ms {
		if x.Op == change.Insert || x.Op == change.Update {
			m := &x.Membership
			if err := rw.exec(membershipUpsert, tenant, m.Group, m.Member, m.Role, MemberType(m.MemberType), JSON(m.Attrs), m.Hash[:], ZeroHash[:]); err != nil {
				return recordErr("membership", m.MembershipKey.String(), err)
			}
		}
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

// StageMemberships starts the set-based write of w's membership changes (PostgreSQL) and
// returns the statements that finish it, in RowWriter's order (removals and those turned
// manual, then the upserts), to be run at the memberships' place among the plan's other
// tables. An initial load's (only inserts, at least 1000, of a tenant that has no membership)
// are copied straight in, with no statement after; the others are copied into a temporary
// table the statements read. Memberships written early (w.Early) are left out.
func StageMemberships(ctx context.Context, tx *sql.Tx, w *Write, cp SetCopy) ([]SetStep, error) {
	ms := w.Plan.Memberships
	if len(ms) == 0 || w.Early {
		return nil, nil
	}
	var has [7]bool
	for i := range ms {
		has[ms[i].Op] = true
	}
	onlyInserts := true
	for op, ok := range has {
		if ok && change.Op(op) != change.Insert {
			onlyInserts = false
		}
	}
	// An initial load (only inserts, into a table holding nothing of the tenant) is copied
	// straight into the table: no temporary table, no conflict checks.
	if len(ms) >= 1000 && onlyInserts {
		some, err := membershipsExist(ctx, tx, true, w.Tenant)
		if err != nil {
			return nil, err
		}
		if !some {
			return nil, cp.Into(membershipsTable, []string{"tenant", "group_key", "member_key", "role", "member_type", "attrs", "hash"},
				len(ms), func(i int) []any {
					m := &ms[i].Membership
					return []any{w.Tenant, m.Group, m.Member, m.Role, MemberType(m.MemberType), JSON(m.Attrs), m.Hash[:]}
				})
		}
	}
	removals := has[change.Delete] || has[change.Manualize]
	err := cp.Temp(`CREATE TEMP TABLE imsfeed_m (op smallint, group_key text, member_key text, role text,
  member_type smallint, attrs jsonb, hash bytea) ON COMMIT DROP`,
		"imsfeed_m", "group_key, member_key, role", removals, []string{"op", "group_key", "member_key", "role", "member_type", "attrs", "hash"},
		len(ms), func(i int) []any {
			x := &ms[i]
			m := &x.Membership
			return []any{int64(x.Op), m.Group, m.Member, m.Role, MemberType(m.MemberType), JSON(m.Attrs), m.Hash[:]}
		})
	if err != nil {
		return nil, err
	}
	t := w.Tenant
	// The groups of the memberships removed or turned manual, as a range of keys: implied by
	// the join, it lets the planner read a piece's few groups by the primary key, where it
	// scanned the tenant's every membership for each piece of an apply in pieces (a broken
	// night of the 316.8 MB feed: 46 pieces, 10.0 s of the server's time against 3.2 s whole).
	// A whole plan's range spans the tenant and is planned as before.
	lo, hi := groupRange(ms)
	var steps []SetStep
	if has[change.Delete] {
		steps = append(steps, SetStep{"membership deletes", `DELETE FROM memberships x USING imsfeed_m t
WHERE t.op = 3 AND x.tenant = $1 AND x.group_key = t.group_key AND x.member_key = t.member_key
  AND x.role = t.role AND x.origin = 'synced' AND x.group_key BETWEEN $2 AND $3`, []any{t, lo, hi}})
	}
	if has[change.Manualize] {
		steps = append(steps, SetStep{"memberships turned manual", `UPDATE memberships x SET origin = 'manual' FROM imsfeed_m t
WHERE t.op = 6 AND x.tenant = $1 AND x.group_key = t.group_key AND x.member_key = t.member_key
  AND x.role = t.role AND x.origin = 'synced' AND x.group_key BETWEEN $2 AND $3`, []any{t, lo, hi}})
	}
	if has[change.Insert] || has[change.Update] {
		steps = append(steps, SetStep{"membership upserts", `INSERT INTO memberships (tenant, group_key, member_key, role, member_type, attrs, hash, origin)
SELECT $1, group_key, member_key, role, member_type, attrs, hash, 'synced' FROM imsfeed_m WHERE op IN (1, 2)
ON CONFLICT (tenant, group_key, member_key, role) DO UPDATE SET member_type = excluded.member_type,
  attrs = excluded.attrs, hash = excluded.hash, origin = 'synced'
WHERE memberships.origin = 'synced' OR memberships.hash <> $2`, []any{t, ZeroHash[:]}})
	}
	return steps, nil
}

// groupRange is the least and the greatest group key of the memberships removed or turned
// manual, compared byte by byte as the key columns are (COLLATE "C").
func groupRange(ms []change.Membership) (lo, hi string) {
	first := true
	for i := range ms {
		if op := ms[i].Op; op != change.Delete && op != change.Manualize {
			continue
		}
		k := ms[i].Membership.Group
		if first || k < lo {
			lo = k
		}
		if first || k > hi {
			hi = k
		}
		first = false
	}
	return lo, hi
}

// renameMember moves tenant's memberships ms (keys of the old member, a person) to the member
// newKey, each with its new hash.
func (c *Core) renameMember(ctx context.Context, tx *sql.Tx, tenant, newKey string, ms map[record.MembershipKey]record.Hash) error {
	for k, h := range ms {
		_, err := tx.ExecContext(ctx, c.Q(`UPDATE memberships SET member_key = ?, hash = ? WHERE tenant = ? AND group_key = ? AND member_key = ? AND role = ? AND member_type = 1`),
			newKey, h[:], tenant, k.Group, k.Member, k.Role)
		if err != nil {
			return fmt.Errorf("membership %s: %w", k, err)
		}
	}
	return nil
}

// putManualMembership makes k a manual membership of the platform's (the zero hash, which the
// import never takes over): a new one of memberType, or the one there turned manual.
func (c *Core) putManualMembership(ctx context.Context, tx *sql.Tx, tenant string, k record.MembershipKey, memberType int64) error {
	_, err := tx.ExecContext(ctx, c.Q(`INSERT INTO memberships (tenant, group_key, member_key, role, member_type, hash, origin)
VALUES (?, ?, ?, ?, ?, ?, 'manual')
ON CONFLICT (tenant, group_key, member_key, role) DO UPDATE SET origin = 'manual', hash = excluded.hash`),
		tenant, k.Group, k.Member, k.Role, memberType, ZeroHash[:])
	return err
}

// The table and columns early inserts copy an initial load's memberships into while the file
// is read (the tenant has none: EarlyInserts checks), a row each as earlyMembershipRow writes
// it.
const earlyMembershipsTable = membershipsTable

var earlyMembershipCols = []string{"tenant", "group_key", "member_key", "role", "member_type", "attrs", "hash"}

func earlyMembershipRow(r row, tenant string, m *record.Membership) {
	r.text(tenant)
	r.text(m.Group)
	r.text(m.Member)
	r.text(m.Role)
	r.int(MemberType(m.MemberType))
	jsonValue(r, JSON(m.Attrs))
	r.bytes(m.Hash[:])
}

// restoreMemberships makes the memberships of the images want (at most keyChunk) what they
// say (undo): gone where there was none, else as the image's columns say.
func (c *Core) restoreMemberships(ctx context.Context, tx *sql.Tx, tenant string, want []image) error {
	return c.restoreRows(ctx, tx, tenant, membershipUndo, want)
}
