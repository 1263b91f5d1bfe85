package storetest

import (
	"context"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// restDelayer is the stores' test seam of a staged load (sqlstore.Core.DelayRest).
type restDelayer interface {
	DelayRest(func(context.Context))
}

// testStagedLoad: a staged load (issue 18: the groups and memberships load beside the reading
// of the file's persons) gives what LoadState gives, from one snapshot: groups and memberships
// that load after another apply changed them are still those of the version the first stage
// read. A load stopped part-way gives an error, never a part of them (a diff against some of
// the memberships would remove the rest).
func testStagedLoad(t *testing.T, s store.Store) {
	ctx := context.Background()
	sl, ok := s.(store.StagedLoader)
	if !ok {
		t.Fatalf("%T does not implement store.StagedLoader", s)
	}
	hold, ok := s.(restDelayer)
	if !ok {
		t.Fatalf("%T has no DelayRest", s)
	}
	defer hold.DelayRest(nil)
	tenant := tenantName("staged")
	staged := func(what string) (*change.State, store.RestLoad) {
		t.Helper()
		st, ml, err := sl.LoadStateStaged(ctx, tenant)
		if err != nil {
			t.Fatalf("%s: staged load: %v", what, err)
		}
		if st.Memberships != nil || st.Groups != nil {
			t.Fatalf("%s: the first stage returned groups or memberships", what)
		}
		return st, ml
	}
	wait := func(what string, st *change.State, ml store.RestLoad) {
		t.Helper()
		err := ml.Wait(st)
		ml.Close()
		if err != nil {
			t.Fatalf("%s: groups and memberships: %v", what, err)
		}
	}

	// A tenant never imported has no memberships, and says so at once.
	st, ml := staged("new tenant")
	if !ml.None() {
		t.Error("new tenant: None is false")
	}
	wait("new tenant", st, ml)
	if st.Version != 0 || st.Memberships.Len() != 0 || st.Groups == nil || len(st.Groups) != 0 {
		t.Fatalf("new tenant: version %d, %d memberships, groups %v", st.Version, st.Memberships.Len(), st.Groups)
	}

	apply(t, s, initial(tenant))
	want := load(t, s, tenant)
	st, ml = staged("imported")
	if ml.None() {
		t.Error("imported: None is true")
	}
	wait("imported", st, ml)
	if !st.Equal(want) {
		t.Fatalf("the staged load differs from LoadState:\n got %+v\nwant %+v", st, want)
	}

	// The groups and memberships are read only after an apply changed them: still those of
	// the first stage's snapshot.
	release := make(chan struct{})
	hold.DelayRest(func(ctx context.Context) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	st, ml = staged("held back")
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Groups: []change.Group{{Op: change.Insert, Group: group("art1", "Art 1", "school")}},
		Memberships: []change.Membership{
			{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("math1", "p2", "01")}},
			{Op: change.Insert, Membership: member("math1", "p2", "02")},
		}})
	close(release)
	wait("held back", st, ml)
	if !st.Equal(want) {
		t.Fatalf("a staged load mixes two state versions:\n got %+v\nwant %+v", st, want)
	}

	// Stopped part-way, by Close or by the caller's context: an error, no groups or
	// memberships.
	hold.DelayRest(func(ctx context.Context) { <-ctx.Done() })
	st, ml = staged("closed")
	ml.Close()
	if err := ml.Wait(st); err == nil || st.Groups != nil || st.Memberships != nil {
		t.Fatalf("a load closed part-way: %d groups, %d memberships, error %v; want none and an error", len(st.Groups), st.Memberships.Len(), err)
	}
	cctx, cancel := context.WithCancel(ctx)
	st, ml, err := sl.LoadStateStaged(cctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := ml.Wait(st); err == nil || st.Groups != nil || st.Memberships != nil {
		t.Fatalf("a load cancelled part-way: %d groups, %d memberships, error %v; want none and an error", len(st.Groups), st.Memberships.Len(), err)
	}
	ml.Close()
}
