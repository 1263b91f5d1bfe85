package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/store"
)

// Checking and rebuilding a tenant's state index from its rows, in memory that does not grow
// with the tenant. Both once held the whole state and the whole index decoded, several times
// over: `imsfeed check` of the 1 GB feed's tenant (480,000 persons, 4.8 million memberships, on
// SQLite) peaked at 2.4 GB. Now the check compares a digest of each bucket (one scan of the rows,
// one read of the index a block of buckets at a time) and compares entry by entry only the
// buckets whose digests differ, a block at a time; a rebuild writes a block of buckets at a time,
// each block's entries taken from one scan of its table.

// blockEntries is about how many rows' entries a check or a rebuild holds decoded at once (twice
// that in a check's entry-by-entry comparison: the rows' and the index's).
var blockEntries = 1 << 19

// SetBlockEntries sets blockEntries until the returned function puts it back: a test's small
// tenant then goes through several blocks. For tests only.
func SetBlockEntries(n int) func() {
	old := blockEntries
	blockEntries = n
	return func() { blockEntries = old }
}

// digest sums the hashes of a bucket's entries under two seeds, with their count: the same
// entries in any order give the same digest, and different ones, in practice, another.
type digest struct {
	n    int
	a, b uint64
}

type digester struct{ a, b maphash.Seed }

func newDigester() digester { return digester{maphash.MakeSeed(), maphash.MakeSeed()} }

func (h digester) add(d *digest, entry []byte) {
	d.n++
	d.a += maphash.Bytes(h.a, entry)
	d.b += maphash.Bytes(h.b, entry)
}

// personEntry is an entry's bytes for its digest: a kind, the key and the state, the key ended
// by a zero byte (keys hold none: XML cannot carry one).
func personEntry(buf []byte, k string, p change.PersonState) []byte {
	buf = append(append(append(buf[:0], 'p'), k...), 0)
	buf = append(append(buf, p.Hash[:]...), p.Name...)
	if p.Trashed {
		buf = append(buf, 0, 1)
	}
	return buf
}

// rowDigests is the digest of each bucket the rows make.
func (c *Core) rowDigests(ctx context.Context, tx *sql.Tx, tenant string, h digester) ([]digest, error) {
	ds := make([]digest, hashBuckets)
	var buf []byte
	err := c.eachPersonRow(ctx, tx, tenant, "", func(k string, p change.PersonState) error {
		buf = personEntry(buf, k, p)
		h.add(&ds[personBucket(k)], buf)
		return nil
	})
	return ds, err
}

// rowBucketsOf builds from the persons' rows the index's buckets of nums, scanning the table
// once.
func (c *Core) rowBucketsOf(ctx context.Context, tx *sql.Tx, tenant string, nums map[int]bool) (*buckets, error) {
	bs := &buckets{m: map[int]*bucket{}, dirty: map[int]bool{}}
	for n := range nums {
		bs.m[n] = newBucket()
	}
	return bs, c.eachPersonRow(ctx, tx, tenant, "", func(k string, p change.PersonState) error {
		if b, ok := bs.m[personBucket(k)]; ok {
			b.persons[k] = p
		}
		return nil
	})
}

// storedBucketsOf reads the stored buckets of nums, with the pending entries of those buckets
// folded in (pend: loadPending's).
func (c *Core) storedBucketsOf(ctx context.Context, tx *sql.Tx, tenant string, nums map[int]bool, pend []*bucket) (*buckets, error) {
	got, err := c.loadBuckets(ctx, tx, tenant, nums)
	if err != nil {
		return nil, err
	}
	for _, p := range pend { // in order: a later pending entry of a person replaces an earlier
		for k, st := range p.persons {
			if nums[personBucket(k)] {
				got.person(k).persons[k] = st
			}
		}
	}
	return got, nil
}

// blocks splits the buckets of ns, in order, into blocks of about blockEntries entries by the
// counts ds gives (a bucket with more is a block of its own).
func blocks(ns []int, ds []digest) []map[int]bool {
	var out []map[int]bool
	var cur map[int]bool
	held := 0
	for _, n := range ns {
		if cur == nil || held+ds[n].n > blockEntries && len(cur) > 0 {
			cur, held = map[int]bool{}, 0
			out = append(out, cur)
		}
		cur[n] = true
		held += ds[n].n
	}
	return out
}

