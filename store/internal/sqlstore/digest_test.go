package sqlstore

import (
	"testing"

	"github.com/imsfeed/imsfeed/change"
)

// TestDigestsSeeEveryField: a bucket's digest, which decides whether a check compares the
// bucket entry by entry, changes with any field of any entry (key, content hash, name, trashed)
// and with an entry more or less, and not with the entries' order.
func TestDigestsSeeEveryField(t *testing.T) {
	h := newDigester()
	type person struct {
		k string
		p change.PersonState
	}
	p := person{"P1", change.PersonState{Hash: [16]byte{1}, Name: "Ada"}}
	other := person{"P2", change.PersonState{Hash: [16]byte{3}, Name: "Alan"}}
	of := func(ps ...person) digest {
		var d digest
		var buf []byte
		for _, x := range ps {
			buf = personEntry(buf, x.k, x.p)
			h.add(&d, buf)
		}
		return d
	}
	base := of(p, other)
	if of(other, p) != base {
		t.Error("the same entries in another order give another digest")
	}
	vary := map[string]digest{}
	pv := func(name string, f func(*person)) {
		x := p
		f(&x)
		vary[name] = of(x, other)
	}
	pv("person key", func(x *person) { x.k = "P3" })
	pv("person hash", func(x *person) { x.p.Hash[15] = 9 })
	pv("person name", func(x *person) { x.p.Name = "Ada K" })
	pv("person name moved into the key", func(x *person) { x.k, x.p.Name = "P1A", "da" })
	pv("person trashed", func(x *person) { x.p.Trashed = true })
	vary["an entry less"] = of(p)
	vary["an entry twice"] = of(p, other, other)
	for name, d := range vary {
		if d == base {
			t.Errorf("%s: the digest does not change", name)
		}
	}
}
