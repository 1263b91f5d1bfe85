package lis

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/store"
)

// assocRec is a sectionAssociationRecord in Banner ILP's form: the request's sourcedId a
// placeholder, the record's sourcedGUID the key, the record's type, the sections listed.
func assocRec(key, label string, sections ...string) string {
	var ids string
	for _, s := range sections {
		ids += `<courseSectionId>` + s + `</courseSectionId>`
	}
	return sid("messageRefID") + `<sectionAssociationRecord><sourcedGUID><refAgentInstanceID>ILP</refAgentInstanceID><sourcedId>` + key +
		`</sourcedId></sourcedGUID><type>meta</type><sectionAssociation><label>` + ts(label) + `</label><title>` + ts(label+" title") +
		`</title><status>Active</status><courseSectionIdList>` + ids + `</courseSectionIdList><dataSource>Banner</dataSource></sectionAssociation></sectionAssociationRecord>`
}

// parents are the stored parents of each group, by key.
func (e *env) parents(keys ...string) map[string][]string {
	e.t.Helper()
	o, err := e.st.(store.Live).LiveLoad(context.Background(), e.tenant.ID, store.LiveQuery{Groups: keys})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range keys {
		out[k] = o.Groups[k].Parents
	}
	return out
}

// TestSectionAssociationsOnBothStores: a section association (cross-listing) is a group of type
// SectionAssociation that its course sections have as a parent, as a nightly file's
// <relationship> would give them; replacing it moves the links, deleting it removes them and
// the association, never a section; unknown sections and keys of other groups are refused
// whole with the LIS codes, nothing changed.
func TestSectionAssociationsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(lisReq("replaceGroup", termRec("201740", "Fall 2017"))).want(t, "replaceGroup", "success", "")
		for _, s := range []string{"S1", "S2", "S3"} {
			e.post(lisReq("replaceCourseSection", sectionRec(s, s, "201740"))).want(t, "replaceCourseSection "+s, "success", "")
		}
		term := []string{"201740"}
		steps := []struct {
			what, op, body string
			major, minor   string
			parents        map[string][]string // the sections' stored parents afterwards
		}{
			{"create", "createSectionAssociation", assocRec("XL1", "ENG 1 cross-list", "S1", "S2"), "success", "fullsuccess",
				map[string][]string{"S1": {"201740", "XL1"}, "S2": {"201740", "XL1"}, "S3": term}},
			{"create again", "createSectionAssociation", assocRec("XL1", "ENG 1 cross-list", "S1"), "failure", "idallocinusefail",
				map[string][]string{"S1": {"201740", "XL1"}, "S2": {"201740", "XL1"}, "S3": term}},
			{"replace moves the links", "replaceSectionAssociation", assocRec("XL1", "ENG 1 cross-list", "S2", "S3"), "success", "fullsuccess",
				map[string][]string{"S1": term, "S2": {"201740", "XL1"}, "S3": {"201740", "XL1"}}},
			{"a section replaced by the SIS keeps its association", "replaceCourseSection", sectionRec("S2", "S2 renamed", "201740"), "success", "fullsuccess",
				map[string][]string{"S1": term, "S2": {"201740", "XL1"}, "S3": {"201740", "XL1"}}},
			{"an unknown section refuses the whole request", "replaceSectionAssociation", assocRec("XL1", "ENG 1 cross-list", "S1", "NOPE"), "failure", "unknownobject",
				map[string][]string{"S1": term, "S2": {"201740", "XL1"}, "S3": {"201740", "XL1"}}},
			{"a section's key is no association", "replaceSectionAssociation", assocRec("S1", "x", "S2"), "failure", "idallocinusefail",
				map[string][]string{"S1": term, "S2": {"201740", "XL1"}, "S3": {"201740", "XL1"}}},
			{"an association cannot contain itself", "createSectionAssociation", assocRec("XL2", "x", "XL2"), "failure", "invaliddata", nil},
			{"delete of a section's key", "deleteSectionAssociation", sid("S1"), "failure", "unknownobject", nil},
			{"read of an unknown association", "readSectionAssociation", sid("NOPE"), "failure", "unknownobject", nil},
			{"ids for an unknown section", "readSectionAssociationIdsForCourseSection", `<courseSectionSourcedId>NOPE</courseSectionSourcedId>`, "failure", "unknownobject", nil},
		}
		logged := 5 // the reads and deletes below
		for _, s := range steps {
			if strings.Contains(s.op, "SectionAssociation") {
				logged++
			}
			before := e.status().StateVersion
			e.post(lisReq(s.op, s.body)).want(t, s.what, s.major, s.minor)
			if s.major != "success" && e.status().StateVersion != before {
				t.Fatalf("%s: a refused request changed the state", s.what)
			}
			if s.parents != nil {
				if got := e.parents("S1", "S2", "S3"); !reflect.DeepEqual(got, s.parents) {
					t.Fatalf("%s: sections' parents %v, want %v", s.what, got, s.parents)
				}
			}
		}

		a := e.post(lisReq("readSectionAssociation", sid("XL1")))
		a.want(t, "readSectionAssociation", "success", "")
		rec := a.root.Path("Body", "readSectionAssociationResponse", "sectionAssociationRecord")
		var ids []string
		for _, n := range rec.Path("sectionAssociation", "courseSectionIdList").Children("courseSectionId") {
			ids = append(ids, n.Str())
		}
		if rec.Path("sourcedGUID", "sourcedId").Str() != "XL1" || rec.Child("type").Str() != "meta" ||
			text(rec.Path("sectionAssociation", "label")) != "ENG 1 cross-list" || !reflect.DeepEqual(ids, []string{"S2", "S3"}) {
			t.Fatalf("readSectionAssociation: %s", a.raw)
		}
		for _, q := range []struct {
			section string
			want    []string
		}{{"S2", []string{"XL1"}}, {"S1", nil}} {
			a = e.post(lisReq("readSectionAssociationIdsForCourseSection", `<courseSectionSourcedId>`+q.section+`</courseSectionSourcedId>`))
			a.want(t, "readSectionAssociationIdsForCourseSection "+q.section, "success", "")
			var got []string
			for _, n := range a.root.Path("Body", "readSectionAssociationIdsForCourseSectionResponse", "sourcedIdSet").Children("sourcedId") {
				got = append(got, n.Str())
			}
			if !reflect.DeepEqual(got, q.want) {
				t.Fatalf("associations of %s: %v, want %v\n%s", q.section, got, q.want, a.raw)
			}
		}

		// Deleting the association removes the links and the association; the sections stay.
		before := e.status()
		e.post(lisReq("deleteSectionAssociation", sid("XL1"))).want(t, "deleteSectionAssociation", "success", "")
		after := e.status()
		if after.Groups.Active != before.Groups.Active-1 || after.Groups.Archived != before.Groups.Archived || after.StateVersion != before.StateVersion+1 {
			t.Fatalf("delete: groups %+v → %+v", before.Groups, after.Groups)
		}
		if got := e.parents("S1", "S2", "S3"); !reflect.DeepEqual(got, map[string][]string{"S1": term, "S2": term, "S3": term}) {
			t.Fatalf("after the delete the sections' parents are %v", got)
		}
		e.post(lisReq("deleteSectionAssociation", sid("XL1"))).want(t, "deleteSectionAssociation again", "failure", "unknownobject")

		// Like every live request, each is in the tenant's request log with what it removed.
		log, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		for _, l := range log {
			if strings.Contains(l.Operation, "SectionAssociation") {
				ops = append(ops, l.Operation+"/"+l.CodeMinor)
			}
			if l.Operation == "deleteSectionAssociation" && l.CodeMajor == "success" && l.Removed != [3]int{0, 1, 0} {
				t.Errorf("deleteSectionAssociation logged removals %v, want one group", l.Removed)
			}
		}
		if len(ops) != logged {
			t.Errorf("logged association requests: %v", ops)
		}
	})
}

