package diff

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// removals collects the stored memberships a run removes. A broken night removes millions (the
// 1 GB feed's tenant losing half its persons: 2,354,144), and as the plan's changes they were
// 300 MB (128 bytes each), held while the plan was judged, held and mailed. Here they are
// kept as bytes: a partition's removals (all of a group's are in one partition) are sorted by
// key as the partition ends and written group by group, each group's key once, then each
// removal's member, role and op, about 15 bytes a removal. The plan's order (sorted by key)
// is the groups' order by key with each group's removals in theirs. Removed gives them as
// changes one at a time, or makes them the plan's list.
//
// Against stored memberships given as a source the written removals go on to the diff's
// scratch file once they are removalsHeld bytes (35 MB for the 1 GB feed's broken night, held
// until the plan was applied or held): data holds the last ones, from offset held of all
// written, and segs say where the others are in the file. A group's removals are never split.
type removals struct {
	pending []removal      // the partition being compared (not spilled: every removal), unsorted
	data    []byte         // each group's removals, in the order of groups, from offset held
	groups  []removedGroup // by key once sorted
	sorted  bool
	n       int
	ops     [opCount]int
	roles   []string // the roles written by their index + 1 (a handful: "01".."08")

	sp    *spiller   // whose scratch file takes them (nil: none)
	held  int64      // the offset of data[0] among all the bytes written
	segs  []spillSeg // the bytes before held in the scratch file: segs[i] holds offsets segAt[i]..
	segAt []int64
	err   error // of the scratch file: every later read returns it

	persons *gonePersons // the persons going to the trash can (Removed's persons)
}

// removalsHeld is how many bytes of written removals stay in memory before they go to the
// scratch file (at a partition's end).
const removalsHeld = 4 << 20

// removal is a membership removal's whole change: removals name only the key (removal,
// membershipRemoval).
type removal struct {
	k       record.MembershipKey
	op      change.Op
	cascade bool
}

// removedGroup is one group's removals in data: data[off:end], n of them.
type removedGroup struct {
	key      string
	off, end int
	n        int
}

const (
	opCount     = 8
	cascadeFlag = 0x80
	maxRoles    = 64
	// keptPending is the room of a partition's list kept for the next partition: one that
	// held far more (every removal, not spilled) is let go.
	keptPending = 1 << 16
)

func (l *removals) add(c change.Membership) {
	if l.sorted {
		panic("diff: a removal added after the removals were sorted")
	}
	l.pending = append(l.pending, removal{c.Membership.MembershipKey, c.Op, c.Cascade})
	l.n++
	l.ops[c.Op&(opCount-1)]++
}

// endPart writes the pending removals, sorted by key, group by group. No group's removals may
// come in two parts (a spill partition holds all of a group's memberships).
func (l *removals) endPart() {
	p := l.pending
	if len(p) == 0 {
		return
	}
	slices.SortFunc(p, func(a, b removal) int { return a.k.Compare(b.k) })
	for i := range p {
		r := &p[i]
		if i == 0 || r.k.Group != p[i-1].k.Group {
			if len(l.groups) > 0 {
				l.groups[len(l.groups)-1].end = int(l.held) + len(l.data)
			}
			l.groups = append(l.groups, removedGroup{key: r.k.Group, off: int(l.held) + len(l.data)})
		}
		l.groups[len(l.groups)-1].n++
		l.data = appendString(l.data, r.k.Member)
		l.data = l.appendRole(l.data, r.k.Role)
		f := byte(r.op)
		if r.cascade {
			f |= cascadeFlag
		}
		l.data = append(l.data, f)
	}
	l.groups[len(l.groups)-1].end = int(l.held) + len(l.data)
	clear(p)
	if cap(p) > keptPending {
		l.pending = nil
	} else {
		l.pending = p[:0]
	}
	if l.sp != nil && l.sp.open != nil && l.err == nil && len(l.data) >= min(removalsHeld, max(l.sp.budget/4, 1)) {
		l.spillData()
	}
}

// spillData moves data to the scratch file.
func (l *removals) spillData() {
	off, err := l.sp.write(l.data)
	if err != nil {
		l.err = fmt.Errorf("keep the membership removals in a scratch file: %w", err)
		return
	}
	l.segs = append(l.segs, spillSeg{off, int64(len(l.data))})
	l.segAt = append(l.segAt, l.held)
	l.held += int64(len(l.data))
	if cap(l.data) > 2*removalsHeld {
		l.data = nil
	} else {
		l.data = l.data[:0]
	}
}

