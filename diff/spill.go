package diff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// A re-import against stored memberships given as a source (change.State.Stored) holds no set
// of them while the file is read: the file's memberships are kept, compactly encoded, in
// spillParts partitions by their group's bucket (change.MemberBucket / 16), in memory up to a
// budget and beyond it in a scratch file. Finish then reads the stored ones, which come in
// bucket order, and compares each partition's file records (in file order, by exactly the
// per-key rules of the in-memory diff) with that partition's stored entries alone. Memory is
// then one partition's worth, not the tenant's; the plan is the same. (256 partitions, not
// 64: a 1 GB tenant's partition of 64 held 73,000 memberships, file records and stored
// entries, about 30 MB.) A goroutine of its own reads the stored ones and the file's records
// of the next partition while the caller's compares one: both cores work.

// Scratch is where spilled memberships go beyond the budget: a file, appended to while the
// file is read and read back at Finish.
type Scratch interface {
	io.Writer
	io.ReaderAt
}

// ErrStored marks Finish's error when the stored memberships or persons given as a source
// could not be read (all of them: a plan against a part of them would remove the rest). No
// plan is made.
var ErrStored = errors.New("stored memberships")

// storedError is an ErrStored of the stored persons (its text names them, not the
// memberships).
type storedError struct {
	what string
	err  error
}

func (e *storedError) Error() string   { return e.what + ": " + e.err.Error() }
func (e *storedError) Unwrap() []error { return []error{ErrStored, e.err} }

const (
	spillParts         = 256
	bucketsPerPart     = change.MemberBuckets / spillParts
	defaultSpillBudget = 16 << 20
	spillRoom          = 256 // bytes a partition's buffer has free before a record is added
)

// spiller keeps the file's memberships by partition.
type spiller struct {
	parts   [spillParts]spillPart
	inMem   int // bytes in the parts' buffers
	budget  int
	open    func() (Scratch, error)
	scratch Scratch
	size    int64 // of the scratch file
	// The last group's partition: a file lists a group's members together.
	lastGroup string
	lastPart  int
	// Decoding: one string of each role.
	roles []string
}

type spillPart struct {
	buf  []byte
	segs []spillSeg // flushed to the scratch file, in order
	n    int        // records
	// The previous record's, for the deltas.
	prevSeq   int64
	prevLine  int
	prevGroup string
}

type spillSeg struct{ off, n int64 }

func (sp *spiller) part(group string) int {
	if group != sp.lastGroup || sp.lastPart < 0 {
		sp.lastGroup, sp.lastPart = group, change.MemberBucket(group)/bucketsPerPart
	}
	return sp.lastPart
}

// Flags of a spilled record.
const (
	spillInactive = 1 << iota
	spillAttrs    // Attrs is not nil
)

