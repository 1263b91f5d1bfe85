package importer

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
)

// NoticeUnplaced is the attention notice counting the groups put under hierarchy.unplaced.
const NoticeUnplaced = "unplaced-groups"

// placing holds the file's groups back until the file is read, so that the hierarchy rules see
// all of them (a group's children may come after it); persons and memberships go straight to
// the diff. Groups are few, but not small: they are held encoded (heldGroups) while the
// memberships are read. With prefixed course keys, keys maps the records' group keys to the
// stored ones; a membership naming a group neither the file so far nor the store has waits in
// later for the rest of the file.
type placing struct {
	*diff.Differ
	groups heldGroups
	keys   *hierarchy.Keys
	later  []*record.Membership
	// stored, when set, waits for the stored groups and memberships (stagedState.rest): the
	// first membership record needs them; persons do not, nor the groups held back here.
	stored func() error
}

func (p *placing) Group(g *record.Group) error {
	p.keys.See(g)
	p.groups.add(g)
	return nil
}

func (p *placing) Membership(m *record.Membership) error {
	if p.stored != nil {
		if err := p.stored(); err != nil {
			return err
		}
		p.stored = nil
	}
	if !p.keys.Membership(m) {
		p.later = append(p.later, m)
		return nil
	}
	return p.Differ.Membership(m)
}

// place maps the held groups' keys, sets their parents by the rules, hands them and
// imsfeed's own nodes (then the memberships that waited) to the diff, and returns the
// notices for the attention section.
func (p *placing) place(rules hierarchy.Rules) ([]change.Notice, error) {
	var notices []change.Notice
	if rules.Empty() {
		// One group at a time: the diff keeps little of an unchanged one.
		p.Differ.ExpectGroups(p.groups.n)
		err := p.groups.each(func(g *record.Group) error {
			p.keys.Group(g)
			return p.Differ.Group(g)
		})
		if err != nil {
			return nil, err
		}
	} else {
		var groups []*record.Group
		p.groups.each(func(g *record.Group) error { //nolint:errcheck // it returns none
			p.keys.Group(g)
			groups = append(groups, g)
			return nil
		})
		res, err := hierarchy.Place(groups, rules)
		if err != nil {
			return nil, err
		}
		groups = append(groups, res.Nodes...)
		if n := len(res.Unplaced); n > 0 {
			notices = append(notices, change.Notice{Kind: NoticeUnplaced, Key: rules.Unplaced.Key,
				Message: fmt.Sprintf("%d groups have no parent in the file and were placed under %q (%s): %s",
					n, rules.Unplaced.Key, rules.Unplaced.Name, someKeys(res.Unplaced, 10))})
		}
		p.Differ.ExpectGroups(len(groups))
		for i, g := range groups {
			if err := p.Differ.Group(g); err != nil {
				return nil, err
			}
			groups[i] = nil // the diff keeps what it needs of it
		}
	}
	for _, m := range p.later {
		p.keys.Force(m)
		if err := p.Differ.Membership(m); err != nil {
			return nil, err
		}
	}
	p.later = nil
	return notices, nil
}

// finish maps the keys the reader's finish names (skipped records, empty membership lists)
// as the records' are: a skipped group may be a stored course, so both its keys are kept.
func (p *placing) finish(f *diff.Finish) {
	if p.keys == nil {
		return
	}
	alias := func(key string) string {
		if k := hierarchy.CourseKey(p.keys.Year, key); p.keys.Stored(k) {
			return k
		}
		return ""
	}
	for _, s := range f.Skipped {
		if s.Type == record.Groups {
			if k := alias(s.Key); k != "" {
				f.Skipped = append(f.Skipped, diff.Skipped{Type: s.Type, Key: k})
			}
		}
		if s.Type == record.Memberships && s.Group != "" {
			g, _ := p.keys.Ref(s.Group)
			m, _ := p.keys.Ref(s.Member)
			if g != s.Group || m != s.Member {
				f.Skipped = append(f.Skipped, diff.Skipped{Type: s.Type, Key: s.Key, Group: g, Member: m})
			}
		}
	}
	for _, g := range f.EmptyMemberships {
		if k, _ := p.keys.Ref(g); k != g {
			f.EmptyMemberships = append(f.EmptyMemberships, k)
		}
	}
}

// storedParents are the keys the tenant's active stored groups name as parents.
func storedParents(st *change.State) map[string]bool {
	out := map[string]bool{}
	for _, g := range st.Groups {
		if !g.Archived {
			for _, p := range g.Parents {
				out[p] = true
			}
		}
	}
	return out
}