// bytes are group g's written removals, read from the scratch file into buf when they are
// there.
func (l *removals) bytes(g *removedGroup, buf []byte) ([]byte, []byte, error) {
	if int64(g.off) >= l.held {
		return l.data[int64(g.off)-l.held : int64(g.end)-l.held], buf, nil
	}
	i, found := slices.BinarySearch(l.segAt, int64(g.off))
	if !found {
		i--
	}
	seg, n := l.segs[i], g.end-g.off
	buf = slices.Grow(buf[:0], n)[:n]
	if _, err := l.sp.scratch.ReadAt(buf, seg.off+int64(g.off)-l.segAt[i]); err != nil {
		return nil, buf, fmt.Errorf("read the membership removals back from the scratch file: %w", err)
	}
	return buf, buf, nil
}

// appendRole writes a role as its index + 1 among the roles seen, or as 0 and its bytes.
func (l *removals) appendRole(b []byte, role string) []byte {
	i := slices.Index(l.roles, role)
	if i < 0 && len(l.roles) < maxRoles {
		l.roles = append(l.roles, role)
		i = len(l.roles) - 1
	}
	if i >= 0 {
		return binary.AppendUvarint(b, uint64(i)+1)
	}
	return appendString(binary.AppendUvarint(b, 0), role)
}

// sort ends the removals: the last partition written, the groups in key order. Nothing is
// added after it.
func (l *removals) sort() error {
	if l.sorted {
		return l.err
	}
	l.endPart()
	l.pending = nil
	slices.SortFunc(l.groups, func(a, b removedGroup) int { return strings.Compare(a.key, b.key) })
	for i := 1; i < len(l.groups); i++ {
		if l.groups[i].key == l.groups[i-1].key {
			panic(fmt.Sprintf("diff: the removals of group %q came in two parts", l.groups[i].key))
		}
	}
	l.sorted = true
	return l.err
}

// removedDecoder reads one group's removals in order.
type removedDecoder struct {
	group string
	dec   spillDecoder
	roles []string
	left  int
}

// decoder reads group g's removals (buf: where they are read back, returned for the next).
func (l *removals) decoder(g *removedGroup, buf []byte) (removedDecoder, []byte, error) {
	data, buf, err := l.bytes(g, buf)
	return removedDecoder{group: g.key, dec: spillDecoder{data: data}, roles: l.roles, left: g.n}, buf, err
}

// next reads the group's next removal into c; false after the last.
func (d *removedDecoder) next(c *change.Membership) (bool, error) {
	if d.left == 0 {
		return false, nil
	}
	d.left--
	member := d.dec.str()
	var role string
	if i := d.dec.uvarint(); i > 0 && int(i) <= len(d.roles) {
		role = d.roles[i-1]
	} else if i == 0 {
		role = d.dec.str()
	} else {
		d.dec.err = fmt.Errorf("role %d of %d", i, len(d.roles))
	}
	f := d.dec.byte()
	if d.dec.err != nil {
		return false, fmt.Errorf("the removals of group %q: %w", d.group, d.dec.err)
	}
	*c = change.Membership{Op: change.Op(f &^ cascadeFlag), Membership: record.Membership{MembershipKey: record.MembershipKey{Group: d.group, Member: member, Role: role}},
		Cascade: f&cascadeFlag != 0}
	return true, nil
}

// each gives the removals in key order, each as its change (yield's only while it runs).
func (l *removals) each(yield func(*change.Membership) error) error {
	if err := l.sort(); err != nil {
		return err
	}
	var c change.Membership
	var buf []byte // (each call its own: calls may overlap)
	for i := range l.groups {
		d, b, err := l.decoder(&l.groups[i], buf)
		if err != nil {
			return err
		}
		buf = b
		for {
			ok, err := d.next(&c)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if err := yield(&c); err != nil {
				return err
			}
		}
	}
	return nil
}

// group finds a group's removals.
func (l *removals) group(key string) (*removedGroup, bool) {
	i, ok := slices.BinarySearchFunc(l.groups, key, func(g removedGroup, k string) int { return strings.Compare(g.key, k) })
	if !ok {
		return nil, false
	}
	return &l.groups[i], true
}

