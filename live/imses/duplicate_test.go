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

// TestPluralUpdateOfOneKeyTwiceAppliesBoth: an updatePersons, updateGroups or
// updateMemberships naming one object twice applies the second item on top of the first, as
// if the two were sent one after another: the fields of both are stored, and both are answered
// success. (The second was decided on the stored object, and the first item's fields were lost
// although it was answered success.) An object the first item creates (an update creates what
// is missing) is updated by the second the same way.
func TestPluralUpdateOfOneKeyTwiceAppliesBoth(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(soap("createPerson", sid("U1")+personXMLIn("Ada", "Lovelace", "old@example.org"))).want(t, "createPerson", "success", "")
		email := func(key, v string) string {
			return `<personIdPair>` + sid(key) + `<person><email>` + v + `</email></person></personIdPair>`
		}
		tel := func(key, v string) string {
			return `<personIdPair>` + sid(key) + `<person><tel><telType>Voice</telType><telValue>` + v + `</telValue></tel></person></personIdPair>`
		}
		// U1 is stored; U2 is not, and its first item creates it.
		created := `<personIdPair>` + sid("U2") + personXMLIn("Grace", "Hopper", "grace@example.org") + `</personIdPair>`
		a := e.post(soap("updatePersons", `<personIdPairSet>`+email("U1", "new@example.org")+tel("U1", "555-0101")+created+tel("U2", "555-0202")+`</personIdPairSet>`))
		statuses(t, "updatePersons U1, U1, U2, U2", a, "success/fullsuccess", "success/fullsuccess", "success/fullsuccess", "success/fullsuccess")
		log, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if l := log[len(log)-1]; l.Operation != "updatePersons" || l.Inserted != [3]int{1, 0, 0} || l.Updated != [3]int{1, 0, 0} {
			t.Errorf("log: %s inserted %v updated %v, want updatePersons inserted [1 0 0] updated [1 0 0] (each person once)", l.Operation, l.Inserted, l.Updated)
		}
		for _, c := range []struct{ key, name, email, tel string }{
			{"U1", "Ada Lovelace", "new@example.org", "555-0101"},
			{"U2", "Grace Hopper", "grace@example.org", "555-0202"},
		} {
			p := e.readPerson(c.key).root.Path("Body", "readPersonResponse", "person")
			if got := [3]string{p.Child("formatName").Str(), p.Child("email").Str(), p.Path("tel", "telValue").Str()}; got != [3]string{c.name, c.email, c.tel} {
				t.Errorf("%s after its two updates: name, email, tel %q, want %q", c.key, got, [3]string{c.name, c.email, c.tel})
			}
		}

		group := func(key, inner string) string {
			return `<groupIdPair>` + sid(key) + `<group>` + inner + `</group></groupIdPair>`
		}
		e.post(soap("createGroup", sid("UG")+`<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>old</descShort></description></group>`)).
			want(t, "createGroup", "success", "")
		a = e.post(soap("updateGroups", `<groupIdPairSet>`+group("UG", `<description><descShort>renamed</descShort></description>`)+
			group("UG", `<timeframe><begin>2026-08-01</begin><end>2027-07-31</end></timeframe>`)+`</groupIdPairSet>`))
		statuses(t, "updateGroups UG, UG", a, "success/fullsuccess", "success/fullsuccess")
		g := e.post(soap("readGroup", sid("UG"))).root.Path("Body", "readGroupResponse", "group")
		if got := [3]string{g.Path("description", "descShort").Str(), g.Path("timeframe", "begin").Str(), g.Path("groupType", "typeValue", "type").Str()}; got != [3]string{"renamed", "2026-08-01", "Class"} {
			t.Errorf("UG after its two updates: name, timeframe, type %q, want [renamed 2026-08-01 Class]", got)
		}

		role := func(inner string) string {
			return `<membershipIdPair>` + sid("um1") + `<membership><groupSourcedId><identifier>UG</identifier></groupSourcedId><member><memberSourcedId><identifier>U1</identifier></memberSourcedId>` +
				`<role><roleType>Learner</roleType>` + inner + `</role></member></membership></membershipIdPair>`
		}
		e.post(soap("createMemberships", `<membershipIdPairSet>`+role("")+`</membershipIdPairSet>`)).want(t, "createMemberships", "success", "")
		a = e.post(soap("updateMemberships", `<membershipIdPairSet>`+role(`<subRole>Lab</subRole>`)+role(`<timeFrame><begin>2026-09-01</begin></timeFrame>`)+`</membershipIdPairSet>`))
		statuses(t, "updateMemberships um1, um1", a, "success/fullsuccess", "success/fullsuccess")
		r := e.post(soap("readMembership", sid("um1"))).root.Path("Body", "readMembershipResponse", "membership", "member", "role")
		if got := [2]string{r.Child("subRole").Str(), r.Path("timeFrame", "begin").Str()}; got != [2]string{"Lab", "2026-09-01"} {
			t.Errorf("um1 after its two updates: subRole, timeFrame %q, want [Lab 2026-09-01]", got)
		}
		// A membership the diff refuses (its member group is unknown) fails for every item of it,
		// not only the last.
		sub := func(inner string) string {
			return `<membershipIdPair>` + sid("gm1") + `<membership><groupSourcedId><identifier>UG</identifier></groupSourcedId><member><memberSourcedId><identifier>NOSUCH</identifier></memberSourcedId>` +
				`<idType>Group</idType><role><roleType>Member</roleType>` + inner + `</role></member></membership></membershipIdPair>`
		}
		a = e.post(soap("updateMemberships", `<membershipIdPairSet>`+sub(`<subRole>A</subRole>`)+sub(`<subRole>B</subRole>`)+`</membershipIdPairSet>`))
		statuses(t, "updateMemberships gm1, gm1 of an unknown member group", a, "failure/unknownobject", "failure/unknownobject")
		if s := e.status(); s.Persons.Active != 2 || s.Groups.Active != 1 || s.Memberships.Synced != 1 {
			t.Fatalf("after the updates: %+v", s)
		}
	})
}

