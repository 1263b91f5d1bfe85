package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// TestHeldPlanIsJSONMarshalInPieces: a held plan is stored as the very bytes json.Marshal makes
// of it (a plan held before it was stored in parts has the same SHA-256, and `show --plan --raw`
// prints what it always did), cut into pieces of about planPiece bytes.
func TestHeldPlanIsJSONMarshalInPieces(t *testing.T) {
	old := record.Person{Key: "p1", Name: "Kari <Hansen> & co", Attrs: record.Attrs{{Name: "email", Value: "k@example.org"}}}
	full := &change.Plan{Tenant: "north", Mode: "snapshot", BaseVersion: 7, SchoolYear: "2026/27",
		Persons: []change.Person{{Op: change.Update, Person: record.Person{Key: "p1", Name: "Kari Berg"}, Old: &old},
			{Op: change.Delete, Person: record.Person{Key: "p2", Name: "Øla \u2028"}}},
		Groups: []change.Group{{Op: change.Archive, Group: record.Group{Key: "c1", Name: "Maths", Parents: []string{"s"}}, Course: true}},
		Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{
			MembershipKey: record.MembershipKey{Group: "c1", Member: "p2", Role: "01"}}, Cascade: true}},
		Relations: []change.Relation{{Op: change.Insert, Relation: record.Relation{RelationKey: record.RelationKey{Person: "p1", Related: "p2", Type: "carer"}}}},
		Attention: []change.Notice{{Kind: "k", Key: "p1", Message: "m"}},
		Names:     change.NamesFor(&change.Plan{}, nil, 0), Early: change.PerType{3}}
	full.Counts.Persons.Deleted = 1
	large := &change.Plan{Tenant: "large", Mode: "snapshot", BaseVersion: 1}
	for i := range 40000 {
		large.Memberships = append(large.Memberships, change.Membership{Op: change.Delete, Membership: record.Membership{
			MembershipKey: record.MembershipKey{Group: fmt.Sprintf("g%04d", i%500), Member: fmt.Sprintf("P%07d", i), Role: "01"}}})
	}
	for name, p := range map[string]*change.Plan{"every field": full, "empty": {}, "empty lists": {Tenant: "x",
		Persons: []change.Person{}, Relations: []change.Relation{}}, "large": large} {
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		pieces := 0
		err = heldPlan(p)(func(piece []byte) error {
			if len(piece) > planPiece+64<<10 {
				t.Errorf("%s: a piece of %d bytes", name, len(piece))
			}
			got.Write(piece)
			pieces++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: held as\n%s\nwant json.Marshal's\n%s", name, got.Bytes(), want)
		}
		if wantPieces := (len(want) + planPiece - 1) / planPiece; pieces != wantPieces {
			t.Errorf("%s: %d bytes in %d pieces, want %d", name, len(want), pieces, wantPieces)
		}
	}
}
