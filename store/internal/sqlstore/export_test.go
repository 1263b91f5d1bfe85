package sqlstore

import "strings"

// KeyLookup is a statement that finds a tenant's rows by a list of keys, with its arguments.
type KeyLookup struct {
	Name  string
	Query string // with ? placeholders
	Args  []any
}

// KeyLookups are the statements imsfeed sends to find the given persons and memberships of
// tenant by key: the before-images an apply and undo take (lazyTable, restore's
// DELETE), the records a night reads whole (StoredRecords), a rollover's scan and the live channel's reads (in).
func KeyLookups(tenant string, persons []string, members [][3]string) []KeyLookup {
	ms := make([][]string, len(members))
	for i, m := range members {
		ms[i] = m[:]
	}
	ps := make([][]string, len(persons))
	for i, p := range persons {
		ps[i] = []string{p}
	}
	var groups []string
	for _, m := range members {
		groups = append(groups, m[0])
	}
	live := func(q string, vals []string) []any {
		var args []any
		for _, v := range vals {
			args = append(args, tenant, v)
		}
		return args
	}
	list := func(q string, n int) string { return strings.ReplaceAll(q, "IN_LIST", inList(n)) }
	pg := &Core{d: Dialect{Dollar: true}}
	pairs := make([][2]string, len(members))
	var ms1 []string
	for i, m := range members {
		pairs[i] = [2]string{m[0], m[1]}
		ms1 = append(ms1, m[1])
	}
	floors, floorArgs := floorQuery(tenant, pairs[:min(len(pairs), editsReadChunk)])
	lists, listArgs := listsQuery(tenant, 1, ms1[:min(len(ms1), editsReadChunk)])
	scanIn, scanArgs := groupsIn(true, tenant, groups)
	stream, streamArgs := streamQuery(tenant, groups[:min(len(groups), streamGroups)])
	return []KeyLookup{
		pg.lookup("before-images of persons", false, undoTables[0], tenant, ps),
		{"stored records of persons", storedPersons + inList(len(persons)), live("", persons)},
		{"live read of persons", list(livePersons, len(persons)), live(livePersons, persons)},
		{"floor packs of memberships (before-images, edits, undo)", floors, floorArgs},
		{"member lists", lists, listArgs},
		{"a rollover's scan of its courses' packs", scanPacks + scanIn + scanOrder, scanArgs},
		{"live read of groups' packs", list(livePacksOfGroups, len(groups)), live(livePacksOfGroups, groups)},
		{"a re-import's stream of stored memberships", stream, streamArgs},
	}
}

// lookup is keyRows' statement as c sends it.
func (c *Core) lookup(name string, del bool, t undoTable, tenant string, keys [][]string) KeyLookup {
	q, args := c.keyRows(del, t, tenant, keys)
	return KeyLookup{name, q, args}
}

// TextArray is textArray.
var TextArray = textArray

// SetMigratePage sets the page size of the move of the memberships into packs (migration 0028)
// until the returned function puts it back.
func SetMigratePage(n int) func() {
	old := migratePage
	migratePage = n
	return func() { migratePage = old }
}
