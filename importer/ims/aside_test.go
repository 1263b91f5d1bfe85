package ims

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// The importer reads with Options.Aside: the records are built on a goroutine of their own.
// readBytes (helpers_test.go) reads every test's input both ways and compares; these tests
// add what the others do not reach: warnings of both goroutines mixed, an error of each, a
// feed of many batches, a large record, and a handler's error.

// TestAsideKeepsWarningsInFileOrder: the scanner's warnings (a repaired '&', text inside
// <enterprise>) and the builder's (a skipped person, an empty membership) come in the order
// of the file, as they do without Aside.
func TestAsideKeepsWarningsInFileOrder(t *testing.T) {
	t.Parallel()
	doc := head + "<enterprise>\n" +
		"<person><sourcedid><id>A&B</id></sourcedid><name><fn>x</fn></name></person>\n" + // 3: repaired
		"<person><name><fn>no key</fn></name></person>\n" + // 4: skipped
		"<person><sourcedid><id>C</id></sourcedid><name><fn>R&D</fn></name></person>\n" + // 5: repaired
		"stray text\n" + // warned where it ends, line 7
		"<membership><sourcedid><id>G</id></sourcedid></membership>\n" + // 7: empty
		"<person recstatus=\"9\"><sourcedid><id>D&amp;</id></sourcedid></person>\n" + // 8: skipped
		"<person><sourcedid><id>E&F</id></sourcedid></person>\n" + // 9: repaired
		"</enterprise>\n"
	for _, aside := range []bool{false, true} {
		_, res, err := readBytes(t, []byte(doc), "f.xml", Options{Lenient: true, Aside: aside})
		if err != nil {
			t.Fatal(err)
		}
		var lines []int
		for _, w := range res.Warnings {
			lines = append(lines, w.Line)
		}
		if got, want := fmt.Sprint(lines), "[3 4 5 7 7 8 9]"; got != want {
			t.Errorf("Aside %v: warnings at lines %s, want %s: %v", aside, got, want, res.Warnings)
		}
	}
}

// TestAsideErrorIsTheFirstInTheFile: a duplicate key (found by the builder) before a broken
// tag (found by the scanner, which reads on meanwhile) fails the read at the duplicate, with
// only the warnings and counts before it, as without Aside.
func TestAsideErrorIsTheFirstInTheFile(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(head + "<enterprise>\n")
	b.WriteString(person("P1") + "\n" + person("P1") + "\n") // lines 3, 4
	for i := range 3000 {                                    // past a few batches
		b.WriteString(strings.Replace(person(fmt.Sprint("Q", i)), "</person>", "<email>a&b</email></person>", 1) + "\n")
	}
	b.WriteString("<person><sourcedid><id>bad</id></sourcedid></persn>\n</enterprise>\n")
	for _, aside := range []bool{false, true} {
		_, res, err := readBytes(t, []byte(b.String()), "f.xml", Options{Lenient: true, Aside: aside})
		var e *Error
		if !errors.As(err, &e) || e.Line != 4 || !strings.Contains(e.Msg, "duplicate person key") {
			t.Fatalf("Aside %v: %v, want the duplicate at line 4", aside, err)
		}
		if res.Counts[record.Persons] != 1 || len(res.Warnings) != 0 {
			t.Errorf("Aside %v: counts %v and %d warnings, want the one person before the duplicate and none", aside, res.Counts, len(res.Warnings))
		}
	}
}

// TestAsideReadsAFeedAsItIs: a generated feed (persons with relations, groups, memberships
// over many batches) and a person larger than a batch give the same records, hashes and
// result both ways.
func TestAsideReadsAFeedAsItIs(t *testing.T) {
	t.Parallel()
	var gen bytes.Buffer
	if err := feedgen.Write(&gen, feedgen.Options{Persons: 3000, Groups: 100, MembersPerGroup: 40, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	large := `<person><sourcedid><id>LARGE</id></sourcedid><name><fn>` + strings.Repeat("x", 3*asideBig) + `</fn></name></person>`
	doc := strings.Replace(gen.String(), "<person>", large+"<person>", 1)
	mentor := []Mapping{{Name: "mentor", Type: record.Relations, XPath: "extension/mentor"}}
	c, res, err := readBytes(t, []byte(doc), "gen.xml", Options{Aside: true, Mappings: mentor})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.persons) != 3001 || c.persons[0].Key != "LARGE" || len(c.memberships) != res.Counts[record.Memberships] || len(c.memberships) < 3000 {
		t.Fatalf("read %d persons (first %s), %d memberships, counts %v", len(c.persons), c.persons[0].Key, len(c.memberships), res.Counts)
	}
	for _, m := range c.memberships {
		if m.Hash == (record.Hash{}) {
			t.Fatalf("membership %v has no content hash", m.MembershipKey)
		}
	}
}

// stopAt fails at the n-th membership and counts what it was given.
type stopAt struct {
	collect
	n int
}

func (s *stopAt) Membership(m *record.Membership) error {
	if len(s.memberships) == s.n {
		return errStop
	}
	return s.collect.Membership(m)
}

// TestAsideHandlerErrorStopsTheRead: the handler's error, on the builder's goroutine, is
// Read's, naming the record's place, and no record after it reaches the handler.
func TestAsideHandlerErrorStopsTheRead(t *testing.T) {
	t.Parallel()
	var gen bytes.Buffer
	if err := feedgen.Write(&gen, feedgen.Options{Persons: 2000, Groups: 50, MembersPerGroup: 40, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	var errs [2]string
	for i, aside := range []bool{false, true} {
		h := &stopAt{n: 1500}
		_, err := Read(context.Background(), bytes.NewReader(gen.Bytes()), "gen.xml", Options{Aside: aside}, h)
		if !errors.Is(err, errStop) || len(h.memberships) != 1500 {
			t.Fatalf("Aside %v: %v after %d memberships, want the handler's error after 1500", aside, err, len(h.memberships))
		}
		errs[i] = err.Error()
	}
	if errs[0] != errs[1] || !strings.Contains(errs[0], "gen.xml:") {
		t.Errorf("the error without Aside %q, with it %q", errs[0], errs[1])
	}
}
