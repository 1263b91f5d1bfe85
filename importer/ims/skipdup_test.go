package ims

import (
	"context"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

type keysHandler struct{ persons []string }

func (h *keysHandler) Person(p *record.Person) error {
	h.persons = append(h.persons, p.Key)
	return nil
}
func (h *keysHandler) Group(*record.Group) error           { return nil }
func (h *keysHandler) Membership(*record.Membership) error { return nil }

// With SkipDuplicateCheck the caller (the importer's diff) sees both records and decides.
func TestSkipDuplicateCheckHandsEveryRecordOn(t *testing.T) {
	doc := `<enterprise><person><sourcedid><id>P1</id></sourcedid></person>
<person><sourcedid><id>P1</id></sourcedid></person></enterprise>`
	if _, err := Read(context.Background(), strings.NewReader(doc), "f.xml", Options{}, &keysHandler{}); err == nil {
		t.Fatal("a snapshot with a repeated key read without error")
	}
	h := &keysHandler{}
	if _, err := Read(context.Background(), strings.NewReader(doc), "f.xml", Options{SkipDuplicateCheck: true}, h); err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.persons, ",") != "P1,P1" {
		t.Fatalf("handler saw %v", h.persons)
	}
}
