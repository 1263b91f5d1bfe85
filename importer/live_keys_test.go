package importer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/imses"
	"github.com/imsfeed/imsfeed/live/lis"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// liveChannels serves a tenant's IMS ES 1.0 and LIS 2.0 endpoints, on one live.Service, as
// serve does.
type liveChannels struct {
	t             *testing.T
	esSrv, lisSrv *httptest.Server
	seq           atomic.Int64
}

func newLiveChannels(t *testing.T, e *env) *liveChannels {
	t.Helper()
	tn := e.tenant
	lt := &live.Tenant{ID: tn.ID, Courses: tn.Courses, Safety: tn.Safety, Placement: tn.Placement}
	svc := &live.Service{Store: e.st}
	auth := live.NewAuth([]live.Credential{{Username: "sis", Password: "sis-pass", Tenant: lt}})
	c := &liveChannels{t: t, esSrv: httptest.NewServer(&imses.Handler{Service: svc, Auth: auth}), lisSrv: httptest.NewServer(&lis.Handler{Service: svc, Auth: auth})}
	t.Cleanup(c.esSrv.Close)
	t.Cleanup(c.lisSrv.Close)
	return c
}

func (c *liveChannels) post(url, body, op string) string {
	c.t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.SetBasicAuth("sis", "sis-pass")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "<codeMajor>success</codeMajor>") && !strings.Contains(string(b), "<imsx_codeMajor>success</imsx_codeMajor>") {
		c.t.Fatalf("%s: not a success:\n%s", op, b)
	}
	return string(b)
}

// es sends an IMS ES 1.0 request: op of the group (gms) or membership (mms) service.
func (c *liveChannels) es(op, inner string) string {
	c.t.Helper()
	svc, data := "gms/xsd/imsGroupManMessSchema_v1p0", "gms/xsd/imsGroupManDataSchema_v1p0"
	if strings.Contains(op, "Membership") {
		svc, data = "mms/xsd/imsMemberManMessSchema_v1p0", "mms/xsd/imsMemberManDataSchema_v1p0"
	}
	body := fmt.Sprintf(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>`+
		`<h:syncRequestHeaderInfo xmlns:h="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0"><h:messageIdentifier>keys-%d</h:messageIdentifier></h:syncRequestHeaderInfo>`+
		`</soapenv:Header><soapenv:Body><ims:%sRequest xmlns:ims="http://www.imsglobal.org/services/%s" xmlns:ims1="http://www.imsglobal.org/services/common/imsCommonSchema_v1p0" xmlns:ims2="http://www.imsglobal.org/services/%s">%s</ims:%sRequest></soapenv:Body></soapenv:Envelope>`,
		c.seq.Add(1), op, svc, data, inner, op)
	return c.post(c.esSrv.URL, body, "IMS ES "+op)
}

// lis sends a LIS 2.0 course management (cms) request.
func (c *liveChannels) lis(op, inner string) string {
	c.t.Helper()
	const ns = "http://www.imsglobal.org/services/lis/cmsv1p0/wsdl11/sync/imscms_v1p0"
	body := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>`+
		`<h:imsx_syncRequestHeaderInfo xmlns:h="%s"><h:imsx_version>V1.0</h:imsx_version><h:imsx_messageIdentifier>keys-%d</h:imsx_messageIdentifier></h:imsx_syncRequestHeaderInfo>`+
		`</s:Header><s:Body><%sRequest xmlns="%s">%s</%sRequest></s:Body></s:Envelope>`, ns, c.seq.Add(1), op, ns, inner, op)
	return c.post(c.lisSrv.URL+lis.Path, body, "LIS "+op)
}

func esID(key string) string { return `<ims1:identifier>` + key + `</ims1:identifier>` }

// esCourse is an IMS ES group of type Course under parent, the same group as fileCourse.
func esCourse(key, parent string) string {
	return `<ims:sourcedId>` + esID(key) + `</ims:sourcedId><ims:group><ims2:groupType><ims2:scheme>sis</ims2:scheme><ims2:typeValue><ims2:type>Course</ims2:type></ims2:typeValue></ims2:groupType>` +
		`<ims2:relationship><ims2:relation>Parent</ims2:relation><ims2:sourceId>` + esID(parent) + `</ims2:sourceId></ims2:relationship>` +
		`<ims2:description><ims2:descShort>` + key + ` maths</ims2:descShort></ims2:description></ims:group>`
}

func fileGroup(key, typ, name string, parents ...string) string {
	s := `<group><sourcedid><id>` + key + `</id></sourcedid><grouptype><scheme>sis</scheme><typevalue>` + typ + `</typevalue></grouptype>` +
		`<description><short>` + name + `</short></description>`
	for _, p := range parents {
		s += `<relationship relation="1"><sourcedid><id>` + p + `</id></sourcedid></relationship>`
	}
	return s + "</group>\n"
}