// dropRemoved returns changes less those whose key is removed too (a membership updated in
// the file but cascaded away is a removal, not an update), in their order. Only the groups of
// changes that lose memberships are read.
func (l *removals) dropRemoved(changes []change.Membership) ([]change.Membership, error) {
	if err := l.sort(); err != nil {
		return nil, err
	}
	if l.n == 0 || len(changes) == 0 {
		return changes, nil
	}
	var hit []int32 // the changes of groups with removals, by key
	for i := range changes {
		if _, ok := l.group(changes[i].Membership.Group); ok {
			hit = append(hit, int32(i))
		}
	}
	if len(hit) == 0 {
		return changes, nil
	}
	key := func(i int32) record.MembershipKey { return changes[i].Membership.MembershipKey }
	slices.SortFunc(hit, func(a, b int32) int { return key(a).Compare(key(b)) })
	removed := make([]bool, len(changes))
	found := false
	var c change.Membership
	var buf []byte
	for j := 0; j < len(hit); {
		g, _ := l.group(key(hit[j]).Group)
		d, b, err := l.decoder(g, buf)
		if err != nil {
			return nil, err
		}
		buf = b
		ok, err := d.next(&c)
		if err != nil {
			return nil, err
		}
		for ; j < len(hit) && key(hit[j]).Group == g.key; j++ {
			k := key(hit[j])
			for ok && c.Membership.MembershipKey.Compare(k) < 0 {
				if ok, err = d.next(&c); err != nil {
					return nil, err
				}
			}
			if ok && c.Membership.MembershipKey == k {
				removed[hit[j]], found = true, true
			}
		}
	}
	if !found {
		return changes, nil
	}
	kept := changes[:0]
	for i, c := range changes {
		if !removed[i] {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

// count adds the removals to c's memberships.
func (l *removals) count(c *change.Counts) {
	for op, n := range l.ops {
		if n > 0 {
			c.Count(record.Memberships, change.Op(op), n)
		}
	}
}

// Removed are the stored memberships a plan made by FinishApart removes: its membership
// changes after the ones it lists, sorted by key; and the stored persons it puts in the trash
// can: its person changes after the ones it lists, sorted by key. The plan's counts count them.
type Removed struct{ l *removals }

// Len is how many membership removals there are.
func (r *Removed) Len() int {
	if r == nil {
		return 0
	}
	return r.l.n
}

// Each gives the membership removals in the plan's order, each as its change, to yield (whose
// first error it returns); a change given is yield's only while it runs. It may be called any
// number of times.
func (r *Removed) Each(yield func(*change.Membership) error) error {
	if r == nil {
		return nil
	}
	return r.l.each(yield)
}

// Count adds the removals to c's memberships and persons (the counts of a plan split from
// FinishApart's).
func (r *Removed) Count(c *change.Counts) {
	if r != nil {
		r.l.count(c)
		if g := r.l.persons; g.len() > 0 {
			c.Count(record.Persons, g.op, g.len())
		}
	}
}

// Persons is how many persons go to the trash can apart from the plan's list.
func (r *Removed) Persons() int {
	if r == nil {
		return 0
	}
	return r.l.persons.len()
}

// EachPerson gives the persons going to the trash can in the plan's order (by key), each as its
// change, to yield (whose first error it returns); a change given is yield's only while it
// runs. It may be called any number of times.
func (r *Removed) EachPerson(yield func(*change.Person) error) error {
	if r == nil {
		return nil
	}
	return r.l.persons.each(yield)
}

// Trashed reports whether the person key is one of those going to the trash can apart, and
// gives the name its change gives it.
func (r *Removed) Trashed(key string) (name string, ok bool) {
	if r == nil {
		return "", false
	}
	g := r.l.persons
	i, ok := g.find(key)
	if !ok {
		return "", false
	}
	return string(g.nameAt(g.at[i])), true
}

// AppendTo makes the removals p's listed changes, after the ones it lists (the plan Finish
// makes).
func (r *Removed) AppendTo(p *change.Plan) error {
	r.AppendPersonsTo(p)
	if r.Len() == 0 {
		return nil
	}
	out := make([]change.Membership, 0, len(p.Memberships)+r.Len())
	out = append(out, p.Memberships...)
	err := r.Each(func(c *change.Membership) error {
		out = append(out, *c)
		return nil
	})
	if err != nil {
		return err
	}
	p.Memberships = out
	return nil
}

// AppendPersonsTo makes the persons going to the trash can p's listed changes, after the ones
// it lists; after it Persons is 0.
func (r *Removed) AppendPersonsTo(p *change.Plan) {
	if r.Persons() == 0 {
		return
	}
	out := make([]change.Person, 0, len(p.Persons)+r.Persons())
	out = append(out, p.Persons...)
	r.l.persons.each(func(c *change.Person) error {
		out = append(out, *c)
		return nil
	})
	p.Persons = out
	r.l.persons = nil
}
