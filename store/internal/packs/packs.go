// Package packs is the layout of memberships packed by group, for the stores (issue 18's
// memberships' layout, README "Round two, twelfth step"): a group's memberships are kept in
// packs of at most MaxEntries entries and about MaxBytes, each a run of the group's members
// sorted by member key and role, stored as one row keyed by its least member key. A store
// then keeps one index entry a pack instead of two a membership, which is most of what an
// initial load costs the database server.
//
// A pack covers the member keys from its key up to the next pack's: a member's entries are in
// the pack with the greatest key not greater than the member's (its floor). A member's roles
// are never split over two packs, so its floor pack holds all of its entries in the group. A
// member with no floor (below every pack's key) goes to a new pack keyed "".
//
// The package is pure: encoding, decoding and edits of packs read by a store, which reads and
// writes the rows.
package packs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

const (
	// MaxEntries bounds the entries of a pack: a one-membership change (itslearning sends one
	// a request) rewrites a pack of a few KB, not a whole large group.
	MaxEntries = 64
	// MaxBytes bounds a pack's encoding (one member's entries may exceed it alone): under
	// PostgreSQL's TOAST threshold of about 2 KB a row, so a pack is stored in its row as it is,
	// neither compressed nor moved out of line.
	MaxBytes = 1800
)

// Entry is one membership of a pack's group.
type Entry struct {
	Member string
	Role   string // "01".."08"
	Group  bool   // the member is a group, not a person
	Manual bool   // not the feed's: the import leaves it alone
	Hash   record.Hash
	Attrs  []byte // the attributes' JSON; nil when there are none
}

// Compare orders entries as a pack keeps them: by member key, then role, byte by byte.
func Compare(a, b *Entry) int {
	if c := strings.Compare(a.Member, b.Member); c != 0 {
		return c
	}
	return strings.Compare(a.Role, b.Role)
}

const (
	flagRole   = 0x0f // the role's digit 1-8, or 0: the role follows as a string
	flagGroup  = 0x10
	flagManual = 0x20
	flagAttrs  = 0x40
)

// Append encodes entries, sorted by Compare, after dst: how many, then each entry's member key
// as the length of the prefix it shares with the previous one and the rest, a byte of flags
// (the role's digit, member type, origin, attributes or none), the role if it is not one of
// "01".."08", the hash, and the attributes' length and bytes.
func Append(dst []byte, es []Entry) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(es)))
	prev := ""
	for i := range es {
		dst = appendEntry(dst, prev, &es[i])
		prev = es[i].Member
	}
	return dst
}

func appendEntry(dst []byte, prev string, e *Entry) []byte {
	n := sharedPrefix(prev, e.Member)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(len(e.Member)-n))
	dst = append(dst, e.Member[n:]...)
	var flags byte
	if d, ok := roleDigit(e.Role); ok {
		flags = d
	}
	if e.Group {
		flags |= flagGroup
	}
	if e.Manual {
		flags |= flagManual
	}
	if e.Attrs != nil {
		flags |= flagAttrs
	}
	dst = append(dst, flags)
	if flags&flagRole == 0 {
		dst = binary.AppendUvarint(dst, uint64(len(e.Role)))
		dst = append(dst, e.Role...)
	}
	dst = append(dst, e.Hash[:]...)
	if e.Attrs != nil {
		dst = binary.AppendUvarint(dst, uint64(len(e.Attrs)))
		dst = append(dst, e.Attrs...)
	}
	return dst
}

// entrySize is the bytes e takes in a pack after an entry of member prev.
func entrySize(prev string, e *Entry) int {
	n := sharedPrefix(prev, e.Member)
	size := uvarintLen(uint64(n)) + uvarintLen(uint64(len(e.Member)-n)) + len(e.Member) - n + 1 + len(e.Hash)
	if _, ok := roleDigit(e.Role); !ok {
		size += uvarintLen(uint64(len(e.Role))) + len(e.Role)
	}
	if e.Attrs != nil {
		size += uvarintLen(uint64(len(e.Attrs))) + len(e.Attrs)
	}
	return size
}