// spillMembership keeps m for Finish.
func (d *Differ) spillMembership(m *record.Membership, seq int64) error {
	d.handed = nil // (Options.Handover is for a state without memberships)
	sp := d.spill
	if sp == nil {
		sp = &spiller{budget: d.opts.SpillBudget, open: d.opts.Scratch, lastPart: -1}
		if sp.budget <= 0 {
			sp.budget = defaultSpillBudget
		}
		d.spill = sp
	}
	p := &sp.parts[sp.part(m.Group)]
	n := len(p.buf)
	if cap(p.buf)-n < spillRoom {
		// Double it: append grows a large buffer by a quarter at a time, and the file's
		// memberships went through about five times their size in discarded buffers.
		p.buf = slices.Grow(p.buf, max(cap(p.buf), spillRoom))
	}
	b := binary.AppendUvarint(p.buf, uint64(seq-p.prevSeq))
	b = binary.AppendVarint(b, int64(m.Pos.Line-p.prevLine))
	b = binary.AppendVarint(b, int64(m.Pos.Column))
	if m.Group == p.prevGroup && p.n > 0 {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(m.Group))+1)
		b = append(b, m.Group...)
		p.prevGroup = m.Group
	}
	b = appendString(b, m.Member)
	b = appendString(b, m.Role)
	b = binary.AppendVarint(b, int64(m.MemberType))
	b = binary.AppendVarint(b, int64(m.RecStatus))
	var f byte
	if m.Inactive {
		f |= spillInactive
	}
	if m.Attrs != nil {
		f |= spillAttrs
	}
	b = append(b, f)
	if m.Attrs != nil {
		b = binary.AppendUvarint(b, uint64(len(m.Attrs)))
		for _, a := range m.Attrs {
			b = appendString(b, a.Name)
			b = appendString(b, a.Value)
		}
	}
	b = append(b, m.Hash[:]...)
	p.buf, p.n, p.prevSeq, p.prevLine = b, p.n+1, seq, m.Pos.Line
	sp.inMem += len(b) - n
	for sp.inMem > sp.budget && sp.open != nil {
		if err := sp.flushLargest(); err != nil {
			return fmt.Errorf("keep the memberships in a scratch file: %w", err)
		}
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// flushLargest writes the partition with the most bytes in memory to the scratch file.
func (sp *spiller) flushLargest() error {
	big := 0
	for i := range sp.parts {
		if len(sp.parts[i].buf) > len(sp.parts[big].buf) {
			big = i
		}
	}
	p := &sp.parts[big]
	off, err := sp.write(p.buf)
	if err != nil {
		return err
	}
	p.segs = append(p.segs, spillSeg{off, int64(len(p.buf))})
	sp.inMem -= len(p.buf)
	if cap(p.buf) > 4*sp.budget/spillParts {
		p.buf = nil // an outsized one (most of the file in one partition) is not kept
	} else {
		p.buf = p.buf[:0]
	}
	return nil
}

// write appends b to the scratch file, made if need be, and says where it went.
func (sp *spiller) write(b []byte) (int64, error) {
	if sp.scratch == nil {
		f, err := sp.open()
		if err != nil {
			return 0, err
		}
		sp.scratch = f
	}
	if _, err := sp.scratch.Write(b); err != nil {
		return 0, err
	}
	sp.size += int64(len(b))
	return sp.size - int64(len(b)), nil
}

// flushAll writes every partition's records still in memory to the scratch file, when there
// is one (the file's memberships went beyond the budget), and lets their buffers go: Finish
// builds its maps of the groups and reads the stored memberships next, and the buffers (up to
// twice the budget, with their room to grow) would be held beside them until each partition
// is compared.
func (sp *spiller) flushAll() error {
	if sp == nil || sp.scratch == nil {
		return nil
	}
	for i := range sp.parts {
		p := &sp.parts[i]
		if len(p.buf) > 0 {
			off, err := sp.write(p.buf)
			if err != nil {
				return fmt.Errorf("keep the memberships in a scratch file: %w", err)
			}
			p.segs = append(p.segs, spillSeg{off, int64(len(p.buf))})
			sp.inMem -= len(p.buf)
		}
		p.buf = nil
	}
	return nil
}

// records reads partition i's records back, in file order, with their places in the diff's
// order, into recs and seqs (reused), and releases the partition.
func (sp *spiller) records(i int, data []byte, recs []record.Membership, seqs []int64) ([]byte, []record.Membership, []int64, error) {
	p := &sp.parts[i]
	recs, seqs = recs[:0], seqs[:0]
	if p.n == 0 {
		return data, recs, seqs, nil
	}
	total := int64(len(p.buf))
	for _, s := range p.segs {
		total += s.n
	}
	data = slices.Grow(data[:0], int(total))[:total]
	at := int64(0)
	for _, s := range p.segs {
		if _, err := sp.scratch.ReadAt(data[at:at+s.n], s.off); err != nil {
			return data, recs, seqs, fmt.Errorf("read the memberships back from the scratch file: %w", err)
		}
		at += s.n
	}
	copy(data[at:], p.buf)
	n := p.n
	*p = spillPart{}
	recs, seqs = slices.Grow(recs, n)[:n], slices.Grow(seqs, n)[:n]
	dec := spillDecoder{data: data, roles: &sp.roles}
	var seq int64
	var line int
	var group string
	for j := range n {
		seq += int64(dec.uvarint())
		line += int(dec.varint())
		m := &recs[j]
		*m = record.Membership{Pos: record.Pos{Line: line, Column: int(dec.varint())}}
		if g := dec.uvarint(); g > 0 {
			group = string(dec.bytes(g - 1))
		}
		m.Group, m.Member, m.Role = group, dec.str(), dec.role()
		m.MemberType = record.MemberType(dec.varint())
		m.RecStatus = record.RecStatus(dec.varint())
		f := dec.byte()
		m.Inactive = f&spillInactive != 0
		if f&spillAttrs != 0 {
			m.Attrs = make(record.Attrs, dec.uvarint())
			for a := range m.Attrs {
				m.Attrs[a] = record.Attr{Name: dec.str(), Value: dec.str()}
			}
		}
		copy(m.Hash[:], dec.bytes(16))
		seqs[j] = seq
		if dec.err != nil {
			return data, recs, seqs, fmt.Errorf("the memberships read back from the scratch file: %w", dec.err)
		}
	}
	if len(dec.data) != 0 {
		return data, recs, seqs, errors.New("the memberships read back from the scratch file: bytes left over")
	}
	return data, recs, seqs, nil
}

type spillDecoder struct {
	data  []byte
	err   error
	roles *[]string
}

var errSpillShort = errors.New("cut short")

func (d *spillDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.data)
	if n <= 0 {
		d.err, d.data = errSpillShort, nil
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *spillDecoder) varint() int64 {
	v, n := binary.Varint(d.data)
	if n <= 0 {
		d.err, d.data = errSpillShort, nil
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *spillDecoder) bytes(n uint64) []byte {
	if uint64(len(d.data)) < n {
		d.err, d.data = errSpillShort, nil
		return nil
	}
	b := d.data[:n]
	d.data = d.data[n:]
	return b
}

func (d *spillDecoder) byte() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *spillDecoder) str() string { return string(d.bytes(d.uvarint())) }

// role is a role's string, one of each (roles are a handful: "01".."08").
func (d *spillDecoder) role() string {
	b := d.bytes(d.uvarint())
	for _, r := range *d.roles {
		if r == string(b) {
			return r
		}
	}
	r := string(b)
	if len(*d.roles) < 32 {
		*d.roles = append(*d.roles, r)
	}
	return r
}

// partStored is one partition's stored memberships, with the diff's scratch marks.
type partStored struct {
	index   map[record.MembershipKey]int32
	entries []storedEntry
}

type storedEntry struct {
	k record.MembershipKey
	m change.MembershipState
}

// add takes one stored membership; a key given again replaces the first (Each's promise).
func (p *partStored) add(k record.MembershipKey, m change.MembershipState) {
	m.Seen, m.SeenLine = false, 0
	if i, ok := p.index[k]; ok {
		p.entries[i].m = m
		return
	}
	p.index[k] = int32(len(p.entries))
	p.entries = append(p.entries, storedEntry{k, m})
}

// markSeen is change.MembershipSet.MarkSeen.
func (p *partStored) markSeen(k record.MembershipKey, line int32) (change.MembershipState, bool) {
	i, ok := p.index[k]
	if !ok {
		return change.MembershipState{}, false
	}
	e := &p.entries[i].m
	st := *e
	if !e.Seen {
		e.Seen, e.SeenLine = true, line
	}
	return st, true
}

// spilledResult is what Finish takes from the partitions: the updates and inserts with their
// places in the diff's order (sorted by them), the removals (each partition's written), the stored synced
// memberships' count, and what archive.Removals needs of the stored ones.
type spilledResult struct {
	before           int
	updates, inserts []placed
	removals         removals
	base             *change.RemovalBase
}

type placed struct {
	seq int64
	m   record.Membership
}

// partJob is one partition to compare: its stored entries, and the file's records with their
// places (read back by the comparison). Two of them go round between the goroutine that fills
// them and the comparison.
type partJob struct {
	part   int
	stored *partStored
	recs   []record.Membership
	seqs   []int64
	data   []byte
}

// errCompareStopped ends the stored memberships' reading when the comparison failed.
var errCompareStopped = errors.New("the comparison stopped")

// compareSpilled reads the stored memberships and compares each partition's with the file's,
// in partition order: a goroutine reads the stored ones into one job while this one reads the
// file's records of the job before back and compares them (the reading of the stored ones,
// their decoding and table, is the larger part: the two then take about as long).
func (d *Differ) compareSpilled(snapshot bool, keep *keepSet, trashed *gonePersons, removedGroup map[string]change.Op) (*spilledResult, error) {
	d.handed = nil
	sp := d.spill
	if sp == nil {
		sp = &spiller{lastPart: -1, budget: d.opts.SpillBudget, open: d.opts.Scratch}
		if sp.budget <= 0 {
			sp.budget = defaultSpillBudget
		}
	}
	out := &spilledResult{base: &change.RemovalBase{GroupMembers: map[record.MembershipKey]bool{}, Synced: map[change.GroupRole]int{}}}
	out.removals.sp = sp
	free := make(chan *partJob, 2)
	for range 2 {
		free <- &partJob{stored: &partStored{index: map[record.MembershipKey]int32{}}}
	}
	jobs := make(chan *partJob, 1)
	var stored error     // the store's
	var stop atomic.Bool // the comparison failed: read no further
	go func() {
		defer close(jobs)
		job := <-free
		cur := 0
		// send hands the partitions before p over.
		send := func(p int) {
			for ; cur < p; cur++ {
				job.part = cur
				jobs <- job
				job = <-free
			}
		}
		lastGroup, lastPart := "", -1
		err := d.st.Stored.Each(func(k record.MembershipKey, m change.MembershipState) error {
			if k.Group != lastGroup || lastPart < 0 {
				if stop.Load() {
					return errCompareStopped
				}
				lastGroup, lastPart = k.Group, change.MemberBucket(k.Group)/bucketsPerPart
			}
			if lastPart < cur {
				return fmt.Errorf("membership %s is out of bucket order", k)
			}
			if lastPart > cur {
				send(lastPart)
			}
			job.stored.add(k, m)
			return nil
		})
		if err != nil {
			if !errors.Is(err, errCompareStopped) {
				stored = err
			}
			return
		}
		send(spillParts)
	}()
	t := newMemberTable()
	t.seqs = true
	var failed error // the partitions' own (the scratch file)
	for job := range jobs {
		if failed == nil {
			job.data, job.recs, job.seqs, failed = sp.records(job.part, job.data, job.recs, job.seqs)
			if failed != nil {
				stop.Store(true) // and take what is still sent, so that the goroutine ends
			} else {
				t.part = job.stored
				d.comparePart(&t, job.recs, job.seqs, out, snapshot, keep, trashed, removedGroup)
			}
		}
		if failed != nil {
			clear(job.stored.index)
			clear(job.stored.entries)
			job.stored.entries = job.stored.entries[:0]
		}
		free <- job
	}
	// (The goroutine is done: jobs is closed.)
	if failed != nil {
		return nil, failed
	}
	if stored != nil {
		return nil, fmt.Errorf("%w: %w", ErrStored, stored)
	}
	byPlace := func(a, b placed) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	}
	slices.SortFunc(out.updates, byPlace)
	slices.SortFunc(out.inserts, byPlace)
	return out, nil
}

