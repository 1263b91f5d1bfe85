package soap

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// Writer builds the XML text of an answer. Names are written as given, namespace prefix
// included ("d:group" in IMS ES, "group" in LIS 2.0, whose elements are in a default namespace).
type Writer struct {
	strings.Builder
	out *bufio.Writer // where Spill writes what is built so far; nil: it builds a string
	err error         // out's first error
}

// StreamTo has the Writer write its text to out as it is made (Spill, Flush): an answer of
// many objects (12 MB of statuses for a createPersons of 40,000, 29 MB for a readPersons of as
// many) is never held whole.
func (b *Writer) StreamTo(out io.Writer) { b.out = bufio.NewWriterSize(out, 32<<10) }

// Spill writes what is built so far to out once it is a few kilobytes. Called between
// objects; a Writer without out keeps building its string.
func (b *Writer) Spill() {
	if b.out != nil && b.Len() >= 16<<10 {
		b.write()
	}
}

func (b *Writer) write() {
	if _, err := b.out.WriteString(b.String()); err != nil && b.err == nil {
		b.err = err
	}
	b.Reset()
}

// Flush writes the rest to out, and returns out's first error.
func (b *Writer) Flush() error {
	b.write()
	if b.err != nil {
		return b.err
	}
	return b.out.Flush()
}

// Open writes <name>.
func (b *Writer) Open(name string) { b.WriteString("<" + name + ">") }

// Close writes </name>.
func (b *Writer) Close(name string) { b.WriteString("</" + name + ">") }

// Leaf writes <name>v</name>, v escaped.
func (b *Writer) Leaf(name, v string) {
	b.WriteString("<" + name + ">" + Esc(v) + "</" + name + ">")
}

// Extension writes the "extension.*" attributes, then the extra fields (name, value), as the
// extension element ext of extensionField children whose elements have the prefix p ("c:" in
// IMS ES, none in LIS 2.0); nothing when there are none.
func (b *Writer) Extension(ext, p string, a record.Attrs, extra ...[2]string) {
	fields := make([][2]string, 0, len(extra))
	for _, x := range a {
		if name, ok := strings.CutPrefix(x.Name, "extension."); ok {
			fields = append(fields, [2]string{name, x.Value})
		}
	}
	fields = append(fields, extra...)
	if len(fields) == 0 {
		return
	}
	b.Open(ext)
	for _, f := range fields {
		b.Open(p + "extensionField")
		b.Leaf(p+"fieldName", f[0])
		b.Leaf(p+"fieldType", "String")
		b.Leaf(p+"fieldValue", f[1])
		b.Close(p + "extensionField")
	}
	b.Close(ext)
}

// TemplateField is a course's template (courses.template, stored when the course was created)
// as an extension field named "template"; none when it has none.
func TemplateField(g *record.Group) [][2]string {
	if g.Template == "" {
		return nil
	}
	return [][2]string{{"template", g.Template}}
}

// BoolText is xs:boolean's text.
func BoolText(v bool) string {
	if v {
		return "true"
	}
	return "false"
}

// NewMessageID is an answer's own message identifier.
func NewMessageID() string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	return "imsfeed-" + hex.EncodeToString(r[:])
}
