package imses

import (
	"context"
	"fmt"
	"strings"
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

// TestPluralDeleteOfOneKeyTwiceRefusesTheSecond: a deletePersons, deleteGroups or
// deleteMemberships naming one object twice deletes it for the first item and answers the
// second unknownobject, as a delete of an object not stored is answered (and as a plural create
// refuses its second item of one key): the second item is decided as if the first were applied.
// The answer does not claim two deletes of one object, and the log counts what was applied.
func TestPluralDeleteOfOneKeyTwiceRefusesTheSecond(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		pair := func(key string) string {
			return `<personIdPair>` + sid(key) + personXMLIn("A", "Dup", "") + `</personIdPair>`
		}
		e.post(soap("createPersons", `<personIdPairSet>`+pair("D1")+pair("D2")+pair("D3")+`</personIdPairSet>`)).want(t, "createPersons", "success", "")
		group := func(key string) string {
			return `<groupIdPair>` + sid(key) + `<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>` +
				key + `</descShort></description></group></groupIdPair>`
		}
		e.post(soap("createGroups", `<groupIdPairSet>`+group("G1")+group("G2")+`</groupIdPairSet>`)).want(t, "createGroups", "success", "")
		m := func(id, grp, person string) string {
			return `<membershipIdPair>` + sid(id) + `<membership><groupSourcedId><identifier>` + grp + `</identifier></groupSourcedId><member><memberSourcedId><identifier>` +
				person + `</identifier></memberSourcedId><role><roleType>Learner</roleType></role></member></membership></membershipIdPair>`
		}
		e.post(soap("createMemberships", `<membershipIdPairSet>`+m("m1", "G1", "D3")+m("m2", "G2", "D3")+`</membershipIdPairSet>`)).want(t, "createMemberships", "success", "")

		ids := func(keys ...string) string {
			var b strings.Builder
			for _, k := range keys {
				b.WriteString(`<identifier>` + k + `</identifier>`)
			}
			return `<sourcedIdSet>` + b.String() + `</sourcedIdSet>`
		}
		check := func(what string, a answer, want ...string) {
			t.Helper()
			var got []string
			for _, s := range a.statuses {
				got = append(got, s.major+"/"+s.minor)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("%s: statuses %v, want %v\n%s", what, got, want, a.raw)
			}
		}
		// The same identifier twice, and one membership under its identifier and under the
		// identifier of its (group, member, role).
		a := e.post(soap("deleteMemberships", ids("m1", "m1", "m2", "G2/D3/01")))
		check("deleteMemberships m1, m1, m2, G2/D3/01", a, "success/fullsuccess", "failure/unknownobject", "success/fullsuccess", "failure/unknownobject")
		if d := a.statuses[1].desc; !strings.Contains(d, "item 1 of this request") {
			t.Errorf("the second m1 is refused with %q, want it to name item 1", d)
		}
		a = e.post(soap("deletePersons", ids("D1", "D2", "D1")))
		check("deletePersons D1, D2, D1", a, "success/fullsuccess", "success/fullsuccess", "failure/unknownobject")
		a = e.post(soap("deleteGroups", ids("G1", "G1")))
		check("deleteGroups G1, G1", a, "success/fullsuccess", "failure/unknownobject")
		if s := e.status(); s.Persons.Active != 1 || s.Persons.Trashed != 2 || s.Groups.Active != 1 || s.Memberships.Synced != 0 {
			t.Fatalf("after the deletes: %+v", s)
		}

		log, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		var outcome []string
		for _, l := range log[len(log)-3:] {
			outcome = append(outcome, fmt.Sprintf("%s %s %v", l.Operation, l.CodeMinor, l.Removed))
		}
		if want := "deleteMemberships partialsuccess [0 0 2]|deletePersons partialsuccess [2 0 0]|deleteGroups partialsuccess [0 1 0]"; strings.Join(outcome, "|") != want {
			t.Errorf("log %q, want %q", strings.Join(outcome, "|"), want)
		}
	})
}
