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
	// A person trashed, and one renamed by a night that only renames: its entry waits in a
	// pending bucket after its old one, and the scanned index keeps the newer name.
	renamed, gone := person("p3", "Person p3 renamed"), person("p4", "Person p4")
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1, Mode: "snapshot",
		Persons:     []change.Person{{Op: change.Delete, Person: gone}},
		Memberships: []change.Membership{{Op: change.Insert, Membership: sub}}})
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 2, Mode: "snapshot",
		Persons: []change.Person{{Op: change.Update, Person: renamed}}})
	want := load(t, s, tenant)
	scanned, err := sc.LoadStateScanned(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if got := want.Persons[renamed.Key]; got.Name != renamed.Name || !want.Persons[gone.Key].Trashed {
		t.Fatalf("LoadState gives %+v after the rename, and %s trashed %v", got, gone.Key, want.Persons[gone.Key].Trashed)
	}
	SamePersons(t, "the scanned state", scanned.State, want)
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
	st.Memberships, st.Persons, st.StoredPersons = want.Memberships, want.Persons, nil
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
	wantSynced := 0
	for _, e := range wantList {
		if slices.Contains(groups, e.k.Group) && !e.m.Manual {
			wantSynced++
		}
	}
	if n, err := scanned.CountSynced(groups); err != nil || n != wantSynced {
		t.Errorf("CountSynced of %d groups: %d, %v; want %d", len(groups), n, err, wantSynced)
	}
	var ofGroups []entry
	if err := scanned.Scan(nil, func(k record.MembershipKey, m change.MembershipState) error {
		ofGroups = append(ofGroups, entry{k, m})
		return nil
	}); err != nil || len(ofGroups) != 2 || ofGroups[0].k != mkey("g0", "g1", "04") || ofGroups[1].k != sub.MembershipKey {
		t.Errorf("a scan of no group: %v, %v; want the two memberships whose member is a group", ofGroups, err)
	}
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
	if n, err := scanned.CountSynced(groups); !errors.Is(err, store.ErrStateChanged) {
		t.Errorf("a count after the state moved on: %d, %v; want ErrStateChanged", n, err)
	}
}

// SamePersons fails t unless the persons of got, a scanned state's (an index that keeps their
// names), are want's: each stored key with its hash, trash and name, no other key, as many
// active.
func SamePersons(t *testing.T, what string, got, want *change.State) {
	t.Helper()
	x := got.StoredPersons
	if x == nil || got.Persons != nil {
		t.Fatalf("%s: persons as %T of %d, not an index", what, got.Persons, len(got.Persons))
	}
	wrong := 0
	for k, p := range want.Persons {
		g, ok := x.Get(k)
		if !ok || g.Hash != p.Hash || g.Trashed != p.Trashed || got.PersonName(k) != p.Name {
			if wrong++; wrong <= 5 {
				t.Errorf("%s: person %s is %+v named %q (stored %v), want %+v", what, k, g, got.PersonName(k), ok, p)
			}
		}
	}
	if _, ok := x.Get("no-such-person"); ok || got.PersonName("no-such-person") != "" {
		t.Errorf("%s: a key never stored is found", what)
	}
	if x.Len() != len(want.Persons) || got.Active()[record.Persons] != want.Active()[record.Persons] {
		t.Errorf("%s: %d persons, %d active; want %d, %d", what, x.Len(), got.Active()[record.Persons], len(want.Persons), want.Active()[record.Persons])
	}
}
