package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/samples/feedgen"
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

// hashNoter notes each record's kind, key and content hash, in order.
type hashNoter struct{ got []string }

func (h *hashNoter) note(kind, key string, sum record.Hash) {
	h.got = append(h.got, kind+" "+key+" "+sum.String())
}
func (h *hashNoter) Person(p *record.Person) error { h.note("p", p.Key, p.Hash); return nil }
func (h *hashNoter) Group(g *record.Group) error   { h.note("g", g.Key, g.Hash); return nil }
func (h *hashNoter) Membership(m *record.Membership) error {
	h.note("m", m.MembershipKey.String(), m.Hash)
	return nil
}
func (h *hashNoter) Relation(r *record.Relation) error {
	h.note("r", r.RelationKey.String(), r.Hash)
	return nil
}

// TestPipeHashesAsTheReaderWould: the importer reads with ims.Options.HandlerHashes and the
// pipe hashes each record beside the reader; the diff behind it must get the content hashes
// the reader itself computes (the stored ones were made so), for every kind of record the
// corpus has (attributes, group members, extensions, relations) and a generated feed.
func TestPipeHashesAsTheReaderWould(t *testing.T) {
	var files []string
	for _, dir := range []string{"ims/testdata/corpus", "ims/testdata/relations"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(path, ".xml") {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var gen bytes.Buffer
	if err := feedgen.Write(&gen, feedgen.Options{Persons: 300, Groups: 30, MembersPerGroup: 20, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	read := func(name string, data []byte, opts ims.Options, h ims.Handler) {
		t.Helper()
		if _, err := ims.Read(context.Background(), bytes.NewReader(data), name, opts, h); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	relations := []ims.Mapping{{Name: "mentor", Type: record.Relations, XPath: "extension/mentor"}}
	for i := range len(files) + 1 {
		name, data := "generated.xml", gen.Bytes()
		if i < len(files) {
			var err error
			name = files[i]
			if data, err = os.ReadFile(name); err != nil {
				t.Fatal(err)
			}
		}
		opts := ims.Options{Lenient: true, Mode: ims.ModeAuto, Mappings: relations}
		own := &hashNoter{}
		read(name, data, opts, own)
		piped := &hashNoter{}
		p := newPipe(piped)
		opts.HandlerHashes = true
		read(name, data, opts, p.handler())
		if err := p.close(); err != nil {
			t.Fatal(err)
		}
		if len(own.got) == 0 {
			t.Fatalf("%s: no records", name)
		}
		if !slices.Equal(own.got, piped.got) {
			t.Errorf("%s: the records through the pipe (%d) differ from the reader's own (%d):\n%v\n%v", name, len(piped.got), len(own.got), piped.got, own.got)
		}
		for _, r := range piped.got {
			if strings.HasSuffix(r, " "+record.Hash{}.String()) {
				t.Errorf("%s: %s has no content hash", name, r)
			}
		}
	}
}
