package imses

import (
	"testing"

	"github.com/imsfeed/imsfeed/store"
)

// TestChangePersonIdentifierKeepsMembershipsOnBothStores: changePersonIdentifier gives a person
// a new key with its memberships (and the client's membership identifiers) in one state
// version; a new key in use, by an active or a trashed person, is refused and changes nothing;
// an unknown person is unknownobject.
func TestChangePersonIdentifierKeepsMembershipsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		class := `<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>7a</descShort></description></group>`
		e.post(soap("createGroup", sid("K1")+class)).want(t, "create class", "success", "")
		e.post(soap("createPerson", sid("P1")+personXMLIn("Ada", "Lovelace", "ada@example.org"))).want(t, "create P1", "success", "")
		e.post(soap("createPerson", sid("P2")+personXMLIn("Grace", "Hopper", ""))).want(t, "create P2", "success", "")
		e.post(soap("createPerson", sid("P3")+personXMLIn("Alan", "Turing", ""))).want(t, "create P3", "success", "")
		e.post(soap("deletePerson", sid("P3"))).want(t, "trash P3", "success", "")
		e.post(soap("createMembership", sid("m1")+`<membership><groupSourcedId><identifier>K1</identifier></groupSourcedId><member><memberSourcedId><identifier>P1</identifier></memberSourcedId>`+
			`<role><roleType>Learner</roleType></role></member></membership>`)).want(t, "membership", "success", "")
		change := func(from, to string) answer {
			return e.post(soap("changePersonIdentifier", sid(from)+`<newSourcedId><identifier>`+to+`</identifier></newSourcedId>`))
		}
		before := e.status()
		change("P1", "P2").want(t, "to an active person's key", "failure", "idallocinusefail")
		change("P1", "P3").want(t, "to a trashed person's key", "failure", "idallocinusefail")
		change("NOBODY", "P9").want(t, "of an unknown person", "failure", "unknownobject")
		change("P3", "P9").want(t, "of a trashed person", "failure", "unknownobject")
		if s := e.status(); s.StateVersion != before.StateVersion {
			t.Fatalf("a refused change changed the state: %+v → %+v", before, s)
		}

		change("P1", "P1-new").want(t, "change", "success", "")
		if s := e.status(); s.StateVersion != before.StateVersion+1 || s.Persons.Active != 2 || s.Memberships.Synced != 1 {
			t.Fatalf("after the change: %+v (before %+v)", s, before)
		}
		e.readPerson("P1").want(t, "read of the old key", "failure", "unknownobject")
		p := e.readPerson("P1-new").root.Path("Body", "readPersonResponse", "person")
		if p.Child("formatName").Str() != "Ada Lovelace" || p.Child("email").Str() != "ada@example.org" {
			t.Fatalf("the person under the new key: %+v", p)
		}
		m := e.post(soap("readMembership", sid("m1"))).root.Path("Body", "readMembershipResponse", "membership")
		if identifier(m.Path("member", "memberSourcedId")) != "P1-new" {
			t.Fatalf("membership m1 after the change: %+v", m)
		}
		ms := e.post(soap("readMembershipsForPerson", `<personSourcedId><identifier>P1-new</identifier></personSourcedId>`))
		if n := len(ms.root.Path("Body", "readMembershipsForPersonResponse", "membershipIDPairSet").Children("membershipIdPair")); n != 1 {
			t.Fatalf("readMembershipsForPerson of the new key: %s", ms.raw)
		}
		// The old key is free again.
		e.post(soap("createPerson", sid("P1")+personXMLIn("Another", "One", ""))).want(t, "create of the old key", "success", "")
	})
}
