package change

import (
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// TestMembershipSetActsAsAMap: the compact set answers every lookup, replacement, deletion and
// iteration as a map keyed by the three key strings would, through growth and deletes.
func TestMembershipSetActsAsAMap(t *testing.T) {
	s := NewMembershipSet(0)
	want := map[record.MembershipKey]MembershipState{}
	key := func(i int) record.MembershipKey {
		return record.MembershipKey{Group: fmt.Sprintf("g%d", i%37), Member: fmt.Sprintf("p%d", i%501), Role: fmt.Sprintf("0%d", 1+i%3)}
	}
	for i := range 5000 {
		k := key(i * 7919)
		m := MembershipState{MemberType: record.MemberType(1 + i%2), Manual: i%5 == 0, Seen: i%3 == 0, SeenLine: int32(i)}
		m.Hash[0], m.Hash[15] = byte(i), byte(i>>8)
		switch i % 11 {
		case 3:
			s.Delete(k)
			delete(want, k)
		default:
			s.Set(k, m)
			want[k] = m
		}
	}
	if s.Len() != len(want) {
		t.Fatalf("Len %d, want %d", s.Len(), len(want))
	}
	for k, m := range want {
		if got, ok := s.Get(k); !ok || got != m {
			t.Fatalf("Get(%v) = %+v, %v; want %+v", k, got, ok, m)
		}
	}
	n := 0
	for k, m := range s.All() {
		n++
		if want[k] != m {
			t.Fatalf("All yields %v %+v; want %+v", k, m, want[k])
		}
	}
	if n != len(want) {
		t.Fatalf("All yields %d memberships, want %d", n, len(want))
	}
	if _, ok := s.Get(record.MembershipKey{Group: "g1", Member: "nobody", Role: "01"}); ok {
		t.Error("Get of an unknown key found one")
	}
	var none *MembershipSet
	if _, ok := none.Get(key(1)); ok || none.Len() != 0 {
		t.Error("a nil set is not empty")
	}
}

// TestMembershipSetMarkSeenAndIntern: MarkSeen returns the state as it was and marks it seen
// once (the first line stays); keys interned by Intern are the same keys to Get and Set.
func TestMembershipSetMarkSeenAndIntern(t *testing.T) {
	s := NewMembershipSet(4)
	member, role := s.Intern([]byte("p1"), []byte("01"))
	k := record.MembershipKey{Group: "g1", Member: member, Role: role}
	s.Set(k, MembershipState{MemberType: record.MemberPerson})
	s.Set(record.MembershipKey{Group: "g1", Member: "p2", Role: "01"}, MembershipState{})
	if _, ok := s.MarkSeen(record.MembershipKey{Group: "g1", Member: "p3", Role: "01"}, 5); ok {
		t.Fatal("MarkSeen found a key the set does not hold")
	}
	st, ok := s.MarkSeen(record.MembershipKey{Group: "g1", Member: "p1", Role: "01"}, 7)
	if !ok || st.Seen {
		t.Fatalf("first MarkSeen = %+v, %v; want the unseen state", st, ok)
	}
	st, ok = s.MarkSeen(k, 9)
	if !ok || !st.Seen || st.SeenLine != 7 {
		t.Fatalf("second MarkSeen = %+v, %v; want seen at line 7", st, ok)
	}
	if got, _ := s.Get(record.MembershipKey{Group: "g1", Member: "p2", Role: "01"}); got.Seen {
		t.Fatal("MarkSeen marked another key")
	}
	if m, r := s.Intern([]byte("p1"), []byte("01")); m != "p1" || r != "01" || s.Len() != 2 {
		t.Fatalf("Intern again = %q %q, %d keys", m, r, s.Len())
	}
}

// TestMembershipSetWithManyRolesAndAfterLoaded: an entry keeps its role in a byte; roles beyond
// the first 255 are kept aside, also through the growth that drops deleted entries; and a set
// whose loader called Loaded still takes keys with new strings.
func TestMembershipSetWithManyRolesAndAfterLoaded(t *testing.T) {
	s := NewMembershipSet(0)
	want := map[record.MembershipKey]MembershipState{}
	key := func(i int) record.MembershipKey {
		return record.MembershipKey{Group: fmt.Sprintf("g%d", i%7), Member: fmt.Sprintf("p%d", i%13), Role: fmt.Sprintf("r%d", i%400)}
	}
	for i := range 3000 {
		k := key(i)
		if i%4 == 1 {
			s.Delete(key(i / 2))
			delete(want, key(i/2))
			continue
		}
		m := MembershipState{MemberType: record.MemberType(1 + i%2), SeenLine: int32(i)}
		m.Hash[3] = byte(i)
		s.Set(k, m)
		want[k] = m
		if i == 1500 {
			s.Loaded()
		}
	}
	if !s.Equal(MembershipsOf(want)) {
		t.Fatalf("the set holds %d memberships unlike the map's %d", s.Len(), len(want))
	}
	for k := range s.All() {
		if _, ok := want[k]; !ok {
			t.Fatalf("All yields %v, which the map does not hold", k)
		}
	}
}

// TestMemberBucketIsTheIndexLayout: MemberBucket is 32-bit FNV-1a of the group's key modulo
// 4096, as the stored state indexes were written (a change would misplace every stored entry).
func TestMemberBucketIsTheIndexLayout(t *testing.T) {
	for i := range 20000 {
		g := fmt.Sprintf("group-%d/ÆØÅ-%x", i, i*7919)
		h := fnv.New32a()
		h.Write([]byte(g))
		if got, want := MemberBucket(g), int(h.Sum32()%4096); got != want {
			t.Fatalf("MemberBucket(%q) = %d, want %d", g, got, want)
		}
	}
	if MemberBucket("") != int(uint32(2166136261)%4096) {
		t.Errorf("MemberBucket of the empty key: %d", MemberBucket(""))
	}
}