// storedNodes says what the state holds under a rule node's key that is no group of the file
// (hierarchy.Held): in an event file a stored group of the SIS is left as it is, so it is the
// node, as it would be in the file; a snapshot no longer has it, and imsfeed's node takes its
// key, as the file says.
func storedNodes(st *change.State, event bool) func(string) hierarchy.Held {
	return func(key string) hierarchy.Held {
		g, ok := st.Groups[key]
		return hierarchy.StoredHeld(ok, g.Archived, g.Own, !event)
	}
}

// heldGroups are group records encoded (about a quarter of the memory of the records, whose
// strings, slices and struct each are allocations of their own), in the order added, in
// chunks. Every field of record.Group is kept, nil slices as nil.
type heldGroups struct {
	chunks [][]byte
	n      int // how many
}

// heldChunk is how many bytes a chunk holds before the next one starts (a group is never
// split between two).
const heldChunk = 256 << 10

func (h *heldGroups) add(g *record.Group) {
	if len(h.chunks) == 0 || len(h.chunks[len(h.chunks)-1]) >= heldChunk {
		h.chunks = append(h.chunks, make([]byte, 0, heldChunk+4096))
	}
	b := h.chunks[len(h.chunks)-1]
	num := func(v int) { b = binary.AppendVarint(b, int64(v)) }
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	count := func(n int, isNil bool) { // 0 is nil
		if isNil {
			n = -1
		}
		b = binary.AppendUvarint(b, uint64(n+1))
	}
	num(g.Pos.Line)
	num(g.Pos.Column)
	num(int(g.RecStatus))
	str(g.Key)
	str(g.Source)
	str(g.Name)
	count(len(g.Types), g.Types == nil)
	for _, t := range g.Types {
		str(t.Scheme)
		str(t.Value)
		str(t.Level)
	}
	count(len(g.Parents), g.Parents == nil)
	for _, p := range g.Parents {
		str(p)
	}
	if g.SelfParent {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	count(len(g.Attrs), g.Attrs == nil)
	for _, a := range g.Attrs {
		str(a.Name)
		str(a.Value)
	}
	str(g.Template)
	b = append(b, g.Hash[:]...)
	h.chunks[len(h.chunks)-1] = b
	h.n++
}

// each decodes the groups in the order added and calls f with each (a record of its own),
// releasing each chunk once read; it stops at f's first error. Nothing is held after it.
func (h *heldGroups) each(f func(*record.Group) error) error {
	defer func() { h.chunks, h.n = nil, 0 }()
	// Types and attribute names are a handful of strings, shared as the reader shares them;
	// a file's groups have a handful of sources and of type lists too, and each list is shared
	// by the groups that have it (nothing changes a record's types).
	shared := map[string]string{}
	sharedTypes := map[string][]record.GroupType{}
	var scratch []record.GroupType
	for c, b := range h.chunks {
		uv := func() int {
			v, n := binary.Uvarint(b)
			b = b[n:]
			return int(v)
		}
		num := func() int {
			v, n := binary.Varint(b)
			b = b[n:]
			return int(v)
		}
		str := func() string {
			n := uv()
			s := string(b[:n])
			b = b[n:]
			return s
		}
		common := func() string {
			n := uv()
			s, ok := shared[string(b[:n])]
			if !ok {
				s = string(b[:n])
				if len(shared) < 1024 {
					shared[s] = s
				}
			}
			b = b[n:]
			return s
		}
		for len(b) > 0 {
			g := &record.Group{Pos: record.Pos{Line: num(), Column: num()}}
			g.RecStatus = record.RecStatus(num())
			g.Key, g.Source, g.Name = str(), common(), str()
			if n := uv(); n > 0 {
				rest := b
				scratch = scratch[:0]
				for range n - 1 {
					scratch = append(scratch, record.GroupType{Scheme: common(), Value: common(), Level: common()})
				}
				enc := rest[:len(rest)-len(b)]
				if g.Types = sharedTypes[string(enc)]; g.Types == nil {
					g.Types = slices.Clone(scratch)
					if g.Types == nil {
						g.Types = []record.GroupType{}
					}
					if len(sharedTypes) < 1024 {
						sharedTypes[string(enc)] = g.Types
					}
				}
			}
			if n := uv(); n > 0 {
				g.Parents = make([]string, n-1)
				for i := range g.Parents {
					g.Parents[i] = str()
				}
			}
			g.SelfParent, b = b[0] == 1, b[1:]
			if n := uv(); n > 0 {
				g.Attrs = make(record.Attrs, n-1)
				for i := range g.Attrs {
					g.Attrs[i] = record.Attr{Name: common(), Value: str()}
				}
			}
			g.Template = str()
			b = b[copy(g.Hash[:], b):]
			if err := f(g); err != nil {
				return err
			}
		}
		h.chunks[c] = nil
	}
	return nil
}