func roleDigit(role string) (byte, bool) {
	if len(role) == 2 && role[0] == '0' && role[1] >= '1' && role[1] <= '8' {
		return role[1] - '0', true
	}
	return 0, false
}

var roles = [9]string{"", "01", "02", "03", "04", "05", "06", "07", "08"}

func sharedPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// ErrCorrupt is a pack or member list whose bytes are not one this package wrote.
var ErrCorrupt = errors.New("packs: corrupt encoding")

// Decode reads the entries Append wrote.
func Decode(data []byte) ([]Entry, error) {
	d := decoder{data: data}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(data)) {
		return nil, ErrCorrupt
	}
	es := make([]Entry, n)
	prev := ""
	for i := range es {
		e := &es[i]
		shared, rest := d.uvarint(), d.bytes()
		if d.err != nil || shared > uint64(len(prev)) {
			return nil, ErrCorrupt
		}
		e.Member = prev[:shared] + string(rest)
		flags := d.byte()
		if flags&flagRole != 0 {
			if flags&flagRole > 8 {
				return nil, ErrCorrupt
			}
			e.Role = roles[flags&flagRole]
		} else {
			e.Role = string(d.bytes())
		}
		e.Group, e.Manual = flags&flagGroup != 0, flags&flagManual != 0
		copy(e.Hash[:], d.take(len(e.Hash)))
		if flags&flagAttrs != 0 {
			e.Attrs = slices.Clone(d.bytes())
			if e.Attrs == nil {
				e.Attrs = []byte{}
			}
		}
		if d.err != nil {
			return nil, ErrCorrupt
		}
		if i > 0 && Compare(&es[i-1], e) >= 0 {
			return nil, fmt.Errorf("%w: entries out of order", ErrCorrupt)
		}
		prev = e.Member
	}
	if len(d.data) != 0 {
		return nil, ErrCorrupt
	}
	return es, nil
}

type decoder struct {
	data []byte
	err  error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.data)
	if n <= 0 {
		d.err = ErrCorrupt
		d.data = nil
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n > len(d.data) {
		d.err = ErrCorrupt
		d.data = nil
		return nil
	}
	b := d.data[:n:n]
	d.data = d.data[n:]
	return b
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.data)) {
		d.err = ErrCorrupt
		return nil
	}
	return d.take(int(n))
}

func (d *decoder) byte() byte {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Row is a pack as a store keeps it: its key, its encoding, and how many entries it has and
// how many of them are manual (so that counts are sums of rows).
type Row struct {
	Key    string
	Data   []byte
	N      int // its entries
	Manual int // of them, those not the feed's
}

// RowOf is es, one pack's entries sorted by Compare, as a row keyed key.
func RowOf(key string, es []Entry) Row {
	r := Row{Key: key, Data: Append(nil, es), N: len(es)}
	for i := range es {
		if es[i].Manual {
			r.Manual++
		}
	}
	return r
}

// Cut splits entries, sorted by Compare, into packs within MaxEntries and MaxBytes, never
// between two entries of one member; cut calls emit for each pack's entries in order.
func Cut(es []Entry, emit func([]Entry)) {
	start, size, prev := 0, 0, ""
	for i := 0; i < len(es); {
		// The member's entries, i to j, stay together.
		j, grow, p := i, 0, prev
		for j < len(es) && es[j].Member == es[i].Member {
			grow += entrySize(p, &es[j])
			p = es[j].Member
			j++
		}
		if i > start && (j-start > MaxEntries || size+grow > MaxBytes) {
			emit(es[start:i])
			start, size = i, 0
			// The cut pack's first member is encoded whole.
			grow = 0
			p = ""
			for k := i; k < j; k++ {
				grow += entrySize(p, &es[k])
				p = es[k].Member
			}
		}
		size += grow
		prev = es[j-1].Member
		i = j
	}
	if start < len(es) {
		emit(es[start:])
	}
}
