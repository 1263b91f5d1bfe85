package diff

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// gonePersons are the stored persons a run puts in the trash can, sorted by key. A broken
// night trashes hundreds of thousands (240,166 of the 1 GB feed's tenant): as the plan's
// changes they were 36 MB (144 bytes each), and the set of their keys 7 MB more. Here each is
// its key and name as bytes and an offset, about 30 bytes, found by key with a binary search.
type gonePersons struct {
	data []byte   // each person's key, then name, each with its length before it
	at   []uint32 // where each person starts in data, by key
	pre  []uint64 // the first 8 bytes of each one's key (keyPrefix), in the order of at
	op   change.Op
}

// add adds a person; sort orders them once all are added.
func (g *gonePersons) add(key, name string) {
	g.at = append(g.at, uint32(len(g.data)))
	g.data = appendString(appendString(g.data, key), name)
}

func (g *gonePersons) sort() {
	if cap(g.data) > len(g.data)+len(g.data)/8 {
		g.data = slices.Clone(g.data) // (grown by append: up to twice the room)
	}
	slices.SortFunc(g.at, func(a, b uint32) int { return bytes.Compare(g.keyAt(a), g.keyAt(b)) })
	g.pre = make([]uint64, len(g.at))
	for i, off := range g.at {
		g.pre[i] = keyPrefix(g.keyAt(off))
	}
}

// keyPrefix is a key's first 8 bytes as a big-endian number (zeros after a shorter key): keys
// in byte order have their prefixes in the same order, ties going to the whole keys. A search
// compares the numbers, in one array, instead of decoding and comparing each key it passes (a
// broken night of the 1 GB feed asks 2.4 million times among 240,166 persons: 3.1 s of the
// process's 53 s).
func keyPrefix[S string | []byte](key S) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(key) {
			p |= uint64(key[i])
		}
	}
	return p
}

func (g *gonePersons) len() int {
	if g == nil {
		return 0
	}
	return len(g.at)
}

// keyAt and nameAt read the person at offset off of data.
func (g *gonePersons) keyAt(off uint32) []byte {
	n, w := binary.Uvarint(g.data[off:])
	return g.data[int(off)+w : int(off)+w+int(n)]
}

func (g *gonePersons) nameAt(off uint32) []byte {
	k, w := binary.Uvarint(g.data[off:])
	off += uint32(w) + uint32(k)
	n, w := binary.Uvarint(g.data[off:])
	return g.data[int(off)+w : int(off)+w+int(n)]
}

// find is the place of key among the persons, and whether it is one of them.
func (g *gonePersons) find(key string) (int, bool) {
	if g == nil {
		return 0, false
	}
	kp := keyPrefix(key)
	lo, _ := slices.BinarySearch(g.pre, kp) // the first whose prefix is not below key's
	switch {
	case lo == len(g.pre) || g.pre[lo] != kp:
		return lo, false
	case lo+1 == len(g.pre) || g.pre[lo+1] != kp: // the one of that prefix
		c := g.compare(g.at[lo], key)
		if c < 0 {
			return lo + 1, false
		}
		return lo, c == 0
	}
	// Several of the same prefix (all of them when every key starts alike): by whole keys.
	hi := len(g.pre)
	if kp != ^uint64(0) {
		hi, _ = slices.BinarySearch(g.pre, kp+1)
	}
	i, ok := slices.BinarySearchFunc(g.at[lo:hi], key, g.compare)
	return lo + i, ok
}

// compare orders the person at off against key. string(k) in a comparison does not copy k;
// strings.Compare(string(k), key) did, once a step of every search (a broken night asks
// for each of its 738,200 membership removals: 1.1 s of the process's 15.9 s, and the
// collector's work after them).
func (g *gonePersons) compare(off uint32, key string) int {
	k := g.keyAt(off)
	switch {
	case string(k) < key:
		return -1
	case string(k) == key:
		return 0
	}
	return 1
}

// has reports whether the person key goes to the trash can.
func (g *gonePersons) has(key string) bool {
	_, ok := g.find(key)
	return ok
}

// change is the i-th person's change.
func (g *gonePersons) change(i int) change.Person {
	off := g.at[i]
	return change.Person{Op: g.op, Person: record.Person{Key: string(g.keyAt(off)), Name: string(g.nameAt(off))}}
}

// each gives the persons' changes in key order (yield's only while it runs).
func (g *gonePersons) each(yield func(*change.Person) error) error {
	for i := range g.len() {
		c := g.change(i)
		if err := yield(&c); err != nil {
			return err
		}
	}
	return nil
}
