package change

import (
	"fmt"
	"hash/maphash"
	"iter"
	"math/bits"

	"github.com/imsfeed/imsfeed/record"
)

// MembershipSet is a tenant's stored memberships as the diff reads them: most of a state
// (1.5 million in a 317 MB tenant, 4.7 million in a 1 GB one), so it is kept compact. A map
// keyed by the three key strings took about 150 bytes a membership; here each key string is
// kept once and named by a number, an entry is 32 bytes, and the lookup table 4 bytes a slot
// (about 40 bytes a membership in all, the table between 3/8 and 3/4 full). Lookups are exact:
// a slot leads to an entry whose strings are compared. Iteration is in insertion order. The
// zero value is not usable: make one with NewMembershipSet; a nil *MembershipSet reads as empty.
type MembershipSet struct {
	strs []string // the key strings, by number
	// ids numbers the strings; nil once a loader called Loaded (made again by the next Set
	// of a key with a string not seen).
	ids     map[string]uint32
	entries []memberEntry
	// table is open addressing by key hash: 0 is empty, else the index into entries + 1 in the
	// low bits (bits = log2 of the table's size, so every entry's index fits: the table is at
	// most 3/4 full) and as many of the hash's top bits as are left, to pass most other keys
	// without reading their entry.
	table []uint32
	bits  uint8
	live  int // entries not deleted
	seed  maphash.Seed
	// roles are the string numbers of the roles, by an entry's role byte (roles are a
	// handful: "01".."08"); an entry whose role came after the first 255 has roleMore, and its
	// role's number in moreRoles, by the entry's index.
	roles     []uint32
	moreRoles map[uint32]uint32
	// The id of the last group interned: a state is loaded group by group, so most entries
	// intern one string (the member) through ids.
	lastGroup uint32
	last      uint32 // the id Intern returned last
}

type memberEntry struct {
	group, member uint32
	seenLine      int32
	hash          record.Hash
	role          uint8 // index into roles, or roleMore
	memberType    int8
	flags         uint8
}

const roleMore = 255

const (
	entryManual uint8 = 1 << iota
	entrySeen
	entryDeleted
)

// NewMembershipSet returns an empty set with room for n memberships.
func NewMembershipSet(n int) *MembershipSet {
	s := &MembershipSet{ids: map[string]uint32{}, seed: maphash.MakeSeed(), entries: make([]memberEntry, 0, n)}
	s.makeTable(tableSize(n))
	return s
}

// MembershipsOf returns a set holding the given memberships (tests and small states).
func MembershipsOf(m map[record.MembershipKey]MembershipState) *MembershipSet {
	s := NewMembershipSet(len(m))
	for k, v := range m {
		s.Set(k, v)
	}
	return s
}

// tableSize is the power of two that keeps n entries at most 3/4 full.
func tableSize(n int) int {
	size := 16
	for size*3 < n*4 {
		size *= 2
	}
	return size
}

func (s *MembershipSet) makeTable(size int) {
	s.table = make([]uint32, size)
	s.bits = uint8(bits.TrailingZeros(uint(size)))
}

// slot is what the table holds for entry index i of a key with hash h.
func (s *MembershipSet) slot(h uint64, i int) uint32 {
	return uint32(h>>32)>>s.bits<<s.bits | uint32(i+1)
}

// Len is how many memberships the set holds.
func (s *MembershipSet) Len() int {
	if s == nil {
		return 0
	}
	return s.live
}

// hash mixes the hashes of the key's three strings (maphash.Comparable would allocate a copy of
// the key on every call).
func (s *MembershipSet) hash(k record.MembershipKey) uint64 {
	const mix = 0x9E3779B97F4A7C15
	h := maphash.String(s.seed, k.Group)
	h = h*mix ^ maphash.String(s.seed, k.Member)
	h = h*mix ^ maphash.String(s.seed, k.Role)
	return h ^ h>>29
}

func (s *MembershipSet) key(i int) record.MembershipKey {
	e := &s.entries[i]
	return record.MembershipKey{Group: s.strs[e.group], Member: s.strs[e.member], Role: s.strs[s.roleOf(i)]}
}

