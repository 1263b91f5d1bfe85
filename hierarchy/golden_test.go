package hierarchy_test

import (
	"context"
	"flag"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

type groups []*record.Group

func (g *groups) Person(*record.Person) error         { return nil }
func (g *groups) Membership(*record.Membership) error { return nil }
func (g *groups) Group(x *record.Group) error         { *g = append(*g, x); return nil }

// tree draws groups as an indented tree, each under every parent it has; a parent that is no
// group of the list is shown as "?KEY".
func tree(gs []*record.Group) string {
	byKey := map[string]*record.Group{}
	children := map[string][]string{}
	var tops []string
	for _, g := range gs {
		byKey[g.Key] = g
	}
	for _, g := range gs {
		if len(g.Parents) == 0 {
			tops = append(tops, g.Key)
		}
		for _, p := range g.Parents {
			if byKey[p] == nil {
				p = "?" + p
				if children[p] == nil {
					tops = append(tops, p)
				}
			}
			children[p] = append(children[p], g.Key)
		}
	}
	var b strings.Builder
	var draw func(key string, depth int)
	draw = func(key string, depth int) {
		b.WriteString(strings.Repeat("  ", depth) + key)
		if g := byKey[key]; g != nil {
			b.WriteString("  " + g.Name)
			if g.Source == hierarchy.Source {
				b.WriteString("  [imsfeed]")
			}
		}
		b.WriteString("\n")
		kids := children[key]
		sort.Strings(kids)
		for _, c := range kids {
			draw(c, depth+1)
		}
	}
	sort.Strings(tops)
	for _, k := range tops {
		draw(k, 0)
	}
	return b.String()
}

// TestSchoolGolden: a small school owner's file, its tree as the file gives it and after
// placement by the rules a tenant would write (testdata/school.golden; refresh with -update).
func TestSchoolGolden(t *testing.T) {
	f, err := os.Open("testdata/school.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// School, then grade; a class with no grade goes under its school.
	level3 := "grouptype/typevalue/@level = '3'"
	rules := []hierarchy.Rule{
		{Types: []string{"Class"}, Under: hierarchy.Path{"x.school_code", "x.grade"}, Name: hierarchy.Path{"x.school_name", "x.grade_name"}, Where: level3},
		{Types: []string{"Class"}, Under: hierarchy.Path{"x.school_code"}, Name: hierarchy.Path{"x.school_name"}, Where: level3}}
	var gs groups
	_, err = ims.Read(context.Background(), f, "school.xml", ims.Options{Mappings: []ims.Mapping{
		{Name: "school_code", Type: record.Groups, XPath: "string(extension/schoolcode)"},
		{Name: "school_name", Type: record.Groups, XPath: "string(extension/schoolname)"},
		{Name: "grade", Type: record.Groups, XPath: "string(extension/grade)"},
		{Name: "grade_name", Type: record.Groups, XPath: "string(extension/gradename)"},
		{Name: hierarchy.WhereName(0), Type: record.Groups, XPath: rules[0].Where},
		{Name: hierarchy.WhereName(1), Type: record.Groups, XPath: rules[1].Where},
	}}, &gs)
	if err != nil {
		t.Fatal(err)
	}
	got := "# as the file gives it\n" + tree(gs)
	res, err := hierarchy.Place(gs, hierarchy.Rules{
		Unplaced: &hierarchy.Node{Key: "imsfeed-unplaced", Name: "Unplaced groups"},
		Place:    rules,
		Year:     &hierarchy.Node{Key: "school-year-2026-27", Name: "School year 2026-27"},
		Archive:  &hierarchy.Node{Key: "imsfeed-archive", Name: "Courses archive"},
		IsCourse: func(ts []record.GroupType) bool { return len(ts) > 0 && ts[0].Value == "Course" },
	})
	if err != nil {
		t.Fatal(err)
	}
	got += "\n# placed\n" + tree(append(gs, res.Nodes...))
	if *update {
		if err := os.WriteFile("testdata/school.golden", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/school.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("placement differs from testdata/school.golden (go test -update rewrites it):\n%s", got)
	}
}
