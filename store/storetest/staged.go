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
		if err == nil {
			err = collect(st)
		}
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
	if err := ml.Wait(st); err == nil || st.Groups != nil || st.Memberships != nil || st.Stored != nil {
		t.Fatalf("a load closed part-way: %d groups, %d memberships, error %v; want none and an error", len(st.Groups), st.Memberships.Len(), err)
	}
	cctx, cancel := context.WithCancel(ctx)
	st, ml, err := sl.LoadStateStaged(cctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := ml.Wait(st); err == nil || st.Groups != nil || st.Memberships != nil || st.Stored != nil {
		t.Fatalf("a load cancelled part-way: %d groups, %d memberships, error %v; want none and an error", len(st.Groups), st.Memberships.Len(), err)
	}
	ml.Close()
}

// collect reads the memberships a staged load gave as a source (st.Stored) into
// st.Memberships, as LoadState gives them, checking that they come in bucket order; and the
// persons it gave as an index (st.StoredPersons) into st.Persons, each once.
func collect(st *change.State) error {
	if x := st.StoredPersons; x != nil {
		persons := map[string]change.PersonState{}
		err := x.EachOnce(func(k string, p change.PersonState) error {
			if _, again := persons[k]; again {
				return fmt.Errorf("person %s given twice", k)
			}
			if p.Seen || p.SeenLine != 0 {
				return fmt.Errorf("person %s given with the diff's scratch marks set: %+v", k, p)
			}
			if got, ok := x.Get(k); !ok || got != (change.PersonState{Hash: p.Hash, Trashed: p.Trashed}) {
				return fmt.Errorf("person %s: the index holds %+v, the source gives %+v", k, got, p)
			}
			persons[k] = p
			return nil
		})
		if err != nil {
			return err
		}
		if len(persons) != x.Len() {
			return fmt.Errorf("the index holds %d persons, the source gave %d", x.Len(), len(persons))
		}
		st.Persons, st.StoredPersons = persons, nil
	}
	if st.Stored == nil {
		return nil
	}
	last := -1
	set := change.NewMembershipSet(0)
	err := st.Stored.Each(func(k record.MembershipKey, m change.MembershipState) error {
		b := change.MemberBucket(k.Group)
		if b < last {
			return fmt.Errorf("membership %s of bucket %d after one of bucket %d", k, b, last)
		}
		last = b
		if m.Seen || m.SeenLine != 0 {
			return fmt.Errorf("membership %s given with the diff's scratch marks set: %+v", k, m)
		}
		set.Set(k, m)
		return nil
	})
	if err != nil {
		return err
	}
	st.Memberships, st.Stored = set, nil
	return nil
}

// bulk is an initial load of 1,500 persons in 40 groups (their memberships in about 40 of the
// index's buckets), with a group as a member of another and a manual membership added after.
func bulk(t *testing.T, s store.Store, tenant string) {
	t.Helper()
	p := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	for i := range 40 {
		p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: group(fmt.Sprintf("g%d", i), fmt.Sprintf("Group %d", i))})
	}
	for i := range 1500 {
		key := fmt.Sprintf("p%d", i)
		p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(key, "Person "+key)})
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: member(fmt.Sprintf("g%d", i%40), key, fmt.Sprintf("0%d", 1+i%3))})
	}
	sub := record.Membership{MembershipKey: mkey("g0", "g1", "04"), MemberType: record.MemberGroup}
	sub.ComputeHash()
	p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: sub})
	apply(t, s, p)
	if err := s.AddManualMembership(context.Background(), tenant, store.ManualMembership{Group: "g3", Member: "p7", Role: "05", MemberType: 1}); err != nil {
		t.Fatal(err)
	}
}

