package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// withGroup adds a group element with no parent (a club the SIS does not place) to doc.
func withLooseGroup(doc, key string) string {
	g := `<group>
    <sourcedid><source>northside-sis</source><id>` + key + `</id></sourcedid>
    <grouptype><scheme>northside-sis</scheme><typevalue level="3">Club</typevalue></grouptype>
    <description><short>Chess club</short></description>
  </group>
  `
	i := strings.Index(doc, "<membership>")
	return doc[:i] + g + doc[i:]
}

func placeTenant(tn *config.Tenant) {
	tn.Courses = archive.CoursePolicy{Types: []string{"Course"}, Archive: true,
		ArchiveNode: &hierarchy.Node{Key: "imsfeed-archive", Name: "Courses archive"},
		Template:    map[string]string{"course": "tmpl-standard"}}
	tn.Hierarchy.Unplaced = &hierarchy.Node{Key: "imsfeed-unplaced", Name: "Unplaced groups"}
}

// TestPlacementOverNights: a loose group goes under hierarchy.unplaced (counted in the
// attention section), the node goes when nothing is left under it; an archived course moves
// under courses.archive_node and an archive restore puts it back under its parents from the
// file; a new course is created with its template. On both stores.
func TestPlacementOverNights(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, placeTenant)
		night4, night5 := demoNight(t, "night4.xml"), demoNight(t, "night5.xml")
		groups := func() map[string][]string {
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string][]string{}
			for k, g := range st.Groups {
				out[k] = g.Parents
			}
			return out
		}
		var plan *change.Plan
		r, err := e.im.ImportFile(ctx, e.tenant, e.write("n4.xml", []byte(withLooseGroup(night4, "CHESS"))),
			importer.ImportOptions{Plan: func(p *change.Plan) { plan = p }})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Completed)
		g := groups()
		if p := strings.Join(g["CHESS"], ","); p != "imsfeed-unplaced" {
			t.Errorf("CHESS is under %q, want imsfeed-unplaced", p)
		}
		if _, ok := g["imsfeed-unplaced"]; !ok {
			t.Error("the unplaced node was not created")
		}
		if _, ok := g["imsfeed-archive"]; !ok {
			t.Error("the archive node was not created")
		}
		if p := strings.Join(g["NS-ELM"], ","); p != "NSD" {
			t.Errorf("NS-ELM is under %q, want NSD from the file", p)
		}
		var notice string
		for _, n := range r.Attention {
			if n.Kind == importer.NoticeUnplaced {
				notice = n.Message
			}
		}
		if !strings.HasPrefix(notice, "1 groups have no parent in the file and were placed under \"imsfeed-unplaced\"") || !strings.Contains(notice, "CHESS") {
			t.Errorf("attention notice %q", notice)
		}
		templates := map[string]string{}
		for _, c := range plan.Groups {
			templates[c.Group.Key] = c.Group.Template
		}
		if templates["MATH5"] != "tmpl-standard" || templates["NS-ELM"] != "" || templates["imsfeed-archive"] != "" {
			t.Errorf("templates on insert: %v", templates)
		}
		if recs := storedTemplates(t, e, "MATH5", "NS-ELM"); recs["MATH5"] != "tmpl-standard" || recs["NS-ELM"] != "" {
			t.Errorf("stored templates: %v", recs)
		}

		// Night 5: CHESS is gone and DRAMA5 ends.
		r = e.imp(e.write("n5.xml", []byte(night5)))
		wantStatus(t, r, runs.Completed)
		g = groups()
		if _, ok := g["imsfeed-unplaced"]; ok {
			t.Error("the unplaced node stays with nothing under it")
		}
		if p := strings.Join(g["DRAMA5"], ","); p != "imsfeed-archive" {
			t.Errorf("archived DRAMA5 is under %q, want imsfeed-archive", p)
		}
		if r.Counts.Groups.Archived != 2 || r.Counts.Groups.Deleted != 2 {
			t.Errorf("night 5 groups: %+v; want 2 archived, CHESS and its node deleted", r.Counts.Groups)
		}

		// An archive restore: the next import puts DRAMA5 back under its parent from the file.
		if _, err := e.st.RestoreArchived(ctx, e.tenant.ID, []string{"DRAMA5"}, nil); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.imp(e.write("n4-again.xml", []byte(night4))), runs.Completed)
		if p := strings.Join(groups()["DRAMA5"], ","); p != "NS-ELM" {
			t.Errorf("restored DRAMA5 is under %q, want NS-ELM from the file", p)
		}
	})
}

