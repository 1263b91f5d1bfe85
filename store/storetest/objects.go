package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// testObjects: the console's reads of single objects. The search finds by part of a key or a
// name in any case (non-ASCII letters too, and a wildcard character is only itself), trashed
// and archived objects included, a page at a time in key order; one person comes with its
// memberships and trash time, one group with its template, archive time and member count; a
// group's members come a page at a time with their names. Another tenant's objects are not
// found.
func testObjects(t *testing.T, s store.Store) {
	ctx := context.Background()
	o, ok := s.(store.Objects)
	if !ok {
		t.Fatalf("%T does not implement store.Objects", s)
	}
	tenant := tenantName("objects")
	p := initial(tenant)
	p.Groups[1].Group.Template = "tmpl-standard"
	siri := person("p4", "Siri Ødegård")
	siri.Attrs = append(siri.Attrs, record.Attr{Name: record.PreferredFirst, Value: "Sissi"})
	siri.Attrs.Sort()
	siri.ComputeHash()
	p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: siri},
		change.Person{Op: change.Insert, Person: person("p5", "Percent 100% *star*")})
	for i := range 120 {
		k := fmt.Sprintf("x%04d", i)
		p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(k, "Pupil "+k)})
	}
	apply(t, s, p)
	trash := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: 1,
		Persons:     []change.Person{{Op: change.Delete, Person: record.Person{Key: "p2", Name: "Alan Turing"}}},
		Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("math1", "p2", "01")}, Cascade: true}},
	})
	if err := s.AddManualMembership(ctx, tenant, store.ManualMembership{Group: "math1", Member: "p9", Role: "01", MemberType: 1}); err != nil {
		t.Fatal(err)
	}

	keys := func(os []store.Object) []string {
		out := []string{}
		for _, x := range os {
			out = append(out, x.Key)
		}
		return out
	}
	search := func(typ record.Type, q, after string, limit int) []store.Object {
		t.Helper()
		got, err := o.SearchObjects(ctx, store.SearchParams{Tenant: tenant, Type: typ, Query: q, After: after, Limit: limit})
		if err != nil {
			t.Fatalf("search %s %q: %v", typ, q, err)
		}
		return got
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"LOVE", []string{"p1"}},
		{"ødeg", []string{"p4"}},
		{"ØDEGÅRD", []string{"p4"}},
		{"P1", []string{"p1"}},
		{"turing", []string{"p2"}}, // in the trash can, still found
		{"0%", []string{"p5"}},
		{"*star*", []string{"p5"}},
		{"a*", []string{}},
		{"x011", []string{"x0110", "x0111", "x0112", "x0113", "x0114", "x0115", "x0116", "x0117", "x0118", "x0119"}},
	} {
		if got := keys(search(record.Persons, tc.q, "", 0)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("persons matching %q: %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := search(record.Persons, "turing", "", 0); len(got) != 1 || got[0] != (store.Object{Key: "p2", Name: "Alan Turing", Status: "trashed"}) {
		t.Errorf("the trashed person found: %+v", got)
	}
	// Pages: 120 pupils, 50 at a time, each page after the last key of the one before.
	var all []string
	after := ""
	for range 4 {
		page := keys(search(record.Persons, "pupil", after, 50))
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1]
	}
	if len(all) != 120 || all[0] != "x0000" || all[119] != "x0119" {
		t.Errorf("paged search: %d hits (%v … ), want x0000 to x0119", len(all), all[:min(len(all), 3)])
	}
	if got := search(record.Groups, "math", "", 0); len(got) != 1 || got[0] != (store.Object{Key: "math1", Name: "Math 1", Status: "active", Course: true}) {
		t.Errorf("groups matching math: %+v", got)
	}
	if got := keys(search(record.Groups, "", "", 0)); !reflect.DeepEqual(got, []string{"math1", "school"}) {
		t.Errorf("every group: %v", got)
	}
	if got, err := o.SearchObjects(ctx, store.SearchParams{Tenant: tenant + "-other", Type: record.Persons, Query: "p"}); err != nil || len(got) != 0 {
		t.Errorf("another tenant's search: %v, %v", got, err)
	}

	// One person.
	pd, err := o.StoredPerson(ctx, tenant, "p4")
	if err != nil {
		t.Fatal(err)
	}
	if pd.Name != "Siri Ødegård" || pd.Attrs.Get(record.PreferredFirst) != "Sissi" || pd.Trashed || !pd.TrashedAt.IsZero() {
		t.Errorf("person p4: %+v", pd)
	}
	pd, err = o.StoredPerson(ctx, tenant, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.MembershipDetail{{MembershipKey: mkey("math1", "p1", "01"), MemberType: record.MemberPerson, Name: "Math 1"}}; !reflect.DeepEqual(pd.Memberships, want) {
		t.Errorf("memberships of p1: %+v, want %+v", pd.Memberships, want)
	}
	pd, err = o.StoredPerson(ctx, tenant, "p2")
	if err != nil {
		t.Fatal(err)
	}
	if !pd.Trashed || !pd.TrashedAt.Equal(now) || pd.TrashedRun != trash.ID || len(pd.Memberships) != 0 {
		t.Errorf("trashed person p2: trashed %v at %v by run %d (want %d), memberships %v", pd.Trashed, pd.TrashedAt, pd.TrashedRun, trash.ID, pd.Memberships)
	}
	if pd, err := o.StoredPerson(ctx, tenant, "p9"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a person only a manual membership names: %+v, %v; want ErrNotFound", pd, err)
	}
	if _, err := o.StoredPerson(ctx, tenant+"-other", "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's person: %v, want ErrNotFound", err)
	}

	// One group, and its members a page at a time.
	gd, err := o.StoredGroup(ctx, tenant, "math1")
	if err != nil {
		t.Fatal(err)
	}
	if gd.Name != "Math 1" || gd.Template != "tmpl-standard" || !gd.Course || gd.Archived || gd.Members != 3 || !reflect.DeepEqual(gd.Parents, []string{"school"}) {
		t.Errorf("group math1: %+v, want the course under school with template tmpl-standard and 3 members", gd)
	}
	members := func(group string, after record.MembershipKey, limit int) []store.MembershipDetail {
		t.Helper()
		got, err := o.GroupMembers(ctx, store.MembersParams{Tenant: tenant, Group: group, After: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := members("math1", record.MembershipKey{}, 2)
	want := []store.MembershipDetail{
		{MembershipKey: mkey("math1", "p1", "01"), MemberType: record.MemberPerson, Name: "Ada Lovelace"},
		{MembershipKey: mkey("math1", "p3", "02"), MemberType: record.MemberPerson, Name: "Grace Hopper"},
	}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first page of math1's members: %+v, want %+v", first, want)
	}
	want = []store.MembershipDetail{{MembershipKey: mkey("math1", "p9", "01"), MemberType: record.MemberPerson, Manual: true}}
	if next := members("math1", first[1].MembershipKey, 2); !reflect.DeepEqual(next, want) {
		t.Errorf("second page of math1's members: %+v, want %+v", next, want)
	}
	want = []store.MembershipDetail{{MembershipKey: mkey("school", "math1", "04"), MemberType: record.MemberGroup, Name: "Math 1"}}
	if got := members("school", record.MembershipKey{}, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("members of school: %+v, want %+v", got, want)
	}

	arch := apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: load(t, s, tenant).Version,
		Groups: []change.Group{{Op: change.Archive, Course: true, Group: record.Group{Key: "math1", Name: "Math 1", Parents: []string{"archive-node"}}}}})
	gd, err = o.StoredGroup(ctx, tenant, "math1")
	if err != nil {
		t.Fatal(err)
	}
	if !gd.Archived || !gd.ArchivedAt.Equal(now) || gd.ArchivedRun != arch.ID || gd.Template != "tmpl-standard" || !reflect.DeepEqual(gd.Parents, []string{"archive-node"}) {
		t.Errorf("archived math1: %+v", gd)
	}
	if got := search(record.Groups, "MATH", "", 0); len(got) != 1 || got[0].Status != "archived" {
		t.Errorf("the archived course found: %+v", got)
	}
	if _, err := o.StoredGroup(ctx, tenant, "nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown group: %v, want ErrNotFound", err)
	}
}
