package imses

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/store"
)

// TestLiveWritesKeepTheStateIndexEqualToTheRowsOnBothStores: after every kind of live write
// (a plural create touching many index buckets, replace, update, delete, a create that
// restores from the trash can, groups, memberships, a course archived with its memberships
// kept as manual, changePersonIdentifier), `imsfeed check --tenant T` finds the index current
// and equal to the rows, so the next night reads the index, not every row.
func TestLiveWritesKeepTheStateIndexEqualToTheRowsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		check := func(after string) {
			t.Helper()
			r, err := e.st.(store.IndexChecker).CheckIndex(context.Background(), e.tenant.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() {
				t.Fatalf("after %s: the state index is not the rows: %+v", after, r)
			}
		}
		persons := func(prefix string, n int) string {
			var b strings.Builder
			b.WriteString(`<personIdPairSet>`)
			for i := range n {
				k := fmt.Sprintf("%s%03d", prefix, i)
				b.WriteString(`<personIdPair>` + sid(k) + personXMLIn("N"+k, "Bench", "") + `</personIdPair>`)
			}
			return b.String() + `</personIdPairSet>`
		}
		for _, prefix := range []string{"A", "B", "C"} {
			e.post(soap("createPersons", persons(prefix, 100))).want(t, "createPersons "+prefix, "success", "")
		}
		check("three createPersons of 100")
		e.post(soap("replacePerson", sid("A001")+personXMLIn("Ada", "Lovelace", "ada@example.org"))).want(t, "replace", "success", "")
		e.post(soap("updatePerson", sid("B002")+personXMLIn("Grace", "Hopper", ""))).want(t, "update", "success", "")
		e.post(soap("deletePerson", sid("C003"))).want(t, "delete", "success", "")
		e.post(soap("deletePerson", sid("A004"))).want(t, "delete", "success", "")
		check("replace, update, delete")
		e.post(soap("createPersons", persons("A", 10))).want(t, "createPersons over existing keys", "failure", "")
		e.post(soap("createPerson", sid("C003")+personXMLIn("Alan", "Turing", ""))).want(t, "create of a trashed person", "success", "")
		check("a create that restores from the trash can")

		course := `<group><groupType><scheme>x</scheme><typeValue><type>Course</type></typeValue></groupType><description><descShort>Maths</descShort></description></group>`
		class := `<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>7a</descShort></description></group>`
		e.post(soap("createGroup", sid("C1")+course)).want(t, "create course", "success", "")
		e.post(soap("createGroup", sid("K1")+class)).want(t, "create class", "success", "")
		m := func(id, g, p, role string) string {
			return `<membershipIdPair>` + sid(id) + `<membership><groupSourcedId><identifier>` + g + `</identifier></groupSourcedId><member><memberSourcedId><identifier>` + p +
				`</identifier></memberSourcedId><role><roleType>` + role + `</roleType></role></member></membership></membershipIdPair>`
		}
		var ms strings.Builder
		for i := range 30 {
			ms.WriteString(m(fmt.Sprint("m", i), []string{"C1", "K1"}[i%2], fmt.Sprintf("B%03d", i), "Learner"))
		}
		e.post(soap("createMemberships", `<membershipIdPairSet>`+ms.String()+`</membershipIdPairSet>`)).want(t, "createMemberships", "success", "")
		check("createMemberships")
		e.post(soap("deleteMembership", sid("m2"))).want(t, "deleteMembership", "success", "")
		e.post(soap("deletePerson", sid("B005"))).want(t, "delete of a member", "success", "")
		e.post(soap("deleteGroup", sid("K1"))).want(t, "delete class", "success", "")
		e.post(soap("deleteGroup", sid("C1"))).want(t, "delete course", "success", "")
		check("deleting a member, a class and a course")

		e.post(soap("changePersonIdentifier", sid("B000")+`<newSourcedId><identifier>B000-new</identifier></newSourcedId>`)).want(t, "changePersonIdentifier", "success", "")
		check("changePersonIdentifier")
		e.post(soap("createPersons", persons("D", 100))).want(t, "createPersons D", "success", "")
		e.post(soap("deletePerson", sid("D007"))).want(t, "delete of a person just created", "success", "")
		check("a delete after a plural create")
	})
}
