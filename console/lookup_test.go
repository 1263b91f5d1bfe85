package console_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// southside is a small school owner's file: a school, a course under it, a club with no
// parent, two persons, one with a <nickname>.
const southside = `<?xml version="1.0" encoding="UTF-8"?>
<enterprise>
  <properties><datasource>southside-sis</datasource></properties>
  <person>
    <sourcedid><source>southside-sis</source><id>S100</id></sourcedid>
    <userid>siri.o</userid>
    <userid useridtype="SchoolID">4711</userid>
    <name><fn>Siri Ødegård</fn><nickname>Sissi</nickname><n><family>Ødegård</family><given>Siri</given></n></name>
    <email>siri@southside.example.org</email>
  </person>
  <person>
    <sourcedid><source>southside-sis</source><id>S200</id></sourcedid>
    <name><fn>Per Hansen</fn><n><family>Hansen</family><given>Per</given></n></name>
  </person>
  <group>
    <sourcedid><source>southside-sis</source><id>SCH</id></sourcedid>
    <grouptype><scheme>southside-sis</scheme><typevalue level="1">School</typevalue></grouptype>
    <description><short>Southside School</short></description>
    <relationship relation="1"><sourcedid><source>southside-sis</source><id>SCH</id></sourcedid></relationship>
  </group>
  <group>
    <sourcedid><source>southside-sis</source><id>MATH5</id></sourcedid>
    <grouptype><scheme>southside-sis</scheme><typevalue level="3">Course</typevalue></grouptype>
    <description><short>Mathematics 5</short></description>
    <relationship relation="1"><sourcedid><source>southside-sis</source><id>SCH</id></sourcedid></relationship>
  </group>
  <group>
    <sourcedid><source>southside-sis</source><id>CHESS</id></sourcedid>
    <grouptype><scheme>southside-sis</scheme><typevalue level="3">Club</typevalue></grouptype>
    <description><short>Chess club</short></description>
  </group>
  <membership>
    <sourcedid><source>southside-sis</source><id>MATH5</id></sourcedid>
    <member><sourcedid><source>southside-sis</source><id>S100</id></sourcedid><idtype>1</idtype><role roletype="01"><status>1</status></role></member>
    <member><sourcedid><source>southside-sis</source><id>S200</id></sourcedid><idtype>1</idtype><role roletype="02"><status>1</status></role></member>
  </membership>
</enterprise>
`

