package importer

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// TestHeldGroupsGiveBackEveryField: the file's groups held encoded while the memberships are
// read come back as they were, every field (nil slices as nil, empty ones as empty), in the
// order they came, across chunks; and a field added to record.Group fails this test until
// heldGroups keeps it.
func TestHeldGroupsGiveBackEveryField(t *testing.T) {
	if n := reflect.TypeFor[record.Group]().NumField(); n != 11 {
		t.Fatalf("record.Group has %d fields; heldGroups encodes 11: keep the new one too", n)
	}
	var want []*record.Group
	for i := range 5000 {
		g := &record.Group{Pos: record.Pos{Line: 1000 + i, Column: i % 7}, Key: fmt.Sprintf("G%d", i), Source: "SIS",
			RecStatus: record.RecStatus(i % 4), Name: fmt.Sprintf("Group %d", i), SelfParent: i%5 == 0, Template: map[bool]string{true: "tpl"}[i%9 == 0]}
		switch i % 3 {
		case 0:
			g.Types = []record.GroupType{{Scheme: "s", Value: "Course", Level: "1"}, {Value: "Section"}}
			g.Parents = []string{"P1", fmt.Sprintf("P%d", i)}
			g.Attrs = record.Attrs{{Name: "long", Value: fmt.Sprintf("A long name %d", i)}}
		case 1:
			g.Types, g.Parents, g.Attrs = []record.GroupType{}, []string{}, record.Attrs{}
		}
		g.ComputeHash()
		want = append(want, g)
	}
	var h heldGroups
	for _, g := range want {
		c := *g
		h.add(&c)
	}
	if len(h.chunks) < 2 {
		t.Fatalf("%d chunks: the test does not cross one", len(h.chunks))
	}
	if h.n != len(want) {
		t.Fatalf("holds %d groups, counts %d", len(want), h.n)
	}
	var got []*record.Group
	if err := h.each(func(g *record.Group) error { got = append(got, g); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		for i := range want {
			if i >= len(got) || !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("group %d: got %+v, want %+v", i, got[min(i, len(got)-1)], want[i])
			}
		}
		t.Fatalf("got %d groups, want %d", len(got), len(want))
	}
	if h.chunks != nil {
		t.Fatal("the groups are still held after each")
	}
	h = heldGroups{}
	for _, g := range want[:10] {
		h.add(g)
	}
	stop, n := errors.New("stop"), 0
	if err := h.each(func(*record.Group) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("each went on after an error: %v, %d", err, n)
	}
}
