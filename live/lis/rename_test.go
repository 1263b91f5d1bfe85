package lis

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/store"
)

func changeID(from, to string) string {
	return lisReq("changePersonIdentifier", sid(from)+`<newSourcedId>`+to+`</newSourcedId>`)
}

// TestChangePersonIdentifierKeepsMembershipsOnBothStores: LIS 2.0 changePersonIdentifier gives
// a person a new key with its memberships in one state version; a new key in use (active or
// trashed person) is idallocinusefail, an unknown or trashed person unknownobject, and a refused
// request changes nothing.
func TestChangePersonIdentifierKeepsMembershipsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(lisReq("replaceGroup", termRec("201740", "Fall 2017"))).want(t, "replaceGroup", "success", "")
		e.post(lisReq("replaceCourseSection", sectionRec("10001.201740", "ENG-1", "201740"))).want(t, "replaceCourseSection", "success", "")
		e.post(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "ada@example.org", ""))).want(t, "P1", "success", "")
		e.post(lisReq("replacePerson", personRec("P2", "Grace", "Hopper", "", ""))).want(t, "P2", "success", "")
		e.post(lisReq("replacePerson", personRec("P3", "Alan", "Turing", "", ""))).want(t, "P3", "success", "")
		e.post(lisReq("deletePerson", sid("P3"))).want(t, "trash P3", "success", "")
		e.post(lisReq("replaceMembership", membershipRec("M1", "10001.201740", "P1", "Learner"))).want(t, "M1", "success", "")

		before := e.status()
		e.post(changeID("P1", "P2")).want(t, "to an active person's key", "failure", "idallocinusefail")
		e.post(changeID("P1", "P3")).want(t, "to a trashed person's key", "failure", "idallocinusefail")
		e.post(changeID("NOBODY", "P9")).want(t, "of an unknown person", "failure", "unknownobject")
		e.post(changeID("P3", "P9")).want(t, "of a trashed person", "failure", "unknownobject")
		e.post(lisReq("changePersonIdentifier", sid("P1"))).want(t, "without newSourcedId", "failure", "invaliddata")
		if s := e.status(); s.StateVersion != before.StateVersion {
			t.Fatalf("a refused change changed the state: %+v → %+v", before, s)
		}

		e.post(changeID("P1", "P1-new")).want(t, "change", "success", "fullsuccess")
		if s := e.status(); s.StateVersion != before.StateVersion+1 || s.Persons.Active != 2 || s.Memberships.Synced != 1 {
			t.Fatalf("after the change: %+v (before %+v)", s, before)
		}
		e.post(lisReq("readPerson", sid("P1"))).want(t, "read of the old key", "failure", "unknownobject")
		if s := e.stored("P1-new"); s.Name != "Ada Lovelace" || s.Attrs.Get("email") != "ada@example.org" {
			t.Fatalf("the person under the new key: %+v", s)
		}
		a := e.post(lisReq("readMembership", sid("M1")))
		if m := a.root.Path("Body", "readMembershipResponse", "membershipRecord", "membership"); m.Path("member", "personSourcedId").Str() != "P1-new" {
			t.Fatalf("membership M1 after the change: %s", a.raw)
		}
		a = e.post(lisReq("readMembershipsForPerson", "<personSourcedId>P1-new</personSourcedId>"))
		if recs := a.root.Path("Body", "readMembershipsForPersonResponse", "membershipRecordSet").Children("membershipRecord"); len(recs) != 1 {
			t.Fatalf("readMembershipsForPerson of the new key: %s", a.raw)
		}
		// The old key is free again.
		e.post(lisReq("replacePerson", personRec("P1", "Another", "One", "", ""))).want(t, "the old key again", "success", "")
	})
}

// TestChangePersonIdentifierGolden: a changePersonIdentifier as a client may send it (prefixed
// elements, other case; no real one is in the corpus) is read into a request and answered as
// the golden files have it.
func TestChangePersonIdentifierGolden(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.post(lisReq("replacePerson", personRec("1000001", "Tina", "Turn", "", ""))).want(t, "replacePerson", "success", "")
	body := lisReq("changePersonIdentifier", `<p:SourcedId xmlns:p="`+nsPMS+`"> 1000001 </p:SourcedId><p:newSourcedID xmlns:p="`+nsPMS+`">T-1000001</p:newSourcedID>`)
	body = regexp.MustCompile(`test-\d+-\d+`).ReplaceAllString(body, "rename-1")
	env, ferr := soap.ReadEnvelope([]byte(body), understood)
	if ferr != nil {
		t.Fatal(ferr)
	}
	js, _ := json.MarshalIndent(map[string]any{"operation": opName(env.Body), "request": request(operations[opName(env.Body)], env.Body)}, "", "  ")
	golden(t, "changePersonIdentifier.request.json", append(js, '\n'))
	a := e.post(body)
	a.want(t, "changePersonIdentifier", "success", "fullsuccess")
	golden(t, "changePersonIdentifier.answer.xml", []byte(volatile.ReplaceAllString(a.raw, "VOLATILE")+"\n"))
}