// roleOf is the string number of entry i's role.
func (s *MembershipSet) roleOf(i int) uint32 {
	if r := s.entries[i].role; r != roleMore {
		return s.roles[r]
	}
	return s.moreRoles[uint32(i)]
}

// find returns the table slot of k: the one holding its entry (found), or the empty one where
// it would go; and k's hash.
func (s *MembershipSet) find(k record.MembershipKey) (slot int, h uint64, found bool) {
	h = s.hash(k)
	mask := len(s.table) - 1
	idx := uint32(mask)
	tag := s.slot(h, -1)
	for i := int(h) & mask; ; i = (i + 1) & mask {
		x := s.table[i]
		if x == 0 {
			return i, h, false
		}
		if x&^idx != tag {
			continue
		}
		j := int(x&idx) - 1
		e := &s.entries[j]
		if e.flags&entryDeleted == 0 && s.strs[e.group] == k.Group && s.strs[e.member] == k.Member && s.strs[s.roleOf(j)] == k.Role {
			return i, h, true
		}
	}
}

// entry is the entry a slot names.
func (s *MembershipSet) entry(slot int) *memberEntry {
	return &s.entries[int(s.table[slot]&uint32(len(s.table)-1))-1]
}

// Get returns the stored membership of key k.
func (s *MembershipSet) Get(k record.MembershipKey) (MembershipState, bool) {
	if s == nil || s.live == 0 {
		return MembershipState{}, false
	}
	slot, _, ok := s.find(k)
	if !ok {
		return MembershipState{}, false
	}
	return s.state(s.entry(slot)), true
}

// MarkSeen returns the stored membership of key k as it was, and marks it seen at line (the
// diff's scratch fields) unless it was seen already: one lookup where Get and Set take two.
func (s *MembershipSet) MarkSeen(k record.MembershipKey, line int32) (MembershipState, bool) {
	if s == nil || s.live == 0 {
		return MembershipState{}, false
	}
	slot, _, ok := s.find(k)
	if !ok {
		return MembershipState{}, false
	}
	e := s.entry(slot)
	st := s.state(e)
	if e.flags&entrySeen == 0 {
		e.flags |= entrySeen
		e.seenLine = line
	}
	return st, true
}

func (s *MembershipSet) state(e *memberEntry) MembershipState {
	return MembershipState{Hash: e.hash, MemberType: record.MemberType(e.memberType), Manual: e.flags&entryManual != 0,
		Seen: e.flags&entrySeen != 0, SeenLine: e.seenLine}
}

func (s *MembershipSet) intern(str string) uint32 {
	if s.ids == nil {
		s.number()
	}
	if id, ok := s.ids[str]; ok {
		return id
	}
	id := uint32(len(s.strs))
	s.strs = append(s.strs, str)
	s.ids[str] = id
	return id
}

// Intern returns the set's own copies of the member and role strings a loader read, making
// them when it has none, so that the Set of that key costs no further lookup of them (and no
// allocation once a string was seen).
func (s *MembershipSet) Intern(member, role []byte) (string, string) {
	r := ""
	for _, id := range s.roles {
		if s.strs[id] == string(role) {
			r = s.strs[id]
			break
		}
	}
	if r == "" && len(role) > 0 {
		r = s.strs[s.intern(string(role))]
	}
	if s.ids == nil {
		s.number()
	}
	if id, ok := s.ids[string(member)]; ok {
		s.last = id
		return s.strs[id], r
	}
	str := string(member)
	s.last = s.intern(str)
	return str, r
}

func (s *MembershipSet) internMember(str string) uint32 {
	if int(s.last) < len(s.strs) && s.strs[s.last] == str {
		return s.last
	}
	return s.intern(str)
}

func (s *MembershipSet) internGroup(str string) uint32 {
	if int(s.lastGroup) < len(s.strs) && s.strs[s.lastGroup] == str {
		return s.lastGroup
	}
	s.lastGroup = s.intern(str)
	return s.lastGroup
}

// internRole returns the role byte of str and its string number.
func (s *MembershipSet) internRole(str string) (uint8, uint32) {
	for i, id := range s.roles {
		if s.strs[id] == str {
			return uint8(i), id
		}
	}
	id := s.intern(str)
	if len(s.roles) < roleMore {
		s.roles = append(s.roles, id)
		return uint8(len(s.roles) - 1), id
	}
	return roleMore, id
}

