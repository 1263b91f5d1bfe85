package importer

import (
	"errors"
	"fmt"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// orderHandler notes the records it gets, in order; it fails at failAt (a membership's group).
type orderHandler struct {
	got    []string
	failAt string
}

func (h *orderHandler) Person(p *record.Person) error { h.got = append(h.got, "p:"+p.Key); return nil }
func (h *orderHandler) Group(g *record.Group) error   { h.got = append(h.got, "g:"+g.Key); return nil }
func (h *orderHandler) Membership(m *record.Membership) error {
	if m.Group == h.failAt {
		return errors.New("handler refused " + m.Group)
	}
	h.got = append(h.got, "m:"+m.Group)
	return nil
}
func (h *orderHandler) Relation(r *record.Relation) error {
	h.got = append(h.got, "r:"+r.Person)
	return nil
}

// TestPipeKeepsFileOrderAndStopsTheReader: the diff behind the pipe gets every record in the
// order the reader gave them, across batches; an error of the diff reaches the reader (which
// then stops) and close returns it.
func TestPipeKeepsFileOrderAndStopsTheReader(t *testing.T) {
	h := &orderHandler{}
	p := newPipe(h)
	rh, ok := p.handler().(interface{ Relation(*record.Relation) error })
	if !ok {
		t.Fatal("the pipe does not pass relations on to a handler that takes them")
	}
	var want []string
	for i := range 3*pipeBatchSize + 17 {
		k := fmt.Sprint(i)
		var err error
		switch i % 4 {
		case 0:
			err, want = p.handler().Person(&record.Person{Key: k}), append(want, "p:"+k)
		case 1:
			err, want = p.handler().Group(&record.Group{Key: k}), append(want, "g:"+k)
		case 2:
			err, want = p.handler().Membership(&record.Membership{MembershipKey: record.MembershipKey{Group: k}}), append(want, "m:"+k)
		case 3:
			err, want = rh.Relation(&record.Relation{RelationKey: record.RelationKey{Person: k}}), append(want, "r:"+k)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(h.got) != fmt.Sprint(want) {
		t.Fatalf("the handler got %d records, want %d in file order", len(h.got), len(want))
	}

	h = &orderHandler{failAt: "bad"}
	p = newPipe(h)
	var readerErr error
	for i := 0; i < 100*pipeBatchSize && readerErr == nil; i++ {
		g := "ok"
		if i == 10 {
			g = "bad"
		}
		readerErr = p.handler().Membership(&record.Membership{MembershipKey: record.MembershipKey{Group: g}})
	}
	if err := p.close(); err == nil || err.Error() != "handler refused bad" {
		t.Fatalf("close = %v, want the handler's error", err)
	}
	if readerErr == nil {
		t.Fatal("the reader was never told to stop")
	}
	if len(h.got) != 10 {
		t.Fatalf("the handler took %d records after its error; want the 10 before it", len(h.got))
	}
}
