package ims

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/imsfeed/imsfeed/record"
)

// accented returns a corpus file with non-ASCII names, as UTF-8 with the given declaration.
func accented(t *testing.T, encodingLabel string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/corpus/moodle/example-grouped.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `encoding="ISO-8859-1"`, `encoding="`+encodingLabel+`"`, 1)
	s = strings.ReplaceAll(s, "Shikalislami", "Shikalislämi")
	s = strings.ReplaceAll(s, "PIOTROWSKA", "PIOTRÓWSKA")
	s = strings.ReplaceAll(s, "Phrenology", "Phrénologie ½")
	return s
}

func TestEncodings(t *testing.T) {
	t.Parallel()
	ref, refRes, err := readBytes(t, []byte(accented(t, "UTF-8")), "ref.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := dump(ref, refRes)
	if !strings.Contains(want, "Shikalislämi") || !strings.Contains(want, "Phrénologie ½") {
		t.Fatalf("reference lost its accents:\n%s", want)
	}
	utf16 := func(order unicode.Endianness) func(string) []byte {
		return func(s string) []byte {
			b, err := unicode.UTF16(order, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	charmapEnc := func(cm *charmap.Charmap) func(string) []byte {
		return func(s string) []byte {
			b, err := cm.NewEncoder().Bytes([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	for _, tc := range []struct {
		label  string
		encode func(string) []byte
	}{
		{"ISO-8859-1", charmapEnc(charmap.ISO8859_1)},
		{"iso-8859-1", charmapEnc(charmap.ISO8859_1)},
		{"WINDOWS-1252", charmapEnc(charmap.Windows1252)},
		{"UTF-16", utf16(unicode.LittleEndian)},
		{"UTF-16", utf16(unicode.BigEndian)},
		{"UTF-8", func(s string) []byte { return append([]byte{0xEF, 0xBB, 0xBF}, s...) }},
	} {
		in := tc.encode(accented(t, tc.label))
		if bytes.Equal(in, []byte(accented(t, tc.label))) {
			t.Fatalf("%s: encoding changed nothing", tc.label)
		}
		c, res, err := readBytes(t, in, tc.label+".xml", Options{})
		if err != nil {
			t.Errorf("%s: %v", tc.label, err)
			continue
		}
		// Same records, same positions (columns count characters, not bytes).
		if got := dump(c, res); got != want {
			t.Errorf("%s (%x...): records differ:\n%s", tc.label, in[:4], diffLines(want, got))
		}
	}
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	b, _ := os.ReadFile("testdata/corpus/moodle/example-grouped.xml")
	ref, _, err := readBytes(t, b, "plain.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	def := strings.Replace(s, "<enterprise>", `<enterprise xmlns="http://www.imsglobal.org/xsd/imsep_rootv1p01" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="x y">`, 1)
	// every element with a prefix
	pre := strings.NewReplacer("<enterprise>", `<ims:enterprise xmlns:ims="urn:x">`, "</", "</ims:", "<", "<ims:").Replace(s)
	pre = strings.ReplaceAll(pre, "<ims:?xml", "<?xml")
	pre = strings.ReplaceAll(pre, "<ims:!--", "<!--")
	pre = strings.ReplaceAll(pre, "</ims:ims:", "</ims:")
	pre = strings.Replace(pre, `<ims:ims:enterprise xmlns:ims="urn:x">`, `<ims:enterprise xmlns:ims="urn:x">`, 1)
	for name, in := range map[string]string{"default": def, "prefixed": pre} {
		c, _, err := readBytes(t, []byte(in), name+".xml", Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if dump(c, nil) != dump(ref, nil) {
			t.Errorf("%s: records differ:\n%s", name, diffLines(dump(ref, nil), dump(c, nil)))
		}
	}
}

// TestTruncatedNeverComplete cuts a small file at every byte: no prefix that ends before
// </enterprise> is read as a complete export.
func TestTruncatedNeverComplete(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"colleague/johan.xml", "lmbnxt/lmb_person_member.xml", "moodle/example-oneline.xml"} {
		b, _ := os.ReadFile("testdata/corpus/" + f)
		end := bytes.LastIndex(b, []byte("</enterprise>")) + len("</enterprise>")
		for i := 0; i < end; i++ {
			_, _, err := readBytes(t, b[:i], f, Options{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s cut at byte %d of %d: got %v, want an *Error", f, i, len(b), err)
			}
			if i > 0 && e.Line == 0 {
				t.Fatalf("%s cut at %d: error without a line: %v", f, i, err)
			}
		}
		if _, _, err := readBytes(t, b[:end], f, Options{}); err != nil {
			t.Fatalf("%s up to </enterprise>: %v", f, err)
		}
	}
}

func TestPasswordsNeverInClear(t *testing.T) {
	t.Parallel()
	b, _ := os.ReadFile("testdata/corpus/lmbnxt/lmb_person.xml")
	c, res, err := readBytes(t, b, "p.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := c.persons[0]
	if len(p.Secret) != 64 {
		t.Fatalf("Secret = %q, want a SHA-256 hex digest", p.Secret)
	}
	out := fmt.Sprintf("%s %+v %#v %+v", dump(c, res), *p, *p, *res)
	for _, pw := range []string{"012345", "234567", "456789", "678901", "890123"} {
		if strings.Contains(out, pw) {
			t.Errorf("password %s appears in the output", pw)
		}
	}
	// A changed password is an update: the hash differs.
	c2, _, err := readBytes(t, bytes.Replace(b, []byte(`password="012345"`), []byte(`password="999999"`), 1), "p.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.persons[0].Hash == p.Hash {
		t.Error("changing a password did not change the content hash")
	}
	// A broken file around a password does not quote it in the error.
	_, _, err = readBytes(t, []byte(`<enterprise><person><userid password="s3cr&t">x</userid></person></enterprise>`), "p.xml", Options{})
	if err == nil || strings.Contains(err.Error(), "s3cr") {
		t.Errorf("error %v", err)
	}
}

func TestHashIgnoresFormatting(t *testing.T) {
	t.Parallel()
	a, _, err := readFile(t, "testdata/corpus/moodle/example.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := readFile(t, "testdata/corpus/moodle/example-oneline.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.persons {
		if a.persons[i].Key != b.persons[i].Key || a.persons[i].Hash != b.persons[i].Hash {
			t.Errorf("person %s: hash differs between indented and one-line files", a.persons[i].Key)
		}
	}
}

const head = `<?xml version="1.0"?>` + "\n"

func person(key string) string {
	return `<person><sourcedid><id>` + key + `</id></sourcedid><name><fn>N ` + key + `</fn></name></person>`
}

// In event mode a delta with no records is a quiet night, not an error; in a snapshot (or an
// auto file that does not say delta) no records stays fatal.
func TestEmptyDeltaIsNotAnError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		mode     Mode
		fatal    bool
	}{
		{"event, properties only", head + "<enterprise><properties><datasource>SIS</datasource></properties></enterprise>", ModeEvent, false},
		{"event, empty root", head + "<enterprise/>", ModeEvent, false},
		{"auto, type delta", head + "<enterprise><properties><type>delta</type></properties></enterprise>", ModeAuto, false},
		{"auto, type full", head + "<enterprise><properties><type>full</type></properties></enterprise>", ModeAuto, true},
		{"auto, empty root", head + "<enterprise/>", ModeAuto, true},
		{"snapshot", head + "<enterprise><properties/></enterprise>", ModeSnapshot, true},
		{"event, empty file", "", ModeEvent, true},
	} {
		_, res, err := readBytes(t, []byte(tc.in), "f.xml", Options{Mode: tc.mode})
		if tc.fatal {
			if err == nil {
				t.Errorf("%s: no error, want fatal", tc.name)
			}
			continue
		}
		if err != nil || res.Mode != ModeEvent || res.Counts != [4]int{} {
			t.Errorf("%s: %v, result %+v; want an empty event file", tc.name, err, res)
		}
	}
}

func TestFatal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in  string
		opts      Options
		line, col int
		key, msg  string
	}{
		{"empty", "", Options{}, 1, 1, "", "empty file"},
		{"blank", "  \n \n", Options{}, 3, 1, "", "empty file"},
		{"no records", head + "<enterprise><properties/></enterprise>", Options{}, 2, 1, "", "no records"},
		{"empty root", head + "<enterprise/>", Options{}, 2, 1, "", "no records"},
		{"wrong root", head + "<html><person/></html>", Options{}, 2, 1, "", "not <enterprise>"},
		{"mismatch", head + "<enterprise>\n" + `<person><name></person>`, Options{}, 3, 15, "", "does not match <name>"},
		{"truncated", head + "<enterprise>\n" + person("P1"), Options{}, 3, 78, "", "the file ends before </enterprise> (truncated?)"},
		{"unquoted", head + "<enterprise>\n<person recstatus=1>", Options{}, 3, 19, "", "quoted"},
		{"dup attr", head + `<enterprise><person a="1" a="2"/></enterprise>`, Options{}, 2, 27, "", "repeated"},
		{"bad entity", head + "<enterprise>\n<person>a &nbsp; b</person></enterprise>", Options{}, 3, 11, "", "bare '&'"},
		{"bare & strict", head + "<enterprise>" + person("A & B") + "</enterprise>", Options{}, 2, 38, "", "bare '&'"},
		{"bare & after a person's key", head + "<enterprise>\n<person><sourcedid><id>P7</id></sourcedid><name><fn>A & B</fn></name></person></enterprise>", Options{}, 3, 55, "P7", "bare '&'"},
		{"bad byte after a group's key", head + "<enterprise>\n<group><sourcedid><source>S</source><id>G9</id></sourcedid><description><short>\x01</short></description></group></enterprise>", Options{Mode: ModeAuto}, 3, 80, "G9", "illegal character"},
		{"mismatch after a membership's group", head + "<enterprise>\n<membership><sourcedid><id>G2</id></sourcedid><member><sourcedid><id>P</id></sourcedid></role></member></membership></enterprise>", Options{}, 3, 88, "G2", "does not match <member>"},
		{"properties name no record", head + "<enterprise>" + person("P1") + "\n<properties><datasource>a & b</datasource></properties></enterprise>", Options{}, 3, 27, "", "bare '&'"},
		{"junk after root", head + "<enterprise>" + person("P1") + "</enterprise>\njunk", Options{}, 3, 1, "", "after the root"},
		{"two roots", head + "<enterprise>" + person("P1") + "</enterprise><enterprise/>", Options{}, 2, 103, "", "after the root"},
		{"encoding", `<?xml version="1.0" encoding="EBCDIC-US"?><enterprise/>`, Options{}, 1, 31, "", "unsupported encoding"},
		{"utf-16 without BOM", `<?xml version="1.0" encoding="UTF-16"?><enterprise/>`, Options{}, 1, 31, "", "byte order mark"},
		{"invalid utf-8", head + "<enterprise>" + person("\xff") + "</enterprise>", Options{}, 2, 36, "", "invalid UTF-8"},
		{"control char", head + "<enterprise>" + person("\x01") + "</enterprise>", Options{}, 2, 36, "", "illegal character"},
		{"dup person", head + "<enterprise>\n" + person("P1") + "\n" + person(" P1 ") + "</enterprise>", Options{}, 4, 1, "P1", "duplicate person key"},
		{"dup group", head + "<enterprise>\n<group><sourcedid><id>G</id></sourcedid></group>\n<group><sourcedid><id>G</id></sourcedid></group></enterprise>", Options{Mode: ModeAuto}, 4, 1, "G", "duplicate group key"},
		{"dup membership", head + "<enterprise>\n<membership><sourcedid><id>G</id></sourcedid>\n<member><sourcedid><id>P</id></sourcedid><role roletype=\"Learner\"/></member>\n<member><sourcedid><id>P</id></sourcedid>\n<role roletype=\"01\"/></member></membership></enterprise>", Options{}, 6, 1, "G/P/01", "duplicate membership"},
		{"too large", head + "<enterprise>" + manyPersons(100) + "</enterprise>", Options{MaxSize: 1000}, 0, 0, "", "size limit of 1000 bytes"},
		{"xml decl late", "\n" + head + "<enterprise/>", Options{}, 2, 1, "", "XML declaration"},
		{"cdata unclosed", head + "<enterprise><person><![CDATA[x", Options{}, 2, 31, "", "truncated"},
		{"comment dashes", head + "<enterprise><!-- a -- b --></enterprise>", Options{}, 2, 20, "", "'--'"},
	} {
		_, _, err := readBytes(t, []byte(tc.in), "f.xml", tc.opts)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %v, want *Error", tc.name, err)
			continue
		}
		if (tc.line > 0 && (e.Line != tc.line || e.Column != tc.col)) || e.Key != tc.key || !strings.Contains(e.Msg, tc.msg) || e.File != "f.xml" {
			t.Errorf("%s: got %q (line %d col %d key %q), want %d:%d key %q msg %q", tc.name, err, e.Line, e.Column, e.Key, tc.line, tc.col, tc.key, tc.msg)
		}
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{"f.xml", 3, 9, "P1", "bad"}, "f.xml:3:9: record P1: bad"},
		{Error{"f.xml", 3, 9, "", "bad"}, "f.xml:3:9: bad"},
		{Error{"f.xml", 0, 0, "", "bad"}, "f.xml: bad"},
		{Error{"", 0, 0, "", "bad"}, "bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestLenientRepairs(t *testing.T) {
	t.Parallel()
	in := head + "<enterprise>\n" + person("A & B") + "\n</enterprise>\n\x00garbage <x>"
	c, res, err := readBytes(t, []byte(in), "f.xml", Options{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.persons) != 1 || c.persons[0].Key != "A & B" {
		t.Fatalf("persons %+v", c.persons)
	}
	if len(res.Warnings) != 3 || res.Warnings[0].Line != 3 || res.Warnings[0].Column != 26 || res.Warnings[2].Line != 5 {
		t.Fatalf("warnings %+v, want two '&' repairs on line 3 (id and fn) and the junk on line 5", res.Warnings)
	}
	// Lenient mode still rejects a truncated file.
	if _, _, err := readBytes(t, []byte(head+"<enterprise>"+person("A")), "f.xml", Options{Lenient: true}); err == nil {
		t.Fatal("truncated file accepted in lenient mode")
	}
}

func TestEntitiesAndCDATA(t *testing.T) {
	t.Parallel()
	in := head + `<enterprise><person><sourcedid><id>&#80;&#x31;</id></sourcedid><name><fn>&lt;A&gt; &amp; &apos;B&quot; <![CDATA[<C> & D]]></fn></name></person></enterprise>`
	c, _, err := readBytes(t, []byte(in), "f.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.persons[0]; p.Key != "P1" || p.Name != `<A> & 'B" <C> & D` {
		t.Fatalf("key %q name %q", p.Key, p.Name)
	}
}

// TestDoctypeNeverFetched serves a DTD and an external entity on 127.0.0.1 and checks that the
// reader never asks for them.
func TestDoctypeNeverFetched(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `<!ENTITY ext "fetched">`)
	}))
	defer srv.Close()
	in := head + `<!DOCTYPE enterprise SYSTEM "` + srv.URL + `/ims.dtd" [ <!ENTITY ext SYSTEM "` + srv.URL + `/e"> <!ENTITY % p SYSTEM "` + srv.URL + `/p"> %p; ]>` +
		"\n<enterprise>" + person("P1") + "</enterprise>"
	c, res, err := readBytes(t, []byte(in), "f.xml", Options{})
	if err != nil || len(c.persons) != 1 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Message, "DOCTYPE ignored") {
		t.Fatalf("err %v persons %d warnings %+v", err, len(c.persons), res.Warnings)
	}
	_, _, err = readBytes(t, []byte(strings.Replace(in, "N P1", "&ext;", 1)), "f.xml", Options{})
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "unknown entity") {
		t.Fatalf("external entity reference: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the reader made %d HTTP requests", hits.Load())
	}
}

func TestRecordSemantics(t *testing.T) {
	t.Parallel()
	in := head + `<enterprise>
<properties><datasource> SIS </datasource><type>delta</type><datetime>2024-01-01</datetime></properties>
<person recstatus = " 2 "><sourcedid sourcedidtype="Old"><source>s</source><id>OLD1</id></sourcedid><sourcedid sourcedidtype="New"><source>sis</source><id>  NEW1  </id></sourcedid>
  <userid>plain</userid><userid useridtype="SchoolID" password="pw">S-1</userid>
  <name><n><given>Ann</given><family>Lee</family></n></name><email> ann@x.org </email></person>
<person><name><fn>No Key</fn></name></person>
<group><sourcedid><id>ROOT</id></sourcedid><relationship relation="1"><sourcedid><id>ROOT</id></sourcedid></relationship></group>
<group><sourcedid><id>C1</id></sourcedid><grouptype><scheme>x</scheme><typevalue level="1">Course</typevalue></grouptype>
  <description><long>Long name</long></description>
  <relationship relation="1"><sourcedid><id>ROOT</id></sourcedid></relationship><relationship relation="1"><sourcedid><id>S2</id></sourcedid></relationship>
  <relationship relation="1"><sourcedid><id>ROOT</id></sourcedid></relationship><relationship relation="2"><sourcedid><id>KID</id></sourcedid></relationship></group>
<membership><sourcedid><id>C1</id></sourcedid>
  <member><sourcedid><id>NEW1</id></sourcedid><idtype idtype="1"/><role roletype="Instructor"><status>1</status></role><role roletype="01" recstatus="3"><status>0</status><subrole>Primary</subrole></role><role roletype="99"/></member>
  <member><sourcedid><id>C2</id></sourcedid><idtype>2</idtype><role/></member>
  <member><sourcedid><id>P9</id></sourcedid><idtype>7</idtype><role roletype="01"/></member>
</membership>
</enterprise>`
	c, res, err := readBytes(t, []byte(in), "f.xml", Options{Mode: ModeAuto})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeEvent || res.Properties != (Properties{DataSource: "SIS", Type: "delta", DateTime: "2024-01-01"}) {
		t.Errorf("mode %s properties %+v", res.Mode, res.Properties)
	}
	p := c.persons[0]
	if p.Key != "NEW1" || p.Source != "sis" || p.RecStatus != record.StatusUpdate || p.Name != "Ann Lee" ||
		p.Attrs.Get("userid") != "plain" || p.Attrs.Get("userid.SchoolID") != "S-1" || p.Attrs.Get("email") != "ann@x.org" || p.Secret == "" {
		t.Errorf("person %+v", p)
	}
	if len(c.persons) != 1 || len(res.Skipped) != 3 {
		t.Fatalf("persons %d, skipped %+v", len(c.persons), res.Skipped)
	}
	if s := res.Skipped[0]; s.Type != record.Persons || s.Line != 7 {
		t.Errorf("skipped person %+v", s)
	}
	root, c1 := c.groups[0], c.groups[1]
	if !root.SelfParent || len(root.Parents) != 0 {
		t.Errorf("root %+v", root)
	}
	if c1.Name != "Long name" || fmt.Sprint(c1.Parents) != "[ROOT S2]" || c1.SelfParent || len(c1.Types) != 1 || c1.Types[0] != (record.GroupType{Scheme: "x", Value: "Course", Level: "1"}) {
		t.Errorf("C1 %+v", c1)
	}
	var got []string
	for _, m := range c.memberships {
		got = append(got, fmt.Sprintf("%s %d %d %v %s", m.MembershipKey, m.MemberType, m.RecStatus, m.Inactive, m.Attrs.Get("subrole")))
	}
	want := []string{"C1/NEW1/02 1 0 false ", "C1/NEW1/01 1 3 true Primary", "C1/C2/04 2 0 false "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("memberships\n got %q\nwant %q", got, want)
	}
	if s := res.Skipped[1]; s.Type != record.Memberships || s.Group != "C1" || s.Member != "NEW1" || s.Line != 14 {
		t.Errorf("unknown role skip %+v", s)
	}
	if s := res.Skipped[2]; s.Member != "P9" {
		t.Errorf("unknown idtype skip %+v", s)
	}
	if res.Counts != [4]int{1, 2, 3} {
		t.Errorf("counts %v", res.Counts)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	dup := head + "<enterprise><properties><type>%s</type></properties>" + person("P1") + person("P1") + "</enterprise>"
	for _, tc := range []struct {
		mode    Mode
		typ     string
		wantErr bool
		eff     Mode
	}{
		{"", "delta", true, ModeSnapshot},
		{ModeSnapshot, "delta", true, ModeSnapshot},
		{ModeEvent, "full", false, ModeEvent},
		{ModeAuto, "full", true, ModeSnapshot},
		{ModeAuto, "Delta", false, ModeEvent},
	} {
		c, res, err := readBytes(t, []byte(fmt.Sprintf(dup, tc.typ)), "f.xml", Options{Mode: tc.mode})
		if (err != nil) != tc.wantErr {
			t.Errorf("mode %q type %s: err %v", tc.mode, tc.typ, err)
			continue
		}
		if err == nil && (res.Mode != tc.eff || len(c.persons) != 2) {
			t.Errorf("mode %q type %s: effective %s, %d persons", tc.mode, tc.typ, res.Mode, len(c.persons))
		}
	}
	if _, err := Read(context.Background(), strings.NewReader(""), "f", Options{Mode: "nightly"}, &collect{}); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestMappings(t *testing.T) {
	t.Parallel()
	maps := []Mapping{
		{Name: "major", Type: record.Persons, XPath: "extension/luminisperson/academicmajor"},
		{Name: "logon", Type: record.Persons, XPath: `userid[@useridtype="Logon ID"]`},
		{Name: "roles", Type: record.Persons, XPath: "count(institutionrole)"},
		{Name: "none", Type: record.Persons, XPath: "nothing/here"},
		{Name: "grade", Type: record.Memberships, XPath: "member/role/extension/luminisrole/gradable"},
		{Name: "group", Type: record.Memberships, XPath: "string(sourcedid/id)"},
	}
	c, _, err := readFile(t, "testdata/corpus/lmbnxt/lmb_person.xml", Options{Mappings: maps})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, _ := readFile(t, "testdata/corpus/lmbnxt/lmb_person.xml", Options{})
	p := c.persons[0]
	if p.Attrs.Get("x.major") != "Undeclared" || p.Attrs.Get("x.logon") != "LoginIDUserid" || p.Attrs.Get("x.roles") != "5" {
		t.Errorf("mapped attrs %+v", p.Attrs)
	}
	for _, a := range p.Attrs {
		if a.Name == "x.none" {
			t.Error("an empty mapping result was stored")
		}
	}
	if p.Hash == plain.persons[0].Hash {
		t.Error("mapped attributes are not part of the hash")
	}
	m, _, err := readFile(t, "testdata/corpus/lmbnxt/lmb_person_member.xml", Options{Mappings: maps})
	if err != nil {
		t.Fatal(err)
	}
	var grades []string
	for _, ms := range m.memberships {
		grades = append(grades, ms.Member+"="+ms.Attrs.Get("x.grade")+"@"+ms.Attrs.Get("x.group"))
	}
	// Only the member's own role is in the tree: 1000001 has the gradable extension.
	if fmt.Sprint(grades) != "[1000002=@10001.201740 1000001=1@10001.201740 1000003=@10001.201740]" {
		t.Errorf("membership mappings %v", grades)
	}
	if _, err := Read(context.Background(), strings.NewReader(""), "f", Options{Mappings: []Mapping{{Name: "bad", XPath: "[[["}}}, &collect{}); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("bad xpath: %v", err)
	}
}

type failing struct{ collect }

var errStop = errors.New("disk full")

func (f *failing) Group(*record.Group) error { return errStop }

func TestHandlerErrorAndCancel(t *testing.T) {
	t.Parallel()
	_, err := Read(context.Background(), strings.NewReader(head+`<enterprise><group><sourcedid><id>G</id></sourcedid></group></enterprise>`), "f.xml", Options{}, &failing{})
	if !errors.Is(err, errStop) || !strings.Contains(err.Error(), "f.xml:2:13: record G") {
		t.Errorf("handler error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Read(ctx, strings.NewReader(head+"<enterprise>"+person("P")+"</enterprise>"), "f.xml", Options{}, &collect{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func manyPersons(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(person(fmt.Sprintf("P%d", i)))
	}
	return b.String()
}