// Issues 11, 15 and 12: what an operator sees of one person and one group. The person
// imported with a <nickname> shows it as the preferred first name (and "none" for the last);
// the course shows the template courses.template gave it; the club shows it was put under
// imsfeed's unplaced node; the search finds by part of a name in any case; keys on the
// trash-can page lead to the person's page; an operator of another tenant gets 404 for all of
// it, as for a key the tenant does not have.
func TestConsoleShowsOnePersonAndOneGroup(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		tn := &w.cfg.Tenants[1] // Ola's
		tn.Courses = archive.CoursePolicy{Types: []string{"Course"}, Archive: true, Template: map[string]string{"course": "tmpl-standard"}}
		tn.Hierarchy.Unplaced = &hierarchy.Node{Key: "imsfeed-unplaced", Name: "Unplaced groups"}
		p := filepath.Join(t.TempDir(), "southside.xml")
		if err := os.WriteFile(p, []byte(southside), 0o644); err != nil {
			t.Fatal(err)
		}
		if r, err := w.im.ImportFile(ctx, tn, p, importer.ImportOptions{}); err != nil || r.Status != runs.Completed {
			t.Fatalf("southside import: %v %v", r, err)
		}
		base := "/tenants/" + w.other

		ola := w.client()
		ola.signIn("ola@example.org", password)
		code, page := ola.get(base + "/persons/S100")
		person := section(page, "person")
		for _, want := range []string{
			"Siri Ødegård", `<td id="preferred-first">Sissi</td>`, `<td id="preferred-last">none</td>`,
			"siri@southside.example.org", "siri.o", "4711 <small>(SchoolID)</small>", `<td id="status">active</td>`,
		} {
			if code != 200 || !strings.Contains(person, want) {
				t.Fatalf("person page (%d) lacks %q:\n%s", code, want, page)
			}
		}
		if ms := section(page, "person-memberships"); !strings.Contains(ms, fmt.Sprintf(`<a href="%s/groups/MATH5">MATH5</a></td><td>Mathematics 5</td><td>Learner</td><td>synced</td>`, base)) {
			t.Fatalf("person page memberships:\n%s", page)
		}
		if _, page := ola.get(base + "/persons/S200"); !strings.Contains(page, `<td id="preferred-first">none</td>`) {
			t.Fatalf("a person without a nickname:\n%s", page)
		}

		code, page = ola.get(base + "/groups/MATH5")
		group := section(page, "group")
		for _, want := range []string{`<td id="template">tmpl-standard</td>`, "<strong>course</strong>", fmt.Sprintf(`<a href="%s/groups/SCH">SCH</a> Southside School`, base)} {
			if code != 200 || !strings.Contains(group, want) {
				t.Fatalf("course page (%d) lacks %q:\n%s", code, want, page)
			}
		}
		members := section(page, "group-members")
		if !strings.Contains(members, fmt.Sprintf(`<a href="%s/persons/S100">S100</a></td><td>Siri Ødegård</td><td>Learner</td>`, base)) || !strings.Contains(members, "Instructor") {
			t.Fatalf("course members:\n%s", page)
		}
		if _, page := ola.get(base + "/groups/CHESS"); !strings.Contains(section(page, "group"), `imsfeed-unplaced</a> Unplaced groups <small>(imsfeed's unplaced node)</small>`) {
			t.Fatalf("the club's page does not say it is under the unplaced node:\n%s", page)
		}

		code, page = ola.get(base + "/objects?q=%C3%B8DEG") // "øDEG"
		if code != 200 || !strings.Contains(section(page, "persons"), fmt.Sprintf(`<a href="%s/persons/S100">S100</a>`, base)) || strings.Contains(page, "S200") {
			t.Fatalf("search for part of a name (%d):\n%s", code, page)
		}
		if _, page := ola.get(base + "/objects?q=math"); !strings.Contains(section(page, "groups"), "Mathematics 5 <small>course</small>") {
			t.Fatalf("search for a group:\n%s", page)
		}
		if _, page := ola.get(base); !strings.Contains(page, fmt.Sprintf(`action="%s/objects"`, base)) {
			t.Fatalf("the tenant page has no search:\n%s", page)
		}
		if code, page := ola.get(base + "/persons/NOBODY"); code != http.StatusNotFound || !strings.Contains(page, "no person with the key “NOBODY”") {
			t.Fatalf("an unknown person: %d\n%s", code, page)
		}

		// Another tenant's operator: 404 for every page of a tenant she does not see.
		first := func(typ record.Type) string {
			os, err := st.(store.Objects).SearchObjects(ctx, store.SearchParams{Tenant: w.tenant, Type: typ, Limit: 1})
			if err != nil || len(os) != 1 {
				t.Fatalf("a %s of the held run's tenant: %v %v", typ, os, err)
			}
			return os[0].Key
		}
		somebody, someGroup := first(record.Persons), first(record.Groups)
		for _, path := range []string{"/persons/" + somebody, "/groups/" + someGroup, "/objects?q=a"} {
			if code, _ := ola.get("/tenants/" + w.tenant + path); code != http.StatusNotFound {
				t.Fatalf("another tenant's operator: GET %s: %d, want 404", path, code)
			}
		}

		// Kari sees both; the held run's changes link to the pages.
		kari := w.client()
		kari.signIn("kari@example.org", password)
		if code, page := kari.get("/tenants/" + w.tenant + "/persons/" + somebody); code != 200 || !strings.Contains(page, `id="person"`) {
			t.Fatalf("Kari on %s: %d\n%s", somebody, code, page)
		}
		_, page = kari.get(fmt.Sprintf("/runs/%d?type=persons", w.held.ID))
		if !strings.Contains(section(page, "change-list"), fmt.Sprintf(`<a href="/tenants/%s/persons/`, w.tenant)) {
			t.Fatalf("the held run's changes do not link to the persons:\n%s", page)
		}
	})
}
