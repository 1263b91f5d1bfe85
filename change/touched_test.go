package change

import (
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// Approval applies a held plan on top of live requests only when they are independent of it:
// each case is a live request since the hold and a plan, and whether (and why) approval must
// refuse.
func TestTouchedConflict(t *testing.T) {
	person := func(op Op, key string) Person { return Person{Op: op, Person: record.Person{Key: key}} }
	group := func(op Op, key string, parents ...string) Group {
		return Group{Op: op, Group: record.Group{Key: key, Parents: parents}}
	}
	membership := func(op Op, g, m string) Membership {
		return Membership{Op: op, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: g, Member: m, Role: "01"}}}
	}
	relation := func(op Op, p, r string) Relation {
		return Relation{Op: op, Relation: record.Relation{RelationKey: record.RelationKey{Person: p, Related: r, Type: "parent"}}}
	}
	for _, c := range []struct {
		name       string
		live, plan Plan
		rename     [2]string // a live changePersonIdentifier, old → new, with its membership in g1
		want       string    // "" when approval may apply the plan; else a part of its reason
	}{
		{name: "other persons",
			live: Plan{Persons: []Person{person(Insert, "new")}},
			plan: Plan{Persons: []Person{person(Update, "p1"), person(Delete, "p2")}}},
		{name: "a new pupil in a class the plan changes other memberships of",
			live: Plan{Persons: []Person{person(Insert, "new")}, Memberships: []Membership{membership(Insert, "g1", "new")}},
			plan: Plan{Memberships: []Membership{membership(Delete, "g1", "p2"), membership(Insert, "g1", "p3")}}},
		{name: "a person's name changed live, a membership of theirs by the plan",
			live: Plan{Persons: []Person{person(Update, "p1")}},
			plan: Plan{Memberships: []Membership{membership(Insert, "g1", "p1")}}},
		{name: "the same person",
			live: Plan{Persons: []Person{person(Update, "p1")}},
			plan: Plan{Persons: []Person{person(Update, "p1")}},
			want: `person "p1", which this plan updates, was changed by live request 7`},
		{name: "the plan trashes a person the SIS gave a membership",
			live: Plan{Memberships: []Membership{membership(Insert, "g1", "p2")}},
			plan: Plan{Persons: []Person{person(Delete, "p2")}},
			want: `person "p2", which this plan deletes, is named by what live request 7 changed`},
		{name: "the plan gives a membership to a person the SIS trashed",
			live: Plan{Persons: []Person{person(Delete, "p2")}},
			plan: Plan{Memberships: []Membership{membership(Insert, "g1", "p2")}},
			want: `this plan's insert of membership g1/p2/01 names "p2", which live request 7 removed`},
		{name: "the same membership",
			live: Plan{Memberships: []Membership{membership(Delete, "g1", "p2")}},
			plan: Plan{Memberships: []Membership{membership(Delete, "g1", "p2")}},
			want: "membership g1/p2/01, which this plan deletes, was changed by live request 7"},
		{name: "the plan archives a course the SIS added a member to",
			live: Plan{Memberships: []Membership{membership(Insert, "math", "new")}},
			plan: Plan{Groups: []Group{group(Archive, "math")}},
			want: `group "math", which this plan archives, is named by what live request 7 changed`},
		{name: "the plan puts a group under one the SIS deleted",
			live: Plan{Groups: []Group{group(Delete, "school")}},
			plan: Plan{Groups: []Group{group(Insert, "class", "school")}},
			want: `this plan's insert of group "class" names "school", which live request 7 removed`},
		{name: "a relation of a person the SIS trashed",
			live: Plan{Persons: []Person{person(Delete, "child")}},
			plan: Plan{Relations: []Relation{relation(Insert, "child", "mother")}},
			want: `this plan's insert of relation child→mother names "child", which live request 7 removed`},
		{name: "a group deleted live with its memberships, which the plan archives and whose member it trashes",
			live: Plan{Groups: []Group{group(Delete, "g1")}, Memberships: []Membership{membership(Delete, "g1", "p2")}},
			plan: Plan{Persons: []Person{person(Delete, "p2")}, Groups: []Group{group(Archive, "g1")}},
			want: `group "g1", which this plan archives, was changed by live request 7`},
		{name: "a person the SIS renamed away",
			rename: [2]string{"p1", "p1-new"},
			plan:   Plan{Memberships: []Membership{membership(Update, "g2", "p1")}},
			want:   `names "p1", which live request 7 removed`},
		{name: "the membership a rename moved",
			rename: [2]string{"p1", "p1-new"},
			plan:   Plan{Memberships: []Membership{membership(Delete, "g1", "p1-new")}},
			want:   "membership g1/p1-new/01, which this plan deletes, was changed by live request 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := TouchOf(&c.live)
			if c.rename[0] != "" {
				x.Rename(c.rename[0], c.rename[1], []record.MembershipKey{{Group: "g1", Member: c.rename[0], Role: "01"}})
			}
			var touched Touched
			if got, _ := touched.Collides(&c.plan); got != "" {
				t.Fatalf("no live request, and a conflict: %s", got)
			}
			touched.Add(7, x)
			got, _ := touched.Collides(&c.plan)
			if (got == "") != (c.want == "") || !strings.Contains(got, c.want) {
				t.Fatalf("conflict %q, want %q", got, c.want)
			}
		})
	}
}