// TestPluralReplaceOfOneKeyTwiceKeepsTheSecond: a replacePersons or replaceMemberships naming
// one object twice stores what the second item says, whole: nothing of the first stays (a
// membership the first moved to another person is not left behind beside the second's).
func TestPluralReplaceOfOneKeyTwiceKeepsTheSecond(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		pair := func(key, first, email string) string {
			return `<personIdPair>` + sid(key) + personXMLIn(first, "Dup", email) + `</personIdPair>`
		}
		e.post(soap("createPersons", `<personIdPairSet>`+pair("R1", "Stored", "stored@example.org")+pair("R2", "B", "")+pair("R3", "C", "")+
			pair("R4", "D", "")+`</personIdPairSet>`)).want(t, "createPersons", "success", "")
		a := e.post(soap("replacePersons", `<personIdPairSet>`+pair("R1", "First", "first@example.org")+pair("R1", "Second", "")+`</personIdPairSet>`))
		statuses(t, "replacePersons R1, R1", a, "success/fullsuccess", "success/fullsuccess")
		p := e.readPerson("R1").root.Path("Body", "readPersonResponse", "person")
		if got := [2]string{p.Child("formatName").Str(), p.Child("email").Str()}; got != [2]string{"Second Dup", ""} {
			t.Errorf("R1 after its two replaces: name, email %q, want the second's [Second Dup ]", got)
		}

		e.post(soap("createGroup", sid("RG")+`<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>RG</descShort></description></group>`)).
			want(t, "createGroup", "success", "")
		m := func(person string) string {
			return `<membershipIdPair>` + sid("rm1") + `<membership><groupSourcedId><identifier>RG</identifier></groupSourcedId><member><memberSourcedId><identifier>` +
				person + `</identifier></memberSourcedId><role><roleType>Learner</roleType></role></member></membership></membershipIdPair>`
		}
		e.post(soap("createMemberships", `<membershipIdPairSet>`+m("R2")+`</membershipIdPairSet>`)).want(t, "createMemberships", "success", "")
		a = e.post(soap("replaceMemberships", `<membershipIdPairSet>`+m("R3")+m("R4")+`</membershipIdPairSet>`))
		statuses(t, "replaceMemberships rm1 (R3), rm1 (R4)", a, "success/fullsuccess", "success/fullsuccess")
		var members []string
		for _, ms := range e.post(soap("readMembershipsForGroup", `<groupSourcedId><identifier>RG</identifier></groupSourcedId>`)).root.Path("Body", "readMembershipsForGroupResponse", "membershipIDPairSet").Children("membershipIdPair") {
			members = append(members, ms.Path("sourcedId", "identifier").Str()+":"+ms.Path("membership", "member", "memberSourcedId", "identifier").Str())
		}
		if strings.Join(members, " ") != "rm1:R4" {
			t.Errorf("RG's memberships after rm1's two replaces: %q, want only the second's rm1:R4", members)
		}
		if s := e.status(); s.Memberships.Synced != 1 {
			t.Fatalf("after the replaces: %d memberships, want 1", s.Memberships.Synced)
		}
		// rm1 no longer names R3's membership: one created for R3 later is not rm1's, and a
		// delete of rm1 leaves it.
		e.post(soap("createMembership", `<sourcedId><identifier>rm9</identifier></sourcedId><membership><groupSourcedId><identifier>RG</identifier></groupSourcedId><member><memberSourcedId><identifier>R3</identifier></memberSourcedId><role><roleType>Learner</roleType></role></member></membership>`)).
			want(t, "createMembership rm9", "success", "")
		e.post(soap("deleteMembership", sid("rm1"))).want(t, "deleteMembership rm1", "success", "")
		if a := e.post(soap("readMembership", sid("rm9"))); a.root.Path("Body", "readMembershipResponse", "membership", "member", "memberSourcedId", "identifier").Str() != "R3" {
			t.Errorf("rm9 (R3) after the delete of rm1: %+v\n%s", a.statuses, a.raw)
		}
	})
}

// statuses checks an answer's item statuses, major/minor in order.
func statuses(t *testing.T, what string, a answer, want ...string) {
	t.Helper()
	var got []string
	for _, s := range a.statuses {
		got = append(got, s.major+"/"+s.minor)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%s: statuses %v, want %v\n%s", what, got, want, a.raw)
	}
}