// CheckIndex implements store.IndexChecker: it compares the index with one built from the rows,
// bucket by bucket, and, with repair, stores the one built from the rows.
func (c *Core) CheckIndex(ctx context.Context, tenant string, repair bool) (*store.IndexReport, error) {
	r := &store.IndexReport{Tenant: tenant}
	err := c.inTx(ctx, func(tx *sql.Tx) error {
		v, err := c.lockTenant(ctx, tx, tenant)
		if err != nil {
			return err
		}
		_, iv, err := c.indexVersion(ctx, tx, tenant)
		if err != nil {
			return err
		}
		r.StateVersion, r.IndexVersion = v, iv
		if err := c.checkDigests(ctx, tx, tenant, r); err != nil {
			return err
		}
		if repair && !r.OK() {
			if err := c.rebuildIndex(ctx, tx, tenant, v); err != nil {
				return err
			}
			r.Repaired = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check state index of tenant %q: %w", tenant, err)
	}
	return r, nil
}

// checkDigests fills r: the rows' counts, the entries stored in a bucket not theirs, and, for
// each bucket whose digest differs from the rows', its entries compared one by one.
func (c *Core) checkDigests(ctx context.Context, tx *sql.Tx, tenant string, r *store.IndexReport) error {
	h := newDigester()
	want, err := c.rowDigests(ctx, tx, tenant, h)
	if err != nil {
		return err
	}
	for n := range want {
		r.Persons += want[n].n
	}
	if r.Memberships, err = c.countMemberships(ctx, tx, tenant, false); err != nil {
		return err
	}
	example := func(kind, key, what string) {
		if len(r.Examples) < maxExamples {
			r.Examples = append(r.Examples, fmt.Sprintf("%s %s: %s", kind, key, what))
		}
	}
	// Memberships' buckets an imsfeed from before migration 0029 wrote (it rebuilt a stale
	// index with them): nothing reads them; a repair deletes them.
	var old int
	if err := tx.QueryRowContext(ctx, c.Q(`SELECT count(*) FROM state_index WHERE tenant = ? AND bucket >= ? AND bucket < ?`),
		tenant, hashBuckets, indexBuckets).Scan(&old); err != nil {
		return err
	}
	if old > 0 {
		r.Extra += old
		example("buckets", fmt.Sprint(old), "of memberships, left by an older imsfeed (memberships are read from their packs)")
	}
	_, pend, err := c.loadPending(ctx, tx, tenant)
	if err != nil {
		// An unreadable bucket is a difference like any other: report it, rebuild it.
		r.Unreadable = err.Error()
		pend = nil
	}
	all := make([]int, hashBuckets)
	for n := range all {
		all[n] = n
	}
	var differ []int
	var buf []byte
	for _, nums := range blocks(all, want) {
		got, err := c.storedBucketsOf(ctx, tx, tenant, nums, pend)
		if err != nil {
			if r.Unreadable == "" {
				r.Unreadable = err.Error()
			}
			got = &buckets{m: map[int]*bucket{}}
		}
		for n := range nums {
			var d digest
			if b := got.m[n]; b != nil {
				for k, p := range b.persons {
					if personBucket(k) != n {
						r.Different++
						example("person", k, fmt.Sprintf("in bucket %d, not %d", n, personBucket(k)))
					}
					buf = personEntry(buf, k, p)
					h.add(&d, buf)
				}
			}
			if d != want[n] {
				differ = append(differ, n)
			}
		}
	}
	slices.Sort(differ)
	for _, nums := range blocks(differ, want) {
		w, err := c.rowBucketsOf(ctx, tx, tenant, nums)
		if err != nil {
			return err
		}
		got, err := c.storedBucketsOf(ctx, tx, tenant, nums, pend)
		if err != nil {
			got = &buckets{m: map[int]*bucket{}}
		}
		compareIndex(r, w, got)
	}
	return nil
}

// rebuildIndex replaces the tenant's index with one built from its rows, describing version: a
// block of buckets at a time.
func (c *Core) rebuildIndex(ctx context.Context, tx *sql.Tx, tenant string, version int64) error {
	if _, err := tx.ExecContext(ctx, c.Q(`DELETE FROM state_index WHERE tenant = ?`), tenant); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, c.Q(`SELECT count(*) FROM persons WHERE tenant = ?`), tenant).Scan(&n); err != nil {
		return fmt.Errorf("rebuild state index: %w", err)
	}
	parts := max(1, (n+blockEntries-1)/blockEntries)
	for i := range parts {
		nums := map[int]bool{}
		for b := i * hashBuckets / parts; b < (i+1)*hashBuckets/parts; b++ {
			nums[b] = true
		}
		bs, err := c.rowBucketsOf(ctx, tx, tenant, nums)
		if err != nil {
			return fmt.Errorf("rebuild state index: %w", err)
		}
		for n, b := range bs.m {
			if len(b.persons) == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, c.Q(`INSERT INTO state_index (tenant, bucket, data) VALUES (?, ?, ?)`), tenant, n, b.encode()); err != nil {
				return err
			}
		}
	}
	_, err := tx.ExecContext(ctx, c.Q(`UPDATE tenants SET index_version = ? WHERE id = ?`), version, tenant)
	return err
}
