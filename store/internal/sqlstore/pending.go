package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/imsfeed/imsfeed/change"
)

// Pending person entries: the live channel's person writes without a rewrite of every bucket
// they fall in. Persons spread over 4,096 buckets by the hash of their key, so a live
// createPersons of 100 rewrote about 100 buckets, each in a page of its own: the index cost a
// live request more than its rows (bench live: createPersons of 100 on SQLite from about 80
// to about 45 requests/s). Instead, a live request whose persons are only created or replaced
// writes their entries as one more bucket numbered from pendingFirst up.
//
// A pending entry is the person's whole entry, newer than the one in its hash bucket and in
// any pending bucket numbered below it: readers apply the hash buckets, then the pending ones
// in order (decodeIndex, CheckIndex). Every other write of the index first folds the pending
// entries into their hash buckets and deletes the pending buckets (editBuckets), so nothing
// ever edits a person's entry in its hash bucket while a newer one is pending. So does the
// live request that finds pendingRows pending buckets: one request in pendingRows pays for
// rewriting each touched bucket once, not once per request.

const (
	// pendingFirst is the number of the first pending bucket.
	pendingFirst = indexBuckets
	// pendingRows is how many pending buckets a tenant has at most. A fold rewrites at most the
	// 4,096 person buckets whatever the number of pending entries.
	pendingRows = 1024
)

// loadPending reads the tenant's pending buckets, in the order they were written.
func (c *Core) loadPending(ctx context.Context, q querier, tenant string) ([]int, []*bucket, error) {
	rows, err := q.QueryContext(ctx, c.Q(`SELECT bucket, data FROM state_index WHERE tenant = ? AND bucket >= ? ORDER BY bucket`), tenant, pendingFirst)
	if err != nil {
		return nil, nil, err
	}
	var nums []int
	var bs []*bucket
	for rows.Next() {
		var n int
		var data sql.RawBytes
		if err := rows.Scan(&n, &data); err != nil {
			rows.Close()
			return nil, nil, err
		}
		b, err := decodeBucket(data)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("bucket %d: %w", n, err)
		}
		nums, bs = append(nums, n), append(bs, b)
	}
	return nums, bs, closeRows(rows)
}

// pendingBuckets adds the hash buckets of the pending entries to nums (nil: all buckets).
func pendingBuckets(nums map[int]bool, pend []*bucket) map[int]bool {
	if nums == nil {
		return nil
	}
	for _, p := range pend {
		for k := range p.persons {
			nums[personBucket(k)] = true
		}
	}
	return nums
}

// foldPending moves the pending entries into their hash buckets, which bs must hold, and
// marks the pending buckets for deletion.
func foldPending(bs *buckets, nums []int, pend []*bucket) {
	for i, p := range pend {
		for k, st := range p.persons {
			bs.person(k).persons[k] = st
		}
		bs.m[nums[i]] = newBucket() // empty and dirty: writeBuckets deletes it
		bs.dirty[nums[i]] = true
	}
}

// pendable reports whether a plan's persons can go to a pending bucket: created or replaced
// only (a trashing needs the entry it changes).
func pendable(p *change.Plan) bool {
	if len(p.Persons) == 0 {
		return false
	}
	for i := range p.Persons {
		if p.Persons[i].Op == change.Delete {
			return false
		}
	}
	return true
}

// nightPending is how many pending entries a night's import leaves at most: an eighth of the
// tenant's persons, or pendingMin. A night that renames 1 % of 150,000 persons wrote their
// entries into about 1,230 of the 4,096 person buckets (0.15 s of its 0.17 s apply); pending,
// they cost one bucket, and the fold every eighth such night rewrites each touched bucket
// once for all of them. Every load reads the pending entries besides the buckets, so they
// stay a small part of the tenant.
func nightPending(p *change.Plan) int { return max(p.Counts.Persons.Before/8, pendingMin) }

const pendingMin = 256

// pendPersons writes a plan's person entries as the next pending bucket, in tx, carrying the index from version v to v+1. It returns
// false, having written nothing, when the tenant has pendingRows pending buckets already, or
// (maxEntries >= 0) when the pending entries would be more than maxEntries.
func (c *Core) pendPersons(ctx context.Context, tx *sql.Tx, tenant string, p *change.Plan, v int64, maxEntries int) (bool, error) {
	var last sql.NullInt64
	if maxEntries < 0 {
		err := tx.QueryRowContext(ctx, c.Q(`SELECT max(bucket) FROM state_index WHERE tenant = ? AND bucket >= ?`), tenant, pendingFirst).Scan(&last)
		if err != nil {
			return false, err
		}
	} else {
		entries, lastBucket, err := c.countPending(ctx, tx, tenant)
		if err != nil || entries+len(p.Persons) > maxEntries {
			return false, err
		}
		last = lastBucket
	}
	n := pendingFirst
	if last.Valid {
		n = int(last.Int64) + 1
	}
	if n >= pendingFirst+pendingRows {
		return false, nil
	}
	bs := &buckets{m: map[int]*bucket{}, dirty: map[int]bool{}}
	pend := bs.at(n)
	for _, x := range p.Persons {
		r := &x.Person
		pend.persons[r.Key] = change.PersonState{Hash: r.Hash, Name: r.Name}
	}
	if err := c.writeBuckets(ctx, tx, tenant, bs); err != nil {
		return false, err
	}
	_, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = ? WHERE id = ?`), v+1, tenant)
	return true, err
}

// countPending is how many entries the tenant's pending buckets hold, and the last one's
// number. A damaged one counts as full: the fold that follows finds it.
func (c *Core) countPending(ctx context.Context, tx *sql.Tx, tenant string) (int, sql.NullInt64, error) {
	var last sql.NullInt64
	rows, err := tx.QueryContext(ctx, c.Q(`SELECT bucket, data FROM state_index WHERE tenant = ? AND bucket >= ? ORDER BY bucket`), tenant, pendingFirst)
	if err != nil {
		return 0, last, err
	}
	entries := 0
	d := indexDecoder{}
	for rows.Next() {
		var data sql.RawBytes
		if err := rows.Scan(&last, &data); err != nil {
			rows.Close()
			return 0, last, err
		}
		persons, err := d.count(data)
		if err != nil {
			persons = math.MaxInt32
		}
		entries += persons
	}
	return entries, last, closeRows(rows)
}
