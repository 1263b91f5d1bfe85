package lis

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/store"
)

func termRec(key, name string) string {
	return sid(key) + `<groupRecord><sourcedGUID><sourcedId>` + key + `</sourcedId></sourcedGUID><group><groupType><scheme>` + ts("IMS-LIS2.0") +
		`</scheme><typevalue><id>TERM</id><type>` + ts("Term") + `</type></typevalue></groupType><description><shortDescription>` + name +
		`</shortDescription></description></group></groupRecord>`
}

func sectionRec(key, label, term string) string {
	return sid(key) + `<courseSectionRecord><sourcedGUID><sourcedId>` + key + `</sourcedId></sourcedGUID><courseSection><label>` + ts(label) +
		`</label><title>` + ts(label+" title") + `</title><academicSession>` + ts(term) + `</academicSession><status>Active</status></courseSection></courseSectionRecord>`
}

func membershipRec(id, group, person, role string) string {
	return sid(id) + `<membershipRecord><sourcedGUID><sourcedId>` + id + `</sourcedId></sourcedGUID><membership><collectionSourcedId>` + group +
		`</collectionSourcedId><membershipIdType>courseSection</membershipIdType><member><personSourcedId>` + person +
		`</personSourcedId><role><roleType>` + role + `</roleType><status>Active</status></role></member></membership></membershipRecord>`
}

// TestGroupsCoursesAndMembershipsOnBothStores: a term (GMS), a course section under it (CMS), a
// membership in it (MMS); reads by person and by collection; the section deleted is archived
// (a course), its membership gone; the term deleted is deleted.
func TestGroupsCoursesAndMembershipsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(lisReq("replaceGroup", termRec("201740", "Fall 2017"))).want(t, "replaceGroup", "success", "")
		e.post(lisReq("replaceCourseSection", sectionRec("10001.201740", "ENG-1", "201740"))).want(t, "replaceCourseSection", "success", "")
		e.post(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "", ""))).want(t, "replacePerson", "success", "")
		e.post(lisReq("replaceMembership", membershipRec("M1", "10001.201740", "P1", "Learner"))).want(t, "replaceMembership", "success", "")
		e.post(lisReq("replaceMembership", membershipRec("M2", "nosuchsection", "P1", "Learner"))).want(t, "membership in an unknown section", "failure", "unknownobject")
		e.post(lisReq("replaceMembership", membershipRec("M3", "10001.201740", "P1", "Dean"))).want(t, "unknown role", "failure", "invaliddata")

		a := e.post(lisReq("readCourseSection", sid("10001.201740")))
		a.want(t, "readCourseSection", "success", "")
		cs := a.root.Path("Body", "readCourseSectionResponse", "courseSectionRecord", "courseSection")
		if text(cs.Child("label")) != "ENG-1" || text(cs.Child("academicSession")) != "201740" {
			t.Fatalf("readCourseSection: %s", a.raw)
		}
		a = e.post(lisReq("readGroup", sid("201740")))
		if g := a.root.Path("Body", "readGroupResponse", "groupRecord", "group"); g.Path("description", "shortDescription").Str() != "Fall 2017" {
			t.Fatalf("readGroup: %s", a.raw)
		}
		for _, q := range []struct{ op, arg string }{{"readMembershipsForPerson", "<personSourcedId>P1</personSourcedId>"}, {"readMembershipsForCollection", "<collectionSourcedId>10001.201740</collectionSourcedId>"}} {
			a = e.post(lisReq(q.op, q.arg))
			a.want(t, q.op, "success", "")
			recs := a.root.Path("Body", q.op+"Response", "membershipRecordSet").Children("membershipRecord")
			if len(recs) != 1 || recs[0].Path("sourcedGUID", "sourcedId").Str() != "M1" || recs[0].Path("membership", "member", "role", "roleType").Str() != "Learner" {
				t.Fatalf("%s: %s", q.op, a.raw)
			}
		}
		for _, q := range []struct{ op, arg string }{{"readMembershipIdsForPerson", "<personSourcedId>P1</personSourcedId>"}, {"readMembershipIdsForCollection", "<collectionSourcedId>10001.201740</collectionSourcedId>"}} {
			a = e.post(lisReq(q.op, q.arg))
			a.want(t, q.op, "success", "")
			if ids := a.root.Path("Body", q.op+"Response", "sourcedIdSet").Children("sourcedId"); len(ids) != 1 || ids[0].Str() != "M1" {
				t.Fatalf("%s: %s", q.op, a.raw)
			}
		}
		a = e.post(lisReq("readMembership", sid("M1")))
		if a.root.Path("Body", "readMembershipResponse", "membershipRecord", "membership", "collectionSourcedId").Str() != "10001.201740" {
			t.Fatalf("readMembership: %s", a.raw)
		}
		// replaceMembership with another role replaces the old one.
		e.post(lisReq("replaceMembership", membershipRec("M1", "10001.201740", "P1", "Instructor"))).want(t, "replaceMembership, new role", "success", "")
		if s := e.status(); s.Memberships.Synced != 1 {
			t.Fatalf("a replaced role stayed: %+v", s)
		}
		e.post(lisReq("deleteMembership", sid("M1"))).want(t, "deleteMembership", "success", "")
		e.post(lisReq("deleteMembership", sid("M1"))).want(t, "deleteMembership again", "failure", "unknownobject")
		e.post(lisReq("replaceMembership", membershipRec("M1", "10001.201740", "P1", "Learner"))).want(t, "replaceMembership again", "success", "")

		e.post(lisReq("deleteCourseSection", sid("10001.201740"))).want(t, "deleteCourseSection", "success", "")
		s := e.status()
		if s.Groups.Archived != 1 || s.Groups.Active != 1 || s.Memberships.Synced != 0 {
			t.Fatalf("a deleted course section is archived, its memberships gone: %+v", s)
		}
		e.post(lisReq("replaceCourseSection", sectionRec("10001.201740", "ENG-1b", "201740"))).want(t, "replace of an archived course", "failure", "invaliddata")
		e.post(lisReq("deleteGroup", sid("201740"))).want(t, "deleteGroup", "success", "")
		if s := e.status(); s.Groups.Active != 0 || s.Groups.Archived != 1 {
			t.Fatalf("a deleted term is deleted: %+v", s)
		}
		// A course offering is a course too.
		off := sid("ENG.3705") + `<courseOfferingRecord><courseOffering><label>` + ts("ENG 3705") + `</label></courseOffering></courseOfferingRecord>`
		e.post(lisReq("createCourseOffering", off)).want(t, "createCourseOffering", "success", "")
		e.post(lisReq("deleteCourseOffering", sid("ENG.3705"))).want(t, "deleteCourseOffering", "success", "")
		if s := e.status(); s.Groups.Archived != 2 {
			t.Fatalf("a deleted course offering is archived: %+v", s)
		}
	})
}

