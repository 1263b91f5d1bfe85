package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// indexEdits are the state index edits of a plan written in pieces (an approval), kept per
// bucket, encoded, as indexPlan makes them while the pieces are written, and applied to the
// buckets after the writes, a range of buckets at a time (applyIndexEdits). The buckets a large
// approval edits are most of the tenant's index: decoded all at once, and live through the
// writes, they were 145-170 MB of its 200 MB live heap; its edits are a few bytes a change.
type indexEdits struct {
	logs map[int][]byte // per bucket, its edits in the order they were made
}

func newIndexEdits() *indexEdits { return &indexEdits{logs: map[int][]byte{}} }

// The kinds of edit, each followed by its key and what it writes.
const (
	editSetPerson    byte = iota + 1 // key, name, hash, trashed
	editTrash                        // key
	editRemoveMember                 // group, member, role
	editManualize                    // group, member, role
	editSetMember                    // group, member, role, hash, flags
)

// person starts an edit of a person's entry: its bucket, and the bucket's log with the edit's
// kind and key appended; member likewise for a membership's.
func (e *indexEdits) person(kind byte, key string) (int, []byte) {
	n := personBucket(key)
	return n, appendString(append(e.logs[n], kind), key)
}

func (e *indexEdits) member(kind byte, k record.MembershipKey) (int, []byte) {
	n := memberBucket(k.Group)
	b := appendString(append(e.logs[n], kind), k.Group)
	b = appendString(b, k.Member)
	return n, appendString(b, k.Role)
}

func (e *indexEdits) setPerson(key string, st change.PersonState) {
	n, b := e.person(editSetPerson, key)
	b = append(appendString(b, st.Name), st.Hash[:]...)
	var f byte
	if st.Trashed {
		f |= flagTrashed
	}
	e.logs[n] = append(b, f)
}

func (e *indexEdits) trash(key string) {
	n, b := e.person(editTrash, key)
	e.logs[n] = b
}

func (e *indexEdits) removeMember(k record.MembershipKey) {
	n, b := e.member(editRemoveMember, k)
	e.logs[n] = b
}

func (e *indexEdits) manualize(k record.MembershipKey) {
	n, b := e.member(editManualize, k)
	e.logs[n] = b
}

func (e *indexEdits) setMember(k record.MembershipKey, st change.MembershipState) {
	n, b := e.member(editSetMember, k)
	b = append(b, st.Hash[:]...)
	e.logs[n] = append(b, memberFlags(st))
}

// replay makes a bucket's edits to bs.
func replay(bs *buckets, log []byte) error {
	d := indexDecoder{data: log}
	hash := func() (h [16]byte) {
		copy(h[:], d.bytes(16))
		return h
	}
	flags := func() byte {
		if f := d.bytes(1); len(f) == 1 {
			return f[0]
		}
		return 0
	}
	for len(d.data) > 0 && d.err == nil {
		kind := d.data[0]
		d.data = d.data[1:]
		switch kind {
		case editSetPerson, editTrash:
			key := d.str()
			if kind == editTrash {
				if d.err == nil {
					bs.trash(key)
				}
				continue
			}
			st := change.PersonState{Name: d.str(), Hash: hash()}
			st.Trashed = flags()&flagTrashed != 0
			if d.err == nil {
				bs.setPerson(key, st)
			}
		default:
			k := record.MembershipKey{Group: d.str(), Member: d.str(), Role: d.str()}
			if d.err != nil {
				break
			}
			switch kind {
			case editRemoveMember:
				bs.removeMember(k)
			case editManualize:
				bs.manualize(k)
			case editSetMember:
				st := change.MembershipState{Hash: hash()}
				setMemberFlags(&st, flags())
				if d.err == nil {
					bs.setMember(k, st)
				}
			default:
				return fmt.Errorf("state index edits: unknown edit %d", kind)
			}
		}
	}
	return d.err
}

// editsRange is how many buckets applyIndexEdits holds decoded at a time.
const editsRange = 256

// applyIndexEdits carries the tenant's index, which describes version v, to v+1 with the edits
// made to it: the pending entries are folded into their buckets first (as editBuckets does),
// then each bucket's edits are made, editsRange buckets at a time. A damaged bucket marks the
// index stale and returns false (the caller rebuilds it from the rows, as editBuckets' do).
func (c *Core) applyIndexEdits(ctx context.Context, tx *sql.Tx, tenant string, v int64, e *indexEdits) (bool, error) {
	pn, pend, err := c.loadPending(ctx, tx, tenant)
	// The pending entries by their hash bucket, older first: a later one is newer.
	type entry struct {
		key string
		st  change.PersonState
	}
	pending := map[int][]entry{}
	for _, p := range pend {
		for k, st := range p.persons {
			n := personBucket(k)
			pending[n] = append(pending[n], entry{k, st})
		}
	}
	nums := make([]int, 0, len(e.logs)+len(pending))
	for n := range e.logs {
		nums = append(nums, n)
	}
	for n := range pending {
		if _, ok := e.logs[n]; !ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for len(nums) > 0 && err == nil {
		part := nums[:min(editsRange, len(nums))]
		nums = nums[len(part):]
		set := make(map[int]bool, len(part))
		for _, n := range part {
			set[n] = true
		}
		var bs *buckets
		if bs, err = c.loadBuckets(ctx, tx, tenant, set); err != nil {
			break
		}
		for _, n := range part {
			b := bs.at(n) // edited, or folded into: written (deleted when empty)
			for _, x := range pending[n] {
				b.persons[x.key] = x.st
			}
			if err = replay(bs, e.logs[n]); err != nil {
				break
			}
			delete(e.logs, n)
		}
		if err == nil {
			err = c.writeBuckets(ctx, tx, tenant, bs)
		}
	}
	if err == nil && len(pn) > 0 {
		gone := &buckets{m: map[int]*bucket{}, dirty: map[int]bool{}}
		for _, n := range pn {
			gone.m[n], gone.dirty[n] = newBucket(), true // empty and dirty: deleted
		}
		err = c.writeBuckets(ctx, tx, tenant, gone)
	}
	if errors.Is(err, errIndexFormat) {
		_, err = tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = -1 WHERE id = ?`), tenant)
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("state index: %w", err)
	}
	_, err = tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = ? WHERE id = ?`), v+1, tenant)
	return err == nil, err
}
