package change

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"slices"

	"github.com/imsfeed/imsfeed/record"
)

// StoredPersons is a tenant's stored persons as a source (a store whose state index is current
// gives one: State.StoredPersons is built from it). Each may be called more than once.
type StoredPersons interface {
	// Each calls fn with every stored person (active and trashed), the same ones in the same
	// order on every call; a key given twice is the later one. The scratch fields (Seen,
	// SeenLine) are zero. When only is not nil, Each may leave out the persons whose keys are
	// not in it (it gives every one that is). Each stops at fn's first error and returns it;
	// any error means the persons given were not all of them.
	Each(only map[string]bool, fn func(key string, p PersonState) error) error
}

// PersonIndex is a tenant's stored persons as a re-import's diff holds them while the file is
// read: for each key only what the comparison asks (content hash, trashed, the diff's scratch
// marks), found by two hashes of the key (94 bits, with seeds of the run's own); no key and no
// name. About 40 bytes a person where a map of PersonState took about 130 (the 1 GB feed's
// 480,000 persons: 63 MB). What needs keys or names (the persons going to the trash can, the
// stored names a report shows) reads the source again, in the same snapshot: EachOnce and
// ReadNames. Two stored keys of one 94-bit hash would be taken for one key (a chance of about
// one in 2^94 / persons²).
type PersonIndex struct {
	src          StoredPersons
	seed1, seed2 maphash.Seed
	slots        []int32 // an entry's place + 1; 0 is an empty slot
	entries      []personEntry
	given        int // how many persons the source gave, repeats included
	active       int
	// repeats counts, by entry, how often the source gives a key it gives more than once
	// (a pending bucket's): EachOnce acts on the last.
	repeats map[int32]int
	names   map[string]string // ReadNames
	// named, when set (LoadNamedPersonIndex), is every entry's stored name as an offset into
	// nameData (0: none), where it is kept with its length before it: about 4 bytes and the
	// name's own a person, where a map of names took about 50 more.
	named    []uint32
	nameData []byte
}

// personEntry is 32 bytes: the second hash's top two bits are the flags.
type personEntry struct {
	h1       uint64
	hash     [16]byte
	h2       uint32
	seenLine int32
}

const (
	personTrashed = 1 << 31
	personSeen    = 1 << 30
	personCheck   = personSeen - 1 // the bits of h2 that are the key's
)