// TestSectionReadNamesTermAndOfferingByRole: a section read over LIS 2.0 names its term as
// academicSession and its course offering as parentOfferingId, told by the stored parents'
// types, never by their place: a section association (cross-listing) the section is in is
// neither, and a section with only an offering has no term.
func TestSectionReadNamesTermAndOfferingByRole(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(lisReq("replaceGroup", termRec("201740", "Fall 2017"))).want(t, "replaceGroup", "success", "")
		off := sid("ENG.3705") + `<courseOfferingRecord><courseOffering><label>` + ts("ENG 3705") + `</label><academicSession>` + ts("201740") +
			`</academicSession></courseOffering></courseOfferingRecord>`
		e.post(lisReq("replaceCourseOffering", off)).want(t, "replaceCourseOffering", "success", "")
		section := func(key, term, offering string) string {
			s := sid(key) + `<courseSectionRecord><courseSection><label>` + ts(key) + `</label>`
			if term != "" {
				s += `<academicSession>` + ts(term) + `</academicSession>`
			}
			if offering != "" {
				s += `<parentOfferingId>` + offering + `</parentOfferingId>`
			}
			return s + `</courseSection></courseSectionRecord>`
		}
		cases := []struct {
			key, term, offering string
			crossListed         bool
			wantTerm, wantOffer string
		}{
			{"S-both", "201740", "ENG.3705", true, "201740", "ENG.3705"},
			{"S-term", "201740", "", true, "201740", ""},
			{"S-offering", "", "ENG.3705", true, "", "ENG.3705"},
			{"S-offering-only", "", "ENG.3705", false, "", "ENG.3705"},
			{"S-plain", "201740", "", false, "201740", ""},
			// Parents not stored are told by their place, as the request gave them.
			{"S-unknown", "T-NOPE", "O-NOPE", true, "T-NOPE", "O-NOPE"},
		}
		var listed []string
		for _, c := range cases {
			a := e.post(lisReq("replaceCourseSection", section(c.key, c.term, c.offering)))
			a.want(t, "replaceCourseSection "+c.key, "success", "")
			if c.crossListed {
				listed = append(listed, c.key)
			}
		}
		e.post(lisReq("replaceSectionAssociation", assocRec("XL1", "cross-list", listed...))).want(t, "replaceSectionAssociation", "success", "")
		for _, c := range cases {
			a := e.post(lisReq("readCourseSection", sid(c.key)))
			a.want(t, "readCourseSection "+c.key, "success", "fullsuccess")
			cs := a.root.Path("Body", "readCourseSectionResponse", "courseSectionRecord", "courseSection")
			if got := [2]string{text(cs.Child("academicSession")), cs.Child("parentOfferingId").Str()}; got != [2]string{c.wantTerm, c.wantOffer} {
				t.Errorf("%s: academicSession, parentOfferingId = %q, want %q\n%s", c.key, got, [2]string{c.wantTerm, c.wantOffer}, a.raw)
			}
		}
		a := e.post(lisReq("readCourseOffering", sid("ENG.3705")))
		a.want(t, "readCourseOffering", "success", "fullsuccess")
		if co := a.root.Path("Body", "readCourseOfferingResponse", "courseOfferingRecord", "courseOffering"); text(co.Child("academicSession")) != "201740" || co.Child("parentOfferingId") != nil {
			t.Errorf("readCourseOffering: %s", a.raw)
		}
	})
}