// testStoredMemberships: when the state index is current, a staged load gives the memberships
// as a source read at the diff's end (issue 18: the diff holds no set of them while the file
// is read): every membership LoadState gives, once, in bucket order, from the load's one
// snapshot however late it is read. It ends at the first error of its caller's function or of
// the store, with an error (a caller must never act on a part of them), and after Close it
// gives none. A stale index gives the set from the rows, as before.
func testStoredMemberships(t *testing.T, s store.Store) {
	ctx := context.Background()
	sl := s.(store.StagedLoader)
	tenant := tenantName("stream")
	bulk(t, s, tenant)
	want := load(t, s, tenant)
	staged := func(what string) (*change.State, store.RestLoad) {
		t.Helper()
		st, rest, err := sl.LoadStateStaged(ctx, tenant)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := rest.Wait(st); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st, rest
	}

	st, rest := staged("current index")
	if st.Stored == nil || st.Memberships != nil {
		t.Fatalf("a current index: memberships as a set (%d), not a source", st.Memberships.Len())
	}
	if st.StoredPersons == nil || st.Persons != nil {
		t.Fatalf("a current index: persons as a map (%d), not an index", len(st.Persons))
	}
	persons := st.StoredPersons
	// Read late, after an apply removed memberships: still the load's snapshot.
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1, Memberships: []change.Membership{
		{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("g5", "p5", "03")}},
		{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("g39", "p1499", "01")}},
	}})
	if err := collect(st); err != nil {
		t.Fatal(err)
	}
	if !st.Equal(want) {
		t.Fatalf("the source's memberships differ from LoadState's: got %d, want %d", st.Memberships.Len(), want.Memberships.Len())
	}
	// Read twice: the same again.
	st.Groups, st.Memberships = nil, nil
	rest.Wait(st) //nolint:errcheck // waited above
	if err := collect(st); err != nil || !st.Equal(want) {
		t.Fatalf("read a second time: %v, %d memberships", err, st.Memberships.Len())
	}
	// The persons' names, read for the keys asked for (a report's), from the same snapshot.
	if err := persons.ReadNames(map[string]bool{"p5": true, "p1499": true, "nobody": true}); err != nil {
		t.Fatal(err)
	}
	if persons.Name("p5") != want.Persons["p5"].Name || persons.Name("p1499") != want.Persons["p1499"].Name || persons.Name("p6") != "" {
		t.Fatalf("names read: %q, %q, %q", persons.Name("p5"), persons.Name("p1499"), persons.Name("p6"))
	}
	rest.Close()
	st.Memberships = nil
	rest.Wait(st) //nolint:errcheck // waited above
	if err := collect(st); err == nil {
		t.Fatal("a source read after Close gave its memberships")
	}
	if err := persons.EachOnce(func(string, change.PersonState) error { return nil }); err == nil {
		t.Fatal("a persons source read after Close gave its persons")
	}
	want = load(t, s, tenant)

	// The caller's error ends it, part-way, and is returned.
	st, rest = staged("stopped by its caller")
	stop := errors.New("stop")
	n := 0
	err := st.Stored.Each(func(record.MembershipKey, change.MembershipState) error {
		if n++; n == 700 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 700 {
		t.Fatalf("stopped at the 700th: %v after %d", err, n)
	}
	rest.Close()

	// The run stopped (its context cancelled) part-way: an error.
	cctx, cancel := context.WithCancel(ctx)
	st, rest, err = sl.LoadStateStaged(cctx, tenant)
	if err == nil {
		err = rest.Wait(st)
	}
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	err = st.Stored.Each(func(record.MembershipKey, change.MembershipState) error {
		if n++; n == 100 {
			cancel()
		}
		return nil
	})
	if err == nil {
		t.Fatalf("cancelled after %d memberships, the source gave all %d and no error", 100, n)
	}
	if err := st.StoredPersons.EachOnce(func(string, change.PersonState) error { return nil }); err == nil {
		t.Fatal("a persons source read after its run was cancelled gave no error")
	}
	rest.Close()

	// The apply above kept the index current: a source again.
	st, rest = staged("after an apply")
	if st.Stored == nil {
		t.Fatal("the index is current after an apply, but the load gave no source")
	}
	if err := collect(st); err != nil || !st.Equal(want) {
		t.Fatalf("after an apply: %v; the source differs from LoadState", err)
	}
	rest.Close()
}

// StreamReadsPacks: a staged load's source gives a tenant's memberships from their packs,
// all of them once, in bucket order, read a stretch of groups a statement (of 7, 1 and 512
// groups here, one group of several packs among them), whether the state index is
// current, has a person bucket damaged, or is stale. A scanned load's persons are the same
// each time.
func StreamReadsPacks(t *testing.T, s store.Store, exec func(query string) error) {
	ctx := context.Background()
	tenant := tenantName("streampacks")
	bulk(t, s, tenant)
	big := &change.Plan{Tenant: tenant, BaseVersion: 1, Mode: "event"}
	for i := range 300 {
		big.Memberships = append(big.Memberships, change.Membership{Op: change.Insert, Membership: member("g5", fmt.Sprintf("p%d", i), "06")})
	}
	apply(t, s, big)
	// g5's first pack (keyed '') left empty and deleted, its later packs kept: the group has
	// memberships but no first pack.
	var g5 []record.MembershipKey
	for k := range load(t, s, tenant).Memberships.All() {
		if k.Group == "g5" {
			g5 = append(g5, k)
		}
	}
	slices.SortFunc(g5, record.MembershipKey.Compare)
	gone := &change.Plan{Tenant: tenant, BaseVersion: 2, Mode: "event"}
	for _, k := range g5[:100] {
		gone.Memberships = append(gone.Memberships, change.Membership{Op: change.Delete, Membership: member(k.Group, k.Member, k.Role)})
	}
	apply(t, s, gone)
	want := load(t, s, tenant)
	if n := want.Memberships.Len(); n != 1502+300-100 || len(g5) != 338 {
		t.Fatalf("the tenant has %d memberships, g5 had %d; want %d and 338", n, len(g5), 1502+300-100)
	}
	for _, stretch := range []int{7, 1, 512} {
		restore := sqlstore.SetStreamGroups(stretch)
		for _, damage := range []struct{ what, sql string }{
			{"the index current", ""},
			// Cut short: its header still reads, so the first stage trusts the index.
			{"a person bucket cut short", "UPDATE state_index SET data = substr(data, 1, length(data) - 5) WHERE tenant = '" + tenant + "' AND bucket = (SELECT max(bucket) FROM state_index WHERE tenant = '" + tenant + "' AND bucket < 4096)"},
			{"the index stale", "UPDATE tenants SET index_version = -1 WHERE id = '" + tenant + "'"},
		} {
			what := fmt.Sprintf("stretches of %d groups, %s", stretch, damage.what)
			if damage.sql != "" {
				if err := exec(damage.sql); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			st, rest, err := s.(store.StagedLoader).LoadStateStaged(ctx, tenant)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if err := rest.Wait(st); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if st.Stored == nil {
				t.Fatalf("%s: no source of the memberships", what)
			}
			err = collect(st)
			rest.Close()
			if err != nil || !st.Equal(want) {
				t.Fatalf("%s: %v; the memberships given differ from the rows': got %d, want %d", what, err, st.Memberships.Len(), want.Memberships.Len())
			}
			// A scanned load keeps the persons' names whether it reads them from the index or
			// the rows.
			scanned, err := s.(store.MembershipScanner).LoadStateScanned(ctx, tenant)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			SamePersons(t, what+", scanned", scanned.State, want)
			if damage.sql == "" {
				continue
			}
			if r, err := s.(store.IndexChecker).CheckIndex(ctx, tenant, true); err != nil || !r.Repaired {
				t.Fatalf("%s: repair: %+v, %v", what, r, err)
			}
		}
		restore()
	}
}
