package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// testScannedMemberships: LoadStateScanned gives LoadState's state without its memberships, and
// its scan every stored membership (synced and manual) once, in key order, as often as it is
// called; it stops at its caller's first error with that error, and once the state moved on it
// gives none and says so (a rollover must never hold changes of another state than its counts).
func testScannedMemberships(t *testing.T, s store.Store) {
	ctx := context.Background()
	sc, ok := s.(store.MembershipScanner)
	if !ok {
		t.Fatalf("%T does not implement store.MembershipScanner", s)
	}
	tenant := tenantName("scan")
	bulk(t, s, tenant)
	want := load(t, s, tenant)
	st, scan, err := sc.LoadStateScanned(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if st.Memberships.Len() != 0 {
		t.Errorf("the scanned state holds %d memberships, want none", st.Memberships.Len())
	}
	type entry struct {
		k record.MembershipKey
		m change.MembershipState
	}
	var wantList []entry
	for k, m := range want.Memberships.All() {
		wantList = append(wantList, entry{k, m})
	}
	slices.SortFunc(wantList, func(a, b entry) int { return a.k.Compare(b.k) })
	for pass := range 2 {
		var got []entry
		if err := scan(func(k record.MembershipKey, m change.MembershipState) error {
			got = append(got, entry{k, m})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, wantList) {
			t.Fatalf("scan %d gave %d memberships, want LoadState's %d in key order", pass+1, len(got), len(wantList))
		}
	}
	st.Memberships = want.Memberships
	if !st.Equal(want) {
		t.Error("the scanned state (with LoadState's memberships) differs from LoadState's")
	}

	stop := errors.New("enough")
	n := 0
	if err := scan(func(record.MembershipKey, change.MembershipState) error {
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
	err = scan(func(record.MembershipKey, change.MembershipState) error { n++; return nil })
	if !errors.Is(err, store.ErrStateChanged) || n != 0 {
		t.Errorf("a scan after the state moved on: %v after %d memberships, want ErrStateChanged and none", err, n)
	}
}