// number makes ids again (Loaded dropped it).
func (s *MembershipSet) number() {
	s.ids = make(map[string]uint32, len(s.strs))
	for id, str := range s.strs {
		s.ids[str] = uint32(id)
	}
}

// Loaded tells the set that its loader is done: it drops what only adding keys needs (the
// strings' numbering, about a tenth of the set), to be made again if a key with a new string
// is set after all.
func (s *MembershipSet) Loaded() {
	if s != nil {
		s.ids = nil
	}
}

// Set stores m as the membership of key k, replacing what k held.
func (s *MembershipSet) Set(k record.MembershipKey, m MembershipState) {
	slot, h, ok := s.find(k)
	var e *memberEntry
	if ok {
		e = s.entry(slot)
	} else {
		if (len(s.entries)+1)*4 > len(s.table)*3 {
			s.grow()
			slot, h, _ = s.find(k)
		}
		role, roleID := s.internRole(k.Role)
		s.entries = append(s.entries, memberEntry{group: s.internGroup(k.Group), member: s.internMember(k.Member), role: role})
		i := len(s.entries) - 1
		if role == roleMore {
			if s.moreRoles == nil {
				s.moreRoles = map[uint32]uint32{}
			}
			s.moreRoles[uint32(i)] = roleID
		}
		s.table[slot] = s.slot(h, i)
		s.live++
		e = &s.entries[i]
	}
	e.hash, e.memberType, e.seenLine = m.Hash, int8(m.MemberType), m.SeenLine
	e.flags = 0
	if m.Manual {
		e.flags |= entryManual
	}
	if m.Seen {
		e.flags |= entrySeen
	}
}

// Delete removes the membership of key k, if the set holds it.
func (s *MembershipSet) Delete(k record.MembershipKey) {
	if s == nil || s.live == 0 {
		return
	}
	if slot, _, ok := s.find(k); ok {
		// The slot keeps pointing at the deleted entry, so later keys' probes pass it.
		s.entry(slot).flags |= entryDeleted
		s.live--
	}
}

// grow doubles the table (or more, after many deletes had left it full of dead entries),
// dropping the deleted entries.
func (s *MembershipSet) grow() {
	kept := s.entries[:0]
	var more map[uint32]uint32
	for i, e := range s.entries {
		if e.flags&entryDeleted == 0 {
			if e.role == roleMore {
				if more == nil {
					more = map[uint32]uint32{}
				}
				more[uint32(len(kept))] = s.moreRoles[uint32(i)]
			}
			kept = append(kept, e)
		}
	}
	s.entries, s.moreRoles = kept, more
	s.makeTable(tableSize(2*len(kept) + 1))
	mask := len(s.table) - 1
	for j := range s.entries {
		h := s.hash(s.key(j))
		i := int(h) & mask
		for s.table[i] != 0 {
			i = (i + 1) & mask
		}
		s.table[i] = s.slot(h, j)
	}
}

// All yields every membership, in the order they were first set.
func (s *MembershipSet) All() iter.Seq2[record.MembershipKey, MembershipState] {
	return func(yield func(record.MembershipKey, MembershipState) bool) {
		if s == nil {
			return
		}
		for i := range s.entries {
			e := &s.entries[i]
			if e.flags&entryDeleted != 0 {
				continue
			}
			if !yield(s.key(i), s.state(e)) {
				return
			}
		}
	}
}

// Map returns the memberships as a map (tests, small states and printing).
func (s *MembershipSet) Map() map[record.MembershipKey]MembershipState {
	m := make(map[record.MembershipKey]MembershipState, s.Len())
	for k, v := range s.All() {
		m[k] = v
	}
	return m
}

// String prints the memberships as their map would print.
func (s *MembershipSet) String() string { return fmt.Sprint(s.Map()) }

// Equal reports whether two sets hold the same memberships (however they were built).
func (s *MembershipSet) Equal(o *MembershipSet) bool {
	if s.Len() != o.Len() {
		return false
	}
	for k, v := range s.All() {
		if w, ok := o.Get(k); !ok || w != v {
			return false
		}
	}
	return true
}