// TestSectionAssociationGolden: Banner ILP's real replaceSectionAssociation, sent once its two
// sections exist, is read into a request and applied; the read of the association and of a
// section's associations answer as the golden files have them.
func TestSectionAssociationGolden(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.post(lisReq("replaceGroup", termRec("201740", "Fall 2017"))).want(t, "replaceGroup", "success", "")
	for _, s := range []string{"10001.201740", "10002.201740"} {
		e.post(lisReq("replaceCourseSection", sectionRec(s, s, "201740"))).want(t, "replaceCourseSection "+s, "success", "")
	}
	body := corpus(t, "lis2-banner-ilp/section_assoc_replace.xml")
	e.post(body).want(t, "replaceSectionAssociation", "success", "fullsuccess")
	fix := func(body string) string { return regexp.MustCompile(`test-\d+-\d+`).ReplaceAllString(body, "assoc-1") }
	for _, q := range []struct{ name, body string }{
		{"readSectionAssociation", lisReq("readSectionAssociation", sid("AA201740"))},
		{"readSectionAssociationIdsForCourseSection", lisReq("readSectionAssociationIdsForCourseSection", `<courseSectionSourcedId>10002.201740</courseSectionSourcedId>`)},
	} {
		a := e.post(fix(q.body))
		a.want(t, q.name, "success", "fullsuccess")
		golden(t, q.name+".answer.xml", []byte(volatile.ReplaceAllString(a.raw, "VOLATILE")+"\n"))
	}
}
