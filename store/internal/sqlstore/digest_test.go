package sqlstore

import (
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// TestDigestsSeeEveryField: a bucket's digest, which decides whether a check compares the
// bucket entry by entry, changes with any field of any entry (key, content hash, name, trashed;
// group, member, role, content hash, member type, manual) and with an entry more or less, and
// not with the entries' order.
func TestDigestsSeeEveryField(t *testing.T) {
	h := newDigester()
	type person struct {
		k string
		p change.PersonState
	}
	type member struct {
		k record.MembershipKey
		m change.MembershipState
	}
	p := person{"P1", change.PersonState{Hash: [16]byte{1}, Name: "Ada"}}
	m := member{record.MembershipKey{Group: "G1", Member: "P1", Role: "01"}, change.MembershipState{Hash: [16]byte{2}, MemberType: record.MemberPerson}}
	other := person{"P2", change.PersonState{Hash: [16]byte{3}, Name: "Alan"}}
	of := func(ps []person, ms []member) digest {
		var d digest
		var buf []byte
		for _, x := range ps {
			buf = personEntry(buf, x.k, x.p)
			h.add(&d, buf)
		}
		for _, x := range ms {
			buf = memberEntry(buf, x.k, x.m)
			h.add(&d, buf)
		}
		return d
	}
	base := of([]person{p, other}, []member{m})
	if of([]person{other, p}, []member{m}) != base {
		t.Error("the same entries in another order give another digest")
	}
	vary := map[string]digest{}
	pv := func(name string, f func(*person)) {
		x := p
		f(&x)
		vary[name] = of([]person{x, other}, []member{m})
	}
	mv := func(name string, f func(*member)) {
		x := m
		f(&x)
		vary[name] = of([]person{p, other}, []member{x})
	}
	pv("person key", func(x *person) { x.k = "P3" })
	pv("person hash", func(x *person) { x.p.Hash[15] = 9 })
	pv("person name", func(x *person) { x.p.Name = "Ada K" })
	pv("person trashed", func(x *person) { x.p.Trashed = true })
	mv("group", func(x *member) { x.k.Group = "G2" })
	mv("member", func(x *member) { x.k.Member = "P2" })
	mv("role", func(x *member) { x.k.Role = "02" })
	mv("group and member split elsewhere", func(x *member) { x.k.Group, x.k.Member = "G1P", "1" })
	mv("membership hash", func(x *member) { x.m.Hash[0] = 7 })
	mv("member type", func(x *member) { x.m.MemberType = record.MemberGroup })
	mv("manual", func(x *member) { x.m.Manual = true })
	vary["an entry less"] = of([]person{p}, []member{m})
	vary["an entry twice"] = of([]person{p, other, other}, []member{m})
	for name, d := range vary {
		if d == base {
			t.Errorf("%s: the digest does not change", name)
		}
	}
}
