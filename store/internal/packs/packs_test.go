package packs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestEncodingRoundTrips(t *testing.T) {
	es := []Entry{
		{Member: "p0001", Role: "01", Hash: [16]byte{1, 2, 3}},
		{Member: "p0001", Role: "02", Manual: true},
		{Member: "p0002", Role: "05", Attrs: []byte(`[{"n":"subrole","v":"x"}]`)},
		{Member: "p0002x", Role: "9", Attrs: []byte{}}, // a role outside 01-08, empty attributes
		{Member: "z", Role: "08", Group: true},
	}
	data := Append(nil, es)
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(es) || got[2].Attrs == nil || got[3].Attrs == nil || got[0].Attrs != nil {
		t.Errorf("decoded\n%v\nwant\n%v", got, es)
	}
	// Every cut of the bytes and every changed byte is either refused or decodes to entries
	// that encode to the same bytes: nothing is read past or half-read.
	for i := range data {
		if _, err := Decode(data[:i]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("the first %d of %d bytes: %v, want ErrCorrupt", i, len(data), err)
		}
		for _, b := range []byte{0, 0x7f, 0x80, 0xff} {
			d := bytes.Clone(data)
			d[i] = b
			if got, err := Decode(d); err == nil && !bytes.Equal(Append(nil, got), d) {
				t.Errorf("byte %d as %#x decodes to entries encoded otherwise", i, b)
			}
		}
	}
	if _, err := Decode(Append(nil, []Entry{es[1], es[0]})); !errors.Is(err, ErrCorrupt) {
		t.Errorf("entries out of order: %v, want ErrCorrupt", err)
	}
}

func TestListRoundTripsAndEdits(t *testing.T) {
	var l []string
	for _, g := range []string{"math-7b", "math-7a", "art", "math-7a", "zz"} {
		l = Join(l, g)
	}
	l = Leave(Leave(l, "zz"), "nope")
	if want := []string{"art", "math-7a", "math-7b"}; !slices.Equal(l, want) {
		t.Fatalf("list %v, want %v", l, want)
	}
	got, err := DecodeList(AppendList(nil, l))
	if err != nil || !slices.Equal(got, l) {
		t.Errorf("decoded %v, %v", got, err)
	}
	if _, err := DecodeList(AppendList(nil, []string{"b", "a"})); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unsorted list: %v", err)
	}
}

// store is a group's packs as a store keeps them: rows by key.
type store map[string][]byte

