package record

import "testing"

// TestContentHashesStay: every tenant's stored content hashes (rows and state index) were
// computed by earlier versions; if the same fields hashed differently, the next night would
// update every record. These are the hashes of main before the hasher stopped allocating.
func TestContentHashesStay(t *testing.T) {
	p := &Person{Key: "P0001", Source: "feedgen", Name: "Søren Dahl", Attrs: Attrs{{Name: "email", Value: "s@example.org"}, {Name: "userid", Value: "s0001"}}, Secret: "x"}
	p.ComputeHash()
	g := &Group{Key: "G1", Source: "feedgen", Name: "7A", Types: []GroupType{{Scheme: "s", Value: "v", Level: "1"}}, Parents: []string{"ROOT"}, SelfParent: true, Attrs: Attrs{{Name: "email", Value: "g@example.org"}}}
	g.ComputeHash()
	m := &Membership{MembershipKey: MembershipKey{Group: "G1", Member: "P0001", Role: "01"}, MemberType: MemberGroup, Attrs: Attrs{{Name: "subrole", Value: "x"}}}
	m.ComputeHash()
	long := &Membership{MembershipKey: MembershipKey{Group: "G1", Member: "P0001", Role: "02"}, Attrs: Attrs{{Name: "extension.note", Value: string(make([]byte, 300))}}}
	long.ComputeHash()
	r := &Relation{RelationKey: RelationKey{Person: "P0001", Related: "P0002", Type: "guardian"}, Attrs: Attrs{{Name: "source", Value: "feedgen"}}}
	r.ComputeHash()
	for _, c := range []struct {
		what string
		got  Hash
		want string
	}{
		{"person", p.Hash, "a881063aaf0d4451dd6c2ca7a452871a"},
		{"group", g.Hash, "1f7539b2260cba9b0c28f76e1435084e"},
		{"membership", m.Hash, "1eaa30a94b2138be8cd7b2909de079c4"},
		{"membership with a long attribute", long.Hash, "024adda3ad9c48f75d6d4612b2573c59"},
		{"relation", r.Hash, "6d8c9b7f3e3979c7ee269ef15425e48e"},
	} {
		if c.got.String() != c.want {
			t.Errorf("%s: content hash %s, want %s", c.what, c.got, c.want)
		}
	}
}
