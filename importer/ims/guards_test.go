package ims

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/imsfeed/imsfeed/record"
)

// Regression tests for issue 16 (secrets, unknown elements, encodings, limits) and issue 17
// (truncation, duplicates, partial results), each named after what it guards.

func mustFail(t *testing.T, in string, opts Options) *Error {
	t.Helper()
	_, _, err := readBytes(t, []byte(in), "f.xml", opts)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error", err)
	}
	return e
}

func TestMalformedPasswordIsNeverQuotedInAnError(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		// An unescaped quote inside the value: the rest of the password reads as a name.
		`<enterprise><person><userid password="abc"Geheim99" useridtype="x">u</userid></person></enterprise>`,
		`<enterprise><person><userid passwd="a"Geheim99>u</userid></person></enterprise>`,
		`<enterprise><person><userid pwd="a"Geheim99=x>u</userid></person></enterprise>`,
		`<enterprise><person><userid x="1" passord="a" Geheim99 >u</userid></person></enterprise>`,
		`<enterprise><person><userid password="a" password="Geheim99">u</userid></person></enterprise>`,
		// Inside a userid element: its text and any tag in it.
		`<enterprise><person><userid>Geheim99</Geheim99></userid></person></enterprise>`,
		`<enterprise><person><userid>a<Geheim99 x=1/></userid></person></enterprise>`,
		`<enterprise><person><userid>a<Geheim99&gt;</x></userid></person></enterprise>`,
	} {
		e := mustFail(t, head+in, Options{})
		if strings.Contains(e.Error(), "Geheim99") {
			t.Errorf("%s\n  error quotes the secret: %v", in, e)
		}
	}
}

func TestQuotedInputIsCutShort(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 500)
	for _, in := range []string{
		`<enterprise><person a="1" ` + long + `></person></enterprise>`,
		`<enterprise><person>` + "<" + long + "></" + long + "x></person></enterprise>",
		`<` + long + `/>`,
	} {
		e := mustFail(t, head+in, Options{})
		if strings.Contains(e.Msg, strings.Repeat("x", 41)) || !strings.Contains(e.Msg, "…") {
			t.Errorf("error not cut short: %.200s", e.Msg)
		}
	}
	// A warning quoting a bad value is cut short too.
	_, res, err := readBytes(t, []byte(head+`<enterprise><person recstatus="`+long+`"><sourcedid><id>P</id></sourcedid></person></enterprise>`), "f.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || len(res.Warnings[0].Message) > 200 {
		t.Errorf("warnings %v", res.Warnings)
	}
}

func TestExtensionPasswordIsNotStored(t *testing.T) {
	t.Parallel()
	in := head + `<enterprise><person><sourcedid><id>P</id></sourcedid>` +
		`<extension><userid password="Geheim99" PassWord2="Geheim98" pwd="Geheim97" useridtype="x">u</userid><x passwd="Geheim96"/></extension></person></enterprise>`
	maps := []Mapping{{Name: "any", Type: record.Persons, XPath: "string(extension/userid/@*[1])"},
		{Name: "all", Type: record.Persons, XPath: "string(extension/x/@*)"}}
	c, _, err := readBytes(t, []byte(in), "f.xml", Options{Mappings: maps})
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprintf("%+v", c.persons[0].Attrs)
	if strings.Contains(s, "Geheim") || !strings.Contains(s, "extension.userid@useridtype") {
		t.Errorf("attrs %s", s)
	}
}

func TestPasswordMappingIsRefused(t *testing.T) {
	t.Parallel()
	for _, xp := range []string{"string(userid/@password)", "extension/userid/@PassWd", "userid/attribute::pwd"} {
		err := ValidateMapping(xp)
		if err == nil || !strings.Contains(err.Error(), "password") {
			t.Errorf("%s: %v", xp, err)
		}
	}
	if err := ValidateMapping("string(extension/passing_grade)"); err != nil {
		t.Errorf("an element named like a password is fine: %v", err)
	}
}

func TestUnknownEnterpriseChildIsWarnedPerName(t *testing.T) {
	t.Parallel()
	in := head + "<enterprise>\n<comments>c</comments>\n" + person("P1") + "\n<pers0n/>\n<pers0n/>\n<groupp></groupp>\n</enterprise>"
	_, res, err := readBytes(t, []byte(in), "f.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range res.Warnings {
		got = append(got, fmt.Sprintf("%d:%d %s", w.Line, w.Column, w.Message))
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "5:1 ") || !strings.Contains(got[0], "<pers0n>") || !strings.Contains(got[0], "2 times") ||
		!strings.Contains(got[1], "<groupp>") {
		t.Errorf("warnings %q", got)
	}
}

