package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

// testScannedMemberships: LoadStateScanned gives LoadState's state without its memberships and
// the count of its synced ones; its scan gives exactly the stored memberships (synced and
// manual) of the groups asked and those whose member is a group, once, in key order, as often
// as it is called (over several statements of groups); it stops at its caller's first error
// with that error, and once the state moved on it gives none and says so (a rollover must
// never hold changes of another state than the one it counted).
func testScannedMemberships(t *testing.T, s store.Store) {
	ctx := context.Background()
	sc, ok := s.(store.MembershipScanner)
	if !ok {
		t.Fatalf("%T does not implement store.MembershipScanner", s)
	}
	tenant := tenantName("scan")
	bulk(t, s, tenant) // 40 groups g0..g39 of persons, g1 also a member of g0, a manual member of g3
	sub := record.Membership{MembershipKey: mkey("g7", "g2", "01"), MemberType: record.MemberGroup}
	sub.ComputeHash()
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1, Memberships: []change.Membership{{Op: change.Insert, Membership: sub}}})
	want := load(t, s, tenant)
	scanned, err := sc.LoadStateScanned(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if scanned.Memberships.Len() != 0 {
		t.Errorf("the scanned state holds %d memberships, want none", scanned.Memberships.Len())
	}
	synced := 0
	for _, m := range want.Memberships.All() {
		if !m.Manual {
			synced++
		}
	}
	if scanned.Synced != synced {
		t.Errorf("the scanned state counts %d synced memberships, want %d", scanned.Synced, synced)
	}
	st := *scanned.State
	st.Memberships = want.Memberships
	if !st.Equal(want) {
		t.Error("the scanned state (with LoadState's memberships) differs from LoadState's")
	}

	type entry struct {
		k record.MembershipKey
		m change.MembershipState
	}
	var groups []string
	for i := range 40 {
		if i%3 != 2 { // g2, g5, …: not asked, but g2 is a member of g7
			groups = append(groups, fmt.Sprintf("g%d", i))
		}
	}
	slices.Sort(groups)
	var wantList []entry
	for k, m := range want.Memberships.All() {
		if slices.Contains(groups, k.Group) || m.MemberType == record.MemberGroup {
			wantList = append(wantList, entry{k, m})
		}
	}
	slices.SortFunc(wantList, func(a, b entry) int { return a.k.Compare(b.k) })
	defer sqlstore.SetScanGroups(7)()
	for pass := range 2 {
		var got []entry
		if err := scanned.Scan(groups, func(k record.MembershipKey, m change.MembershipState) error {
			got = append(got, entry{k, m})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, wantList) {
			t.Fatalf("scan %d gave %d memberships, want the %d of the groups and of group members in key order:\n%v\n%v", pass+1, len(got), len(wantList), got, wantList)
		}
	}

	stop := errors.New("enough")
	n := 0
	if err := scanned.Scan(groups, func(record.MembershipKey, change.MembershipState) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || n != 10 {
		t.Errorf("a scan whose function fails at the 10th: %v after %d, want its error after 10", err, n)
	}

	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: want.Version, Memberships: []change.Membership{
		{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("g5", "p5", "03")}}}})
	n = 0
	err = scanned.Scan(groups, func(record.MembershipKey, change.MembershipState) error { n++; return nil })
	if !errors.Is(err, store.ErrStateChanged) || n != 0 {
		t.Errorf("a scan after the state moved on: %v after %d memberships, want ErrStateChanged and none", err, n)
	}
}
