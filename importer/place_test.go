package importer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
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
		if _, err := e.st.RestoreArchived(ctx, e.tenant.ID, []string{"DRAMA5"}); err != nil {
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
