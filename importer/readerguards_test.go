package importer_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// TestReaderGuardsFailTheRunAndChangeNothing: a misspelled record element in a snapshot, a
// UTF-8 file declared ISO-8859-1, and a duplicate key fail the run with the reader's message,
// on both stores, and leave the state as it was.
func TestReaderGuardsFailTheRunAndChangeNothing(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		good := e.file("good.xml", feedgen.Options{})
		wantStatus(t, e.imp(good), runs.Completed)
		before := e.status()
		data, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}

		at := bytes.Index(data, []byte("<person>"))
		end := bytes.Index(data[at:], []byte("</person>")) + at
		misspelt := append([]byte{}, data...)
		copy(misspelt[at:], "<pers0n>")
		copy(misspelt[end:], "</pers0n>")
		dup := append(append(append([]byte{}, data[:end+len("</person>")]...), data[at:end+len("</person>")]...), data[end+len("</person>"):]...)

		for name, tc := range map[string]struct {
			data []byte
			msg  string
		}{
			"pers0n.xml":    {misspelt, "unknown element <pers0n> holds a sourcedid"},
			"declared.xml":  {bytes.Replace(data, []byte(`encoding="UTF-8"`), []byte(`encoding="ISO-8859-1"`), 1), `declares encoding "ISO-8859-1" but is UTF-8`},
			"duplicate.xml": {dup, "first at line"},
		} {
			r := e.imp(e.write(name, tc.data))
			wantStatus(t, r, runs.Failed)
			if r.Error == nil || r.Error.Line == 0 || !strings.Contains(r.Error.Message, tc.msg) {
				t.Errorf("%s: error %+v, want %q at a line", name, r.Error, tc.msg)
			}
			if after := e.status(); after != before {
				t.Errorf("%s changed the state: %+v → %+v", name, before, after)
			}
		}
	})
}