// TestMembershipOfATrashedPersonSaysWhatTheCallerCanDoOnBothStores: as over IMS ES, a
// membership of a person in the trash can is refused with what is true for the SIS calling
// (there is no file): the trash can, since when, and that sending the person again restores
// them, which it does. A membership of an unknown person or section names no file either.
func TestMembershipOfATrashedPersonSaysWhatTheCallerCanDoOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(lisReq("replaceCourseSection", sectionRec("S1", "ENG-1", ""))).want(t, "replaceCourseSection", "success", "")
		e.post(lisReq("replacePerson", personRec("P2", "Grace", "Hopper", "", ""))).want(t, "replacePerson", "success", "")
		before := time.Now().UTC().Truncate(time.Second)
		e.post(lisReq("deletePerson", sid("P2"))).want(t, "trash P2", "success", "")
		after := time.Now().UTC()
		a := e.post(lisReq("replaceMembership", membershipRec("M1", "S1", "P2", "Learner")))
		a.want(t, "membership of a trashed person", "failure", "invaliddata")
		var since time.Time
		if at := regexp.MustCompile(`person "P2" is in the trash can since (\S+Z)\b`).FindStringSubmatch(a.desc); at != nil {
			since, _ = time.Parse(time.RFC3339, at[1])
		}
		if since.Before(before) || since.After(after) ||
			!strings.Contains(a.desc, "createPerson or replacePerson") || strings.Contains(strings.ToLower(a.desc), "file") {
			t.Errorf("membership of a trashed person: %q; want the trash can, since when (%s), what restores the person, and no file", a.desc, before.Format(time.RFC3339))
		}
		for _, c := range []struct{ what, group, person string }{{"unknown person", "S1", "NOBODY"}, {"unknown section", "NOSECTION", "P2"}} {
			a := e.post(lisReq("replaceMembership", membershipRec("M2", c.group, c.person, "Learner")))
			a.want(t, "membership of an "+c.what, "failure", "unknownobject")
			if strings.Contains(strings.ToLower(a.desc), "file") || !strings.Contains(a.desc, "unknown") {
				t.Errorf("membership of an %s: %q; want it unknown, and no file", c.what, a.desc)
			}
		}
		if s := e.status(); s.Memberships.Synced != 0 || s.Persons.Trashed != 1 {
			t.Errorf("refused memberships changed the state: %+v", s)
		}
		// A refused replace changes nothing: the membership it would replace stays.
		e.post(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "", ""))).want(t, "replacePerson P1", "success", "")
		e.post(lisReq("replaceMembership", membershipRec("M3", "S1", "P1", "Learner"))).want(t, "membership of P1", "success", "")
		e.post(lisReq("replaceMembership", membershipRec("M3", "S1", "P2", "Learner"))).want(t, "replaced by one of a trashed person", "failure", "invaliddata")
		if s := e.status(); s.Memberships.Synced != 1 {
			t.Errorf("a refused replace took the membership it would replace: %+v", s)
		}
		e.post(lisReq("replacePerson", personRec("P2", "Grace", "Hopper", "", ""))).want(t, "restore P2 as the answer says", "success", "")
		e.post(lisReq("replaceMembership", membershipRec("M1", "S1", "P2", "Learner"))).want(t, "membership of the restored person", "success", "")
	})
}
