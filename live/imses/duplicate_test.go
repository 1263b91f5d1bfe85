package imses

import (
	"context"
	"testing"

	"github.com/imsfeed/imsfeed/store"
)

// TestPluralCreateOfOneKeyTwiceRefusesTheSecond: a createPersons, createGroups or
// createMemberships naming one key twice creates it from the first item and refuses the second
// with idallocinusefail, as a create of a stored key is refused; the second is not applied over
// the first, and the log counts what was applied.
func TestPluralCreateOfOneKeyTwiceRefusesTheSecond(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		pair := func(key, first string) string {
			return `<personIdPair>` + sid(key) + personXMLIn(first, "Dup", "") + `</personIdPair>`
		}
		a := e.post(soap("createPersons", `<personIdPairSet>`+pair("DK1", "A")+pair("DK1", "B")+pair("DK2", "C")+`</personIdPairSet>`))
		if len(a.statuses) != 3 || a.statuses[0].major != "success" || a.statuses[1].minor != "idallocinusefail" || a.statuses[2].major != "success" {
			t.Fatalf("createPersons DK1, DK1, DK2: %+v", a.statuses)
		}
		p := e.readPerson("DK1").root.Path("Body", "readPersonResponse", "person")
		if got := p.Child("formatName").Str(); got != "A Dup" {
			t.Fatalf("DK1 is %q, want the first item's A Dup", got)
		}

		group := func(key, name string) string {
			return `<groupIdPair>` + sid(key) + `<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>` +
				name + `</descShort></description></group></groupIdPair>`
		}
		a = e.post(soap("createGroups", `<groupIdPairSet>`+group("G1", "first")+group("G1", "second")+`</groupIdPairSet>`))
		if len(a.statuses) != 2 || a.statuses[0].major != "success" || a.statuses[1].minor != "idallocinusefail" {
			t.Fatalf("createGroups G1, G1: %+v", a.statuses)
		}
		g := e.post(soap("readGroup", sid("G1"))).root.Path("Body", "readGroupResponse", "group")
		if got := g.Path("description", "descShort").Str(); got != "first" {
			t.Fatalf("G1 is %q, want the first item's", got)
		}

		m := func(id, grp, person, role string) string {
			return `<membershipIdPair>` + sid(id) + `<membership><groupSourcedId><identifier>` + grp + `</identifier></groupSourcedId><member><memberSourcedId><identifier>` +
				person + `</identifier></memberSourcedId><role><roleType>` + role + `</roleType></role></member></membership></membershipIdPair>`
		}
		// The same identifier twice (for two persons), and one (group, member, role) under two identifiers.
		a = e.post(soap("createMemberships", `<membershipIdPairSet>`+m("m1", "G1", "DK1", "Learner")+m("m1", "G1", "DK2", "Learner")+
			m("m2", "G1", "DK2", "Instructor")+m("m3", "G1", "DK2", "Instructor")+`</membershipIdPairSet>`))
		if len(a.statuses) != 4 || a.statuses[0].major != "success" || a.statuses[1].minor != "idallocinusefail" ||
			a.statuses[2].major != "success" || a.statuses[3].minor != "idallocinusefail" {
			t.Fatalf("createMemberships m1, m1, m2, m3 (as m2): %+v", a.statuses)
		}
		if s := e.status(); s.Persons.Active != 2 || s.Groups.Active != 1 || s.Memberships.Synced != 2 {
			t.Fatalf("after the creates: %+v", s)
		}
		a = e.post(soap("readMembership", sid("m1")))
		if got := a.root.Path("Body", "readMembershipResponse", "membership", "member", "memberSourcedId", "identifier").Str(); got != "DK1" {
			t.Fatalf("m1 is the membership of %q, want the first item's DK1\n%s", got, a.raw)
		}

		log, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		var ins [3]int
		for _, l := range log {
			for i, n := range l.Inserted {
				ins[i] += n
			}
			if l.Operation == "createPersons" && l.CodeMinor != "partialsuccess" {
				t.Errorf("createPersons logged as %s/%s %q", l.CodeMajor, l.CodeMinor, l.Description)
			}
		}
		if ins != [3]int{2, 1, 2} {
			t.Errorf("log counts inserted %v, want [2 1 2]", ins)
		}
	})
}