func (s store) keys() []string {
	ks := make([]string, 0, len(s))
	for k := range s {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// floor is the key of the row with the greatest key not greater than member (ks: s.keys()).
func (s store) floor(ks []string, member string) (string, bool) {
	i := sort.SearchStrings(ks, member)
	if i < len(ks) && ks[i] == member {
		return member, true
	}
	if i == 0 {
		return "", false
	}
	return ks[i-1], true
}

type mkey struct{ member, role string }

// Random edits of one group, a batch at a time, read and written as a store would, against a
// map of what the group should hold: the packs hold exactly the model's entries, each pack
// covers what lies between its key and the next, no member is split, packs stay within their
// bounds, and the joined and left members keep member lists equal to the model's.
func TestEditsKeepThePacksAndListsExact(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		s := store{}
		model := map[mkey]Entry{}
		lists := map[string]bool{} // members whose list has the group
		members := 20 + r.IntN(400)
		attrs := r.IntN(3) == 0
		for batch := range 40 {
			var g Group
			ks := s.keys()
			edits := 1 + r.IntN(1+r.IntN(300))
			type edit struct {
				put bool
				e   Entry
			}
			es := make([]edit, edits)
			for i := range es {
				m := fmt.Sprintf("p%05d", r.IntN(members))
				if r.IntN(40) == 0 {
					m = "a" + m // below most
				}
				e := Entry{Member: m, Role: fmt.Sprintf("0%d", 1+r.IntN(3)), Manual: r.IntN(9) == 0}
				e.Hash[0] = byte(batch)
				if attrs && r.IntN(2) == 0 {
					e.Attrs = bytes.Repeat([]byte("x"), r.IntN(600))
				}
				es[i] = edit{put: r.IntN(3) > 0, e: e}
				// The store reads the member's floor before any edit.
				if k, ok := s.floor(ks, m); ok {
					if err := g.Read(k, s[k]); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, x := range es {
				k := mkey{x.e.Member, x.e.Role}
				if x.put {
					g.Put(x.e)
					model[k] = x.e
					if got, ok := g.Get(x.e.Member, x.e.Role); !ok || got.Hash != x.e.Hash {
						t.Fatalf("seed %d: Get after Put: %v %v", seed, got, ok)
					}
				} else {
					_, had := model[k]
					if g.Remove(x.e.Member, x.e.Role) != had {
						t.Fatalf("seed %d batch %d: Remove(%v) said %v, the model %v", seed, batch, k, !had, had)
					}
					delete(model, k)
				}
			}
			c := g.Changes()
			for _, k := range c.Deletes {
				if _, ok := s[k]; !ok {
					t.Fatalf("seed %d: delete of a pack not stored", seed)
				}
				delete(s, k)
			}
			for _, w := range c.Writes {
				if _, ok := s[w.Key]; ok != w.Stored {
					t.Fatalf("seed %d: write of %q stored=%v, the store has it: %v", seed, w.Key, w.Stored, ok)
				}
				s[w.Key] = w.Data
			}
			for _, m := range c.Joined {
				if lists[m.Key] {
					t.Fatalf("seed %d: %s joined twice", seed, m.Key)
				}
				lists[m.Key] = true
			}
			for _, m := range c.Left {
				if !lists[m.Key] {
					t.Fatalf("seed %d: %s left without joining", seed, m.Key)
				}
				delete(lists, m.Key)
			}
			check(t, seed, s, model, lists)
		}
	}
}

func check(t *testing.T, seed uint64, s store, model map[mkey]Entry, lists map[string]bool) {
	t.Helper()
	got := map[mkey]Entry{}
	has := map[string]bool{}
	ks := s.keys()
	for i, k := range ks {
		es, err := Decode(s[k])
		if err != nil {
			t.Fatalf("seed %d: pack %q: %v", seed, k, err)
		}
		if len(es) == 0 {
			t.Fatalf("seed %d: empty pack %q stored", seed, k)
		}
		members := 0
		for j, e := range es {
			if e.Member < k || (i+1 < len(ks) && e.Member >= ks[i+1]) {
				t.Fatalf("seed %d: %s in pack %q, next %v", seed, e.Member, k, ks[i+1:])
			}
			if j == 0 || es[j-1].Member != e.Member {
				members++
			}
			got[mkey{e.Member, e.Role}] = e
			has[e.Member] = true
		}
		if members > 1 && (len(es) > MaxEntries || len(s[k]) > MaxBytes+8) {
			t.Fatalf("seed %d: pack %q of %d members has %d entries, %d bytes", seed, k, members, len(es), len(s[k]))
		}
	}
	if len(got) != len(model) {
		t.Fatalf("seed %d: %d entries stored, the model has %d", seed, len(got), len(model))
	}
	for k, e := range model {
		if g, ok := got[k]; !ok || !equal(g, e) {
			t.Fatalf("seed %d: %v stored as %v, want %v", seed, k, g, e)
		}
	}
	if len(has) != len(lists) {
		t.Fatalf("seed %d: %d members have entries, %d lists have the group", seed, len(has), len(lists))
	}
	for m := range has {
		if !lists[m] {
			t.Fatalf("seed %d: %s has entries, its list lacks the group", seed, m)
		}
	}
}

func equal(a, b Entry) bool {
	return a.Member == b.Member && a.Role == b.Role && a.Group == b.Group && a.Manual == b.Manual &&
		a.Hash == b.Hash && bytes.Equal(a.Attrs, b.Attrs) && (a.Attrs == nil) == (b.Attrs == nil)
}

func TestCutKeepsAMembersRolesTogether(t *testing.T) {
	var es []Entry
	for i := range 200 {
		for _, role := range []string{"01", "02", "05"} {
			es = append(es, Entry{Member: fmt.Sprintf("m%04d", i), Role: role})
		}
	}
	// One member with attributes larger than a pack on its own.
	es = slices.Insert(es, 30, Entry{Member: "m0010", Role: "03", Attrs: bytes.Repeat([]byte("y"), 3*MaxBytes)})
	n := 0
	var last string
	Cut(es, func(p []Entry) {
		n += len(p)
		if p[0].Member == last {
			t.Errorf("a pack begins with %s, the last one's member", last)
		}
		last = p[len(p)-1].Member
	})
	if n != len(es) {
		t.Errorf("cut gave %d entries of %d", n, len(es))
	}
}