// LoadPersonIndex reads src once into an index.
func LoadPersonIndex(src StoredPersons, sizeHint int) (*PersonIndex, error) {
	x := &PersonIndex{src: src, seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
	x.grow(max(sizeHint, 8))
	err := src.Each(nil, func(key string, p PersonState) error {
		x.set(key, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// LoadNamedPersonIndex is LoadPersonIndex keeping every stored person's name too, compactly,
// for Name: what shows many persons' names (a school-year rollover's hold, whose membership
// changes name nearly every person) without a source to read them again.
func LoadNamedPersonIndex(src StoredPersons, sizeHint int) (*PersonIndex, error) {
	x := &PersonIndex{src: src, seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
	x.grow(max(sizeHint, 8))
	x.named = make([]uint32, 0, cap(x.entries))
	x.nameData = []byte{0} // offset 0 is no name
	err := src.Each(nil, func(key string, p PersonState) error {
		i := x.set(key, p)
		for int(i) >= len(x.named) {
			x.named = append(x.named, 0)
		}
		if p.Name == "" {
			x.named[i] = 0
			return nil
		}
		at := len(x.nameData)
		if uint64(at)+binary.MaxVarintLen64+uint64(len(p.Name)) > math.MaxUint32 {
			return fmt.Errorf("person %q: the stored names are more than 4 GB", key)
		}
		x.nameData = append(binary.AppendUvarint(x.nameData, uint64(len(p.Name))), p.Name...)
		x.named[i] = uint32(at)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

func (x *PersonIndex) grow(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	if size <= len(x.slots) {
		return
	}
	x.slots = make([]int32, size)
	for i := range x.entries {
		x.slots[x.free(x.entries[i].h1)] = int32(i + 1)
	}
	if cap(x.entries) < n {
		x.entries = append(make([]personEntry, 0, n), x.entries...)
	}
}

// free is the empty slot where an entry of hash h1 goes (no entry of it is there yet).
func (x *PersonIndex) free(h1 uint64) int {
	mask := len(x.slots) - 1
	i := int(h1^h1>>32) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	return i
}

// find is the entry of key, or nil.
func (x *PersonIndex) find(key string) *personEntry {
	if len(x.entries) == 0 {
		return nil
	}
	i := x.place(key)
	if i < 0 {
		return nil
	}
	return &x.entries[i]
}

// place is the place of key's entry, or -1.
func (x *PersonIndex) place(key string) int32 {
	if len(x.entries) == 0 {
		return -1
	}
	h1, h2 := maphash.String(x.seed1, key), uint32(maphash.String(x.seed2, key))&personCheck
	mask := len(x.slots) - 1
	for i := int(h1^h1>>32) & mask; x.slots[i] != 0; i = (i + 1) & mask {
		if e := &x.entries[x.slots[i]-1]; e.h1 == h1 && e.h2&personCheck == h2 {
			return x.slots[i] - 1
		}
	}
	return -1
}

// set writes key's entry and returns its place.
func (x *PersonIndex) set(key string, p PersonState) int32 {
	x.given++
	i := x.place(key)
	if i < 0 {
		if 2*(len(x.entries)+1) > len(x.slots) {
			x.grow(2 * (len(x.entries) + 1))
		}
		h1 := maphash.String(x.seed1, key)
		x.entries = append(x.entries, personEntry{h1: h1, h2: uint32(maphash.String(x.seed2, key)) & personCheck})
		x.slots[x.free(h1)] = int32(len(x.entries))
	} else {
		if x.entries[i].h2&personTrashed == 0 {
			x.active--
		}
		if x.repeats == nil {
			x.repeats = map[int32]int{}
		}
		x.repeats[i] = max(x.repeats[i], 1) + 1
	}
	if i < 0 {
		i = int32(len(x.entries) - 1)
	}
	e := &x.entries[i]
	e.hash, e.h2 = p.Hash, e.h2&personCheck
	if p.Trashed {
		e.h2 |= personTrashed
	} else {
		x.active++
	}
	return i
}

func (e *personEntry) state() PersonState {
	return PersonState{Hash: e.hash, Trashed: e.h2&personTrashed != 0, Seen: e.h2&personSeen != 0, SeenLine: e.seenLine}
}

// Len is how many persons are stored, active and trashed.
func (x *PersonIndex) Len() int { return len(x.entries) }

// Active is how many of them are not in the trash can.
func (x *PersonIndex) Active() int { return x.active }

// Get is a person's state, with the diff's scratch marks; its Name is not kept ("").
func (x *PersonIndex) Get(key string) (PersonState, bool) {
	if e := x.find(key); e != nil {
		return e.state(), true
	}
	return PersonState{}, false
}

// MarkSeen marks key as seen at line (unless it was already) and returns its state as it was
// before, as MembershipSet.MarkSeen.
func (x *PersonIndex) MarkSeen(key string, line int32) (PersonState, bool) {
	e := x.find(key)
	if e == nil {
		return PersonState{}, false
	}
	st := e.state()
	if e.h2&personSeen == 0 {
		e.h2 |= personSeen
		e.seenLine = line
	}
	return st, true
}

// errPersonsChanged is EachOnce's error when the source gives other persons than it gave the
// index (a store's bug: the two reads are of one snapshot).
var errPersonsChanged = errors.New("the stored persons read again are not those read first")

// EachOnce reads the source again and calls fn with every stored person once (a key given
// twice: the later one), its state as Get gives it and its stored name.
func (x *PersonIndex) EachOnce(fn func(key string, p PersonState) error) error {
	given := 0
	var left map[int32]int // of the keys given more than once: how many times are left
	if len(x.repeats) > 0 {
		left = make(map[int32]int, len(x.repeats))
		for i, n := range x.repeats {
			left[i] = n
		}
	}
	err := x.src.Each(nil, func(key string, p PersonState) error {
		given++
		i := x.place(key)
		if i < 0 {
			return fmt.Errorf("person %q: %w", key, errPersonsChanged)
		}
		if n, again := left[i]; again {
			if n == 0 {
				return fmt.Errorf("person %q: %w", key, errPersonsChanged)
			}
			if left[i] = n - 1; n > 1 {
				return nil // given again later
			}
		}
		st := x.entries[i].state()
		st.Name = p.Name
		return fn(key, st)
	})
	if err == nil && given != x.given {
		err = errPersonsChanged
	}
	return err
}

// ReadNames reads the stored names of keys from the source, for Name (what a report shows of
// the persons a plan names, once the source is closed).
func (x *PersonIndex) ReadNames(keys map[string]bool) error {
	names := map[string]string{}
	if len(keys) > 0 {
		err := x.src.Each(keys, func(key string, p PersonState) error {
			if keys[key] {
				names[key] = p.Name
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	x.names = names
	return nil
}

// Name is a stored person's name read by ReadNames (or kept by LoadNamedPersonIndex), ""
// when it read none.
func (x *PersonIndex) Name(key string) string {
	if x.names != nil || x.named == nil {
		return x.names[key]
	}
	i := x.place(key)
	if i < 0 || x.named[i] == 0 {
		return ""
	}
	b := x.nameData[x.named[i]:]
	n, w := binary.Uvarint(b)
	return string(b[w : w+int(n)])
}

// PersonKeys are the keys of the persons a plan names (its person changes, the members of its
// membership changes and the persons of its relation changes): what ReadNames reads for
// reports (NamesFor, a hold's pages).
func PersonKeys(p *Plan) map[string]bool {
	keys := map[string]bool{}
	for i := range p.Persons {
		keys[p.Persons[i].Person.Key] = true
	}
	for i := range p.Memberships {
		if m := &p.Memberships[i].Membership; m.MemberType != record.MemberGroup {
			keys[m.Member] = true
		}
	}
	for i := range p.Relations {
		r := &p.Relations[i].Relation
		keys[r.Person], keys[r.Related] = true, true
	}
	return keys
}

// PersonList is a StoredPersons of a map held in memory, in key order (tests, and a diff that is
// to read persons as a store's source would give them).
type PersonList struct{ Persons map[string]PersonState }

// Each implements StoredPersons.
func (l PersonList) Each(only map[string]bool, fn func(string, PersonState) error) error {
	for _, k := range slices.Sorted(maps.Keys(l.Persons)) {
		p := l.Persons[k]
		p.Seen, p.SeenLine = false, 0
		if err := fn(k, p); err != nil {
			return err
		}
	}
	return nil
}
