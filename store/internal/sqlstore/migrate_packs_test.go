package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"

	"github.com/imsfeed/imsfeed/schemas"
	"github.com/imsfeed/imsfeed/store/internal/packs"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// migrationDB is an empty database of one of the stores, with its migration files.
type migrationDB struct {
	db     *sql.DB
	dollar bool
	all    fs.FS
}

func sqliteMigrationDB(t *testing.T) migrationDB {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	all, err := schemas.Migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	return migrationDB{db: db, all: all}
}

func postgresMigrationDB(t *testing.T) migrationDB {
	db, err := sql.Open("postgres", storetest.PostgresSchema(t, "packmig"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	all, err := schemas.Migrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	return migrationDB{db: db, dollar: true, all: all}
}

// migrate runs sqlstore.Migrate with the migration files named before `before` ("" for all).
func (m migrationDB) migrate(t *testing.T, before string) {
	t.Helper()
	fsys := m.all
	if before != "" {
		older := fstest.MapFS{}
		names, _ := fs.Glob(m.all, "*.sql")
		for _, n := range names {
			if n < before {
				b, _ := fs.ReadFile(m.all, n)
				older[n] = &fstest.MapFile{Data: b}
			}
		}
		fsys = older
	}
	if err := sqlstore.Migrate(context.Background(), m.db, fsys, m.dollar, ""); err != nil {
		t.Fatal(err)
	}
}

// oldMembership is a row of the memberships table before migration 0028.
type oldMembership struct {
	tenant, group, member, role string
	memberType                  int
	attrs                       string // "" for NULL
	hash                        [16]byte
	manual                      bool
}

func (r oldMembership) entry() packs.Entry {
	e := packs.Entry{Member: r.member, Role: r.role, Group: r.memberType == 2, Manual: r.manual, Hash: r.hash}
	if r.attrs != "" {
		e.Attrs = []byte(r.attrs)
	}
	return e
}

// oldMemberships are two tenants' rows: a group of more than 64 members, some in two roles,
// some manual, some with attributes; a group whose entries take more than MaxBytes, with a
// member whose entries alone do; a group of groups; keys with non-ASCII bytes and keys that are
// prefixes of others; the same group key and member keys in the other tenant; a key that is a
// person in one group and a group in another.
func oldMemberships() []oldMembership {
	rnd := rand.New(rand.NewPCG(18, 28))
	var rows []oldMembership
	add := func(tenant, group, member, role string, memberType int, attrs string, manual bool) {
		r := oldMembership{tenant: tenant, group: group, member: member, role: role, memberType: memberType, attrs: attrs, manual: manual}
		for i := range r.hash {
			r.hash[i] = byte(rnd.Uint32())
		}
		rows = append(rows, r)
	}
	for i := range 150 {
		m := fmt.Sprintf("p%d", i) // p1 < p10 < p100 < p11: prefixes
		attrs := ""
		if i%3 == 0 {
			attrs = `[{"n": "subrole", "v": "Lernende"}]`
		}
		add("t1", "big", m, "01", 1, attrs, i%7 == 0)
		if i%10 == 0 {
			add("t1", "big", m, "02", 1, "", i%20 == 0)
		}
	}
	for _, m := range []string{"Zoë", "zoe", "Ærø", "émile", "ÿ", "Ωmega", "日本"} {
		add("t1", "big", m, "01", 1, `{"name": "`+m+`"}`, false)
	}
	long := `{"note": "` + strings.Repeat("x", 150) + `"}`
	for i := range 30 {
		add("t1", "fat", fmt.Sprintf("f%02d", i), "01", 1, long, false)
	}
	for _, role := range []string{"01", "02", "03", "04", "05", "06", "07", "08"} {
		add("t1", "fat", "f15x", role, 1, `{"note": "`+strings.Repeat("y", 300)+`"}`, role == "05")
	}
	add("t1", "school", "big", "01", 2, "", false)
	add("t1", "school", "fat", "01", 2, "", true)
	add("t1", "school", "p1", "02", 1, "", false)
	add("t1", "école", "p1", "01", 1, "", false)
	for i := range 70 {
		add("t2", "big", fmt.Sprintf("p%d", i), "01", 1, "", i == 69)
	}
	add("t2", "g", "big", "01", 2, `{}`, false)
	add("t2", "g", "p1", "08", 1, "", false)
	return rows
}

func (m migrationDB) insertOld(t *testing.T, rows []oldMembership) {
	t.Helper()
	tx, err := m.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	q := sqlstore.Rebind(m.dollar, `INSERT INTO memberships (tenant, group_key, member_key, role, member_type, attrs, hash, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	for _, r := range rows {
		var attrs any
		if r.attrs != "" {
			attrs = r.attrs
		}
		origin := "synced"
		if r.manual {
			origin = "manual"
		}
		if _, err := tx.Exec(q, r.tenant, r.group, r.member, r.role, r.memberType, attrs, r.hash[:], origin); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

type packRow struct {
	tenant, group, first string
	entries, manual      int
	data                 []byte
}

func (m migrationDB) packRows(t *testing.T) []packRow {
	t.Helper()
	rows, err := m.db.Query(`SELECT tenant, group_key, first_member, entries, manual, data FROM membership_packs ORDER BY tenant, group_key, first_member`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []packRow
	for rows.Next() {
		var p packRow
		if err := rows.Scan(&p.tenant, &p.group, &p.first, &p.entries, &p.manual, &p.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type memberGroupsRow struct {
	tenant     string
	memberType int
	member     string
	groups     []byte
}

func (m migrationDB) memberGroupsRows(t *testing.T) []memberGroupsRow {
	t.Helper()
	rows, err := m.db.Query(`SELECT tenant, member_type, member_key, groups FROM member_groups ORDER BY tenant, member_type, member_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []memberGroupsRow
	for rows.Next() {
		var r memberGroupsRow
		if err := rows.Scan(&r.tenant, &r.memberType, &r.member, &r.groups); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// exists says whether the database has a table or index of that name.
func (m migrationDB) exists(t *testing.T, name string) bool {
	t.Helper()
	var n int
	q := `SELECT count(*) FROM sqlite_master WHERE name = ?`
	if m.dollar {
		q = `SELECT count(*) FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace`
	}
	if err := m.db.QueryRow(q, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// checkPacked checks the packs and member lists migration 0028 made of rows, decoding them:
// the entries are the rows, each group's packs are its entries sorted and cut as the stores'
// writers keep them, and each member's list is the groups it has entries in.
func (m migrationDB) checkPacked(t *testing.T, rows []oldMembership) {
	t.Helper()
	if m.exists(t, "memberships") || m.exists(t, "memberships_migrate_member_groups") {
		t.Error("the memberships table or the migration's index is still there")
	}
	type groupID struct{ tenant, group string }
	want := map[groupID][]packs.Entry{}
	wantLists := map[string][]string{} // tenant, type, member -> groups
	for _, r := range rows {
		g := groupID{r.tenant, r.group}
		want[g] = append(want[g], r.entry())
		k := fmt.Sprintf("%s|%d|%s", r.tenant, r.memberType, r.member)
		wantLists[k] = packs.Join(wantLists[k], r.group)
	}
	got := map[groupID][]packRow{}
	for _, p := range m.packRows(t) {
		g := groupID{p.tenant, p.group}
		got[g] = append(got[g], p)
	}
	for g, ps := range got {
		if want[g] == nil {
			t.Errorf("%v: %d packs of a group with no rows", g, len(ps))
		}
	}
	for g, es := range want {
		slices.SortFunc(es, func(a, b packs.Entry) int { return packs.Compare(&a, &b) })
		ps := got[g]
		var all []packs.Entry
		for i, p := range ps {
			pes, err := packs.Decode(p.data)
			if err != nil {
				t.Errorf("%v, pack %q: %v", g, p.first, err)
				continue
			}
			if i == 0 && p.first != "" || i > 0 && (len(pes) == 0 || p.first != pes[0].Member) {
				t.Errorf("%v: pack %d keyed %q, want \"\" for the first and else its first member", g, i, p.first)
			}
			manual := 0
			for _, e := range pes {
				if e.Manual {
					manual++
				}
			}
			if p.entries != len(pes) || p.manual != manual {
				t.Errorf("%v, pack %q: counts %d and %d manual, its data has %d and %d", g, p.first, p.entries, p.manual, len(pes), manual)
			}
			oneMember := len(pes) > 0 && pes[0].Member == pes[len(pes)-1].Member
			header := len(binary.AppendUvarint(nil, uint64(len(pes))))
			if !oneMember && (len(pes) > packs.MaxEntries || len(p.data)-header > packs.MaxBytes) {
				t.Errorf("%v, pack %q: %d entries in %d bytes, over the bounds", g, p.first, len(pes), len(p.data))
			}
			if len(all) > 0 && len(pes) > 0 && all[len(all)-1].Member == pes[0].Member {
				t.Errorf("%v: member %q's roles split over two packs", g, pes[0].Member)
			}
			all = append(all, pes...)
		}
		if a, b := fmt.Sprint(all), fmt.Sprint(es); a != b {
			t.Errorf("%v: the packs' entries\n%s\nwant the rows'\n%s", g, a, b)
			continue
		}
		// The same cut as the writers': packs.Cut of the group's sorted entries.
		var cut [][]byte
		packs.Cut(es, func(es []packs.Entry) { cut = append(cut, packs.Append(nil, es)) })
		if len(cut) != len(ps) {
			t.Errorf("%v: %d packs, packs.Cut makes %d", g, len(ps), len(cut))
			continue
		}
		for i := range cut {
			if !bytes.Equal(cut[i], ps[i].data) {
				t.Errorf("%v: pack %d is not packs.Cut's", g, i)
			}
		}
	}
	gotLists := map[string][]string{}
	for _, r := range m.memberGroupsRows(t) {
		groups, err := packs.DecodeList(r.groups)
		if err != nil {
			t.Errorf("%s %d %q: %v", r.tenant, r.memberType, r.member, err)
		}
		gotLists[fmt.Sprintf("%s|%d|%s", r.tenant, r.memberType, r.member)] = groups
	}
	if a, b := fmt.Sprint(gotLists), fmt.Sprint(wantLists); a != b {
		t.Errorf("member lists\n%s\nwant\n%s", a, b)
	}
}

// checkCoverage checks that oldMemberships' packs are cut by both bounds: a group cut by the
// count of entries, one cut by their size, one pack of a member over MaxBytes alone.
func (m migrationDB) checkCoverage(t *testing.T) {
	t.Helper()
	n := map[string]int{}
	alone := false
	for _, p := range m.packRows(t) {
		n[p.tenant+"/"+p.group]++
		if p.group == "fat" && p.first == "f15x" && p.entries == 8 && len(p.data) > packs.MaxBytes {
			alone = true
		}
	}
	if n["t1/big"] < 3 || n["t2/big"] != 2 || n["t1/fat"] < 3 || !alone {
		t.Errorf("packs by group %v (a member alone over MaxBytes: %v): the rows no longer cover both bounds", n, alone)
	}
}

// Migration 0028 moves a database's memberships rows into packs and member lists, laid out as
// the stores' writers keep them, and drops the rows' table; run again it changes nothing.
func TestMembershipsMigrateIntoPacks(t *testing.T) {
	for _, store := range []struct {
		name string
		open func(*testing.T) migrationDB
	}{{"SQLite", sqliteMigrationDB}, {"PostgreSQL", postgresMigrationDB}} {
		t.Run(store.name, func(t *testing.T) {
			// Pages of the default size, then pages so small that groups, members and even a
			// member's roles span them.
			for _, page := range []int{0, 7, 1} {
				t.Run(fmt.Sprintf("page%d", page), func(t *testing.T) {
					if page != 0 {
						defer sqlstore.SetMigratePage(page)()
					}
					m := store.open(t)
					m.migrate(t, "0028")
					rows := oldMemberships()
					m.insertOld(t, rows)
					m.migrate(t, "")
					m.checkPacked(t, rows)
					if t.Failed() {
						return
					}
					m.checkCoverage(t)
					packsBefore, listsBefore := m.packRows(t), m.memberGroupsRows(t)
					m.migrate(t, "")
					if a, b := fmt.Sprint(m.packRows(t), m.memberGroupsRows(t)), fmt.Sprint(packsBefore, listsBefore); a != b {
						t.Error("migrating again changed the packs or the member lists")
					}
				})
			}
			t.Run("Fresh", func(t *testing.T) {
				m := store.open(t)
				m.migrate(t, "")
				m.checkPacked(t, nil)
				if !m.exists(t, "membership_packs") || !m.exists(t, "member_groups") {
					t.Error("a fresh database has no membership_packs or member_groups")
				}
			})
		})
	}
}
