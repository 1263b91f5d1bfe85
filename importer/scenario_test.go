package importer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples"
	"github.com/imsfeed/imsfeed/store"
)

func demoNight(t *testing.T, name string) string {
	data, err := samples.Demo.ReadFile("demo/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// withoutElement drops the <group> or <membership> element whose first sourcedid id is key.
func withoutElement(doc, elem, key string) string {
	re := regexp.MustCompile(`(?s)\s*<` + elem + `>\s*<sourcedid><source>[^<]*</source><id>` + regexp.QuoteMeta(key) + `</id></sourcedid>.*?</` + elem + `>`)
	return re.ReplaceAllString(doc, "")
}

// Courses, organisational groups and manual memberships over real files, on both stores.
func TestCoursesAndGroupsOverNights(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Courses.Types = []string{"Course"} })
		night4, night5 := demoNight(t, "night4.xml"), demoNight(t, "night5.xml")
		wantStatus(t, e.imp(e.write("night4.xml", []byte(night4))), runs.Completed)
		if err := e.st.AddManualMembership(ctx, e.tenant.ID, store.ManualMembership{Group: "DRAMA5", Member: "T999", Role: "02", MemberType: 1}); err != nil {
			t.Fatal(err)
		}
		before := e.status()

		// Two courses end: archived, their 18 synced memberships turned manual, the manual one untouched.
		r := e.imp(e.write("night5.xml", []byte(night5)))
		wantStatus(t, r, runs.Completed)
		if r.Counts.Groups.Archived != 2 || r.Counts.Memberships.Archived != 18 || r.Counts.Memberships.Deleted != 0 {
			t.Fatalf("course end: groups %+v memberships %+v", r.Counts.Groups, r.Counts.Memberships)
		}
		st := e.status()
		if st.Groups.Archived != 2 || st.Memberships.Manual != before.Memberships.Manual+18 || st.Memberships.Synced != before.Memberships.Synced-18 {
			t.Fatalf("after archival: %+v (before %+v)", st, before)
		}
		items, _ := e.st.ListArchived(ctx, e.tenant.ID)
		if len(items) != 2 || items[0].Run != r.ID {
			t.Fatalf("archive list: %+v", items)
		}

		// The courses reappear: they stay archived, and the run says so.
		r = e.imp(e.write("night4-again.xml", []byte(night4)))
		wantStatus(t, r, runs.Completed)
		var reappeared []string
		for _, n := range r.Attention {
			if n.Kind == change.NoticeReappearedCourse {
				reappeared = append(reappeared, n.Key)
			}
		}
		if strings.Join(reappeared, ",") != "ART8,DRAMA5" || e.status().Groups.Archived != 2 {
			t.Fatalf("reappeared courses: %v, status %+v", reappeared, e.status())
		}

		// An organisational group (a class) leaves: deleted with its synced memberships.
		noClass := withoutElement(withoutElement(night5, "group", "ELM-5A"), "membership", "ELM-5A")
		r = e.imp(e.write("no-5a.xml", []byte(noClass)))
		wantStatus(t, r, runs.Completed)
		if r.Counts.Groups.Deleted != 1 || r.Counts.Memberships.Deleted == 0 || r.Counts.Groups.Archived != 0 {
			t.Fatalf("class gone: groups %+v memberships %+v", r.Counts.Groups, r.Counts.Memberships)
		}
	})
}

// Event (delta) files: only what is in the file changes; recstatus 3 and status 0 remove.
func TestEventFilesOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		wantStatus(t, e.imp(e.write("night1.xml", []byte(demoNight(t, "night1.xml")))), runs.Completed)
		before := e.status()
		e.tenant.Mode = config.ModeEvent
		delta := `<?xml version="1.0"?>
<enterprise>
  <person recstatus="3"><sourcedid><id>P1001</id></sourcedid></person>
  <membership>
    <sourcedid><id>ELM-5A</id></sourcedid>
    <member><sourcedid><id>P1002</id></sourcedid><idtype>1</idtype><role roletype="01"><status>0</status></role></member>
    <member><sourcedid><id>T102</id></sourcedid><idtype>1</idtype><role roletype="Instructor"/></member>
  </membership>
</enterprise>`
		r := e.imp(e.write("delta.xml", []byte(delta)))
		wantStatus(t, r, runs.Completed)
		if r.Mode != "event" {
			t.Errorf("mode %q", r.Mode)
		}
		c := r.Counts
		// P1001 trashed (with its 2 memberships), P1002 leaves 5A, T102 joins 5A; nobody else changes.
		if c.Persons.Deleted != 1 || c.Persons.Inserted+c.Persons.Updated != 0 || c.Memberships.Inserted != 1 || c.Memberships.Deleted != 3 {
			t.Fatalf("event file: persons %+v memberships %+v", c.Persons, c.Memberships)
		}
		after := e.status()
		if after.Persons.Active != before.Persons.Active-1 || after.Memberships.Synced != before.Memberships.Synced-2 {
			t.Fatalf("event file state: %+v (before %+v)", after, before)
		}

		// A membership-only delta with an unknown person: the member is skipped with a warning.
		r = e.imp(e.write("members.xml", []byte(`<enterprise><membership><sourcedid><id>ELM-5B</id></sourcedid>
<member><sourcedid><id>P1003</id></sourcedid><idtype>1</idtype><role roletype="Mentor"/></member>
<member><sourcedid><id>NOBODY</id></sourcedid><idtype>1</idtype><role roletype="01"/></member>
</membership></enterprise>`)))
		wantStatus(t, r, runs.Completed)
		if r.Counts.Memberships.Inserted != 1 || len(r.Warnings) != 1 || r.Warnings[0].Key != "ELM-5B/NOBODY/01" || r.Warnings[0].Line != 3 {
			t.Fatalf("membership-only delta: %+v, warnings %+v", r.Counts.Memberships, r.Warnings)
		}
	})
}

// A quiet night in event mode: a delta with no records completes, changes nothing, and the
// mail says so. A snapshot with no records still fails.
func TestEmptyDeltaIsAQuietNight(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		wantStatus(t, e.imp(e.write("night1.xml", []byte(demoNight(t, "night1.xml")))), runs.Completed)
		before := e.status()
		empty := []byte(`<?xml version="1.0"?><enterprise><properties><datasource>SIS</datasource><type>delta</type></properties></enterprise>`)

		snapshot := bytes.Replace(empty, []byte("<type>delta</type>"), nil, 1)
		wantStatus(t, e.imp(e.write("empty-snapshot.xml", snapshot)), runs.Failed)

		e.tenant.Mode = config.ModeEvent
		r := e.imp(e.write("empty-delta.xml", empty))
		wantStatus(t, r, runs.Completed)
		if r.Reason != importer.EmptyDelta || e.status() != before {
			t.Fatalf("empty delta: reason %q, state %+v (before %+v)", r.Reason, e.status(), before)
		}
		mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, fmt.Sprintf("*-run%d.eml", r.ID)))
		if len(mails) != 1 {
			t.Fatalf("%d mails for the quiet night", len(mails))
		}
		body, _ := os.ReadFile(mails[0])
		if !strings.Contains(string(body), "Import completed: nothing to change.") || !strings.Contains(string(body), "has no records") {
			t.Errorf("the quiet night's mail does not say so:\n%s", body)
		}
	})
}