func TestUnknownElementWithSourcedidFailsASnapshot(t *testing.T) {
	t.Parallel()
	misspelt := "\n<pers0n><sourcedid><id>P2</id></sourcedid></pers0n>"
	in := head + "<enterprise>\n" + person("P1") + misspelt + misspelt + "\n</enterprise>"
	for _, opts := range []Options{{}, {Mode: ModeSnapshot}, {Mode: ModeAuto}} {
		e := mustFail(t, in, opts)
		if e.Line != 4 || e.Column != 1 || !strings.Contains(e.Msg, "<pers0n>") || !strings.Contains(e.Msg, "sourcedid") {
			t.Errorf("mode %q: %v", opts.Mode, e)
		}
	}
	// auto resolving to delta, and event mode: a warning only.
	delta := strings.Replace(in, "<enterprise>", "<enterprise><properties><type>delta</type></properties>", 1)
	for _, tc := range []struct {
		in   string
		mode Mode
	}{{delta, ModeAuto}, {in, ModeEvent}} {
		_, res, err := readBytes(t, []byte(tc.in), "f.xml", Options{Mode: tc.mode})
		if err != nil || len(res.Warnings) != 1 {
			t.Errorf("%s: %v %v", tc.mode, err, res)
		}
	}
}

func TestUTF8DeclaredAsSingleByteFails(t *testing.T) {
	t.Parallel()
	for _, label := range []string{"ISO-8859-1", "WINDOWS-1252", "iso-8859-15"} {
		in := accented(t, label) // UTF-8 bytes under a single-byte declaration
		e := mustFail(t, in, Options{})
		if !strings.Contains(e.Msg, "UTF-8") || !strings.Contains(e.Msg, label) || e.Line == 0 {
			t.Errorf("%s: %v", label, e)
		}
		c, _, err := readBytes(t, []byte(in), "f.xml", Options{Encoding: "utf-8"})
		if err != nil {
			t.Fatalf("%s with encoding utf-8: %v", label, err)
		}
		if !strings.Contains(dump(c, nil), "Shikalislämi") {
			t.Errorf("%s with encoding utf-8: names not read as UTF-8", label)
		}
	}
	// A real ISO-8859-1 file still reads.
	b, _ := charmap.ISO8859_1.NewEncoder().Bytes([]byte(accented(t, "ISO-8859-1")))
	if _, _, err := readBytes(t, b, "f.xml", Options{}); err != nil {
		t.Error(err)
	}
	if _, _, err := readBytes(t, b, "f.xml", Options{Encoding: "latin-2"}); err == nil {
		t.Error("unknown encoding override accepted")
	}
}

func TestTooManyAttributesFailAtTheirLine(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(head + "<enterprise>\n<person")
	for i := 0; i < 40000; i++ {
		fmt.Fprintf(&b, " a%d=\"\"", i)
	}
	b.WriteString("/></enterprise>")
	e := mustFail(t, b.String(), Options{})
	if e.Line != 3 || !strings.Contains(e.Msg, "attributes") || !strings.Contains(e.Msg, "max_attributes") {
		t.Errorf("%v", e)
	}
	// Raised, the duplicate check stays correct (and linear: see BenchmarkManyAttributes).
	s := strings.Replace(b.String(), "/></enterprise>", ` a17="x"/></enterprise>`, 1)
	e = mustFail(t, s, Options{MaxAttributes: 100000})
	if !strings.Contains(e.Msg, `"a17" repeated`) {
		t.Errorf("%v", e)
	}
}

func TestLongTextNodeFailsAtItsStart(t *testing.T) {
	t.Parallel()
	in := head + "<enterprise>\n<person><sourcedid><id>P</id></sourcedid><name><fn>" + strings.Repeat("é", 1<<20) + "</fn></name></person></enterprise>"
	e := mustFail(t, in, Options{MaxTextSize: 1 << 20})
	if e.Line != 3 || e.Column != 52 || !strings.Contains(e.Msg, "max_text_size") {
		t.Errorf("%v", e)
	}
	e = mustFail(t, head+`<enterprise><person a="`+strings.Repeat("x", 2000)+`"/></enterprise>`, Options{MaxTextSize: 1000})
	if !strings.Contains(e.Msg, "max_text_size") {
		t.Errorf("attribute value: %v", e)
	}
}

func TestLargeRecordFailsAtItsStart(t *testing.T) {
	t.Parallel()
	in := head + "<enterprise>\n" + person("P1") + "\n<person>" + strings.Repeat("<a>x</a>", 200000) + "</person></enterprise>"
	e := mustFail(t, in, Options{MaxRecordSize: 1 << 20})
	if e.Line != 4 || e.Column != 1 || !strings.Contains(e.Msg, "max_record_size") {
		t.Errorf("%v", e)
	}
	// A large membership is read one member at a time: it passes.
	var b strings.Builder
	b.WriteString(head + "<enterprise><membership><sourcedid><id>G</id></sourcedid>")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, `<member><sourcedid><id>P%d</id></sourcedid><role roletype="01"/></member>`, i)
	}
	b.WriteString("</membership></enterprise>")
	if _, _, err := readBytes(t, []byte(b.String()), "f.xml", Options{MaxRecordSize: 1 << 20}); err != nil {
		t.Error(err)
	}
}

