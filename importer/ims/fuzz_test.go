package ims

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead: never panics, never hangs, and a well-formed input cut anywhere before the end of
// its root element is rejected with an *Error.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*/*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(head + "<enterprise>" + person("P1") + "</enterprise>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		type out struct {
			p   *parser
			err error
		}
		done := make(chan out, 1)
		go func() {
			p := newParser(context.Background(), "fuzz.xml", Options{}, &collect{}, [4][]compiledMapping{})
			_, err := p.run(bytes.NewReader(data))
			done <- out{p, err}
		}()
		var o out
		select {
		case o = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Read did not return within 10s on %d bytes", len(data))
		}
		if o.err != nil {
			var e *Error
			if !errors.As(o.err, &e) {
				t.Fatalf("error is not an *Error: %v", o.err)
			}
			return
		}
		// Accepted and read straight from the bytes: every cut before the root closes fails.
		if o.p.rawPrefix < 0 {
			return
		}
		end := int(o.p.rootEnd) + o.p.rawPrefix
		step := 1
		if end > 2000 {
			step = end / 500
		}
		for i := 0; i < end; i += step {
			_, _, err := readBytes(t, data[:i], "cut.xml", Options{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("cut at %d of %d (root ends at %d) read as complete: %v", i, len(data), end, err)
			}
		}
	})
}