func storedTemplates(t *testing.T, e *env, keys ...string) map[string]string {
	t.Helper()
	_, groups, err := e.st.StoredRecords(context.Background(), e.tenant.ID, nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, g := range groups {
		out[k] = g.Template
	}
	return out
}

// TestPlaceRulesFromConfig: hierarchy.place with a where XPath and mapped attributes, as a
// tenant configures it, sorts a plain export's classes under school nodes; the where result is
// not stored; a node goes when nothing is under it. On SQLite (no store semantics of its own).
func TestPlaceRulesFromConfig(t *testing.T) {
	open := func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	e := newEnv(t, open, func(tn *config.Tenant) {
		tn.Mappings = map[string]map[string]string{"groups": {
			"school_code": "string(extension/schoolcode)", "school_name": "string(extension/schoolname)"}}
		tn.Hierarchy.Place = []hierarchy.Rule{{Types: []string{"Class"}, Under: hierarchy.Path{"x.school_code"}, Name: hierarchy.Path{"x.school_name"},
			Where: "grouptype/typevalue/@level = '3'"}}
		tn.Hierarchy.Unplaced = &hierarchy.Node{Key: "imsfeed-unplaced", Name: "Unplaced groups"}
	})
	school, err := os.ReadFile("../hierarchy/testdata/school.xml")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.imp(e.write("school.xml", school)), runs.Completed)
	ctx := context.Background()
	_, gs, err := e.st.StoredRecords(ctx, e.tenant.ID, nil, []string{"N-5A", "N-TEAM", "SCH-SOUTH"})
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(gs["N-5A"].Parents, ","); p != "SCH-SOUTH" {
		t.Errorf("N-5A under %q, want SCH-SOUTH", p)
	}
	if p := strings.Join(gs["N-TEAM"].Parents, ","); p != "imsfeed-unplaced" {
		t.Errorf("N-TEAM (level 4, not selected by where) under %q, want imsfeed-unplaced", p)
	}
	if n := gs["SCH-SOUTH"]; n.Name != "South school" || n.Source != hierarchy.Source {
		t.Errorf("school node %+v", n)
	}
	for _, a := range gs["N-5A"].Attrs {
		if strings.HasPrefix(a.Name, hierarchy.WherePrefix) {
			t.Errorf("the where result is stored: %v", a)
		}
	}
	// The classes leave: their school node goes with them, a group delete like any other.
	r := e.imp(e.write("school2.xml", []byte(withoutElement(withoutElement(string(school), "group", "N-5A"), "group", "N-5B"))))
	wantStatus(t, r, runs.Completed)
	if _, gs, _ = e.st.StoredRecords(ctx, e.tenant.ID, nil, []string{"SCH-SOUTH"}); len(gs) != 0 {
		t.Error("the school node stays with nothing under it")
	}
}

// TestNodeKeyClashFailsTheRun: a group of the file with the key of imsfeed's archive node (or a
// delta file deleting it) fails the run with file, line:column, record and node named, and
// changes nothing: the file cannot rename or delete what imsfeed owns. On both stores.
func TestNodeKeyClashFailsTheRun(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, placeTenant)
		night4 := demoNight(t, "night4.xml")
		wantStatus(t, e.imp(e.write("n4.xml", []byte(withLooseGroup(night4, "CHESS")))), runs.Completed)
		before, err := e.st.LoadState(ctx, e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		clash := withLooseGroup(night4, "imsfeed-archive")
		line := strings.Count(clash[:strings.Index(clash, "<id>imsfeed-archive<")], "\n") + 1
		r := e.imp(e.write("clash.xml", []byte(clash)))
		wantStatus(t, r, runs.Failed)
		if r.Error == nil || r.Error.Cause != runs.CauseFile || r.Error.Key != "imsfeed-archive" ||
			!strings.Contains(r.Error.Message, "clash.xml:") || !strings.Contains(r.Error.Message, "courses.archive_node") {
			t.Errorf("error %+v: want the file, record imsfeed-archive and courses.archive_node named", r.Error)
		}
		if r.Error != nil && r.Error.Line != line-1 { // <group> is the line before its <id>
			t.Errorf("error at line %d, want the group's, %d", r.Error.Line, line-1)
		}
		after, err := e.st.LoadState(ctx, e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !after.Equal(before) {
			t.Error("a run that failed on a node key clash changed the state")
		}
	})
}