// hugeText streams a file whose one text node is n bytes, without holding it.
type hugeText struct {
	pre, post string
	n, off    int
}

func (h *hugeText) Read(b []byte) (int, error) {
	total := len(h.pre) + h.n + len(h.post)
	if h.off >= total {
		return 0, io.EOF
	}
	i := 0
	for i < len(b) && h.off < total {
		switch {
		case h.off < len(h.pre):
			b[i] = h.pre[h.off]
		case h.off < len(h.pre)+h.n:
			b[i] = 'x'
		default:
			b[i] = h.post[h.off-len(h.pre)-h.n]
		}
		i++
		h.off++
	}
	return i, nil
}

func TestHugeTextNodeStaysSmallInMemory(t *testing.T) {
	// Not parallel: it measures allocation.
	r := &hugeText{pre: head + "<enterprise><person><sourcedid><id>", n: 200 << 20, post: "</id></sourcedid></person></enterprise>"}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Read(t.Context(), r, "f.xml", Options{}, &collect{})
	runtime.ReadMemStats(&after)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "max_text_size") {
		t.Fatalf("got %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MB for a text node over the limit", alloc>>20)
	}
}

func TestTruncatedFileSaysWhereItEnds(t *testing.T) {
	t.Parallel()
	full := head + "<enterprise>\n" + person("P1") + "\n<person><institutionrole institutionroletype=\"Student\" primaryrole=\"Yes\"/></person>\n</enterprise>"
	for _, cut := range []string{
		`<institutionrole institutionroletyp`,
		`<institutionrole institutionroletype="Stu`,
		`<institutionrole institutionroletype=`,
		`<institutionrole `,
		`<institutionr`,
		`<`,
		`</person>` + "\n",
		`</person>` + "\n</enter",
		`N P1</`,
		`N P`,
		`<!-- c`,
	} {
		in := full
		if cut == `<!-- c` {
			in = strings.Replace(full, "<person><inst", "<!-- comment --><person><inst", 1)
		}
		i := strings.Index(in, cut)
		if i < 0 {
			t.Fatalf("%q not in the file", cut)
		}
		in = in[:i+len(cut)]
		e := mustFail(t, in, Options{})
		lines := strings.Split(in, "\n")
		wantLine, wantCol := len(lines), utf8.RuneCountInString(lines[len(lines)-1])+1
		if e.Msg != "the file ends before </enterprise> (truncated?)" || e.Line != wantLine || e.Column != wantCol {
			t.Errorf("cut after %q: got %d:%d %q, want %d:%d", cut, e.Line, e.Column, e.Msg, wantLine, wantCol)
		}
	}
}

func TestDuplicateKeySaysWhereItFirstWas(t *testing.T) {
	t.Parallel()
	in := head + "<enterprise>\n" + person("P1") + "\n" + person("P2") + "\n" + person("P1") + "</enterprise>"
	e := mustFail(t, in, Options{})
	if e.Line != 5 || !strings.Contains(e.Msg, "first at line 3") {
		t.Errorf("%v", e)
	}
	in = head + "<enterprise>\n<membership><sourcedid><id>G</id></sourcedid>\n<member><sourcedid><id>P</id></sourcedid><role roletype=\"Learner\"/></member>\n<member><sourcedid><id>P</id></sourcedid>\n<role roletype=\"01\"/></member></membership></enterprise>"
	e = mustFail(t, in, Options{})
	if e.Line != 6 || !strings.Contains(e.Msg, "first at line 4") {
		t.Errorf("%v", e)
	}
}

func TestFailedReadReportsWhatItReadBeforeTheError(t *testing.T) {
	t.Parallel()
	in := head + "<enterprise>\n" + manyPersons(3) + "<group><sourcedid><id>G</id></sourcedid></group>\n<person><a b=1/></person></enterprise>"
	_, res, err := readBytes(t, []byte(in), "f.xml", Options{})
	if err == nil || res == nil {
		t.Fatalf("res %v err %v", res, err)
	}
	if res.Counts != [4]int{3, 1, 0} {
		t.Errorf("counts %v", res.Counts)
	}
}

// BenchmarkManyAttributes: the duplicate-attribute check is linear in the attributes of a tag.
func BenchmarkManyAttributes(b *testing.B) {
	var s strings.Builder
	s.WriteString(head + "<enterprise><person")
	for i := 0; i < 40000; i++ {
		fmt.Fprintf(&s, " a%d=\"\"", i)
	}
	s.WriteString("><sourcedid><id>P</id></sourcedid></person></enterprise>")
	in := []byte(s.String())
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := readBytes(b, in, "f.xml", Options{MaxAttributes: 1 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}
