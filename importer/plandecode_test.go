package importer

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// TestDecodePlanChangeByChangeAsEncodingJSON: approval decodes the stored plan one change at a
// time, into exactly what encoding/json makes of it, and refuses what a plan does not have.
// decodePlan is decodePlanIn keeping every change in the plan it returns.
func decodePlan(r io.Reader) (*change.Plan, error) { return decodePlanIn(r, 0, nil) }

func TestDecodePlanChangeByChangeAsEncodingJSON(t *testing.T) {
	old := record.Person{Key: "p1", Name: "Kari Hansen", Attrs: record.Attrs{{Name: "email", Value: "k@example.org"}}}
	plan := &change.Plan{Tenant: "north", Mode: "snapshot", BaseVersion: 7, SchoolYear: "2026/27",
		Persons: []change.Person{{Op: change.Update, Person: record.Person{Key: "p1", Name: "Kari Berg"}, Old: &old},
			{Op: change.Delete, Person: record.Person{Key: "p2", Name: "Ola"}}},
		Groups: []change.Group{{Op: change.Archive, Group: record.Group{Key: "c1", Name: "Maths", Parents: []string{"s"}}, Course: true}},
		Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{
			MembershipKey: record.MembershipKey{Group: "c1", Member: "p2", Role: "01"}}}},
		Relations: []change.Relation{{Op: change.Insert, Relation: record.Relation{RelationKey: record.RelationKey{Person: "p1", Related: "p2", Type: "carer"}}}},
		Attention: []change.Notice{{Kind: "k", Key: "p1", Message: "m"}}}
	plan.Counts.Persons.Deleted = 1
	for _, p := range []*change.Plan{plan, {Tenant: "empty"}} {
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var want change.Plan
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		got, err := decodePlan(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("decoded %s:\n got %+v\nwant %+v", data, got, &want)
		}
	}
	for _, bad := range []string{
		`{"tenant":"t","extra":1}`,
		`{"tenant":"t","persons":[{"op":"insert","person":{"key":"p"},"extra":true}]}`,
		`{"tenant":"t","persons":{}}`,
		`{"tenant":"t"} {}`,
		`{"tenant":"t"`,
		`[]`,
	} {
		if _, err := decodePlan(strings.NewReader(bad)); err == nil {
			t.Errorf("decodePlan(%s) accepted it", bad)
		}
	}
}
