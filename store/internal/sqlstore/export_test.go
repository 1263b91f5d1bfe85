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
	scanIn, scanArgs := groupsIn(true, tenant, groups)
	pg := &Core{d: Dialect{Dollar: true}}
	return []KeyLookup{
		pg.lookup("before-images of persons", false, undoTables[0], tenant, ps),
		pg.lookup("before-images of memberships", false, undoTables[2], tenant, ms),
		pg.lookup("undo's delete of memberships", true, undoTables[2], tenant, ms),
		{"stored records of persons", storedPersons + inList(len(persons)), live("", persons)},
		{"live read of persons", list(livePersons, len(persons)), live(livePersons, persons)},
		{"live read of persons' memberships", list(liveMembershipsOfPersons, len(persons)), live(liveMembershipsOfPersons, persons)},
		{"a rollover's scan of its courses' memberships", scanCourses + scanIn + scanOrder, scanArgs},
		{"live read of groups' members", list(liveMembershipsOfGroups, len(groups)), live(liveMembershipsOfGroups, groups)},
	}
}

// lookup is keyRows' statement as c sends it.
func (c *Core) lookup(name string, del bool, t undoTable, tenant string, keys [][]string) KeyLookup {
	q, args := c.keyRows(del, t, tenant, keys)
	return KeyLookup{name, q, args}
}

// TextArray is textArray.
var TextArray = textArray
