package packs

import (
	"slices"
	"strings"
)

// Group is one group's packs as a store read them for an edit: for every member to be edited,
// the member's floor pack (the store's pack with the greatest key not greater than the
// member's; none if there is no such pack). Edits go to the floor among the packs read, so a
// member must not be edited unless its floor was read (or found missing).
type Group struct {
	packs []*pack // by key
	// before: for each member edited, whether it had an entry in the group before its first
	// edit, and whether it was a group.
	before map[string]had
}

type had struct{ entries, group bool }

type pack struct {
	key     string
	stored  bool // read from the store (else made by an edit)
	changed bool
	entries []Entry
}

// Read adds a pack read from the store (a pack read twice is kept once).
func (g *Group) Read(key string, data []byte) error {
	i, found := g.find(key)
	if found {
		return nil
	}
	es, err := Decode(data)
	if err != nil {
		return err
	}
	g.packs = slices.Insert(g.packs, i, &pack{key: key, stored: true, entries: es})
	return nil
}

// find is where key is, or would be, in g.packs.
func (g *Group) find(key string) (int, bool) {
	return slices.BinarySearchFunc(g.packs, key, func(p *pack, k string) int { return strings.Compare(p.key, k) })
}

// floor is the pack a member's entries are in (nil: none read covers it).
func (g *Group) floor(member string) *pack {
	i, found := g.find(member)
	if found {
		return g.packs[i]
	}
	if i == 0 {
		return nil
	}
	return g.packs[i-1]
}

// Entries are the member's entries in the group, by role (shared with g: read only).
func (g *Group) Entries(member string) []Entry {
	p := g.floor(member)
	if p == nil {
		return nil
	}
	i, j := p.span(member)
	return p.entries[i:j:j]
}

// Get is the member's entry in role.
func (g *Group) Get(member, role string) (Entry, bool) {
	for _, e := range g.Entries(member) {
		if e.Role == role {
			return e, true
		}
	}
	return Entry{}, false
}

// span is where member's entries are in p.entries.
func (p *pack) span(member string) (int, int) {
	i, _ := slices.BinarySearchFunc(p.entries, member, func(e Entry, m string) int { return strings.Compare(e.Member, m) })
	j := i
	for j < len(p.entries) && p.entries[j].Member == member {
		j++
	}
	return i, j
}

func (g *Group) mark(member string) {
	if g.before == nil {
		g.before = map[string]had{}
	}
	if _, ok := g.before[member]; !ok {
		es := g.Entries(member)
		g.before[member] = had{len(es) > 0, len(es) > 0 && es[0].Group}
	}
}

// Put adds e, or replaces the entry of its member and role.
func (g *Group) Put(e Entry) {
	g.mark(e.Member)
	p := g.floor(e.Member)
	if p == nil {
		// No pack covers the member: the store has none below it (its floor was read and
		// missing), so a new first pack, keyed "", does.
		p = &pack{key: ""}
		g.packs = slices.Insert(g.packs, 0, p)
	}
	i, found := slices.BinarySearchFunc(p.entries, e, func(a, b Entry) int { return Compare(&a, &b) })
	if found {
		p.entries[i] = e
	} else {
		p.entries = slices.Insert(p.entries, i, e)
	}
	p.changed = true
}

// Remove deletes the member's entry in role and says whether there was one.
func (g *Group) Remove(member, role string) bool {
	g.mark(member)
	p := g.floor(member)
	if p == nil {
		return false
	}
	i, found := slices.BinarySearchFunc(p.entries, Entry{Member: member, Role: role}, func(a, b Entry) int { return Compare(&a, &b) })
	if !found {
		return false
	}
	p.entries = slices.Delete(p.entries, i, i+1)
	p.changed = true
	return true
}

// Write is a pack to store: a new row unless Stored (then the row of that key is replaced).
type Write struct {
	Row
	Stored bool
}

// Changes are the edits' result: the packs to write (a pack grown too large is cut in more),
// the keys of stored packs left empty (to delete), and the members that joined the group (had
// no entry in it before the first edit, have one now) or left it, by key.
type Changes struct {
	Writes       []Write
	Deletes      []string
	Joined, Left []Member
}

// Member is a member that joined or left a group: its key, and whether it is a group.
type Member struct {
	Key   string
	Group bool
}

// Changes says what the edits made of the packs read. g is spent.
func (g *Group) Changes() Changes {
	var c Changes
	for _, p := range g.packs {
		if !p.changed {
			continue
		}
		if len(p.entries) == 0 {
			if p.stored {
				c.Deletes = append(c.Deletes, p.key)
			}
			continue
		}
		first := true
		Cut(p.entries, func(es []Entry) {
			w := Write{Row: RowOf(es[0].Member, es)}
			if first {
				w.Key, w.Stored = p.key, p.stored
				first = false
			}
			c.Writes = append(c.Writes, w)
		})
	}
	for m, was := range g.before {
		es := g.Entries(m)
		switch has := len(es) > 0; {
		case has && !was.entries:
			c.Joined = append(c.Joined, Member{m, es[0].Group})
		case was.entries && !has:
			c.Left = append(c.Left, Member{m, was.group})
		}
	}
	byKey := func(a, b Member) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(c.Joined, byKey)
	slices.SortFunc(c.Left, byKey)
	*g = Group{}
	return c
}
