package soap

import (
	"bytes"
	"fmt"
	"testing"
)

// TestWriterStreamedIsTheSameText: an answer written to the connection as it is made (Spill
// between objects, Flush at the end) is byte for byte the text built whole.
func TestWriterStreamedIsTheSameText(t *testing.T) {
	write := func(b *Writer) {
		b.WriteString(`<set>`)
		for i := range 5000 {
			b.Leaf("id", fmt.Sprintf("K%d & <%d>", i, i))
			b.Spill()
		}
		b.WriteString(`</set>`)
	}
	var whole Writer
	write(&whole)
	var out bytes.Buffer
	var streamed Writer
	streamed.StreamTo(&out)
	write(&streamed)
	if out.Len() == 0 {
		t.Fatal("nothing was written before the end: the answer was held whole")
	}
	if err := streamed.Flush(); err != nil {
		t.Fatal(err)
	}
	if out.String() != whole.String() || out.Len() < 100_000 {
		t.Fatalf("streamed %d bytes, built %d: not the same text", out.Len(), whole.Len())
	}
}