// lisCourse is a LIS 2.0 courseOffering or courseSection (kind) with a term and, for a
// section, an offering; fileLISCourse is its nightly form.
func lisCourse(kind, key, short, long, term, offering string) string {
	s := `<sourcedId>` + key + `</sourcedId><` + kind + `Record><sourcedGUID><sourcedId>` + key + `</sourcedId></sourcedGUID><` + kind + `>` +
		`<label><textString>` + short + `</textString></label><title><textString>` + long + `</textString></title>` +
		`<academicSession><textString>` + term + `</textString></academicSession>`
	if offering != "" {
		s += `<parentOfferingId>` + offering + `</parentOfferingId>`
	}
	return s + `</` + kind + `></` + kind + `Record>`
}

func fileLISCourse(typ, key, short, long string, parents ...string) string {
	s := `<group><sourcedid><id>` + key + `</id></sourcedid><grouptype><typevalue>` + typ + `</typevalue></grouptype>` +
		`<description><short>` + short + `</short><long>` + long + `</long></description>`
	for _, p := range parents {
		s += `<relationship relation="1"><sourcedid><id>` + p + `</id></sourcedid></relationship>`
	}
	return s + "</group>\n"
}

// TestPrefixedCourseKeysAreOneCourseLiveAndNightly: with school_year.prefix_course_keys, a
// course created over IMS ES 1.0, one the nightly file brought and IMS ES replaces, and a LIS
// 2.0 course offering and section (naming the offering) are stored under the year's keys,
// as the nightly file stores them; a membership created live names the year's course; reads by
// the SIS's keys find them and answer with the SIS's keys; the next nightly file with the same
// courses changes nothing; a live delete by the SIS's key archives the year's course. On both
// stores.
func TestPrefixedCourseKeysAreOneCourseLiveAndNightly(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.Hierarchy.Unplaced = nil
			tn.Courses.Types = []string{"Course", "CourseOffering", "CourseSection"}
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27", PrefixCourseKeys: true}
		})
		ch := newLiveChannels(t, e)
		const year = "2026-27"
		person := `<person><sourcedid><id>P1</id></sourcedid><name><fn>Pupil One</fn></name></person>` + "\n"
		school := fileGroup("SCH", "School", "North school")
		term := fileGroup("T1", "Term", "Autumn term")
		night := func(name string, groups ...string) *runs.Run {
			t.Helper()
			r := e.imp(e.write(name, []byte("<enterprise>\n"+person+school+term+strings.Join(groups, "")+
				`<membership><sourcedid><id>ES-MATH</id></sourcedid><member><sourcedid><id>P1</id></sourcedid><idtype>1</idtype><role roletype="01"/></member></membership>`+
				"</enterprise>\n")))
			wantStatus(t, r, runs.Completed)
			return r
		}
		esMath, nMath := fileGroup("ES-MATH", "Course", "ES-MATH maths", "SCH"), fileGroup("N-MATH", "Course", "N-MATH maths", "SCH")
		off := fileLISCourse("CourseOffering", "OFF1", "ENG", "English", "T1")
		sec := fileLISCourse("CourseSection", "SEC1", "ENG-1", "English 1", "T1", "OFF1")

		night("n1.xml", nMath)
		version := func() int64 {
			t.Helper()
			s, err := e.st.Status(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			return s.StateVersion
		}
		before := version()
		ch.es("replaceGroup", esCourse("N-MATH", "SCH"))
		if v := version(); v != before {
			t.Errorf("IMS ES replaceGroup of the nightly's course N-MATH as the file has it changed the state (version %d → %d)", before, v)
		}
		ch.es("createGroup", esCourse("ES-MATH", "SCH"))
		ch.es("createMembership", `<ims:sourcedId>`+esID("m1")+`</ims:sourcedId><ims:membership><ims2:groupSourcedId>`+esID("ES-MATH")+`</ims2:groupSourcedId>`+
			`<ims2:member><ims2:memberSourcedId>`+esID("P1")+`</ims2:memberSourcedId><ims2:role><ims2:roleType>Learner</ims2:roleType></ims2:role></ims2:member></ims:membership>`)
		ch.lis("replaceCourseOffering", lisCourse("courseOffering", "OFF1", "ENG", "English", "T1", ""))
		ch.lis("replaceCourseSection", lisCourse("courseSection", "SEC1", "ENG-1", "English 1", "T1", "OFF1"))

		st, err := e.st.LoadState(ctx, e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"N-MATH", "ES-MATH", "OFF1", "SEC1"} {
			if _, ok := st.Groups[k]; ok {
				t.Errorf("course %s stored under the SIS's key, want %s", k, hierarchy.CourseKey(year, k))
			}
			if g, ok := st.Groups[hierarchy.CourseKey(year, k)]; !ok || g.Archived || !slices.Contains(g.Parents, "school-year-"+year) {
				t.Errorf("course %s: stored %v as %+v, want active under the year's node", hierarchy.CourseKey(year, k), ok, g)
			}
		}
		if p := st.Groups[hierarchy.CourseKey(year, "SEC1")].Parents; !slices.Equal(p, []string{"T1", hierarchy.CourseKey(year, "OFF1"), "school-year-" + year}) {
			t.Errorf("LIS section under %v, want its term, the year's offering and the year's node", p)
		}
		n := 0
		for k, m := range st.Memberships.All() {
			if k.Member == "P1" && !m.Manual {
				n++
				if k.Group != hierarchy.CourseKey(year, "ES-MATH") {
					t.Errorf("live membership in %q, want the year's course", k.Group)
				}
			}
		}
		if n != 1 {
			t.Errorf("P1 has %d synced memberships, want 1", n)
		}

		// Reads by the SIS's keys find the courses and answer with those keys.
		for _, a := range []string{
			ch.es("readGroup", `<ims:sourcedId>`+esID("ES-MATH")+`</ims:sourcedId>`),
			ch.es("readMembershipsForPerson", `<ims:personSourcedId>`+esID("P1")+`</ims:personSourcedId>`),
			ch.lis("readCourseSection", `<sourcedId>SEC1</sourcedId>`),
		} {
			if strings.Contains(a, year+":") {
				t.Errorf("a read answers with the stored key, not the SIS's:\n%s", a)
			}
		}

		// The next night has the same courses: nothing changes.
		r := night("n2.xml", nMath, esMath, off, sec)
		if c := r.Counts.Groups; c.Inserted+c.Updated+c.Deleted+c.Archived+c.Restored != 0 {
			t.Errorf("the nightly file after the live courses changes groups: %+v", c)
		}
		if c := r.Counts.Memberships; c.Inserted+c.Updated+c.Deleted != 0 {
			t.Errorf("the nightly file after the live membership changes memberships: %+v", c)
		}

		// A live delete by the SIS's key archives the year's course.
		ch.es("deleteGroup", `<ims:sourcedId>`+esID("N-MATH")+`</ims:sourcedId>`)
		if st, err = e.st.LoadState(ctx, e.tenant.ID); err != nil {
			t.Fatal(err)
		}
		if g := st.Groups[hierarchy.CourseKey(year, "N-MATH")]; !g.Archived {
			t.Errorf("course N-MATH deleted live: %+v, want the year's course archived", g)
		}
	})
}

