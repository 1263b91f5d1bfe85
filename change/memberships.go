package change

import (
	"fmt"
	"hash/maphash"
	"iter"

	"github.com/imsfeed/imsfeed/record"
)

// MembershipSet is a tenant's stored memberships as the diff reads them: most of a state
// (1.5 million in a 317 MB tenant), so it is kept compact. A map keyed by the three key
// strings took about 150 bytes a membership; here each key string is kept once and named by
// a number, an entry is 36 bytes, and the lookup table 4 bytes a slot (about 50 bytes a
// membership in all). Lookups are exact: a slot leads to an entry whose strings are compared.
// Iteration is in insertion order. The zero value is not usable: make one with
// NewMembershipSet; a nil *MembershipSet reads as empty.
type MembershipSet struct {
	strs    []string          // the key strings, by number
	ids     map[string]uint32 // and their numbers
	entries []memberEntry
	table   []uint64 // open addressing by key hash: 0 is empty, else hash>>32<<32 | (index into entries + 1)
	live    int      // entries not deleted
	seed    maphash.Seed
	// The ids of the last group and of the roles interned: a state is loaded group by group,
	// and roles are a handful, so most entries intern one string (the member) through ids.
	lastGroup uint32
	roles     []uint32
	last      uint32 // the id Intern returned last
}

type memberEntry struct {
	group, member, role uint32
	seenLine            int32
	hash                record.Hash
	memberType          int8
	flags               uint8
}

const (
	entryManual uint8 = 1 << iota
	entrySeen
	entryDeleted
)

// NewMembershipSet returns an empty set with room for n memberships.
func NewMembershipSet(n int) *MembershipSet {
	s := &MembershipSet{ids: map[string]uint32{}, seed: maphash.MakeSeed(), entries: make([]memberEntry, 0, n)}
	s.table = make([]uint64, tableSize(n))
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

func (s *MembershipSet) key(e *memberEntry) record.MembershipKey {
	return record.MembershipKey{Group: s.strs[e.group], Member: s.strs[e.member], Role: s.strs[e.role]}
}

// find returns the table slot of k: the one holding its entry (found), or the empty one where
// it would go; and k's hash.
func (s *MembershipSet) find(k record.MembershipKey) (slot int, h uint64, found bool) {
	h = s.hash(k)
	mask := len(s.table) - 1
	tag := h >> 32
	for i := int(h) & mask; ; i = (i + 1) & mask {
		x := s.table[i]
		if x == 0 {
			return i, h, false
		}
		if x>>32 != tag {
			continue
		}
		e := &s.entries[uint32(x)-1]
		if e.flags&entryDeleted == 0 && s.strs[e.group] == k.Group && s.strs[e.member] == k.Member && s.strs[e.role] == k.Role {
			return i, h, true
		}
	}
}

// entry is the entry a slot names.
func (s *MembershipSet) entry(slot int) *memberEntry { return &s.entries[uint32(s.table[slot])-1] }

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
		r = s.strs[s.internRole(string(role))]
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

func (s *MembershipSet) internRole(str string) uint32 {
	for _, id := range s.roles {
		if s.strs[id] == str {
			return id
		}
	}
	id := s.intern(str)
	if len(s.roles) < 16 {
		s.roles = append(s.roles, id)
	}
	return id
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
		s.entries = append(s.entries, memberEntry{group: s.internGroup(k.Group), member: s.internMember(k.Member), role: s.internRole(k.Role)})
		s.table[slot] = h>>32<<32 | uint64(len(s.entries))
		s.live++
		e = &s.entries[len(s.entries)-1]
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
	for _, e := range s.entries {
		if e.flags&entryDeleted == 0 {
			kept = append(kept, e)
		}
	}
	s.entries = kept
	s.table = make([]uint64, tableSize(2*len(kept)+1))
	mask := len(s.table) - 1
	for j := range s.entries {
		h := s.hash(s.key(&s.entries[j]))
		i := int(h) & mask
		for s.table[i] != 0 {
			i = (i + 1) & mask
		}
		s.table[i] = h>>32<<32 | uint64(j+1)
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
			if !yield(s.key(e), s.state(e)) {
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
