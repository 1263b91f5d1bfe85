package change

import (
	"errors"
	"fmt"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// entries is a StoredPersons of a list as a store gives it, repeats and all.
type entries []struct {
	key string
	p   PersonState
}

func (l *entries) Each(only map[string]bool, fn func(string, PersonState) error) error {
	for _, e := range *l {
		if err := fn(e.key, e.p); err != nil {
			return err
		}
	}
	return nil
}

func (l *entries) add(key, name string, trashed bool) {
	p := record.Person{Key: key, Name: name}
	p.ComputeHash()
	*l = append(*l, struct {
		key string
		p   PersonState
	}{key, PersonState{Hash: p.Hash, Name: name, Trashed: trashed}})
}

// TestPersonIndexIsTheStoredPersons: the index answers for every stored person as a map of
// them would (a key given again: the later one, as a store's pending entries replace the ones
// before them), keeps the diff's marks, gives each person once with its stored name when read
// again, reads the names asked for, and refuses a source that gives other persons the second
// time.
func TestPersonIndexIsTheStoredPersons(t *testing.T) {
	var src entries
	want := map[string]PersonState{}
	for i := range 5000 {
		key := fmt.Sprintf("p%d", i)
		src.add(key, "Person "+key, i%7 == 0)
	}
	for i := 0; i < 5000; i += 500 { // given again, later: renamed, trashed or restored
		key := fmt.Sprintf("p%d", i)
		src.add(key, "Renamed "+key, i%1000 == 0)
	}
	for _, e := range src {
		want[e.key] = e.p
	}
	x, err := LoadPersonIndex(&src, 10)
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, p := range want {
		if !p.Trashed {
			active++
		}
	}
	if x.Len() != len(want) || x.Active() != active {
		t.Fatalf("%d persons, %d active; want %d, %d", x.Len(), x.Active(), len(want), active)
	}
	for k, p := range want {
		got, ok := x.Get(k)
		p.Name = ""
		if !ok || got != p {
			t.Fatalf("%s: %+v %v, want %+v", k, got, ok, p)
		}
	}
	if _, ok := x.Get("nobody"); ok {
		t.Fatal("a key never stored is found")
	}
	if st, ok := x.MarkSeen("p3", 17); !ok || st.Seen {
		t.Fatalf("first mark: %+v %v", st, ok)
	}
	if st, ok := x.MarkSeen("p3", 99); !ok || !st.Seen || st.SeenLine != 17 {
		t.Fatalf("second mark: %+v %v", st, ok)
	}
	for range 2 {
		got := map[string]PersonState{}
		err := x.EachOnce(func(k string, p PersonState) error {
			if _, again := got[k]; again {
				return fmt.Errorf("%s given twice", k)
			}
			got[k] = p
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, p := range want {
			if k == "p3" {
				p.Seen, p.SeenLine = true, 17
			}
			if got[k] != p {
				t.Fatalf("read again: %s is %+v, want %+v", k, got[k], p)
			}
		}
	}
	if err := x.ReadNames(map[string]bool{"p500": true, "p501": true, "nobody": true}); err != nil {
		t.Fatal(err)
	}
	if x.Name("p500") != "Renamed p500" || x.Name("p501") != "Person p501" || x.Name("p502") != "" || x.Name("nobody") != "" {
		t.Fatalf("names: %q %q %q", x.Name("p500"), x.Name("p501"), x.Name("p502"))
	}
	src = src[1:]
	if err := x.EachOnce(func(string, PersonState) error { return nil }); !errors.Is(err, errPersonsChanged) {
		t.Fatalf("a source giving fewer persons the second time: %v", err)
	}
	src.add("stranger", "S", false)
	if err := x.EachOnce(func(string, PersonState) error { return nil }); !errors.Is(err, errPersonsChanged) {
		t.Fatalf("a source giving another person the second time: %v", err)
	}
}

// TestNamedPersonIndexKeepsEveryName: a named index answers Name for every stored person
// without reading its source again (a key given again: the later name, an empty one too), ""
// for a key never stored, and counts and states them as the plain index does.
func TestNamedPersonIndexKeepsEveryName(t *testing.T) {
	var src entries
	want := map[string]string{}
	for i := range 3000 {
		key, name := fmt.Sprintf("p%d", i), fmt.Sprintf("Person %d %s", i, string(rune('a'+i%26)))
		if i%500 == 0 {
			name = "" // a person without a name
		}
		src.add(key, name, i%7 == 0)
		want[key] = name
	}
	for i := range 3000 {
		if i%3 == 0 { // renamed: given again, later
			key, name := fmt.Sprintf("p%d", i), fmt.Sprintf("Renamed %d", i)
			if i%9 == 0 {
				name = ""
			}
			src.add(key, name, false)
			want[key] = name
		}
	}
	x, err := LoadNamedPersonIndex(&src, 10) // (a hint far too small: it grows)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := LoadPersonIndex(&src, 10)
	if err != nil {
		t.Fatal(err)
	}
	src = nil // read no more
	for key, name := range want {
		if got := x.Name(key); got != name {
			t.Fatalf("person %s named %q, want %q", key, got, name)
		}
		a, okA := x.Get(key)
		b, okB := plain.Get(key)
		if a != b || !okA || !okB {
			t.Fatalf("person %s: %+v (%v), the plain index's %+v (%v)", key, a, okA, b, okB)
		}
	}
	if x.Name("p3000") != "" || x.Len() != plain.Len() || x.Active() != plain.Active() || x.Len() != len(want) {
		t.Errorf("a key never stored named %q; %d persons, %d active; want %d, %d", x.Name("p3000"), x.Len(), x.Active(), plain.Len(), plain.Active())
	}
}
