package storetest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// testRemovalsOfGroupsInAnyOrder: membership removals and memberships turned manual in many
// groups, listed in no order, with group keys whose byte order is not a linguistic one ("B-1"
// sorts before "a-1" byte by byte, after it in en-US; "Ä-1" after "z-1" byte by byte), remove
// and turn manual exactly those memberships, given whole or in pieces of any size, and leave
// the others as they were. (PostgreSQL bounds the removals of a plan or piece of more than 200
// changes by the range of their groups' keys so that it reads only those groups: a range taken
// from the list's ends, or compared in the database's own collation, would leave some in
// place.) Each group has 40 members: 20 removed, 10 turned manual, 10 left alone. The same
// for persons put in the trash can (bounded by the range of their keys): of 48 more persons,
// with keys of the same kind, the 36 trashed are listed in no order.
func testRemovalsOfGroupsInAnyOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	groups := []string{"z-1", "B-1", "Ä-1", "a-1", "B-2", "b-1", "ä-2", "A-1"}
	members := make([]string, 40)
	for i := range members {
		members[i] = fmt.Sprintf("p%02d", i)
	}
	var others, trashed []string
	for i := range 48 {
		key := fmt.Sprintf("%s-%02d", groups[i%len(groups)][:len(groups[i%len(groups)])-2], i)
		others = append(others, key)
		if i%4 != 0 {
			trashed = append(trashed, key)
		}
	}
	slices.Reverse(trashed[len(trashed)/2:]) // no order: ascending numbers, then descending
	setUp := func(tenant string) {
		p := &change.Plan{Tenant: tenant, Mode: "snapshot"}
		for _, m := range append(slices.Clone(members), others...) {
			p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(m, "Person "+m)})
		}
		for _, g := range groups {
			p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: group(g, "Group "+g)})
			for _, m := range members {
				p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: member(g, m, "01")})
			}
		}
		apply(t, s, p)
	}
	night := func(tenant string) *change.Plan {
		p := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 1}
		for _, k := range trashed {
			p.Persons = append(p.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: k, Name: "Person " + k}})
		}
		for _, g := range groups {
			for _, m := range members[:30] {
				op := change.Delete
				if m >= "p20" {
					op = change.Manualize
				}
				p.Memberships = append(p.Memberships, change.Membership{Op: op, Membership: record.Membership{MembershipKey: mkey(g, m, "01")}})
			}
		}
		return p
	}
	field := regexp.MustCompile(`(group_key|member_key|origin)=([^ |]+)`)
	for _, size := range []int{0, 1, 7, 201, 239} { // 0: whole
		tenant := tenantName("anyorder")
		setUp(tenant)
		run := newRun(t, s, tenant, runs.Running)
		run.Status = runs.Completed
		params := store.ApplyParams{Plan: night(tenant), Run: run, Now: now}
		if size > 0 {
			params.Plan, params.Pieces = inPieces(night(tenant), size)
		}
		if err := s.Apply(ctx, params); err != nil {
			t.Fatalf("pieces of %d: %v", size, err)
		}
		var got []string
		for _, line := range Dump(t, s, tenant)["memberships"] {
			f := map[string]string{}
			for _, m := range field.FindAllStringSubmatch(line, -1) {
				f[m[1]] = m[2]
			}
			got = append(got, f["group_key"]+" "+f["member_key"]+" "+f["origin"])
		}
		var want []string
		for _, g := range groups {
			for _, m := range members[20:] {
				origin := "synced"
				if m < "p30" {
					origin = "manual"
				}
				want = append(want, g+" "+m+" "+origin)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("pieces of %d (0: whole): memberships left\n got %q\nwant %q", size, got, want)
		}
		status := regexp.MustCompile(`key=([^ |]+) .*status=([a-z]+)`)
		got = nil
		for _, line := range Dump(t, s, tenant)["persons"] {
			if m := status.FindStringSubmatch(line); m != nil && m[2] == "trashed" {
				got = append(got, m[1])
			}
		}
		want = slices.Clone(trashed)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("pieces of %d (0: whole): persons trashed\n got %q\nwant %q", size, got, want)
		}
		checkIndex(t, s, tenant)
	}
}
