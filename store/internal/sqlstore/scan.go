package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// LoadStateScanned implements store.MembershipScanner: the first stage of a load (version,
// school year, persons as an index that keeps their names, relations), the groups, the count of synced memberships and the
// memberships whose member is a group (a hierarchy's few, kept), in one read transaction. A
// scan reads the memberships of its groups in the primary key's order (keys compare byte by
// byte in both stores, as record.MembershipKey.Compare does), 500 groups a statement, and
// merges the kept ones in.
func (c *Core) LoadStateScanned(ctx context.Context, tenant string) (*store.ScannedState, error) {
	fail := func(err error) (*store.ScannedState, error) {
		return nil, fmt.Errorf("load state of tenant %q: %w", tenant, err)
	}
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return fail(err)
	}
	// The persons in an index that keeps their names, so that a rollover's hold, whose
	// changes name nearly every person, holds neither their keys nor a map of them.
	rt := &readTx{c: c, ctx: ctx, tx: tx, tenant: tenant, named: true}
	defer rt.close()
	st, _, err := c.loadFront(ctx, tx, tenant, true, rt)
	if err != nil {
		return fail(err)
	}
	if st.Groups, err = c.loadGroups(ctx, tx, tenant, nil); err != nil {
		return fail(err)
	}
	st.Memberships = change.NewMembershipSet(0)
	s := &store.ScannedState{State: st}
	if s.Synced, err = c.countMemberships(ctx, tx, tenant, true); err != nil {
		return fail(err)
	}
	var ofGroups []storedEntry
	err = c.eachGroupAsMember(ctx, tx, tenant, func(k record.MembershipKey, m change.MembershipState) error {
		ofGroups = append(ofGroups, storedEntry{k, m})
		return nil
	})
	if err != nil {
		return fail(err)
	}
	version := st.Version
	s.CountSynced = func(groups []string) (int, error) {
		n, err := c.countSynced(ctx, tenant, version, groups)
		if err != nil {
			return 0, fmt.Errorf("memberships of tenant %q: %w", tenant, err)
		}
		return n, nil
	}
	s.Scan = func(groups []string, fn func(record.MembershipKey, change.MembershipState) error) error {
		if err := c.scanMemberships(ctx, tenant, version, groups, ofGroups, fn); err != nil {
			return fmt.Errorf("memberships of tenant %q: %w", tenant, err)
		}
		return nil
	}
	return s, nil
}

// scanGroups is how many groups' memberships one statement of a scan reads.
var scanGroups = 500

// SetScanGroups sets scanGroups until the returned function puts it back. For tests only.
func SetScanGroups(n int) func() {
	old := scanGroups
	scanGroups = n
	return func() { scanGroups = old }
}

// readAt begins a read transaction whose snapshot must be of the tenant's state at version;
// the caller rolls it back.
func (c *Core) readAt(ctx context.Context, tenant string, version int64) (*sql.Tx, error) {
	tx, err := c.db.BeginTx(ctx, c.d.ReadTx)
	if err != nil {
		return nil, err
	}
	var v int64
	err = tx.QueryRowContext(ctx, c.Q(`SELECT state_version FROM tenants WHERE id = ?`), tenant).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		tx.Rollback() //nolint:errcheck // read-only
		return nil, err
	}
	if v != version {
		tx.Rollback() //nolint:errcheck // read-only
		return nil, fmt.Errorf("the state is at version %d, not %d as loaded: %w", v, version, store.ErrStateChanged)
	}
	return tx, nil
}

// countSynced counts the synced memberships of groups in a transaction of its own whose
// snapshot must be at version, a statement per scanGroups groups.
func (c *Core) countSynced(ctx context.Context, tenant string, version int64, groups []string) (int, error) {
	tx, err := c.readAt(ctx, tenant, version)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	n := 0
	for todo := groups; len(todo) > 0; {
		chunk := todo[:min(scanGroups, len(todo))]
		todo = todo[len(chunk):]
		k, err := c.countSyncedOfGroups(ctx, tx, tenant, chunk)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// scanMemberships gives, in key order, the memberships of groups read in a transaction of its
// own whose snapshot must be at version, and those of ofGroups outside groups.
func (c *Core) scanMemberships(ctx context.Context, tenant string, version int64, groups []string, ofGroups []storedEntry, fn func(record.MembershipKey, change.MembershipState) error) error {
	tx, err := c.readAt(ctx, tenant, version)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	// ofGroups, those outside groups, are given as the rows' keys pass them.
	rest := ofGroups
	next := func(k *record.MembershipKey) error {
		for len(rest) > 0 && (k == nil || rest[0].k.Compare(*k) < 0) {
			e := rest[0]
			rest = rest[1:]
			if _, in := slices.BinarySearch(groups, e.k.Group); in {
				continue
			}
			if err := fn(e.k, e.m); err != nil {
				return err
			}
		}
		return nil
	}
	for todo := groups; len(todo) > 0; {
		chunk := todo[:min(scanGroups, len(todo))]
		todo = todo[len(chunk):]
		err := c.eachMembershipOfGroups(ctx, tx, tenant, chunk, func(k record.MembershipKey, m change.MembershipState) error {
			if err := next(&k); err != nil {
				return err
			}
			return fn(k, m)
		})
		if err != nil {
			return err
		}
	}
	return next(nil)
}