// comparePart compares one partition: its file records in file order, then its stored entries
// for removals; and resets t for the next.
func (d *Differ) comparePart(t *memberTable, recs []record.Membership, seqs []int64, out *spilledResult, snapshot bool,
	keep *keepSet, trashed *gonePersons, removedGroup map[string]change.Op) {
	entries := t.part.entries
	for i := range entries {
		if !entries[i].m.Manual {
			out.before++
		}
	}
	for i := range recs {
		d.membership(t, &recs[i], seqs[i])
	}
	// Updates in order of first appearance, inserts in file order: Finish merges the
	// partitions' by their places.
	for i, k := range t.changedOrder {
		if m, ok := t.changed[k]; ok {
			out.updates = append(out.updates, placed{t.changedSeq[i], *m})
		}
	}
	t.fresh.each(func(i int32, m *record.Membership) {
		out.inserts = append(out.inserts, placed{t.freshSeq[i], *m})
	})
	var persons map[change.GroupRole]bool
	for i := range entries {
		e := &entries[i]
		r, ok := d.removal(t, e.k, e.m, snapshot, keep, trashed, removedGroup)
		if !ok {
			continue
		}
		out.removals.add(r)
		if r.Op == change.Delete {
			if e.m.MemberType == record.MemberGroup {
				out.base.GroupMembers[e.k] = true
			} else {
				if persons == nil {
					persons = map[change.GroupRole]bool{}
				}
				persons[change.GroupRole{Group: e.k.Group, Role: e.k.Role}] = true
			}
		}
	}
	out.removals.endPart()
	if persons != nil {
		// How many synced person memberships each group and role losing one has (all of a
		// group's are in its partition).
		for i := range entries {
			e := &entries[i]
			if gr := (change.GroupRole{Group: e.k.Group, Role: e.k.Role}); !e.m.Manual && e.m.MemberType != record.MemberGroup && persons[gr] {
				out.base.Synced[gr]++
			}
		}
	}
	clear(t.changed)
	clear(t.memberGone)
	t.changedOrder, t.changedSeq, t.freshSeq = t.changedOrder[:0], t.changedSeq[:0], t.freshSeq[:0]
	t.fresh.reset()
	clear(t.part.index)
	clear(entries)
	t.part.entries = entries[:0]
}
