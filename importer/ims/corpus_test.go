package ims

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden")

// TestCorpus reads every file of testdata/corpus (real exports, see its README). Counts were
// taken by hand with grep (<person>, <group>, <role> elements).
func TestCorpus(t *testing.T) {
	t.Parallel()
	type want struct {
		counts  [4]int
		errLine int    // > 0: rejected at this line
		errMsg  string // part of the error
		errKey  string // the record it names
	}
	cases := map[string]want{
		"colleague/ims-data.xml20120906143000.xml":        {errLine: 152, errMsg: "bare '&'", errKey: "15400"},
		"colleague/ims-data.xml20120906183000.xml":        {counts: [4]int{2, 0, 0}},
		"colleague/ims-data.xml20120907093000.xml":        {counts: [4]int{6, 3, 63}},
		"colleague/johan.xml":                             {counts: [4]int{1, 1, 1}},
		"colleague/one-course-no-student.xml":             {counts: [4]int{0, 1, 0}},
		"colleague/tol-data-2.xml":                        {counts: [4]int{2, 0, 0}},
		"lmbnxt/lmb_course.xml":                           {counts: [4]int{0, 1, 0}},
		"lmbnxt/lmb_data_member_student_unenrol.xml":      {counts: [4]int{0, 0, 1}},
		"lmbnxt/lmb_member_group.xml":                     {counts: [4]int{0, 0, 2}},
		"lmbnxt/lmb_person.xml":                           {counts: [4]int{1, 0, 0}},
		"lmbnxt/lmb_person_member.xml":                    {counts: [4]int{0, 0, 3}},
		"lmbnxt/lmb_section.xml":                          {counts: [4]int{0, 1, 0}},
		"lmbnxt/lmb_term.xml":                             {counts: [4]int{0, 1, 0}},
		"moodle/example-grouped.xml":                      {counts: [4]int{5, 1, 5}},
		"moodle/example-oneline.xml":                      {counts: [4]int{5, 1, 5}},
		"moodle/example.xml":                              {counts: [4]int{5, 1, 5}},
		"openacs-core/imsent_bestv1p1_sample_1404584.xml": {counts: [4]int{3, 0, 0}},
		"vigobas-ims-ma/ims_epv1p1.xsd":                   {errLine: 2, errMsg: "not <enterprise>"},
	}
	files, err := filepath.Glob("testdata/corpus/*/*")
	if err != nil || len(files) != len(cases) {
		t.Fatalf("corpus has %d files, the table %d: keep them in step (%v)", len(files), len(cases), err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel("testdata/corpus", f)
		w, ok := cases[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("%s: not in the table", rel)
			continue
		}
		c, res, err := readFile(t, f, Options{})
		if w.errLine > 0 {
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%s: want an *Error at line %d, got %v", rel, w.errLine, err)
				continue
			}
			if e.Line != w.errLine || !strings.Contains(e.Msg, w.errMsg) || e.File != f || e.Key != w.errKey {
				t.Errorf("%s: got %v, want line %d, record %q, with %q", rel, err, w.errLine, w.errKey, w.errMsg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		got := [4]int{len(c.persons), len(c.groups), len(c.memberships)}
		if got != w.counts || res.Counts != w.counts {
			t.Errorf("%s: handed %v, counted %v, want %v", rel, got, res.Counts, w.counts)
		}
	}
}

func TestColleagueLenient(t *testing.T) {
	t.Parallel()
	c, res, err := readFile(t, "testdata/corpus/colleague/ims-data.xml20120906143000.xml", Options{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.persons) != 0 || len(c.groups) != 18 || len(c.memberships) != 655 {
		t.Fatalf("got %d persons, %d groups, %d memberships; want 0, 18, 655", len(c.persons), len(c.groups), len(c.memberships))
	}
	var repairs []int
	for _, w := range res.Warnings {
		if strings.Contains(w.Message, "bare '&'") {
			repairs = append(repairs, w.Line)
		}
	}
	if len(repairs) == 0 || repairs[0] != 152 {
		t.Fatalf("repair warnings at lines %v, want the first at 152", repairs)
	}
	for _, g := range c.groups {
		if g.Key == "15400" && g.Attrs.Get("description.long") != "Ethics & Governance (GM 4405 C2 (2012FA))" {
			t.Errorf("repaired title = %q", g.Attrs.Get("description.long"))
		}
	}
}

// TestGolden pins the records read from a few corpus files. Refresh with go test -update.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, f := range []string{
		"moodle/example-grouped.xml",
		"lmbnxt/lmb_person.xml",
		"lmbnxt/lmb_person_member.xml",
		"lmbnxt/lmb_member_group.xml",
		"lmbnxt/lmb_section.xml",
		"openacs-core/imsent_bestv1p1_sample_1404584.xml",
		"colleague/one-course-no-student.xml",
		"colleague/johan.xml",
	} {
		c, res, err := readFile(t, filepath.Join("testdata/corpus", f), Options{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		got := dump(c, res)
		golden := filepath.Join("testdata/golden", strings.ReplaceAll(f, "/", "_")+".golden")
		if *update {
			if err := os.MkdirAll("testdata/golden", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n%s", f, golden, diffLines(string(want), got))
		}
	}
}

// diffLines shows the first differing lines.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("- " + a + "\n+ " + c + "\n")
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}