// TestLISSectionAssociationIsPlacedAsTheNightlyPlacesIt: a LIS 2.0 section association
// (cross-listing) is a group, placed as the same group of a nightly file: where the tenant's
// course types make it a course, a live one goes under the current school year's node with its
// template, as the nightly file's does. On both stores.
func TestLISSectionAssociationIsPlacedAsTheNightlyPlacesIt(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.Courses.Types = []string{"CourseSection", "SectionAssociation"}
			tn.Courses.Template = map[string]string{"SectionAssociation": "tmpl-crosslisted"}
			tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
		})
		ch := newLiveChannels(t, e)
		// The nightly form: the cross-listing XF is a group its sections name as parent.
		r := e.imp(e.write("n1.xml", []byte("<enterprise>\n"+fileGroup("T1", "Term", "Autumn term")+
			fileLISCourse("CourseSection", "S1", "ENG-1", "English 1", "T1")+fileLISCourse("CourseSection", "S2", "ENG-2", "English 2", "T1", "XF")+
			fileLISCourse("SectionAssociation", "XF", "ENG", "English cross-listed")+"</enterprise>\n")))
		wantStatus(t, r, runs.Completed)
		ch.lis("createSectionAssociation", `<sourcedId>messageRefID</sourcedId><sectionAssociationRecord><sourcedGUID><sourcedId>XL</sourcedId></sourcedGUID>`+
			`<type>meta</type><sectionAssociation><label><textString>ENG</textString></label><title><textString>English cross-listed live</textString></title>`+
			`<courseSectionIdList><courseSectionId>S1</courseSectionId></courseSectionIdList></sectionAssociation></sectionAssociationRecord>`)
		_, gs, err := e.st.StoredRecords(ctx, e.tenant.ID, nil, []string{"XF", "XL", "S1"})
		if err != nil {
			t.Fatal(err)
		}
		night, lv := gs["XF"], gs["XL"]
		if !slices.Equal(night.Parents, []string{"school-year-2026-27"}) || night.Template != "tmpl-crosslisted" {
			t.Fatalf("the nightly's cross-listing under %v with template %q", night.Parents, night.Template)
		}
		if !slices.Equal(lv.Parents, night.Parents) || lv.Template != night.Template {
			t.Errorf("the live cross-listing under %v with template %q; the nightly's is under %v with %q", lv.Parents, lv.Template, night.Parents, night.Template)
		}
		if !slices.Contains(gs["S1"].Parents, "XL") {
			t.Errorf("section S1 under %v, want the live cross-listing XL among its parents", gs["S1"].Parents)
		}
	})
}
